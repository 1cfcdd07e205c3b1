"""``sls -D`` output written from records, in the layout of SAM-QFS's ``sls``.

The layout follows the ``sls`` manual page and SAM-QFS's ``print_detailed_format``:
two-space indentation, fields padded as ``sls`` pads them, the state words
each followed by ``;``, a ``copy N:`` line per copy (with ``section N:`` lines,
indented by four, for a copy that spans volumes), the three lines of times,
the checksum, the removable-media lines, and a blank line after each block.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...archives.hsm import SlsCopy, SlsRecord, SlsSection

__all__ = ["format_sls"]


def _pairs(pairs: Iterable[tuple[str, str | None, str]]) -> str:
    """Join ``(key, value, format)`` pairs that have a value into one field line."""
    return "  ".join(f"{key}: {value:{spec}}" for key, value, spec in pairs if value is not None)


def _section(section: SlsSection, indent: str) -> str:
    return f"{indent}section {section.number}: {section.length:10d} {section.position:>15} " \
           f"{section.vsn}"


def _copy(copy: SlsCopy) -> list[str]:
    head = f"  copy {copy.number}: " + (f"{copy.status} " if copy.status else "") + copy.date
    if copy.vsn is None:
        return [f"{head} {copy.media}", *(_section(s, "    ") for s in copy.sections)]
    line = f"{head} {copy.position or '0.0':>14} {copy.media} {copy.vsn}"
    return [f"{line} {copy.archive_file}" if copy.archive_file else line]


def format_sls(records: Iterable[SlsRecord]) -> str:
    """Write ``sls -D`` output for ``records``, one block each.

    Parameters
    ----------
    records : iterable of SlsRecord
        What to print.

    Returns
    -------
    str
        The text, ending with a newline; :func:`awiml.archives.hsm.parse_sls`
        reads it back into equal records.

    Examples
    --------
    >>> from awiml.archives.hsm import SlsCopy, SlsRecord, parse_sls
    >>> record = SlsRecord("/hs/x.nc", 1024, flags=("offline", "archdone"),
    ...                    copies=(SlsCopy(1, "----", "May 21 10:29", "lt", "022000", "1.1"),))
    >>> print(format_sls([record]), end="")
    /hs/x.nc:
      length:      1024
      offline;  archdone;
      copy 1: ---- May 21 10:29            1.1 lt 022000
    <BLANKLINE>
    >>> parse_sls(format_sls([record])) == [record]
    True
    """
    lines: list[str] = []
    for record in records:
        lines.append(f"{record.path}:")
        first = _pairs([("mode", record.mode, ""), ("links", record.links, ">3"),
                        ("owner", record.owner, "<8"), ("group", record.group, "<8")])
        if first:
            lines.append("  " + first)
        lines.append("  " + _pairs([("length", str(record.size), ">9"),
                                    ("admin id", record.admin_id, ">6"),
                                    ("inode", record.inode, ">8")]))
        if record.project is not None:
            lines.append(f"  project: {record.project}")
        if record.flags:
            lines.append("".join(f"  {flag};" for flag in record.flags))
        for copy in record.copies:
            lines.extend(_copy(copy))
        times = list(record.times)
        for at in range(0, len(times), 2):
            keys = [f"{name + ':':<{12 if column == 0 else 13}} {value}"
                    for column, (name, value) in enumerate(times[at:at + 2])]
            lines.append("  " + "  ".join(keys))
        if record.checksum is not None:
            lines.append(f"  checksum: {record.checksum}")
        for key, value in record.fields:
            lines.append(f"  {key}: {value}")
        lines.extend(_section(section, "  ") for section in record.sections)
        lines.extend(f"  {text}" for text in record.extra)
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")
