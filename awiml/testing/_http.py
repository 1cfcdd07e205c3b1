"""The one HTTP layer of the loopback servers: ranges, validators and conditional requests.

Every body the servers in :mod:`awiml.testing` send (a static file of
:class:`~awiml.testing.FileServer`, a PANGAEA table or linked file, an EcoTaxa
image or export zip) goes through :func:`choose_part`, which decides, from the
request's ``Range``, ``If-Range``, ``If-None-Match`` and ``If-Modified-Since``
headers and the body's size and validators, what to answer: the whole body
(``200``), one range of it (``206``), nothing new (``304``) or an
unsatisfiable range (``416``). Route handlers use :func:`conditional_response`,
which applies that decision to a :class:`~awiml.testing.Response`.

The parsing and comparing is werkzeug's (:func:`werkzeug.http.parse_range_header`,
:func:`werkzeug.http.is_resource_modified`, :func:`werkzeug.http.http_date`);
this module only states the servers' policy on top of it:

* one range per request is honoured; a request for several ranges, or a
  malformed ``Range``, gets the whole body with ``200``;
* a suffix range longer than the body gives the whole body as ``206``
  (RFC 9110, section 14.1.2), a suffix of zero bytes (``bytes=-0``) is
  unsatisfiable (``416``; werkzeug reads it as malformed);
* ``If-Range`` with an entity tag or a date that does not match the body
  gives the whole body with ``200``;
* ``If-None-Match`` and ``If-Modified-Since`` give ``304`` for ``GET`` and
  ``HEAD`` when the body did not change.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from werkzeug.datastructures import ContentRange
from werkzeug.http import http_date, is_resource_modified, parse_range_header, quote_etag

if TYPE_CHECKING:
    from .server import RequestRecord, Response

__all__ = [
    "UNSATISFIABLE_TEXT",
    "BodyPart",
    "RefusedRequest",
    "choose_part",
    "conditional_response",
    "content_etag",
    "guess_content_type",
    "http_date",
    "int_query_param",
    "query_param",
]

UNSATISFIABLE_TEXT = "Range Not Satisfiable\n"
"""Body of every ``416`` reply."""

_ZERO_SUFFIX = re.compile(r"\s*bytes\s*=\s*-\s*0+\s*", re.IGNORECASE)


@dataclass(frozen=True)
class BodyPart:
    """What to send of a body: status, the byte span and the headers that go with it.

    Parameters
    ----------
    status : int
        ``200`` (the whole body), ``206`` (one range), ``304`` (not modified:
        no body) or ``416`` (unsatisfiable range: the caller sends
        :data:`UNSATISFIABLE_TEXT`).
    start : int
        Offset of the first byte to send.
    length : int
        Number of bytes to send (``0`` for ``304`` and ``416``).
    headers : tuple of (str, str)
        ``ETag``, ``Last-Modified``, ``Accept-Ranges`` and ``Content-Range``,
        as they apply, in that order.
    """

    status: int
    start: int
    length: int
    headers: tuple[tuple[str, str], ...]


def content_etag(data: bytes) -> str:
    """Return a strong entity tag for ``data`` (a quoted SHA-256 prefix).

    Parameters
    ----------
    data : bytes
        The body.

    Returns
    -------
    str
        The quoted tag, ready for an ``ETag`` header.

    Examples
    --------
    >>> content_etag(b"krill")
    '"0e6b69fbd1836bbd274587164bdbde02"'
    """
    return quote_etag(hashlib.sha256(data).hexdigest()[:32])


def guess_content_type(name: str) -> str:
    """Return the media type of a file name, ``application/octet-stream`` if unknown.

    Examples
    --------
    >>> guess_content_type("a.zip"), guess_content_type("a.unknown-kind")
    ('application/zip', 'application/octet-stream')
    """
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class RefusedRequest(Exception):
    """A request an emulator refuses; each emulator words the reply in its archive's format.

    Parameters
    ----------
    status : int
        Status code of the reply, for example ``400`` or ``422``.
    detail : str
        What is wrong with the request.
    headers : mapping of str to str, optional
        Extra headers of the reply (``WWW-Authenticate``...).
    """

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def query_param(request: RequestRecord, name: str) -> str | None:
    """Return the last value of query parameter ``name``, ``None`` if it was not sent."""
    values = request.query.get(name)
    return values[-1] if values else None


def int_query_param(
    request: RequestRecord, name: str, default: int | None, *, status: int
) -> int | None:
    """Return query parameter ``name`` as an integer >= 0, ``default`` if absent or blank.

    Raises
    ------
    RefusedRequest
        With ``status``, when the value is not a non-negative integer.
    """
    value = query_param(request, name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        detail = f"query parameter {name}={value!r} is not an integer"
        raise RefusedRequest(status, detail) from None
    if number < 0:
        raise RefusedRequest(status, f"query parameter {name} must be >= 0, got {number}")
    return number


def choose_part(
    request: RequestRecord,
    size: int,
    *,
    etag: str | None,
    last_modified: float | None,
    ranges: bool,
    honour_range: bool = True,
) -> BodyPart:
    """Decide what to send of a body of ``size`` bytes in answer to ``request``.

    Parameters
    ----------
    request : RequestRecord
        The request; its method and its ``Range``, ``If-Range``,
        ``If-None-Match`` and ``If-Modified-Since`` headers count.
    size : int
        Length of the whole body.
    etag : str or None
        The body's quoted entity tag, sent as ``ETag``.
    last_modified : float or None
        The body's modification time (seconds since the epoch), sent as
        ``Last-Modified``.
    ranges : bool
        Whether range requests are supported (announced with
        ``Accept-Ranges: bytes``).
    honour_range : bool, optional
        ``False`` answers the whole body even to a valid ``Range`` while still
        announcing range support (:meth:`~awiml.testing.Fault.ignore_range`).

    Returns
    -------
    BodyPart
        Status, span and headers.

    Examples
    --------
    >>> from awiml.testing import RequestRecord
    >>> asked = RequestRecord("GET", "/a", {}, {"range": "bytes=-4"})
    >>> part = choose_part(asked, 10, etag=None, last_modified=None, ranges=True)
    >>> part.status, part.start, part.length, dict(part.headers)["Content-Range"]
    (206, 6, 4, 'bytes 6-9/10')
    """
    headers: list[tuple[str, str]] = []
    if etag is not None:
        headers.append(("ETag", etag))
    if last_modified is not None:
        headers.append(("Last-Modified", http_date(last_modified)))
    if ranges:
        headers.append(("Accept-Ranges", "bytes"))
    whole = BodyPart(200, 0, size, tuple(headers))
    if request.method not in ("GET", "HEAD"):
        return whole
    changed_since = _whole_seconds_utc(last_modified)
    if not _changed_since_validators(request, etag, changed_since):
        return replace(whole, status=304, length=0)
    wanted = request.header("range")
    if not ranges or not honour_range or wanted is None:
        return whole
    if request.header("if-range") is not None and is_resource_modified(
        {"HTTP_RANGE": wanted, "HTTP_IF_RANGE": request.header("if-range")},
        etag,
        last_modified=changed_since,
        ignore_if_range=False,
    ):
        return whole
    parsed = parse_range_header(wanted)
    if parsed is None:
        if _ZERO_SUFFIX.fullmatch(wanted):
            return _unsatisfiable(size)
        return whole
    if parsed.units != "bytes" or len(parsed.ranges) != 1:
        return whole
    start, stop = parsed.ranges[0]
    if start < 0:  # a suffix: the last -start bytes, all of them if the body is shorter
        start = max(0, size + start)
    stop = size if stop is None else min(stop, size)
    if start >= size:
        return _unsatisfiable(size)
    content_range = ContentRange("bytes", start, stop, size).to_header()
    return BodyPart(206, start, stop - start, (*headers, ("Content-Range", content_range)))


def conditional_response(
    request: RequestRecord,
    reply: Response,
    *,
    etag: str | None = None,
    last_modified: float | None = None,
    ranges: bool = False,
) -> Response:
    """Apply :func:`choose_part` to the body of a route's reply.

    Parameters
    ----------
    request : RequestRecord
        The request the route answers.
    reply : Response
        The whole reply; its headers and content type are kept. Replies with
        another status than ``200`` are returned as they are.
    etag, last_modified, ranges
        As in :func:`choose_part`; by default no validators and no range support.

    Returns
    -------
    Response
        ``reply`` with the validator headers added, or its ``206``, ``304`` or
        ``416`` form.

    Examples
    --------
    >>> from awiml.testing import RequestRecord, Response
    >>> asked = RequestRecord("GET", "/a", {}, {"range": "bytes=1-2"})
    >>> part = conditional_response(asked, Response(body=b"krill"), ranges=True)
    >>> part.status, part.body, part.headers["Content-Range"]
    (206, b'ri', 'bytes 1-2/5')
    """
    if reply.status != 200:
        return reply
    body = reply.body_bytes()
    part = choose_part(request, len(body), etag=etag, last_modified=last_modified, ranges=ranges)
    if part.status == 416:
        return replace(
            reply,
            status=416,
            body=UNSATISFIABLE_TEXT,
            headers=dict(part.headers),
            content_type="text/plain; charset=utf-8",
        )
    return replace(
        reply,
        status=part.status,
        body=body[part.start : part.start + part.length],
        headers={**reply.headers, **dict(part.headers)},
    )


def _unsatisfiable(size: int) -> BodyPart:
    content_range = ContentRange("bytes", None, None, size).to_header()
    return BodyPart(416, 0, 0, (("Content-Range", content_range),))


def _whole_seconds_utc(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(int(stamp), timezone.utc)


def _changed_since_validators(
    request: RequestRecord, etag: str | None, last_modified: datetime | None
) -> bool:
    """Whether ``If-None-Match`` / ``If-Modified-Since`` let the body be sent."""
    environ: Mapping[str, str | None] = {
        "HTTP_IF_NONE_MATCH": request.header("if-none-match"),
        "HTTP_IF_MODIFIED_SINCE": request.header("if-modified-since"),
    }
    if not any(environ.values()):
        return True
    return is_resource_modified(dict(environ), etag, last_modified=last_modified)
