"""PlatformSource.read: chunked, concurrent, cached reads of O2A sensor data (issue 14)."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awiml.archives.o2a._read import Part, plan_chunks, stitch_bytes, stitch_table
from awiml.archives.o2a._request import AGGREGATE_SECONDS, AGGREGATES, FUNCTIONS, ExtractRequest
from awiml.archives.o2a._table import read_table
from awiml.errors import InvalidDataError

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
