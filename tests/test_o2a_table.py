"""The O2A data table reader: what it tolerates, what it refuses, and fuzz (issue 14)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awiml.archives.o2a._table import Column, read_table
from awiml.errors import InvalidDataError

DATA = Path(__file__).parent / "data" / "o2a"
REAL = (DATA / "dws_data_heincke_air_temp_pressure_hour_mean.tsv").read_bytes()
LABEL = "vessel:heincke:dwd:air_pressure (mean) [hPa]"


def test_the_real_heincke_table_is_read_exactly():
    table = read_table(REAL)
    assert [c.code for c in table.columns] == ["vessel:heincke:dwd:air_temperature",
                                               "vessel:heincke:dwd:air_pressure"]
    assert [c.unit for c in table.columns] == ["°C", "hPa"]
    lines = REAL.decode().splitlines()[1:]
    assert len(table.frame) == len(lines) == 14
    first = lines[0].split("\t")
    assert table.frame.index[0] == pd.Timestamp(first[0], tz="UTC")
    assert table.frame.iloc[0].tolist() == [float(first[1]), float(first[2])]
    assert str(table.frame.index.tz) == "UTC"


def test_a_path_and_a_file_object_read_like_bytes(tmp_path):
    path = tmp_path / "answer.tsv"
    path.write_bytes(REAL)
    expected = read_table(REAL).frame
    pd.testing.assert_frame_equal(read_table(path).frame, expected)
    pd.testing.assert_frame_equal(read_table(io.BytesIO(REAL)).frame, expected)


@pytest.mark.parametrize("variant", [
    b"\xef\xbb\xbf" + REAL,  # a byte-order mark
    REAL.replace(b"\n", b"\r\n"),  # CR LF
    REAL + b"\n\n\n",  # blank lines at the end
    REAL.rstrip(b"\n"),  # no final line break
    REAL.replace(b"\t", b"\t "),  # blanks before values and labels
    REAL.replace(b"\t", b" \t").replace(b"\n", b" \n"),  # blanks after times and values
])
def test_tolerated_variants_read_as_the_original(variant):
    pd.testing.assert_frame_equal(read_table(variant).frame, read_table(REAL).frame)


def test_a_latin1_header_is_read():
    table = read_table(REAL.replace("°C".encode(), "°C".encode("iso-8859-1"), 1))
    assert table.columns[0].unit == "°C"


def test_times_with_a_zone_are_converted_to_utc():
    answer = f"datetime\t{LABEL}\n2024-03-18T21:00:00+01:00\t1.5\n".encode()
    assert read_table(answer).frame.index[0] == pd.Timestamp("2024-03-18 20:00", tz="UTC")


def test_empty_values_are_missing_and_flags_are_recognised():
    answer = (f"datetime\t{LABEL}\t{LABEL} (quality_flag)\t"
              "vessel:heincke:dwd:air_temperature (mean) [] (quality_flag)\n"
              "2024-03-18 20:00:00\t\t1\t2\n2024-03-18 21:00:00\t1017.5\t\t4\n").encode()
    table = read_table(answer)
    assert table.columns[1] == Column(f"{LABEL} (quality_flag)",
                                      "vessel:heincke:dwd:air_pressure", "mean", "hPa", True)
    assert table.columns[2].unit is None and table.columns[2].flag
    values = table.frame.to_numpy()
    assert np.isnan(values[0, 0]) and np.isnan(values[1, 1])
    assert values[1].tolist()[::2] == [1017.5, 4.0]


def test_a_header_only_answer_is_an_empty_table():
    table = read_table(f"datetime\t{LABEL}\n".encode())
    assert table.frame.empty and list(table.frame.columns) == [LABEL]
    assert str(table.frame.index.tz) == "UTC"


@pytest.mark.parametrize(("answer", "message"), [
    (b"", "is empty"),
    (b"\n\n", "is empty"),
    (b"time\tvessel:a:b (mean) [m]\n", "line 1 should be the header"),
    (b"datetime\n2024-01-01 00:00:00\n", "line 1 should be the header"),
    (f"datetime\t{LABEL}\t{LABEL}\n".encode(), "twice"),
    (b"datetime\tTemp [degC]\n", "cannot be read safely"),
    (f"datetime\t{LABEL}\n2024-03-18 20:00:00\t1\t2\n".encode(), "line 2"),
    (f"datetime\t{LABEL}\n2024-03-18 20:00:00\t1\n2024-03-18 21:00:00\n".encode(), "line 3"),
    (f"datetime\t{LABEL}\nyesterday\t1\n".encode(), "line 2"),
    (f"datetime\t{LABEL}\n2024-03-18 20:00:00\tcalm\n".encode(), "a number"),
    (f"datetime\t{LABEL}\n\t1\n".encode(), "line 2"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (f"datetime\t{LABEL}\n2024-03-18 20:00:00\t1".encode() + b"\xff5\n", "a number"),
    (f"datetime\t{LABEL}\n2024-03-18 20:00:\xff0\t1\n".encode("latin-1"), "a time"),
    (f"datetime\t{LABEL}\n2024-03-18 20:00:00{' ' * 40}x\t1\n".encode(), "a time"),
])
def test_refused_inputs_name_the_problem(answer, message):
    with pytest.raises(InvalidDataError, match=message):
        read_table(answer, name="the answer")


def _read_or_refuse(data: bytes) -> None:
    try:
        table = read_table(data)
    except InvalidDataError:
        return
    assert len(table.columns) == table.frame.shape[1] >= 1
    assert str(table.frame.index.tz) == "UTC"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_are_read_or_refused(data):
    _read_or_refuse(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_tables_are_read_or_refused(data):
    answer = bytearray(REAL)
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        where = data.draw(st.integers(0, max(0, len(answer) - 1)))
        if kind == "flip" and answer:
            answer[where] = data.draw(st.sampled_from(b"\t\n\r :.-+eE0159x\x00\xff"))
        elif kind == "insert":
            answer[where:where] = data.draw(st.sampled_from(
                [b"\t", b"\n", b"nan", b"1e400", b"-", b"\t\t", b"(quality_flag)", b"\xc3"]))
        elif kind == "delete":
            del answer[where:where + data.draw(st.integers(1, 20))]
        else:
            del answer[where:]
    _read_or_refuse(bytes(answer))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.one_of(
    st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32))), max_size=30))
def test_generated_tables_round_trip(rows):
    times = pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(
        [seconds for seconds, _ in rows], unit="s")
    lines = [f"datetime\t{LABEL}"] + [
        f"{time:%Y-%m-%d %H:%M:%S}\t{'' if value is None else repr(value)}"
        for time, (_, value) in zip(times, rows, strict=True)]
    table = read_table(("\n".join(lines) + "\n").encode())
    assert list(table.frame.index) == list(times)
    expected = [np.nan if value is None else value for _, value in rows]
    np.testing.assert_array_equal(table.frame[LABEL].to_numpy(), np.array(expected, float))


def test_flag_columns_in_the_ingest_form_take_the_label_of_their_value_column():
    code = "vessel:heincke:dwd:air_pressure"
    answer = (f"datetime\t{LABEL}\t{code} (quality_flag)\t{code} (max) [hPa]\t"
              f"{code} (quality_flag)\n2024-03-18 20:00:00\t1.5\t1\t2.5\t2\n").encode()
    table = read_table(answer)
    assert [c.label for c in table.columns] == [
        LABEL, f"{LABEL} (quality_flag)", f"{code} (max) [hPa]",
        f"{code} (max) [hPa] (quality_flag)"]
    assert table.columns[3] == Column(f"{code} (max) [hPa] (quality_flag)", code, "max", "hPa",
                                      True)
    alone = read_table(f"datetime\t{code} (quality_flag)\t{LABEL}\n".encode()).columns[0]
    assert alone == Column(f"{code} (quality_flag)", code, None, None, True)  # not after a value
