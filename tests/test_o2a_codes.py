"""O2A sensor codes and column labels are split exactly, or refused (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awiml.archives.o2a._codes import SensorCode, parse_code, parse_label
from awiml.errors import InvalidDataError

DATA = Path(__file__).parent / "data" / "o2a"


def test_labels_of_a_real_table():
    header = (DATA / "dws_data_heincke_air_temp_pressure_hour_mean.tsv").read_text(
        "utf-8").splitlines()[0].split("\t")
    assert header[0] == "datetime"
    assert [parse_label(label) for label in header[1:]] == [
        ("vessel:heincke:dwd:air_temperature", "mean", "°C"),
        ("vessel:heincke:dwd:air_pressure", "mean", "hPa"),
    ]


def test_codes_of_a_real_sensor_list():
    rows = (DATA / "legacy2018_dws_sensors_pattern_svluwobs_ctd181.tsv").read_text(
        "utf-8").splitlines()[1:]
    codes = [parse_code(row.split("\t")[0]) for row in rows if "..." not in row]
    assert codes and all(code.platform == "svluwobs" for code in codes)
    assert codes[0] == SensorCode("station", "svluwobs", ("svluw2", "ctd_181"),
                                  "conductivity")


@pytest.mark.parametrize("text", ["", "temperature", "vessel:polarstern",
                                  "vessel::tsg:temp", "vessel:polar stern:tsg:t",
                                  "vessel:polarstern:tsg:temp$NRT$NRT"])
def test_malformed_codes_are_refused_by_name(text):
    with pytest.raises(InvalidDataError, match="not an O2A sensor code"):
        parse_code(text)


@pytest.mark.parametrize("label", ["Temp [°C]", "vessel:a (mean) [m]",
                                   "vessel:a:b (mean) [m] extra", "vessel:a:b [m] (mean)"])
def test_labels_of_another_form_are_refused(label):
    with pytest.raises(InvalidDataError, match="cannot be read safely"):
        parse_label(label)


part = st.from_regex(r"[a-z0-9_][a-z0-9_.\-]{0,8}", fullmatch=True)


@given(st.lists(part, min_size=3, max_size=6), st.booleans())
def test_code_round_trips(parts, nrt):
    text = ":".join(parts) + ("$NRT" if nrt else "")
    assert str(parse_code(text)) == text


@given(st.text(max_size=60))
def test_any_text_is_split_or_refused(text):
    for parse in (parse_code, parse_label):
        try:
            parse(text)
        except InvalidDataError:
            pass
