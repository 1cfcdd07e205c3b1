"""Read PANGAEA's tab-delimited text format, fast and strictly.

A PANGAEA text export (``?format=textfile``, ``text/tab-separated-values``)
is an optional metadata block ::

    /* DATA DESCRIPTION:
    Citation:<TAB>Boebel, Olaf; Rohardt, Gerd (2018): Continuous ... https://doi.org/...
    Parameter(s):<TAB>DATE/TIME (Date/Time) * GEOCODE * PI: Rohardt, Gerd (...)
    <TAB>Temperature, water [°C] (Temp) * PI: ... * METHOD/DEVICE: Thermosalinograph (TSG)
    */

followed by a header row of column labels (``Short name [unit]``) and
tab-separated data rows. Data-warehouse extracts have no metadata block: their
first line is the header row.

:func:`read_text` parses the block in Python, checks the field counts and finds
the quality flags in one NumPy pass, and reads the table with one
:func:`pandas.read_csv` call; :func:`read_metadata` reads the block only.

What the parser assumes about the format
----------------------------------------
* Text is UTF-8 (a byte-order mark is allowed). Bytes that are not valid
  UTF-8 are read as ISO-8859-1, or as its Windows-1252 superset where the file
  uses one of the characters only Windows-1252 has (``‰``, ``€``...).
* Fields are separated by single TABs; there is no quoting: a ``"`` is an
  ordinary character. Every row has exactly as many fields as the header row.
* Only an empty cell is a missing value (``"NA"`` or ``"nan"`` stay text); a
  cell that is nothing but a quality flag is a missing value with a flag.
* Times are UTC: PANGAEA stores and exports them in UTC without a zone
  designator. Partial ISO 8601 values (``1984``, ``2016-12``,
  ``2016-12-16T18:20``) mean the start of that year, month or minute. A value
  with a designator (``Z``, ``+02:00``) is converted to UTC.
* A quality flag (:data:`QUALITY_FLAGS`) is the first character of a value in
  a numeric column. Date/time and text columns carry none: there such a
  character is part of the value.
* The metadata block starts with ``/*`` on the first line and ends at the
  first line that starts with ``*/``; every line in between is ``Key:<TAB>``
  or a continuation starting with a TAB. Fields inside a value are separated
  by ``" * "``, and each continuation line of ``Event(s)`` and ``Parameter(s)``
  is one event or parameter. Old exports write ``Geocode`` and ``METHOD:``
  for today's ``GEOCODE`` and ``METHOD/DEVICE:``; both are read.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...errors import InvalidDataError
from .. import _tables
from .._tables import Raw, Source
from .model import DatasetMetadata, Event, Parameter, normalize_doi

__all__ = ["QUALITY_FLAGS", "events_frame", "read_metadata", "read_text"]

#: PANGAEA's quality flags: the one-character prefix of a value and its meaning.
#: See https://wiki.pangaea.de/wiki/Quality_flag.
QUALITY_FLAGS: dict[str, str] = {
    "?": "questionable",
    "/": "not valid",
    "*": "unknown",
    "#": "individual definition (flagged by the data provider)",
    "<": "below detection limit (the value is the limit)",
    ">": "above detection limit (the value is the limit)",
}

_FLAG_CHARS = tuple(QUALITY_FLAGS)
_FLAG_CODES = np.full(256, -1, dtype=np.int8)
for _code, _char in enumerate(_FLAG_CHARS):
    _FLAG_CODES[ord(_char)] = _code
_IS_FLAG = _FLAG_CODES >= 0
_FLAG_BYTES = np.frombuffer("".join(_FLAG_CHARS).encode("ascii"), np.uint8)
_SPACE = 32
_KEY_LINE = re.compile(r"^([A-Za-z][^\t:]*):(?:\t| |$)(.*)$")
_CITATION = re.compile(r"^(?P<authors>.*?) \((?P<year>\d{4})[a-z]?\): (?P<rest>.*)$")
_DOI_TAIL = re.compile(r"[,.]?\s*(?:https?://(?:dx\.)?doi\.org/|doi:\s*)10\.\S+\s*$", re.IGNORECASE)
_PANGAEA_DOI = re.compile(r"10\.1594/PANGAEA\.\d+", re.IGNORECASE)
_LABEL = re.compile(r"^(?P<short>.*?) \[(?P<unit>[^\[\]]*)\](?: \((?P<comment>.*)\))?$")
_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}(?:-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?)?Z?$")
_DATE_BYTES = "S32"
"""How date columns are read: as fixed-width bytes (longer values are read again as text)."""


def read_text(
    source: Source,
    *,
    metadata: DatasetMetadata | None = None,
    on_mismatch: Literal["raise", "warn"] = "raise",
    strict: bool = True,
) -> pd.DataFrame:
    r"""Read a PANGAEA tab-delimited text file into a typed DataFrame.

    Parameters
    ----------
    source : str, os.PathLike, bytes or file-like
        A path, the file's bytes, or a binary or text file object. UTF-8
        (with or without byte-order mark) or, for old exports, ISO-8859-1;
        the encoding is detected.
    metadata : DatasetMetadata, optional
        Metadata from elsewhere, e.g. the panmd XML record. The table is then
        cross-checked against its parameters instead of the file's own
        ``/* DATA DESCRIPTION: */`` block, its parameter types are used
        (``"string"`` columns stay text, ``"datetime"`` columns become
        timestamps, ``"numeric"`` columns must be numbers) and it goes into
        ``df.attrs["pangaea"]``.
    on_mismatch : {"raise", "warn"}, default "raise"
        What to do when the header row does not match the parameters (number
        of columns, or a label other than ``"<short name> [<unit>]"``):
        raise :class:`~awiml.errors.InvalidDataError`, or emit a
        :class:`UserWarning` and name the columns after the file's header row.
    strict : bool, default True
        PANGAEA ends every line of its exports with a line break, so a last
        line without one was most likely cut off (``3.875`` read as ``3.8``):
        raise :class:`~awiml.errors.InvalidDataError`, or with
        ``strict=False`` (a table written by hand) warn and read it as it is.

    Returns
    -------
    pandas.DataFrame
        One column per data column, named by PANGAEA's short names; a short
        name that occurs again gets ``_2``, ``_3``... (as in pangaeapy).
        ``Date/Time`` and any column declared ``datetime`` are
        ``datetime64[ns, UTC]`` (``datetime64[us, UTC]`` if a date lies
        outside 1677-2262); so is any other column whose first value is an
        ISO 8601 date (``YYYY-MM...``) and whose values all parse as one.
        Numeric columns are ``float64``, integers included; text is pandas'
        ``str`` dtype. A numeric column with quality-flagged values
        (``?12.5``, ``<0.01``) is followed by a categorical
        ``"<column>_flag"`` column of the flag characters, missing where a
        value has none (``-1.5`` and ``CTD/Rosette`` are not flagged: a
        flag needs a column of numbers). ``df.attrs["pangaea"]`` is
        ``metadata.to_dict()``, ``df.attrs["columns"]`` maps each column to
        its ``unit``, ``long_name``, ``short_name``, ``pi``, ``method``,
        ``geocode`` and ``comment``; both are JSON-ready.

    Raises
    ------
    InvalidDataError
        The file is malformed: a row with the wrong number of fields, a
        truncated file, a header block without ``*/``, binary content, a
        header row that does not match the parameters (with
        ``on_mismatch="raise"``), a last line without a line break (with
        ``strict=True``), a value in a ``datetime`` or ``numeric``
        column that is neither. The message names the file and the line.
    NotFoundError
        ``source`` is a path that does not exist.

    See Also
    --------
    read_metadata : The metadata block only, without the table.
    events_frame : The events of a dataset as a table.

    Examples
    --------
    >>> from importlib.resources import files
    >>> path = files("awiml") / "data" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
    >>> df = read_text(path)
    >>> list(df.columns)
    ['Date/Time', 'Latitude', 'Longitude', 'Depth water', 'Temp', 'Sal']
    >>> str(df["Date/Time"].dtype), df.attrs["columns"]["Temp"]["unit"]
    ('datetime64[ns, UTC]', '°C')

    Quality flags move into their own column:

    >>> text = b"Depth water [m]\tTemp [\xc2\xb0C]\n10\t?4.5\n20\t-1.9\n"
    >>> df = read_text(text)
    >>> df["Temp"].tolist(), df["Temp_flag"].tolist()
    ([4.5, -1.9], ['?', nan])
    """
    if on_mismatch not in ("raise", "warn"):
        raise ValueError(f"on_mismatch must be 'raise' or 'warn', not {on_mismatch!r}")
    if not isinstance(strict, bool):
        raise ValueError(f"strict must be True or False, not {strict!r}")
    if metadata is not None and not isinstance(metadata, DatasetMetadata):
        raise TypeError(f"metadata must be a DatasetMetadata, not {type(metadata).__name__}")
    raw, layout = _open(source)
    meta = metadata if metadata is not None else _metadata_from_layout(raw.data, layout, raw.name)
    columns = _match_columns(layout, meta, raw.name, on_mismatch, metadata is not None)
    frame = _Table(raw, layout, columns, strict=strict).read()
    frame.attrs["pangaea"] = meta.to_dict()
    frame.attrs["columns"] = {column.name: column.describe() for column in columns}
    return frame


def read_metadata(source: Source) -> DatasetMetadata:
    """Read only the ``/* DATA DESCRIPTION: */`` block of a PANGAEA text file.

    Reading stops at the line after ``*/``, so this is fast on files of any
    size.

    Parameters
    ----------
    source : str, os.PathLike, bytes or file-like
        As for :func:`read_text`.

    Returns
    -------
    DatasetMetadata
        DOI, citation (with title, authors and year taken from it), abstract,
        keywords, references, projects, coverage, events, parameters, licence,
        size and comment. Keys that are not modelled go into ``extra``. A
        file without a metadata block (a data-warehouse extract) gives
        metadata whose parameters come from its header row.

    Raises
    ------
    InvalidDataError
        The header block is malformed or not closed by ``*/`` (the message
        names the line), or the file is binary.
    NotFoundError
        ``source`` is a path that does not exist.

    Examples
    --------
    >>> from importlib.resources import files
    >>> meta = read_metadata(files("awiml") / "data" / "PANGAEA_889513_PS103_surf_oce_tsg.tab")
    >>> meta.doi, meta.year, meta.authors
    ('10.1594/PANGAEA.889513', 2018, ('Boebel, Olaf', 'Rohardt, Gerd'))
    >>> [p.label for p in meta.parameters][-2:]
    ['Temp [°C]', 'Sal']
    """
    raw, layout = _open(source, header_only=True)
    return _metadata_from_layout(raw.data, layout, raw.name)


def events_frame(
    metadata_or_df: DatasetMetadata | pd.DataFrame | Mapping[str, Any],
) -> pd.DataFrame:
    """Return the events (stations, casts, tracks) of a dataset as a table.

    Parameters
    ----------
    metadata_or_df : DatasetMetadata, pandas.DataFrame or Mapping
        The metadata, a table from :func:`read_text` (its
        ``attrs["pangaea"]`` is used) or the dictionary of
        :meth:`DatasetMetadata.to_dict`.

    Returns
    -------
    pandas.DataFrame
        One row per event, in metadata order. Columns: ``label``,
        ``latitude``, ``longitude``, ``latitude_end``, ``longitude_end``
        (float, missing for point events), ``datetime``, ``datetime_end``
        (``datetime64[ns, UTC]``; values that are not ISO 8601 become NaT),
        ``elevation`` (metres), ``location``, ``campaign``, ``basis``,
        ``device``, ``comment``, then one column per other event attribute
        (e.g. ``Recovery``).

    Raises
    ------
    InvalidDataError
        A DataFrame without ``attrs["pangaea"]``.

    Examples
    --------
    >>> from importlib.resources import files
    >>> meta = read_metadata(files("awiml") / "data" / "PANGAEA_889513_PS103_surf_oce_tsg.tab")
    >>> events = events_frame(meta)
    >>> track = events.iloc[0]
    >>> track["label"], float(track["latitude"]), float(track["latitude_end"])
    ('PS103-track', -33.9068, -53.1447)
    >>> str(events["datetime"].dtype)
    'datetime64[ns, UTC]'
    """
    if isinstance(metadata_or_df, DatasetMetadata):
        meta = metadata_or_df
    elif isinstance(metadata_or_df, pd.DataFrame):
        stored = metadata_or_df.attrs.get("pangaea")
        if not isinstance(stored, Mapping):
            raise InvalidDataError(
                "this DataFrame has no PANGAEA metadata in attrs['pangaea']; pass the table "
                "straight from read_text(), or the DatasetMetadata itself"
            )
        meta = DatasetMetadata.from_dict(stored)
    elif isinstance(metadata_or_df, Mapping):
        meta = DatasetMetadata.from_dict(metadata_or_df)
    else:
        raise TypeError(
            "events_frame() takes a DatasetMetadata, a DataFrame from read_text() or a "
            f"metadata dictionary, not {type(metadata_or_df).__name__}"
        )
    fixed = [f.name for f in fields(Event) if f.name != "attributes"]
    rows = []
    extra: dict[str, None] = {}
    for event in meta.events:
        row = {name: getattr(event, name) for name in fixed}
        for key, value in dict(event.attributes).items():
            if key not in row:
                row[key] = value
                extra[key] = None
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*fixed, *extra])
    for name in ("latitude", "longitude", "latitude_end", "longitude_end", "elevation"):
        table[name] = pd.to_numeric(table[name], errors="coerce").astype("float64")
    for name in ("datetime", "datetime_end"):
        table[name] = _tables.utc(
            pd.to_datetime(table[name], format="ISO8601", utc=True, errors="coerce")
        )
    return table


def _read_prefix(handle: Any) -> bytes | str:
    """Read the header block (up to the ``*/`` line) and the next line, no further."""
    readline = getattr(handle, "readline", None)
    if readline is None:
        return handle.read()
    first = readline()
    lines = [first]
    text = isinstance(first, str)
    start, close, bom = ("/*", "*/", "\ufeff") if text else (b"/*", b"*/", _tables.BOM)
    if first.lstrip(bom).startswith(start):
        for line in iter(readline, first[:0]):
            lines.append(line)
            if line.startswith(close):
                break
        lines.append(readline())
    return first[:0].join(lines)


def _prepare(raw: Raw) -> Raw:
    """Drop a byte-order mark, reject binary data, turn old Mac line breaks into LF."""
    data = raw.data
    if data[:3] == _tables.BOM:
        data = data[3:]
        raw.owned = isinstance(data, bytearray)
    _tables.reject_binary(data, raw.name, "PANGAEA's tab-delimited text")
    if b"\n" not in data and b"\r" in data:
        data = bytearray(data.replace(b"\r", b"\n"))
        raw.owned = True
    raw.data = data
    return raw


def _transcode(raw: Raw) -> None:
    """Re-encode a file that is not UTF-8 from ISO-8859-1 (or Windows-1252) to UTF-8."""
    data = raw.data
    # Bytes 0x80-0x9F are control characters in ISO-8859-1 but letters and
    # signs in Windows-1252 ("‰", "€"): a file that has them is Windows-1252.
    encoding = "windows-1252" if re.search(rb"[\x80-\x9f]", data) else "iso-8859-1"
    try:
        text = bytes(data).decode(encoding)
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        text = bytes(data).decode("iso-8859-1")
    raw.data = bytearray(text.encode("utf-8"))
    raw.owned = raw.transcoded = True


def _open(source: Source, *, header_only: bool = False) -> tuple[Raw, _Layout]:
    """Load ``source`` (all of it, or up to the header row) and find its parts.

    The content switches to ISO-8859-1 if the header is not UTF-8.
    """
    raw = _prepare(
        _tables.load(
            source,
            caller="read_text()",
            what="a PANGAEA text file",
            read_path=_read_prefix if header_only else _tables.read_all,
            read_handle=_read_prefix if header_only else None,
            fallback="Windows-1252 or ISO-8859-1",
        )
    )
    layout = _locate(raw.data, raw.name)
    head = memoryview(raw.data)[: layout.header_end]
    if not _tables.is_utf8(head):
        _transcode(raw)
        layout = _locate(raw.data, raw.name)
    return raw, layout


@dataclass(frozen=True)
class _Layout:
    """Where the parts of a text file are."""

    has_block: bool
    block_end: int
    """Offset of the ``*/`` line (0 without a block)."""
    table_start: int
    """Offset of the header row."""
    table_end: int
    """Offset after the last non-empty line (trailing line breaks excluded)."""
    header_line: int
    """1-based line number of the header row."""
    labels: tuple[str, ...]
    header_end: int
    """Offset just after the header row's line break (or ``table_end``)."""


def _locate(data: bytes | bytearray, name: str) -> _Layout:
    """Find the metadata block, the header row and the end of the table."""
    has_block = data.startswith(b"/*")
    if has_block:
        close = data.find(b"\n*/")
        if close < 0:
            _raise_unclosed(data, name)
        block_end = close + 1
        after = data.find(b"\n", block_end)
        table_start = len(data) if after < 0 else after + 1
        header_line = data.count(b"\n", 0, table_start) + 1
    else:
        block_end = table_start = 0
        header_line = 1
    end = len(data)
    while end > table_start and data[end - 1] in b"\r\n":
        end -= 1
    if end <= table_start and not has_block:
        raise InvalidDataError(f"{name}: the file is empty (no header row, no data)")
    if end <= table_start:
        raise InvalidDataError(
            f"{name}: no column header row after the '*/' on line {header_line - 1}: the file "
            "ends there. Is it truncated, or a metadata-only export?"
        )
    newline = data.find(b"\n", table_start, end)
    row_end = end if newline < 0 else newline
    header_end = end if newline < 0 else newline + 1
    labels = tuple(
        label.strip()
        for label in bytes(data[table_start:row_end]).decode("utf-8", "replace").split("\t")
    )
    return _Layout(has_block, block_end, table_start, end, header_line, labels, header_end)


def _raise_unclosed(data: bytes | bytearray, name: str) -> None:
    """Raise the error for a metadata block without ``*/``, naming the first foreign line."""
    _entries((line.decode("utf-8", "replace") for line in io.BytesIO(data)), name, closed=False)
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    raise InvalidDataError(
        f"{name}: the file ends on line {lines} inside the '/* DATA DESCRIPTION:' block "
        "opened on line 1 ('*/' and the table are missing): it seems truncated. Fetch it again."
    )


@dataclass
class _Entry:
    key: str
    lines: list[str]


def _metadata_from_layout(data: bytes | bytearray, layout: _Layout, name: str) -> DatasetMetadata:
    """Parse the metadata block, or build minimal metadata from the header row."""
    if not layout.has_block:
        return DatasetMetadata(parameters=tuple(_parameter_from_label(lb) for lb in layout.labels))
    text = bytes(data[: layout.block_end]).decode("utf-8")
    return _build_metadata(_entries(text.split("\n"), name))


def _entries(lines: Iterable[str], name: str, *, closed: bool = True) -> list[_Entry]:
    """Split the block's lines into ``Key: value`` entries with their continuation lines.

    With ``closed=False`` (a block without ``*/``), ``lines`` go on into the
    table, and the first line that is no part of the block is reported.
    """
    entries: list[_Entry] = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if number == 1:
            continue  # "/* DATA DESCRIPTION:"
        if line.startswith("\t"):
            if entries:
                entries[-1].lines.append(line.strip())
            elif closed:
                raise InvalidDataError(
                    f"{name}: line {number} continues a header entry, but no 'Key:' line "
                    "comes before it in the '/* DATA DESCRIPTION:' block"
                )
            continue
        if not line.strip():
            continue
        match = _KEY_LINE.match(line)
        if match is None and not closed:
            raise InvalidDataError(
                f"{name}: line {number} is not part of the '/* DATA DESCRIPTION:' block "
                "opened on line 1 (it is neither 'Key:<TAB>value' nor a continuation "
                "starting with a TAB), and the block has no closing '*/' line before it. "
                "Add the missing '*/' line, or fetch the file again if it is damaged."
            )
        if match is None:
            raise InvalidDataError(
                f"{name}: line {number} of the '/* DATA DESCRIPTION:' block is neither "
                f"'Key:<TAB>value' nor a continuation line starting with a TAB: {line[:80]!r}"
            )
        entries.append(_Entry(match.group(1).strip(), [match.group(2).strip()]))
    return entries


_KEYS = {
    "citation": "citation",
    "related to": "related",
    "supplement to": "related",
    "further details": "related",
    "project(s)": "projects",
    "projects": "projects",
    "project": "projects",
    "abstract": "abstract",
    "keyword(s)": "keywords",
    "keywords": "keywords",
    "coverage": "coverage",
    "event(s)": "events",
    "events": "events",
    "event": "events",
    "comment": "comment",
    "parameter(s)": "parameters",
    "parameters": "parameters",
    "license": "license",
    "licence": "license",
    "size": "size",
}


def _build_metadata(entries: list[_Entry]) -> DatasetMetadata:
    """Turn header entries into :class:`DatasetMetadata`."""
    values: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {
        key: [] for key in ("keywords", "related", "projects", "events", "parameters")
    }
    coverage: dict[str, str] = {}
    extra: dict[str, str] = {}
    for entry in entries:
        kind = _KEYS.get(entry.key.lower())
        lines = [line for line in entry.lines if line]
        if kind == "citation" and lines:
            citation = entry.lines[0].rstrip().removesuffix(",").rstrip()
            values.update(_parse_citation(citation))
            lists["related"].extend(line for line in entry.lines[1:] if line)
        elif kind in ("related", "projects"):
            lists[kind].extend(lines)
        elif kind == "keywords":
            lists[kind].extend(k.strip() for line in lines for k in line.split(";") if k.strip())
        elif kind == "coverage":
            for line in lines:
                coverage.update(_key_values(line.split(" * ")))
        elif kind in ("events", "parameters"):
            parse = _parse_event if kind == "events" else _parse_parameter
            lists[kind].extend(parse(line) for line in lines)
        elif kind in ("abstract", "comment"):
            values[kind] = "\n".join(lines) or None
        elif kind == "size":
            values["size"] = " ".join(lines) or None
        elif kind == "license":
            text = " ".join(lines)
            label = re.search(r"\(([^()\s]+)\)\s*$", text)
            values["license"] = label.group(1) if label else (text or None)
            if label:
                extra[entry.key] = text
        else:
            extra[entry.key] = "\n".join(entry.lines)
    tuples = {key: tuple(items) for key, items in lists.items()}
    return DatasetMetadata(**values, **tuples, coverage=coverage, extra=extra)


def _parse_citation(citation: str) -> dict[str, Any]:
    """Take DOI, authors, year and title out of a citation line."""
    out: dict[str, Any] = {"citation": citation}
    dois = _PANGAEA_DOI.findall(citation)
    if dois:
        out["doi"] = normalize_doi(dois[-1])
    match = _CITATION.match(citation)
    if match is None:
        return out
    out["authors"] = tuple(a.strip() for a in match.group("authors").split(";") if a.strip())
    out["year"] = int(match.group("year"))
    rest = _DOI_TAIL.sub("", match.group("rest")).strip()
    if rest.endswith("PANGAEA"):
        # "<title>. <publisher>, PANGAEA": the title ends at the last ". ".
        cut = rest.rfind(". ")
        title = rest[:cut] if cut > 0 else None
    else:
        title = rest.rstrip(". ") or None
    out["title"] = title
    return out


def _key_values(parts: list[str]) -> dict[str, str]:
    """Turn ``["KEY: value", ...]`` into a dict; a part without ``": "`` continues the last."""
    result: dict[str, str] = {}
    last = None
    for part in parts:
        key, sep, value = part.partition(": ")
        if sep and key.strip():
            last = key.strip()
            result[last] = value.strip()
        elif last is not None:
            result[last] = f"{result[last]} * {part.strip()}"
    return result


_EVENT_NUMBERS = {
    "LATITUDE": "latitude",
    "LATITUDE START": "latitude",
    "LONGITUDE": "longitude",
    "LONGITUDE START": "longitude",
    "LATITUDE END": "latitude_end",
    "LONGITUDE END": "longitude_end",
    "ELEVATION": "elevation",
}
_EVENT_TEXTS = {
    "DATE/TIME": "datetime",
    "DATE/TIME START": "datetime",
    "DATE/TIME END": "datetime_end",
    "LOCATION": "location",
    "CAMPAIGN": "campaign",
    "BASIS": "basis",
    "METHOD/DEVICE": "device",
    "DEVICE": "device",
    "METHOD": "device",
    "COMMENT": "comment",
}


def _parse_event(line: str) -> Event:
    """``LABEL * KEY: value * ...`` to an :class:`Event`."""
    label, *parts = line.split(" * ")
    values: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for key, value in _key_values(parts).items():
        upper = key.upper()
        if upper in _EVENT_NUMBERS:
            number = _NUMBER.match(value)
            if number:
                values[_EVENT_NUMBERS[upper]] = float(number.group())
                continue
        elif upper in _EVENT_TEXTS:
            values[_EVENT_TEXTS[upper]] = value
            continue
        attributes[key] = value
    return Event(label=label.strip(), attributes=attributes, **values)


def _parse_parameter(line: str) -> Parameter:
    """``LONG NAME [unit] (Short) * GEOCODE * PI: ... * METHOD/DEVICE: ... * COMMENT: ...``."""
    head, *parts = line.split(" * ")
    name, unit, short = _split_caption(head.strip())
    values: dict[str, Any] = {}
    last: str | None = None
    for part in parts:
        text = part.strip()
        key, sep, value = text.partition(":")
        upper = key.strip().upper()
        if text.upper() == "GEOCODE":
            values["geocode"], last = True, None
        elif sep and upper == "PI":
            values["pi"], last = value.strip(), "pi"
        elif sep and upper in ("METHOD/DEVICE", "METHOD", "DEVICE"):
            values["method"], last = value.strip(), "method"
        elif sep and upper == "COMMENT":
            values["comment"], last = value.strip(), "comment"
        elif last is not None:
            values[last] = f"{values[last]} * {text}"
        else:
            values["comment"] = f"{values['comment']} * {text}" if "comment" in values else text
            last = "comment"
    return Parameter(name=name, short_name=short, unit=unit, **values)


def _split_caption(head: str) -> tuple[str, str | None, str]:
    """``"Temperature, water [°C] (Temp)"`` to ``("Temperature, water", "°C", "Temp")``."""
    short = None
    if head.endswith(")"):
        start = _matching_open(head, "(", ")")
        if start > 0:
            short, head = head[start + 1 : -1].strip(), head[:start].rstrip()
    unit = None
    if head.endswith("]"):
        start = _matching_open(head, "[", "]")
        if start > 0:
            unit, head = head[start + 1 : -1].strip() or None, head[:start].rstrip()
    return head, unit, short or head


def _matching_open(text: str, opening: str, closing: str) -> int:
    """Index of the bracket that opens the one closing ``text`` (-1 if unbalanced)."""
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if char == closing:
            depth += 1
        elif char == opening:
            depth -= 1
            if depth == 0:
                return index
    return -1


def _parameter_from_label(label: str) -> Parameter:
    """Make a parameter known only from its column label ``Short name [unit]``."""
    short, unit, _ = _split_label(label)
    return Parameter(name=short, short_name=short, unit=unit, geocode=short in _GEOCODE_NAMES)


def _split_label(label: str) -> tuple[str, str | None, str | None]:
    """Split ``"Age model [ka] (consistent with...)"`` into short name, unit and comment."""
    match = _LABEL.match(label)
    if match is None:
        return label, None, None
    return match.group("short"), match.group("unit") or None, match.group("comment")


_GEOCODE_NAMES = frozenset(
    {"Date/Time", "Latitude", "Longitude", "Depth water", "Elevation", "Altitude", "Depth"}
)


@dataclass(frozen=True)
class _Column:
    """One data column: its DataFrame name and what is known about it."""

    name: str
    short_name: str
    unit: str | None
    parameter: Parameter | None
    declared: bool
    """Whether ``parameter`` describes this column for sure (not only by position)."""

    @property
    def kind(self) -> str | None:
        """``"datetime"``, ``"string"``, ``"numeric"`` or ``None`` (infer from the values)."""
        parameter = self.parameter
        if parameter is None or not self.declared:
            return "datetime" if self.short_name == "Date/Time" else None
        declared_type = (parameter.type or "").lower()  # panmd writes "dateTime"
        if declared_type in ("datetime", "date"):
            return "datetime"
        if declared_type in ("string", "uri"):
            return "string"
        if parameter.short_name == "Date/Time" or parameter.name.upper() == "DATE/TIME":
            return "datetime"
        if declared_type == "numeric":
            return "numeric"
        return None

    def describe(self) -> dict[str, Any]:
        """Return the JSON-ready entry of ``df.attrs["columns"]``."""
        p = self.parameter
        return {
            "unit": p.unit if p is not None else self.unit,
            "long_name": p.name if p is not None else None,
            "short_name": p.short_name if p is not None else self.short_name,
            "pi": p.pi if p is not None else None,
            "method": p.method if p is not None else None,
            "geocode": bool(p.geocode) if p is not None else self.short_name in _GEOCODE_NAMES,
            "comment": p.comment if p is not None else None,
        }


def _normalise(label: str) -> str:
    return " ".join(label.split())


def _label_matches(label: str, parameter: Parameter) -> bool:
    """Whether a header label is the parameter's ``Short [unit]``, maybe with ``" (comment)"``."""
    label, expected = _normalise(label), _normalise(parameter.label)
    return label == expected or label.startswith(expected + " (")


def _unique(names: list[str]) -> list[str]:
    """Name repeated short names as pangaeapy does: ``X``, ``X_2``, ``X_3``..."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _match_columns(
    layout: _Layout, meta: DatasetMetadata, name: str, on_mismatch: str, external: bool
) -> list[_Column]:
    """Cross-check the header row against the parameters and name the columns."""
    labels = layout.labels
    parameters = meta.parameters if layout.has_block or external else ()
    if not parameters:
        return _label_columns(labels)
    differences = []
    if len(labels) != len(parameters):
        differences.append(
            f"the file has {len(labels)} columns, the metadata {len(parameters)} parameters"
        )
    for index, (label, parameter) in enumerate(zip(labels, parameters, strict=False), start=1):
        if not _label_matches(label, parameter):
            differences.append(f"column {index}: file {label!r}, metadata {parameter.label!r}")
    if not differences:
        names = _unique([p.short_name for p in parameters])
        return [
            _Column(n, p.short_name, p.unit, p, True)
            for n, p in zip(names, parameters, strict=True)
        ]
    source = (
        "parameters of the given metadata (metadata=, e.g. a panmd record)"
        if external
        else "Parameter(s) in the file's header"
    )
    shown = "; ".join(differences[:8])
    if len(differences) > 8:
        shown += f"; and {len(differences) - 8} more"
    if on_mismatch == "raise":
        raise InvalidDataError(
            f"{name}: the column header on line {layout.header_line} does not match the "
            f"{source}: {shown}. If the file's own header is right, read it with "
            "on_mismatch='warn' (columns are then named after the file's header row)."
        )
    note = (
        " Column descriptions in df.attrs['columns'] come from the parameters in the same position."
        if len(labels) == len(parameters)
        else ""
    )
    warnings.warn(
        f"{name}: the column header on line {layout.header_line} does not match the {source}: "
        f"{shown}. Using the file's header names.{note}",
        UserWarning,
        stacklevel=3,
    )
    return _label_columns(labels, parameters)


def _label_columns(
    labels: tuple[str, ...], parameters: tuple[Parameter, ...] = ()
) -> list[_Column]:
    """Columns named after the header row, described by ``parameters`` if there are as many."""
    split = [_split_label(label) for label in labels]
    shorts = [short or f"column_{i + 1}" for i, (short, _, _) in enumerate(split)]
    names, positional = _unique(shorts), len(parameters) == len(labels)
    return [
        _Column(names[i], shorts[i], split[i][1], parameters[i] if positional else None, False)
        for i in range(len(labels))
    ]


class _Table:
    """Parse the data part of a text file into a typed DataFrame."""

    def __init__(
        self, raw: Raw, layout: _Layout, columns: list[_Column], *, strict: bool = True
    ) -> None:
        self.raw = raw
        self.layout = layout
        self.columns = columns
        self.name = raw.name
        self.strict: bool | None = strict
        """Whether a last line without a line break raises; ``None`` once checked."""

    def read(self) -> pd.DataFrame:
        data, layout = self.raw.data, self.layout
        scan = _tables.scan(data, layout.table_start, layout.table_end, _IS_FLAG)
        self._check_fields(scan.fields)
        if self.strict is not None:
            _tables.check_end(self.raw, len(self.columns), strict=self.strict)
            self.strict = None
        flags = self._blank_flags(scan)
        try:
            return self._finish(self._read_csv(), flags)
        except UnicodeDecodeError:
            if self.raw.transcoded:  # cannot happen: the buffer is UTF-8 now
                raise
            # The header was UTF-8 (or ASCII) but the data rows are not: an old
            # ISO-8859-1 export. Undo the blanking, re-encode, start again.
            for _rows, codes, offsets in flags.values():
                np.frombuffer(self.raw.data, np.uint8)[offsets] = _FLAG_BYTES[codes]
            _transcode(self.raw)
            self.layout = _locate(self.raw.data, self.name)
            return self.read()

    def _check_fields(self, per_line: np.ndarray) -> None:
        expected, header = len(self.columns), self.layout.header_line
        bad = np.flatnonzero(per_line != expected)
        if not bad.size:
            return
        first = int(bad[0])
        found = int(per_line[first])
        if first == per_line.size - 1 and found < expected:
            advice = (
                ". It is the last line: the file may be truncated. Fetch it again."
                if self.raw.data[-1:] in (b"\n", b"\r")
                else ". It is the last line and has no line break: the file seems truncated. "
                "Fetch it again."
            )
        else:
            advice = ""
            if bad.size > 1:
                more = ", ".join(str(header + int(i)) for i in bad[1:6])
                advice = f" (also wrong: line{'s' if bad.size > 2 else ''} {more}"
                advice += ", ...)" if bad.size > 6 else ")"
            advice += (
                ". A value may contain a TAB, or a field is missing; PANGAEA's text format "
                "has no quoting, so the row cannot be read without shifting columns."
            )
        where, columns = f"line {header + first}", f"the column header on line {header}"
        raise _tables.fields_error(self.name, where, found, expected, advice, columns)

    def _blank_flags(
        self, scan: _tables.Scan
    ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Replace flag characters by spaces in the buffer so that pandas reads numbers.

        Returns, per column index, the rows, flag codes and offsets of the blanked cells.
        """
        flags: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if not scan.rows.size:
            return flags
        keep = np.array([c.kind not in ("datetime", "string") for c in self.columns])
        selected = keep[scan.cols]
        rows, cols, offsets = scan.rows[selected], scan.cols[selected], scan.offsets[selected]
        codes = _FLAG_CODES[np.frombuffer(self.raw.data, np.uint8)[offsets]].astype(np.int64)
        if not rows.size:
            return flags
        if not self.raw.owned:
            self.raw.data = bytearray(self.raw.data)
            self.raw.owned = True
        np.frombuffer(self.raw.data, np.uint8)[offsets] = _SPACE
        for col in np.unique(cols):
            mine = cols == col
            flags[int(col)] = (rows[mine], codes[mine], offsets[mine])
        return flags

    def _read_csv(self, as_text: frozenset[str] = frozenset()) -> pd.DataFrame:
        names = [c.name for c in self.columns]
        # Dates come as fixed-width bytes: no Python string per value, and NumPy
        # parses them directly (see _dates for values that do not fit).
        dtype = {c.name: _DATE_BYTES for c in self.columns if c.kind == "datetime"}
        dtype.update({c.name: "str" for c in self.columns if c.kind == "string"})
        dtype.update(dict.fromkeys(as_text, "str"))
        # Only empty cells are missing. A cell that was only a flag is now " ".
        # Date columns keep "" (NumPy reads it as NaT, faster than with NaN).
        na_values = {
            c.name: [""] if c.kind == "string" else ["", " "]
            for c in self.columns
            if c.kind != "datetime"
        }
        reader = _tables.BufferReader(self.raw.data, self.layout.table_start, self.layout.table_end)
        frame = _tables.read_csv(
            reader,
            self.name,
            first_line=self.layout.header_line,
            columns=len(names),
            header=0,
            names=names,
            dtype=dtype or None,
            quoting=csv.QUOTE_NONE,
            na_values=na_values,
            skip_blank_lines=False,
            encoding="utf-8",
        )
        mixed = frozenset(
            name for name in names if frame[name].dtype == object and name not in as_text
        )
        if mixed:
            # low_memory parsing saw numbers in one part and text in another: read as text.
            return self._read_csv(as_text | mixed)
        return frame

    def _finish(
        self, frame: pd.DataFrame, flags: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]
    ) -> pd.DataFrame:
        inserts = []
        for index, column in enumerate(self.columns):
            name = column.name
            series = original = frame[name]
            flagged = flags.get(index)
            numeric = series.dtype.kind in "iuf"
            kind = column.kind
            if flagged is not None and not numeric:
                if kind == "numeric":
                    self._raise_not_numeric(series, column)
                series = self._restore(series, flagged)
                flagged = None
            if kind == "datetime":
                series = self._dates(series, column, strict=True)
            elif kind == "numeric" and not numeric and series.dtype.kind != "b":
                self._raise_not_numeric(series, column)
            elif not numeric and series.dtype.kind not in "bM" and kind != "string":
                first = series.first_valid_index()
                if first is not None and _ISO_DATE.match(str(series.iloc[first])):
                    series = self._dates(series, column, strict=False)
            if series.dtype.kind in "iu":
                series = series.astype("float64")
            if series is not original:
                frame[name] = series
            if flagged is not None:
                rows, codes, _ = flagged
                full = np.full(len(frame), -1, dtype=np.int8)
                full[rows] = codes
                inserts.append(
                    (name, pd.Categorical.from_codes(full, categories=list(_FLAG_CHARS)))
                )
        for name, categorical in inserts:
            frame.insert(frame.columns.get_loc(name) + 1, f"{name}_flag", categorical)
        return frame

    def _restore(
        self, series: pd.Series, flagged: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> pd.Series:
        """Put blanked flag characters back into a column that turned out to be text."""
        rows, codes, _ = flagged
        restored = [
            _FLAG_CHARS[c] + (v[1:] if isinstance(v, str) else "")
            for c, v in zip(codes, series.iloc[rows].tolist(), strict=True)
        ]
        series = series.copy()
        series.iloc[rows] = restored
        return series

    def _dates(self, series: pd.Series, column: _Column, *, strict: bool) -> pd.Series:
        """ISO 8601 text to UTC timestamps (or, if not ``strict`` and it fails, unchanged)."""
        if series.dtype.kind == "M":
            return _tables.utc(series.dt.tz_localize("UTC") if series.dt.tz is None else series)
        if series.dtype.kind == "S":
            values = series.to_numpy()
            width = values.dtype.itemsize
            if values.size and (values.view(np.uint8).reshape(values.size, width)[:, -1]).any():
                # A value fills all the bytes: it may have been cut. Read it as text.
                series = self._read_csv(as_text=frozenset({column.name}))[column.name]
            else:
                fast = _tables.numpy_dates(values, series.index, series.name)
                if fast is not None:
                    return fast
                series = pd.Series(
                    [v.decode("utf-8") for v in values.tolist()],
                    index=series.index,
                    name=series.name,
                    dtype="str",
                )
        text = series if series.dtype.kind == "O" else series.astype("str")
        fast = _tables.numpy_dates(text.to_numpy(dtype=object), text.index, text.name)
        if fast is not None:
            return fast
        # pandas, like NumPy, would read "now" and "today" as the current time.
        words = text.str.strip().str.lower().isin(["now", "today"]).to_numpy()
        if not words.any():
            try:
                return _tables.utc(pd.to_datetime(text, format="ISO8601", utc=True))
            except (ValueError, TypeError, OverflowError):
                pass
        if not strict:
            return series
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        present = text.notna().to_numpy() & (text.to_numpy(dtype=object) != "")
        row = _tables.first(present & (parsed.isna().to_numpy() | words))
        what = "an ISO 8601 date/time"
        raise self._value_error(row, series, column, what, " (expected e.g. 2016-12-16T18:20)")

    def _raise_not_numeric(self, series: pd.Series, column: _Column) -> None:
        values = pd.to_numeric(series, errors="coerce")
        row = _tables.first(series.notna().to_numpy() & values.isna().to_numpy())
        why = ", but the metadata declares the column numeric"
        raise self._value_error(row, series, column, "a number", why)

    def _value_error(
        self, row: int, series: pd.Series, column: _Column, what: str, why: str
    ) -> InvalidDataError:
        where = f"line {self.layout.header_line + 1 + row}"
        return _tables.value_error(self.name, where, series.iloc[row], column.name, what, why)
