"""The O2A emulator (awiml.testing.O2AServer), through plain requests against its routes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from awiml.testing import O2AServer

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
