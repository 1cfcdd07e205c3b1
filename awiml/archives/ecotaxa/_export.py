"""The work behind ``EcotaxaSource.export``: job polling and safe zip extraction.

:func:`check_zip` and :func:`extract_zip` treat an export archive as untrusted input.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..._files import NO_SPACE, fsync_dir
from ..._progress import human_size
from ...errors import AwimlError, ExportError, InvalidDataError, TransferError

__all__ = ["MAX_RATIO", "check_zip", "extract_zip", "replace_dir", "show_progress",
           "wait_for_job"]

logger = logging.getLogger(__name__)

_DRIVE = re.compile(r"^[A-Za-z]:")
_COPY_CHUNK = 1024 * 1024

#: Largest expansion ratio (uncompressed / compressed size) accepted, for each member and
#: for the whole archive. The real exports in tests/data/ecotaxa reach 11.9 for a TSV and 1.3
#: to 4.3 overall (JPEG and PNG barely shrink); a huge TSV of repeated taxonomy paths may reach
#: a few dozen. Deflate cannot exceed about 1032, which zip bombs approach.
MAX_RATIO = 250.0
#: Members (and archives) smaller than this are not judged by their ratio: a tiny file of
#: repeated bytes expands a lot but harmlessly.
_RATIO_FLOOR = 1024 * 1024
#: Longest member name component in bytes (UTF-8): ext4, XFS, APFS and NTFS allow 255.
_MAX_COMPONENT = 255
#: Longest member name in bytes, leaving room below PATH_MAX (4096) and Windows' long paths
#: for the folder it is extracted into.
_MAX_NAME = 1024


def show_progress(progress: bool | None) -> bool:
    """Decide whether to draw a progress bar: as asked, else (``None``) only on a terminal.

    Examples
    --------
    >>> show_progress(False)
    False
    """
    if progress is not None:
        return bool(progress)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def wait_for_job(
    get_job: Callable[[], Mapping[str, Any]],
    job_id: int,
    *,
    what: str,
    job_page: str,
    poll_interval: float = 1.0,
    timeout: float = 3600.0,
    progress: bool | None = None,
) -> Mapping[str, Any]:
    """Poll an EcoTaxa job until it is finished (state ``F``).

    Parameters
    ----------
    get_job : callable
        Returns the job's JSON (``GET /jobs/{id}/``) each time it is called.
    job_id : int
        The job, for messages.
    what : str
        What the job makes, e.g. ``"the export of project 1234"``.
    job_page : str
        The job's page in the EcoTaxa web interface, for messages.
    poll_interval : float, optional
        Seconds between polls.
    timeout : float, optional
        Seconds to wait in total.
    progress : bool or None, optional
        Draw a progress bar (``None``: only on a terminal).

    Returns
    -------
    Mapping
        The finished job.

    Raises
    ------
    ExportError
        The job ended in error (``E``, with EcoTaxa's messages), waits for an
        answer in the web interface (``A``), or did not finish in time.
    """
    from ..._progress import progress_bar

    deadline = time.monotonic() + timeout
    with progress_bar(enabled=show_progress(progress), total=100,
                      desc=f"EcoTaxa job {job_id}", unit="%", leave=False,
                      bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}") as bar:
        while True:
            job = get_job()
            state = str(job.get("state") or "?")
            percent = job.get("progress_pct")
            message = job.get("progress_msg") or ""
            if isinstance(percent, (int, float)):
                bar.n = max(0, min(100, int(percent)))
            if message:
                bar.set_postfix_str(str(message)[:60], refresh=False)
            bar.refresh()
            if state == "F":
                bar.n = 100
                bar.refresh()
                return job
            if state == "E":
                errors = [str(e) for e in job.get("errors") or []] or ["EcoTaxa gave no message"]
                raise ExportError(
                    f"EcoTaxa's job {job_id} ({what}) failed: {'; '.join(errors)}. Check the "
                    f"filters and your rights on the project (the job is at {job_page}); "
                    "calling export() again starts a new job.",
                    job_id=job_id, state=state,
                )
            if state == "A":
                question = str(job.get("question") or "")
                if len(question) > 200:
                    question = question[:197] + "..."
                asked = f" ({question})" if question else ""
                raise ExportError(
                    f"EcoTaxa's job {job_id} ({what}) is waiting for an answer to a "
                    f"question{asked}. Answer it in the EcoTaxa web interface at {job_page}, "
                    "then call export() again: it continues with the same job.",
                    job_id=job_id, state=state,
                )
            if state not in ("P", "R"):
                logger.debug("EcoTaxa job %s is in the unexpected state %r", job_id, state)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                done = f", {percent} %" if isinstance(percent, (int, float)) else ""
                said = f": {message}" if message else ""
                raise ExportError(
                    f"EcoTaxa's job {job_id} ({what}) did not finish within {timeout:g} s "
                    f"(state {state}{done}{said}). It keeps running on the server: call "
                    "export() again, with a longer timeout= if needed, to go on waiting for "
                    "the same job.",
                    job_id=job_id, state=state,
                )
            time.sleep(max(0.0, min(poll_interval, remaining)))


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Say why a zip member is unsafe to extract, or return ``None``."""
    name = info.filename
    if not name or "\x00" in name:
        return "has an empty name or a NUL character"
    unified = name.replace("\\", "/")
    if unified.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(unified):
        return "names a drive letter"
    if ".." in unified.split("/"):
        return "climbs out of the folder with '..'"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is a device, pipe or socket, not a file"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def check_zip(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    max_ratio: float = MAX_RATIO,
    reserved: tuple[str, ...] = (),
    verify_crc: bool = True,
) -> list[zipfile.ZipInfo]:
    """Check that a zip is intact, safe and possible to extract, before anything is written.

    Parameters
    ----------
    path : path-like
        The zip file.
    what : str
        What it is, for messages (e.g. ``"the export of project 1234 (job 7)"``).
    max_bytes : int
        Largest total uncompressed size accepted.
    max_ratio : float, optional
        Largest expansion ratio (uncompressed / compressed size) accepted for
        each member of at least 1 MiB, and for the whole archive once it
        unpacks to 1 MiB or more (see :data:`MAX_RATIO` for what real exports
        show).
    reserved : tuple of str, optional
        Member names that may not occur (awiml's own bookkeeping files).
    verify_crc : bool, optional
        Also read every member through to check its CRC (skip it when the
        members are about to be extracted, which checks the CRCs anyway).

    Returns
    -------
    list of zipfile.ZipInfo
        The members, in archive order.

    Raises
    ------
    InvalidDataError
        The file is not a zip, a CRC does not match, a member is unsafe
        (``..``, an absolute path or drive letter, a link or special file,
        encrypted), names clash or are too long, or the content is larger
        than ``max_bytes`` or expands more than ``max_ratio`` times.

    Examples
    --------
    >>> import io, tempfile, pathlib, zipfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "export.zip"
    >>> with zipfile.ZipFile(path, "w") as archive:
    ...     archive.writestr("a/x", "a file")
    ...     archive.writestr("a/x/y", "below a file")
    >>> check_zip(path, what="the export", max_bytes=10**6)
    Traceback (most recent call last):
    ...
    awiml.errors.InvalidDataError: the export is not usable as is: ...
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for info in members:
                problem = _member_problem(info)
                if problem is None and info.filename.rstrip("/") in reserved:
                    problem = "uses a name awiml reserves for its own records"
                if problem is not None:
                    raise InvalidDataError(
                        f"{what} is unsafe: the member {info.filename!r} {problem}. Nothing was "
                        "extracted. Such archives do not come from EcoTaxa itself; check that "
                        "base_url points at the EcoTaxa server you trust."
                    )
            names = [info.filename.rstrip("/") for info in members]
            if len(set(names)) != len(names):
                twice = sorted({n for n in names if names.count(n) > 1})
                raise InvalidDataError(
                    f"{what} names {', '.join(map(repr, twice[:3]))} more than once; nothing "
                    "was extracted. Run the export again."
                )
            _check_names(members, what)
            _check_sizes(members, what, max_bytes, max_ratio)
            bad = _first_corrupt(archive, members) if verify_crc else None
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        problem = ("is not a valid zip file" if isinstance(exc, zipfile.BadZipFile)
                   else "cannot be read")
        raise InvalidDataError(
            f"{what} {problem} ({exc}); it was discarded. Run the export again."
        ) from None
    if bad is not None:
        raise InvalidDataError(
            f"{what} is corrupt: the member {bad!r} fails its CRC check; it was discarded. "
            "Run the export again."
        )
    return members


_UNUSABLE = (
    "; nothing was extracted. Try the export with other options (split_by=, "
    "with_images=), and report the names to the project's managers or to EcoTaxa."
)


def _check_names(members: list[zipfile.ZipInfo], what: str) -> None:
    """Refuse members that no file system can hold as they are named."""
    paths = [info.filename.replace("\\", "/").strip("/") for info in members]
    for info, path in zip(members, paths, strict=True):
        long = [part for part in path.split("/") if _nbytes(part) > _MAX_COMPONENT]
        if _nbytes(path) > _MAX_NAME:
            problem = f"is longer than {_MAX_NAME} bytes, more than file systems allow for a path"
        elif long:
            problem = (f"holds the name {long[0][:40]!r}... that is longer than {_MAX_COMPONENT} "
                       "bytes, more than file systems allow")
        else:
            continue
        raise InvalidDataError(
            f"{what} is not usable as is: the member {info.filename!r} {problem}" + _UNUSABLE
        )
    files = {path for info, path in zip(members, paths, strict=True) if not info.is_dir()}
    for info, path in zip(members, paths, strict=True):
        parts = path.split("/")
        for parent in ("/".join(parts[:depth]) for depth in range(1, len(parts))):
            if parent in files:
                raise InvalidDataError(
                    f"{what} is not usable as is: the member {info.filename!r} lies below "
                    f"{parent!r}, which is a file, and a file cannot be a folder too" + _UNUSABLE
                )


def _nbytes(name: str) -> int:
    return len(name.encode("utf-8", "surrogateescape"))


def _check_sizes(members: list[zipfile.ZipInfo], what: str, max_bytes: int,
                 max_ratio: float) -> None:
    """Refuse zip bombs: too large in total, or expanding too much."""
    total = sum(info.file_size for info in members)
    if total > max_bytes:
        raise InvalidDataError(
            f"{what} would unpack to {human_size(total)}, more than the limit of "
            f"{human_size(max_bytes)} (max_bytes=); nothing was extracted. If the export "
            "is really this large, raise max_bytes, or export fewer objects or "
            "images (filters=, with_images=)."
        )
    advice = (
        f"more than the limit of {max_ratio:g} times that real exports stay far below. "
        "Nothing was extracted: such an archive is a zip bomb or damaged. Run the export "
        "again; if it recurs, check that base_url points at the EcoTaxa server you trust."
    )
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= _RATIO_FLOOR and ratio > max_ratio:
            raise InvalidDataError(
                f"{what}: the member {info.filename!r} expands {ratio:.0f} times "
                f"({human_size(info.compress_size)} to {human_size(info.file_size)}), " + advice
            )
    packed = sum(info.compress_size for info in members)
    ratio = total / max(packed, 1)
    if total >= _RATIO_FLOOR and ratio > max_ratio:
        raise InvalidDataError(
            f"{what} expands {ratio:.0f} times overall ({human_size(packed)} to "
            f"{human_size(total)}), " + advice
        )


def _first_corrupt(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> str | None:
    """Read every member through (checking its CRC); return the first bad name, or ``None``."""
    for info in members:
        if info.is_dir():
            continue
        try:
            with archive.open(info) as member:
                while member.read(_COPY_CHUNK):
                    pass
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            return info.filename
    return None


def extract_zip(
    path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    max_ratio: float = MAX_RATIO,
    reserved: tuple[str, ...] = (),
) -> Path:
    """Extract a checked zip into ``dest``, all or nothing.

    Parameters
    ----------
    path : path-like
        The zip file.
    dest : path-like
        The folder to create. It must not exist, or be an empty folder.
    what, max_bytes, max_ratio, reserved
        As for :func:`check_zip`.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    InvalidDataError
        The zip is corrupt or unsafe (nothing is left behind).
    FileExistsError
        ``dest`` exists and is not an empty folder.
    awiml.errors.TransferError
        ``dest`` cannot be written (read-only, no permission, disk full);
        nothing is left behind.
    """
    dest = Path(dest)
    members = check_zip(path, what=what, max_bytes=max_bytes, max_ratio=max_ratio,
                        reserved=reserved, verify_crc=False)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(
            f"{dest} already exists and is not an empty folder; give another target= or "
            "remove it"
        )
    needed = sum(info.file_size for info in members)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(dest.parent).free
    except OSError as exc:
        raise _unwritable(dest, what, exc) from exc
    if needed > free:
        raise InvalidDataError(
            f"{what} unpacks to {human_size(needed)} but {dest.parent} has "
            f"{human_size(free)} free; nothing was extracted. Free some space or choose "
            "another target=."
        )
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    except OSError as exc:
        raise _unwritable(dest, what, exc) from exc
    try:
        root = tmp.resolve()
        with zipfile.ZipFile(path) as archive:
            for info in members:
                _extract_member(archive, info, root, what)
        if dest.exists():
            dest.rmdir()  # the empty folder the caller prepared
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, AwimlError):
            raise
        raise _unwritable(dest, what, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _unwritable(dest: Path, what: str, exc: OSError) -> TransferError:
    """Return the error for a folder the export cannot be extracted into."""
    advice = ("free some space" if exc.errno in NO_SPACE else
              f"check that {dest.parent} is writable for you")
    return TransferError(
        f"could not extract {what} into {dest}: {exc.strerror or exc}. Nothing was "
        f"extracted there; {advice}, or choose another folder (target=, or cache= for the "
        "export cache), then run export() again."
    )


def _extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path,
                    what: str) -> None:
    relative = info.filename.replace("\\", "/").strip("/")
    target = (root / relative).resolve()
    if target != root and root not in target.parents:  # belt and braces after check_zip
        raise InvalidDataError(f"{what}: the member {info.filename!r} leaves the folder")
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(info) as source, open(target, "xb") as out:
            while chunk := source.read(_COPY_CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise InvalidDataError(
                        f"{what}: the member {info.filename!r} holds more than the "
                        f"{info.file_size} bytes it declares; nothing was extracted"
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InvalidDataError(
            f"{what} is corrupt ({exc}); nothing was extracted. Run the export again."
        ) from None


def replace_dir(new: Path, dest: Path) -> None:
    """Put the complete folder ``new`` at ``dest`` (on the same file system), replacing it.

    An older ``dest`` is removed after the swap, so ``dest`` is never missing.
    """
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
        os.replace(dest, old / dest.name)
    try:
        os.rename(new, dest)
    except BaseException:
        if old is not None:  # put the older folder back: dest is never missing
            os.replace(old / dest.name, dest)
            old.rmdir()
        raise
    fsync_dir(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
