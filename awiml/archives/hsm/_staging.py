"""Staging: which offline files to recall, in which order, and waiting until they are online.

A tape mount takes minutes, so the files of one volume should be recalled
together and in the order they lie on the tape. :func:`stage_order` sorts
files by the volume and position of the copy the stager reads (the first
undamaged, current copy; its first section for a file that spans volumes);
:func:`wait_online` asks for their state with back-off until all are online,
showing a progress bar of files and bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from ..._progress import progress_bar
from ...errors import TransferError
from ._sls import SlsRecord

__all__ = ["stage_order", "tape_position", "wait_online"]

#: The longest wait between two state queries, in multiples of ``poll``.
_MAX_POLL_FACTOR = 20.0
#: ... and in seconds.
_MAX_POLL = 120.0


def tape_position(record: SlsRecord) -> tuple[str, int, str]:
    """Return ``(volume, position, path)``: where the stager reads ``record`` from.

    The copy read is the first that is neither damaged nor stale (the first
    copy when all are); its first section for a copy that spans volumes. A
    file without a readable position sorts after the others of its volume.

    Parameters
    ----------
    record : SlsRecord
        A file's ``sls -D`` record.

    Returns
    -------
    tuple of (str, int, str)
        The VSN (``""`` without copies), the position on it, and the path.

    Examples
    --------
    >>> from awiml.archives.hsm import SlsCopy, SlsRecord
    >>> record = SlsRecord("/hs/a.nc", 10, flags=("offline",),
    ...                    copies=(SlsCopy(1, "----", "May 21 10:29", "lt", "V2", "1e.1"),))
    >>> tape_position(record)
    ('V2', 30, '/hs/a.nc')
    """
    usable = [c for c in record.copies if not c.damaged and not c.stale] or list(record.copies)
    if not usable:
        return ("", 0, record.path)
    copy = usable[0]
    position = copy.position if copy.vsn is not None else (
        copy.sections[0].position if copy.sections else None)
    vsn = copy.vsns[0] if copy.vsns else ""
    try:
        place = int((position or "").split(".")[0], 16)
    except ValueError:
        place = 1 << 62
    return (vsn, place, record.path)


def stage_order(records: Sequence[SlsRecord]) -> list[SlsRecord]:
    """Return the records not online, sorted by volume, then position on the volume.

    Parameters
    ----------
    records : sequence of SlsRecord
        Files' ``sls -D`` records.

    Returns
    -------
    list of SlsRecord
        The offline and partly online ones, in the order to stage them.

    Examples
    --------
    >>> from awiml.archives.hsm import SlsCopy, SlsRecord
    >>> def file(path, vsn, position, state=("offline",)):
    ...     copy = SlsCopy(1, "----", "May 21 10:29", "lt", vsn, position)
    ...     return SlsRecord(path, 1, flags=state, copies=(copy,))
    >>> found = [file("/hs/c", "V2", "1.1"), file("/hs/b", "V1", "9.1"),
    ...          file("/hs/a", "V1", "2.1"), file("/hs/d", "V1", "1.1", state=())]
    >>> [record.path for record in stage_order(found)]
    ['/hs/a', '/hs/b', '/hs/c']
    """
    return sorted((r for r in records if r.state != "online"), key=tape_position)


def wait_online(
    query: Callable[[Sequence[str]], Mapping[str, SlsRecord]],
    records: Sequence[SlsRecord],
    *,
    timeout: float | None,
    poll: float,
    progress: bool,
    where: str,
) -> list[SlsRecord]:
    """Ask for the state of ``records`` until every one is online.

    Parameters
    ----------
    query : callable
        Returns the current records of the paths given (one ``sls -D``).
    records : sequence of SlsRecord
        The files to wait for, with their state as last seen.
    timeout : float or None
        Seconds to wait at most; ``None`` waits as long as it takes.
    poll : float
        Seconds before the first query; the wait grows by half each time,
        up to 20 times ``poll`` (and at most two minutes).
    progress : bool
        Show a progress bar counting files and bytes online.
    where : str
        The HSM, for messages.

    Returns
    -------
    list of SlsRecord
        The records as last read, in the order given, all online.

    Raises
    ------
    TransferError
        When ``timeout`` passes first; the message names the files still
        offline and says that their recall goes on.
    """
    current = {r.path: r for r in records}
    order = [r.path for r in records]
    waiting = [p for p in order if current[p].state != "online"]
    total = sum(r.size for r in records)
    online_bytes = sum(current[p].size for p in order if p not in waiting)
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    delay = max(float(poll), 0.0)
    longest = min(_MAX_POLL, max(delay * _MAX_POLL_FACTOR, delay))
    bar = progress_bar(enabled=bool(progress and waiting), total=total, initial=online_bytes,
                       unit="B", unit_scale=True, unit_divisor=1024,
                       desc=f"staging {len(order)} file{'s' if len(order) != 1 else ''}",
                       leave=True)
    try:
        bar.set_postfix_str(f"{len(order) - len(waiting)}/{len(order)} files online")
        while waiting:
            if deadline is not None and time.monotonic() + delay > deadline:
                remaining = max(0.0, deadline - time.monotonic())
                if remaining <= 0:
                    raise _timed_out(waiting, current, timeout, where)
                time.sleep(remaining)
            else:
                time.sleep(delay)
            delay = min(longest, delay * 1.5) if delay else longest / _MAX_POLL_FACTOR
            current.update(query(waiting))
            now_online = [p for p in waiting if current[p].state == "online"]
            if now_online:
                bar.update(sum(current[p].size for p in now_online))
                waiting = [p for p in waiting if p not in set(now_online)]
                bar.set_postfix_str(f"{len(order) - len(waiting)}/{len(order)} files online")
            if waiting and deadline is not None and time.monotonic() >= deadline:
                raise _timed_out(waiting, current, timeout, where)
    finally:
        bar.close()
    return [current[p] for p in order]


def _timed_out(waiting: Sequence[str], current: Mapping[str, SlsRecord],
               timeout: float | None, where: str) -> TransferError:
    shown = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5
                                      else "")
    volumes = sorted({v for p in waiting for v in current[p].vsns})
    return TransferError(
        f"{len(waiting)} file(s) on the HSM at {where} are still offline after {timeout:g} s: "
        f"{shown} (volumes {', '.join(volumes) or 'unknown'}). Their recall goes on on the "
        "server; wait again (wait(paths, timeout=...) with a longer timeout), or fetch again "
        "later: files already online are not staged twice."
    )
