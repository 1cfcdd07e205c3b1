"""HSM staging: one ordered stage batch against staging and copying files one by one.

50 offline files (256 KiB each) on 5 tape volumes of the loopback ``HSMServer``,
listed interleaved (file i on volume i mod 5, so a request list in that order
switches volume at every file, as real request lists do), with the real library's
ratios scaled down: a mount takes 0.2 s (minutes on the real library), reading a
file from a mounted volume about 0.01 s (25 MB/s here), 2 drives, and a volume is
never kept mounted idle. In the same run, each on a fresh server with the same
settings (so every file starts offline):

1. ``HSMSource.get(paths, folder)``: one ``stage`` request for all offline files,
   sorted by volume and position, one wait, then the copies.
2. The naive loop: for each file in the list, ``HSMSource.get(path, folder)``, which
   stages that file, waits until it is online and copies it, before the next.

Printed: both times, the tape mounts each caused (``HSMServer.mounts``) and the
ratio one-by-one / batched. Target: >= 5. Both read their files over SFTP, poll
the state with the same back-off (``poll``) and verify every copy against the
archive's bytes.

Run: .venv/bin/python benchmarks/hsm_get.py [--files 50] [--volumes 5]
[--size-kb 256] [--mount-time 0.2] [--read-rate 25e6] [--drives 2] [--poll 0.05]
[--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from awiml.archives.hsm import HSMSource
from awiml.testing import HSMServer

TARGET = 5.0


def interleaved(files: int, volumes: int) -> list[tuple[str, str]]:
    """``(archive path, volume)`` of each file, the volume changing from one file to the next."""
    return [(f"/hs/projects/bench/f{i:03d}.nc", f"VSN{i % volumes:03d}")
            for i in range(files)]


def run(layout: list[tuple[str, str]], data: dict[str, bytes], settings: dict[str, float],
        poll: float, folder: Path, fetch: Callable[[HSMSource, list[str], Path], None]
        ) -> tuple[float, int, float]:
    """Time ``fetch`` on a fresh server holding ``layout`` offline.

    Returns the seconds, the tape mounts, and the seconds from the first mount's start to
    the last unload (on the server's clock).
    """
    with HSMServer(**settings) as server:
        for path, volume in layout:
            server.add_file(path, data[path], volumes=[volume])
        paths = [path for path, _ in layout]
        assert server.files_online(paths) == [], "the files must start offline"
        hsm = HSMSource(server.host, "alice", password="secret", port=server.port,
                        known_hosts=None, poll=poll, progress=False)
        hsm.states(paths[:1])  # log in before the clock starts, as for both contenders
        start = time.perf_counter()
        fetch(hsm, paths, folder)
        seconds = time.perf_counter() - start
        mounts = server.mounts
        tape = max(m.unloaded for m in mounts) - min(m.mounted for m in mounts)
    for path in paths:
        copied = (folder / path.rsplit("/", 1)[1]).read_bytes()
        assert copied == data[path], f"the copy of {path} differs from the archive's"
    return seconds, len(mounts), tape


def batched(hsm: HSMSource, paths: list[str], folder: Path) -> None:
    hsm.get(paths, folder)


def one_by_one(hsm: HSMSource, paths: list[str], folder: Path) -> None:
    for path in paths:
        hsm.get(path, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--volumes", type=int, default=5)
    parser.add_argument("--size-kb", type=int, default=256, help="KiB per file (default 256)")
    parser.add_argument("--mount-time", type=float, default=0.2,
                        help="seconds per volume mount (default 0.2)")
    parser.add_argument("--read-rate", type=float, default=25e6,
                        help="bytes per second from a mounted volume (default 25e6)")
    parser.add_argument("--drives", type=int, default=2)
    parser.add_argument("--poll", type=float, default=0.05,
                        help="HSMSource's first wait between state queries (default 0.05)")
    parser.add_argument("--quick", action="store_true",
                        help="10 files on the same volumes: a few seconds")
    args = parser.parse_args()
    files = 10 if args.quick else args.files
    layout = interleaved(files, args.volumes)
    data = {path: os.urandom(args.size_kb * 1024) for path, _ in layout}
    settings = {"drives": args.drives, "mount_time": args.mount_time,
                "read_rate": args.read_rate}
    read = args.size_kb * 1024 / args.read_rate
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{files} offline files of {args.size_kb} KiB, interleaved over {args.volumes} "
          f"volumes; {args.drives} drives, mount {args.mount_time} s, read {read:.3f} s per "
          f"file, poll {args.poll} s")
    with tempfile.TemporaryDirectory(prefix="awiml-bench-") as tmp:
        results = {}
        for name, fetch in (("batched", batched), ("one by one", one_by_one)):
            folder = Path(tmp) / name.replace(" ", "-")
            results[name] = run(layout, data, settings, args.poll, folder, fetch)
    (t_batch, m_batch, s_batch) = results["batched"]
    (t_single, m_single, s_single) = results["one by one"]
    print(f"  one stage batch, wait, copy   : {t_batch:6.2f} s, {m_batch:3d} mounts "
          f"(tape busy {s_batch:5.2f} s)")
    print(f"  one by one (stage, wait, copy): {t_single:6.2f} s, {m_single:3d} mounts "
          f"(tape busy {s_single:5.2f} s)")
    judged = "" if not args.quick else "; judged on the full run, not --quick"
    print(f"  ratio one-by-one / batched: {t_single / t_batch:.1f} (target >= {TARGET:g}"
          f"{judged})")
    print("  why: the batch mounts each volume once, reads its files in tape order and keeps "
          "both drives busy; the loop waits for a mount per file, one at a time; the copies "
          "cost the same in both.")


if __name__ == "__main__":
    main()
