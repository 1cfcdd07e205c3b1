"""Feature extraction speed, as ratios measured in the same run.

1. Spectrogram throughput against plain ``scipy.signal.ShortTimeFFT.spectrogram`` on the
   same batch (2000 signals x 8000 samples by default), with the same window, hop and
   scaling: once as power (the same numbers) and once in dB (awiml's default, which adds
   the logarithm). Target: awiml / ShortTimeFFT >= 0.9.
2. ``extract`` of ImageFeatures over the 400 real EcoTaxa vignettes in
   awiml/data/ecotaxa_ml_template/images (or generated vignettes when run
   elsewhere), with n_jobs=1 against n_jobs=-1 (all cores), without a cache. The worker
   pool is started once before timing, as it is in a session that extracts repeatedly.

Run: .venv/bin/python benchmarks/features.py [--signals 2000] [--samples 8000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.signal import ShortTimeFFT, get_window

from awiml.features import ImageFeatures, Spectrogram, extract

IMAGES = Path(__file__).resolve().parent.parent / "awiml/data/ecotaxa_ml_template/images"


def interleaved(runs: int, funcs: dict) -> dict:
    """Best time of each function, running them in turn so that load from other processes
    on the machine hits all of them alike."""
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(runs):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def spectrogram_throughput(n_signals: int, n_samples: int, runs: int) -> None:
    fs, n_fft, hop = 8000, 256, 64
    batch = np.random.default_rng(0).standard_normal((n_signals, n_samples))
    megabytes = batch.nbytes / 1e6
    plain = ShortTimeFFT(get_window("hann", n_fft), hop, fs, fft_mode="onesided2X",
                         scale_to="psd")
    print(f"Spectrogram: {n_signals} signals x {n_samples} samples ({megabytes:.0f} MB float64), "
          f"n_fft={n_fft}, hop={hop}, best of {runs} interleaved runs")
    specs = {scale: Spectrogram(sample_rate=fs, n_fft=n_fft, hop=hop, scale=scale).fit(batch[:1])
             for scale in ("power", "db")}
    best = interleaved(runs, {
        "ShortTimeFFT.spectrogram": lambda: plain.spectrogram(batch, axis=-1),
        "awiml Spectrogram(power)": lambda: specs["power"].transform(batch),
        "awiml Spectrogram(db)": lambda: specs["db"].transform(batch),
    })
    reference = best["ShortTimeFFT.spectrogram"]
    for name, seconds in best.items():
        ratio = "" if seconds is reference else f"  ratio {reference / seconds:.2f} (target >= 0.9)"
        print(f"  {name:<26} {seconds:6.3f} s  {n_signals / seconds:7.0f} signals/s  "
              f"{megabytes / seconds:6.1f} MB/s{ratio}")


def generated_vignettes(folder: Path, n: int = 400) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        h, w = rng.integers(80, 300, size=2)
        rows, cols = np.mgrid[:h, :w]
        a, b = rng.uniform(10, min(h, w) / 2.5, size=2)
        inside = ((rows - h / 2) / a) ** 2 + ((cols - w / 2) / b) ** 2 <= 1
        image = np.where(inside, rng.uniform(60, 200), 255) + rng.normal(0, 4, (h, w))
        path = folder / f"{i}.jpg"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def extract_speedup(runs: int) -> None:
    if IMAGES.is_dir():
        paths = sorted(IMAGES.glob("*.jpg"))
        source = f"{len(paths)} real EcoTaxa vignettes"
    else:
        paths = generated_vignettes(Path(tempfile.mkdtemp(prefix="awiml-bench-")))
        source = f"{len(paths)} generated vignettes"
    cores = os.cpu_count()
    print(f"extract(ImageFeatures()) over {source}, no cache, best of {runs} interleaved runs")
    extract(ImageFeatures(), paths[:8], n_jobs=-1, progress=False)  # start the worker pool
    best = interleaved(runs, {
        1: lambda: extract(ImageFeatures(), paths, n_jobs=1, progress=False),
        -1: lambda: extract(ImageFeatures(), paths, n_jobs=-1, progress=False),
    })
    serial, parallel = best[1], best[-1]
    print(f"  n_jobs=1    {serial:6.3f} s  {len(paths) / serial:7.0f} images/s")
    print(f"  n_jobs=-1   {parallel:6.3f} s  {len(paths) / parallel:7.0f} images/s  "
          f"({cores} cores)  speed-up {serial / parallel:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    spectrogram_throughput(args.signals, args.samples, args.runs)
    print()
    extract_speedup(args.runs)


if __name__ == "__main__":
    main()
