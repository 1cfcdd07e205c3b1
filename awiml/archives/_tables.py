"""The one core of the readers of archive text tables.

PANGAEA's tab-delimited text (:mod:`.pangaea.text`), EcoTaxa's TSV
(:mod:`.ecotaxa.tsv`) and the tab-separated answers of AWI's O2A data web
service are tables with a header row, read from a path, bytes or a file
object. What they share lives here: loading a source (:func:`load`), binary
content and encodings (:func:`reject_binary`, :func:`is_utf8`), the field
counts of all lines in one NumPy pass (:func:`scan`), :func:`pandas.read_csv`
with line-numbered errors (:func:`read_csv`), the line-numbered errors of
wrong rows and values, a cut-off last line (:func:`check_end`) and ISO 8601
dates parsed safely by NumPy (:func:`numpy_dates`, :func:`utc`). Each format
module keeps only its own rules (PANGAEA's metadata block and flags,
EcoTaxa's types row and quoting).
"""

from __future__ import annotations

import codecs
import io
import os
import re
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

import numpy as np
import pandas as pd

from ..errors import InvalidDataError, NotFoundError

#: What the readers read: a path, the file's bytes, or a file object.
Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | TextIO

BOM = codecs.BOM_UTF8
TAB, NL = 9, 10
SCAN_CHUNK = 1 << 20
"""Bytes per piece of the NumPy pass over a table (fits in the CPU cache)."""
PARALLEL_MIN = 8 << 20
"""Tables at least this large are scanned by several threads."""
_DECODE_CHUNK = 1 << 24
"""Bytes per step when checking that a buffer is valid UTF-8."""
_CAST_CHUNK = 500
"""Values per NumPy cast to ``datetime64``: NumPy keeps the GIL for at most 500 (see below)."""
_ZONE = re.compile(r"T[\d:.]*(?:Z|[+-]\d\d(?::?\d\d)?)$")
_PARSER_LINE = re.compile(r"\bline (\d+)")
_PARSER_ROW = re.compile(r"starting at row (\d+)")


@dataclass
class Raw:
    """A table's bytes (or its local path, read when needed) and its name for messages."""

    name: str
    path: str | None
    data: bytes | bytearray | None
    """The content; ``None`` for a path that was not read."""
    size: int
    owned: bool = False
    """Whether ``data`` is a private bytearray that may be modified."""
    transcoded: bool = False
    """Whether ``data`` was re-encoded to UTF-8 from a legacy encoding."""

    def open(self, buffering: int = -1) -> BinaryIO:
        """Open the content from its start as a binary file object."""
        if self.data is None:
            return open(self.path or "", "rb", buffering=buffering)
        return io.BytesIO(self.data)

    def head(self, size: int) -> bytes:
        """Return the first ``size`` bytes."""
        if self.data is not None:
            return bytes(self.data[:size])
        with self.open() as handle:
            return handle.read(size)

    def read(self) -> bytes | bytearray:
        """Return all of the content."""
        if self.data is not None:
            return self.data
        with self.open() as handle:
            return handle.read()

    def ends_with_line_break(self) -> bool:
        """Whether the last byte is a line break (LF or CR)."""
        if self.data is not None:
            return self.data[-1:] in (b"\n", b"\r")
        with self.open() as handle:
            handle.seek(max(self.size - 1, 0))
            return handle.read(1) in (b"\n", b"\r")


def load(
    source: Source,
    *,
    caller: str,
    what: str,
    read_path: Callable[[BinaryIO], bytes | bytearray] | None = None,
    read_handle: Callable[[Any], bytes | str] | None = None,
    fallback: str = "ISO-8859-1",
) -> Raw:
    """Turn ``source`` into a :class:`Raw`.

    ``caller`` (``"read_text()"``) and ``what`` (``"a PANGAEA text file"``)
    go into messages. A path is read with ``read_path`` (default: not read,
    only its size taken), a file object with ``read_handle`` (default: its
    ``read``). ``fallback`` names the encodings tried after UTF-8, for
    the message when a text file object cannot decode the file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = source if isinstance(source, (bytes, bytearray)) else bytes(source)
        return Raw("<bytes>", None, data, len(data))
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        name = os.fsdecode(path)
        if "\n" in name or "\t" in name:
            raise InvalidDataError(
                f"{caller} got a str with line breaks or TABs: a str is taken as a path. "
                "Pass the table as bytes (text.encode()) or as io.StringIO(text)."
            )
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = read_path(handle) if read_path is not None else None
        except FileNotFoundError:
            raise NotFoundError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise InvalidDataError(
                f"{name} is a directory, not {what}; pass the file inside it"
            ) from None
        return Raw(name, name, data, size, owned=isinstance(data, bytearray))
    if hasattr(source, "read_bytes") and not hasattr(source, "read"):
        # A pathlib-like object that is not a local path (importlib.resources).
        data = source.read_bytes()
        return Raw(str(source), None, data, len(data))
    if hasattr(source, "read"):
        label = getattr(source, "name", None)
        name = label if isinstance(label, str) else f"<{type(source).__name__}>"
        read = source.read if read_handle is None else (lambda: read_handle(source))
        data = read_source(source, name, read, fallback)
        return Raw(name, None, data, len(data))
    raise TypeError(f"{caller} takes a path, bytes or a file object, not {type(source).__name__}")


def read_all(handle: BinaryIO) -> bytearray:
    """Read an open binary file into a new bytearray (one copy, no intermediate bytes)."""
    try:
        size = os.fstat(handle.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        size = 0
    buffer = bytearray(size)
    filled = handle.readinto(buffer) if size else 0
    del buffer[filled:]
    rest = handle.read()
    if rest:
        buffer += rest
    return buffer


def read_source(source: Any, name: str, read: Any, fallback: str) -> bytes | bytearray:
    """Call ``read()`` on the file object ``source`` and return bytes.

    A text file object's ``str`` is encoded as UTF-8 (``surrogateescape``
    keeps bytes it could not decode). Decoding or encoding errors become
    :class:`InvalidDataError` naming the line and byte, the encoding tried,
    and what to do; ``fallback`` names the encodings the reader tries after
    UTF-8 when it gets bytes.
    """
    try:
        data = read()
    except UnicodeDecodeError as error:
        raise _decode_error(source, name, error, fallback) from None
    if isinstance(data, str):
        try:
            return data.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError as error:
            line = data.count("\n", 0, error.start) + 1
            raise InvalidDataError(
                f"{name}: line {line} holds U+{ord(data[error.start]):04X}, a lone surrogate "
                "that no encoding can write: the text was decoded wrongly before it got here. "
                "Pass the file's bytes (or open it in binary mode, 'rb') instead."
            ) from None
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{name}: read() returned {type(data).__name__}, not bytes or str")
    return data


def _decode_error(
    source: Any, name: str, error: UnicodeDecodeError, fallback: str
) -> InvalidDataError:
    """Say where a text file object failed to decode the file, and what to do instead."""
    encoding = getattr(source, "encoding", None) or error.encoding
    where = ""
    try:  # find the offset in the whole file: the error's is within one chunk
        buffer = source.buffer
        buffer.seek(0)
        raw = buffer.read()
        raw.decode(encoding)
    except UnicodeDecodeError as exact:
        line = raw.count(b"\n", 0, exact.start) + 1
        where = f" on line {line}, at byte {exact.start} ({raw[exact.start : exact.end]!r})"
    except (AttributeError, OSError, ValueError, LookupError):
        pass
    return InvalidDataError(
        f"{name}: the text file object cannot decode the file as {encoding}{where}. Open it "
        f"in binary mode ('rb') or pass its path: the encoding is then detected (UTF-8, "
        f"else {fallback})."
    )


def reject_binary(data: bytes | bytearray, name: str, what: str) -> None:
    """Raise for compressed, binary or UTF-16 content, saying what it is and what to do."""
    nul = data.find(b"\x00")
    if data[:4] == b"PK\x03\x04":
        hint = "It is a ZIP archive: open the file inside it (zipfile.ZipFile(...).open(member))."
    elif data[:2] == b"\x1f\x8b":
        hint = "It is gzip-compressed: read gzip.open(path, 'rb') instead of the path."
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        hint = "It is UTF-16 text: save it as UTF-8 and read it again."
    elif nul >= 0:
        hint = f"Is it a binary file rather than {what}?"
    else:
        return
    if nul < 0:
        raise InvalidDataError(f"{name} is not text. {hint}")
    line = data.count(b"\n", 0, nul) + 1
    raise InvalidDataError(f"{name}: line {line} contains a NUL byte (offset {nul}). {hint}")


def is_utf8(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` is valid UTF-8 (checked in pieces, so no big string is built)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _DECODE_CHUNK):
            decoder.decode(view[start : start + _DECODE_CHUNK], final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_end(raw: Raw, columns: int, *, strict: bool) -> None:
    """Raise (``strict``) or warn if the file's last line has no line break.

    The exports of PANGAEA and EcoTaxa end every line, the last one included,
    with a line break: a file whose last line has none was most likely cut
    off, inside its last value, which then reads as a different number. A
    last line with fewer than ``columns`` fields is left to the field
    counts, which say that the file seems truncated.
    """
    if raw.ends_with_line_break():
        return
    data = raw.read()
    if data.count(b"\t", data.rfind(b"\n") + 1) + 1 < columns:
        return
    name, line = raw.name, data.count(b"\n") + 1
    message = (
        f"{name}: the last line (line {line}) has no line break, so the file seems cut off "
        "inside it (its last value may be incomplete)"
    )
    if strict:
        raise InvalidDataError(
            f"{message}. Fetch or export the file again; if it is complete (written by hand, "
            "without the final line break), read it with strict=False."
        )
    warnings.warn(f"{message}; read as it is (strict=False).", UserWarning, stacklevel=3)


class BufferReader:
    """A minimal binary file object over part of a buffer, without copying it first."""

    def __init__(self, data: bytes | bytearray, start: int, end: int) -> None:
        self._view = memoryview(data)
        self._pos = start
        self._end = end

    def read(self, size: int | None = -1) -> bytes:
        start = self._pos
        stop = self._end if size is None or size < 0 else min(self._end, start + size)
        self._pos = stop
        return bytes(self._view[start:stop])

    def __iter__(self) -> Any:
        return iter(self.read().splitlines(keepends=True))


@dataclass
class Scan:
    """What one pass over a table's bytes found."""

    fields: np.ndarray
    """Number of fields of each line (line 0 is the header row)."""
    rows: np.ndarray
    """Data row (0-based) of each cell that starts with one of the marked characters."""
    cols: np.ndarray
    offsets: np.ndarray
    """Offset in the buffer of the first character of each such cell."""


def _scan_piece(
    arr: np.ndarray, start: int, stop: int, marks: np.ndarray | None
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Separators and marked cells in ``arr[start:stop]``.

    Returns the number of separators (TAB or line break), the indices among
    them of the line breaks, the indices of those followed by a marked
    character, and the offsets (in ``arr``) of these characters.
    """
    piece = arr[start:stop]
    mask = piece == TAB
    mask |= piece == NL
    positions = np.flatnonzero(mask)
    newlines = np.flatnonzero(piece[positions] == NL)
    if marks is None:
        return positions.size, newlines, positions[:0], positions[:0]
    following = positions + (start + 1)
    if following.size and following[-1] >= arr.size:
        following = following[:-1]
    marked = np.flatnonzero(marks[arr[following]])
    return positions.size, newlines, marked, following[marked]


def scan(data: bytes | bytearray, start: int, end: int, marks: np.ndarray | None = None) -> Scan:
    """Count the fields of every line and find marked cells, in one vectorised pass.

    ``data[start:end]`` is the table: the header row, then the data rows,
    without the trailing line breaks; there is no quoting. ``marks`` is a
    boolean table of 256 entries: the cells of the data rows whose first
    byte it marks are reported (PANGAEA's quality flags). The bytes are
    scanned in pieces of :data:`SCAN_CHUNK`, by several threads from
    :data:`PARALLEL_MIN`.
    """
    arr = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    bounds = [(a, min(arr.size, a + SCAN_CHUNK)) for a in range(0, arr.size, SCAN_CHUNK)]
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if arr.size >= PARALLEL_MIN and workers > 1:
        with ThreadPoolExecutor(max_workers=min(4, workers)) as pool:
            pieces = list(pool.map(lambda bound: _scan_piece(arr, *bound, marks), bounds))
    else:
        pieces = [_scan_piece(arr, a, b, marks) for a, b in bounds]
    counts = np.array([piece[0] for piece in pieces], dtype=np.int64)
    firsts = np.cumsum(counts) - counts
    total = int(counts.sum())
    empty = np.empty(0, np.int64)

    def joined(item: int, shift: bool = True) -> np.ndarray:
        parts = [p[item] + f if shift else p[item] for p, f in zip(pieces, firsts, strict=True)]
        return np.concatenate([empty, *parts]).astype(np.int64)

    newline_idx, marked_idx, offsets = joined(1), joined(2), joined(3, shift=False)
    # Fields per line = separators up to and including its line break; the
    # last line has none (trailing line breaks were cut off), hence ``total``.
    fields_per_line = np.diff(np.append(newline_idx, total), prepend=-1)
    if not (marked_idx.size and newline_idx.size):
        return Scan(fields_per_line, empty, empty, empty)
    in_data = marked_idx >= newline_idx[0]  # cells of the header row do not count
    marked_idx, offsets = marked_idx[in_data], offsets[in_data]
    line = np.searchsorted(newline_idx, marked_idx, side="left")
    at_newline = newline_idx[np.minimum(line, newline_idx.size - 1)] == marked_idx
    previous = np.where(line > 0, newline_idx[np.maximum(line - 1, 0)], -1)
    rows = np.where(at_newline, line, line - 1)  # line 0 is the header row
    cols = np.where(at_newline, 0, marked_idx - previous)
    return Scan(fields_per_line, rows, cols, offsets + start)


def fields_error(
    name: str, where: str, found: int, expected: int, advice: str, header: str = "the header row"
) -> InvalidDataError:
    """Return the error for a row (``where``: ``"line 7"``) without ``expected`` fields."""
    return InvalidDataError(
        f"{name}: {where} has {found} field{'s' if found != 1 else ''}, but {header} has "
        f"{expected}{advice}"
    )


def value_error(
    name: str, where: str, value: Any, column: str, what: str, why: str
) -> InvalidDataError:
    """Return the error for a ``value`` of a ``column`` that is not ``what``."""
    return InvalidDataError(f"{name}: {where}: {value!r} in column {column!r} is not {what}{why}")


def first(mask: np.ndarray) -> int:
    """Return the index of the first true value of ``mask`` (0 if none)."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else 0


def read_csv(source: Any, name: str, *, first_line: int, columns: int, **options: Any):
    """:func:`pandas.read_csv` of a tab-separated table, its errors line-numbered.

    ``first_line`` is the file's line number of the first line pandas reads,
    ``columns`` the number of columns of the header row. pandas' mixed-type
    warning is silenced: the readers look at each column's values themselves.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(
                source, sep="\t", engine="c", index_col=False, keep_default_na=False, **options
            )
    except UnicodeDecodeError:
        raise  # the caller reads the file again in its fallback encoding
    except pd.errors.ParserError as error:
        message = str(error).strip().removeprefix("Error tokenizing data. C error: ")
        line, row = _PARSER_LINE.search(message), _PARSER_ROW.search(message)
        if row is not None:
            text = (
                f"a quoted value that starts on line {first_line + int(row.group(1))} is never "
                'closed (a lone " in a value?), so the rest of the file cannot be read. Double '
                'the " inside quoted values ("") or remove it.'
            )
        elif line is not None:
            text = (
                f"line {first_line + int(line.group(1)) - 1} has more fields than the header "
                f"row has columns ({columns}): {message}. A value may contain a TAB; quote it, "
                "or fix the row."
            )
        else:
            text = f"cannot parse the table: {message}"
        raise InvalidDataError(f"{name}: {text}") from None
    except ValueError as error:
        # No value can fail a conversion (only "str" and bytes dtypes are imposed):
        # this is another tokenizer failure, which pandas reports as a ValueError.
        raise InvalidDataError(f"{name}: cannot parse the table: {error}") from None


def numpy_dates(values: np.ndarray, index: pd.Index, name: Any) -> pd.Series | None:
    """Parse ISO 8601 values with NumPy (faster than pandas) to UTC; ``None`` if it cannot.

    ``values`` are fixed-width bytes or an object array of ``str`` (missing
    values NaN). NumPy reads partial dates (``1984``, ``2016-12``) like pandas.
    Columns with zone designators (``Z``, ``+02:00``) go to pandas, and so do
    the words ``now`` and ``today``, which NumPy would accept. Empty strings
    and missing values become NaT.
    """
    edges = [*values[:20].tolist(), *values[-20:].tolist()]
    for value in edges:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if isinstance(text, str) and _ZONE.search(text.strip()):
            return None
    parsed = _numpy_parse(values)
    if parsed is None and values.dtype == object:
        missing = pd.isna(values)
        if not missing.any():
            return None
        values = values.copy()
        values[missing] = "NaT"
        parsed = _numpy_parse(values)
    if parsed is None:
        return None
    recent = np.flatnonzero(parsed >= np.datetime64("today", "us") - np.timedelta64(2, "D"))
    for value in values[recent].tolist():
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if text.strip().lower() in ("now", "today"):
            return None
    finite = parsed[~np.isnat(parsed)]
    if not finite.size or (_NS_MIN <= finite.min() and finite.max() <= _NS_MAX):
        parsed = parsed.astype("datetime64[ns]")
    stamps = pd.DatetimeIndex(parsed).tz_localize("UTC")
    return pd.Series(stamps, index=index, name=name)


def _numpy_parse(values: np.ndarray) -> np.ndarray | None:
    """``values.astype("datetime64[us]")``, or ``None`` if NumPy refuses or warns.

    The cast runs in pieces of :data:`_CAST_CHUNK` values. NumPy releases the
    GIL for a cast of more than 500 values, and its cast from fixed-width bytes
    to ``datetime64`` then raises its error (a value that is not a date) or
    its warning (a zone designator) without the GIL: NumPy 2.4 crashes the
    interpreter (SIGSEGV). In pieces of 500 the GIL is held and the error is
    an ordinary ``ValueError``; assigned into one array without intermediate
    copies, the pieces are as fast as one cast. A warning sends the column to
    pandas, which converts zones without one.
    """
    parsed = np.empty(values.shape, dtype="datetime64[us]")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for start in range(0, values.size, _CAST_CHUNK):
                stop = start + _CAST_CHUNK
                parsed[start:stop] = values[start:stop]  # the cast, without a copy
    except (ValueError, TypeError, OverflowError, Warning):
        return None
    return parsed


_NS_MIN = np.datetime64(pd.Timestamp.min.ceil("us").to_datetime64(), "us")
_NS_MAX = np.datetime64(pd.Timestamp.max.floor("us").to_datetime64(), "us")


def utc(values: pd.Series) -> pd.Series:
    """UTC timestamps in nanoseconds where they fit (1677-2262), else as they are."""
    try:
        return values.astype("datetime64[ns, UTC]")
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        return values
