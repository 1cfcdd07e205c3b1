"""Shared fixtures for awiml's own tests (users get ``awiml_file_server`` from the plugin)."""

from __future__ import annotations

import hashlib
import os
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
