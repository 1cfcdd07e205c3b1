"""The one atomic write, lock and file digest every awiml module uses.

Atomic writes let readers see the old file or the new one, never half of one;
digests are awiml's ``"<algorithm>:<hex>"``. Only the standard library and
:mod:`filelock` are imported.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "NO_SPACE",
    "atomic_open",
    "atomic_write",
    "buffer_digest",
    "file_digest",
    "fsync_dir",
    "publish",
    "soft_lock",
    "tagged",
]

#: ``errno`` values of a write that failed for want of room: a full disk, a full
#: quota, or a file larger than the process may write (``RLIMIT_FSIZE``).
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

#: Bytes read at a time where :func:`hashlib.file_digest` is not used.
_CHUNK = 1024 * 1024

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _temporary(folder: Path, name: str) -> tuple[int, Path]:
    """Create an empty file with a name no other thread or process uses; return fd and path."""
    while True:
        tmp = folder / (f".{name}.{os.getpid()}.{threading.get_ident()}."
                        f"{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp  # less the umask, as open(path, "w")
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries to disk, so a rename in it survives a crash.

    Does nothing where the OS or file system cannot sync a folder (Windows,
    some network shares); the rename itself is atomic either way.

    Parameters
    ----------
    folder : path-like
        The folder that holds the renamed file.

    Examples
    --------
    >>> import tempfile
    >>> fsync_dir(tempfile.mkdtemp())
    """
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    replace: bool = True,
    sync: bool = True,
) -> None:
    """Rename the complete file ``source`` to ``target`` on the same file system.

    Parameters
    ----------
    source : path-like
        A finished file (already synced, if it must survive a crash).
    target : path-like
        Its final name.
    replace : bool, default=True
        Replace an existing ``target``. With ``False``, an existing ``target``
        is kept and :class:`FileExistsError` raised.
    sync : bool, default=True
        Sync the target's folder afterwards.

    Raises
    ------
    FileExistsError
        ``replace=False`` and ``target`` exists; ``source`` stays.
    OSError
        The rename failed; ``source`` stays and ``target`` is untouched.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "new").write_text("2")
    >>> publish(folder / "new", folder / "final")
    >>> (folder / "final").read_text()
    '2'
    """
    source, target = Path(source), Path(target)
    if replace:
        os.replace(source, target)
    else:
        try:
            os.link(source, target)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (some shares): the best that remains
            if target.exists():
                raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
            os.rename(source, target)
        else:
            source.unlink()
    if sync:
        fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    *,
    mode: int | None = None,
    replace: bool = True,
    tmp_dir: str | os.PathLike[str] | None = None,
    sync: bool = True,
) -> Iterator[IO[bytes]]:
    """Open a binary file that replaces ``path`` atomically when the block ends.

    The file is written under a unique temporary name, then renamed over ``path``.

    Parameters
    ----------
    path : path-like
        The file to write; its folder must exist.
    mode : int, optional
        Permission bits (e.g. ``0o600``) set before the file gets its name;
        by default those of a newly created file (``0o666`` less the umask).
    replace : bool, default=True
        Replace an existing file; with ``False`` an existing file is kept and
        :class:`FileExistsError` raised (see :func:`publish`).
    tmp_dir : path-like, optional
        A folder on the same file system for the temporary file (so a crash
        leaves no stray file in a folder others list); by default ``path``'s.
    sync : bool, default=True
        ``fsync`` the file and its folder, so the new content survives a crash.

    Yields
    ------
    file object
        Write the content to it. When the block raises anything (including
        ``KeyboardInterrupt``), the temporary file is removed and ``path``
        is untouched.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "data.bin"
    >>> with atomic_open(path) as handle:
    ...     _ = handle.write(b"one ")
    ...     _ = handle.write(b"two")
    >>> path.read_bytes()
    b'one two'
    """
    path = Path(path)
    fd, tmp = _temporary(Path(tmp_dir) if tmp_dir is not None else path.parent, path.name)
    try:
        with open(fd, "wb") as handle:
            yield handle
            handle.flush()
            if mode is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(handle.fileno(), mode)
                else:  # pragma: no cover - Windows
                    os.chmod(tmp, mode)
            if sync:
                os.fsync(handle.fileno())
        publish(tmp, path, replace=replace, sync=sync)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(
    path: str | os.PathLike[str],
    content: bytes | str,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
    replace: bool = True,
    tmp_dir: str | os.PathLike[str] | None = None,
    sync: bool = True,
) -> Path:
    """Write ``content`` to ``path`` atomically; return the path.

    Text is encoded with ``encoding`` and written as given (no newline
    translation).

    Parameters
    ----------
    path : path-like
        The file to write; its folder must exist.
    content : bytes or str
        The whole new content.
    encoding : str, default="utf-8"
        For text content.
    mode, replace, tmp_dir, sync
        As in :func:`atomic_open`.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "token.json"
    >>> _ = atomic_write(path, '{"token": "t0k3n"}', mode=0o600)
    >>> path.read_text(), oct(path.stat().st_mode & 0o777)
    ('{"token": "t0k3n"}', '0o600')
    """
    data = content.encode(encoding) if isinstance(content, str) else content
    with atomic_open(path, mode=mode, replace=replace, tmp_dir=tmp_dir, sync=sync) as handle:
        handle.write(data)
    return Path(path)


@contextlib.contextmanager
def soft_lock(
    path: str | os.PathLike[str],
    timeout: float,
    busy: Callable[[], BaseException],
    unwritable: Callable[[OSError], BaseException] | None = None,
) -> Iterator[None]:
    """Hold the soft lock file ``path`` for the block.

    A :class:`filelock.SoftFileLock` is an exclusively created marker file,
    which works on NFS and SMB shares too; one a crashed process on this host
    left is broken automatically.

    Parameters
    ----------
    path : path-like
        The lock file; its folder is created if needed.
    timeout : float
        Seconds to wait while another process (or thread) holds it.
    busy : callable
        Returns the error to raise when the lock is still taken after
        ``timeout``; it should name ``path`` and say to delete it if no such
        process runs.
    unwritable : callable, optional
        Given the :class:`OSError` of a lock file (or of its folder) that
        cannot be created (a full disk, no permission, a read-only folder),
        returns the error to raise instead.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> lock = pathlib.Path(tempfile.mkdtemp()) / "work.lock"
    >>> with soft_lock(lock, 5.0, lambda: RuntimeError(f"{lock} is taken")):
    ...     lock.exists()
    True
    >>> lock.exists()
    False
    """
    from filelock import SoftFileLock, Timeout

    path = Path(path)
    lock = SoftFileLock(path, timeout=timeout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a read-only folder fails here
        lock.acquire()
    except Timeout:
        raise busy() from None
    except OSError as exc:
        if unwritable is None:
            raise
        raise unwritable(exc) from exc
    try:
        yield
    finally:
        lock.release()


def tagged(hasher: Any) -> str:
    """Return awiml's ``"<algorithm>:<hex>"`` form of a :mod:`hashlib` object's digest.

    Examples
    --------
    >>> tagged(hashlib.sha256(b"test"))[:19]
    'sha256:9f86d081884c'
    """
    return f"{hasher.name}:{hasher.hexdigest()}"


def buffer_digest(content: Any, algorithm: str = "sha256") -> str:
    """Return ``"<algorithm>:<hex>"`` of a buffer (bytes, a memory map...) in one call.

    The call releases the GIL throughout, so threads can hash beside other work.

    Examples
    --------
    >>> buffer_digest(b"test")[:19]
    'sha256:9f86d081884c'
    """
    return tagged(hashlib.new(algorithm, content))


def file_digest(
    file: str | os.PathLike[str] | IO[bytes],
    algorithm: str = "sha256",
    *,
    chunk_size: int | None = None,
) -> str:
    """Hash a file and return ``"<algorithm>:<hex>"``.

    Parameters
    ----------
    file : path-like or binary file object
        A path, or a file opened for binary reading (read from its position).
    algorithm : str, default="sha256"
        Any :mod:`hashlib` algorithm.
    chunk_size : int, optional
        Bytes read at a time; by default :func:`hashlib.file_digest` decides.

    Returns
    -------
    str
        The digest with its algorithm.

    Examples
    --------
    >>> import io
    >>> file_digest(io.BytesIO(b"awiml"), "md5")
    'md5:e1a09e5eaa41350ae1bdb54afaa88f60'
    """
    if not hasattr(file, "read"):
        with open(file, "rb", buffering=0) as opened:  # type: ignore[arg-type]
            return file_digest(opened, algorithm, chunk_size=chunk_size)
    handle: Any = file
    if chunk_size is None and sys.version_info >= (3, 11):
        return tagged(hashlib.file_digest(handle, algorithm))
    digest = hashlib.new(algorithm)
    buffer = bytearray(chunk_size or _CHUNK)
    view = memoryview(buffer)
    while count := handle.readinto(view):
        digest.update(view[:count])
    return tagged(digest)
