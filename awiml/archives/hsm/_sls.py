"""The ``sls -D`` output of the HSM, read into records.

``sls -D <paths>`` (SAM-QFS, and Versity ScoutAM which AWI's HSM runs) prints
one block per file, back to back::

    mickey.gif:
      mode: -rw-r--r--  links:   1  owner: root      group: other
      length:    319279  admin id:      7  inode: 1407.5
      project: system(0)
      offline;  archdone;  stage -n;
      copy 1: ---- May 21 10:29     1e4b1.1    lt DLT001
      access:      May 21 09:25     modification: May 21 09:25
      changed:     May 21 09:26     attributes:   May 21 10:44
      creation:    May 21 09:25     residence:    May 21 10:44

What the reader assumes, from the ``sls`` manual page and SAM-QFS's source:

* a block starts with the file's path followed by ``:`` at the start of a line;
  the lines of the block are indented (any spaces or tabs, or none);
* the state line lists words ending in ``;`` (``offline``, ``archdone``,
  ``damaged``, ``stage -n``, ``release -p partial = 16k online`` ...); an online
  file has no ``offline`` word, often no state line at all;
* ``copy N:`` lines give the copy's four or five status characters (``S`` stale,
  ``U`` unarchived, ``r`` to be rearchived, ``V`` verified, ``D`` damaged), the
  date it was written, ``<position>.<offset>`` in hex, the media type and the
  volume (VSN), and for disk archives the archive file's path; a copy that
  overflows onto several volumes prints only its media type and then one
  ``section N: <length> <position>.<offset> <VSN>`` line per volume;
* ``iotype:`` starts the removable-media lines of a file, with its own
  ``section N:`` lines;
* dates are kept as printed (``May 21 10:29``: a year-less date cannot be placed
  safely), VSNs as text (``022000`` stays ``022000``).

Lines the reader does not know are kept in :attr:`SlsRecord.extra`. What would
make it guess at data is refused with :class:`~awiml.errors.InvalidDataError`
naming the line: a block without ``length:``, a length that is not a whole
number, a copy or section line whose volume cannot be found, an unknown line
that speaks of ``offline`` or ``damaged``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...errors import InvalidDataError

__all__ = ["SlsCopy", "SlsRecord", "SlsSection", "parse_sls"]

_TIME_KEYS = ("access", "modification", "changed", "attributes", "creation", "residence")
_EXPLICIT_KEYS = ("mode", "links", "owner", "group", "admin id", "inode", "project")
_KNOWN_KEYS = (
    *_EXPLICIT_KEYS, "length", *_TIME_KEYS, "retention-end", "retention-period",
    "retention", "iotype", "media", "vsns", "blocksize",
)
_KEY = re.compile(
    r"(?:^|(?<=\s))(" + "|".join(re.escape(k) for k in _KNOWN_KEYS) + r"):(?=\s|$)"
)
_COPY = re.compile(r"copy\s+(\d+)\s*:(.*)", re.IGNORECASE)
_SECTION = re.compile(r"section\s+(\d+)\s*:(.*)", re.IGNORECASE)
_POSITION = re.compile(r"[0-9a-fA-F]+\.[0-9a-fA-F]+")
_COPY_STATUS = re.compile(r"[-SUrIVDP]{3,6}")
_STATE_WORDS = frozenset({
    "damaged", "offline", "archdone", "archive", "release", "verify", "stage", "setfa",
    "segment", "segments",
})
_PARTIAL_ONLINE = re.compile(r"release -[a-zA-Z]*p partial ?= ?\d+k online")
_STATE_HINT = re.compile(r"\b(offline|damaged)\b", re.IGNORECASE)


def _words(text: str) -> str:
    """Collapse runs of whitespace into one space and strip the ends."""
    return " ".join(text.split())


@dataclass(frozen=True)
class SlsSection:
    """One volume of a file or copy that spans several volumes (a ``section N:`` line).

    Attributes
    ----------
    number : int
        The section's number, from 0.
    length : int
        Bytes of the file on this volume.
    position : str
        ``<position>.<offset>`` on the volume, in hex, as printed.
    vsn : str
        The volume's serial name.
    """

    number: int
    length: int
    position: str
    vsn: str


@dataclass(frozen=True)
class SlsCopy:
    """One archive copy of a file (a ``copy N:`` line and its sections).

    Attributes
    ----------
    number : int
        The copy's number, 1 to 4.
    status : str
        The status characters as printed, e.g. ``"----"`` or ``"S---D"``.
    date : str
        When the copy was written, as printed (``"May 21 10:29"``).
    media : str
        The media type: ``lt`` (tape), ``dk`` (disk archive), ...
    vsn : str or None
        The volume of a copy on one volume; ``None`` when it spans several.
    position : str or None
        ``<position>.<offset>`` in hex, as printed; ``None`` with sections.
    sections : tuple of SlsSection
        The volumes of a copy that overflows onto several, in order.
    archive_file : str
        What follows the VSN: the archive file's path of a disk-archive copy.
    """

    number: int
    status: str
    date: str
    media: str
    vsn: str | None = None
    position: str | None = None
    sections: tuple[SlsSection, ...] = ()
    archive_file: str = ""

    @property
    def vsns(self) -> tuple[str, ...]:
        """The copy's volumes in order: its one VSN, or those of its sections."""
        if self.vsn is not None:
            return (self.vsn,)
        return tuple(section.vsn for section in self.sections)

    @property
    def damaged(self) -> bool:
        """Whether the copy is marked damaged (``D``); it will not be staged."""
        return "D" in self.status[1:]

    @property
    def stale(self) -> bool:
        """Whether the copy holds an earlier version of the file (``S``)."""
        return self.status.startswith("S")


@dataclass(frozen=True)
class SlsRecord:
    """What ``sls -D`` says about one file.

    Attributes
    ----------
    path : str
        The path as printed in the block's first line, without the ``:``.
    size : int
        The file's length in bytes.
    flags : tuple of str
        The state line's words, in order, whitespace collapsed: ``"offline"``,
        ``"archdone"``, ``"stage -n"``, ``"release -p partial = 16k online"`` ...
    copies : tuple of SlsCopy
        The archive copies, in printed order.
    sections : tuple of SlsSection
        The removable-media sections that follow an ``iotype:`` line.
    mode, links, owner, group, admin_id, inode, project : str or None
        The first lines' fields as printed; ``None`` where missing.
    times : tuple of (str, str)
        ``(name, date)`` for ``access``, ``modification``, ``changed``,
        ``attributes``, ``creation`` and ``residence``, as printed.
    checksum : str or None
        The ``checksum:`` line's text.
    fields : tuple of (str, str)
        Other known ``name: value`` fields (``iotype``, ``media``, ``vsns``,
        ``blocksize``, ``retention``...), in order.
    extra : tuple of str
        Lines of the block the reader does not know, whitespace collapsed.
    line : int
        The number of the block's first line in the text (not compared).
    """

    path: str
    size: int
    flags: tuple[str, ...] = ()
    copies: tuple[SlsCopy, ...] = ()
    sections: tuple[SlsSection, ...] = ()
    mode: str | None = None
    links: str | None = None
    owner: str | None = None
    group: str | None = None
    admin_id: str | None = None
    inode: str | None = None
    project: str | None = None
    times: tuple[tuple[str, str], ...] = ()
    checksum: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    extra: tuple[str, ...] = ()
    line: int = field(default=0, compare=False)

    @property
    def offline(self) -> bool:
        """Whether the file's data are (at least partly) only on archive media."""
        return "offline" in self.flags

    @property
    def state(self) -> str:
        """``"online"``, ``"offline"``, or ``"partial"`` (offline, its first part online)."""
        if not self.offline:
            return "online"
        if any(_PARTIAL_ONLINE.fullmatch(flag) for flag in self.flags):
            return "partial"
        return "offline"

    @property
    def archdone(self) -> bool:
        """Whether the archiver is done with the file (``archdone``)."""
        return "archdone" in self.flags

    @property
    def damaged(self) -> bool:
        """Whether the file is marked damaged."""
        return "damaged" in self.flags

    @property
    def vsns(self) -> tuple[str, ...]:
        """The volumes of the copies and sections in order, each once."""
        seen: dict[str, None] = {}
        for copy in self.copies:
            seen.update(dict.fromkeys(copy.vsns))
        seen.update(dict.fromkeys(section.vsn for section in self.sections))
        return tuple(seen)

    @property
    def mtime(self) -> str | None:
        """The modification date as printed, or ``None``."""
        return dict(self.times).get("modification")


class _Block:
    """A record being read."""

    def __init__(self, path: str, line: int) -> None:
        self.path, self.line = path, line
        self.size: int | None = None
        self.values: dict[str, str] = {}
        self.flags: list[str] = []
        self.copies: list[dict[str, object]] = []
        self.sections: list[SlsSection] = []
        self.times: list[tuple[str, str]] = []
        self.fields: list[tuple[str, str]] = []
        self.extra: list[str] = []
        self.checksum: str | None = None
        self.open_copy: dict[str, object] | None = None  # a copy awaiting its sections
        self.removable = False  # an iotype: line was read: sections are the file's
        self.lines = 0


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, number: int, message: str) -> InvalidDataError:
        return InvalidDataError(f"{self.source}, line {number}: {message}")

    def read(self, text: str) -> list[SlsRecord]:
        records: list[SlsRecord] = []
        block: _Block | None = None
        for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
            line = raw.replace("\r", " ")
            stripped = line.strip()
            if not stripped:
                continue
            if line[0] not in " \t" and stripped.endswith(":"):
                if block is not None and block.lines:
                    records.append(self.finish(block, number))
                # A path line with no fields before the next one: a directory's
                # heading, which ``sls`` prints before the directory's files.
                path = line.rstrip()[:-1]
                if not path.strip():
                    raise self.fail(number, "a path line without a path (a lone ':')")
                block = _Block(path, number)
                continue
            if block is None:
                raise self.fail(number, f"expected a file's path followed by ':', got "
                                        f"{stripped[:60]!r}; is this `sls -D` output?")
            block.lines += 1
            self.field_line(block, stripped, number)
        if block is not None:
            if not block.lines:
                raise self.fail(block.line, f"{block.path!r} has no lines after its path: the "
                                            "output looks cut off; run `sls -D` again")
            records.append(self.finish(block, block.line))
        return records

    # -- one line --------------------------------------------------------------------- #

    def field_line(self, block: _Block, text: str, number: int) -> None:
        section = _SECTION.match(text)
        if section:
            self.section(block, int(section.group(1)), section.group(2), number)
            return
        self.close_copy(block, number)
        copy = _COPY.match(text)
        if copy:
            self.copy(block, int(copy.group(1)), copy.group(2), number)
        elif text.lower().startswith("checksum:"):
            block.checksum = _words(text[len("checksum:"):])
        elif text.lower().startswith("file_id:"):
            block.fields.append(("file_id", _words(text[len("file_id:"):])))
        elif _KEY.match(text):
            self.pairs(block, text, number)
        elif text.endswith(";") or text.split()[0].lower() in _STATE_WORDS:
            block.flags.extend(_words(word) for word in text.split(";") if word.strip())
        elif _STATE_HINT.search(text):
            raise self.fail(number, f"cannot read the state line {text[:80]!r} of "
                                    f"{block.path!r}; the file's state would be a guess")
        else:
            block.extra.append(_words(text))

    def pairs(self, block: _Block, text: str, number: int) -> None:
        keys = list(_KEY.finditer(text))
        for index, match in enumerate(keys):
            end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
            key, value = match.group(1), _words(text[match.end():end])
            if key == "length":
                if block.size is not None:
                    raise self.fail(number, f"a second 'length:' in the block of {block.path!r} "
                                            f"(from line {block.line}): is a path line missing?")
                if not value.isascii() or not value.isdigit():
                    raise self.fail(number, f"the length of {block.path!r} is {value!r}, not a "
                                            "whole number of bytes")
                block.size = int(value)
            elif key in _TIME_KEYS:
                block.times.append((key, value))
            elif key in _EXPLICIT_KEYS:
                block.values[key] = value
            else:
                block.fields.append((key, value))
                if key == "iotype":
                    block.removable = True

    def copy(self, block: _Block, copy_number: int, rest: str, number: int) -> None:
        tokens = rest.split()
        status = ""
        if tokens and _COPY_STATUS.fullmatch(tokens[0]):
            status, tokens = tokens[0], tokens[1:]
        where = next((i for i, t in enumerate(tokens) if _POSITION.fullmatch(t)), None)
        name = f"copy {copy_number} of {block.path!r}"
        if where is None:
            # Several volumes: date and media type, the volumes follow as sections.
            if not tokens:
                raise self.fail(number, f"{name} names no media and no volume")
            entry: dict[str, object] = {
                "number": copy_number, "status": status, "date": " ".join(tokens[:-1]),
                "media": tokens[-1], "sections": [], "line": number,
            }
            block.copies.append(entry)
            block.open_copy = entry
            return
        if len(tokens) < where + 3:
            raise self.fail(number, f"{name} has no volume (VSN) after its position "
                                    f"{tokens[where]!r}: {rest.strip()[:80]!r}")
        block.copies.append({
            "number": copy_number, "status": status, "date": " ".join(tokens[:where]),
            "position": tokens[where], "media": tokens[where + 1], "vsn": tokens[where + 2],
            "archive_file": " ".join(tokens[where + 3:]), "sections": [],
        })

    def section(self, block: _Block, section_number: int, rest: str, number: int) -> None:
        tokens = rest.split()
        if len(tokens) != 3 or not tokens[0].isascii() or not tokens[0].isdigit() \
                or not _POSITION.fullmatch(tokens[1]):
            raise self.fail(number, f"section {section_number} of {block.path!r} should read "
                                    "'<length> <position>.<offset> <VSN>', not "
                                    f"{rest.strip()[:80]!r}")
        section = SlsSection(section_number, int(tokens[0]), tokens[1], tokens[2])
        if block.open_copy is not None:
            block.open_copy["sections"].append(section)  # type: ignore[union-attr]
        elif block.removable:
            block.sections.append(section)
        else:
            raise self.fail(number, f"section {section_number} of {block.path!r} belongs to no "
                                    "copy line and no iotype line")

    def close_copy(self, block: _Block, number: int) -> None:
        entry = block.open_copy
        block.open_copy = None
        if entry is not None and not entry["sections"]:
            raise self.fail(int(entry["line"]),  # type: ignore[call-overload]
                            f"copy {entry['number']} of {block.path!r} names no volume (VSN) "
                            "and no section lines follow it")

    # -- the record ---------------------------------------------------------------------- #

    def finish(self, block: _Block, number: int) -> SlsRecord:
        self.close_copy(block, number)
        if block.size is None:
            raise self.fail(block.line, f"the block of {block.path!r} has no 'length:' line, so "
                                        "its size is unknown; is the output cut off? Run "
                                        f"`sls -D {block.path}` again")
        copies = tuple(
            SlsCopy(
                number=int(entry["number"]),  # type: ignore[call-overload]
                status=str(entry["status"]), date=str(entry["date"]),
                media=str(entry["media"]),
                vsn=entry.get("vsn"),  # type: ignore[arg-type]
                position=entry.get("position"),  # type: ignore[arg-type]
                sections=tuple(entry["sections"]),  # type: ignore[call-overload]
                archive_file=str(entry.get("archive_file", "")),
            )
            for entry in block.copies
        )
        values = block.values
        return SlsRecord(
            path=block.path, size=block.size, flags=tuple(block.flags), copies=copies,
            sections=tuple(block.sections), mode=values.get("mode"), links=values.get("links"),
            owner=values.get("owner"), group=values.get("group"),
            admin_id=values.get("admin id"), inode=values.get("inode"),
            project=values.get("project"), times=tuple(block.times), checksum=block.checksum,
            fields=tuple(block.fields), extra=tuple(block.extra), line=block.line,
        )


def parse_sls(text: str, *, source: str = "sls -D output") -> list[SlsRecord]:
    r"""Read the records of ``sls -D`` output for one or more files.

    Whitespace, line ends (``\n``, ``\r\n``), missing fields (``admin id``,
    ``project``, ``inode``, the state line, the times) and blank lines between
    blocks are tolerated; unknown lines are kept in :attr:`SlsRecord.extra`.
    A path line directly followed by another path line is a directory's
    heading and gives no record.

    Parameters
    ----------
    text : str
        What ``sls -D <paths>`` printed.
    source : str, default="sls -D output"
        How to name the text in error messages, e.g. the command and host.

    Returns
    -------
    list of SlsRecord
        One record per file, in printed order.

    Raises
    ------
    InvalidDataError
        If a block cannot be read without guessing (no ``length:``, a length
        that is not a whole number, a copy or section without its volume, a
        state line that cannot be read, text before the first path); the
        message names the line and the path.

    Examples
    --------
    >>> text = '''/hs/projects/x/ctd.nc:
    ...   mode: -rw-r--r--  links:   1  owner: alice     group: x
    ...   length:  52428800  admin id:      0  inode:    11748.11
    ...   offline;  archdone;
    ...   copy 1: ---- Oct 31 13:52     1e4b1.1    lt 022000
    ...   access:      Oct 31 13:50  modification: Oct 31 13:50
    ... '''
    >>> [record] = parse_sls(text)
    >>> record.path, record.size, record.state, record.archdone, record.vsns
    ('/hs/projects/x/ctd.nc', 52428800, 'offline', True, ('022000',))
    >>> record.copies[0].media, record.mtime
    ('lt', 'Oct 31 13:50')
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_sls reads text (str), not {type(text).__name__}; decode it first")
    return _Reader(source).read(text)
