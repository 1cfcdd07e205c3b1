"""Shared fixtures for awiml's own tests (users get ``awiml_file_server`` from the plugin)."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

# Keras needs a backend: the CPU PyTorch the Makefile installs (a user's choice wins).
os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest

from awiml import Workspace
from awiml.archives.transfer import RetryPolicy
from awiml.testing import FileServer

DATA = Path(__file__).parent / "data"
PANGAEA_TAB = DATA / "pangaea" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"


@pytest.fixture
def server():
    with FileServer() as srv:
        yield srv


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


@pytest.fixture
def fast() -> RetryPolicy:
    """A retry policy with tiny waits and timeouts, so fault tests run in milliseconds."""
    return RetryPolicy(retries=3, backoff=0.01, max_backoff=0.05, timeout=(2.0, 2.0))


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-looking bytes of length ``n``."""
    block = hashlib.sha256(str(seed).encode()).digest()
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(block + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])


def raw_files(ws: Workspace) -> list[str]:
    """Every file below raw/ except the manifest, relative and sorted."""
    return sorted(
        p.relative_to(ws.raw).as_posix()
        for p in ws.raw.rglob("*")
        if p.is_file() and p != ws.manifest_path
    )


def assert_consistent(ws: Workspace) -> None:
    """raw/ holds exactly the manifest's files, each complete and read-only."""
    report = ws.verify()
    assert report.ok, str(report)
    for name in raw_files(ws):
        mode = os.stat(ws.raw / name).st_mode & 0o777
        assert mode & 0o222 == 0, f"raw/{name} is writable ({oct(mode)})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail, not skip, a test whose skip comes from awiml itself failing to import."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and call.excinfo is not None:
        reason = str(call.excinfo.value)
        if "could not import 'awiml" in reason or "No module named 'awiml" in reason:
            report.outcome = "failed"
            report.longrepr = f"awiml failed to import, which must fail the test: {reason}"


# -- A real SLURM (tools/slurm-cluster.sh) --------------------------------------------------
# The fixture lives here, not in awiml's pytest plugin: it needs the project's
# tools/slurm-cluster.sh (not in the wheel) and its CI rule (fail, never skip, when CI=true).

TOOLS = Path(__file__).resolve().parent.parent / "tools"
SLURM_DIR = Path(os.environ.get("AWIML_SLURM_DIR", "/tmp/awiml-slurm"))
SLURM_START = ("start it as root with `tools/slurm-cluster.sh start` (it installs slurm-wlm "
               "and munge with apt-get and starts munged, slurmctld and slurmd), or deselect "
               "these tests with -m 'not slurm'")


def slurmctld_address(conf: Path) -> tuple[str, int]:
    """Return the controller's address and port that the slurm.conf ``conf`` names."""
    text = conf.read_text("utf-8")
    host = re.search(r"^\s*SlurmctldHost=([^\s(]+)(?:\(([^)]+)\))?", text, re.M | re.I)
    port = re.search(r"^\s*SlurmctldPort=(\d+)", text, re.M | re.I)
    address = (host.group(2) or host.group(1)) if host else "localhost"
    return address, int(port.group(1)) if port else 6817


@functools.cache
def slurm_problem() -> str | None:
    """Return why no SLURM is usable here, or None when ``sinfo`` sees an idle node."""
    if shutil.which("sinfo") is None:
        return "SLURM is not installed (no sinfo on PATH)"
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    if not conf.is_file():
        return f"there is no SLURM configuration {conf} (set SLURM_CONF)"
    address = slurmctld_address(conf)
    try:  # sinfo waits ~10 s for a controller that is down: ask its port first
        socket.create_connection(address, timeout=2).close()
    except OSError as exc:
        return f"slurmctld does not answer on {address[0]}:{address[1]} ({exc})"
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                              timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s (is slurmctld running?)"
    states = done.stdout.split()
    if done.returncode != 0:
        return f"sinfo failed: {done.stderr.strip() or done.returncode} (SLURM is not running)"
    if not any(state.rstrip("*") in {"idle", "mixed", "allocated"} for state in states):
        return f"no SLURM node is up (sinfo: {', '.join(states) or 'no nodes'})"
    return None


def slurm_job_ids(name: str) -> list[str]:
    """Return the ids of the live SLURM jobs named ``name``, as squeue shows them."""
    done = subprocess.run(["squeue", "-h", "--name", name, "-o", "%i"], capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout.split()


def require_slurm() -> None:
    """Skip the test unless SLURM runs here (fail when ``CI=true``); set SLURM_CONF."""
    conf = SLURM_DIR / "slurm.conf"
    if "SLURM_CONF" not in os.environ and conf.is_file():
        os.environ["SLURM_CONF"] = str(conf)  # the client commands of dask-jobqueue too
    problem = slurm_problem()
    if problem is not None:
        message = f"{problem}: {SLURM_START}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but SLURM is unusable: {message}")
        pytest.skip(message)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """Yield a ``dask_jobqueue.SLURMCluster`` with two workers: two real SLURM jobs.

    Jobs of one core and 1 GB on the test machine's Python, workers and scheduler on
    127.0.0.1 (interface ``lo``). Skips when SLURM does not run here, saying how to
    start it; fails instead when ``CI=true`` (CI starts it in .ci/run).
    """
    require_slurm()
    name = f"awiml-test-{os.getpid()}"
    with running_slurm_cluster(name, tmp_path_factory.mktemp("slurm-logs"), jobs=2) as cluster:
        yield cluster
    left = wait_for_no_jobs(name)
    if left:
        subprocess.run(["scancel", *left], check=False)
        pytest.fail(f"SLURM jobs {left} of the test cluster outlived cluster.close()")


@contextmanager
def running_slurm_cluster(name: str, folder: Path, jobs: int):
    """Yield a SLURMCluster (profile ``local-slurm``) whose ``jobs`` workers are up.

    The jobs are named ``name``; their logs and the workers' scratch go to ``folder``.
    The cluster is closed on the way out, which cancels the jobs.
    """
    from distributed import Client

    from awiml.scale import hpc_cluster

    cluster = hpc_cluster("local-slurm", python=sys.executable, job_name=name,
                          log_directory=str(folder), local_directory=str(folder))
    try:
        cluster.scale(jobs=jobs)
        with Client(cluster) as client:
            client.wait_for_workers(jobs, timeout=120)
        yield cluster
    finally:
        cluster.close()


def wait_for_no_jobs(name: str, timeout: float = 30) -> list[str]:
    """Wait until squeue shows no job named ``name``; return those left at the timeout."""
    deadline = time.monotonic() + timeout  # scancel is asynchronous
    while (left := slurm_job_ids(name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.fixture
def hsm_env(awiml_hsm_server, monkeypatch, tmp_path):
    """Point hsm:/// URLs at the test server; the password comes from a netrc file."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {awiml_hsm_server.host} login alice password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("AWIML_HSM_HOST", awiml_hsm_server.host)
    monkeypatch.setenv("AWIML_HSM_PORT", str(awiml_hsm_server.port))
    monkeypatch.delenv("AWIML_HSM_USER", raising=False)
    return awiml_hsm_server
