"""Writing to the HSM, explicitly: the few file operations ``Workspace.archive`` needs.

:class:`~awiml.archives.hsm.HSMSource` refuses fsspec's writing methods
(``put_file``, ``mv``, ``rm``...), as every awiml archive source does, so no
generic copy can change the tape archive by accident. Archiving results asks
for :meth:`HSMSource.archive_writer`, this object, whose methods carry
fsspec's names and meaning for the one job: make the destination folder,
upload a file under a temporary name, read it back, rename it (SFTP's
rename never replaces an existing file) and remove a failed upload. Each
write runs once; a dropped connection is an error, not a silent retry.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .source import HSMSource

__all__ = ["HSMWriter"]


class HSMWriter:
    """Make folders, upload, rename and remove files on the HSM, for archiving results.

    Parameters
    ----------
    source : HSMSource
        The source whose connection and login are used.
    """

    def __init__(self, source: HSMSource) -> None:
        self._source = source
        self._connection = source._connection

    def _path(self, path: str) -> str:
        return str(self._source._strip_protocol(path))

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists on the HSM (a folder or a file)."""
        name = self._path(path)

        async def exists(channel: Any) -> bool:
            return bool(await channel.exists(name))

        return self._connection.write("while checking", name, exists)

    def makedirs(self, path: str, exist_ok: bool = True) -> None:
        """Create the folder ``path`` and its parents."""
        name = self._path(path)

        async def makedirs(channel: Any) -> None:
            await channel.makedirs(name, exist_ok=exist_ok)

        self._connection.write("while creating the folder", name, makedirs)

    def put_file(self, lpath: str, rpath: str, **_kwargs: Any) -> None:
        """Upload the local file ``lpath`` to ``rpath`` (replacing a temporary file there)."""
        name = self._path(rpath)

        async def put(channel: Any) -> None:
            await channel.put(lpath, name)

        self._connection.write("while uploading", name, put)

    def info(self, path: str) -> dict[str, Any]:
        """Return ``{"name", "type", "size", "mtime"}`` of ``path``."""
        return self._connection.stat(self._path(path))

    def open(self, path: str, mode: str = "rb") -> Any:
        """Open ``path`` for reading back, over SFTP (a file just written is online)."""
        return self._connection.open(self._path(path))

    def mv(self, path1: str, path2: str) -> None:
        """Rename ``path1`` to ``path2``; fails if ``path2`` exists (SFTP rename)."""
        old, new = self._path(path1), self._path(path2)

        async def rename(channel: Any) -> None:
            await channel.rename(old, new)

        self._connection.write(f"while renaming it to {PurePosixPath(new).name}", old, rename)

    def rm(self, path: str) -> None:
        """Remove the file ``path``."""
        name = self._path(path)

        async def remove(channel: Any) -> None:
            await channel.remove(name)

        self._connection.write("while removing", name, remove)
