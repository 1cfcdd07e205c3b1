"""The transfer engine of every archive: copy one remote file to a verified local file.

:func:`download` streams a :class:`~awiml.archives.base.RemoteFile` into a
*partial file*, resumes it by HTTP Range (with ``If-Range``) or by ``seek``,
retries as :class:`RetryPolicy` says, and verifies the size and any published
checksum. Moving the verified file into ``raw/`` is the workspace's job.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3

from .._files import NO_SPACE, atomic_write, file_digest, soft_lock, tagged
from .._progress import human_size
from ..errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    AwimlError,
    ChecksumMismatchError,
    NotFoundError,
    TransferError,
    redact_url,
)
from .base import RemoteFile, http_session
from .http import RetryPolicy

__all__ = [
    "CHUNK_SIZE",
    "DownloadResult",
    "RetryPolicy",
    "download",
    "file_checksum",
    "parse_checksum",
    "partial_size",
]

logger = logging.getLogger(__name__)

#: Bytes read and written at a time while streaming.
CHUNK_SIZE = 1024 * 1024

#: Seconds between two looks at the cancel event while a transfer waits for its server.
_CANCEL_POLL = 0.1

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class DownloadResult:
    """A complete, verified partial file, ready to be moved into place.

    Parameters
    ----------
    path : pathlib.Path
        The verified temporary file (in the partial folder).
    size : int
        Its size in bytes.
    sha256 : str
        Its SHA-256 digest as ``"sha256:<hex>"``.
    verified_checksum : str or None
        The published checksum it was checked against, if any.
    attempts : int
        How many attempts the transfer took.
    resumed : bool
        Whether any attempt resumed a partial transfer.
    """

    path: Path
    size: int
    sha256: str
    verified_checksum: str | None
    attempts: int
    resumed: bool


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"<algorithm>:<hex>"`` into a :mod:`hashlib` name and a lower-case digest.

    Parameters
    ----------
    checksum : str
        For example ``"sha256:9f86d08..."``. A bare 64-digit hex string is
        taken as SHA-256.

    Returns
    -------
    tuple of str
        ``(algorithm, hexdigest)``.

    Raises
    ------
    ValueError
        If the algorithm is unknown to :mod:`hashlib` or the digest is not hex.

    Examples
    --------
    >>> parse_checksum("SHA256:ABCD")
    ('sha256', 'abcd')
    """
    algorithm, sep, digest = checksum.partition(":")
    if not sep:
        algorithm, digest = "sha256", checksum
    algorithm = algorithm.strip().lower().replace("-", "")
    digest = digest.strip().lower()
    if algorithm not in hashlib.algorithms_available:
        raise ValueError(
            f"unknown checksum algorithm {algorithm!r} in {checksum!r}; "
            "write it as '<algorithm>:<hex digest>', e.g. 'sha256:...' or 'md5:...'"
        )
    try:
        int(digest, 16)
    except ValueError:
        raise ValueError(f"checksum {checksum!r} has no hexadecimal digest") from None
    return algorithm, digest


def file_checksum(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hash a file in chunks and return ``"<algorithm>:<hex>"``.

    Parameters
    ----------
    path : path-like
        The file to hash.
    algorithm : str, optional
        Any :mod:`hashlib` algorithm.

    Returns
    -------
    str
        The checksum with its algorithm.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"test")
    >>> file_checksum(p)
    'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    return file_digest(path, algorithm)


def partial_size(remote: RemoteFile, partial_dir: str | os.PathLike[str]) -> int:
    """Return how many bytes of ``remote`` an earlier transfer left in ``partial_dir``.

    :func:`download` resumes from there; pass the number as its ``counted``
    to start a progress bar at the bytes already on disk.

    Parameters
    ----------
    remote : RemoteFile
        The file to be downloaded.
    partial_dir : path-like
        The folder of partial files given to :func:`download`.

    Returns
    -------
    int
        The size of its partial file, 0 if there is none (or it cannot be seen).

    Examples
    --------
    >>> import tempfile
    >>> remote = RemoteFile(source="https://example.org/a.tab", name="a.tab",
    ...                     url="https://example.org/a.tab")
    >>> partial_size(remote, tempfile.mkdtemp())
    0
    """
    try:
        return _Partial(Path(partial_dir), remote).size()
    except OSError:  # an unreadable folder: download() says what to do about it
        return 0


class _Retry(Exception):
    """An attempt failed in a way worth retrying; carries the reason and an optional wait."""

    def __init__(self, reason: str, wait: float | None = None, *, restart: bool = False) -> None:
        super().__init__(reason)
        self.wait = wait
        self.restart = restart


class _Cancelled(Exception):
    """The caller asked the transfer to stop (raised from the progress callback)."""


class _Partial:
    """The partial file of one transfer and what is known about its source."""

    def __init__(self, partial_dir: Path, remote: RemoteFile) -> None:
        key = hashlib.sha256(f"{remote.source}\n{remote.name}".encode()).hexdigest()[:40]
        self.path = partial_dir / f"{key}.part"
        self.meta_path = partial_dir / f"{key}.json"
        self.lock_path = partial_dir / f"{key}.lock"
        self.source = remote.source

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def validator(self) -> dict[str, Any]:
        try:
            meta = json.loads(self.meta_path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return meta if meta.get("source") == self.source else {}

    def remember(self, etag: str | None, last_modified: str | None, total: int | None) -> None:
        data = {"source": self.source, "etag": etag, "last_modified": last_modified, "total": total}
        atomic_write(self.meta_path, json.dumps(data))

    def discard(self) -> None:
        for path in (self.path, self.meta_path):
            path.unlink(missing_ok=True)


class _Hasher:
    """Running SHA-256 (for the manifest) and the published algorithm (for verification)."""

    def __init__(self, checksum: str | None) -> None:
        self.sha256 = hashlib.sha256()
        self.expected = parse_checksum(checksum) if checksum else None
        other = self.expected and self.expected[0] != "sha256"
        self.checked = hashlib.new(self.expected[0]) if other else self.sha256

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        if self.checked is not self.sha256:
            self.checked.update(chunk)


def download(
    remote: RemoteFile,
    partial_dir: str | os.PathLike[str],
    *,
    policy: RetryPolicy | None = None,
    progress: ProgressCallback | None = None,
    on_size: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    lock_timeout: float = 30.0,
    counted: int = 0,
) -> DownloadResult:
    """Stream ``remote`` into a verified file in ``partial_dir``.

    Parameters
    ----------
    remote : RemoteFile
        What to copy: an ``http(s)`` URL or a path on any fsspec filesystem.
    partial_dir : path-like
        Folder for partial files, on the file system of the final place. A
        partial file an interrupted run left there is resumed.
    policy : RetryPolicy, optional
        Retry and timeout settings.
    progress : callable, optional
        Called with the number of bytes the partial file grew by, so that the
        calls add up to the bytes on disk: bytes an earlier run left there
        count as soon as a transfer resumes them, and a restart that discards
        them reports a negative number. A progress bar whose total is the
        file's size ends at 100 %.
    on_size : callable, optional
        Called once with the file's size when the server announces it and
        ``remote.size`` was unknown (to grow a progress bar's total).
    cancel : threading.Event, optional
        When set (e.g. on Ctrl-C), the transfer stops within a fraction of a
        second, also while a server in the middle of a body sends nothing
        (its connection is shut down; one that has not begun its reply is
        left at the next byte or the read timeout), keeps its partial file
        for a later resume, and raises :class:`~awiml.errors.TransferError`.
    lock_timeout : float, optional
        Seconds to wait while another process downloads the same file.
    counted : int, optional
        Bytes of the partial file the caller has already counted in its
        progress (see :func:`partial_size`); ``progress`` then reports only
        the difference.

    Returns
    -------
    DownloadResult
        The verified partial file, for the caller to move into place.

    Raises
    ------
    NotFoundError
        The server answered 404 or 410, or the path does not exist.
    AuthenticationError
        The server answered 401 or 403.
    ChecksumMismatchError
        The published checksum did not match, also after one fresh download.
    ArchiveUnavailableError
        Transient errors persisted after all retries.
    TransferError
        The local disk is full, ``partial_dir`` cannot be created or written,
        the reply was unusable, or the transfer was cancelled.

    Examples
    --------
    >>> import tempfile, pathlib, fsspec
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = src.write_text("hello")
    >>> remote = RemoteFile(source=src.as_uri(), name="a.txt",
    ...                     fs=fsspec.filesystem("file"), path=str(src))
    >>> download(remote, tempfile.mkdtemp()).sha256[:15]
    'sha256:2cf24dba'
    """
    policy = policy or RetryPolicy()
    partial_dir = Path(partial_dir)
    try:
        partial_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _folder_error(exc, partial_dir, remote) from exc
    partial = _Partial(partial_dir, remote)

    def busy() -> TransferError:
        return TransferError(
            f"another process is fetching {remote.source} (lock file {partial.lock_path}); "
            "wait for it to finish, or delete the lock file if no such process runs"
        )

    def unwritable(exc: OSError) -> TransferError:
        if exc.errno in NO_SPACE:
            return TransferError(
                f"could not create the lock file {partial.lock_path} while fetching "
                f"{redact_url(remote.source)}: {exc.strerror or exc}. Free some space and "
                "fetch again; raw/ is unchanged."
            )
        return _folder_error(exc, partial_dir, remote)

    with soft_lock(partial.lock_path, lock_timeout, busy, unwritable):
        reported = remote.size is not None

        def size_once(nbytes: int) -> None:
            nonlocal reported
            if not reported and on_size is not None:
                on_size(nbytes)
            reported = True

        stop = cancel or threading.Event()
        seen = counted  # bytes of the partial file the caller's progress has counted

        def advance(nbytes: int) -> None:
            nonlocal seen
            if stop.is_set():
                raise _Cancelled
            if nbytes and progress is not None:
                progress(nbytes)
            seen += nbytes

        def on_disk(nbytes: int) -> None:
            """Report the partial file's growth to ``nbytes`` since the last report."""
            advance(nbytes - seen)

        try:
            return _download_locked(remote, partial, policy, advance, on_disk, size_once, stop)
        except _Cancelled:
            raise TransferError(
                f"fetching {redact_url(remote.source)} was interrupted; the "
                f"{human_size(partial.size())} received are kept and resumed when you fetch again"
            ) from None


def _download_locked(
    remote: RemoteFile,
    partial: _Partial,
    policy: RetryPolicy,
    progress: ProgressCallback,
    on_disk: ProgressCallback,
    on_size: ProgressCallback,
    stop: threading.Event,
) -> DownloadResult:
    session = (remote.session or http_session(retries=0)) if remote.url else None
    checksum_retried = resumed = False
    attempt = failures = resumes = 0
    while True:
        attempt += 1
        try:
            offset = partial.size()
            resumed = resumed or offset > 0
            hasher, total = _attempt(remote, partial, policy, progress, on_disk, session,
                                     on_size, stop)
            result = _verify(remote, partial, hasher, total, attempt, resumed)
            partial.meta_path.unlink(missing_ok=True)  # a complete file needs no validator
            return result
        except _Retry as retry:
            if stop.is_set():  # broken off by the cancel: keep the partial file as it is
                raise _Cancelled from None
            if retry.restart:
                partial.discard()
                on_disk(0)
            # An attempt that moved the file forward uses up a resume, not a retry.
            made_progress = partial.size() > offset and resumes < policy.max_resumes
            if made_progress:
                resumes += 1
            else:
                failures += 1
            if failures > policy.retries:
                raise ArchiveUnavailableError(
                    f"could not fetch {redact_url(remote.source)} after {attempt} attempts: "
                    f"{retry}. Nothing was written to raw/; the "
                    f"{human_size(partial.size())} received so far are kept and resumed when you "
                    "fetch again. Check the archive's status or your network, then retry."
                ) from None
            wait = retry.wait
            if wait is None:
                wait = policy.wait(0 if made_progress else failures - 1, jitter=True)
            if made_progress:
                logger.warning("fetching %s broke off (%s); resuming in %.1f s",
                               redact_url(remote.source), retry, wait)
            else:
                policy.log_retry(remote.source, str(retry), failures, wait, log=logger)
            if stop.wait(wait):
                raise _Cancelled from None
        except ChecksumMismatchError:
            partial.discard()
            on_disk(0)
            if checksum_retried:
                raise
            checksum_retried = True
            logger.warning("checksum mismatch for %s; downloading it once more",
                           redact_url(remote.source))
        except OSError as exc:
            if isinstance(exc, AwimlError):
                raise
            raise _local_error(exc, remote, partial) from exc


def _folder_error(exc: OSError, folder: Path, remote: RemoteFile) -> TransferError:
    """Say which download folder cannot be used, and what to do about it."""
    if exc.errno in NO_SPACE:
        advice = "Free some space (or quota)"
    else:
        advice = (f"Make {folder} and the folders above it writable for you (e.g. "
                  f"`chmod u+rwx {folder}`), or delete it if it is empty so that awiml makes "
                  "it again")
    return TransferError(
        f"could not use the download folder {folder} while fetching "
        f"{redact_url(remote.source)}: {exc.strerror or exc}. {advice}, then fetch again; "
        "raw/ and the partial files already there are unchanged."
    )


def _local_error(exc: OSError, remote: RemoteFile, partial: _Partial) -> TransferError:
    """Turn a local write error into an error that says what to do."""
    where = partial.path.parent
    if exc.errno in NO_SPACE:
        received = partial.size()
        partial.discard()
        free = shutil.disk_usage(where).free
        return TransferError(
            f"disk full while fetching {redact_url(remote.source)} into {where} "
            f"({human_size(received)} received, {human_size(free)} free); the partial file was "
            "removed and raw/ is unchanged. Free some space (or quota) and fetch again."
        )
    return TransferError(
        f"could not write {partial.path} while fetching {redact_url(remote.source)}: {exc}. "
        "Check that the workspace is writable; raw/ is unchanged."
    )


def _verify(
    remote: RemoteFile,
    partial: _Partial,
    hasher: _Hasher,
    total: int | None,
    attempts: int,
    resumed: bool,
) -> DownloadResult:
    size = partial.size()
    for expected, what in ((total, "the server announced"), (remote.size, "the archive lists")):
        if expected is not None and size != expected:
            raise _Retry(f"received {size} bytes but {what} {expected}", restart=size > expected)
    verified = None
    if hasher.expected is not None:
        algorithm, digest = hasher.expected
        actual = hasher.checked.hexdigest()
        if actual != digest:
            raise ChecksumMismatchError(
                f"{redact_url(remote.source)}: {algorithm} checksum is {actual} but the archive "
                f"publishes {digest}. The file was downloaded twice with the same result and "
                "nothing was written to raw/; report it to the archive, or fetch without the "
                "checksum if you trust the copy."
            )
        verified = f"{algorithm}:{digest}"
    return DownloadResult(
        path=partial.path,
        size=size,
        sha256=tagged(hasher.sha256),
        verified_checksum=verified,
        attempts=attempts,
        resumed=resumed,
    )


def _attempt(
    remote: RemoteFile,
    partial: _Partial,
    policy: RetryPolicy,
    progress: ProgressCallback,
    on_disk: ProgressCallback,
    session: requests.Session | None,
    on_size: ProgressCallback,
    stop: threading.Event,
) -> tuple[_Hasher, int | None]:
    """One try: open the source where the partial file ends and append the rest to it."""
    with (_http_body(remote, partial, policy, session, stop) if remote.url
          else _fsspec_body(remote, partial)) as (offset, total, read):
        needed = (total or 0) - offset  # fail before writing when the file cannot fit
        if needed > 0 and needed > (free := shutil.disk_usage(partial.path.parent).free):
            raise TransferError(
                f"not enough space to fetch {redact_url(remote.source)}: it needs "
                f"{human_size(needed)} but {partial.path.parent} has {human_size(free)} free. "
                "Free some space and fetch again; raw/ is unchanged."
            )
        if total is not None:
            on_size(total)
        on_disk(offset)  # bytes kept from earlier attempts or runs count (raises if cancelled)
        hasher = _Hasher(remote.checksum)
        if offset:  # the hasher sees the bytes already there first
            with open(partial.path, "rb") as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    hasher.update(chunk)
        with open(partial.path, "ab" if offset else "wb") as out:
            while chunk := read():
                out.write(chunk)
                hasher.update(chunk)
                progress(len(chunk))
    return hasher, total


@contextlib.contextmanager
def _http_body(
    remote: RemoteFile,
    partial: _Partial,
    policy: RetryPolicy,
    session: requests.Session | None,
    stop: threading.Event,
) -> Iterator[tuple[int, int | None, Callable[[], bytes]]]:
    """Request the rest of the file by HTTP Range; yield its offset, total size and reader."""
    assert remote.url is not None and session is not None
    offset = partial.size()
    validator = partial.validator()
    headers = {**remote.headers, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator.get("etag") or validator.get("last_modified"):
            headers["If-Range"] = validator.get("etag") or validator["last_modified"]
    source = redact_url(remote.source)
    try:
        response = session.get(remote.url, headers=headers, stream=True, timeout=policy.timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Retry(f"{type(exc).__name__} before the reply") from None
    except requests.RequestException as exc:
        raise TransferError(f"{source}: the request failed ({type(exc).__name__}); "
                            "check the URL.") from None
    with response, _shut_down_on(stop, response):
        if stop.is_set():
            raise _Cancelled
        status = response.status_code
        if policy.transient_status(status):
            try:
                wait = policy.retry_after(response.headers.get("Retry-After"),
                                          source=remote.source, status=status)
            except ArchiveUnavailableError as exc:
                raise ArchiveUnavailableError(f"{exc} Nothing was written to raw/.") from None
            raise _Retry(f"HTTP {status} {response.reason}", wait)
        if status in (401, 403):
            raise AuthenticationError(
                f"{source}: the server answered {status} {response.reason}. Give credentials "
                "(auth=(user, password), token=..., or an entry for the host in ~/.netrc) that "
                "may read this file."
            )
        if status in (404, 410):
            raise NotFoundError(
                f"{source}: the server answered {status} {response.reason}; check the URL or "
                "identifier."
            )
        start, total = _content_range(response.headers.get("Content-Range"))
        if status == 416 and offset:
            if total != offset:
                raise _Retry("the server refused to resume (416)", 0.0, restart=True)
            yield offset, total, lambda: b""  # complete already
            return
        if status not in (200, 206):
            raise TransferError(
                f"{source}: unexpected reply {status} {response.reason}; check the URL."
            )
        if status == 206 and start != offset:
            raise _Retry("the server resumed at the wrong offset", 0.0, restart=True)
        if status == 200:
            if offset:
                logger.info("%s: server sent the whole file; restarting from byte 0", source)
                partial.discard()
                offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        partial.remember(response.headers.get("ETag"), response.headers.get("Last-Modified"), total)
        decode = response.headers.get("Content-Encoding", "").lower() not in ("", "identity")

        def read() -> bytes:
            try:
                # read1 hands over what has arrived, so bytes received before a
                # dropped connection reach the partial file and are resumed.
                return response.raw.read1(CHUNK_SIZE, decode_content=decode)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                # A decoded (compressed) body cannot be resumed by byte offset.
                raise _Retry(
                    f"connection lost mid-transfer ({type(exc).__name__})", restart=decode
                ) from None

        yield offset, total, read


@contextlib.contextmanager
def _shut_down_on(stop: threading.Event, response: requests.Response) -> Iterator[None]:
    """Shut the reply's connection down as soon as ``stop`` is set, while the block runs.

    A read that waits for a stalled server then returns at once instead of
    after the read timeout, which stays as long as the policy says for
    servers that are only slow.
    """
    done = threading.Event()
    guard = threading.Lock()

    def watch() -> None:
        while not done.wait(_CANCEL_POLL):
            if stop.is_set():
                with guard:
                    if not done.is_set():
                        _shut_down(response)
                return

    threading.Thread(target=watch, name="awiml-transfer-cancel", daemon=True).start()
    try:
        yield
    finally:
        with guard:
            done.set()


def _shut_down(response: requests.Response) -> None:
    """Shut down the socket a streamed reply reads from (wakes a blocked read)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            # socket.socket's own shutdown, also for a TLS socket, so that the
            # read in the other thread sees the end of the stream.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


@contextlib.contextmanager
def _fsspec_body(
    remote: RemoteFile, partial: _Partial
) -> Iterator[tuple[int, int | None, Callable[[], bytes]]]:
    """Open the file on its fsspec filesystem and seek to where the partial file ends."""
    assert remote.fs is not None and remote.path is not None
    offset = partial.size()
    if offset and remote.size is not None and offset > remote.size:
        partial.discard()
        offset = 0
    try:
        with remote.fs.open(remote.path, "rb") as source:
            if offset:
                source.seek(offset)
            yield offset, remote.size, lambda: source.read(CHUNK_SIZE)
    except FileNotFoundError as exc:
        if exc.filename == str(partial.path):
            raise
        raise NotFoundError(f"{remote.source} does not exist; check the path.") from None
    except (ConnectionError, TimeoutError) as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """Return the first byte and the total size of a ``Content-Range`` (``None`` if unknown)."""
    match = re.fullmatch(r"\s*\w+\s+(?:(\d+)-\d+|\*)(?:/(\d+|\*))?\s*", value or "")
    start, total = match.groups() if match else (None, None)
    return (int(start) if start else None), (int(total) if total and total != "*" else None)
