"""The main job, end to end and offline: ``make demo`` or ``python -m awiml.demo``.

Today's path: a loopback archive serves a real PANGAEA file bundled with
awiml; a workspace is created; the file is fetched into ``raw/`` through the
same transfer engine real archives use (once over a connection that drops
mid-transfer, to show resume); the manifest is shown and verified. Later
capabilities (archive clients, features, training, the ModelStore) extend
this script until it covers the whole workflow.

The demo is a program, not library code: it prints, and it uses
:mod:`awiml.testing` for its offline archive.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from importlib.resources import as_file, files
from pathlib import Path

from .testing import Fault, FileServer
from .workspace import Workspace

DATA_FILE = "PANGAEA_889513_PS103_surf_oce_tsg.tab"
DOI = "10.1594/PANGAEA.889513"


def _step(number: int, text: str) -> None:
    print(f"\n[{number}] {text}")


def run(workspace_path: str | Path | None = None, *, progress: bool = True) -> Workspace:
    """Run the demo and return the workspace it filled.

    Parameters
    ----------
    workspace_path : path-like, optional
        Where to create the workspace; a new temporary folder by default.
    progress : bool, optional
        Show progress bars while fetching.

    Returns
    -------
    Workspace
        The workspace, with the fetched data recorded in its manifest.
    """
    root = Path(workspace_path or tempfile.mkdtemp(prefix="awiml-demo-"))
    started = time.perf_counter()
    with as_file(files("awiml") / "data" / DATA_FILE) as data_file, FileServer() as archive:
        archive.add(f"dataset/889513/{DATA_FILE}", data_file)
        archive.add(f"dataset/889513/copy-over-flaky-line/{DATA_FILE}", data_file)
        url = archive.url(f"dataset/889513/{DATA_FILE}")

        _step(1, f"A loopback archive serves a real PANGAEA dataset (doi:{DOI}) at {url}")

        _step(2, f"Create the workspace at {root}")
        workspace = Workspace.create(root)
        for name in ("raw", "src", "lib", "features", "interim", "model"):
            print(f"    {name + '/':10} {getattr(workspace, name)}")

        _step(3, "Fetch it into raw/ (streamed, verified, then made read-only)")
        table = workspace.fetch(
            url, metadata={"doi": DOI, "licence": "CC-BY-3.0"}, progress=progress
        )
        print(table[["path", "size", "status", "attempts"]].to_string(index=False))

        _step(4, "Fetch again: already present, nothing is downloaded")
        table = workspace.fetch(url, metadata={"doi": DOI, "licence": "CC-BY-3.0"},
                                progress=progress)
        print(table[["path", "status", "attempts"]].to_string(index=False))

        flaky = f"dataset/889513/copy-over-flaky-line/{DATA_FILE}"
        _step(5, "Fetch a copy over a connection that drops after 100 kB: it resumes")
        archive.inject(flaky, Fault.drop_after(100_000))
        table = workspace.fetch(archive.url(flaky), subdir="flaky-line", progress=progress)
        print(table[["path", "size", "status", "attempts"]].to_string(index=False))
        ranges = [r.headers.get("range") for r in archive.requests if r.path.endswith(flaky)]
        print(f"    requests to the archive for it: {len(ranges)}, Range headers: {ranges}")

    _step(6, "The manifest (raw/MANIFEST) records source, size, sha256 and time")
    manifest = workspace.manifest()
    print(manifest[["path", "size", "sha256", "retrieved"]].to_string(index=False))
    same = manifest["sha256"].nunique() == 1
    print(f"    both copies have the same sha256: {same}")

    _step(7, "Verify raw/ against the manifest")
    report = workspace.verify()
    print(f"    {report}")
    if not report.ok or not same:
        raise SystemExit("demo failed: raw/ does not match its manifest")

    print(f"\nDone in {time.perf_counter() - started:.1f} s. Workspace: {workspace.root}")
    print(
        "Next: archive clients (PangaeaSource, EcotaxaSource, PlatformSource, HSMSource), "
        "feature extraction, training and the ModelStore extend this demo."
    )
    return workspace


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the demo.

    Parameters
    ----------
    argv : list of str, optional
        Arguments; ``sys.argv[1:]`` by default.
    """
    parser = argparse.ArgumentParser(prog="python -m awiml.demo", description=__doc__)
    parser.add_argument("--workspace", help="folder for the demo workspace (default: temporary)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    run(args.workspace, progress=not args.no_progress)


if __name__ == "__main__":
    main()
