"""Feature extraction on a Dask cluster: speed-up from 1 to 2 worker processes, and Dask's cost.

1. ``extract(ImageFeatures(), ..., backend="dask")`` over the 400 real EcoTaxa vignettes in
   awiml/data/ecotaxa_ml_template/images, and over a synthetic set 10x larger made from them
   (each vignette rotated, mirrored and brightened into ten distinct images, in a temporary
   folder), without a cache, on a ``LocalCluster`` of 1 and then 2 worker processes of one
   thread each. Target: speed-up (1 worker / 2 workers) >= 1.8 on two cores. The workers
   import scikit-image before timing, as they have in a session that extracts repeatedly.
2. Dask's overhead per task: empty tasks through ``Client.map`` and through joblib's Dask
   backend (the path ``extract`` takes), per task, on the 2-worker cluster; and the per-file
   cost of ImageFeatures in this process, from which docs/explanation/speed.md projects the
   chunk size for 100 HPC nodes.

Run: .venv/bin/python benchmarks/scale_out.py [--quick] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from awiml.features import ImageFeatures, extract

IMAGES = Path(__file__).resolve().parent.parent / "awiml/data/ecotaxa_ml_template/images"


def _noop(i: int) -> int:
    return i


def synthetic_set(originals: list[Path], folder: Path, factor: int = 10) -> list[Path]:
    """``factor`` distinct images per original: the 8 rotations and mirrors, then brighter ones."""
    from PIL import Image

    paths = []
    for original in originals:
        image = np.asarray(Image.open(original).convert("L"))
        for k in range(factor):
            variant = np.rot90(image, k % 4)
            variant = variant[:, ::-1] if (k // 4) % 2 else variant
            if k >= 8:
                variant = np.clip(variant.astype(np.int16) + 4 * (k - 7), 0, 255)
            path = folder / f"{original.stem}_{k}.png"
            Image.fromarray(np.ascontiguousarray(variant).astype(np.uint8)).save(path)
            paths.append(path)
    return paths


def best_time(runs: int, func) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def on_cluster(n_workers: int, sets: dict[str, list[Path]], runs: int,
               n_empty: int) -> dict[str, float]:
    """Best extraction time of each set on a LocalCluster of ``n_workers`` processes."""
    import joblib
    from dask.distributed import Client, LocalCluster

    times = {}
    with LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        first = next(iter(sets.values()))
        extract(ImageFeatures(), first[:4 * n_workers], backend="dask", chunk_size=1,
                progress=False)  # imports scikit-image on every worker
        for name, paths in sets.items():
            times[name] = best_time(runs, lambda paths=paths: extract(
                ImageFeatures(), paths, backend="dask", progress=False))
        if n_workers > 1:
            n = n_empty
            times["client.map"] = best_time(runs, lambda: client.gather(
                client.map(_noop, range(n), pure=False))) / n
            with joblib.parallel_config(backend="dask"):
                times["joblib"] = best_time(runs, lambda: joblib.Parallel(n_jobs=-1)(
                    joblib.delayed(_noop)(i) for i in range(n))) / n
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 vignettes, 400 synthetic, 1 run")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    originals = sorted(IMAGES.glob("*.jpg"), key=lambda p: int(p.stem))
    if args.quick:
        originals = originals[:40]
    with tempfile.TemporaryDirectory() as tmp:
        sets = {f"{len(originals)} real vignettes": originals}
        synthetic = synthetic_set(originals, Path(tmp))
        sets[f"{len(synthetic)} synthetic (10x)"] = synthetic
        fitted = ImageFeatures().fit(originals[:1])
        per_file = best_time(runs, lambda: fitted.transform(originals)) / len(originals)
        print(f"ImageFeatures in this process: {per_file * 1000:.2f} ms per file "
              f"(best of {runs}); cores: {os.cpu_count()}")
        n_empty = 200 if args.quick else 2000
        one = on_cluster(1, sets, runs, n_empty)
        two = on_cluster(2, sets, runs, n_empty)
    print("extract(backend='dask'), LocalCluster of worker processes, 1 thread each:")
    for name in sets:
        speed_up = one[name] / two[name]
        print(f"  {name:<28} 1 worker {one[name]:6.2f} s   2 workers {two[name]:6.2f} s   "
              f"speed-up {speed_up:.2f} (target >= 1.8)")
    print("Dask's overhead per empty task, 2 workers:")
    for name in ("client.map", "joblib"):
        print(f"  {name:<12} {two[name] * 1e3:6.3f} ms per task  "
              f"ratio to one file's features {two[name] / per_file:.3f}")


if __name__ == "__main__":
    main()
