"""Long extracts of the O2A data web service: time chunks, fetched concurrently, cached, stitched.

:func:`fetch_parts` is the one path from an :class:`~._request.ExtractRequest` to
the service's answers: it checks the request against the sensors' data ranges,
splits the range into time chunks (:func:`plan_chunks`), takes each chunk from
the archive cache or fetches it (concurrently, with a progress bar, retrying a
body that breaks off), and checks each answer with :func:`._table.read_table`.
:func:`stitch_table` joins the parts into one table for ``PlatformSource.read``;
:func:`fetch_bytes` joins them into one tab-separated answer (one header, then
every chunk's rows) for the fsspec side.

Assumptions about the service (``GET /data``): ``beginDate`` and ``endDate``
are both inclusive; an aggregated row is labelled with the start of its bin
and a bin is answered iff its label lies in ``[beginDate, endDate]``; bins
are aligned on the UTC epoch (whole minutes, hours, days); a sensor has rows
only between its ``firstDate`` and ``lastDate`` (from ``/sensors``), and the
rows of a bin that ends before ``lastDate`` do not change any more.
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import ArchiveUnavailableError, AwimlError, InvalidDataError, redact_url
from ..http import RetryPolicy
from ._request import AGGREGATE_SECONDS, ExtractRequest, refusal_detail
from ._table import SensorTable, read_table

if TYPE_CHECKING:
    import pandas as pd

    from .source import PlatformSource

__all__ = ["Part", "fetch_bytes", "fetch_parts", "plan_chunks", "stitch_table"]

logger = logging.getLogger(__name__)

#: The file name of a cached chunk.
CHUNK_FILE = "data.tsv"
_STAMP = "%Y-%m-%dT%H:%M:%S"
_EPOCH_NS = 1_000_000_000


def _seconds(stamp: pd.Timestamp) -> int:
    """Whole seconds since the UTC epoch."""
    return int(stamp.value // _EPOCH_NS)


def _stamp(seconds: int) -> pd.Timestamp:
    import pandas as pd

    return pd.Timestamp(seconds * _EPOCH_NS, tz="UTC")


@dataclass(frozen=True)
class Part:
    """One time chunk of an extract, as received and checked.

    Attributes
    ----------
    start, end : pandas.Timestamp
        The chunk's ``beginDate`` and ``endDate`` (both included, UTC).
    data : bytes
        The service's answer for the chunk.
    table : SensorTable
        ``data`` read.
    cached : bool
        Whether it came from the archive cache.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    data: bytes
    table: SensorTable
    cached: bool = False


def plan_chunks(
    request: ExtractRequest,
    max_points: int,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Split an extract's range into time chunks of at most ``max_points`` values.

    A chunk holds ``max_points // columns`` bins at most (``columns`` counting
    value and flag columns, at least one bin). Chunks lie on a fixed grid
    anchored at the UTC epoch, so a range asked for again, or a longer one,
    has the same inner chunks (and the archive cache serves them): chunk
    ``k`` covers the bins ``k * n .. (k + 1) * n - 1``. A chunk starts at the
    label of its first bin and ends one second before the next chunk starts
    (the service's ``endDate`` is inclusive); the last one ends at ``end``.

    Parameters
    ----------
    request : ExtractRequest
        What is asked for.
    max_points : int
        Largest number of values (rows x columns) in one chunk.
    start, end : pandas.Timestamp, optional
        A narrower range than the request's (both included).

    Returns
    -------
    list of (pandas.Timestamp, pandas.Timestamp)
        The chunks' ``beginDate`` and ``endDate`` (UTC), in time order; every
        bin whose label lies in the range is in exactly one chunk.

    Raises
    ------
    InvalidDataError
        When the range holds no bin label ("empty range").

    Examples
    --------
    >>> request = ExtractRequest.build("vessel:heincke:dwd:air_pressure",
    ...                                "2024-03-18T20:30", "2024-03-19T09:00")
    >>> for first, last in plan_chunks(request, 5):
    ...     print(first, last)
    2024-03-18 21:00:00+00:00 2024-03-19 00:59:59+00:00
    2024-03-19 01:00:00+00:00 2024-03-19 05:59:59+00:00
    2024-03-19 06:00:00+00:00 2024-03-19 09:00:00+00:00
    """
    first = _seconds(request.start if start is None else start)
    last = _seconds(request.end if end is None else end)
    step = AGGREGATE_SECONDS[request.aggregate]
    first_bin = -(-first // step)
    last_bin = last // step
    if first_bin > last_bin:
        raise InvalidDataError(
            f"empty range: {request.describe()} holds no {request.aggregate} bin (a bin is "
            f"answered when its start lies in the range, and bins start at whole "
            f"{request.aggregate}s, UTC). Widen the range to include the start of "
            f"{'an' if request.aggregate == 'hour' else 'a'} {request.aggregate}, or choose a "
            "shorter aggregate."
        )
    width = request.columns * (2 if request.quality_flags else 1)
    per_chunk = max(1, int(max_points) // width)
    chunks = []
    for index in range(first_bin // per_chunk, last_bin // per_chunk + 1):
        chunk_first = max(index * per_chunk, first_bin) * step
        chunk_last = min((index + 1) * per_chunk * step - 1, last)
        chunks.append((_stamp(chunk_first), _stamp(chunk_last)))
    return chunks


def _date(entry: dict[str, Any], field: str) -> pd.Timestamp | None:
    """Return a ``/sensors`` entry's ``firstDate`` or ``lastDate`` (UTC), or None."""
    import pandas as pd

    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = pd.Timestamp(value.strip())
    except (ValueError, TypeError, OverflowError):
        return None
    if stamp is pd.NaT or pd.isna(stamp):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class _Plan:
    """What :func:`fetch_parts` works on: checked request, sensor entries, chunks."""

    request: ExtractRequest
    entries: dict[str, dict[str, Any]]
    chunks: list[tuple[pd.Timestamp, pd.Timestamp]]
    complete_until: pd.Timestamp | None
    """Data up to here no longer changes (the earliest ``lastDate``); None: unknown."""


def _plan(source: PlatformSource, request: ExtractRequest) -> _Plan:
    """Check the request against the sensors' data ranges and split it into chunks."""
    entries = {code: source._sensor_entry(code) for code in request.codes}
    step = AGGREGATE_SECONDS[request.aggregate]
    firsts, lasts = [], []
    for code, entry in entries.items():
        first, last = _date(entry, "firstDate"), _date(entry, "lastDate")
        if first is None or last is None:
            firsts.append(None)
            lasts.append(None)
            continue
        first_bin = _stamp(_seconds(first) // step * step)  # the bin holding firstDate
        if request.end < first_bin or request.start > last:
            raise InvalidDataError(
                f"sensor {code!r} has data from {first:{_STAMP}} to {last:{_STAMP}} UTC only; "
                f"the range asked for, {request.start:{_STAMP}} to {request.end:{_STAMP}} "
                "UTC, lies outside it. Ask for a range that overlaps its data."
            )
        firsts.append(first_bin)
        lasts.append(last)
    first_bin = plan_chunks(request, 1 << 62)[0][0]  # raises for an empty range
    start, end = request.start, request.end
    if all(stamp is not None for stamp in firsts):  # skip time where no sensor has data
        start, end = max(start, min(firsts)), min(end, max(lasts))
    try:
        chunks = plan_chunks(request, source.max_points, start=start, end=end)
    except InvalidDataError:  # no bin starts where a sensor has data: a header-only answer
        chunks = [(first_bin, first_bin)]
    complete = None if any(stamp is None for stamp in lasts) else min(lasts)
    return _Plan(request, entries, chunks, complete)


def _cache_key(source: PlatformSource, request: ExtractRequest) -> str:
    """Return the cache key of an extract's chunks (service, codes, aggregate, functions)."""
    text = "\n".join([source.base_url, *request.codes, request.aggregate, *request.functions,
                      f"flags={request.quality_flags}"])
    return "data-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _version(start: pd.Timestamp, end: pd.Timestamp) -> str:
    return f"{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}"


def _describe(request: ExtractRequest, start: pd.Timestamp, end: pd.Timestamp) -> str:
    return (f"the {request.aggregate} data of {', '.join(request.codes)} from "
            f"{start:{_STAMP}} to {end:{_STAMP}} UTC ({'/'.join(request.functions)})")


def _cacheable(plan: _Plan, end: pd.Timestamp) -> bool:
    """Whether a chunk's data is final: its last bin ends by every sensor's ``lastDate``."""
    if plan.complete_until is None:
        return False
    step = AGGREGATE_SECONDS[plan.request.aggregate]
    bin_end = (_seconds(end) // step + 1) * step - 1
    return bin_end <= _seconds(plan.complete_until)


def _policy(source: PlatformSource) -> RetryPolicy:
    policy = getattr(source._session, "retry_policy", None)
    return policy if isinstance(policy, RetryPolicy) else RetryPolicy(retries=source.retries)


def _receive(source: PlatformSource, request: ExtractRequest, start: pd.Timestamp,
             end: pd.Timestamp) -> tuple[bytes, SensorTable]:
    """GET one chunk and read it; retry (bounded) when its body breaks off or cannot be read.

    A body shorter than its ``Content-Length``, a connection that drops, or
    an answer the table reader refuses (a line cut short or damaged on the
    way) is asked for again, up to the source's ``retries``; then the last
    error is raised. An answer whose last line has no line end may have been
    cut where the rest still reads (after a TAB: an empty value; inside a
    number: fewer digits), so it is asked for once more and kept only when
    the second answer is the same (a service that never ends its last line)
    or ends its last line. We assume the service ends every line with a line feed; a
    cut exactly at a line end cannot be told from fewer rows.
    """
    import requests

    what = _describe(request, start, end)
    policy = _policy(source)
    failures = 0
    unterminated: bytes | None = None  # an answer without a final line end, seen once
    while True:
        response = source._get(f"{source.base_url}/data", params=request.params(start, end),
                               what=what, stream=True)
        try:
            if response.status_code == 400:
                raise InvalidDataError(
                    f"the O2A data web service refused {request.describe()}"
                    f"{refusal_detail(response) or ' (400, no reason given)'}. Check the codes, "
                    "times, aggregate and functions."
                )
            reason = None
            try:
                data = b"".join(response.iter_content(1 << 20))  # 1 MiB reads, not 10 KiB
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                reason = f"the answer broke off ({type(exc).__name__})"
            else:
                expected = response.headers.get("Content-Length", "")
                if (expected.isdigit() and not response.headers.get("Content-Encoding")
                        and int(expected) != len(data)):
                    reason = f"the answer broke off ({len(data)} of {expected} bytes)"
            url = response.url
        finally:
            response.close()
        unreadable = None
        if reason is None:
            try:
                table = _check(data, request, start, end)
            except InvalidDataError as error:
                unreadable = error
                reason = "its answer could not be read"
            else:
                if not data or data.endswith(b"\n") or data == unterminated:
                    return data, table
                if unterminated is None and failures >= policy.retries:
                    return data, table  # no try left to compare with: as read
                unterminated = data
                reason = "its last line has no line end (cut short?)"
        if failures >= policy.retries:
            if unreadable is not None:
                unreadable.add_note(f"awiml: the chunk was asked for {failures + 1} times")
                raise unreadable
            raise ArchiveUnavailableError(
                f"the O2A data web service did not deliver {what}: {reason}, "
                f"{failures + 1} times. Try again later."
            )
        pause = policy.wait(failures, jitter=True)
        failures += 1
        policy.log_retry(redact_url(url), reason, failures, pause, log=logger)
        time.sleep(pause)


def _check(data: bytes, request: ExtractRequest, start: pd.Timestamp,
           end: pd.Timestamp) -> SensorTable:
    """Read a chunk's answer and check it holds the columns asked for."""
    what = f"the answer with {_describe(request, start, end)}"
    table = read_table(data, name=what)
    found = [(c.code, c.function) for c in table.columns if not c.flag]
    wanted = [(code, function) for code in request.codes for function in request.functions]
    flags = sum(c.flag for c in table.columns)
    if found != wanted or flags != (len(wanted) if request.quality_flags else 0):
        raise InvalidDataError(
            f"{what} has the columns {[c.label for c in table.columns]}, not one per sensor "
            f"and function asked for{' with its quality flags' if request.quality_flags else ''}"
            ". Is the base URL the O2A data web service?"
        )
    return table


def _load_cached(source: PlatformSource, key: str, request: ExtractRequest,
                 start: pd.Timestamp, end: pd.Timestamp) -> Part | None:
    if source._cache is None:
        return None
    path = source._cache.get(key, _version(start, end), CHUNK_FILE)
    if path is None:
        return None
    data = source._cache.read(path)
    try:
        table = _check(data, request, start, end)
    except InvalidDataError as error:
        warnings.warn(f"the cached chunk {path} is unreadable ({error}); fetching it again.",
                      RuntimeWarning, stacklevel=4)
        return None
    return Part(start, end, data, table, cached=True)


def _fetch_one(source: PlatformSource, plan: _Plan, key: str, start: pd.Timestamp,
               end: pd.Timestamp) -> Part:
    data, table = _receive(source, plan.request, start, end)
    if source._cache is not None and _cacheable(plan, end):
        try:
            source._cache.put(key, _version(start, end), CHUNK_FILE, data)
        except AwimlError as error:
            warnings.warn(f"a chunk could not be cached: {error}", RuntimeWarning, stacklevel=2)
    return Part(start, end, data, table)


def fetch_parts(source: PlatformSource, request: ExtractRequest) -> list[Part]:
    """Return every chunk of an extract, from the cache or the service, checked.

    Parameters
    ----------
    source : PlatformSource
        Service, cache, ``max_points``, ``max_workers``, ``progress``.
    request : ExtractRequest
        What is asked for.

    Returns
    -------
    list of Part
        In time order.

    Raises
    ------
    NotFoundError
        For a sensor code the service does not know (with close matches).
    InvalidDataError
        For a range outside a sensor's data, an empty range, a request the
        service refuses (its reason quoted) or an answer that is not a table.
    ArchiveUnavailableError
        When a chunk could not be fetched; the message names the sensors and
        the chunk's range. Chunks received are cached: the next call fetches
        only the others.
    """
    plan = _plan(source, request)
    key = _cache_key(source, request)
    parts: dict[int, Part] = {}
    todo = []
    for index, (start, end) in enumerate(plan.chunks):
        cached = _load_cached(source, key, request, start, end)
        if cached is None:
            todo.append(index)
        else:
            parts[index] = cached
    if todo:
        _fetch_all(source, plan, key, todo, parts)
    return [parts[index] for index in range(len(plan.chunks))]


def _fetch_all(source: PlatformSource, plan: _Plan, key: str, todo: list[int],
               parts: dict[int, Part]) -> None:
    """Fetch the chunks ``todo`` concurrently into ``parts``; raise the first failure."""
    from ..._progress import progress_bar

    fetch: Callable[[int], Part] = lambda index: _fetch_one(  # noqa: E731
        source, plan, key, *plan.chunks[index])
    failures: list[tuple[int, BaseException]] = []
    bar = progress_bar(enabled=source.progress, total=len(todo), unit="chunk",
                       desc=f"O2A {plan.request.aggregate} data", leave=False)
    with bar, ThreadPoolExecutor(max_workers=min(source.max_workers, len(todo)),
                                 thread_name_prefix="awiml-o2a") as pool:
        pending: dict[Future[Part], int] = {pool.submit(fetch, i): i for i in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                index = pending.pop(future)
                if future.cancelled():  # after a refusal, below
                    continue
                error = future.exception()
                if error is None:
                    parts[index] = future.result()
                    bar.update(1)
                    continue
                failures.append((index, error))
                if not isinstance(error, ArchiveUnavailableError):
                    # a refused request or a malformed answer: the other chunks would be too
                    for other in pending:
                        other.cancel()
    if not failures:
        return
    _, error = min(failures, key=lambda failure: failure[0])
    if not isinstance(error, ArchiveUnavailableError):
        raise error
    received = len(parts)
    if source._cache is None:
        kept = "cache=False: nothing is kept for the next call"
    elif received:
        kept = "those are cached: the next call fetches only the rest"
    else:
        kept = "the next call tries again"
    raise ArchiveUnavailableError(
        f"{error} ({len(failures)} of {len(plan.chunks)} time chunks failed and {received} "
        f"were received; {kept}.)"
    ) from error


def stitch_table(parts: list[Part]) -> SensorTable:
    """Join the chunks' tables: one row per time, sorted, the first of duplicates kept.

    Parameters
    ----------
    parts : list of Part
        From :func:`fetch_parts`, with the same columns.

    Returns
    -------
    SensorTable
        The whole extract; its columns are the chunks' columns.

    Raises
    ------
    InvalidDataError
        When two chunks have different columns.
    """
    import pandas as pd

    first = parts[0]
    for part in parts[1:]:
        if part.table.columns != first.table.columns:
            raise InvalidDataError(
                f"the chunks from {first.start:{_STAMP}} and from {part.start:{_STAMP}} have "
                f"different columns ({[c.label for c in first.table.columns]} and "
                f"{[c.label for c in part.table.columns]}); the service changed its answer "
                "while awiml read it. Read again (with cache=False if it persists)."
            )
    frames = [part.table.frame for part in parts]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames)
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    if frame.index.has_duplicates:
        frame = frame[~frame.index.duplicated(keep="first")]
    return SensorTable(frame, first.table.columns)


def _split(data: bytes) -> tuple[bytes, list[bytes]]:
    """Return a chunk's header line and its row lines (without line ends)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    rows = [line for line in lines[1:] if line.strip()]
    return lines[0], rows


def stitch_bytes(parts: list[Part]) -> bytes:
    """Join the chunks' answers into one: the header once, then every chunk's rows.

    Rows of a chunk whose time is not after the previous chunk's last row are
    dropped (a seam's duplicate; the first is kept). When one chunk holds
    everything, its answer is returned as it came.

    Parameters
    ----------
    parts : list of Part
        From :func:`fetch_parts`.

    Returns
    -------
    bytes
        Tab-separated values, LF line ends, a final LF.
    """
    if len(parts) == 1:
        return parts[0].data
    header, _ = _split(parts[0].data)
    out = [header]
    last = b""
    for part in parts:
        if part.table.columns != parts[0].table.columns:
            stitch_table([parts[0], part])  # raises, naming both
        _, rows = _split(part.data)
        for position, row in enumerate(rows):
            if row[:19] > last:
                out.extend(rows[position:])
                break
        if rows:
            last = max(last, rows[-1][:19])
    return b"\n".join(out) + b"\n"


def fetch_bytes(source: PlatformSource, request: ExtractRequest) -> bytes:
    r"""Return the service's tab-separated answer for a whole extract, stitched from chunks.

    The bytes equal the answer of one request for the whole extract: one
    header row, then the rows of every chunk in time order (byte for byte
    when one request holds everything).

    Parameters
    ----------
    source : PlatformSource
        The service, its cache and limits.
    request : ExtractRequest
        What is asked for.

    Returns
    -------
    bytes

    Raises
    ------
    NotFoundError, InvalidDataError, ArchiveUnavailableError
        As :func:`fetch_parts`.

    Examples
    --------
    >>> from awiml.archives.o2a import PlatformSource
    >>> from awiml.testing import O2AServer
    >>> request = ExtractRequest.build("vessel:heincke:dwd:air_pressure",
    ...                                "2024-03-18T20:00", "2024-03-18T22:00")
    >>> with O2AServer() as server:
    ...     server.add_sample_data()
    ...     source = PlatformSource(server.data_url, registry_url=server.registry_url,
    ...                             cache=False, progress=False, max_points=2)
    ...     answer = fetch_bytes(source, request)
    >>> print(answer.decode().replace("\t", " | "), end="")
    datetime | vessel:heincke:dwd:air_pressure (mean) [hPa]
    2024-03-18 20:00:00 | 1018.000000
    2024-03-18 21:00:00 | 1017.500000
    2024-03-18 22:00:00 | 1018.000000
    """
    return stitch_bytes(fetch_parts(source, request))


def read(
    source: PlatformSource,
    codes: str | list[str] | tuple[str, ...],
    start: Any,
    end: Any,
    *,
    aggregate: str | None = None,
    functions: str | list[str] | tuple[str, ...] = ("mean",),
    quality_flags: bool = False,
    as_frame: bool = False,
) -> Any:
    """Do the work of :meth:`PlatformSource.read` (see there)."""
    from ._dataset import _infos, to_dataset, to_frame

    request = ExtractRequest.build(codes, start, end, aggregate=aggregate, functions=functions,
                                   quality_flags=quality_flags)
    table = stitch_table(fetch_parts(source, request))
    entries = {code: source._sensor_entry(code) for code in request.codes}
    infos = _infos(source, request.codes)
    build = to_frame if as_frame else to_dataset
    return build(table, request, request.url(source.base_url), entries=entries, infos=infos)
