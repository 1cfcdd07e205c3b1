"""PlatformSource.read: chunked, concurrent, cached reads of O2A sensor data (issue 14)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from awiml import PlatformSource
from awiml.archives.o2a._read import Part, fetch_bytes, plan_chunks, stitch_bytes, stitch_table
from awiml.archives.o2a._request import AGGREGATE_SECONDS, AGGREGATES, FUNCTIONS, ExtractRequest
from awiml.archives.o2a._table import read_table
from awiml.errors import ArchiveUnavailableError, InvalidDataError, NotFoundError
from awiml.preprocess import ConvertUnits
from awiml.testing import Fault

PRESSURE = "vessel:heincke:dwd:air_pressure"
TEMPERATURE = "vessel:heincke:dwd:air_temperature"
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")

# -- the chunk planner ---------------------------------------------------------------------


def _bins(start: pd.Timestamp, end: pd.Timestamp, step: int) -> int:
    """Count the bin labels in [start, end] (both included)."""
    first = -(-int((start - EPOCH).total_seconds()) // step)
    last = int((end - EPOCH).total_seconds()) // step
    return max(0, last - first + 1)


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                       max_value=pd.Timestamp("2030-01-01").to_pydatetime()),
    seconds=st.integers(0, 3 * 365 * 86400),
    aggregate=st.sampled_from(AGGREGATES),
    sensors=st.integers(1, 4),
    functions=st.lists(st.sampled_from(FUNCTIONS), min_size=1, max_size=3, unique=True),
    flags=st.booleans(),
    max_points=st.integers(1, 2_000_000),
)
def test_chunks_cover_every_bin_exactly_once(start, seconds, aggregate, sensors, functions,
                                             flags, max_points):
    step = AGGREGATE_SECONDS[aggregate]
    start = pd.Timestamp(start).floor("s")
    end = start + pd.Timedelta(seconds=seconds)
    codes = [f"vessel:heincke:dwd:sensor_{i}" for i in range(sensors)]
    request = ExtractRequest.build(codes, start, end, aggregate=aggregate,
                                   functions=functions, quality_flags=flags)
    total = _bins(request.start, request.end, step)
    if total == 0 or total // max(1, max_points // 12) > 20_000:  # empty, or too many chunks
        if total == 0:
            with pytest.raises(InvalidDataError, match="empty range"):
                plan_chunks(request, max_points)
        return
    chunks = plan_chunks(request, max_points)
    width = request.columns * (2 if flags else 1)
    per_chunk = max(1, max_points // width)
    assert chunks[0][0] >= request.start and chunks[-1][1] == request.end
    counts = [_bins(first, last, step) for first, last in chunks]
    assert sum(counts) == total and min(counts) >= 1  # no bin twice (contiguous), none lost
    assert max(counts) <= per_chunk
    for (_, last), (first, _) in itertools.pairwise(chunks):
        assert first - last == pd.Timedelta(seconds=1)  # inclusive ends, no gap, no overlap
        # inner edges lie on the grid anchored at the epoch: same chunks whatever the call
        assert int((first - EPOCH).total_seconds()) % (per_chunk * step) == 0
    for first, _ in chunks:
        assert int((first - EPOCH).total_seconds()) % step == 0  # on a bin start


def test_a_longer_range_shares_the_inner_chunks_of_a_shorter_one():
    short = ExtractRequest.build(PRESSURE, "2024-01-03T05:00", "2024-01-20")
    long = ExtractRequest.build(PRESSURE, "2024-01-01", "2024-02-01")
    inner = plan_chunks(short, 24)[1:-1]
    assert inner and set(inner) <= set(plan_chunks(long, 24))


# -- stitching -----------------------------------------------------------------------------

HEADER = f"datetime\t{PRESSURE} (mean) [hPa]\n"


def _part(rows: str, start: str = "2024-01-01", end: str = "2024-01-02") -> Part:
    data = (HEADER + rows).encode()
    return Part(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), data,
                read_table(data))


def test_stitching_drops_a_seams_duplicate_rows_and_keeps_the_first():
    first = _part("2024-01-01 00:00:00\t1.0\n2024-01-01 01:00:00\t2.0\n")
    second = _part("2024-01-01 01:00:00\t9.0\n2024-01-01 02:00:00\t3.0\n")
    assert stitch_bytes([first, second]) == (
        HEADER + "2024-01-01 00:00:00\t1.0\n2024-01-01 01:00:00\t2.0\n"
        "2024-01-01 02:00:00\t3.0\n").encode()
    table = stitch_table([first, second])
    assert table.frame.iloc[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert table.frame.index.is_unique and table.frame.index.is_monotonic_increasing


def test_one_chunk_is_passed_on_byte_for_byte_and_empty_chunks_add_nothing():
    only = _part("2024-01-01 00:00:00\t1.000000")  # no final line break
    assert stitch_bytes([only]) == only.data
    assert stitch_bytes([_part(""), only, _part("")]) == only.data + b"\n"


def test_chunks_with_different_columns_are_refused():
    other = Part(pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC"),
                 f"datetime\t{PRESSURE} (mean) [Pa]\n".encode(),
                 read_table(f"datetime\t{PRESSURE} (mean) [Pa]\n".encode()))
    with pytest.raises(InvalidDataError, match="different columns"):
        stitch_bytes([_part("2024-01-01 00:00:00\t1.0\n"), other])


# -- reads through the public API, against the emulator ------------------------------------

TSG_T = "vessel:polarstern:tsg:temperature"
TSG_S = "vessel:polarstern:tsg:salinity"
CTD_T = "station:svluwobs:svluw2:ctd_181:temperature"
DATA = Path(__file__).parent / "data" / "o2a"


def _source(server, **options):
    options = {"cache": False, "progress": False, "retries": 1, **options}
    return PlatformSource(server.data_url, registry_url=server.registry_url, **options)


def _data_requests(server) -> int:
    return server.hits("/data/rest/data")


def test_the_real_heincke_rows_come_back_exactly(awiml_o2a_server):
    lines = (DATA / "dws_data_heincke_air_temp_pressure_hour_mean.tsv").read_text(
        "utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:]]
    data = _source(awiml_o2a_server).read([TEMPERATURE, PRESSURE], rows[0][0], rows[-1][0])
    assert list(data.data_vars) == ["air_temperature_mean", "air_pressure_mean"]
    assert [str(t) for t in pd.DatetimeIndex(data["time"].values)] == [r[0] for r in rows]
    assert data["air_temperature_mean"].values.tolist() == [float(r[1]) for r in rows]
    assert data["air_pressure_mean"].values.tolist() == [float(r[2]) for r in rows]
    assert data["time"].attrs["time_zone"] == "UTC"
    temperature = data["air_temperature_mean"].attrs
    assert temperature["sensor"] == TEMPERATURE and temperature["units"] == "degC"
    assert temperature["o2a_unit"] == "°C" and temperature["aggregate_function"] == "mean"
    assert temperature["aggregate"] == "hour" and temperature["platform"]
    assert temperature["cell_methods"] == "time: mean (interval: 1 hour)"
    assert data["air_pressure_mean"].attrs["units"] == "hPa"
    assert data.attrs["Conventions"].startswith("CF-")
    assert data.attrs["request_url"].startswith(awiml_o2a_server.data_url + "/data?sensors=")


def test_a_single_sensor_read_and_its_frame(awiml_o2a_server):
    source = _source(awiml_o2a_server)
    data = source.read(TSG_T, "2017-01-01", "2017-01-02")
    assert list(data.data_vars) == ["temperature_mean"] and data.sizes["time"] == 25
    frame = source.read(TSG_T, "2017-01-01", "2017-01-02", as_frame=True)
    assert str(frame.index.tz) == "UTC" and frame.index.name == "time"
    assert frame["temperature_mean"].tolist() == data["temperature_mean"].values.tolist()
    kelvin = ConvertUnits({"temperature_mean": "K"}).fit_transform(frame)
    np.testing.assert_allclose(kelvin["temperature_mean"], frame["temperature_mean"] + 273.15)


def test_sensors_sharing_a_parameter_get_the_shortest_distinct_suffix(awiml_o2a_server):
    data = _source(awiml_o2a_server).read([TSG_T, CTD_T, TSG_S], "2018-10-01", "2018-10-01T03:00")
    assert list(data.data_vars) == ["tsg_temperature_mean", "ctd_181_temperature_mean",
                                    "salinity_mean"]
    assert data["salinity_mean"].attrs["units"] == "1"  # practical salinity in CF
    assert data["ctd_181_temperature_mean"].attrs["sensor"] == CTD_T


def test_the_frame_keeps_practical_salinity_from_becoming_a_mass_fraction(awiml_o2a_server):
    frame = _source(awiml_o2a_server).read(TSG_S, "2017-01-01", "2017-01-01T03:00",
                                           as_frame=True)
    assert frame.attrs["units"] == {"salinity_mean": "PSU"}
    with pytest.raises(InvalidDataError, match="salinity_mean"):
        ConvertUnits({"salinity_mean": "g/kg"}).fit_transform(frame)
    same = ConvertUnits({"salinity_mean": "1"}).fit_transform(frame)
    assert same["salinity_mean"].tolist() == frame["salinity_mean"].tolist()


def test_aggregates_and_functions(awiml_o2a_server):
    source = _source(awiml_o2a_server)
    functions = ["mean", "min", "max", "std", "count", "median"]
    data = source.read(TSG_T, "2019-05-01", "2019-05-03", aggregate="day", functions=functions)
    assert data.sizes["time"] == 3
    assert list(data.data_vars) == [f"temperature_{f}" for f in functions]
    assert (data["temperature_min"] <= data["temperature_mean"]).all()
    assert (data["temperature_mean"] <= data["temperature_max"]).all()
    assert data["temperature_count"].attrs["units"] == "1"
    assert "cell_methods" not in data["temperature_count"].attrs
    assert data["temperature_std"].attrs["units"] == "K"  # a spread of °C is a difference
    assert data["temperature_max"].attrs["cell_methods"] == "time: maximum (interval: 1 day)"
    assert data["temperature_mean"].attrs["long_name"].endswith("(daily mean)")
    hourly = source.read(TSG_T, "2019-05-01", "2019-05-01T23:59:59")
    minutes = source.read(TSG_T, "2019-05-01", "2019-05-01T23:59:59", aggregate="minute")
    assert hourly.sizes["time"] == 24 and minutes.sizes["time"] == 24 * 60
    np.testing.assert_allclose(  # an hour's mean is the mean of its minutes' means
        minutes["temperature_mean"].values.reshape(24, 60).mean(axis=1),
        hourly["temperature_mean"].values, atol=1e-5)


def test_quality_flags_are_cf_ancillary_variables(awiml_o2a_server):
    source = _source(awiml_o2a_server)
    data = source.read([TSG_T, TSG_S], "2017-01-01", "2017-01-03", quality_flags=True,
                       functions=["mean", "max"])
    assert list(data.data_vars) == ["temperature_mean", "temperature_mean_qc",
                                    "temperature_max", "temperature_max_qc",
                                    "salinity_mean", "salinity_mean_qc",
                                    "salinity_max", "salinity_max_qc"]
    flags = data["salinity_max_qc"]
    assert flags.dtype == np.int8 and set(np.unique(flags.values)) <= {-1, 0, 1, 2, 3, 4}
    assert flags.attrs["flag_values"] == [0, 1, 2, 3, 4]
    assert flags.attrs["flag_meanings"].split()[1] == "good"
    assert flags.encoding["_FillValue"] == -1
    assert data["salinity_max"].attrs["ancillary_variables"] == "salinity_max_qc"
    plain = source.read([TSG_T, TSG_S], "2017-01-01", "2017-01-03", functions=["mean", "max"])
    np.testing.assert_array_equal(plain["salinity_max"], data["salinity_max"])
    frame = source.read(TSG_T, "2017-01-01", "2017-01-03", quality_flags=True, as_frame=True)
    assert str(frame["temperature_mean_qc"].dtype) == "Int8"


def test_a_multi_month_read_from_small_chunks_equals_one_request(awiml_o2a_server):
    server = awiml_o2a_server
    request = ExtractRequest.build([TSG_T, TSG_S], "2016-11-20T06:30", "2017-02-10T17:00",
                                   functions=["mean", "max"], quality_flags=True)
    whole = fetch_bytes(_source(server, max_points=10**7), request)
    server.clear_requests()
    small = _source(server, max_points=2000)  # 250 hours a chunk: 8 chunks
    assert fetch_bytes(small, request) == whole
    assert _data_requests(server) == len(plan_chunks(request, 2000)) == 8
    one = _source(server, max_points=10**7).read(
        [TSG_T, TSG_S], "2016-11-20T06:30", "2017-02-10T17:00", functions=["mean", "max"],
        quality_flags=True)
    chunked = small.read([TSG_T, TSG_S], "2016-11-20T06:30", "2017-02-10T17:00",
                         functions=["mean", "max"], quality_flags=True)
    xr.testing.assert_identical(chunked, one)
    times = pd.DatetimeIndex(chunked["time"].values)
    assert times.is_unique and (np.diff(times.asi8) == 3600 * 10**9).all()
    assert times[0] == pd.Timestamp("2016-11-20T07:00") and times[-1] == pd.Timestamp(
        "2017-02-10T17:00")


def test_a_chunk_that_breaks_off_once_is_fetched_again(awiml_o2a_server):
    server = awiml_o2a_server
    source = _source(server, max_points=100)
    expected = source.read(TSG_T, "2017-01-01", "2017-01-10")
    server.fail_range("2017-01-05T00:00:00", "2017-01-05T00:00:00", Fault.drop_after(40), times=1)
    server.clear_requests()
    xr.testing.assert_identical(source.read(TSG_T, "2017-01-01", "2017-01-10"), expected)
    assert _data_requests(server) == len(plan_chunks(
        ExtractRequest.build(TSG_T, "2017-01-01", "2017-01-10"), 100)) + 1
    server.fail_range("2017-01-05T00:00:00", "2017-01-05T00:00:00", Fault.status(500),
                      times=1)  # the session's retry
    xr.testing.assert_identical(source.read(TSG_T, "2017-01-01", "2017-01-10"), expected)


def test_a_chunk_that_fails_for_good_is_named_and_the_rest_is_kept(awiml_o2a_server, tmp_path):
    server = awiml_o2a_server
    source = _source(server, max_points=100, cache=tmp_path)
    server.fail_range("2017-01-05T12:00:00", "2017-01-05T12:00:00", Fault.status(503), times=None)
    with pytest.raises(ArchiveUnavailableError) as failure:
        source.read(TSG_T, "2017-01-01", "2017-01-10")
    message = str(failure.value)
    failed = next((first, last) for first, last in plan_chunks(
        ExtractRequest.build(TSG_T, "2017-01-01", "2017-01-10"), 100)
        if first <= pd.Timestamp("2017-01-05T12:00", tz="UTC") <= last)
    assert f"{TSG_T} from {failed[0]:%Y-%m-%dT%H:%M:%S} to {failed[1]:%Y-%m-%dT%H:%M:%S} UTC" in (
        message)
    assert "503" in message
    assert "the next call fetches only the rest" in message
    server.clear_faults()
    server.clear_requests()
    again = _source(server, max_points=100, cache=tmp_path)
    data = again.read(TSG_T, "2017-01-01", "2017-01-10")
    assert _data_requests(server) == 1  # only the chunk that failed
    assert data.sizes["time"] == 9 * 24 + 1


def test_a_second_call_is_served_from_the_cache(awiml_o2a_server, tmp_path):
    server = awiml_o2a_server
    first = _source(server, max_points=500, cache=tmp_path).read(
        [TSG_T, TSG_S], "2017-01-01", "2017-02-01", functions=["mean", "std"])
    fetched = _data_requests(server)
    assert fetched > 1
    second = _source(server, max_points=500, cache=tmp_path).read(
        [TSG_T, TSG_S], "2017-01-01", "2017-02-01", functions=["mean", "std"])
    assert _data_requests(server) == fetched
    xr.testing.assert_identical(first, second)
    # another function, or a range whose data may still grow, is not served from it
    _source(server, max_points=500, cache=tmp_path).read(
        [TSG_T, TSG_S], "2017-01-01", "2017-02-01", functions=["mean"])
    assert _data_requests(server) > fetched


def test_chunks_whose_data_may_still_change_are_not_cached(awiml_o2a_server, tmp_path):
    server = awiml_o2a_server  # Heincke's data end at 2024-03-19 10:02:22
    for _ in range(2):
        _source(server, cache=tmp_path).read(PRESSURE, "2024-03-19T00:00", "2024-03-19T10:00")
    assert _data_requests(server) == 2
    for _ in range(2):
        _source(server, cache=tmp_path).read(PRESSURE, "2024-03-19T00:00", "2024-03-19T09:00")
    assert _data_requests(server) == 3


@pytest.mark.parametrize(("codes", "start", "end", "options", "error", "message"), [
    ("vessel:polarstern:tsg:temperatur", "2017-01-01", "2017-01-02", {}, NotFoundError,
     "Did you mean 'vessel:polarstern:tsg:temperature'"),
    (TSG_T, "2017-01-01T10:30", "2017-01-01T10:30", {}, InvalidDataError, "empty range"),
    (TSG_T, "2017-01-01T10:10", "2017-01-01T10:50", {}, InvalidDataError, "empty range"),
    (TSG_T, "2017-01-02", "2017-01-01", {}, InvalidDataError, "is after end"),
    (TSG_T, "2017-01-01", "2017-01-02", {"aggregate": "week"}, InvalidDataError,
     "aggregate='week' is not offered"),
    (TSG_T, "2017-01-01", "2017-01-02", {"functions": ["mean", "sum"]}, InvalidDataError,
     "'sum' not offered"),
    (TSG_T, "2010-01-01", "2010-02-01", {}, InvalidDataError,
     "has data from 2015-01-01T00:00:00 to 2024-12-31T23:59:59 UTC only"),
    ([PRESSURE, TSG_T], "2025-01-01", "2025-02-01", {}, InvalidDataError, "lies outside it"),
    ("not a code", "2017-01-01", "2017-01-02", {}, InvalidDataError, "not an O2A sensor code"),
    (TSG_T, "yesterday-ish", "2017-01-02", {}, InvalidDataError, "is not a time"),
])
def test_bad_input_is_named(awiml_o2a_server, codes, start, end, options, error, message):
    with pytest.raises(error, match=re.escape(message)):
        _source(awiml_o2a_server).read(codes, start, end, **options)
    assert _data_requests(awiml_o2a_server) == 0


def test_a_request_the_service_refuses_quotes_its_reason(awiml_o2a_server):
    awiml_o2a_server.inject("data/rest/data", Fault.status(400, "unknown aggregate: fortnight\n"))
    with pytest.raises(InvalidDataError, match=r"refused .*temperature from 2017-01-01T00:00:00 "
                       r"to 2017-01-02T00:00:00 UTC.*: unknown aggregate: fortnight"):
        _source(awiml_o2a_server).read(TSG_T, "2017-01-01", "2017-01-02")


def test_a_table_too_large_for_the_service_says_what_to_do(awiml_o2a_server):
    awiml_o2a_server.max_points = 50
    with pytest.raises(InvalidDataError, match="smaller max_points"):
        _source(awiml_o2a_server, max_points=100).read(TSG_T, "2017-01-01", "2017-01-10")
    assert len(_source(awiml_o2a_server, max_points=50).read(
        TSG_T, "2017-01-01", "2017-01-10")["time"]) == 9 * 24 + 1


class _Described(PlatformSource):
    """A source whose registry description is given (the shape of the info() contract)."""

    def info(self, code, **kwargs):
        if code == TSG_S:
            raise ArchiveUnavailableError("the registry is down")
        return {
            "code": code, "unit": "°C",
            "item": {"id": 1, "code": "vessel:polarstern:tsg", "shortName": "tsg",
                     "longName": "Thermosalinograph SBE21", "model": "SBE 21",
                     "manufacturer": "Sea-Bird", "serialNumber": "3185",
                     "citation": "doi:10.1594/example"},
            "parameter": {"name": "sea surface temperature", "shortName": "temperature",
                          "unit": {"code": "°C", "ucum": "Cel"}, "type": {"name": "measured"}},
            "platform": {"code": "vessel:polarstern", "shortName": "polarstern",
                         "longName": "Research Vessel Polarstern"},
            "events": [], "contacts": [],
        }


def test_registry_metadata_becomes_attributes_and_its_failure_only_warns(awiml_o2a_server):
    server = awiml_o2a_server
    source = _Described(server.data_url, registry_url=server.registry_url, cache=False,
                        progress=False)
    with pytest.warns(RuntimeWarning, match="salinity.*the registry is down"):
        data = source.read([TSG_T, TSG_S], "2017-01-01", "2017-01-02")
    attrs = data["temperature_mean"].attrs
    assert attrs["long_name"] == "sea surface temperature (hourly mean)"
    assert attrs["platform"] == "Research Vessel Polarstern"
    assert attrs["device"] == "Thermosalinograph SBE21"
    assert attrs["device_serial_number"] == "3185" and attrs["device_model"] == "SBE 21"
    assert attrs["parameter_type"] == "measured" and attrs["o2a_item_id"] == "1"
    salinity = data["salinity_mean"].attrs
    assert salinity["long_name"] == "salinity (hourly mean)"
    assert salinity["platform"] == "polarstern"
    assert "device_model" not in salinity


def test_a_chunk_that_always_breaks_off_fails_after_bounded_retries(awiml_o2a_server):
    server = awiml_o2a_server
    server.fail_range("2017-01-05T12:00:00", "2017-01-05T12:00:00", Fault.drop_after(30),
                      times=None)
    with pytest.raises(ArchiveUnavailableError, match=r"broke off \(ChunkedEncodingError\), 3 "
                       r"times.*1 of 3 time chunks failed"):
        _source(server, max_points=100, retries=2).read(TSG_T, "2017-01-01", "2017-01-10")
    assert _data_requests(server) == 2 + 3


def test_the_registry_describes_the_variables(awiml_o2a_server):
    optode = "vessel:mya_ii:fb_741202:optode_9999a:o2_corr"  # the real registry item 560
    data = _source(awiml_o2a_server).read(optode, "2020-01-01", "2020-01-01T05:00")
    attrs = data["o2_corr_mean"].attrs
    assert attrs["units"] == "umol/l" and attrs["o2a_unit"] == "µmol/l"
    assert attrs["long_name"] == "O2 Corr (hourly mean)"
    assert attrs["platform"] == "Research vessel Mya II" and attrs["device"] == "Optode"
    assert attrs["device_manufacturer"] == "Aanderaa"
    assert attrs["device_model"] == "OXYGEN OPTODE 4835"
    assert attrs["o2a_item_id"] == "560" and attrs["device_serial_number"] == "9999a"
    assert attrs["references"] == (
        "https://hdl.handle.net/10013/sensor.51ea3572-e557-4b2b-a202-3b749a87bf84")


def test_flag_columns_labelled_by_the_code_alone_belong_to_the_value_before_them():
    from awiml.archives.o2a._dataset import to_dataset

    answer = (f"datetime\t{TSG_T} (mean) [°C]\t{TSG_T} (quality_flag)\t"
              f"{TSG_T} (max) [°C]\t{TSG_T} (quality_flag)\n"
              "2017-01-01 00:00:00\t1.5\t1\t2.5\t\n").encode()
    table = read_table(answer)
    request = ExtractRequest.build(TSG_T, "2017-01-01", "2017-01-01", functions=["mean", "max"],
                                   quality_flags=True)
    data = to_dataset(table, request, "http://o2a.invalid/data", entries={}, infos={})
    assert list(data.data_vars) == ["temperature_mean", "temperature_mean_qc",
                                    "temperature_max", "temperature_max_qc"]
    assert data["temperature_max"].attrs["ancillary_variables"] == "temperature_max_qc"
    assert data["temperature_mean_qc"].values.tolist() == [1]
    assert data["temperature_max_qc"].values.tolist() == [-1]  # missing flag


def test_a_range_whose_bins_start_after_the_last_data_reads_no_rows(awiml_o2a_server):
    # Heincke's data end at 10:02:22; the bins 11:00 and 12:00 have no data
    data = _source(awiml_o2a_server).read(PRESSURE, "2024-03-19T10:01", "2024-03-19T12:00")
    assert list(data.data_vars) == ["air_pressure_mean"] and data.sizes["time"] == 0
    assert _data_requests(awiml_o2a_server) == 1


def test_the_dataset_is_written_to_netcdf_and_read_back(awiml_o2a_server, tmp_path):
    pytest.importorskip("netCDF4")
    data = _source(awiml_o2a_server).read([TSG_T, TSG_S], "2017-01-01", "2017-01-02",
                                          quality_flags=True, functions=["mean", "count"])
    data.to_netcdf(tmp_path / "tsg.nc")
    with xr.open_dataset(tmp_path / "tsg.nc") as back:
        xr.testing.assert_equal(back[["temperature_mean", "salinity_count"]],
                                data[["temperature_mean", "salinity_count"]])
        assert back["temperature_mean"].attrs["units"] == "degC"
        assert back["salinity_mean_qc"].attrs["flag_meanings"] == data[
            "salinity_mean_qc"].attrs["flag_meanings"]
        assert back.attrs["request_url"] == data.attrs["request_url"]


def test_an_answer_cut_after_a_tab_is_asked_for_again(awiml_o2a_server):
    # The last 100 bytes of this hour-mean answer are three whole lines and a value: a body cut
    # there (a Content-Length 100 too small) still reads, as a row with an empty value.
    # Its last line has no line end, so the chunk is asked for again and the whole one kept.
    whole = _source(awiml_o2a_server).read(TSG_T, "2017-01-05T16:00:00", "2017-01-08T23:59:59",
                                           aggregate="hour")
    assert not whole.to_dataframe().isna().any().any()
    before = _data_requests(awiml_o2a_server)
    awiml_o2a_server.inject("data/rest/data", Fault.wrong_length(-100), times=1)
    cut_once = _source(awiml_o2a_server).read(TSG_T, "2017-01-05T16:00:00",
                                              "2017-01-08T23:59:59", aggregate="hour")
    xr.testing.assert_identical(cut_once, whole)
    assert _data_requests(awiml_o2a_server) - before == 2


def test_a_service_that_never_ends_its_last_line_is_read_after_two_equal_answers(
        awiml_o2a_server):
    whole = _source(awiml_o2a_server).read(TSG_T, "2017-01-05T16:00:00", "2017-01-08T23:59:59",
                                           aggregate="hour")
    before = _data_requests(awiml_o2a_server)
    # every answer loses its final line feed (the header says one byte less)
    awiml_o2a_server.inject("data/rest/data", Fault.wrong_length(-1), times=None)
    unterminated = _source(awiml_o2a_server).read(TSG_T, "2017-01-05T16:00:00",
                                                  "2017-01-08T23:59:59", aggregate="hour")
    xr.testing.assert_identical(unterminated, whole)
    assert _data_requests(awiml_o2a_server) - before == 2
