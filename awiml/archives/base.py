"""What every archive source shares: the fsspec base class and the HTTP session.

An archive source (PANGAEA, EcoTaxa, O2A, HSM) is an fsspec filesystem derived
from :class:`ArchiveFileSystem`. Besides the fsspec methods (``ls``, ``info``,
``open``...) it tells the transfer engine which files a path stands for, through
:meth:`ArchiveFileSystem.remote_files`, so that ``Workspace.fetch`` can copy
them and record archive metadata (DOI, licence) in the manifest.

The HTTP session (:func:`http_session`), its retries and credentials live in
:mod:`awiml.archives.http`; their names are importable from here too.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from fsspec.spec import AbstractFileSystem

from .http import (
    DEFAULT_TIMEOUT,
    RETRY_STATUSES,
    USER_AGENT,
    AwimlSession,
    RetryPolicy,
    http_session,
    netrc_credentials,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "USER_AGENT",
    "ArchiveFileSystem",
    "AwimlSession",
    "RemoteFile",
    "RetryPolicy",
    "expand_fsspec_path",
    "http_session",
    "netrc_credentials",
]


@dataclass(frozen=True)
class RemoteFile:
    """One file an archive offers, as the transfer engine needs to copy it.

    Parameters
    ----------
    source : str
        The identifier recorded in the manifest: a URL, DOI or archive path.
        It must hold no credentials.
    name : str
        Relative path of the file below the workspace's ``raw/`` folder,
        with ``/`` as separator.
    size : int, optional
        Size in bytes, if the archive publishes it.
    checksum : str, optional
        Published checksum as ``"<algorithm>:<hex digest>"`` with any
        :mod:`hashlib` algorithm, e.g. ``"md5:..."``.
    metadata : Mapping
        Archive metadata to keep in the manifest (DOI, licence, citation...).
    url : str, optional
        An ``http(s)`` URL the file streams from (with HTTP Range resume).
    session : requests.Session, optional
        The session (with its authentication) for ``url``; a plain
        :func:`http_session` when omitted.
    headers : Mapping of str to str, optional
        Extra request headers for ``url``, e.g. an ``Accept``.
    fs : fsspec.AbstractFileSystem, optional
        For files not served over HTTP: the filesystem to open ``path`` on.
    path : str, optional
        The path on ``fs``.

    Examples
    --------
    >>> RemoteFile(source="https://example.org/a.tab", name="a.tab",
    ...            url="https://example.org/a.tab").name
    'a.tab'
    """

    source: str
    name: str
    size: int | None = None
    checksum: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
    session: requests.Session | None = field(default=None, repr=False, compare=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    fs: AbstractFileSystem | None = field(default=None, repr=False, compare=False)
    path: str | None = None

    def __post_init__(self) -> None:
        if self.url is None and (self.fs is None or self.path is None):
            raise ValueError(f"RemoteFile {self.source!r} needs either a url or an fs and a path")


class ArchiveFileSystem(AbstractFileSystem):
    """Base class of awiml's archive sources: a read-only fsspec filesystem.

    Subclasses set :attr:`protocol`, implement at least ``ls`` and ``_open``,
    may override :meth:`remote_files`, and are registered through the
    ``fsspec.specs`` entry point in ``pyproject.toml``. The writing methods
    (``mkdir``, ``rm``, ``mv``, ``put_file``...) raise :class:`PermissionError`.

    Parameters
    ----------
    timeout : tuple of float, optional
        Connect and read timeouts in seconds for every HTTP request.
    retries : int, optional
        How many times a failed idempotent request is retried.
    **storage_options
        Passed on to :class:`fsspec.spec.AbstractFileSystem`.
    """

    protocol: str | tuple[str, ...] = "awiml-archive"
    #: Archive sources only read.
    read_only: bool = True

    def __init__(
        self,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 5,
        **storage_options: Any,
    ) -> None:
        super().__init__(**storage_options)
        self.timeout = timeout
        self.retries = retries

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # fsspec's metaclass hides __init__'s signature from help() and the docs.
        signature = inspect.signature(cls.__init__)
        cls.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[1:]
        )

    def remote_files(self, path: str) -> list[RemoteFile]:
        """List the files ``path`` stands for, ready for the transfer engine.

        The default is :func:`expand_fsspec_path`; subclasses override it to
        add checksums, HTTP URLs and metadata.

        Parameters
        ----------
        path : str
            A path on this filesystem, with or without the protocol.

        Returns
        -------
        list of RemoteFile
            One entry per file, in a stable order.
        """
        return expand_fsspec_path(self, self._strip_protocol(path), protocol=_first(self.protocol))

    def _readonly(self, *_args: Any, **_kwargs: Any) -> None:
        raise PermissionError(
            f"{type(self).__name__} is read-only: archives are never written to by awiml"
        )

    mkdir = makedirs = rm = rm_file = rmdir = mv = cp_file = put_file = _readonly


def _first(protocol: str | tuple[str, ...]) -> str:
    return protocol if isinstance(protocol, str) else protocol[0]


def expand_fsspec_path(fs: AbstractFileSystem, path: str, *, protocol: str) -> list[RemoteFile]:
    """Turn a file or directory on any fsspec filesystem into :class:`RemoteFile` entries.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The filesystem holding ``path``.
    path : str
        A file or directory path on ``fs`` (without protocol).
    protocol : str
        The protocol used to write ``source`` in the manifest.

    Returns
    -------
    list of RemoteFile
        A single entry for a file; one per file below a directory, named
        ``<directory name>/<relative path>``.
    """
    info = fs.info(path)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if info.get("type") != "directory":
        return [_remote_from_info(fs, path, info, name, protocol)]
    found = fs.find(path, detail=True)
    prefix = path.rstrip("/") + "/"
    files = []
    for child, child_info in sorted(found.items()):
        relative = child[len(prefix):] if child.startswith(prefix) else child.rsplit("/", 1)[-1]
        files.append(_remote_from_info(fs, child, child_info, f"{name}/{relative}", protocol))
    return files


def _remote_from_info(
    fs: AbstractFileSystem, path: str, info: Mapping[str, Any], name: str, protocol: str
) -> RemoteFile:
    size = info.get("size")
    return RemoteFile(
        source=fs.unstrip_protocol(path) if protocol != "file" else f"file://{path}",
        name=name,
        size=int(size) if size is not None else None,
        fs=fs,
        path=path,
    )
