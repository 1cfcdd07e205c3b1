"""How long `import awiml` takes, next to `import pandas` measured in the same run.

Each import runs in a fresh interpreter (so nothing is cached in-process), after one
warm-up run that fills the OS file cache. Prints the median of several runs and the
ratio awiml / pandas. The target is under 0.3 s for awiml on a warm machine.

Run: .venv/bin/python benchmarks/import_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys


def time_import(module: str) -> float:
    code = (
        "import time; t = time.perf_counter(); "
        f"import {module}; "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return float(out.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for module in ("awiml", "pandas"):
        time_import(module)  # warm the file cache
        results[module] = statistics.median(time_import(module) for _ in range(args.runs))
    awiml_s, pandas_s = results["awiml"], results["pandas"]
    print(f"import awiml : {awiml_s * 1000:7.1f} ms (median of {args.runs})")
    print(f"import pandas: {pandas_s * 1000:7.1f} ms (median of {args.runs})")
    print(f"ratio awiml/pandas: {awiml_s / pandas_s:.3f}")
    print(f"target import awiml < 300 ms: {'met' if awiml_s < 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
