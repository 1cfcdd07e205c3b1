"""The files of a stored version: seal, hash, check, sync and remove them.

The file-level work of :class:`awiml.store.ModelStore`, which knows nothing of
names, versions or aliases; large files are hashed and synced in threads.
"""

from __future__ import annotations

import builtins
import errno
import logging
import mmap
import os
import shutil
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .._files import NO_SPACE, buffer_digest, file_digest, fsync_dir

# the store's logger: these messages are about the store's folders
logger = logging.getLogger("awiml.store")

#: Files of one version larger than this in total are hashed in parallel threads.
_PARALLEL_BYTES = 4 * 1024 * 1024


def _size_and_hash(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": file_digest(path)}


def _check_size(folder: Path, relative: str, entry: Mapping[str, Any]) -> str | None:
    """Return None when the file exists with the recorded size, "missing", or what differs."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or ".." in parts:
        return "is not a relative path inside the version folder"
    try:
        size = (folder / relative).stat().st_size
    except FileNotFoundError:
        return "missing"
    if size != entry.get("size"):
        return f"has {size} bytes, {entry.get('size')} were recorded"
    return None


def _check_file(folder: Path, relative: str, entry: Mapping[str, Any]) -> str | None:
    """Return None when the file is as recorded, "missing", or what differs."""
    return (_check_size(folder, relative, entry)
            or _digest_problem(file_digest(folder / relative), entry))


def _digest_problem(digest: str, entry: Mapping[str, Any]) -> str | None:
    """Return None when ``digest`` is the recorded sha256, else what differs."""
    want = entry.get("sha256")
    if digest == want:
        return None
    return (f"has sha256 {digest.partition(':')[2][:16]}…, recorded "
            f"{str(want).partition(':')[2][:16]}…")


def _os_advice(exc: OSError, then: str = "save again") -> str:
    """Say what to do about a failed write, by its errno; ``then`` is the step after."""
    if exc.errno in NO_SPACE:
        return f"free some space (or quota) there and {then}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"check that you may write there and {then}"
    return f"fix the cause named above and {then}"


def _seal(path: Path, sync: bool = True) -> dict[str, Any]:
    """Hash a finished file, flush it to disk and make it read-only; return size and sha256.

    With ``sync=False`` the file is known to be on disk already and is not synced again.
    """
    with open(path, "rb", buffering=0) as handle:
        digest = file_digest(handle)
        if sync:
            os.fsync(handle.fileno())
        size = os.fstat(handle.fileno()).st_size
    _make_read_only(path)
    return {"size": size, "sha256": digest}


def _seal_all(folder: Path, paths: builtins.list[str],
              known: Mapping[str, str] | None = None,
              synced: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """:func:`_seal` every file below ``folder``; large ones hash and sync in parallel.

    Files in ``known`` (relative path to digest) are not hashed again, those in
    ``synced`` not synced again. Hashing costs CPU and ``fsync`` waits for the
    disk: side by side in threads they take the longer of the two, not the sum.
    """
    known = dict(known or {})
    on_disk = set(synced)
    sizes = {path: (folder / path).stat().st_size for path in paths}
    if sum(sizes.values()) < _PARALLEL_BYTES:  # small: hashing again costs nothing
        return {path: _seal(folder / path, sync=path not in on_disk) for path in paths}
    from concurrent.futures import ThreadPoolExecutor

    # small files are sealed here, in turn, while threads hash and sync the large ones
    large = [path for path in paths if sizes[path] >= _PARALLEL_BYTES // 4]
    facts: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=min(2 * len(large), 4)) as pool:
        digests = {path: pool.submit(_digest_in_background, folder / path)
                   for path in large if path not in known}
        syncing = [pool.submit(_fsync_file, folder / path)
                   for path in large if path not in on_disk]
        for path in paths:
            if path not in large:
                facts[path] = _seal(folder / path, sync=path not in on_disk)
        for path in large:
            facts[path] = {"size": sizes[path],
                           "sha256": known[path] if path in known else digests[path].result()}
        for future in syncing:
            future.result()
    for path in large:
        _make_read_only(folder / path)
    return {path: facts[path] for path in paths}


_BACKGROUND_CHUNK = 32 * 1024 * 1024


def _digest_in_background(path: Path) -> str:
    """``"sha256:<hex>"`` of a file, for a thread that runs beside busy Python code.

    Hashing a memory map in one call holds the GIL only at its start and end;
    where a file cannot be mapped, large chunks keep the GIL switches few.
    """
    with open(path, "rb", buffering=0) as handle:
        mapped = _map_read_only(handle)
        if mapped is not None:
            with mapped:
                return buffer_digest(mapped)
        size = os.fstat(handle.fileno()).st_size
        return file_digest(handle, chunk_size=min(_BACKGROUND_CHUNK, max(size, 1)))


def _map_read_only(handle: Any) -> mmap.mmap | None:
    """Memory-map an open file for reading; None where that cannot be done (empty file...)."""
    try:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _make_read_only(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _map_files(func: Any, folder: Path, paths: builtins.list[str]) -> dict[str, Any]:
    """Return ``{path: func(path)}`` for files relative to ``folder``, in threads when large.

    Hashing releases the GIL, so the weights files of one version hash (and sync) at once.
    """
    sizes = 0
    for path in paths:
        try:
            sizes += (folder / path).stat().st_size
        except OSError:
            pass
    if len(paths) < 2 or sizes < _PARALLEL_BYTES:
        return {path: func(path) for path in paths}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(paths), 4)) as pool:
        return dict(zip(paths, pool.map(func, paths), strict=True))


#: Syncs a folder after a rename in it (looked up here, so a test can replace it).
_fsync_dir = fsync_dir


def _force_rmtree(folder: Path) -> None:
    """Remove a folder whose files or folders may be read-only; ignore what is already gone."""

    def retry(func: Any, path: str, _exc: Any) -> None:
        try:
            parent = os.path.dirname(path)
            os.chmod(parent, stat.S_IMODE(os.stat(parent).st_mode) | stat.S_IWUSR | stat.S_IXUSR)
            func(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("could not remove %s: %s", path, exc)

    if not folder.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=retry)
    else:  # pragma: no cover - Python 3.10 and 3.11
        shutil.rmtree(folder, onerror=retry)

