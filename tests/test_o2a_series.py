"""The O2A emulator's series: closed-form sums against the seconds, the table writer."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awiml.testing.o2a._sample import sample_sensors
from awiml.testing.o2a._series import Sensor, Signal, Window, aggregate, format_columns

EXAMPLES = int(os.environ.get("AWIML_FUZZ_EXAMPLES", "60"))
SENSORS = {
    code: Sensor(code, unit, 0, 0, signal, windows)
    for code, unit, _, _, signal, windows, _ in sample_sensors()
}


def sensor(code, first="2015-01-01T00:00:00", last="2025-01-01T00:00:00"):
    base = SENSORS[code]
    start, end = (int(np.datetime64(x, "s").astype(np.int64)) for x in (first, last))
    return Sensor(code, base.unit, start, end, base.signal, base.windows)


@pytest.mark.parametrize("code", ["vessel:polarstern:tsg:temperature",
                                  "vessel:heincke:dwd:air_pressure",
                                  "station:svluwobs:svluw2:ctd_181:pressure"])
@settings(max_examples=EXAMPLES, deadline=None)
@given(start=st.integers(1_420_070_400, 1_735_600_000), width=st.sampled_from([1, 7, 60, 3600]),
       near=st.booleans())
def test_closed_form_means_equal_the_mean_of_the_seconds(code, start, width, near):
    if near:  # around the recorded windows and their edges
        window = SENSORS[code].windows[0]
        start = window.start - 2 * width + start % (window.end - window.start + 4 * width)
    one = sensor(code)
    labels = start + width * np.arange(5, dtype=np.int64)
    means = aggregate(one, labels, width, "MEAN")
    seconds = one.values(labels[:, None] + np.arange(width)[None, :])
    assert np.allclose(means, seconds.mean(axis=1), rtol=0, atol=1e-7)
    assert np.array_equal(aggregate(one, labels, width, "MAX"), seconds.max(axis=1))


def test_bins_at_the_ends_of_a_sensor_hold_only_its_seconds():
    one = sensor("vessel:polarstern:tsg:salinity", "2020-01-01T00:30:00",
                 "2020-01-01T02:14:59")
    labels = np.int64(1_577_836_800) + 3600 * np.arange(-1, 4, dtype=np.int64)
    assert list(aggregate(one, labels, 3600, "COUNT")[1:4]) == [1800, 3600, 900]
    assert np.isnan(aggregate(one, labels, 3600, "MEAN")[[0, 4]]).all()
    for function in ("MEAN", "MIN", "MAX", "MEDIAN", "STD"):
        values = aggregate(one, labels, 3600, function)
        assert np.isfinite(values[1:4]).all() and np.isnan(values[[0, 4]]).all()


def test_a_window_replaces_the_signal_and_its_sums_follow_the_knots():
    flat = Signal(10.0, (), (), ())
    held = Window(100, 10, np.array([1.0, 2.0, 3.0]))
    ramp = Window(100, 10, np.array([0.0, 10.0, 30.0]), linear=True)
    for window, inside in ((held, [1.0] * 10 + [2.0] * 10 + [3.0] * 10),
                           (ramp, list(np.arange(10.0)) + list(np.arange(10.0, 30.0, 2)))):
        one = Sensor("a:b:c", "", 0, 1000, flat, (window,))
        t = np.arange(95, 100 + len(inside) + 5, dtype=np.int64)
        assert list(one.values(t)) == [10.0] * 5 + inside + [10.0] * 5
        lo, hi = np.array([95, 103, 97]), np.array([135, 117, 101])
        expected = [one.values(np.arange(a, b)).sum() for a, b in zip(lo, hi, strict=True)]
        assert np.allclose(one.sums(lo, hi), expected, rtol=1e-12)


def as_printf(values, decimals):
    return ["" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in values]


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-1e12, 1e12), st.just(float("nan")),
                                 st.integers(-10**8, 10**8).map(lambda i: i / 1000)),
                       min_size=1, max_size=30),
       decimals=st.sampled_from([0, 6]))
def test_the_table_writer_prints_like_printf(values, decimals):
    array = np.array(values, dtype=np.float64)
    body = format_columns(np.zeros(len(array), dtype=np.int64), [(array, decimals)], "h")
    cells = [line.split("\t")[1] for line in body.decode().splitlines()[1:]]
    expected = as_printf(array, decimals)
    for cell, want, value in zip(cells, expected, array, strict=True):
        if cell != want:  # only a halfway case may round the other way
            assert float(cell) == pytest.approx(value, abs=0.51 * 10.0**-decimals)
            assert abs(value * 10**decimals % 1 - 0.5) < 1e-6


@settings(max_examples=EXAMPLES, deadline=None)
@given(times=st.lists(st.integers(-62_135_596_800, 253_402_300_799), min_size=1, max_size=20))
def test_the_table_writer_prints_times_like_numpy(times):
    array = np.array(times, dtype=np.int64)
    body = format_columns(array, [(np.zeros(len(array)), 0)], "h")
    stamps = [line.split("\t")[0] for line in body.decode().splitlines()[1:]]
    expected = np.datetime_as_string(array.astype("datetime64[s]"), unit="s")
    assert stamps == [s.replace("T", " ") for s in expected.tolist()]
