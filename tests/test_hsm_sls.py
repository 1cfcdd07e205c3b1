"""parse_sls: the HSM's ``sls -D`` output read into records (issue 15).

The two real outputs are the examples of SAM-QFS's ``sls`` manual page
(tests/data/hsm, CDDL-1.0); the other texts vary them the ways the man page and
SAM-QFS's source say real output varies.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awiml.archives.hsm import SlsCopy, SlsRecord, SlsSection, parse_sls
from awiml.errors import AwimlError, InvalidDataError
from awiml.testing.hsm._format import format_sls

DATA = Path(__file__).parent / "data" / "hsm"
MICKEY = (DATA / "sls_D_mickey_gif_offline_archdone_stage-n.txt").read_text()
FILEA = (DATA / "sls_D_filea_diskarchive_online.txt").read_text()

SPANNING = """\
/hs/projects/ps/big.tar:
  mode: -rw-r--r--  links:   1  owner: alice     group: ps
  length: 209715200  admin id:      0  inode:    2231.7
  offline;  archdone;
  copy 1: ---- Mar  3 02:10 lt
    section 0:  104071168       a358.0    CFX808
    section 1:  105644032          1.1    CFX809
  copy 2: ---- Mar  3 04:51        2f1c.1    lt 022000
  access:      Mar  3 01:02  modification: Mar  3 01:02
  changed:     Mar  3 01:02  attributes:   Mar  3 02:10
  creation:    Mar  3 01:02  residence:    Mar  3 05:00
"""

PARTIAL = """\
/hs/projects/ps/cast.nc:
  mode: -rw-r--r--  links:   1  owner: alice     group: ps
  length:   9437184  admin id:      0  inode:    2240.1
  offline;  archdone;  release -p partial = 16k online;
  copy 1: ---- Mar  3 02:10        a3f1.1    lt CFX808
  access:      Mar  3 01:02  modification: Mar  3 01:02
"""

DAMAGED = """\
/hs/projects/ps/lost.dat:
  mode: -rw-r--r--  links:   1  owner: alice     group: ps
  length:      4096  admin id:      0
  damaged;  offline;  archdone;
  copy 1: S---D Jan  9  2019        31.1    lt CFX101
  copy 2: -r--- Jan  9  2019        77.1    lt CFX102
  checksum: -g -u -a 1 0xec02591b41dca8aa 0x2cdc5977fdd5bbc4
  access:      Jan  9  2019  modification: Jan  9  2019
"""


@contextmanager
def within(seconds: float):
    """Fail the test if the block takes longer than ``seconds`` (a hang, not a slow run)."""
    def alarm(*_):
        raise TimeoutError(f"parse_sls took more than {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- the real outputs ------------------------------------------------------------------ #


def test_the_man_page_offline_example():
    [record] = parse_sls(MICKEY)
    assert record.path == "mickey.gif"
    assert record.size == 319279 and isinstance(record.size, int)
    assert record.state == "offline" and record.offline and record.archdone
    assert record.flags == ("offline", "archdone", "stage -n")
    assert record.vsns == ("DLT001",)
    assert record.copies == (SlsCopy(1, "----", "May 21 10:29", "lt", "DLT001", "1e4b1.1"),)
    assert (record.mode, record.links, record.owner, record.group) == (
        "-rw-r--r--", "1", "root", "other")
    assert (record.admin_id, record.inode, record.project) == ("7", "1407.5", "system(0)")
    assert record.mtime == "May 21 09:25"
    assert dict(record.times) == {
        "access": "May 21 09:25", "modification": "May 21 09:25", "changed": "May 21 09:26",
        "attributes": "May 21 10:44", "creation": "May 21 09:25", "residence": "May 21 10:44"}
    assert record.extra == () and record.line == 1
    assert not record.damaged and not record.copies[0].damaged


def test_the_man_page_online_disk_archive_example():
    [record] = parse_sls(FILEA)
    assert (record.path, record.size, record.state) == ("/sam1/testdir0/filea", 306581, "online")
    assert record.flags == () and not record.archdone
    [copy] = record.copies
    assert (copy.media, copy.vsn, copy.position, copy.date) == ("dk", "disk01", "15.0",
                                                                "Oct 31 13:52")
    assert record.vsns == ("disk01",)


def test_several_files_back_to_back_with_and_without_blank_lines():
    text = MICKEY + FILEA + "\n\n" + SPANNING
    records = parse_sls(text)
    assert [r.path for r in records] == ["mickey.gif", "/sam1/testdir0/filea",
                                         "/hs/projects/ps/big.tar"]
    assert [r.state for r in records] == ["offline", "online", "offline"]
    assert [r.line for r in records] == [1, 10, 20]


# -- shapes the man page describes ----------------------------------------------------- #


def test_a_copy_that_spans_volumes_lists_its_sections_in_order():
    [record] = parse_sls(SPANNING)
    first, second = record.copies
    assert first.vsn is None and first.position is None and first.media == "lt"
    assert first.sections == (SlsSection(0, 104071168, "a358.0", "CFX808"),
                              SlsSection(1, 105644032, "1.1", "CFX809"))
    assert first.vsns == ("CFX808", "CFX809")
    assert sum(s.length for s in first.sections) == record.size
    assert second.vsn == "022000"            # text: the leading zero stays
    assert record.vsns == ("CFX808", "CFX809", "022000")


def test_partial_online():
    [record] = parse_sls(PARTIAL)
    assert record.state == "partial" and record.offline
    assert "release -p partial = 16k online" in record.flags
    offline_part = PARTIAL.replace("16k online", "16k offline")
    assert parse_sls(offline_part)[0].state == "offline"


def test_damaged_file_and_copies():
    [record] = parse_sls(DAMAGED)
    assert record.damaged and record.state == "offline"
    stale, rearchive = record.copies
    assert stale.stale and stale.damaged and stale.date == "Jan 9 2019"
    assert not rearchive.damaged and rearchive.status == "-r---"
    assert record.checksum == "-g -u -a 1 0xec02591b41dca8aa 0x2cdc5977fdd5bbc4"
    assert record.project is None and record.inode is None


def test_removable_media_sections_follow_the_iotype_line():
    text = FILEA.replace("  access:", "  iotype: blockio  media: lt  vsns: 2 blocksize: 262144\n"
                         "  section 0:  104071168       a358.0    CFX808\n"
                         "  section 1:     10000          1.1    CFX810\n  access:", 1)
    [record] = parse_sls(text)
    assert record.fields == (("iotype", "blockio"), ("media", "lt"), ("vsns", "2"),
                             ("blocksize", "262144"))
    assert [s.vsn for s in record.sections] == ["CFX808", "CFX810"]
    assert record.vsns == ("disk01", "CFX808", "CFX810")


def test_a_directory_heading_gives_no_record():
    text = "/hs/projects/ps:\n" + SPANNING + "/hs/projects/other:\n" + PARTIAL
    assert [r.path for r in parse_sls(text)] == ["/hs/projects/ps/big.tar",
                                                 "/hs/projects/ps/cast.nc"]


def test_an_empty_text_has_no_records():
    assert parse_sls("") == [] and parse_sls("\n \n") == []


# -- variations of whitespace and fields ----------------------------------------------- #


def test_tabs_crlf_and_other_spacing_read_the_same():
    expected = parse_sls(MICKEY + SPANNING)
    tabs = (MICKEY + SPANNING).replace("  ", "\t")
    crlf = (MICKEY + SPANNING).replace("\n", "\r\n")
    wide = (MICKEY + SPANNING).replace(": ", ":      ").replace(";", " ;")
    flush = "\n".join(line.strip() for line in (MICKEY + SPANNING).splitlines())
    for variant in (tabs, crlf, wide, flush):
        assert parse_sls(variant) == expected


def test_missing_fields_are_none():
    text = ("/hs/a:\n  length: 12\n"
            "  copy 1: ---- May 21 10:29 1e4b1.1 lt 000123\n")
    [record] = parse_sls(text)
    assert record.size == 12 and record.state == "online"
    assert (record.mode, record.owner, record.admin_id, record.project, record.mtime) == (
        None, None, None, None, None)
    assert record.vsns == ("000123",)


def test_a_copy_without_status_characters():
    [record] = parse_sls("/hs/a:\n  length: 12\n  copy 1: May 21 10:29 1e4b1.1 lt V1\n")
    assert record.copies[0].status == "" and record.copies[0].vsn == "V1"


def test_unknown_lines_are_kept_aside():
    text = MICKEY.replace("  access:", "  worm-capable        retention-period: permanent\n"
                          "  something new:  42\n  retention:   active\n  access:")
    [record] = parse_sls(text)
    assert record.extra == ("worm-capable retention-period: permanent", "something new: 42")
    assert record.fields == (("retention", "active"),)
    assert record.state == "offline"


def test_a_path_with_spaces_and_colons():
    [record] = parse_sls("/hs/a b:c/d e.nc:\n  length: 1\n")
    assert record.path == "/hs/a b:c/d e.nc"


# -- refusals ---------------------------------------------------------------------------- #


def refusal(text: str) -> str:
    with pytest.raises(InvalidDataError) as caught:
        parse_sls(text, source="sls -D on hsm.awi.de")
    message = str(caught.value)
    assert message.startswith("sls -D on hsm.awi.de, line ")
    return message


def test_a_block_without_length_is_refused_naming_path_and_line():
    text = MICKEY + FILEA.replace("  length:    306581  admin id:      0",
                                  "  admin id:      0")
    message = refusal(text)
    assert "line 10:" in message and "/sam1/testdir0/filea" in message
    assert "length" in message


def test_a_length_that_is_not_a_whole_number_is_refused():
    for bad in ("306,581", "3.1e5", "-306581", "306581k", "٣٠٦"):
        message = refusal(FILEA.replace("306581", bad))
        assert "line 3:" in message and "whole number" in message


def test_a_second_length_in_one_block_is_refused():
    # the path line of the second file is missing: its length would overwrite the first
    text = MICKEY + "\n".join(FILEA.splitlines()[1:]) + "\n"
    assert "a second 'length:'" in refusal(text)


def test_copy_lines_whose_volume_cannot_be_found_are_refused():
    no_vsn = MICKEY.replace("1e4b1.1    lt DLT001", "1e4b1.1    lt")
    assert "line 6:" in refusal(no_vsn) and "no volume" in refusal(no_vsn)
    no_position = MICKEY.replace("1e4b1.1    lt DLT001", "lt DLT001")
    assert "line 6:" in refusal(no_position)       # media 'DLT001', no sections: a guess
    empty = MICKEY.replace("---- May 21 10:29     1e4b1.1    lt DLT001", "")
    assert "line 6:" in refusal(empty)
    no_sections = SPANNING.replace("    section 0:  104071168       a358.0    CFX808\n", "") \
        .replace("    section 1:  105644032          1.1    CFX809\n", "")
    message = refusal(no_sections)
    assert "line 5:" in message and "copy 1" in message


def test_bad_section_lines_are_refused():
    assert "line 6:" in refusal(SPANNING.replace("104071168", "104O71168"))
    assert "line 7:" in refusal(SPANNING.replace("1.1    CFX809", "1.1"))
    stray = FILEA.replace("  access:", "  section 0: 10 1.1 V1\n  access:", 1)
    assert "belongs to no copy" in refusal(stray)


def test_text_before_the_first_path_and_cut_output_are_refused():
    assert "line 1:" in refusal("sls: /hs/x: No such file or directory\n" + MICKEY)
    assert "cut off" in refusal(MICKEY + "/hs/next.nc:\n")
    assert "line 10: a path line without a path" in refusal(MICKEY + ":\n  length: 1\n")


def test_an_unreadable_state_line_is_refused():
    message = refusal(MICKEY.replace("offline;  archdone;  stage -n;", "state = offline"))
    assert "line 5:" in message and "state" in message


def test_only_text_is_read():
    with pytest.raises(TypeError, match="decode"):
        parse_sls(MICKEY.encode())  # type: ignore[arg-type]


# -- fuzzing ------------------------------------------------------------------------------ #

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [line for text in (MICKEY, FILEA, SPANNING, PARTIAL, DAMAGED)
             for line in text.splitlines()] + [
    "", " ", "\t", ":", "copy", "section 0:", "length:", "offline;", "\r", "copy 9: lt",
    "  iotype: blockio", "/hs/x:", "  copy 1: ---- 1.1 lt", "   section 3: 1 1.1 V",
]


def settle(text: str) -> None:
    """Parse ``text``: records or InvalidDataError, nothing else, never a hang."""
    with within(5.0):
        try:
            records = parse_sls(text)
        except InvalidDataError:
            return
    for record in records:
        assert isinstance(record.size, int) and record.size >= 0
        assert record.state in ("online", "offline", "partial")
        assert all(isinstance(v, str) and v for v in record.vsns)


@FUZZ
@given(st.text(max_size=400))
def test_any_text_gives_records_or_invalid_data(text):
    settle(text)


@FUZZ
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=30), max_size=40),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_shuffled_real_lines_give_records_or_invalid_data(lines, end):
    settle(end.join(lines))


@FUZZ
@given(st.sampled_from([MICKEY, FILEA, SPANNING, PARTIAL, DAMAGED]),
       st.integers(0, 2000), st.integers(0, 40), st.text(max_size=8))
def test_damaged_real_outputs_give_records_or_invalid_data(text, at, cut, insert):
    at = at % (len(text) + 1)
    settle(text[:at] + insert + text[at + cut:])


def test_a_long_output_with_long_lines_parses_without_hanging():
    long_line = "  " + "x " * 50_000 + "\n"
    text = (MICKEY + long_line) * 200 + "  copy 1: ---- " + "May 21 " * 20_000
    with within(20.0), pytest.raises(AwimlError, match="line 2001: copy 1"):
        parse_sls(text)
    with within(20.0):
        assert len(parse_sls((MICKEY + SPANNING) * 2000)) == 4000


# -- the round trip with the test server's formatter ------------------------------------- #

LETTERS = "ABCXYZabcxyz0123456789"
word = st.text(LETTERS + "_().-", min_size=1, max_size=10)
date = st.builds(lambda m, d, t: f"{m} {d} {t}", st.sampled_from(["Jan", "May", "Dec"]),
                 st.integers(1, 31), st.sampled_from(["10:29", "00:00", "2019"]))
vsn = st.text("ACFX0129", min_size=1, max_size=6)
position = st.builds(lambda a, b: f"{a:x}.{b:x}", st.integers(0, 2**40), st.integers(0, 999))
section = st.builds(SlsSection, st.integers(0, 9), st.integers(0, 2**50), position, vsn)
status = st.sampled_from(["----", "S---D", "-r---", "U-I-V", ""])
single_copy = st.builds(SlsCopy, st.integers(1, 4), status, date, st.sampled_from(["lt", "dk"]),
                        vsn, position, st.just(()),
                        st.sampled_from(["", "d1/d2/f123"]))
spanning_copy = st.builds(lambda n, s, d, m, sections: SlsCopy(n, s, d, m, sections=sections),
                          st.integers(1, 4), status, date, st.sampled_from(["lt", "li"]),
                          st.lists(section, min_size=1, max_size=4).map(tuple))
flag = st.sampled_from(["offline", "archdone", "damaged", "stage -n", "release -a",
                        "release -p partial = 16k online", "setfa -g 1", "verify"])
optional_word = st.none() | word
path = st.builds(lambda middle, end: f"/hs/{middle}{end}", st.text(LETTERS + "_ .:-/", max_size=30),
                 st.text(LETTERS + "_.-", min_size=1, max_size=3))


@st.composite
def records(draw):
    sections = draw(st.lists(section, max_size=3).map(tuple))
    fields = (("iotype", "blockio"), ("media", "lt")) if sections else ()
    fields += tuple(draw(st.lists(st.tuples(st.sampled_from(["retention", "blocksize"]), word),
                                  max_size=2)))
    times = tuple(draw(st.lists(st.tuples(st.sampled_from(["access", "modification",
                                                            "changed", "creation"]), date),
                                max_size=4)))
    return SlsRecord(
        path=draw(path), size=draw(st.integers(0, 2**60)),
        flags=tuple(draw(st.lists(flag, max_size=4, unique=True))),
        copies=tuple(draw(st.lists(single_copy | spanning_copy, max_size=4))),
        sections=sections, mode=draw(optional_word), links=draw(optional_word),
        owner=draw(optional_word), group=draw(optional_word), admin_id=draw(optional_word),
        inode=draw(optional_word), project=draw(optional_word), times=times,
        checksum=draw(st.none() | st.just("-g -u -a 1 0x01 0x02")), fields=fields,
        extra=tuple(draw(st.lists(st.sampled_from(["worm-capable", "note 7"]), max_size=2))),
    )


@settings(FUZZ, max_examples=100)
@given(st.lists(records(), max_size=4))
def test_records_written_by_the_server_formatter_parse_back_equal(written):
    assert parse_sls(format_sls(written)) == written


def test_the_formatter_writes_the_man_page_layout():
    [record] = parse_sls(MICKEY)
    text = format_sls([record])
    assert text.splitlines()[:5] == [
        "mickey.gif:",
        "  mode: -rw-r--r--  links:   1  owner: root      group: other   ",
        "  length:    319279  admin id:      7  inode:   1407.5",
        "  project: system(0)",
        "  offline;  archdone;  stage -n;",
    ]
    assert text.endswith("residence:    May 21 10:44\n\n")
