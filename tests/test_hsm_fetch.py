"""Workspace.fetch of hsm:// URLs against the loopback HSM: staging, manifest, faults."""

from __future__ import annotations

import os
import shlex

import fsspec
import pytest

from awiml import Workspace
from awiml.archives.hsm import HSMSource
from awiml.archives.transfer import RetryPolicy
from awiml.errors import ArchiveUnavailableError, AuthenticationError, TransferError
from awiml.testing.hsm import HSMFault

OPTIONS = {"known_hosts": None, "poll": 0.02, "wait_timeout": 20.0, "timeout": 5.0,
           "progress": False}


@pytest.fixture(autouse=True, scope="module")
def hsm_protocol():
    # pyproject.toml registers `hsm` (fsspec.specs); an editable install made
    # before that line was added does not know it yet.
    if "hsm" not in fsspec.available_protocols():
        fsspec.register_implementation("hsm", HSMSource)


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "ws")


def stage_commands(server):
    return [shlex.split(c.command)[1:] for c in server.commands
            if c.command.startswith("stage")]


def raw_files(ws):
    return sorted(p.relative_to(ws.raw).as_posix() for p in ws.raw.rglob("*")
                  if p.is_file() and p.name != "MANIFEST")


def test_fetch_stages_an_offline_file_and_records_it_in_the_manifest(hsm_env, ws):
    server = hsm_env
    data = os.urandom(5000)
    path = server.add_file("/hs/projects/x/file.nc", data, volumes=["022000"])

    table = ws.fetch("hsm:///hs/projects/x/file.nc", progress=False, storage_options=OPTIONS)

    assert table[["path", "status"]].values.tolist() == [["file.nc", "fetched"]]
    assert (ws.raw / "file.nc").read_bytes() == data
    assert stage_commands(server) == [[path]]
    entry = ws.entries()["file.nc"]
    assert entry.source == "hsm:///hs/projects/x/file.nc" and entry.size == 5000
    meta = entry.metadata
    assert (meta["hsm_path"], meta["size"], meta["state"], meta["staged"]) == (
        path, 5000, "offline", True)
    assert meta["vsns"] == ["022000"] and meta["archdone"] is True
    assert meta["mtime"].endswith("Z") and meta["hsm_host"] == server.host
    assert "secret" not in ws.manifest_path.read_text()
    assert ws.verify().ok
    again = ws.fetch("hsm:///hs/projects/x/file.nc", progress=False, storage_options=OPTIONS)
    assert again["status"].tolist() == ["present"]


def test_fetch_of_a_folder_stages_all_offline_files_in_one_request(hsm_env, ws):
    server = hsm_env
    files = {"run1/a.nc": "V2", "run1/sub/b.nc": "V1", "run1/c.nc": "V1"}
    content = {}
    for name, vsn in files.items():
        content[name] = os.urandom(3000)
        server.add_file(f"/hs/projects/x/{name}", content[name], volumes=[vsn])
    server.add_file("/hs/projects/x/run1/online.txt", b"here", volumes=["V1"], online=True)

    ws.fetch("hsm:///hs/projects/x/run1", progress=False, storage_options=OPTIONS)

    assert raw_files(ws) == ["run1/a.nc", "run1/c.nc", "run1/online.txt", "run1/sub/b.nc"]
    for name, data in content.items():
        assert (ws.raw / name).read_bytes() == data
    # by volume, then by position on it: sub/b.nc went onto V1 before c.nc
    assert stage_commands(server) == [["/hs/projects/x/run1/sub/b.nc", "/hs/projects/x/run1/c.nc",
                                       "/hs/projects/x/run1/a.nc"]]
    states = {name: e.metadata["state"] for name, e in ws.entries().items()}
    assert states == {"run1/a.nc": "offline", "run1/c.nc": "offline",
                      "run1/online.txt": "online", "run1/sub/b.nc": "offline"}


def test_fetch_resumes_a_transfer_cut_off_mid_file(hsm_env, ws, caplog):
    server = hsm_env
    data = os.urandom(3_000_000)
    path = server.add_file("/hs/projects/x/big.nc", data, volumes=["V1"])
    server.inject(path, HSMFault.drop_after(1_500_000))

    with caplog.at_level("WARNING", logger="awiml.archives.transfer"):
        table = ws.fetch("hsm:///hs/projects/x/big.nc", progress=False,
                         storage_options=OPTIONS, policy=RetryPolicy(backoff=0.01))

    assert table["attempts"].tolist() == [2]
    assert "broke off" in caplog.text and "resuming" in caplog.text  # not started over
    assert (ws.raw / "big.nc").read_bytes() == data
    assert ws.verify().ok


def test_a_fetch_that_keeps_breaking_leaves_nothing_half_written_then_resumes(hsm_env, ws):
    server = hsm_env
    data = os.urandom(3_000_000)
    path = server.add_file("/hs/projects/x/big.nc", data, volumes=["V1"], online=True)
    server.inject(path, HSMFault.drop_after(1_500_000), times=None)
    policy = RetryPolicy(retries=1, max_resumes=0, backoff=0.01)

    with pytest.raises(ArchiveUnavailableError, match=r"big.nc.*MiB received so far "
                                                      r"are kept and resumed"):
        ws.fetch("hsm:///hs/projects/x/big.nc", progress=False, storage_options=OPTIONS,
                 policy=policy)

    assert raw_files(ws) == [] and ws.entries() == {}
    partial = [p for p in (ws.root / ".awiml" / "downloads").iterdir() if p.suffix == ".part"]
    assert len(partial) == 1 and 1024 * 1024 <= partial[0].stat().st_size < len(data)
    assert data.startswith(partial[0].read_bytes())
    server.clear_faults()
    table = ws.fetch("hsm:///hs/projects/x/big.nc", progress=False, storage_options=OPTIONS)
    assert table["status"].tolist() == ["fetched"]
    assert (ws.raw / "big.nc").read_bytes() == data


def test_a_refused_stage_request_fails_the_fetch_and_leaves_raw_empty(hsm_env, ws):
    server = hsm_env
    path = server.add_file("/hs/projects/x/file.nc", b"data", volumes=["V1"])
    server.inject(path, HSMFault.refuse())

    with pytest.raises(ArchiveUnavailableError, match=r"refused `stage`.*file.nc"):
        ws.fetch("hsm:///hs/projects/x/file.nc", progress=False, storage_options=OPTIONS)

    assert raw_files(ws) == [] and ws.entries() == {}


def test_a_stage_that_does_not_finish_in_time_fails_the_fetch_cleanly(hsm_env, ws):
    server = hsm_env
    server.mount_time = 30.0
    server.add_file("/hs/projects/x/file.nc", b"data", volumes=["SLOW01"])

    with pytest.raises(TransferError, match=r"still offline after 0\.2 s"):
        ws.fetch("hsm:///hs/projects/x/file.nc", progress=False,
                 storage_options={**OPTIONS, "wait_timeout": 0.2})

    assert raw_files(ws) == []


def test_wrong_credentials_fail_the_fetch_without_showing_the_password(hsm_env, ws):
    server = hsm_env
    server.add_file("/hs/projects/x/file.nc", b"data", volumes=["V1"])

    with pytest.raises(AuthenticationError, match="refused the login") as caught:
        ws.fetch("hsm:///hs/projects/x/file.nc", progress=False,
                 storage_options={**OPTIONS, "password": "not-the-password"})

    assert "not-the-password" not in str(caught.value)
    assert raw_files(ws) == []


def test_get_into_a_workspace_fetches_with_one_stage_request(hsm_env, ws):
    server = hsm_env
    paths = [server.add_file(f"/hs/projects/x/{n}.nc", bytes([n]) * 1000, volumes=[f"V{n}"])
             for n in (2, 1)]
    hsm = HSMSource(**OPTIONS, skip_instance_cache=True)

    table = hsm.get(paths, ws)

    assert table["path"].tolist() == ["1.nc", "2.nc"]
    assert stage_commands(server) == [sorted(paths)]
    assert (ws.raw / "2.nc").read_bytes() == b"\x02" * 1000
