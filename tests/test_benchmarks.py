"""The benchmarks run (``--quick``), as ``make bench`` runs them; their timings are not judged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_quick(name: str, tmp_path: Path) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWIML_")}
    env.update(HOME=str(tmp_path), MPLBACKEND="Agg", KERAS_BACKEND="torch",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), "--quick"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.mark.slow
def test_hsm_get_batch_mounts_each_volume_once_and_the_loop_once_per_file(tmp_path):
    out = run_quick("hsm_get.py", tmp_path)
    mounts = dict(re.findall(r"^  (one stage batch|one by one)\b.*?(\d+) mounts", out, re.M))
    # --quick: 10 files interleaved over 5 volumes; the copies are checked by the script
    assert mounts == {"one stage batch": "5", "one by one": "10"}, out
    assert re.search(r"ratio one-by-one / batched: \d+\.\d", out), out


@pytest.mark.slow
def test_scale_out_reports_speed_up_overhead_and_the_malloc_price(tmp_path):
    out = run_quick("scale_out.py", tmp_path)
    speed_ups = re.findall(r"^  (\d+) (?:real vignettes|synthetic \(10x\)).*speed-up (\d+\.\d+)",
                           out, re.M)
    # --quick: 40 vignettes and their 400 synthetic variants, on 1 and 2 workers
    assert [n for n, _ in speed_ups] == ["40", "400"], out
    assert all(float(ratio) > 0 for _, ratio in speed_ups), out
    overheads = re.findall(r"^  (client\.map|joblib) +(\d+\.\d+) ms per task", out, re.M)
    assert [name for name, _ in overheads] == ["client.map", "joblib"], out
    assert len(re.findall(r"ms +ratio to this process \d+\.\d\d$", out, re.M)) == 2, out
