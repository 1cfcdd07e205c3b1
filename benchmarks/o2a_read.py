"""O2A sensor data: chunked, concurrent reads against one serial request, and the table parse.

A year of minute means of 4 sensors (525,600 rows x 4 columns, about 30 MB of
tab-separated text) from the loopback ``O2AServer``, with a per-request latency
and a per-row server time set in the emulator (the real service takes time to
aggregate; its answer time grows with the rows), in the same run:

1. ``PlatformSource.read`` as users call it: time chunks of at most
   ``max_points`` values, ``max_workers`` requests at a time (the emulator allows
   4 per client), stitched into one Dataset; against the same read as one
   serial request (``max_points`` above the whole extract, ``max_workers=1``;
   the emulator's own limit raised for it). Target: serial / chunked >= 3.
2. The parse of the service's answer: ``read_table`` (field-count check of
   every line, times to UTC timestamps, floats, column labels split) against a
   bare ``pandas.read_csv(sep="\\t")`` of the same bytes (times left as text).
   Target: read_table / read_csv <= 1.5.

The chunks lie on a grid fixed by ``max_points`` (so calls share cached chunks),
so the speed-up also depends on how evenly the chunks fill the workers: with
PlatformSource's default (500,000 values, 5 chunks here) the fifth chunk runs
alone; 200,000 values give 11 chunks (3 rounds of 4). The emulator's own work
(aggregating the 1-second series, about 1-2 s for the year) runs on the same
CPUs as the client.

Run: .venv/bin/python benchmarks/o2a_read.py [--latency 0.2] [--row-time 5e-5]
[--max-points 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable

import pandas as pd

from awiml import PlatformSource
from awiml.archives.o2a._read import fetch_bytes
from awiml.archives.o2a._request import ExtractRequest
from awiml.archives.o2a._table import read_table
from awiml.testing import O2AServer

SENSORS = [
    "vessel:polarstern:tsg:temperature",
    "vessel:polarstern:tsg:salinity",
    "station:svluwobs:svluw2:ctd_181:temperature",
    "station:svluwobs:svluw2:ctd_181:salinity",
]
START, END = "2019-01-01T00:00:00", "2019-12-31T23:59:59"


def best_of(runs: int, func: Callable[[], object]) -> tuple[float, object]:
    """The shortest of ``runs`` timings of ``func()``, and its last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2,
                        help="emulated seconds per data request (default 0.2)")
    parser.add_argument("--row-time", type=float, default=5e-5,
                        help="emulated seconds per answered row (default 5e-5: 26 s for "
                        "the year)")
    parser.add_argument("--max-points", type=int, default=200_000,
                        help="values per chunk of the chunked read (default 200000; "
                        "PlatformSource's default is 500000)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # registry metadata is not timed here
    print(f"python {platform.python_version()}, pandas {pd.__version__}, "
          f"{os.cpu_count()} CPUs")
    with O2AServer(latency=args.latency, row_time=args.row_time) as server, \
            tempfile.TemporaryDirectory() as folder:
        os.environ["AWIML_CACHE_DIR"] = folder
        server.add_sample_data()

        def source(**options: object) -> PlatformSource:
            return PlatformSource(server.data_url, registry_url=server.registry_url,
                                  cache=False, progress=False, **options)

        chunked = source(max_points=args.max_points, max_workers=args.workers)
        serial = source(max_points=10**9, max_workers=1)
        server.max_points = 10**9  # let the one serial request through
        read = {"codes": SENSORS, "start": START, "end": END, "aggregate": "minute"}
        source(max_points=10**9).read(SENSORS, "2019-01-01", "2019-01-02",
                                      aggregate="minute")  # warm up both sides
        server.clear_requests()
        t_chunked, data = best_of(args.runs, lambda: chunked.read(**read))
        chunks = server.hits("/data/rest/data") // args.runs
        t_serial, single = best_of(args.runs, lambda: serial.read(**read))
        assert data.identical(single), "chunked and serial reads differ"
        rows = data.sizes["time"]
        print(f"a year of minute means, {len(SENSORS)} sensors: {rows} rows; emulator "
              f"latency {args.latency} s/request, {args.row_time * 1e6:.0f} us/row, "
              f"best of {args.runs}")
        print(f"  one serial request            : {t_serial:6.2f} s")
        print(f"  {chunks:3d} chunks, {args.workers} workers        : {t_chunked:6.2f} s "
              f"(max_points={args.max_points})")
        print(f"  ratio serial / chunked: {t_serial / t_chunked:.2f} (target >= 3)")

        server.latency = server.row_time = 0.0
        answer = fetch_bytes(serial, ExtractRequest.build(
            SENSORS, START, END, aggregate="minute"))
        runs = max(5, args.runs)
        t_awiml, table = best_of(runs, lambda: read_table(answer))
        t_pandas, frame = best_of(runs, lambda: pd.read_csv(io.BytesIO(answer), sep="\t"))
        assert len(table.frame) == len(frame) == rows
        print(f"parse of the answer, {len(answer) / 1e6:.1f} MB, best of {runs}")
        print(f"  read_table        : {t_awiml:6.3f} s (checked, UTC times, floats)")
        print(f"  pandas.read_csv   : {t_pandas:6.3f} s (bare, times as text)")
        print(f"  ratio read_table / read_csv: {t_awiml / t_pandas:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
