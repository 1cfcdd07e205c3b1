"""The O2A emulator (awiml.testing.O2AServer), through plain requests against its routes."""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awiml.archives.o2a._references import resolve_references
from awiml.testing import Fault, O2AServer

DATA = Path(__file__).resolve().parent.parent / "awiml" / "testing" / "o2a" / "data"
HEINCKE_T = "vessel:heincke:dwd:air_temperature"
HEINCKE_P = "vessel:heincke:dwd:air_pressure"
CTD = "station:svluwobs:svluw2:ctd_181"
TSG_T = "vessel:polarstern:tsg:temperature"
TSG_S = "vessel:polarstern:tsg:salinity"


@pytest.fixture(scope="module")
def o2a():
    with O2AServer() as server:
        server.add_sample_data()
        yield server


def get(server, route, **params):
    return requests.get(server.data_url + route, params=params, timeout=30)


def data(server, sensors, begin, end, **params):
    return get(server, "/data", sensors=sensors, beginDate=begin, endDate=end, **params)


def table(reply):
    assert reply.status_code == 200, reply.text
    return pd.read_csv(io.StringIO(reply.text), sep="\t", index_col=0)


# -- /sensors ------------------------------------------------------------------------- #


def test_sensors_answers_the_real_entry_of_heincke_air_pressure(o2a):
    real = json.loads((DATA / "dws_sensors_pattern_heincke_air_pressure.json").read_text("utf-8"))
    assert get(o2a, "/sensors", pattern=HEINCKE_P).json() == real


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("vessel:heincke:*", [HEINCKE_T, HEINCKE_P]),
        ("VESSEL:Polarstern:TSG:*", [TSG_T, TSG_S]),
        ("*:ctd_181:oxygen*", [f"{CTD}:oxygen_concentration", f"{CTD}:oxygen_mg",
                                f"{CTD}:oxygen_ml"]),
        ("vessel*salinity", [TSG_S]),  # * runs over colons
        ("station:nowhere:*", []),
    ],
)
def test_sensors_match_wildcards_case_insensitively(o2a, pattern, expected):
    reply = get(o2a, "/sensors", pattern=pattern)
    assert reply.status_code == 200
    assert [entry["code"] for entry in reply.json()] == expected


def test_sensor_entries_carry_every_field_and_legacy_names(o2a):
    entries = get(o2a, "/sensors", pattern=f"{CTD}:*").json()
    assert len(entries) == 9
    fields = {"id", "code", "logicalCode", "sensor", "unit", "platformId", "firstDate",
              "lastDate", "lastValue", "lastQualityFlag", "source"}
    assert all(set(entry) == fields for entry in entries)
    by_code = {entry["code"]: entry for entry in entries}
    oxygen = by_code[f"{CTD}:oxygen_concentration"]
    assert (oxygen["id"], oxygen["unit"], oxygen["platformId"]) == (443, "%", 58)
    assert oxygen["sensor"] == "svluwobs:svluw2:ctd_181:oxygen_concentration"
    assert by_code[f"{CTD}:chlorophyll_concentration"]["unit"] == "µg/L"


def test_sensors_without_pattern_is_refused(o2a):
    reply = requests.get(o2a.data_url + "/sensors", timeout=5)
    assert reply.status_code == 400
    assert "pattern" in reply.text


# -- /data: the real rows --------------------------------------------------------------- #


def test_data_serves_the_real_heincke_answer_byte_for_byte(o2a):
    reply = data(o2a, [HEINCKE_T, HEINCKE_P], "2024-03-18T20:00:00", "2024-03-19T09:24:28",
                 aggregate="hour", aggregateFunctions="MEAN", streamit="true",
                 withQualityFlags="false", withLogicalCode="false")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/tab-separated-values; charset=UTF-8"
    real = (DATA / "dws_data_heincke_air_temp_pressure_hour_mean.tsv").read_bytes()
    assert reply.content == real


def test_data_serves_the_real_ctd_rows(o2a):
    reply = data(o2a, [f"{CTD}:temperature", f"{CTD}:pressure"], "2018-10-01T00:00:00",
                 "2018-10-01T04:00:00")
    real = DATA / "legacy2018_dws_data_svluwobs_ctd181_temp_pressure_hour_head.tsv"
    assert reply.content == real.read_bytes()


def test_polarstern_tsg_follows_the_pangaea_ps103_series(o2a):
    from awiml.archives.pangaea import read_text

    pangaea = read_text(Path(__file__).resolve().parent.parent / "awiml" / "data"
                        / "PANGAEA_889513_PS103_surf_oce_tsg.tab")
    served = table(data(o2a, [TSG_T, TSG_S], "2016-12-17T00:00:00", "2016-12-20T00:00:00",
                        aggregate="minute"))
    served.index = pd.to_datetime(served.index, utc=True)
    times = pd.to_datetime(pangaea["Date/Time"], utc=True)
    both = served.join(pangaea.set_index(times)[["Temp", "Sal"]], how="inner")
    assert len(both) > 300  # every 10 minutes for three days, less gaps
    assert np.abs(both.iloc[:, 0] - both["Temp"]).max() < 0.1
    assert np.abs(both.iloc[:, 1] - both["Sal"]).max() < 0.03


# -- /data: rows, bins, functions, flags ---------------------------------------------- #


def test_both_ends_are_inclusive_and_rows_are_labelled_with_their_bin_start(o2a):
    hours = table(data(o2a, TSG_T, "2020-05-01T10:00:00", "2020-05-01T12:00:00"))
    assert list(hours.index) == ["2020-05-01 10:00:00", "2020-05-01 11:00:00",
                                 "2020-05-01 12:00:00"]
    inside = table(data(o2a, TSG_T, "2020-05-01T10:00:01", "2020-05-01T12:59:59"))
    assert list(inside.index) == ["2020-05-01 11:00:00", "2020-05-01 12:00:00"]
    days = table(data(o2a, TSG_T, "2020-05-01T00:00:00", "2020-05-03T00:00:00",
                      aggregate="DAY"))
    assert list(days.index) == ["2020-05-01 00:00:00", "2020-05-02 00:00:00",
                                "2020-05-03 00:00:00"]
    seconds = table(data(o2a, TSG_T, "2020-05-01T10:00:58", "2020-05-01T10:01:01",
                         aggregate="second"))
    assert list(seconds.index) == ["2020-05-01 10:00:58", "2020-05-01 10:00:59",
                                   "2020-05-01 10:01:00", "2020-05-01 10:01:01"]


def test_an_hour_aggregates_the_seconds_of_its_minutes(o2a):
    functions = ["MEAN", "MIN", "MAX", "MEDIAN", "STD", "COUNT"]
    hour = table(data(o2a, f"{CTD}:pressure", "2021-02-03T05:00:00", "2021-02-03T05:00:00",
                      aggregateFunctions=functions))
    minutes = table(data(o2a, f"{CTD}:pressure", "2021-02-03T05:00:00",
                         "2021-02-03T05:59:59", aggregate="minute",
                         aggregateFunctions=functions))
    label = f"{CTD}:pressure ({{}}) [dbar]".format
    assert list(hour.columns) == [label(f.lower()) for f in functions]
    assert len(minutes) == 60
    row = hour.iloc[0]
    assert row[label("count")] == 3600 == minutes[label("count")].sum()
    assert row[label("max")] == minutes[label("max")].max()  # the same seconds
    assert row[label("min")] == minutes[label("min")].min()
    assert row[label("mean")] == pytest.approx(minutes[label("mean")].mean(), abs=2e-6)
    assert row[label("min")] < row[label("median")] < row[label("max")]
    assert 0 < row[label("std")] < row[label("max")] - row[label("min")]


def test_count_prints_integers_and_the_table_has_unix_line_ends(o2a):
    reply = data(o2a, TSG_S, "2020-01-01T00:00:00", "2020-01-01T01:00:00",
                 aggregateFunctions=["count", "Mean"])
    lines = reply.content.split(b"\n")
    assert lines[0] == (f"datetime\t{TSG_S} (count) [PSU]\t{TSG_S} (mean) [PSU]"
                        .encode())
    assert lines[1].split(b"\t")[1] == b"3600"
    assert re.fullmatch(rb"\d+\.\d{6}", lines[1].split(b"\t")[2])
    assert lines[-1] == b"" and b"\r" not in reply.content


def test_quality_flags_follow_their_value_column(o2a):
    reply = data(o2a, [f"{CTD}:salinity", TSG_T], "2019-01-01T00:00:00",
                 "2019-01-03T00:00:00", withQualityFlags="true",
                 aggregateFunctions=["MEAN", "MAX"])
    frame = table(reply)
    salinity = f"{CTD}:salinity ({{}}) [PSU]".format
    assert list(frame.columns) == [
        salinity("mean"), salinity("mean") + " (quality_flag)",
        salinity("max"), salinity("max") + " (quality_flag)",
        f"{TSG_T} (mean) [°C]", f"{TSG_T} (mean) [°C] (quality_flag)",
        f"{TSG_T} (max) [°C]", f"{TSG_T} (max) [°C] (quality_flag)",
    ]
    flags = frame.filter(like="(quality_flag)")
    assert set(np.unique(flags.to_numpy())) <= {1, 2, 3, 4}
    assert flags.dtypes.map(pd.api.types.is_integer_dtype).all()
    assert len(np.unique(flags.to_numpy())) > 1  # not all alike
    real = table(data(o2a, HEINCKE_P, "2024-03-18T20:00:00", "2024-03-18T22:00:00",
                      withQualityFlags="true"))
    assert list(real.iloc[:, 1]) == [0, 0, 0]  # real rows: not checked


def test_a_sensor_without_data_in_a_row_gets_empty_fields(o2a):
    reply = data(o2a, [HEINCKE_P, TSG_S], "2024-03-19T09:00:00", "2024-03-19T12:00:00",
                 withQualityFlags="true")
    rows = [line.split("\t") for line in reply.text.splitlines()[1:]]
    assert [row[0][11:] for row in rows] == ["09:00:00", "10:00:00", "11:00:00", "12:00:00"]
    assert rows[2][1:3] == ["", ""] and rows[3][1:3] == ["", ""]  # Heincke ended 10:02:22
    assert all(row[3] and row[4] for row in rows)


@pytest.mark.parametrize(
    ("begin", "end"),
    [("2014-06-01T00:00:00", "2014-06-02T00:00:00"),  # before firstDate
     ("2020-05-01T10:20:00", "2020-05-01T10:40:00")],  # no bin start inside
)
def test_a_range_without_rows_answers_the_header_only(o2a, begin, end):
    reply = data(o2a, TSG_T, begin, end)
    assert reply.status_code == 200
    assert reply.text == f"datetime\t{TSG_T} (mean) [°C]\n"


@pytest.mark.parametrize("aggregate", ["second", "minute", "hour"])
def test_rows_of_a_short_request_equal_those_of_a_long_one_byte_for_byte(o2a, aggregate):
    span = {"second": 120, "minute": 3 * 3600, "hour": 6 * 86400}[aggregate]
    begin = pd.Timestamp("2016-12-20T05:00:00")  # inside PS103: the recorded window
    end = begin + pd.Timedelta(seconds=span)
    params = {"aggregate": aggregate, "withQualityFlags": "true",
              "aggregateFunctions": ["MEAN", "MIN", "MAX", "MEDIAN", "STD", "COUNT"]}
    codes = [TSG_T, TSG_S, HEINCKE_T]
    whole = data(o2a, codes, begin.isoformat(), end.isoformat(), **params).content
    lines = whole.split(b"\n")[1:-1]
    assert len(lines) > 100
    for start, stop in [(0, 7), (7, 40), (len(lines) // 2, len(lines))]:
        first = lines[start][:19].decode().replace(" ", "T")
        last = lines[stop - 1][:19].decode().replace(" ", "T")
        part = data(o2a, codes, first, last, **params).content.split(b"\n")[1:-1]
        assert part == lines[start:stop]


def test_the_synthetic_series_is_smooth_and_plausible(o2a):
    days = table(data(o2a, [TSG_T, f"{CTD}:salinity"], "2019-01-01T00:00:00",
                      "2019-12-31T00:00:00", aggregate="day"))
    assert len(days) == 365
    temperature, salinity = days.iloc[:, 0], days.iloc[:, 1]
    assert temperature.max() - temperature.min() > 8  # seasons
    assert 33 < salinity.min() < salinity.max() < 36
    assert temperature.diff().abs().max() < 2  # no jumps from day to day


def test_json_format_answers_the_same_rows(o2a):
    args = ([TSG_T, TSG_S], "2020-05-01T10:00:00", "2020-05-01T12:00:00")
    answer = data(o2a, *args, format="application/json", withQualityFlags="true")
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    text = data(o2a, *args, withQualityFlags="true").text.splitlines()
    assert body["header"] == text[0].split("\t")
    assert len(body["data"]) == len(text) - 1 == 3
    for row, line in zip(body["data"], text[1:], strict=True):
        cells = line.split("\t")
        assert row[0] == cells[0]
        assert row[1] == pytest.approx(float(cells[1]), abs=1e-6)
        assert row[2] == int(cells[2])


def test_a_year_of_minute_data_for_four_sensors_is_produced_in_a_few_seconds(o2a):
    server = O2AServer(max_points=4 * 525_600).start()
    try:
        server.add_sample_data()
        started = time.perf_counter()
        reply = data(server, [TSG_T, TSG_S, f"{CTD}:temperature", f"{CTD}:salinity"],
                     "2019-01-01T00:00:00", "2019-12-31T23:59:59", aggregate="minute")
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    assert reply.status_code == 200
    assert reply.content.count(b"\n") == 525_601
    assert elapsed < 20, f"{elapsed:.1f} s"  # a few seconds on a laptop; generous for CI


# -- /data: refusals and limits --------------------------------------------------------- #


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"sensors": None}, "missing query parameter: sensors"),
        ({"sensors": "vessel:nowhere:tsg:temperature"},
         "unknown sensor: vessel:nowhere:tsg:temperature"),
        ({"beginDate": None}, "missing query parameter: beginDate"),
        ({"endDate": "2020-13-01T00:00:00"}, "endDate='2020-13-01T00:00:00'"),
        ({"beginDate": "yesterday"}, "beginDate='yesterday' is not a date"),
        ({"beginDate": "2020-02-01T00:00:00"}, "beginDate (2020-02-01T00:00:00) is after"),
        ({"aggregate": "fortnight"}, "unknown aggregate: fortnight"),
        ({"aggregateFunctions": ["MEAN", "AVG"]}, "unknown aggregate function: AVG"),
        ({"format": "text/csv"}, "unknown format: text/csv"),
        ({"withQualityFlags": "yes"}, "withQualityFlags must be true or false"),
    ],
)
def test_bad_requests_get_400_with_one_line_naming_the_input(o2a, change, words):
    params = {"sensors": TSG_T, "beginDate": "2020-01-01T00:00:00",
              "endDate": "2020-01-02T00:00:00"}
    params.update(change)
    reply = requests.get(o2a.data_url + "/data", params=params, timeout=5)
    assert reply.status_code == 400
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert words in reply.text and "\n" not in reply.text.strip()


def test_too_large_requests_get_413(awiml_o2a_server):
    server = awiml_o2a_server
    server.max_points = 100
    ok = data(server, [TSG_T, TSG_S], "2020-01-01T00:00:00", "2020-01-03T01:00:00")
    assert ok.status_code == 200 and ok.text.count("\n") == 51  # 50 rows x 2 = 100
    big = data(server, [TSG_T, TSG_S], "2020-01-01T00:00:00", "2020-01-03T01:00:00",
               aggregateFunctions=["MEAN", "MAX"])
    assert big.status_code == 413
    assert big.text == "request too large: 200 rows x columns exceed the limit of 100"


def test_more_concurrent_requests_than_allowed_get_429(awiml_o2a_server):
    server = awiml_o2a_server
    server.max_concurrent, server.latency = 2, 2.0  # the others arrive meanwhile
    barrier = threading.Barrier(5)
    replies = []

    def ask():
        barrier.wait()
        replies.append(data(server, TSG_T, "2020-01-01T00:00:00", "2020-01-01T02:00:00"))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses.count(200) == 2 and statuses.count(429) == 3
    refused = next(reply for reply in replies if reply.status_code == 429)
    assert refused.headers["Retry-After"] == "1"
    server.latency = 0.0
    assert data(server, TSG_T, "2020-01-01T00:00:00", "2020-01-01T02:00:00").ok


def test_latency_and_row_time_slow_requests_down(awiml_o2a_server):
    server = awiml_o2a_server
    server.latency, server.row_time = 0.3, 0.02
    started = time.perf_counter()
    reply = data(server, TSG_T, "2020-01-01T00:00:00", "2020-01-01T09:00:00")  # 10 rows
    assert reply.ok
    assert time.perf_counter() - started >= 0.3 + 10 * 0.02


def test_fail_range_fails_only_the_overlapping_requests(awiml_o2a_server):
    server = awiml_o2a_server
    server.fail_range("2020-01-02T00:00:00", "2020-01-02T23:59:59", Fault.status(503), times=2)
    before = data(server, TSG_T, "2020-01-01T00:00:00", "2020-01-01T23:00:00")
    touching = data(server, TSG_T, "2020-01-01T00:00:00", "2020-01-02T00:00:00")
    inside = data(server, TSG_T, "2020-01-02T05:00:00", "2020-01-02T06:00:00")
    again = data(server, TSG_T, "2020-01-02T05:00:00", "2020-01-02T06:00:00")
    assert [r.status_code for r in (before, touching, inside, again)] == [200, 503, 503, 200]

    server.fail_range("2020-03-01T00:00:00", "2020-03-01T00:00:00",
                      Fault.drop_after(10), times=None)
    for _ in range(2):
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            data(server, TSG_T, "2020-02-28T00:00:00", "2020-03-02T00:00:00")
    server.clear_faults()
    assert data(server, TSG_T, "2020-02-28T00:00:00", "2020-03-02T00:00:00").ok


def test_injected_faults_apply_to_the_data_route(awiml_o2a_server):
    server = awiml_o2a_server
    server.inject("data/rest/data", Fault.too_many_requests(retry_after=0))
    first = data(server, TSG_T, "2020-01-01T00:00:00", "2020-01-01T01:00:00")
    second = data(server, TSG_T, "2020-01-01T00:00:00", "2020-01-01T01:00:00")
    assert (first.status_code, second.status_code) == (429, 200)
    assert server.hits("data/rest/data") == 2


def test_add_sensor_serves_a_sensor_of_your_own(awiml_o2a_server):
    server = awiml_o2a_server
    server.add_sensor("Station:Test:CTD:Temperature", "°C", "2020-01-01T00:00:00",
                      "2020-01-01T05:30:00", level=4.0, annual=0, daily=0, noise=0)
    [entry] = get(server, "/sensors", pattern="station:test:*").json()
    assert entry["code"] == "station:test:ctd:temperature"
    assert (entry["firstDate"], entry["lastDate"]) == ("2020-01-01T00:00:00",
                                                       "2020-01-01T05:30:00")
    assert entry["lastValue"] == 4.0
    frame = table(data(server, "STATION:test:ctd:temperature", "2019-12-31T00:00:00",
                       "2020-01-02T00:00:00", aggregateFunctions=["MEAN", "COUNT"]))
    assert list(frame.iloc[:, 0]) == [4.0] * 6
    assert list(frame.iloc[:, 1]) == [3600] * 5 + [1801]
    with pytest.raises(ValueError, match="not a sensor code"):
        server.add_sensor("temperature")
    with pytest.raises(ValueError, match="before first"):
        server.add_sensor("a:b:c", first="2020-01-02T00:00:00", last="2020-01-01T00:00:00")


# -- the registry ----------------------------------------------------------------------- #


def reg(server, route, **params):
    return requests.get(server.registry_url + route, params=params, timeout=10)


def test_items_found_by_code_like_carry_the_real_item_560(o2a):
    real = json.loads((DATA / "registry_item_560_optode.json").read_text("utf-8"))
    answer = reg(o2a, "/items", where="code=LIKE=vessel:mya_ii:fb_741202:optode_9999a").json()
    assert answer == {"totalRecords": 1, "records": [real]}
    devices = reg(o2a, "/items", where="code=LIKE=VESSEL:*:TSG").json()
    assert [item["code"] for item in devices["records"]] == ["vessel:polarstern:tsg"]


@pytest.mark.parametrize(
    ("where", "ids"),
    [
        ("code==station:svluwobs:svluw2:ctd_181", [9302]),
        ("id==560", [560]),
        ("parent.id==9100", [9101]),
        ("code=LIKE=vessel:*;parent.id==456", [508, 576, 1225, 1312, 2834, 2835, 2838, 2868,
                                               2869, 7464]),
        ("code=LIKE=*heincke*", [9100, 9101]),
        ("id==1", []),
    ],
)
def test_rsql_where_clauses(o2a, where, ids):
    answer = reg(o2a, "/items", where=where).json()
    assert [item["id"] for item in answer["records"]] == ids


def test_items_are_paged(o2a):
    first = reg(o2a, "/items", where="parent.id==456").json()
    rest = reg(o2a, "/items", where="parent.id==456", offset=10, hits=10).json()
    assert first["totalRecords"] == rest["totalRecords"] == 15
    assert len(first["records"]) == 10 and len(rest["records"]) == 5
    everything = reg(o2a, "/items", where="parent.id==456", hits=100).json()
    ids = [item["id"] for item in everything["records"]]
    assert ids == [item["id"] for item in first["records"] + rest["records"]]


def test_repeated_objects_are_sent_once_and_resolve(o2a):
    answer = reg(o2a, "/items", where="parent.id==456", hits=100).json()
    statuses = [item["status"] for item in answer["records"]]
    assert isinstance(statuses[0], dict) and statuses[0]["name"] == "public"
    assert statuses[1:] == [statuses[0]["@uuid"]] * 14
    resolved = resolve_references(answer)
    assert all(item["status"]["name"] == "public" for item in resolved["records"])

    optode = reg(o2a, "/items/560/parameters").json()["records"]
    by_name = {p["shortName"]: p for p in optode}
    assert by_name["saturation_qf"]["unit"] == by_name["saturation"]["unit"]["@uuid"]
    assert resolve_references(optode)[3]["unit"]["code"] == "%"

    parameters = reg(o2a, "/items/9302/parameters", hits=100).json()
    assert parameters["totalRecords"] == 9
    by_name = {p["shortName"]: p for p in parameters["records"]}
    assert by_name["oxygen_ml"]["type"] == by_name["oxygen_mg"]["type"]["@uuid"]
    resolved = resolve_references(parameters)
    by_name = {p["shortName"]: p for p in resolved["records"]}
    assert by_name["oxygen_concentration"]["unit"]["code"] == "%"
    assert by_name["temperature"]["unit"]["ucum"] == "Cel"
    assert {p["shortName"] for p in resolved["records"]} == {
        code.rsplit(":", 1)[1] for code in o2a.sensor_codes() if code.startswith(CTD)}


def test_item_560_parameters_events_and_contacts(o2a):
    real = json.loads((DATA / "registry_item_560_parameters_slice1-3.json").read_text("utf-8"))
    answer = reg(o2a, "/items/560/parameters").json()
    assert answer["totalRecords"] == 5
    served = answer["records"][1:4]
    for mine, theirs in zip(served, real, strict=True):
        theirs = {key: value for key, value in theirs.items() if key != "urn"}  # client-added
        assert mine == theirs
    resolved = resolve_references(answer)["records"]
    assert resolved[2]["unit"]["code"] == "µmol/l"  # defined in records[0], not recovered
    events = resolve_references(reg(o2a, "/items/560/events").json())["records"]
    assert [e["label"] for e in events] == ["MOSES Sternfahrt 5 M-1", "MOSES Sternfahrt 5 M-2"]
    assert all(e["type"]["generalName"] == "Deployment" for e in events)
    contacts = resolve_references(reg(o2a, "/items/560/contacts").json())["records"]
    assert {c["contact"]["lastName"] for c in contacts} == {"Fischer", "Bussmann"}


def test_every_sample_sensor_has_its_registry_item_and_parameter(o2a):
    for code in o2a.sensor_codes():
        item_code, short = code.rsplit(":", 1)
        [item] = reg(o2a, "/items", where=f"code=={item_code}").json()["records"]
        parameters = resolve_references(
            reg(o2a, f"/items/{item['id']}/parameters", hits=100).json())["records"]
        [parameter] = [p for p in parameters if p["shortName"] == short]
        assert parameter["unit"]["code"] == get(o2a, "/sensors", pattern=code).json()[0]["unit"]
        events = reg(o2a, f"/items/{item['id']}/events").json()["records"]
        assert events and {"startDate", "endDate", "latitude", "longitude"} <= set(events[0])


@pytest.mark.parametrize(
    ("route", "params", "status", "words"),
    [
        ("/items/99999", {}, 404, "item 99999 not found"),
        ("/items/99999/parameters", {}, 404, "item 99999 not found"),
        ("/items/560/sensors", {}, 404, "unknown resource"),
        ("/items/abc", {}, 400, "must be an integer"),
        ("/things", {}, 404, "no such resource"),
        ("/items", {"where": "name=in=(a,b)"}, 400, "cannot parse where clause"),
        ("/items", {"where": "id=LIKE=5*"}, 400, "id needs =="),
        ("/items", {"offset": "-1"}, 400, "offset"),
    ],
)
def test_registry_refusals_are_json_messages(o2a, route, params, status, words):
    reply = reg(o2a, route, **params)
    assert reply.status_code == status
    assert words in reply.json()["message"]


# -- fuzzing ---------------------------------------------------------------------------- #

VALID = {
    "sensors": [TSG_T, HEINCKE_P.upper(), f"{CTD}:turbidity"],
    "beginDate": ["2024-03-18T20:00:00", "2024-03-19T05:59:59"],  # short ranges: the
    "endDate": ["2024-03-19T06:00:00", "2024-03-19T10:00:00"],  # fuzz is about parsing
    "aggregate": list(("second", "minute", "hour", "day")),
    "aggregateFunctions": ["MEAN", "min", "Max", "MEDIAN", "std", "COUNT"],
    "format": ["text/tab-separated-values", "application/json"],
    "withQualityFlags": ["true", "false"],
}


@st.composite
def queries(draw):
    params = []
    for name, values in VALID.items():
        for _ in range(draw(st.integers(0, 2))):
            value = draw(st.one_of(st.sampled_from(values), st.text(max_size=30)))
            params.append((name, value))
    if draw(st.booleans()):
        params.append((draw(st.text(max_size=10)), draw(st.text(max_size=10))))
    return params


@settings(max_examples=int(os.environ.get("AWIML_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=queries(), pattern=st.text(max_size=40), where=st.text(max_size=60))
def test_no_query_makes_the_server_fail_or_hang(o2a, params, pattern, where):
    reply = requests.get(o2a.data_url + "/data", params=params, timeout=30)
    assert reply.status_code in (200, 400, 413), reply.text
    sensors = get(o2a, "/sensors", pattern=pattern)
    assert sensors.status_code in (200, 400)
    items = reg(o2a, "/items", where=where, hits=5)
    assert items.status_code in (200, 400)
    assert isinstance(items.json(), dict)
