"""Read EcoTaxa's tab-separated tables, exports and import files alike, fast and strictly.

EcoTaxa (https://ecotaxa.obs-vlfr.fr) writes and reads one table format with
two dialects:

* the **export** format, what ``POST /object_set/export/general`` (and the
  older "DOI" export) produces: UTF-8, usually with a byte-order mark,
  tab-separated, Python's ``csv.QUOTE_NONNUMERIC`` (every text value and the
  header row quoted, numbers bare, a missing value written ``""``), an
  optional second row of ``"[t]"``/``"[f]"`` type hints, dates ``2014-04-20``
  or ``20140420``, times ``04:20:00`` or ``042000``, ``img_file_name`` a path
  inside the ZIP. With ``coma_as_separator`` the floats are quoted text with
  a decimal comma (``"18,0"``);
* the **import** format, what instruments and their software upload:
  unquoted, the ``[t]``/``[f]`` row mandatory, dates ``20140607``, times
  ``232500`` (or ``420`` for 04:20, spreadsheets drop the leading zeros),
  ``img_file_name`` a bare file name next to the TSV.

:func:`read_tsv` learns the layout (quoting, types row, decimal separator)
and each column's type from the first rows, then reads the table with one
:func:`pandas.read_csv` call while a thread counts the fields of every row
(pandas fills a short row without a word); dates, times, decimal commas and
integer ranks are fixed afterwards on each column's distinct values.

How a column's type is decided
------------------------------
In this order; the first rule that applies wins:

1. ``types=`` passed by the caller.
2. EcoTaxa's predefined fields (:data:`FIELD_KINDS`: ``object_id``,
   ``sample_id`` and ``img_file_name`` are text, ``object_lat`` a float,
   ``img_rank`` a nullable integer (``Int64``), ``object_date`` a date...)
   keep the type EcoTaxa gives them, whatever the types row says. A value
   that does not fit is an error.
3. The types row: ``[f]`` is a float column, ``[t]`` a text column. A value
   that is not a number in an ``[f]`` column is an error, except in
   ``sample_*``, ``acq_*`` and ``process_*`` columns: EcoTaxa stores those as
   text whatever the types row says, and real files have text there
   (``acq_lut_color_balance [f]`` = ``manual``), so such a column stays text.
4. Without a types row, the quoting of an export: a column whose values are
   quoted is text, a column whose values are bare is numeric (``int64`` or
   ``float64``, as pandas infers). A quoted decimal-comma number (``"1,5"``)
   counts as a number when the file writes all its floats that way (no bare
   value with a ``.``). A column that is empty in the sample and turns out
   to hold numbers is checked against the file, so a quoted ``"0012"``
   further down stays text.
5. Without a types row and without quoting (a hand-made table, EcoTaxa's
   per-sample summary): columns named ``*_id`` are text, the others numeric
   where every value is a number.

Text columns named ``date``, ``time``, ``*_date`` or ``*_time`` are then read
as dates or times when every value is one, and stay text otherwise. A float column
named so (``acq_exposure_time [f]``) stays a float.

Values
------
* Dates (``YYYY-MM-DD`` or ``YYYYMMDD``) become ``datetime64[ns]``.
* Times become ``"HH:MM:SS"`` text. ``HH:MM:SS`` and ``HH:MM`` are taken as
  they are; digits as EcoTaxa's import reads them: one to four digits are
  ``HHMM`` whose leading zeros were lost (``420`` is 04:20:00), five are
  ``HMMSS`` (``42500`` is 04:25:00), six ``HHMMSS``.
* An empty cell is missing (``NaN``, ``NaT``, ``<NA>``). In numeric, date
  and time columns ``nan`` and ``na`` in any letter case are missing too, as
  for EcoTaxa's import; in text columns they are text.
* Text is UTF-8 (a byte-order mark is allowed). A file that is not valid
  UTF-8 is read as ISO-8859-1, which is what EcoTaxa's import assumes.
* Column names are the header's, with surrounding spaces removed. EcoTaxa
  compares them in lower case, and so do the rules above.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...errors import InvalidDataError
from .. import _tables
from .._tables import Raw, Source

__all__ = ["FIELD_KINDS", "read_tsv"]

Kind = Literal["text", "float", "int", "date", "time"]

#: The types EcoTaxa gives its predefined fields, by lower-case column name.
#: :func:`read_tsv` applies them whatever the types row says.
FIELD_KINDS: dict[str, Kind] = {
    "object_id": "text",
    "sample_id": "text",
    "acq_id": "text",
    "process_id": "text",
    "img_file_name": "text",
    "object_link": "text",
    "object_annotation_category": "text",
    "object_annotation_hierarchy": "text",
    "object_annotation_status": "text",
    "object_annotation_person_name": "text",
    "object_annotation_person_email": "text",
    "sample_dataportal_descriptor": "text",
    "acq_instrument": "text",
    "object_lat": "float",
    "object_lon": "float",
    "object_depth_min": "float",
    "object_depth_max": "float",
    "img_rank": "int",
    "object_annotation_category_id": "int",
    "object_date": "date",
    "object_annotation_date": "date",
    "object_time": "time",
    "object_annotation_time": "time",
}

_ALIASES: dict[str, Kind] = {
    "t": "text",
    "[t]": "text",
    "text": "text",
    "str": "text",
    "f": "float",
    "[f]": "float",
    "float": "float",
    "int": "int",
    "date": "date",
    "time": "time",
}

#: Table prefixes of EcoTaxa's column names; a file needs one such column.
_PREFIXES = ("object_", "img_", "sample_", "acq_", "process_")
_PARENT_PREFIXES = ("sample_", "acq_", "process_")

_SAMPLE_BYTES = 1 << 20
"""At most this much of the start of the file is tokenised in Python."""

_SAMPLE_ROWS = 1000
"""At most this many data rows are tokenised in Python to decide the types."""

_NA_WORDS = sorted(
    {"".join(c) for w in ("nan", "na") for c in itertools.product(*((x, x.upper()) for x in w))}
)
_NUMERIC_NA = ["", *_NA_WORDS]
_TEXT_NA = [""]
_FIX_ROWS = "; fix the file (or export it again) so that every row has one field per column."

_TOKEN = re.compile(r'"((?:[^"]|"")*)"(?=\t|\r|\n|\Z)|([^\t\r\n]*)')
_COMMA_NUMBER = re.compile(r"[-+]?\d+,\d+(?:[eE][-+]?\d+)?")
_DOT_NUMBER = re.compile(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|[-+]?\d+\.\d*(?:[eE][-+]?\d+)?")
_TYPE_CELL = re.compile(r"\s*\[([tf])\]\s*", re.IGNORECASE)
_DATE = re.compile(r"(\d{4})(-?)(\d{2})\2(\d{2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DIGITS = re.compile(r"\d{1,6}")


def read_tsv(
    path_or_buffer: Source,
    *,
    usecols: Iterable[str] | None = None,
    types: Mapping[str, str] | None = None,
    strict: bool = True,
) -> pd.DataFrame:
    r"""Read an EcoTaxa TSV file (export or import format) into a typed DataFrame.

    Parameters
    ----------
    path_or_buffer : str, os.PathLike, bytes or file-like
        A path, the file's bytes, or a binary or text file object (for
        example a member of an export ZIP opened with :mod:`zipfile`). A
        ``str`` is always a path.
    usecols : iterable of str, optional
        The columns to read, by header name; the frame has them in this
        order. All columns by default.
    types : mapping of str to str, optional
        Column types that override the file's, by header name: ``"text"``
        (or ``"t"``), ``"float"`` (or ``"f"``), ``"int"``, ``"date"`` or
        ``"time"``. Values that do not fit raise :class:`InvalidDataError`.
        Use it to keep a column as text (``{"process_start_date": "text"}``)
        or to read a column the file leaves untyped. Columns the file does not
        have are ignored, so one mapping can serve several files.
    strict : bool, default True
        EcoTaxa's exports and the instruments' import files end every row
        with a line break, so a last line without one was most likely cut
        off (``13`` read as ``1``): raise :class:`InvalidDataError`, or with
        ``strict=False`` (a table saved without the final line break) warn
        and read it as it is.

    Returns
    -------
    pandas.DataFrame
        One row per data row, typed by the rules of :mod:`awiml.archives.ecotaxa.tsv`
        (text as pandas' ``str`` dtype). ``df.attrs`` records what was found:

        ``"source"``
            the path, or ``"<bytes>"`` / ``"<BytesIO>"``...;
        ``"ecotaxa_format"``
            ``"export"`` (quoted, as EcoTaxa exports), ``"import"``
            (unquoted with a types row, as instruments write) or
            ``"plain"`` (unquoted without a types row, e.g. the per-sample
            summary export);
        ``"types"``
            the types row as ``{column: "t" or "f"}``, ``None`` without one;
        ``"kinds"``
            what each column became: ``"text"``, ``"float"``, ``"int"``,
            ``"bool"``, ``"date"`` or ``"time"``;
        ``"decimal"``
            ``"."``, or ``","`` for an export with decimal commas;
        ``"encoding"``
            ``"utf-8"``, or ``"latin-1"`` for a file that is not UTF-8.

    Raises
    ------
    InvalidDataError
        The file is not an EcoTaxa TSV (empty, binary, not tab-separated, no
        ``object_*``, ``img_*``, ``sample_*``, ``acq_*`` or ``process_*``
        column), a column is nameless or repeated, the types row is
        malformed, a row has the wrong number of fields or an unclosed
        quote, the last line has no line break (``strict=True``) or a value
        does not fit its column's type. The message names the line.
    NotFoundError
        ``path_or_buffer`` is a path that does not exist.
    ValueError
        ``usecols`` names a column the file does not have, or ``types`` an
        unknown type.

    Examples
    --------
    An export (strings quoted, with the types row) and the same objects as an
    import file:

    >>> import io
    >>> export = io.StringIO(
    ...     '"object_id"\t"object_lat"\t"object_date"\t"object_time"\t"object_esd"\n'
    ...     '"[t]"\t"[f]"\t"[t]"\t"[t]"\t"[f]"\n'
    ...     '"0012"\t18.0\t"2014-04-20"\t"04:20:00"\t1.86\n'
    ...     '"0013"\t-44.7\t"2014-04-21"\t"23:25:00"\t""\n'
    ... )
    >>> df = read_tsv(export)
    >>> df["object_id"].tolist(), df["object_lat"].tolist(), df["object_esd"].tolist()
    (['0012', '0013'], [18.0, -44.7], [1.86, nan])
    >>> str(df["object_date"].dtype), df["object_time"].tolist()
    ('datetime64[ns]', ['04:20:00', '23:25:00'])
    >>> df.attrs["ecotaxa_format"], df.attrs["types"]["object_lat"]
    ('export', 'f')

    >>> imported = read_tsv(
    ...     b"object_id\tobject_date\tobject_time\n[t]\t[t]\t[t]\n"
    ...     b"0012\t20140420\t420\n0013\t20140421\t232500\n"
    ... )
    >>> imported["object_date"].dt.strftime("%Y-%m-%d").tolist(), imported["object_time"].tolist()
    (['2014-04-20', '2014-04-21'], ['04:20:00', '23:25:00'])
    >>> imported.attrs["ecotaxa_format"]
    'import'
    """
    overrides = _check_types(types)
    if not isinstance(strict, bool):
        raise ValueError(f"strict must be True or False, not {strict!r}")
    raw = _tables.load(path_or_buffer, caller="read_tsv()", what="an EcoTaxa TSV file")
    layout = _sniff(raw)
    _tables.check_end(raw, len(layout.names), strict=strict)
    columns = _plan(layout, overrides)
    selected = _select(columns, usecols, raw.name)
    frame = _Reader(raw, layout, columns, selected).read()
    frame.attrs.update(
        {
            "source": raw.name,
            "ecotaxa_format": layout.format,
            "types": dict(layout.types) if layout.types is not None else None,
            "kinds": {c.name: _final_kind(frame[c.name], c) for c in selected},
            "decimal": layout.decimal,
            "encoding": layout.encoding,
        }
    )
    return frame


@dataclass
class _Cell:
    """What the sample shows of one column."""

    quoted: int = 0
    """Non-empty quoted values."""
    bare: int = 0
    """Non-empty bare values."""
    comma: int = 0
    """Quoted values that are decimal-comma numbers."""


@dataclass
class _Layout:
    """What the first rows of a file tell about all of it."""

    names: list[str]
    format: str
    types: dict[str, str] | None
    decimal: str
    encoding: str
    cells: list[_Cell]
    data_line: int
    """1-based line number of the first data row."""
    whole: bool
    """Whether the sample is the whole file."""


def _tokenise(
    text: str, limit: int, source: str | None = None
) -> tuple[list[list[tuple[str, bool]]], list[int], int]:
    """Split ``text`` into rows of ``(value, quoted)`` fields, as the csv module would.

    Returns at most ``limit`` rows, the 1-based line number each starts on and
    the offset where tokenising stopped.
    Lines are split with :meth:`str.split`; only a line with a quoted value
    holding a TAB or a line break goes through the regular expression. With
    a ``source`` name, a value that opens a quote and does not close it before
    the next TAB or line break raises :class:`InvalidDataError`: csv readers
    (pandas, EcoTaxa) would read on across the separators and shift the
    columns of the rows after it.
    """
    rows: list[list[tuple[str, bool]]] = []
    starts: list[int] = []
    pos, end, line = 0, len(text), 1
    while pos < end and len(rows) < limit:
        stop = text.find("\n", pos)
        if stop < 0:
            stop = end
        row = _split_line(text[pos:stop].removesuffix("\r"))
        if row is None:
            row, after = _scan_row(text, pos, source, line)
        else:
            after = stop + 1
        rows.append(row)
        starts.append(line)
        line += text.count("\n", pos, after)
        pos = after
    return rows, starts, pos


def _split_line(line: str) -> list[tuple[str, bool]] | None:
    """Split one line into fields; ``None`` if a quoted value goes on past a TAB or the line."""
    if '"' not in line:
        return [(field, False) for field in line.split("\t")]
    out = []
    for field in line.split("\t"):
        if not field.startswith('"'):
            out.append((field, False))  # a " inside a bare value is an ordinary character
        elif len(field) > 1 and field.endswith('"') and '"' not in field[1:-1].replace('""', ""):
            out.append((field[1:-1].replace('""', '"'), True))
        else:
            return None
    return out


def _scan_row(
    text: str, pos: int, source: str | None, line: int
) -> tuple[list[tuple[str, bool]], int]:
    """Tokenise the row that starts at ``pos`` with the regular expression; return the next."""
    row: list[tuple[str, bool]] = []
    start, end = pos, len(text)
    while True:
        found = _TOKEN.match(text, pos)
        quoted = found.group(1)
        if quoted is not None:
            row.append((quoted.replace('""', '"'), True))
        else:
            value = found.group(2)
            if source is not None and value.startswith('"') and '"' not in value[1:]:
                raise InvalidDataError(
                    f"{source}: line {line + text.count(chr(10), start, pos)}, field "
                    f"{len(row) + 1}: the value {value[:40]!r} opens a double quote and "
                    "does not close it before the next TAB or line break, so the fields and rows "
                    "after it would shift. Remove the stray quote, or quote the whole value and "
                    'double the quotes inside it ("").'
                )
            row.append((value, False))
        pos = found.end()
        if pos < end and text[pos] == "\t":
            pos += 1
            continue
        if pos < end:
            pos += 2 if text.startswith("\r\n", pos) else 1
        return row, pos


def _decode_head(raw: Raw, head: bytes) -> tuple[str, str, bool]:
    """Decode the sample; return it, its encoding and whether it is the whole file."""
    whole = len(head) >= raw.size
    if not whole:
        # Cut at the last line break that is not inside a quoted field.
        cut = head.rfind(b"\n")
        while cut > 0 and head.count(b'"', 0, cut) % 2:
            cut = head.rfind(b"\n", 0, cut)
        if cut <= 0:
            cut = len(head)  # one enormous row: tokenise what there is
        head = head[: cut + 1]
    head = head.removeprefix(_tables.BOM)
    try:
        return head.decode("utf-8"), "utf-8", whole
    except UnicodeDecodeError:
        return head.decode("latin-1"), "latin-1", whole


def _sniff(raw: Raw) -> _Layout:
    """Find the header, the types row, the quoting and the decimal separator."""
    name = raw.name
    head = raw.head(_SAMPLE_BYTES)
    _tables.reject_binary(head, name, "an EcoTaxa TSV file")
    text, encoding, whole = _decode_head(raw, head)
    if not text.strip():
        raise InvalidDataError(
            f"{name} is empty: an EcoTaxa TSV starts with a header row of column names "
            "(object_id, img_file_name...). Was the download or the export interrupted?"
        )
    rows, starts, stopped = _tokenise(text, _SAMPLE_ROWS + 2, name)
    whole = whole and stopped >= len(text)
    if not whole and len(rows) > 1:
        rows, starts = rows[:-1], starts[:-1]  # the last one may be cut short
    header = rows[0]
    names = [value.strip() for value, _ in header]
    _check_header(names, name, text)
    quoted_header = any(quoted for _, quoted in header)
    body, body_starts = rows[1:], starts[1:]
    while body and body[-1] == [("", False)]:  # blank lines at the end
        body, body_starts = body[:-1], body_starts[:-1]

    types = _types_row(body[0], names, name, body_starts[0]) if body else None
    if types is not None:
        body, body_starts = body[1:], body_starts[1:]
    for row, line in zip(body, body_starts, strict=True):
        if len(row) != len(names) and row != [("", False)]:
            advice = ". A value may contain a TAB, or a field is missing" + _FIX_ROWS
            raise _tables.fields_error(name, f"line {line}", len(row), len(names), advice)
    cells = [_Cell() for _ in names]
    any_quoted = quoted_header
    dot_numbers = 0
    for row in body:
        for cell, (value, quoted) in zip(cells, row, strict=False):
            if not value:
                continue
            if quoted:
                cell.quoted += 1
                any_quoted = True
                if _COMMA_NUMBER.fullmatch(value):
                    cell.comma += 1
            else:
                cell.bare += 1
                if "." in value and _DOT_NUMBER.fullmatch(value):
                    dot_numbers += 1
    commas = sum(cell.comma for cell in cells)
    decimal = "," if any_quoted and commas and not dot_numbers else "."
    fmt = "export" if any_quoted else "import" if types is not None else "plain"
    data_line = 2 + (types is not None)
    return _Layout(names, fmt, types, decimal, encoding, cells, data_line, whole)


def _check_header(names: list[str], name: str, text: str) -> None:
    """Raise unless the header row looks like EcoTaxa's."""
    first_line = text.split("\n", 1)[0]
    if len(names) == 1:
        for sep, label in ((",", "comma"), (";", "semicolon")):
            if sep in first_line:
                raise InvalidDataError(
                    f"{name}: the header row (line 1) has no TAB but {label}s: this looks "
                    f"like a {label}-separated file. EcoTaxa TSV files are tab-separated; "
                    f"convert it, or read it with pandas.read_csv(..., sep={sep!r})."
                )
    lower = [n.lower() for n in names]
    if not any(n in FIELD_KINDS or n.startswith(_PREFIXES) for n in lower):
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        raise InvalidDataError(
            f"{name} is not an EcoTaxa TSV: none of the columns of its header row (line 1: "
            f"{shown}) is an EcoTaxa column (object_id, img_file_name, object_*, sample_*, "
            "acq_*, process_*). Is it the right file, and is it tab-separated?"
        )
    for index, column in enumerate(names):
        if not column:
            raise InvalidDataError(
                f"{name}: column {index + 1} of the header row (line 1) has no name. Remove "
                "the empty column (a TAB at the end of every line?) or name it."
            )
    seen: dict[str, int] = {}
    for index, column in enumerate(lower):
        if column in seen:
            raise InvalidDataError(
                f"{name}: columns {seen[column] + 1} and {index + 1} of the header row are both "
                f"named {names[index]!r} (EcoTaxa ignores case). Rename or remove one."
            )
        seen[column] = index


def _types_row(
    row: list[tuple[str, bool]], names: list[str], name: str, line: int
) -> dict[str, str] | None:
    """Read ``row`` as the ``[t]``/``[f]`` row: ``{column: "t" or "f"}``, ``None`` if data."""
    kinds = [_TYPE_CELL.fullmatch(value) for value, _ in row]
    hits = sum(match is not None for match in kinds)
    others = sum(
        match is None and bool(value.strip()) for match, (value, _) in zip(kinds, row, strict=True)
    )
    if not hits or (others and hits * 2 < len(row)):
        return None  # an ordinary data row, perhaps with a "[t]" in it
    if len(row) != len(names):
        where, advice = f"the types row (line {line})", "; it needs one [t] or [f] per column"
        raise _tables.fields_error(name, where, len(row), len(names), advice)
    for column, match, (value, _) in zip(names, kinds, row, strict=True):
        if match is None and value:
            raise InvalidDataError(
                f"{name}: line {line} is a types row ([t]/[f]), but column {column!r} has "
                f"{value!r} there. Write [t] (text) or [f] (number) for it."
            )
    return {
        column: match.group(1).lower()
        for column, match in zip(names, kinds, strict=True)
        if match is not None
    }


@dataclass
class _Column:
    """How to read and fix one column."""

    name: str
    index: int
    kind: str
    """``text``, ``float``, ``int``, ``date``, ``time`` or ``auto`` (pandas infers)."""
    strict: bool
    """Whether a value that does not fit ``kind`` is an error (else the column stays text)."""
    why: str
    """Where ``kind`` comes from, for error messages."""
    infer_fallback: bool = False
    """For a lenient date or time column: infer numbers if it is not one."""
    check_quotes: bool = False
    """An export column empty in the sample: check that numbers found later were bare."""

    @property
    def dtype(self) -> str | None:
        return "str" if self.kind in ("text", "date", "time") else None

    @property
    def na(self) -> list[str]:
        return _TEXT_NA if self.kind == "text" else _NUMERIC_NA


def _check_types(types: Mapping[str, str] | None) -> dict[str, Kind]:
    if types is None:
        return {}
    if not isinstance(types, Mapping):
        raise TypeError(f"types must be a mapping of column names to types, not {types!r}")
    out: dict[str, Kind] = {}
    for column, kind in types.items():
        resolved = _ALIASES.get(str(kind).strip().lower())
        if resolved is None:
            raise ValueError(
                f"types[{column!r}] = {kind!r}: use 'text' (or 't'), 'float' (or 'f'), 'int', "
                "'date' or 'time'"
            )
        out[str(column).strip().lower()] = resolved
    return out


def _plan(layout: _Layout, overrides: Mapping[str, Kind]) -> list[_Column]:
    """Decide every column's type from the rules in :mod:`awiml.archives.ecotaxa.tsv`."""
    columns = []
    export = layout.format == "export"
    for index, (name, cell) in enumerate(zip(layout.names, layout.cells, strict=True)):
        key = name.lower()
        declared = layout.types.get(name) if layout.types is not None else None
        named = _text_kind(key)
        strict = fallback = quotes = False
        if key in overrides:
            kind, strict, why = overrides[key], True, "types= asks for one"
        elif key in FIELD_KINDS:
            kind, strict, why = FIELD_KINDS[key], True, "EcoTaxa defines this column as one"
        elif declared == "f":
            # EcoTaxa stores sample, acquisition and process columns as text whatever
            # the types row says, and files put text in such [f] columns.
            kind, why = "float", "the types row says [f] (a number)"
            strict = not key.startswith(_PARENT_PREFIXES)
        elif declared == "t":
            kind, why = named, "the types row says [t]"
        elif export and cell.quoted:  # without a types row, an export's quoting is its type
            if layout.decimal == "," and not cell.bare and cell.comma == cell.quoted:
                kind, why = "float", "its values are decimal-comma numbers"
            else:
                kind, why = named, "its values are quoted"
        elif export and cell.bare:
            kind, why = "auto", "its values are bare numbers"
        elif key.endswith("_id") and not export:
            kind, why = "text", "identifiers are text"
        else:  # empty in the sample of an export, or a table without types row and quoting
            kind, why = "auto" if named == "text" else named, "its values"
            fallback, quotes = named != "text" and not export, named == "text" and export
        columns.append(_Column(name, index, kind, strict, why, fallback, quotes))
    return columns


def _text_kind(key: str) -> str:
    """``date`` or ``time`` for text columns named so, else ``text``."""
    if key == "date" or key.endswith("_date"):
        return "date"
    if key == "time" or key.endswith("_time"):
        return "time"
    return "text"


def _select(columns: list[_Column], usecols: Iterable[str] | None, name: str) -> list[_Column]:
    """Return the columns to read, in the order asked for."""
    if usecols is None:
        return columns
    if isinstance(usecols, str):
        raise TypeError("usecols must be a list of column names, not a str")
    by_name = {column.name: column for column in columns}
    wanted = list(dict.fromkeys(usecols))
    missing = [column for column in wanted if column not in by_name]
    if missing:
        raise ValueError(
            f"{name} has no column {', '.join(repr(m) for m in missing)}; its columns are "
            + ", ".join(repr(c.name) for c in columns[:12])
            + (", ..." if len(columns) > 12 else "")
        )
    return [by_name[column] for column in wanted]


class _Reader:
    """Parse the table with pandas and turn each column into its type."""

    def __init__(
        self, raw: Raw, layout: _Layout, columns: list[_Column], selected: list[_Column]
    ) -> None:
        self.raw = raw
        self.layout = layout
        self.columns = columns
        self.selected = selected
        self.name = raw.name

    def read(self) -> pd.DataFrame:
        # pandas parses without the GIL for the most part: count the fields beside it.
        with ThreadPoolExecutor(max_workers=1) as pool:  # waits for the count on exit
            checking = None if self.layout.whole else pool.submit(self._check_row_lengths)
            frame = self._read_csv(self.selected)
        if checking is not None:
            checking.result()  # pandas read the table: raise if the count found a short row
        retext = [
            column
            for column in self.selected
            if column.kind == "auto" and _is_mixed(frame[column.name])
        ]
        retext += self._quoted_numbers(frame)
        if retext:
            for column in retext:
                column.kind = "text"
            again = self._read_csv(retext)
            for column in retext:
                frame[column.name] = again[column.name]
        for column in self.selected:
            series = frame[column.name]
            fixed = self._fix(series, column)
            if fixed is not series:
                frame[column.name] = fixed
        return frame

    def _read_csv(self, columns: list[_Column]) -> pd.DataFrame:
        everything = len(columns) == len(self.columns)
        options: dict[str, Any] = {
            "header": None,
            "names": self.layout.names,
            "skiprows": self.layout.data_line - 1,
            "dtype": {c.name: c.dtype for c in columns if c.dtype is not None} or None,
            "na_values": {c.name: c.na for c in columns},
            "decimal": self.layout.decimal,
            "encoding": self.layout.encoding,
            "skip_blank_lines": True,
        }
        if not everything:
            # pandas then converts only these columns (and parses serially: it splits a
            # file between threads only without usecols).
            options["usecols"] = [c.name for c in columns]
        source = self.raw.path if self.raw.path is not None else self.raw.open()
        try:
            frame = _tables.read_csv(
                source, self.name, first_line=1, columns=len(self.layout.names), **options
            )
        except UnicodeDecodeError:
            if self.layout.encoding == "latin-1":
                raise
            self.layout.encoding = "latin-1"
            return self._read_csv(columns)
        if list(frame.columns) != [c.name for c in columns]:
            frame = frame[[c.name for c in columns]]
        return frame

    def _check_row_lengths(self) -> None:
        """Raise if a row beyond the tokenised sample has fewer fields than the header.

        pandas fills the missing fields of a short row with missing values and
        says nothing, so every line is counted here (rows with too many fields
        pandas reports itself). The count works on bytes: TABs per record,
        where a record goes on past a line break while a double quote is open
        (its quotes on the line are odd in number). TABs inside quoted values
        only raise the count, so a row is never called short wrongly; a stray
        quote in an unquoted value may hide a short row after it.
        """
        expected = len(self.layout.names) - 1
        short: tuple[int, int] | None = None
        last = True
        with self.raw.open(buffering=1 << 20) as handle:
            for _ in range(self.layout.data_line - 1):  # the header and the types row
                handle.readline()
            start, tabs, open_quote = 0, 0, False
            for number, line in enumerate(handle, start=self.layout.data_line):
                line_tabs = line.count(b"\t")
                odd_quotes = line.count(b'"') % 2
                if not open_quote:
                    whole = line_tabs >= expected and not odd_quotes  # a whole row on one line
                    if not whole and not line.strip(b"\r\n"):
                        continue
                    if short is not None:  # a short row followed by more rows
                        last = False
                        break
                    if whole:
                        continue
                    start, tabs = number, 0
                tabs += line_tabs
                if odd_quotes:
                    open_quote = not open_quote
                if not open_quote and tabs < expected:
                    short = (start, tabs + 1)
        if short is None:
            return
        if last:
            where = f"the last row (line {short[0]})"
            advice = (
                ": the file seems truncated (cut off during the download or the export?). "
                "Download or export it again."
            )
        else:
            where = f"line {short[0]}"
            advice = ". A field is missing (or a TAB was lost)" + _FIX_ROWS
        raise _tables.fields_error(self.name, where, short[1], expected + 1, advice)

    def _quoted_numbers(self, frame: pd.DataFrame) -> list[_Column]:
        """Columns empty in the sample whose first value, read as a number, was quoted."""
        firsts: dict[int, tuple[int, _Column]] = {}  # the 0-based line of the first value
        for column in self.selected:
            series = frame[column.name]
            if column.check_quotes and series.dtype.kind in "biuf":
                valid = series.notna().to_numpy()
                if valid.any():
                    line = self.layout.data_line - 1 + int(np.argmax(valid))
                    firsts[column.index] = (line, column)
        if not firsts:
            return []
        wanted = {line for line, _ in firsts.values()}
        lines: dict[int, str] = {}
        with self.raw.open() as handle:
            for number, line in enumerate(itertools.islice(handle, max(wanted) + 1)):
                if number in wanted:
                    lines[number] = line.decode(self.layout.encoding, "replace").rstrip("\r\n")
        text_columns = []
        for index, (line, column) in firsts.items():
            fields, _, _ = _tokenise(lines.get(line, ""), 1)
            cells = fields[0] if fields else []
            if len(cells) != len(self.layout.names) or cells[index][1]:
                # Quoted, or a value spans lines and the row cannot be found: keep the text.
                text_columns.append(column)
        return text_columns

    def _fix(self, series: pd.Series, column: _Column) -> pd.Series:
        kind = column.kind
        if kind == "text":
            return series if _is_text(series) else _as_text(series)
        if kind == "float":
            try:
                return self._numbers(series, column)
            except InvalidDataError:
                if column.strict:
                    raise
                return _as_text(series)  # a sample_*, acq_* or process_* column with text
        if kind == "int":
            return self._int(series, column)
        if kind in ("date", "time"):
            parsed = self._dates(series, column) if kind == "date" else self._times(series, column)
            if parsed is not None:
                return parsed
            # A lenient column that is not all dates or times: text, or numbers.
            if column.infer_fallback:
                numbers = pd.to_numeric(series, errors="coerce")
                if numbers.notna().sum() == series.notna().sum():
                    return numbers
            return series
        # "auto": whatever pandas inferred; an all-empty column is float.
        if series.dtype == object and series.isna().all():
            return series.astype("float64")
        return series

    def _numbers(self, series: pd.Series, column: _Column) -> pd.Series:
        """``series`` as float64 (decimal commas allowed), or raise naming the first bad value."""
        if series.dtype == np.float64:
            return series
        if series.dtype.kind in "biuf" or series.isna().all():
            return series.astype("float64")
        text = _as_text(series)
        numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
        numbers = numbers.astype("float64")
        bad = np.flatnonzero(text.notna().to_numpy() & numbers.isna().to_numpy())
        if bad.size:
            row = int(bad[0])
            raise self._value_error(row, text.iloc[row], column, "a number", bad.size)
        return numbers

    def _int(self, series: pd.Series, column: _Column) -> pd.Series:
        numbers = self._numbers(series, column)
        values = numbers.to_numpy()
        bad = np.flatnonzero(~np.isnan(values) & (values != np.round(values)))
        if bad.size:
            row = int(bad[0])
            value = series.iloc[row]  # as in the file: '1.5', not np.float64(1.5)
            value = value if isinstance(value, str) else str(float(value))
            why = f", but {column.why}. Fix the file, or pass types={{{column.name!r}: 'float'}}."
            where = self._where(row)
            raise _tables.value_error(self.name, where, value, column.name, "a whole number", why)
        return numbers.astype("Int64")

    def _dates(self, series: pd.Series, column: _Column) -> pd.Series | None:
        """Turn ``YYYY-MM-DD`` or ``YYYYMMDD`` into ``datetime64[ns]`` (``None``: see _distinct)."""
        if series.dtype.kind == "M":
            return series.astype("datetime64[ns]")
        what = "a date (YYYY-MM-DD or YYYYMMDD)"
        return self._distinct(series, column, _date_value, "datetime64[ns]", what)

    def _times(self, series: pd.Series, column: _Column) -> pd.Series | None:
        """Turn times in EcoTaxa's forms into ``"HH:MM:SS"`` text (``None``: see _distinct)."""
        what = "a time (HH:MM:SS, HHMMSS or HHMM)"
        return self._distinct(series, column, _time_text, "str", what)

    def _distinct(
        self, series: pd.Series, column: _Column, parse: Any, dtype: str, what: str
    ) -> pd.Series | None:
        """Apply ``parse`` to each distinct value once: ``None`` means not ``what``.

        Such a value raises, or in a lenient column makes the result ``None``.
        """
        codes, uniques = pd.factorize(_as_text(series))
        parsed = [parse(str(u)) for u in uniques]
        failed = np.array([p is None for p in parsed] + [False], dtype=bool)
        if failed.any():
            if not column.strict:
                return None
            bad_rows = np.flatnonzero((codes >= 0) & failed[codes])
            row = int(bad_rows[0])
            raise self._value_error(row, uniques[codes[row]], column, what, bad_rows.size)
        table = np.array([*parsed, None], dtype=object if dtype == "str" else dtype)
        values = table[np.where(codes >= 0, codes, len(parsed))]
        return pd.Series(values, index=series.index, name=series.name, dtype=dtype)

    def _where(self, row: int) -> str:
        """Name data row ``row`` (0-based) and its line (if no value spans lines)."""
        return f"line {self.layout.data_line + row} (data row {row + 1})"

    def _value_error(
        self, row: int, value: Any, column: _Column, what: str, count: int
    ) -> InvalidDataError:
        """Say which value (the first of ``count``) does not fit its column, and what to do."""
        why = (
            f", but {column.why}"
            + (f" ({count} such values)" if count > 1 else "")
            + f". Fix the file, or pass types={{{column.name!r}: 'text'}} to read the "
            "column as text."
        )
        return _tables.value_error(self.name, self._where(row), value, column.name, what, why)


def _as_text(series: pd.Series) -> pd.Series:
    """``series`` as text, missing values kept missing (pandas 2 would write ``"nan"``)."""
    if isinstance(series.dtype, pd.StringDtype):
        return series
    missing = series.isna()
    text = series.astype("str")
    if missing.any():
        text = text.where(~missing, None)
    return text


def _is_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype) or (
        series.dtype == object and all(isinstance(v, str) for v in series.dropna().head(1))
    )


def _is_mixed(series: pd.Series) -> bool:
    """Whether pandas read part of a column as numbers and part as text."""
    if series.dtype != object:
        return False
    values = series.dropna()
    return not values.empty and values.map(type).nunique() > 1


def _date_value(text: str) -> np.datetime64 | None:
    """One date as EcoTaxa writes it; ``None`` if it is not one."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    year, _, month, day = match.groups()
    try:
        return np.datetime64(f"{year}-{month}-{day}", "ns")
    except ValueError:
        return None


def _time_text(text: str) -> str | None:
    """One time as EcoTaxa reads it, as ``HH:MM:SS``; ``None`` if it is not one."""
    text = text.strip()
    clock = _CLOCK.fullmatch(text)
    if clock is not None:
        hours, minutes, seconds = clock.group(1), clock.group(2), clock.group(3) or "00"
    elif _DIGITS.fullmatch(text):
        digits = text.zfill(4) if len(text) <= 4 else text.zfill(6)
        digits = digits.ljust(6, "0")
        hours, minutes, seconds = digits[0:2], digits[2:4], digits[4:6]
    else:
        return None
    h, m, s = int(hours), int(minutes), int(seconds)
    if h > 23 or m > 59 or s > 59:
        return None
    return f"{h:02d}:{m:02d}:{s:02d}"


def _final_kind(series: pd.Series, column: _Column) -> str:
    """Say what a column became, for ``attrs["kinds"]``."""
    kinds = {"M": "date", "f": "float", "i": "int", "u": "int", "b": "bool"}
    return kinds.get(series.dtype.kind, "time" if column.kind == "time" else "text")
