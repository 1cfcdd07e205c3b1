"""A plain-file cache for archive replies (no pickle, no database).

Entries live at ``<root>/<namespace>/<key>/<version>/<name>``: for PANGAEA,
``pangaea/889513/<last-modified stamp>/data.tab``. A new version of a dataset
gets a new folder, so a cached file is never stale for its version, and the
newest version can still be read when the archive cannot be reached. Files
are written to a temporary name and renamed, so a crash leaves no half entry.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from .._files import NO_SPACE, atomic_write
from ..errors import TransferError

__all__ = ["ArchiveCache", "default_cache_dir"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_cache_dir() -> Path:
    """Return awiml's cache folder: ``$AWIML_CACHE_DIR`` or the platform's user cache.

    Returns
    -------
    pathlib.Path
        The folder (not created), e.g. ``~/.cache/awiml`` on Linux.
    """
    override = os.environ.get("AWIML_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("awiml", appauthor=False))


def _safe(part: str) -> str:
    """Make one path component from any string (stamps contain ':' and spaces)."""
    cleaned = _UNSAFE.sub("_", part.strip()).strip("._")
    return cleaned or "_"


class ArchiveCache:
    """Versioned plain files below one folder.

    Parameters
    ----------
    root : path-like
        The cache folder; created on first write.
    namespace : str
        Sub-folder per archive, e.g. ``"pangaea"``.

    Examples
    --------
    >>> import tempfile
    >>> cache = ArchiveCache(tempfile.mkdtemp(), "pangaea")
    >>> path = cache.put("889513", "2024-01-01T00:00:00", "data.tab", b"data")
    >>> cache.get("889513", "2024-01-01T00:00:00", "data.tab") == path
    True
    >>> cache.latest("889513", "data.tab") == path
    True
    """

    def __init__(self, root: str | os.PathLike[str], namespace: str) -> None:
        self.root = Path(root).expanduser() / _safe(namespace)

    def _path(self, key: str, version: str, name: str) -> Path:
        return self.root / _safe(key) / _safe(version) / _safe(name)

    def get(self, key: str, version: str, name: str) -> Path | None:
        """Return the cached file for this version, or ``None``.

        Parameters
        ----------
        key : str
            The item, e.g. a dataset id.
        version : str
            Its version stamp.
        name : str
            The file name.

        Returns
        -------
        pathlib.Path or None
            The file, if cached.

        Raises
        ------
        awiml.errors.TransferError
            The cache folder cannot be read (no permission).
        """
        path = self._path(key, version, name)
        try:
            found = path.is_file()
        except OSError as exc:  # a folder on the way is not readable for us
            raise self._unusable(exc) from exc
        return self._readable(path) if found else None

    def latest(self, key: str, name: str) -> Path | None:
        """Return the most recently written version of a file, or ``None``.

        Parameters
        ----------
        key, name : str
            As in :meth:`get`.

        Returns
        -------
        pathlib.Path or None
            The newest cached copy, for offline use.

        Raises
        ------
        awiml.errors.TransferError
            As for :meth:`get`.
        """
        folder = self.root / _safe(key)
        try:
            candidates = [(p.stat().st_mtime_ns, p) for p in folder.glob(f"*/{_safe(name)}")
                          if p.is_file()]
        except FileNotFoundError:  # removed while we looked: as good as not cached
            return None
        except OSError as exc:
            raise self._unusable(exc) from exc
        return self._readable(max(candidates, key=lambda c: c[0])[1]) if candidates else None

    def read(self, path: str | os.PathLike[str]) -> bytes:
        """Return the content of a cached file that :meth:`get` or :meth:`latest` found.

        Parameters
        ----------
        path : path-like
            The file.

        Returns
        -------
        bytes
            Its content.

        Raises
        ------
        awiml.errors.TransferError
            The file cannot be read (an I/O error, no permission, removed
            meanwhile); the message names it and says what to do. The file
            is left as it is.

        Examples
        --------
        >>> import tempfile
        >>> cache = ArchiveCache(tempfile.mkdtemp(), "pangaea")
        >>> cache.read(cache.put("889513", "v1", "data.tab", b"data"))
        b'data'
        """
        path = Path(path)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise TransferError(
                f"the cached file {path} was removed while awiml read it (another process "
                "cleaning the archive cache?); read again."
            ) from exc
        except OSError as exc:
            raise TransferError(
                f"could not read the cached file {path}: {exc.strerror or exc}. It is left as "
                f"it is; delete it (the next read while the archive can be reached downloads "
                f"it again) or make it readable for you (chmod u+r '{path}'), set "
                "$AWIML_CACHE_DIR to another folder, or pass cache=False."
            ) from exc

    def put(self, key: str, version: str, name: str, data: bytes, *,
            replace: bool = True) -> Path:
        """Store ``data`` atomically and return its path.

        Parameters
        ----------
        key, version, name : str
            As in :meth:`get`.
        data : bytes
            The content.
        replace : bool, default=True
            Replace a file already cached for this version; with ``False`` it
            is kept and nothing is written (so a read-only cache that holds
            the file is fine).

        Returns
        -------
        pathlib.Path
            The cached file.

        Raises
        ------
        awiml.errors.TransferError
            The file could not be written (disk full, no permission).
        """
        path = self._path(key, version, name)
        try:
            if not replace and path.is_file():
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            return atomic_write(path, data)
        except OSError as exc:
            advice = "free some space" if exc.errno in NO_SPACE else "check your write permission"
            raise TransferError(
                f"could not write {path} into the archive cache: {exc.strerror or exc}. Nothing "
                f"was cached and the entries already there are untouched; {advice}, set "
                "$AWIML_CACHE_DIR to another folder, or pass cache=False."
            ) from exc

    def _readable(self, path: Path) -> Path:
        """Return ``path``, or raise the cache's error if we may not read it."""
        if not os.access(path, os.R_OK):
            error = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            raise self._unusable(error)
        return path

    def _unusable(self, exc: OSError) -> TransferError:
        """Return the error for a cache folder that cannot be read (or searched)."""
        where = exc.filename or self.root
        return TransferError(
            f"could not read the archive cache at {where}: {exc.strerror or exc}. The cache "
            f"is left as it is; make {self.root} readable and writable for you (for example "
            f"chmod -R u+rwX '{self.root}'), set $AWIML_CACHE_DIR to another folder, or pass "
            "cache=False."
        )
