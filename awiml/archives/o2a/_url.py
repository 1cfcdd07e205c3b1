"""``o2a://`` URLs: a reproducible extract of the O2A data web service, written as a URL.

An extract URL names everything that decides the bytes the service sends::

    o2a://<code>[,<code>...]?start=<time>&end=<time>[&aggregate=<step>]
        [&functions=<f>[,<f>...]][&flags=true|false]

- codes: sensor codes, comma-separated (``vessel:polarstern:tsg:temperature``);
- ``start``, ``end``: both included, UTC, ``YYYY-MM-DDTHH:MM:SS`` (a date alone
  means its midnight, a time with a zone is converted to UTC); required;
- ``aggregate``: ``second``, ``minute``, ``hour`` (default) or ``day``;
- ``functions``: ``mean`` (default), ``min``, ``max``, ``median``, ``std``,
  ``count``, comma-separated;
- ``flags``: ``true`` to ask for the quality flag of every value (default ``false``).

Parts may be percent-encoded; a ``+`` is a plus sign, not a blank. The
canonical form (:func:`format_url`) writes every part out, lower-case codes,
UTC times with whole seconds, in the order above; ``Workspace.fetch`` records
it as the source of the file it lands. A URL without ``?`` names a sensor,
not an extract. The path fsspec works with (the URL without ``o2a://``)
writes ``/`` for ``?``, because fsspec takes ``?`` for a wildcard
(``fs.cat``, ``fs.get`` and ``fsspec.open`` would look for matching paths);
both are read.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

from ...errors import InvalidDataError
from ._request import AGGREGATES, DEFAULT_AGGREGATE, FUNCTIONS, QUERY_TIME, ExtractRequest

#: The fsspec protocol of :class:`~awiml.archives.o2a.PlatformSource`.
PROTOCOL = "o2a"
#: A correct extract URL, shown in error messages.
EXAMPLE = ("o2a://vessel:polarstern:tsg:temperature,vessel:polarstern:tsg:salinity"
           "?start=2016-12-16T00:00:00&end=2017-01-30T23:59:59&aggregate=hour"
           "&functions=mean,max&flags=false")
#: The query keys of an extract URL, in canonical order.
KEYS = ("start", "end", "aggregate", "functions", "flags")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
#: Longest readable part of a file name (codes), before it is shortened.
_NAME_CODES_MAX = 120
_PREFIX = re.compile(rf"^{PROTOCOL}(?:://|::)", re.IGNORECASE)


def strip_protocol(url: str) -> str:
    """Return ``url`` without ``o2a://`` (or ``o2a::``) and surrounding blanks or slashes.

    Parameters
    ----------
    url : str
        An ``o2a://`` URL, or the path after the protocol.

    Returns
    -------
    str

    Examples
    --------
    >>> strip_protocol("o2a://vessel:heincke:dwd:air_pressure/")
    'vessel:heincke:dwd:air_pressure'
    """
    return _PREFIX.sub("", str(url).strip()).strip("/")


def is_extract(path: str) -> bool:
    """Whether ``path`` names an extract (it has a query), rather than a sensor code.

    Examples
    --------
    >>> is_extract("o2a://vessel:heincke:dwd:air_pressure?start=2024-03-19&end=2024-03-19")
    True
    >>> is_extract("vessel:heincke:dwd:air_pressure")
    False
    """
    return any(mark in strip_protocol(path) for mark in "?/")


def parse_url(url: str) -> ExtractRequest:
    """Read an extract URL into a checked :class:`ExtractRequest`.

    Parameters
    ----------
    url : str
        ``o2a://<codes>?start=...&end=...[&aggregate=...][&functions=...][&flags=...]``,
        with or without the protocol (see the module's description).

    Returns
    -------
    ExtractRequest
        What the URL names, checked and normalised.

    Raises
    ------
    InvalidDataError
        Naming the malformed part (no query, an empty or malformed code, a
        missing, repeated or unknown key, an unreadable time or flag, an
        aggregation or function the service does not offer, start after
        end), with a correct example.

    Examples
    --------
    >>> request = parse_url("o2a://vessel:heincke:dwd:air_pressure"
    ...                     "?start=2024-03-18T20:00:00&end=2024-03-19&functions=mean,MAX")
    >>> request.codes, request.aggregate, request.functions, request.quality_flags
    (('vessel:heincke:dwd:air_pressure',), 'hour', ('mean', 'max'), False)
    >>> str(request.end)
    '2024-03-19 00:00:00+00:00'
    """
    text = strip_protocol(url)
    shown = f"{PROTOCOL}://{text}"
    codes_part, mark, query = text.partition("?" if "?" in text else "/")
    if not mark:
        raise _malformed(shown, "it names no time range: an extract URL needs "
                                "?start=<time>&end=<time> after the sensor codes")
    codes = [unquote(code).strip() for code in codes_part.split(",")]
    if not any(codes):
        raise _malformed(shown, "it names no sensor code before '?'")
    if not all(codes):
        raise _malformed(shown, "its list of sensor codes has an empty entry (two commas, or "
                                "a comma at an end)")
    fields: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        key, equals, value = pair.partition("=")
        key = unquote(key).strip().lower()
        if not equals or key not in KEYS:
            raise _malformed(
                shown, f"{pair!r} is not one of the keys {', '.join(KEYS)} written key=value"
            )
        if key in fields:
            raise _malformed(shown, f"{key!r} is given twice")
        fields[key] = unquote(value).strip()
        if not fields[key]:
            raise _malformed(shown, f"{key}= has no value")
    missing = [key for key in ("start", "end") if key not in fields]
    if missing:
        raise _malformed(shown, f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                                "missing; both ends of the range are required")
    flags = fields.get("flags", "false").lower()
    if flags not in _TRUE + _FALSE:
        raise _malformed(shown, f"flags={fields['flags']!r} is neither true nor false")
    functions = [name.strip() for name in fields.get("functions", "mean").split(",")]
    if not all(functions):
        raise _malformed(shown, f"functions={fields['functions']!r} has an empty entry")
    try:
        return ExtractRequest.build(
            codes,
            fields["start"],
            fields["end"],
            aggregate=fields.get("aggregate", DEFAULT_AGGREGATE),
            functions=functions,
            quality_flags=flags in _TRUE,
        )
    except InvalidDataError as exc:
        raise _malformed(shown, str(exc).rstrip(".")) from None


def format_url(request: ExtractRequest, *, protocol: bool = True) -> str:
    """Return the canonical URL of an extract; :func:`parse_url` reads it back.

    Parameters
    ----------
    request : ExtractRequest
        The extract.
    protocol : bool, optional
        Start with ``o2a://``. Without it, the path fsspec works with, which
        writes ``/`` for the ``?`` (a wildcard to fsspec).

    Returns
    -------
    str
        Every part written out, in the order of :data:`KEYS`.

    Examples
    --------
    >>> request = ExtractRequest.build("Vessel:Heincke:dwd:air_pressure",
    ...                                "2024-03-18T20:00", "2024-03-19T09:00")
    >>> format_url(request).split("&")  # doctest: +NORMALIZE_WHITESPACE
    ['o2a://vessel:heincke:dwd:air_pressure?start=2024-03-18T20:00:00',
     'end=2024-03-19T09:00:00', 'aggregate=hour', 'functions=mean', 'flags=false']
    >>> path = format_url(request, protocol=False)
    >>> path.split("&")[0], parse_url(path) == request
    ('vessel:heincke:dwd:air_pressure/start=2024-03-18T20:00:00', True)
    """
    return (
        f"{PROTOCOL + '://' if protocol else ''}{','.join(request.codes)}{'?' if protocol else '/'}"
        f"start={request.start.strftime(QUERY_TIME)}&end={request.end.strftime(QUERY_TIME)}"
        f"&aggregate={request.aggregate}&functions={','.join(request.functions)}"
        f"&flags={'true' if request.quality_flags else 'false'}"
    )


def file_name(request: ExtractRequest) -> str:
    """Return a readable, portable file name for an extract, unique to it.

    The name holds the codes (``:`` written ``_``), the range, the aggregation,
    the functions and ``flags`` when asked, then 8 hex digits of the canonical
    URL's SHA-256, so two different extracts never share a name. More than a few
    codes are shortened to the first and their count.

    Parameters
    ----------
    request : ExtractRequest

    Returns
    -------
    str
        ``<codes>_<start>-<end>_<aggregate>_<functions>[_flags]_<digest>.tsv``,
        with only ASCII letters, digits and ``_ - + .``.

    Examples
    --------
    >>> file_name(parse_url("o2a://vessel:heincke:dwd:air_pressure"
    ...                     "?start=2024-03-18T20:00:00&end=2024-03-19T09:00:00"))
    ... # doctest: +ELLIPSIS
    'vessel_heincke_dwd_air_pressure_20240318T200000-20240319T090000_hour_mean_...tsv'
    """
    codes = "+".join(_safe(code) for code in request.codes)
    if len(codes) > _NAME_CODES_MAX:
        codes = f"{_safe(request.codes[0])[:_NAME_CODES_MAX]}+{len(request.codes) - 1}more"
    digest = hashlib.sha256(format_url(request).encode()).hexdigest()[:8]
    flags = "_flags" if request.quality_flags else ""
    return (f"{codes}_{request.start:%Y%m%dT%H%M%S}-{request.end:%Y%m%dT%H%M%S}_"
            f"{request.aggregate}_{'+'.join(request.functions)}{flags}_{digest}.tsv")


def _safe(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", code.replace("$NRT", "-nrt"))


def _malformed(url: str, problem: str) -> InvalidDataError:
    return InvalidDataError(
        f"{url!r} is not an O2A extract URL: {problem}. Write "
        f"o2a://<code>[,<code>...]?start=<UTC time>&end=<UTC time>[&aggregate="
        f"{'|'.join(AGGREGATES)}][&functions=<{'|'.join(FUNCTIONS)}>,...][&flags=true|false], "
        f"for example {EXAMPLE}"
    )
