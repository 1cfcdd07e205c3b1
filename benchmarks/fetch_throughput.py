"""Fetch throughput against the loopback server, as ratios measured in the same run.

1. One large file (200 MB by default): awiml's ``Workspace.fetch`` (streams, hashes,
   verifies, renames, records) against ``curl`` writing the same file to the same disk,
   and against a plain ``requests`` stream to disk. Target: awiml / curl >= 0.8.
2. Many small files (200 by default): concurrent fetch (``workers=8``) against serial
   (``workers=1``), on plain loopback and with 20 ms of emulated archive latency per
   request (real archives answer in tens of milliseconds, not microseconds).

Run: .venv/bin/python benchmarks/fetch_throughput.py [--size-mb 200] [--files 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from awiml import Workspace
from awiml.testing import Fault, FileServer


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as out:
        written = 0
        while written < size:
            chunk = block[: size - written]
            out.write(chunk)
            written += len(chunk)


def best_of(runs: int, func) -> float:
    return min(func() for _ in range(runs))


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="awiml-bench-"))
    try:
        big = tmp / "big.bin"
        size = args.size_mb * 1024 * 1024
        make_file(big, size)
        with FileServer() as server:
            server.add("big.bin", big)
            url = server.url("big.bin")

            def with_awiml() -> float:
                ws = Workspace.create(tempfile.mkdtemp(dir=tmp))
                seconds = timed(lambda: ws.fetch(url, progress=False))
                shutil.rmtree(ws.root, ignore_errors=True)
                return seconds

            def with_requests() -> float:
                target = tmp / "requests.bin"

                def run() -> None:
                    with requests.get(url, stream=True, timeout=60) as reply, \
                            open(target, "wb") as out:
                        for chunk in reply.iter_content(1024 * 1024):
                            out.write(chunk)

                seconds = timed(run)
                target.unlink()
                return seconds

            def with_curl() -> float:
                target = tmp / "curl.bin"
                seconds = timed(lambda: subprocess.run(
                    ["curl", "-s", "-f", "-o", str(target), url], check=True))
                target.unlink()
                return seconds

            t_awiml = best_of(args.runs, with_awiml)
            t_requests = best_of(args.runs, with_requests)
            mb = size / 1e6
            print(f"large file: {args.size_mb} MiB, best of {args.runs}")
            print(f"  awiml fetch   : {mb / t_awiml:8.1f} MB/s (stream + sha256 + verify + record)")
            print(f"  requests      : {mb / t_requests:8.1f} MB/s (plain stream to disk)")
            if shutil.which("curl"):
                t_curl = best_of(args.runs, with_curl)
                print(f"  curl          : {mb / t_curl:8.1f} MB/s")
                print(f"  ratio awiml/curl     : {t_curl / t_awiml:.2f} (target >= 0.8)")
            else:
                print("  curl          : not installed")
            print(f"  ratio awiml/requests : {t_requests / t_awiml:.2f}")

        small = tmp / "small"
        small.mkdir()
        for i in range(args.files):
            (small / f"s{i:04d}.bin").write_bytes(os.urandom(4096))
        for latency in (0.0, 0.02):
            with FileServer(root=small) as server:
                if latency:
                    server.inject("*", Fault.slow(latency), times=None)
                urls = [server.url(f"s{i:04d}.bin") for i in range(args.files)]

                def fetch_all(workers: int, urls: list[str] = urls) -> float:
                    ws = Workspace.create(tempfile.mkdtemp(dir=tmp))
                    seconds = timed(lambda: ws.fetch(urls, workers=workers, progress=False))
                    assert len(ws.entries()) == args.files
                    shutil.rmtree(ws.root, ignore_errors=True)
                    return seconds

                serial = statistics.median(fetch_all(1) for _ in range(args.runs))
                concurrent = statistics.median(fetch_all(8) for _ in range(args.runs))
            label = f"{latency * 1000:.0f} ms latency" if latency else "plain loopback"
            print(f"{args.files} small files (4 KiB), {label}, median of {args.runs}")
            print(f"  serial (workers=1)     : {serial:6.2f} s")
            print(f"  concurrent (workers=8) : {concurrent:6.2f} s")
            print(f"  ratio concurrent/serial time: {concurrent / serial:.2f} "
                  f"(speed-up x{serial / concurrent:.1f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
