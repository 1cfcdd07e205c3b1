"""A real HTTP/1.1 file server on the loopback interface, with injectable faults.

:class:`FileServer` runs :class:`http.server.ThreadingHTTPServer` in a daemon
thread. It serves byte strings and files with real HTTP semantics
(``Content-Length``, ``ETag``, ``Last-Modified``, single ``Range`` requests,
conditional requests, keep-alive; ranges and conditions are decided in
:mod:`awiml.testing._http`), answers dynamic routes, checks HTTP Basic or
Bearer credentials, records every request, and misbehaves on demand through
:class:`Fault`.

Everything is logged to the ``awiml.testing`` logger at ``DEBUG`` level, never
to standard error, and no log message contains a password or token.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import hmac
import http.server
import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ._http import UNSATISFIABLE_TEXT, choose_part, content_etag, guess_content_type

__all__ = ["Fault", "FileServer", "RequestRecord", "Response"]

_log = logging.getLogger("awiml.testing")
_log.addHandler(logging.NullHandler())

_CHUNK = 1 << 20
"""Bytes written per call when a body is sent from memory."""

_JOIN_TIMEOUT = 5.0
"""Seconds :meth:`FileServer.stop` waits for the server's threads."""

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

FaultKind = Literal[
    "status", "drop_after", "slow", "stall", "wrong_length", "corrupt", "ignore_range"
]


# --------------------------------------------------------------------------- #
# Public value types
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of :class:`FileServer`, applied to one request.

    Build faults with the class methods (:meth:`status`,
    :meth:`too_many_requests`, :meth:`drop_after`, :meth:`slow`,
    :meth:`stall`, :meth:`wrong_length`, :meth:`corrupt`,
    :meth:`ignore_range`) and hand them to :meth:`FileServer.inject`. Each
    injected fault is used up by one request; ``times`` in
    :meth:`FileServer.inject` repeats it.

    Faults that alter the body (:meth:`drop_after`, :meth:`stall`,
    :meth:`wrong_length`, :meth:`corrupt`) act on the body of whatever the
    server answers, counted from the first byte of that body: the whole
    file, the requested range of a ``206`` reply, a route's body, or the
    text of a ``404``. For ``HEAD`` requests only their effect on the headers
    and on the connection remains.

    Parameters
    ----------
    kind : str
        Which misbehaviour; one of the class method names.
    code : int
        Status code of a ``"status"`` fault.
    body : bytes
        Body of a ``"status"`` fault.
    headers : tuple of (str, str)
        Extra headers of a ``"status"`` fault.
    nbytes : int
        Body bytes sent before a ``"drop_after"`` or ``"stall"`` fault acts.
    delay : float
        Seconds a ``"slow"`` or ``"stall"`` fault waits.
    delta : int
        Error added to ``Content-Length`` by a ``"wrong_length"`` fault.
    offset : int
        Body offset of the byte a ``"corrupt"`` fault flips.

    Examples
    --------
    >>> Fault.status(503).code
    503
    >>> dict(Fault.too_many_requests(retry_after=7).headers)
    {'Retry-After': '7'}
    """

    kind: FaultKind
    code: int = 0
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    nbytes: int = 0
    delay: float = 0.0
    delta: int = 0
    offset: int = 0

    @classmethod
    def status(
        cls,
        code: int,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with status ``code`` instead of the file or route.

        Parameters
        ----------
        code : int
            HTTP status code in 200..599, for example 500, 503 or 404.
        body : bytes or str, optional
            Body of the reply; a ``str`` is encoded as UTF-8. Empty by default.
            Replies with status 204 or 304 never carry a body.
        headers : mapping of str to str, optional
            Extra headers of the reply.

        Returns
        -------
        Fault

        Examples
        --------
        >>> Fault.status(500, "boom").body
        b'boom'
        """
        if not 200 <= int(code) <= 599:
            raise ValueError(f"HTTP status code must lie in 200..599, got {code!r}")
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        pairs = tuple((str(k), str(v)) for k, v in (headers or {}).items())
        return cls(kind="status", code=int(code), body=data, headers=pairs)

    @classmethod
    def too_many_requests(cls, retry_after: int | str = 1) -> Fault:
        """Answer ``429 Too Many Requests`` with a ``Retry-After`` header.

        Parameters
        ----------
        retry_after : int or str, optional
            Seconds the client should wait (an ``int``), or an HTTP date
            (a ``str``, for example from :func:`email.utils.formatdate` with
            ``usegmt=True``), sent as given.

        Returns
        -------
        Fault

        Examples
        --------
        >>> Fault.too_many_requests(2).code
        429
        """
        if isinstance(retry_after, bool) or not isinstance(retry_after, (int, str)):
            raise TypeError("retry_after must be an int (seconds) or a str (an HTTP date)")
        if isinstance(retry_after, int) and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {retry_after}")
        return cls.status(429, "Too Many Requests\n", {"Retry-After": str(retry_after)})

    @classmethod
    def drop_after(cls, nbytes: int) -> Fault:
        """Send the headers and ``nbytes`` of the body, then close the connection.

        The headers announce the full length (or the ``206`` range), so the
        client sees an incomplete read or a reset connection.

        Parameters
        ----------
        nbytes : int
            Body bytes sent before the connection is closed; ``0`` closes
            right after the headers.

        Returns
        -------
        Fault
        """
        return cls(kind="drop_after", nbytes=_non_negative("nbytes", nbytes))

    @classmethod
    def slow(cls, delay: float) -> Fault:
        """Wait ``delay`` seconds before sending the headers, then serve normally.

        Use it to make a client's connect/read timeout fire before the reply
        starts. :meth:`FileServer.stop` cuts the wait short.

        Parameters
        ----------
        delay : float
            Seconds to wait.

        Returns
        -------
        Fault
        """
        return cls(kind="slow", delay=float(_non_negative("delay", delay)))

    @classmethod
    def stall(cls, after_bytes: int, delay: float) -> Fault:
        """Send ``after_bytes`` of the body, wait ``delay`` seconds, then send the rest.

        Use it to make a client's read timeout fire in the middle of a body.
        :meth:`FileServer.stop` cuts the wait short.

        Parameters
        ----------
        after_bytes : int
            Body bytes sent before the pause.
        delay : float
            Seconds to pause.

        Returns
        -------
        Fault
        """
        return cls(
            kind="stall",
            nbytes=_non_negative("after_bytes", after_bytes),
            delay=float(_non_negative("delay", delay)),
        )

    @classmethod
    def wrong_length(cls, delta: int) -> Fault:
        """Announce ``Content-Length`` as the true length plus ``delta``.

        With ``delta > 0`` the true body is sent and the connection closed,
        so the client sees a short read. With ``delta < 0`` only the
        announced number of bytes is sent before the connection is closed,
        so the client sees a complete but silently truncated body.

        Parameters
        ----------
        delta : int
            Bytes added to the announced length; must not be zero.

        Returns
        -------
        Fault
        """
        if int(delta) == 0:
            raise ValueError("wrong_length needs a non-zero delta")
        return cls(kind="wrong_length", delta=int(delta))

    @classmethod
    def corrupt(cls, offset: int = 0) -> Fault:
        """Serve the body with the byte at ``offset`` flipped; the length stays right.

        Parameters
        ----------
        offset : int, optional
            Offset in the body that is sent (for a ``206`` reply: in the
            range). Past the end of the body, the last byte is flipped; an
            empty body stays empty.

        Returns
        -------
        Fault
        """
        return cls(kind="corrupt", offset=_non_negative("offset", offset))

    @classmethod
    def ignore_range(cls) -> Fault:
        """Answer ``200`` with the full body even when ``Range`` was sent.

        The reply still carries ``Accept-Ranges: bytes`` if range support is
        on: this is a server that claims range support but ignores it.

        Returns
        -------
        Fault
        """
        return cls(kind="ignore_range")


@dataclass
class Response:
    """What a dynamic route handler (see :meth:`FileServer.route`) returns.

    Parameters
    ----------
    status : int, optional
        HTTP status code.
    body : bytes or str, optional
        Body of the reply; a ``str`` is encoded as UTF-8.
    headers : dict of str to str, optional
        Extra headers. A ``Content-Type`` here overrides ``content_type``;
        ``Content-Length`` is always computed by the server.
    content_type : str, optional
        Value of the ``Content-Type`` header.

    Examples
    --------
    >>> Response(body="ok", content_type="text/plain").status
    200
    >>> Response.json({"a": 1}).body
    '{"a": 1}'
    """

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"

    @classmethod
    def json(
        cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """Build a JSON reply.

        Parameters
        ----------
        obj : object
            Anything :func:`json.dumps` accepts.
        status : int, optional
            HTTP status code.
        headers : mapping of str to str, optional
            Extra headers.

        Returns
        -------
        Response
            A reply with ``Content-Type: application/json``.
        """
        return cls(
            status=status,
            body=json.dumps(obj),
            headers=dict(headers or {}),
            content_type="application/json",
        )

    def body_bytes(self) -> bytes:
        """Return the body as bytes (a ``str`` body encoded as UTF-8).

        Returns
        -------
        bytes
            The encoded body.
        """
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return bytes(self.body)


@dataclass(frozen=True, repr=False)
class RequestRecord:
    """One request as :class:`FileServer` received it.

    Records are listed in :attr:`FileServer.requests` and passed to route
    handlers (there with ``status=0``, since no answer exists yet).

    Parameters
    ----------
    method : str
        Request method, for example ``"GET"``.
    path : str
        Percent-decoded path with its leading ``/``, without the query string.
    query : dict of str to list of str
        Parsed query string (blank values kept).
    headers : dict of str to str
        Request headers with **lower-cased** names (look up
        ``headers["range"]``, or use :meth:`header`, which ignores case).
        Repeated headers are joined with ``", "``.
    body : bytes
        Request body (``Content-Length`` or chunked), empty if none.
    status : int, optional
        Status code the server answered with; it is chosen before any byte
        is sent, so it is also set for replies a fault then cut short.

    Notes
    -----
    The ``repr`` hides the values of ``Authorization``, ``Proxy-Authorization``
    and ``Cookie`` headers; the ``headers`` mapping itself keeps them so tests
    can check what a client sent.
    """

    method: str
    path: str
    query: dict[str, list[str]] = field(hash=False)
    headers: dict[str, str] = field(hash=False)
    body: bytes = b""
    status: int = 0

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return the value of header ``name``, ignoring case.

        Parameters
        ----------
        name : str
            Header name, in any case.
        default : str or None, optional
            Returned when the header was not sent.

        Returns
        -------
        str or None
            The header value, or ``default``.
        """
        return self.headers.get(name.lower(), default)

    def __repr__(self) -> str:
        shown = {k: ("***" if k in _SECRET_HEADERS else v) for k, v in self.headers.items()}
        return (
            f"RequestRecord(method={self.method!r}, path={self.path!r}, "
            f"query={self.query!r}, headers={shown!r}, body={self.body[:64]!r}"
            f"{'...' if len(self.body) > 64 else ''}, status={self.status!r})"
        )


Handler = Callable[[RequestRecord], Response]
"""Signature of a dynamic route handler."""


def _non_negative(name: str, value: float) -> Any:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


# --------------------------------------------------------------------------- #
# Internal bookkeeping
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _StaticFile:
    """A file registered with :meth:`FileServer.add`."""

    data: bytes | None
    path: Path | None
    range_support: bool | None
    content_type: str | None
    etag: str
    mtime: float


@dataclass
class _PendingFault:
    pattern: str
    fault: Any  # a Fault here; the SSH emulator keeps its own kind of fault
    remaining: int | None


def _take_pending(pending: list[_PendingFault],
                  matches: Callable[[_PendingFault], bool]) -> Any | None:
    """Use up one application of the first of ``pending`` that ``matches``; return its fault.

    A fault injected with ``times=None`` is never used up; the others leave
    the list when their count reaches zero. The caller holds its lock.
    """
    for index, injection in enumerate(pending):
        if matches(injection):
            if injection.remaining is not None:
                injection.remaining -= 1
                if injection.remaining <= 0:
                    del pending[index]
            return injection.fault
    return None


@dataclass
class _PendingReply:
    """A reply the handler has decided on but not yet sent."""

    status: int
    headers: list[tuple[str, str]]
    source: bytes | BinaryIO = b""
    start: int = 0
    length: int = 0

    def close(self) -> None:
        if not isinstance(self.source, bytes):
            self.source.close()


class _LoopbackServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default of 5 drops connects from parallel clients
    owner: FileServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply is normal in fault tests: stay quiet.
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _LoopbackServer6(_LoopbackServer):
    address_family = socket.AF_INET6


def _split_target(target: str) -> tuple[str, str]:
    """Split a request target into its (still quoted) path and query string."""
    if not target.startswith("/"):  # absolute form, as sent to proxies
        parts = urlsplit(target)
        return parts.path, parts.query
    path, _, query = target.partition("#")[0].partition("?")
    return path, query


# --------------------------------------------------------------------------- #
# The request handler
# --------------------------------------------------------------------------- #


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awiml-test"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60
    server: _LoopbackServer

    # -- logging: to the logging module, without query strings ------------- #

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = _split_target(getattr(self, "path", ""))[0]
        _log.debug("%s %s -> %s", getattr(self, "command", "-"), path, code)

    # -- connection bookkeeping, so stop() can end keep-alive connections -- #

    def setup(self) -> None:
        super().setup()
        self.server.owner._register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._unregister(self.connection)

    # -- methods ------------------------------------------------------------ #

    def _dispatch(self) -> None:
        self._serve()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    # -- the work ----------------------------------------------------------- #

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _request_record(self, body: bytes) -> RequestRecord:
        path, query = _split_target(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return RequestRecord(
            method=self.command,
            path=unquote(path or "/"),
            query=parse_qs(query, keep_blank_values=True),
            headers=headers,
            body=body,
        )

    def _serve(self) -> None:
        owner = self.server.owner
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_error(400, "Malformed request body")
            return
        record = self._request_record(body)
        head = self.command == "HEAD"
        fault: Fault | None = None
        challenge = owner._challenge(record.headers.get("authorization"))
        if challenge is not None:
            plan = self._text_reply(401, "Unauthorized\n", [("WWW-Authenticate", challenge)])
        else:
            fault = owner._fault_for(record)
            try:
                plan = self._choose_reply(owner, record, fault)
            except Exception:
                _log.exception("route handler for %s %s raised", record.method, record.path)
                plan = self._text_reply(500, "Route handler raised an exception\n")
        owner._append(dataclasses.replace(record, status=plan.status))
        try:
            self._send(plan, fault, head, owner._stop_event)
        except OSError:
            # The client hung up (e.g. after its own timeout) or stop() ended us.
            _log.debug("sending %s failed", record.path, exc_info=True)
            self.close_connection = True
        finally:
            plan.close()

    def _text_reply(
        self, status: int, text: str, headers: list[tuple[str, str]] | None = None
    ) -> _PendingReply:
        data = text.encode("utf-8")
        return _PendingReply(
            status,
            [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])],
            data,
            0,
            len(data),
        )

    def _choose_reply(
        self, owner: FileServer, record: RequestRecord, fault: Fault | None
    ) -> _PendingReply:
        if fault is not None and fault.kind == "status":
            headers = list(fault.headers)
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers.insert(0, ("Content-Type", "text/plain; charset=utf-8"))
            return _PendingReply(fault.code, headers, fault.body, 0, len(fault.body))

        handler, allowed = owner._find_route(record.method, record.path)
        if handler is not None:
            reply = handler(record)
            data = reply.body_bytes()
            headers = [("Content-Type", reply.content_type)]
            if any(k.lower() == "content-type" for k in reply.headers):
                headers = []
            headers += [(k, v) for k, v in reply.headers.items() if k.lower() != "content-length"]
            return _PendingReply(int(reply.status), headers, data, 0, len(data))
        if allowed:
            return self._text_reply(
                405, "Method Not Allowed\n", [("Allow", ", ".join(sorted(allowed)))]
            )

        name = record.path.lstrip("/")
        found = owner._find_static_file(name)
        if found is None:
            return self._text_reply(404, f"Not Found: {record.path}\n")
        if record.method not in ("GET", "HEAD"):
            if not isinstance(found[0], bytes):
                found[0].close()
            return self._text_reply(405, "Method Not Allowed\n", [("Allow", "GET, HEAD")])
        source, size, etag, mtime, content_type, ranges = found
        part = choose_part(
            record,
            size,
            etag=etag,
            last_modified=mtime,
            ranges=ranges,
            honour_range=fault is None or fault.kind != "ignore_range",
        )
        headers = [("Content-Type", content_type), *part.headers]
        plan = _PendingReply(part.status, headers, source, part.start, part.length)
        if part.status == 416:
            plan.close()
            return self._text_reply(416, UNSATISFIABLE_TEXT, list(part.headers))
        return plan

    def _send(
        self, plan: _PendingReply, fault: Fault | None, head: bool, stop: threading.Event
    ) -> None:
        kind = fault.kind if fault is not None else None
        if kind == "slow":
            stop.wait(fault.delay)  # type: ignore[union-attr]
        announced = plan.length
        if kind == "wrong_length":
            announced = max(0, plan.length + fault.delta)  # type: ignore[union-attr]
        if plan.status in (204, 304):  # these replies have no body by definition
            plan.length = announced = 0
            head = True
        self.send_response(plan.status)
        for name, value in plan.headers:
            self.send_header(name, value)
        if plan.status != 204:
            self.send_header("Content-Length", str(announced))
        self.end_headers()

        closes = kind in ("drop_after", "wrong_length")
        if not head:
            self._send_body(plan, fault, stop)
        if closes:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _send_body(self, plan: _PendingReply, fault: Fault | None, stop: threading.Event) -> None:
        n = plan.length
        kind = fault.kind if fault is not None else None
        if kind == "drop_after":
            self._write_span(plan, 0, min(fault.nbytes, n))  # type: ignore[union-attr]
        elif kind == "wrong_length":
            delta = fault.delta  # type: ignore[union-attr]
            self._write_span(plan, 0, n if delta > 0 else max(0, n + delta))
        elif kind == "stall":
            cut = min(fault.nbytes, n)  # type: ignore[union-attr]
            self._write_span(plan, 0, cut)
            stop.wait(fault.delay)  # type: ignore[union-attr]
            self._write_span(plan, cut, n)
        elif kind == "corrupt" and n > 0:
            at = min(fault.offset, n - 1)  # type: ignore[union-attr]
            self._write_span(plan, 0, at)
            self.wfile.write(bytes([self._byte_at(plan, at) ^ 0xFF]))
            self._write_span(plan, at + 1, n)
        else:
            self._write_span(plan, 0, n)

    def _write_span(self, plan: _PendingReply, begin: int, end: int) -> None:
        """Send body bytes ``[begin, end)``, counted from the start of the reply body."""
        if end <= begin:
            return
        first, last = plan.start + begin, plan.start + end
        source = plan.source
        if isinstance(source, bytes):
            view = memoryview(source)
            for pos in range(first, last, _CHUNK):
                self.wfile.write(view[pos : min(pos + _CHUNK, last)])
        else:
            self.connection.sendfile(source, first, last - first)

    @staticmethod
    def _byte_at(plan: _PendingReply, pos: int) -> int:
        source = plan.source
        if isinstance(source, bytes):
            return source[plan.start + pos]
        return os.pread(source.fileno(), 1, plan.start + pos)[0]


# --------------------------------------------------------------------------- #
# The server
# --------------------------------------------------------------------------- #


class FileServer:
    r"""A real HTTP/1.1 server on the loopback interface for offline tests.

    It serves byte strings and files added with :meth:`add`, every file
    below ``root``, and dynamic routes added with :meth:`route`; it records
    each request (:attr:`requests`, :meth:`hits`) and misbehaves on demand
    (:meth:`inject` with a :class:`Fault`). Use it as a context manager, or
    call :meth:`start` and :meth:`stop`.

    Static files are answered to ``GET`` and ``HEAD`` with
    ``Content-Length``, ``Content-Type`` (guessed from the name),
    ``ETag``, ``Last-Modified`` and, while range support is on,
    ``Accept-Ranges: bytes``. One range per request is honoured
    (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) with ``206`` and
    ``Content-Range``, or ``416`` when unsatisfiable; a request for several
    ranges gets the full body with ``200``, and so does an ``If-Range``
    that matches neither the ``ETag`` nor the ``Last-Modified`` date;
    ``If-None-Match`` and ``If-Modified-Since`` get ``304`` when the file
    did not change.
    Unknown paths get ``404``, other methods on static files ``405``.
    Files given as paths are streamed with ``sendfile``, so large files are
    served at loopback speed.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Directory whose files are served under their relative paths. It is
        looked up at request time, so files created later are served too.
        Entries from :meth:`add` win over files below ``root``.
    range_support : bool, optional
        Whether ``Range`` requests are honoured. Can be changed while the
        server runs through the attribute of the same name; :meth:`add`
        can override it per file.
    auth : tuple of (str, str) or str, optional
        ``(user, password)`` for HTTP Basic, or a token for
        ``Authorization: Bearer <token>``. Requests without the right
        credentials get ``401`` with a ``WWW-Authenticate`` header and use up
        no fault. The credentials never appear in logs or error messages.
    host : str, optional
        Address to listen on. Keep the loopback default; ``"::1"`` works too.
    port : int, optional
        Port to listen on; ``0`` picks a free one.

    Attributes
    ----------
    root : pathlib.Path or None
        The served directory; may be changed while the server runs.
    range_support : bool
        Whether ``Range`` requests are honoured; may be changed while the
        server runs.
    host, port : str, int
        Where :meth:`start` listens; :attr:`base_url` tells the actual port.

    Examples
    --------
    >>> import urllib.request
    >>> from awiml.testing import Fault, FileServer
    >>> with FileServer() as server:
    ...     server.add("data/a.tab", b"depth,temp\n")
    ...     server.inject("data/a.tab", Fault.status(503))
    ...     try:
    ...         urllib.request.urlopen(server.url("data/a.tab"), timeout=5)
    ...     except OSError as error:
    ...         print(error)
    ...     with urllib.request.urlopen(server.url("data/a.tab"), timeout=5) as reply:
    ...         print(reply.read())
    ...     print(server.hits("data/a.tab"))
    HTTP Error 503: Service Unavailable
    b'depth,temp\n'
    2
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        range_support: bool = True,
        auth: tuple[str, str] | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.root = Path(root) if root is not None else None
        self.range_support = range_support
        self.host = host
        self.port = port
        self._auth_header: tuple[str, str] | None = None
        self.auth = auth
        self._lock = threading.Lock()  # guards content, faults, log and connections
        self._life_lock = threading.Lock()  # serialises start() and stop()
        self._entries: dict[str, _StaticFile] = {}
        self._routes: dict[tuple[str, str], Handler] = {}
        self._faults: list[_PendingFault] = []
        self._records: list[RequestRecord] = []
        self._httpd: _LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._connections: dict[socket.socket, threading.Thread] = {}

    # -- life cycle --------------------------------------------------------- #

    def start(self) -> FileServer:
        """Start listening and serving in a daemon thread.

        Calling it on a running server does nothing. After :meth:`stop` it
        starts again (with a new port when ``port`` is ``0``).

        Returns
        -------
        FileServer
            This server, so ``server = FileServer().start()`` works.
        """
        with self._life_lock:
            if self._httpd is not None:
                return self
            with self._lock:
                self._stop_event = threading.Event()
            server_class = _LoopbackServer6 if ":" in self.host else _LoopbackServer
            httpd = server_class((self.host, self.port), _RequestHandler)
            httpd.owner = self
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"awiml-FileServer-{httpd.server_address[1]}",
                daemon=True,
            )
            with self._lock:
                self._httpd, self._thread = httpd, thread
            thread.start()
        _log.debug("FileServer listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, close all connections and join the server's threads.

        Waits that :meth:`Fault.slow` and :meth:`Fault.stall` started are cut
        short. Calling it again, or on a server never started, does nothing.
        """
        with self._life_lock, self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            if httpd is None:
                return
            self._stop_event.set()
            connections = dict(self._connections)
        httpd.shutdown()
        httpd.server_close()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + _JOIN_TIMEOUT
        for worker in [thread, *connections.values()]:
            if worker is not None and worker is not threading.current_thread():
                worker.join(max(0.0, deadline - time.monotonic()))
        _log.debug("FileServer on port %s stopped", httpd.server_address[1])

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        """URL of the server without a trailing slash, e.g. ``http://127.0.0.1:41234``.

        Raises
        ------
        RuntimeError
            If the server is not running.
        """
        httpd = self._httpd
        if httpd is None:
            raise RuntimeError("FileServer is not running; call start() or use it in a with block")
        host, port = httpd.server_address[:2]
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        """Return the URL of ``path`` on this server, percent-quoted.

        Parameters
        ----------
        path : str
            Path as given to :meth:`add`, with or without leading ``/``.

        Returns
        -------
        str
            Absolute URL.

        Examples
        --------
        >>> with FileServer() as server:
        ...     server.url("a b/c.tab").endswith("/a%20b/c.tab")
        True
        """
        return f"{self.base_url}/{quote(path.lstrip('/'), safe='/')}"

    # -- content -------------------------------------------------------------- #

    def add(
        self,
        path: str,
        data: bytes | bytearray | memoryview | os.PathLike[str],
        *,
        range_support: bool | None = None,
        content_type: str | None = None,
    ) -> None:
        """Serve ``data`` at ``/path``.

        A file is streamed from disk at every request, never read into memory
        at once, so changes to it are served.

        Parameters
        ----------
        path : str
            Path on the server, with or without leading ``/``, unquoted
            (``"a b.tab"`` is served at ``/a%20b.tab``).
        data : bytes or os.PathLike
            The content, or a file.
        range_support : bool, optional
            Override the server's :attr:`range_support` for this file.
        content_type : str, optional
            ``Content-Type`` to send; guessed from ``path`` by default.

        Raises
        ------
        FileNotFoundError
            If ``data`` is a path that is not a file.
        TypeError
            If ``data`` is a ``str`` (encode it, or wrap a path in
            :class:`pathlib.Path`).
        """
        name = path.lstrip("/")
        if not name:
            raise ValueError("path must name a file, not the server root")
        if isinstance(data, (bytes, bytearray, memoryview)):
            content = bytes(data)
            etag = content_etag(content)
            entry = _StaticFile(content, None, range_support, content_type, etag, time.time())
        elif isinstance(data, os.PathLike):
            file = Path(data)
            if not file.is_file():
                raise FileNotFoundError(f"FileServer.add: {file} is not a file")
            entry = _StaticFile(None, file, range_support, content_type, "", 0.0)
        else:
            raise TypeError(
                "data must be bytes or a path (pathlib.Path); encode text with .encode()"
            )
        with self._lock:
            self._entries[name] = entry

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method`` requests to ``path`` by calling ``handler``.

        The path matches exactly, without the query string; the handler reads
        the query and body from the :class:`RequestRecord` it gets and returns
        a :class:`Response`. Routes win over static files, faults and
        authentication apply to them, and a ``HEAD`` request uses the ``GET``
        handler (without the body) if no ``HEAD`` route exists. A handler that
        raises produces a ``500`` reply and an ``ERROR`` log record.

        Parameters
        ----------
        method : str
            HTTP method, for example ``"GET"`` or ``"POST"``.
        path : str
            Decoded path, for example ``"/api/search"``.
        handler : callable
            ``handler(request: RequestRecord) -> Response``; called from the
            server's threads.

        Examples
        --------
        >>> import json, urllib.request
        >>> with FileServer() as server:
        ...     server.route("GET", "/api/echo", lambda r: Response.json(r.query))
        ...     url = server.url("api/echo") + "?q=krill"
        ...     with urllib.request.urlopen(url, timeout=5) as reply:
        ...         json.load(reply)
        {'q': ['krill']}
        """
        key = (method.upper(), "/" + path.lstrip("/"))
        with self._lock:
            self._routes[key] = handler

    # -- faults ---------------------------------------------------------------- #

    def inject(self, pattern: str, fault: Fault, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests whose path matches ``pattern``.

        Parameters
        ----------
        pattern : str
            Path, or a :func:`fnmatch.fnmatchcase` pattern, matched against
            the decoded request path without its leading ``/`` (``*`` also
            matches ``/``).
        fault : Fault
            What to do.
        times : int or None, optional
            How many requests the fault applies to; ``None`` means every
            request until :meth:`clear_faults`.

        Notes
        -----
        When several pending faults match a request, the one injected first
        is used; a fault with ``times=None`` therefore hides later faults for
        the same paths. Requests refused for missing credentials use up no
        fault.
        """
        if not isinstance(fault, Fault):
            raise TypeError("fault must be a Fault; build one with Fault.status(...) etc.")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times!r}")
        with self._lock:
            self._faults.append(_PendingFault(pattern.lstrip("/"), fault, times))

    def clear_faults(self) -> None:
        """Forget every fault not yet used up."""
        with self._lock:
            self._faults.clear()

    # -- what happened --------------------------------------------------------- #

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._records)

    def hits(self, path: str) -> int:
        """Count the requests (of any method) to ``path``.

        Parameters
        ----------
        path : str
            Decoded path, with or without leading ``/``, without query string.

        Returns
        -------
        int
            Number of requests, including those answered with an error.
        """
        wanted = "/" + path.lstrip("/")
        with self._lock:
            return sum(1 for record in self._records if record.path == wanted)

    def clear_requests(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._records.clear()

    # -- authentication ------------------------------------------------------- #

    @property
    def auth(self) -> tuple[str, str] | str | None:
        """Credentials the server demands (see the class docstring); settable."""
        return self._auth

    @auth.setter
    def auth(self, value: tuple[str, str] | str | None) -> None:
        if value is None:
            expected = None
        elif isinstance(value, str):
            expected = ("Bearer", f"Bearer {value}")
        elif (
            isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)
        ):
            token = base64.b64encode(f"{value[0]}:{value[1]}".encode()).decode("ascii")
            expected = ('Basic realm="awiml-test", charset="UTF-8"', f"Basic {token}")
        else:
            raise TypeError("auth must be None, a (user, password) tuple of str, or a token str")
        self._auth = value
        self._auth_header = expected

    def __repr__(self) -> str:
        state = self.base_url if self._httpd is not None else "stopped"
        return f"<FileServer {state}>"

    # -- called from the handler threads --------------------------------------- #

    def _challenge(self, authorization: str | None) -> str | None:
        """Return the ``WWW-Authenticate`` value if the credentials are wrong."""
        expected = self._auth_header
        if expected is None:
            return None
        challenge, wanted = expected
        given = (authorization or "").strip()
        scheme, _, credentials = given.partition(" ")
        given = f"{scheme.capitalize()} {credentials.strip()}"
        if wanted.startswith("Basic "):
            try:  # normalise the base64 so padding differences do not matter
                given = "Basic " + base64.b64encode(
                    base64.b64decode(credentials.strip(), validate=True)
                ).decode("ascii")
            except (binascii.Error, ValueError):
                return challenge
        if hmac.compare_digest(given.encode(), wanted.encode()):
            return None
        return challenge

    def _fault_for(self, record: RequestRecord) -> Fault | None:
        """Return the fault for this request, if any (emulators add faults of their own)."""
        return self._take_fault(record.path.lstrip("/"))

    def _take_fault(self, name: str) -> Fault | None:
        with self._lock:
            return _take_pending(self._faults, lambda injection: injection.pattern == name
                                 or fnmatch.fnmatchcase(name, injection.pattern))

    def _find_route(self, method: str, path: str) -> tuple[Handler | None, set[str]]:
        with self._lock:
            handler = self._routes.get((method, path))
            if handler is None and method == "HEAD":
                handler = self._routes.get(("GET", path))
            allowed = {m for m, p in self._routes if p == path}
        if "GET" in allowed:
            allowed.add("HEAD")
        return handler, allowed

    def _find_static_file(
        self, name: str
    ) -> tuple[bytes | BinaryIO, int, str, float, str, bool] | None:
        """Find a static file: (source, size, etag, mtime, content type, ranges)."""
        with self._lock:
            entry = self._entries.get(name)
        if entry is not None:
            ranges = self.range_support if entry.range_support is None else entry.range_support
            content_type = entry.content_type or guess_content_type(name)
            if entry.data is not None:
                return entry.data, len(entry.data), entry.etag, entry.mtime, content_type, ranges
            assert entry.path is not None
            opened = _open_regular_file(entry.path)
            if opened is None:
                return None
            return (*opened, content_type, ranges)
        if self.root is None:
            return None
        parts = name.split("/")
        if any(part in ("", ".", "..") or "\x00" in part for part in parts):
            return None
        root = self.root.resolve()
        candidate = (root / name).resolve()
        if not candidate.is_relative_to(root):
            return None
        opened = _open_regular_file(candidate)
        if opened is None:
            return None
        return (*opened, guess_content_type(name), self.range_support)

    def _append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            stopping = self._stop_event.is_set()
            if not stopping:
                self._connections[conn] = threading.current_thread()
        if stopping:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.pop(conn, None)


def _open_regular_file(path: Path) -> tuple[BinaryIO, int, str, float] | None:
    """Open a regular file for serving: (file, size, etag, mtime), or None."""
    if not path.is_file():  # checked first: opening a FIFO would block
        return None
    try:
        file = open(path, "rb")  # closed by _PendingReply.close
    except OSError:
        return None
    info = os.fstat(file.fileno())
    if not stat.S_ISREG(info.st_mode):
        file.close()
        return None
    etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
    return file, info.st_size, etag, info.st_mtime


_Emulator = TypeVar("_Emulator", bound="ArchiveEmulator")


class ArchiveEmulator(FileServer):
    """Base of the archive emulators: a :class:`FileServer` that remembers its address.

    Unlike :attr:`FileServer.base_url`, :attr:`base_url` keeps naming the last
    address after :meth:`~FileServer.stop`, where connections are now refused:
    a client configured with it sees the archive unreachable, which is what
    tests of outages need.

    Parameters
    ----------
    **kwargs
        Passed to :class:`FileServer`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last_url: str | None = None

    def __enter__(self: _Emulator) -> _Emulator:
        return self.start()

    def start(self: _Emulator) -> _Emulator:
        """Start listening; see :meth:`FileServer.start`.

        Returns
        -------
        ArchiveEmulator
            This server.
        """
        super().start()
        self._last_url = FileServer.base_url.fget(self)  # type: ignore[attr-defined]
        return self

    @property
    def base_url(self) -> str:
        """URL of the server without a trailing slash, e.g. ``http://127.0.0.1:41234``.

        It keeps naming the last address after :meth:`~FileServer.stop`.

        Raises
        ------
        RuntimeError
            If the server was never started.
        """
        if self.running:
            return super().base_url
        if self._last_url is None:
            raise RuntimeError(f"{type(self).__name__} was never started; call start() or use "
                               "a with block")
        return self._last_url
