"""Parsing speed of PANGAEA's tab-delimited text: awiml against bare pandas and pangaeapy.

Builds a text file of 100 MB or more in a temporary folder from the bundled TSG
dataset (doi:10.1594/PANGAEA.889513): its metadata block and header row, then its
4482 data rows repeated, with a ``?`` quality flag on every 997th Temp value. Then
times, best of N runs, in the same process:

* ``awiml.archives.pangaea.text.read_text(path)``: metadata, field-count check of
  every line, flags into ``Temp_flag``, dates to UTC timestamps, floats;
* bare ``pandas.read_csv`` of the table part from an in-memory buffer, no dates
  parsed, flagged values left as text. Target: awiml / this <= 1.5;
* bare ``pandas.read_csv(path, sep="\\t", skiprows=19)`` of the same file. pandas
  3.1 parses a local *path* in parallel threads (``mode.max_threads``), which a
  buffer does not get, so this ratio is shown too;
* pangaeapy's ``PanDataSet(889513)``, its HTTP requests routed to awiml's loopback
  ``PangaeaServer`` (a panmd record, then the text), including the transfer over
  loopback, which is timed on its own as well. The emulator's panmd record gives
  each column its type, as PANGAEA's records do (so pangaeapy runs its
  quality-flag step). Target: pangaeapy / awiml >= 20.

Run: .venv/bin/python benchmarks/pangaea_parse.py [--size-mb 100] [--runs 5]
[--pangaeapy-runs 1]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from awiml.archives.pangaea.text import read_text

SAMPLE = "PANGAEA_889513_PS103_surf_oce_tsg.tab"
DATASET = 889513
HEADER_LINES = 19  # the /* ... */ block; the column header row is line 20


def build_file(path: Path, size_mb: int) -> tuple[int, int]:
    """Write the benchmark file; return its number of data rows and of flagged values."""
    lines = (files("awiml") / "data" / SAMPLE).read_bytes().split(b"\n")
    assert lines[HEADER_LINES - 1] == b"*/", "unexpected sample layout"
    head, rows = lines[: HEADER_LINES + 1], [row for row in lines[HEADER_LINES + 1 :] if row]
    target = size_mb * 1024 * 1024
    n_rows = n_flags = 0
    with open(path, "wb") as out:
        written = out.write(b"\n".join(head) + b"\n")
        while written < target:
            parts = []
            for row in rows:
                if n_rows % 997 == 0:  # a "?" on the Temp value of every 997th row
                    fields = row.split(b"\t")
                    fields[4] = b"?" + fields[4]
                    row = b"\t".join(fields)
                    n_flags += 1
                parts.append(row)
                n_rows += 1
            written += out.write(b"\n".join(parts) + b"\n")
    return n_rows, n_flags


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


@contextlib.contextmanager
def routed_to(base_url: str) -> Iterator[None]:
    """Send requests for PANGAEA's hosts (hard-coded in pangaeapy) to the loopback server."""
    real_get = requests.get

    def get(url: str, *args, **kwargs):
        for host in ("https://doi.pangaea.de", "https://doi.org"):
            if url.startswith(host):
                url = base_url + url[len(host) :]
        return real_get(url, *args, **kwargs)

    requests.get = get
    try:
        yield
    finally:
        requests.get = real_get


def time_pangaeapy(path: Path, runs: int, tmp: Path) -> tuple[float, float, pd.DataFrame]:
    """pangaeapy's full read over loopback HTTP, and the HTTP transfer of the text alone.

    The emulator serves the panmd record it writes from the text, with column
    types read from the values, as PANGAEA's own records carry them.
    """
    from pangaeapy import PanDataSet

    from awiml.testing import PangaeaServer

    with PangaeaServer() as server, routed_to(server.base_url):
        server.add_dataset(DATASET, text=path)
        url = f"https://doi.pangaea.de/10.1594/PANGAEA.{DATASET}"
        accept = {"Accept": "text/tab-separated-values"}
        transfer, _ = best_of(runs, lambda: requests.get(url, headers=accept, timeout=60).content)
        seconds, dataset = best_of(
            runs, lambda: PanDataSet(DATASET, cachedir=tmp / "pangaeapy-cache")
        )
    errors = [entry for entry in dataset.logging if "ERROR" in entry]
    if errors or dataset.data.empty:
        raise SystemExit(f"pangaeapy did not read the file: {dataset.logging}")
    return seconds, transfer, dataset.data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100, help="file size (default 100)")
    parser.add_argument("--runs", type=int, default=5, help="runs of awiml and pandas")
    parser.add_argument("--pangaeapy-runs", type=int, default=1, help="runs of pangaeapy")
    parser.add_argument("--skip-pangaeapy", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="awiml-bench-"))
    try:
        path = tmp / f"PANGAEA_{DATASET}_x{args.size_mb}MB.tab"
        n_rows, n_flags = build_file(path, args.size_mb)
        size = path.stat().st_size
        raw = path.read_bytes()
        table_start = 0
        for _ in range(HEADER_LINES):
            table_start = raw.index(b"\n", table_start) + 1
        table = raw[table_start:]
        del raw
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(
            f"file: {size / 2**20:.1f} MiB, {n_rows} data rows, {n_flags} flagged Temp values; "
            f"python {platform.python_version()}, pandas {pd.__version__}, numpy "
            f"{np.__version__}, {cpus} CPUs"
        )

        df = read_text(path)
        assert df.shape == (n_rows, 7) and int(df["Temp_flag"].notna().sum()) == n_flags
        assert str(df["Date/Time"].dtype) == "datetime64[ns, UTC]"
        del df
        # The three contenders take turns, so that a machine getting slower or faster
        # during the benchmark does not favour one of them.
        contenders = {
            "awiml": lambda: read_text(path),
            "buffer": lambda: pd.read_csv(io.BytesIO(table), sep="\t"),
            "path": lambda: pd.read_csv(path, sep="\t", skiprows=HEADER_LINES),
        }
        best = dict.fromkeys(contenders, float("inf"))
        for _ in range(args.runs):
            for key, func in contenders.items():
                best[key] = min(best[key], best_of(1, func)[0])
        t_awiml, t_buffer, t_path = best["awiml"], best["buffer"], best["path"]

        rows = [
            ("awiml read_text(path)", t_awiml),
            ("pandas read_csv(BytesIO(table part))", t_buffer),
            ("pandas read_csv(path, skiprows=19)", t_path),
        ]
        ratios = [
            ("awiml / read_csv(buffer)", t_awiml / t_buffer, "target <= 1.5"),
            ("awiml / read_csv(path)", t_awiml / t_path, "pandas parses a path in parallel"),
        ]
        if not args.skip_pangaeapy:
            t_pangaeapy, t_transfer, data = time_pangaeapy(path, args.pangaeapy_runs, tmp)
            assert len(data) == n_rows, (len(data), n_rows)
            rows += [
                ("pangaeapy PanDataSet via the emulator", t_pangaeapy),
                ("  of which HTTP transfer of the text (loopback)", t_transfer),
            ]
            ratios.append(("pangaeapy / awiml", t_pangaeapy / t_awiml, "target >= 20"))
        print(f"\nbest of {args.runs} runs (pangaeapy: {args.pangaeapy_runs}):")
        for label, seconds in rows:
            print(f"  {label:58s} {seconds * 1000:9.0f} ms")
        print()
        for label, ratio, note in ratios:
            print(f"  {label:58s} {ratio:9.2f}   ({note})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
