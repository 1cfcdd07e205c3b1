"""Parsing speed of EcoTaxa TSV files: awiml's read_tsv against bare pandas.read_csv.

Builds, in a temporary folder, three tables of 200,000 rows or more by repeating the
real rows of the EcoTaxa files in tests/data/ecotaxa:

* ``export``: the general export split by taxon, with the ``"[t]"``/``"[f]"`` types
  row (UTF-8 with byte-order mark, strings quoted, numbers bare), its seven files'
  rows concatenated;
* ``export, decimal commas``: the general export with internal ids, whose floats are
  quoted text with a decimal comma (``"18,0"``);
* ``import``: the Tara Oceans import file (unquoted, types row, ``20140607`` dates,
  ``232500`` times).

Then times, best of N runs, in the same process, the contenders taking turns:

* ``awiml.archives.ecotaxa.tsv.read_tsv(path)``: types row used and dropped, text
  columns kept as text, floats (decimal commas included), ``Int64`` ranks, dates to
  ``datetime64[ns]``, times normalised to ``HH:MM:SS``;
* bare ``pandas.read_csv(path, sep="\\t")``, which does none of that (it reads the
  types row as data, so on files that have one every column becomes text);
* for files with a types row, also ``pandas.read_csv`` told to skip it
  (``header=None, names=..., skiprows=2``), so that it parses numbers: the fairer
  comparison, shown for information.

Target: read_tsv / bare read_csv <= 1.5 on the exports. Both parse a local path, which
pandas 3.1 splits between threads. The script exits with status 1 if a target is
missed.

Run: .venv/bin/python benchmarks/ecotaxa_tsv.py [--rows 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import codecs
import gc
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from awiml.archives.ecotaxa.tsv import read_tsv

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "ecotaxa"
TARGET = 1.5

# name: (source files, whether they have a types row, whether the target applies)
TABLES = {
    "export": (
        sorted((DATA / "export_general_split_by_taxon_with_types_row").glob("*.tsv")),
        True,
        True,
    ),
    "export, decimal commas": (
        sorted((DATA / "export_general_with_internal_ids").glob("*.tsv")),
        False,
        True,
    ),
    "import": ([DATA / "ecotaxar_tara_extdata" / "import.tsv"], True, False),
}


def build_file(path: Path, sources: list[Path], has_types: bool, min_rows: int) -> int:
    """Write the head of the first source and all sources' data rows repeated; return the rows."""
    head: list[bytes] | None = None
    rows: list[bytes] = []
    for source in sources:
        raw = source.read_bytes()
        bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
        lines = [line for line in raw.removeprefix(bom).split(b"\n") if line.strip()]
        skip = 2 if has_types else 1
        if head is None:
            head = [bom + lines[0], *lines[1:skip]]
        assert lines[:skip] == [h.removeprefix(bom) for h in head], f"{source}: other header"
        rows.extend(lines[skip:])
    assert head is not None
    block = b"\n".join(rows) + b"\n"
    repeats = -(-min_rows // len(rows))
    with open(path, "wb") as out:
        out.write(b"\n".join(head) + b"\n")
        for _ in range(repeats):
            out.write(block)
    return repeats * len(rows)


def best_of(runs: int, contenders: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The shortest of ``runs`` timings of each contender, taking turns."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(runs):
        for key, func in contenders.items():
            gc.collect()
            start = time.perf_counter()
            func()
            best[key] = min(best[key], time.perf_counter() - start)
    return best


def check(df: pd.DataFrame, name: str, n_rows: int) -> None:
    """Make sure read_tsv read the benchmark file right before timing it."""
    assert len(df) == n_rows, (name, len(df), n_rows)
    assert str(df["object_date"].dtype) == "datetime64[ns]"
    assert df["object_time"].str.fullmatch(r"\d\d:\d\d:\d\d").all()
    assert df["object_lat"].dtype == np.float64 and df["object_lat"].notna().all()
    assert df["object_id"].dtype == "str"
    assert "img_rank" not in df or df["img_rank"].dtype == "Int64"
    assert not any(df[c].dtype == object for c in df.columns), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per table (>=)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each reader")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="awiml-bench-"))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"python {platform.python_version()}, pandas {pd.__version__}, numpy "
        f"{np.__version__}, {cpus} CPUs; best of {args.runs} runs\n"
    )
    missed = []
    try:
        print(f"  {'table':24s} {'rows':>8s} {'MiB':>6s} {'read_tsv':>10s} {'read_csv':>10s} ratio")
        for name, (sources, has_types, targeted) in TABLES.items():
            path = tmp / f"{name.replace(', ', '_').replace(' ', '_')}.tsv"
            n_rows = build_file(path, sources, has_types, args.rows)
            check(read_tsv(path), name, n_rows)

            def bare(path: Path = path) -> pd.DataFrame:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed types
                    return pd.read_csv(path, sep="\t")

            contenders = {"awiml": lambda p=path: read_tsv(p), "pandas": bare}
            if has_types:
                names = list(pd.read_csv(path, sep="\t", nrows=0).columns)
                contenders["skipping"] = lambda p=path, n=names: pd.read_csv(
                    p, sep="\t", header=None, names=n, skiprows=2
                )
            best = best_of(args.runs, contenders)
            ratio = best["awiml"] / best["pandas"]
            note = f"target <= {TARGET}" if targeted else "for information"
            if targeted and ratio > TARGET:
                missed.append(name)
                note += ": MISSED"
            print(
                f"  {name:24s} {n_rows:8d} {path.stat().st_size / 2**20:6.0f} "
                f"{best['awiml'] * 1000:8.0f}ms {best['pandas'] * 1000:8.0f}ms "
                f"{ratio:5.2f}  ({note})"
            )
            if has_types:
                print(
                    f"  {'  read_csv skipping the types row':44s} {best['skipping'] * 1000:8.0f}ms "
                    f"{best['awiml'] / best['skipping']:5.2f}  (for information)"
                )
            path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if missed:
        sys.exit(f"\ntarget missed for: {', '.join(missed)}")


if __name__ == "__main__":
    main()
