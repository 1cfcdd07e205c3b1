"""What every archive source shares: the fsspec base class and the HTTP session.

An archive source (PANGAEA, EcoTaxa, O2A, HSM) is an fsspec filesystem derived
from :class:`ArchiveFileSystem`. Besides the fsspec methods (``ls``, ``info``,
``open``...) it tells the transfer engine which files a path stands for, through
:meth:`ArchiveFileSystem.remote_files`, so that ``Workspace.fetch`` can copy
them with resume, retries and checksums, and record archive metadata (DOI,
licence) in the manifest.

HTTP goes through one kind of :class:`requests.Session`, made by
:func:`http_session`: default timeouts, bounded retries with backoff that honour
``Retry-After``, an ``awiml`` user agent, and credentials from arguments,
environment variables or ``~/.netrc``. Credentials are never logged nor put into
error messages.
"""

from __future__ import annotations

import inspect
import logging
import netrc
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from fsspec.spec import AbstractFileSystem
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .._version import __version__
from ..errors import ArchiveUnavailableError, redact_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "USER_AGENT",
    "ArchiveFileSystem",
    "AwimlSession",
    "RemoteFile",
    "expand_fsspec_path",
    "http_session",
    "netrc_credentials",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for a connection and for each read from the socket.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)

#: HTTP statuses worth retrying: rate limiting and transient server errors.
RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

USER_AGENT = f"awiml/{__version__} (+https://awiml.readthedocs.io)"


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
        Published checksum as ``"<algorithm>:<hex digest>"``, for example
        ``"sha256:9f86d0..."`` or ``"md5:..."``; any algorithm of
        :mod:`hashlib` works.
    metadata : Mapping
        Archive metadata to keep in the manifest (DOI, licence, citation...).
    url : str, optional
        An ``http(s)`` URL the file streams from. When given, the file is
        downloaded with HTTP Range resume through ``session``.
    session : requests.Session, optional
        The session (with its authentication) for ``url``; a plain
        :func:`http_session` when omitted.
    headers : Mapping of str to str, optional
        Extra request headers for ``url``, e.g. an ``Accept`` for content
        negotiation.
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

    Subclasses set :attr:`protocol`, implement the fsspec methods they serve
    (at least ``ls`` and ``_open``) and may override :meth:`remote_files` to
    hand the transfer engine HTTP URLs with checksums and archive metadata.
    They are registered with fsspec declaratively, through the ``fsspec.specs``
    entry point in ``pyproject.toml``. Archives are read-only: the writing
    methods (``mkdir``, ``makedirs``, ``rm``, ``rm_file``, ``rmdir``, ``mv``,
    ``cp_file``, ``put_file``) raise :class:`PermissionError`.

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

        The default expands a directory to every file below it (keeping the
        directory's name as the top folder) and reads sizes from
        :meth:`info`. Subclasses override it to add checksums, HTTP URLs and
        metadata.

        Parameters
        ----------
        path : str
            A path on this filesystem, with or without the protocol.

        Returns
        -------
        list of RemoteFile
            One entry per file, in a stable order.
        """
        path = self._strip_protocol(path)
        return expand_fsspec_path(self, path, protocol=_first(self.protocol))

    def _readonly(self, *_args: Any, **_kwargs: Any) -> None:
        """Refuse to write: archive sources are read-only."""
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


class AwimlSession(requests.Session):
    """A :class:`requests.Session` that applies a default timeout to every request."""

    default_timeout: tuple[float, float] = DEFAULT_TIMEOUT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """Send a request, with :attr:`default_timeout` unless a timeout is given."""
        kwargs.setdefault("timeout", self.default_timeout)
        try:
            return super().request(method, url, *args, **kwargs)
        except _RetryAfterTooLong as exc:
            shown = redact_url(url.decode() if isinstance(url, bytes) else url)
            raise ArchiveUnavailableError(
                f"{shown} answered {exc.status} and asks to wait {exc.seconds:.0f} s (more than "
                f"{exc.limit:.0f} s): the archive is busy or recalling the data from tape. "
                "Try again later."
            ) from None


class _BoundedRetry(Retry):
    """urllib3's Retry, refusing to sleep longer than ``max_retry_after`` for a Retry-After."""

    max_retry_after: float = 300.0

    def new(self, **kw: Any) -> _BoundedRetry:
        retry = super().new(**kw)
        retry.max_retry_after = self.max_retry_after
        return retry

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is not None and seconds > self.max_retry_after:
            raise _RetryAfterTooLong(response.status, seconds, self.max_retry_after)
        return seconds


class _RetryAfterTooLong(Exception):
    """Raised inside urllib3 (not an OSError, so requests does not wrap it)."""

    def __init__(self, status: int, seconds: float, limit: float) -> None:
        super().__init__(status, seconds, limit)
        self.status, self.seconds, self.limit = status, seconds, limit


def http_session(
    *,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
    retries: int = 5,
    backoff: float = 0.5,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    pool_size: int = 16,
    max_retry_after: float = 300.0,
) -> requests.Session:
    """Make the HTTP session every awiml archive client uses.

    Parameters
    ----------
    auth : tuple of str, optional
        User name and password for HTTP Basic authentication.
    token : str, optional
        A bearer token, sent as ``Authorization: Bearer <token>``.
    retries : int, optional
        Bounded retries for idempotent requests on connection errors and on
        the statuses in :data:`RETRY_STATUSES`, with exponential backoff
        (``backoff * 2**n`` seconds) and honouring ``Retry-After``. ``0``
        turns retrying off (the transfer engine retries on its own, so it
        can resume partial bodies).
    backoff : float, optional
        Backoff factor in seconds.
    timeout : tuple of float, optional
        Default connect and read timeouts of every request.
    pool_size : int, optional
        Connections kept per host, at least the number of parallel workers.
    max_retry_after : float, optional
        Longest ``Retry-After`` in seconds the session waits for; a longer
        one raises :class:`~awiml.errors.ArchiveUnavailableError` at once.

    Returns
    -------
    requests.Session
        A session with the awiml user agent. Without ``auth`` or ``token``,
        requests reads ``~/.netrc`` for the host on its own (``trust_env``).

    Notes
    -----
    requests drops the ``Authorization`` header when a redirect leaves the
    host, so a token never reaches a third party.

    Examples
    --------
    >>> session = http_session(retries=2)
    >>> session.headers["User-Agent"].startswith("awiml/")
    True
    """
    session = AwimlSession()
    session.default_timeout = timeout
    session.headers["User-Agent"] = USER_AGENT
    if auth is not None:
        session.auth = auth
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    retry = _BoundedRetry(
        total=retries,
        # A refused or unreachable connection rarely heals within seconds: try it
        # twice at most, so offline use falls back to caches quickly.
        connect=min(retries, 2),
        # read=False raises a read timeout as itself (requests.ReadTimeout), not
        # wrapped in a "max retries exceeded" ConnectionError, when retrying is off.
        read=retries if retries else False,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=sorted(RETRY_STATUSES),
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.max_retry_after = max_retry_after
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def netrc_credentials(
    host: str, *, path: str | os.PathLike[str] | None = None
) -> tuple[str, str] | None:
    """Look up the login and password for ``host`` in ``~/.netrc``.

    Parameters
    ----------
    host : str
        The machine name as written in the netrc file.
    path : path-like, optional
        Another netrc file; defaults to ``$NETRC`` or ``~/.netrc``.

    Returns
    -------
    tuple of str or None
        ``(login, password)``, or ``None`` when the file or the host entry is
        missing or the file cannot be parsed (the reason is logged, never the
        password).
    """
    file = path or os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.exists(file):
        return None
    try:
        entry = netrc.netrc(os.fspath(file)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        logger.warning("could not read credentials from %s: %s", file, type(exc).__name__)
        return None
    if entry is None:
        return None
    login, _account, password = entry
    return (login or "", password or "")
