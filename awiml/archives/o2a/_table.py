"""Read the tab-separated answer of the O2A data web service into a table.

The answer of ``GET /data?...&format=text/tab-separated-values`` has one header
row ``datetime<TAB><code> (<function>) [<unit>]...`` and one row per time,
``YYYY-MM-DD HH:MM:SS<TAB>value...``, in UTC.

Assumptions, from the service's answers and AWI's description of the format
(UTF-8, TAB between fields, LF between records, ``[]`` for a sensor without a
unit, a quality-flag column labelled like its value column followed by
``(quality_flag)``; times ``YYYY-MM-DD HH:MM:SS`` with an optional ``T`` and
fraction of a second, UTC):

- tolerated: a UTF-8 byte-order mark, CR LF line ends, blanks around labels and
  values, blank lines at the end, a header in ISO-8859-1, a zone designator on
  the times (converted to UTC), empty values (missing), a flag column labelled
  ``<code> (quality_flag)`` right after its value column (AWI's ingest form; its
  label is read as ``<value label> (quality_flag)``);
- refused, with the line: a row with more or fewer fields than the header (a
  value would land under the wrong sensor), a time or a value that is not one,
  a header that is not ``datetime`` followed by sensor labels, two columns with
  the same label, and binary content. A byte that is not UTF-8 in a row makes
  its time or value "not a time" or "not a number"; a time of 48 characters or
  more is not a time.

A last line without its line break is read: the service's answers come over HTTP,
whose framing (``Content-Length`` or chunked encoding) tells a cut-off answer,
and the transfer engine checks files fetched into a workspace.

Values are numbers: text-valued streams are refused at the first text value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import InvalidDataError
from .. import _tables
from .._tables import Source
from ._codes import parse_label

_FLAG = re.compile(r"\s*\(\s*quality[_ ]?flags?\s*\)\s*$", re.IGNORECASE)
_WHAT = "an O2A data table"
#: Bytes kept of a time (``YYYY-MM-DD HH:MM:SS`` has 19); a longer one is refused.
_TIME_WIDTH = 48


@dataclass(frozen=True)
class Column:
    """One column of a data table, its label split.

    Attributes
    ----------
    label : str
        The label as the service wrote it (blanks stripped).
    code : str
        The sensor code, lower-case.
    function : str or None
        The aggregate function, lower-case, when the label names one.
    unit : str or None
        The unit as written, ``None`` for ``[]`` or none.
    flag : bool
        Whether the column holds the quality flags of the values of
        ``code`` (and ``function``) rather than values.
    """

    label: str
    code: str
    function: str | None
    unit: str | None
    flag: bool = False


@dataclass(frozen=True)
class SensorTable:
    """A data table as read: values by time, and what each column holds.

    Attributes
    ----------
    frame : pandas.DataFrame
        Index ``time`` (UTC timestamps), one float column per label, in the
        file's order; flags are floats too (missing: NaN).
    columns : tuple of Column
        One entry per column of ``frame``, same order.
    """

    frame: pd.DataFrame
    columns: tuple[Column, ...]


def read_table(source: Source, *, name: str | None = None) -> SensorTable:
    r"""Read an answer of the O2A data web service (tab-separated values).

    Parameters
    ----------
    source : path, bytes or file object
        The answer as the service sent it.
    name : str, optional
        What to call it in messages (a URL, say); the path or ``<bytes>`` by default.

    Returns
    -------
    SensorTable

    Raises
    ------
    InvalidDataError
        When the content is not such a table; the message names the line.

    Examples
    --------
    >>> answer = (b"datetime\tvessel:heincke:dwd:air_pressure (mean) [hPa]\n"
    ...           b"2024-03-18 20:00:00\t1018.000000\n"
    ...           b"2024-03-18 21:00:00\t1017.500000\n")
    >>> table = read_table(answer)
    >>> table.frame.iloc[:, 0].tolist(), table.columns[0].unit
    ([1018.0, 1017.5], 'hPa')
    >>> table.frame.index[0]
    Timestamp('2024-03-18 20:00:00+0000', tz='UTC')
    """
    raw = _tables.load(source, caller="read_table()", what=_WHAT, read_path=_tables.read_all)
    label = name or raw.name
    data = raw.read()
    _tables.reject_binary(data[:1 << 16], label, _WHAT)
    if b"\x00" in data:
        _tables.reject_binary(data, label, _WHAT)
    start = len(_tables.BOM) if data.startswith(_tables.BOM) else 0
    if b"\r" in data:
        data = data[start:].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        start = 0
    end = len(data)
    while end > start and data[end - 1] == 10:  # blank lines at the end
        end -= 1
    if end == start:
        raise InvalidDataError(
            f"{label} is empty: an answer of the O2A data service starts with a header "
            "row 'datetime<TAB><sensor code> (<function>) [<unit>]'."
        )
    header_end = data.find(b"\n", start, end)
    header_end = end if header_end < 0 else header_end
    columns = _header(bytes(data[start:header_end]), label)
    width = len(columns) + 1
    counts = _tables.scan(data, start, end).fields
    wrong = np.flatnonzero(counts != width)
    if wrong.size:
        line = int(wrong[0]) + 1
        raise _tables.fields_error(
            label, f"line {line}", int(counts[wrong[0]]), width,
            ". The table cannot be read safely: fetch it again; if it persists, the "
            "service's answer is malformed.",
        )
    labels = [column.label for column in columns]
    if header_end >= end:
        index = pd.DatetimeIndex([], tz="UTC", name="time")
        frame = pd.DataFrame({key: np.empty(0) for key in labels}, index=index)
        return SensorTable(frame, tuple(columns))
    body = _tables.BufferReader(data, header_end + 1, end)
    frame = _tables.read_csv(
        body, label, first_line=2, columns=width, header=None,
        names=["datetime", *range(len(labels))], dtype={"datetime": f"S{_TIME_WIDTH}"},
        na_values=[""], encoding_errors="replace",  # a stray byte: "not a time/number"
    )
    times = _times(frame.pop("datetime"), label)
    values = {}
    for position, key in enumerate(labels):
        values[key] = _numbers(frame[position], label, key)
    result = pd.DataFrame(values, index=pd.DatetimeIndex(times, name="time"))
    return SensorTable(result, tuple(columns))


def _header(line: bytes, name: str) -> list[Column]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line.decode("iso-8859-1")
    fields = [field.strip() for field in text.split("\t")]
    if fields[0].lower() != "datetime" or len(fields) < 2:
        raise InvalidDataError(
            f"{name}: line 1 should be the header 'datetime<TAB><sensor code> (<function>) "
            f"[<unit>]...', found {text[:120]!r}. Is this an answer of the O2A data service "
            "(format=text/tab-separated-values)?"
        )
    columns = []
    seen: set[str] = set()
    for field in fields[1:]:
        match = _FLAG.search(field)
        flag = match is not None
        body = field[: match.start()] if match else field
        try:
            code, function, unit = parse_label(body)
        except InvalidDataError as exc:
            raise InvalidDataError(f"{name}: line 1: {exc}") from None
        previous = columns[-1] if columns else None
        if (flag and function is None and unit is None and previous is not None
                and not previous.flag and previous.code == code.lower()):
            # "<code> (quality_flag)" (AWI's ingest form) flags the value column before it
            field = f"{previous.label} (quality_flag)"
            function, unit = previous.function, previous.unit
        if field in seen:
            raise InvalidDataError(
                f"{name}: line 1 has the column {field!r} twice; the values cannot be told "
                "apart. Ask for each sensor and function once."
            )
        seen.add(field)
        columns.append(Column(field, code.lower(), function, unit, flag))
    return columns


def _times(texts: pd.Series, name: str) -> pd.DatetimeIndex:
    """Parse the time column, read as fixed-width bytes (fast; no Python objects)."""
    values = texts.to_numpy()
    if values.dtype.kind != "S":
        values = values.astype(f"S{_TIME_WIDTH}")
    if values.size and np.char.str_len(values).max() >= _TIME_WIDTH:  # maybe cut by the dtype
        return _bad_time(texts, int(np.argmax(np.char.str_len(values) >= _TIME_WIDTH)), name)
    first, last = values[:1].tobytes()[:1], values[-1:].tobytes().rstrip(b"\0")[-1:]
    if (first.isspace() or last.isspace()
            or (np.char.startswith(values, b" ") | np.char.endswith(values, b" ")).any()):
        values = np.char.strip(values)
    parsed = _tables.numpy_dates(values, texts.index, "time")
    if parsed is None:
        cleaned = np.char.decode(values, "utf-8", "replace").astype(object)
        try:
            parsed = pd.Series(pd.to_datetime(cleaned, format="ISO8601", utc=True))
        except (ValueError, TypeError, OverflowError):
            bad = [i for i, text in enumerate(cleaned) if not _is_time(text)]
            return _bad_time(texts, bad[0] if bad else 0, name)
    index = pd.DatetimeIndex(parsed)  # not via to_numpy(): that makes Timestamp objects
    if index.hasnans:
        return _bad_time(texts, int(np.flatnonzero(index.isna())[0]), name)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return index.tz_convert("UTC")


def _is_time(text: str) -> bool:
    try:
        return pd.Timestamp(text) is not pd.NaT
    except (ValueError, TypeError, OverflowError):
        return False


def _bad_time(texts: pd.Series, row: int, name: str) -> pd.DatetimeIndex:
    value = texts.iloc[row]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    raise _tables.value_error(
        name, f"line {row + 2}", value, "datetime", "a time",
        " (expected YYYY-MM-DD HH:MM:SS, UTC).",
    )


def _numbers(series: pd.Series, name: str, label: str) -> np.ndarray:
    if series.dtype.kind in "fiu":
        return series.to_numpy(dtype=np.float64)
    converted = pd.to_numeric(series.str.strip(), errors="coerce")
    bad = converted.isna() & series.notna() & (series.str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise _tables.value_error(
            name, f"line {row + 2}", series.iloc[row], label, "a number",
            ". The O2A reader takes numeric streams only.",
        )
    return converted.to_numpy(dtype=np.float64)

