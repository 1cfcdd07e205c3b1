"""The mechanisms the readers of archive text tables share.

PANGAEA's tab-delimited text (:mod:`.pangaea_text`) and EcoTaxa's TSV
(:mod:`.ecotaxa_tsv`) are both tab-separated tables with a header row, read
from a path, bytes or a file object. What they have in common lives here:
turning a source into bytes, saying where text cannot be decoded, and
noticing a file whose last line was cut off.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import InvalidDataError


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


def check_last_line(ends_with_break: bool, line: int, name: str, *, strict: bool) -> None:
    """Raise (``strict``) or warn if the file's last line, ``line``, has no line break.

    The exports of PANGAEA and EcoTaxa end every line, the last one included,
    with a line break: a file whose last line has none was most likely cut
    off, inside its last value, which then reads as a different number.
    """
    if ends_with_break:
        return
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
