"""Feature extraction on a Dask cluster: speed-up from 1 to 2 worker processes, and Dask's cost.

1. ``extract(ImageFeatures(), ..., backend="dask")`` over the 400 real EcoTaxa vignettes in
   awiml/data/ecotaxa_ml_template/images, and over a synthetic set 10x larger made from them
   (each vignette rotated, mirrored and brightened into ten distinct images, in a temporary
   folder), without a cache, on a ``LocalCluster`` of 1 and then 2 worker processes of one
   thread each. Target: speed-up (1 worker / 2 workers) >= 1.8 on two cores. The workers
   import scikit-image before timing, as they have in a session that extracts repeatedly.
2. Dask's overhead per task: empty tasks through ``Client.map`` (the path ``extract``
   takes: one task per chunk) and through joblib's Dask backend (the path of scikit-learn's
   searches, which batches short tasks itself), per task, on the 2-worker cluster; and the
   per-file cost of ImageFeatures in this process and on a worker, from which
   docs/explanation/speed.md projects the chunk size for 100 HPC nodes.
3. The price of Dask's default ``MALLOC_TRIM_THRESHOLD_=65536`` in its worker processes
   (``distributed.nanny.pre-spawn-environ``): the per-file cost on a worker with it and
   without it (glibc's own dynamic thresholds).

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


def _transform_time(fitted, paths: list[Path], runs: int) -> float:
    """Best time of ``fitted.transform(paths)`` where this runs (on a worker)."""
    return best_time(runs, lambda: fitted.transform(paths))


def worker_per_file(paths: list[Path], runs: int, trim_threshold: bool) -> float:
    """Per-file cost of ImageFeatures on one worker process, with or without Dask's
    ``MALLOC_TRIM_THRESHOLD_``."""
    import dask
    from dask.distributed import Client, LocalCluster

    setting = {} if trim_threshold else {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    # A Nanny writes its pre-spawn environment into this process's os.environ, where the
    # clusters before left the variable: new workers would inherit it.
    if not trim_threshold:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    fitted = ImageFeatures().fit(paths[:1])
    with dask.config.set(setting), LocalCluster(
            n_workers=1, processes=True, threads_per_worker=1,
            dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(_transform_time, fitted, paths[:4], 1, pure=False).result()
        return client.submit(_transform_time, fitted, paths, runs,
                             pure=False).result() / len(paths)


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
        on_worker = worker_per_file(originals, runs, trim_threshold=True)
        untrimmed = worker_per_file(originals, runs, trim_threshold=False)
    print("extract(backend='dask'), LocalCluster of worker processes, 1 thread each:")
    for name in sets:
        speed_up = one[name] / two[name]
        print(f"  {name:<28} 1 worker {one[name]:6.2f} s   2 workers {two[name]:6.2f} s   "
              f"speed-up {speed_up:.2f} (target >= 1.8)")
    print("Dask's overhead per empty task, 2 workers:")
    for name in ("client.map", "joblib"):
        print(f"  {name:<12} {two[name] * 1e3:6.3f} ms per task  "
              f"ratio to one file's features {two[name] / on_worker:.3f}")
    print("ImageFeatures per file on one worker process:")
    print(f"  Dask's MALLOC_TRIM_THRESHOLD_=65536 {on_worker * 1e3:6.2f} ms   "
          f"ratio to this process {on_worker / per_file:.2f}")
    print(f"  glibc's default thresholds         {untrimmed * 1e3:6.2f} ms   "
          f"ratio to this process {untrimmed / per_file:.2f}")


if __name__ == "__main__":
    main()
