"""Workspace.fetch against the loopback server: streaming, resume, retries, checksums, faults.

After every injected fault, raw/ holds either the complete, checksum-verified
file or nothing, and the manifest agrees (``assert_consistent``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime

import pytest
from conftest import PANGAEA_TAB, assert_consistent, payload, raw_files, sha256

from awiml import __version__
from awiml.archives.transfer import RetryPolicy
from awiml.errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    AwimlError,
    ChecksumMismatchError,
    NotFoundError,
    RawFileConflictError,
    TransferError,
    WorkspaceError,
)
from awiml.testing import Fault, Response
from awiml.workspace import FetchError


def gets(server, name):
    return [r for r in server.requests if r.method == "GET" and r.path == "/" + name]


# --- the happy path -------------------------------------------------------------------------


def test_fetch_real_pangaea_file_records_everything(server, workspace):
    server.add("dataset/889513/tsg.tab", PANGAEA_TAB)
    data = PANGAEA_TAB.read_bytes()
    table = workspace.fetch(
        server.url("dataset/889513/tsg.tab"),
        metadata={"doi": "10.1594/PANGAEA.889513", "licence": "CC-BY-3.0"},
        progress=False,
    )
    assert list(table["status"]) == ["fetched"]
    assert (workspace.raw / "tsg.tab").read_bytes() == data
    entry = workspace.entries()["tsg.tab"]
    assert entry.source == server.url("dataset/889513/tsg.tab")
    assert entry.size == len(data)
    assert entry.sha256 == sha256(data)
    assert entry.awiml_version == __version__
    assert entry.metadata == {"doi": "10.1594/PANGAEA.889513", "licence": "CC-BY-3.0"}
    assert datetime.fromisoformat(entry.retrieved.replace("Z", "+00:00")).tzinfo is not None
    manifest = workspace.manifest()
    assert list(manifest["path"]) == ["tsg.tab"]
    assert str(manifest["retrieved"].dtype).startswith("datetime64")
    assert_consistent(workspace)
    # nothing partial is left behind
    assert not list((workspace.root / ".awiml" / "downloads").glob("*.part"))


def test_second_fetch_skips_without_downloading(server, workspace):
    server.add("a.bin", payload(5000))
    workspace.fetch(server.url("a.bin"), progress=False)
    before = len(gets(server, "a.bin"))
    table = workspace.fetch(server.url("a.bin"), progress=False)
    assert list(table["status"]) == ["present"]
    assert len(gets(server, "a.bin")) == before
    assert_consistent(workspace)


def test_many_files_fetch_concurrently(server, workspace):
    """Four handlers meet at a barrier: only a client with four parallel workers gets through."""
    barrier = threading.Barrier(4, timeout=10)
    bodies = {f"f{i}.bin": payload(1000 + i, seed=i) for i in range(8)}

    def handler(request):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Response(status=418, body=b"not concurrent")
        return Response(body=bodies[request.path.lstrip("/")])

    for name in bodies:
        server.route("GET", "/" + name, handler)
    table = workspace.fetch([server.url(n) for n in bodies], workers=4, progress=False)
    assert sorted(table["path"]) == sorted(bodies)
    for name, body in bodies.items():
        assert (workspace.raw / name).read_bytes() == body
    assert_consistent(workspace)


def test_local_paths_file_urls_and_directories(tmp_path, workspace):
    src = tmp_path / "cruise"
    (src / "ctd").mkdir(parents=True)
    (src / "ctd" / "cast1.csv").write_text("depth,temp\n1,4.2\n")
    (src / "notes.txt").write_text("PS103")
    single = tmp_path / "single.tab"
    single.write_bytes(b"x\ty\n")
    table = workspace.fetch([str(src), single.as_uri()], progress=False)
    assert sorted(table["path"]) == ["cruise/ctd/cast1.csv", "cruise/notes.txt", "single.tab"]
    entries = workspace.entries()
    assert entries["single.tab"].source == single.as_uri()
    assert entries["cruise/notes.txt"].source.startswith("file://")
    assert_consistent(workspace)


def test_subdir_places_files_below_raw(server, workspace):
    server.add("a.bin", b"abc")
    workspace.fetch(server.url("a.bin"), subdir="2026/cruise", progress=False)
    assert raw_files(workspace) == ["2026/cruise/a.bin"]


@pytest.mark.parametrize("bad", ["../escape", "/abs", "MANIFEST"])
def test_names_that_escape_raw_are_refused(server, workspace, bad):
    server.add("a.bin", b"abc")
    with pytest.raises(WorkspaceError, match="relative path"):
        if bad == "MANIFEST":
            server.add("MANIFEST", b"x")
            workspace.fetch(server.url("MANIFEST"), progress=False)
        else:
            workspace.fetch(server.url("a.bin"), subdir=bad, progress=False)
    assert raw_files(workspace) == []


def test_two_urls_for_one_name_are_refused_before_any_download(server, workspace):
    server.add("x/a.bin", b"1")
    server.add("y/a.bin", b"2")
    with pytest.raises(WorkspaceError, match="subdir"):
        workspace.fetch([server.url("x/a.bin"), server.url("y/a.bin")], progress=False)
    assert server.requests == []


def test_progress_bar_can_be_shown_and_hidden(server, workspace, capsys):
    server.add("a.bin", payload(20000))
    server.add("b.bin", payload(20000, 1))
    workspace.fetch(server.url("a.bin"), progress=True)
    assert "fetch 1 file" in capsys.readouterr().err
    workspace.fetch(server.url("b.bin"), progress=False)
    assert "fetch" not in capsys.readouterr().err


# --- never overwrite raw/ -------------------------------------------------------------------


def test_different_content_under_an_existing_name_is_a_conflict(server, workspace):
    server.add("v1/data.tab", b"version 1")
    server.add("v2/data.tab", b"version 2 is longer")
    workspace.fetch(server.url("v1/data.tab"), progress=False)
    manifest_before = workspace.manifest_path.read_text()
    with pytest.raises(RawFileConflictError, match="never overwritten") as info:
        workspace.fetch(server.url("v2/data.tab"), progress=False)
    assert isinstance(info.value, FileExistsError)
    assert "raw/data.tab" in str(info.value)
    assert (workspace.raw / "data.tab").read_bytes() == b"version 1"
    assert workspace.manifest_path.read_text() == manifest_before
    # the documented way out: another subdir
    workspace.fetch(server.url("v2/data.tab"), subdir="v2", progress=False)
    assert raw_files(workspace) == ["data.tab", "v2/data.tab"]
    assert_consistent(workspace)


def test_same_content_from_another_source_is_present(server, workspace):
    server.add("mirror1/data.tab", b"same bytes")
    server.add("mirror2/data.tab", b"same bytes")
    workspace.fetch(server.url("mirror1/data.tab"), progress=False)
    table = workspace.fetch(server.url("mirror2/data.tab"), progress=False)
    assert list(table["status"]) == ["present"]
    assert workspace.entries()["data.tab"].source == server.url("mirror1/data.tab")


def test_unrecorded_file_with_same_content_is_adopted(server, workspace):
    """A crash between the rename into raw/ and the manifest write heals on the next fetch."""
    server.add("a.bin", b"payload")
    (workspace.raw / "a.bin").write_bytes(b"payload")
    assert workspace.verify().extra == ["a.bin"]
    table = workspace.fetch(server.url("a.bin"), progress=False)
    assert list(table["status"]) == ["fetched"]
    assert_consistent(workspace)


def test_unrecorded_file_with_other_content_is_kept(server, workspace):
    server.add("a.bin", b"from the archive")
    (workspace.raw / "a.bin").write_bytes(b"put here by hand")
    with pytest.raises(RawFileConflictError, match="not in MANIFEST"):
        workspace.fetch(server.url("a.bin"), progress=False)
    assert (workspace.raw / "a.bin").read_bytes() == b"put here by hand"


# --- checksums ------------------------------------------------------------------------------


def test_published_checksum_is_verified_and_recorded(server, workspace):
    data = payload(3000)
    server.add("a.bin", data)
    workspace.fetch(server.url("a.bin"), checksum=sha256(data), progress=False)
    assert workspace.entries()["a.bin"].published_checksum == sha256(data)


def test_md5_checksum_works(server, workspace):
    import hashlib

    data = payload(3000)
    server.add("a.bin", data)
    md5 = "md5:" + hashlib.md5(data).hexdigest()
    workspace.fetch(server.url("a.bin"), checksum=md5, progress=False)
    entry = workspace.entries()["a.bin"]
    assert entry.published_checksum == md5
    assert entry.sha256 == sha256(data)


def test_wrong_checksum_fails_after_one_fresh_download(server, workspace, fast):
    server.add("a.bin", payload(3000))
    with pytest.raises(ChecksumMismatchError, match=r"a\.bin") as info:
        workspace.fetch(server.url("a.bin"), checksum="sha256:" + "0" * 64, policy=fast,
                        progress=False)
    assert "publishes" in str(info.value)
    assert len(gets(server, "a.bin")) == 2
    assert raw_files(workspace) == []
    assert workspace.entries() == {}


def test_corrupt_transfer_is_repaired_by_a_fresh_download(server, workspace, fast):
    data = payload(4000)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.corrupt(offset=123))
    workspace.fetch(server.url("a.bin"), checksum=sha256(data), policy=fast, progress=False)
    assert (workspace.raw / "a.bin").read_bytes() == data
    assert_consistent(workspace)


def test_silently_truncated_body_is_caught_by_the_checksum(server, workspace, fast):
    data = payload(4000)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.wrong_length(-100))
    workspace.fetch(server.url("a.bin"), checksum=sha256(data), policy=fast, progress=False)
    assert (workspace.raw / "a.bin").read_bytes() == data


def test_bad_checksum_string_is_refused_up_front(server, workspace):
    server.add("a.bin", b"x")
    with pytest.raises(ValueError, match="algorithm"):
        workspace.fetch(server.url("a.bin"), checksum="crc99:abcd", progress=False)
    assert server.requests == []


# --- transient faults: retried, resumed, verified --------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.drop_after(10_000),
        Fault.status(500),
        Fault.status(503),
        Fault.too_many_requests(retry_after=0),
        Fault.wrong_length(+10),
        Fault.stall(after_bytes=10_000, delay=3.0),
        Fault.slow(3.0),
    ],
    ids=lambda f: repr(f)[:40],
)
def test_transient_faults_end_in_the_complete_file(server, workspace, fault):
    data = payload(200_000)
    server.add("a.bin", data)
    server.inject("a.bin", fault)
    policy = RetryPolicy(retries=3, backoff=0.01, timeout=(2.0, 1.0))
    table = workspace.fetch(server.url("a.bin"), policy=policy, progress=False)
    assert (workspace.raw / "a.bin").read_bytes() == data
    assert table["attempts"][0] == 2
    assert_consistent(workspace)


def test_dropped_connection_resumes_with_range_and_if_range(server, workspace, fast):
    data = payload(300_000)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(120_000))
    workspace.fetch(server.url("a.bin"), policy=fast, progress=False)
    first, second = gets(server, "a.bin")
    assert first.header("range") is None
    assert second.header("range") == "bytes=120000-"
    assert second.header("if-range")  # the ETag or Last-Modified of the first reply
    assert second.status == 206
    assert (workspace.raw / "a.bin").read_bytes() == data


def test_server_without_range_support_restarts_from_zero(server, workspace, fast):
    data = payload(300_000)
    server.add("a.bin", data, range_support=False)
    server.inject("a.bin", Fault.drop_after(120_000))
    workspace.fetch(server.url("a.bin"), policy=fast, progress=False)
    assert [r.status for r in gets(server, "a.bin")] == [200, 200]
    assert (workspace.raw / "a.bin").read_bytes() == data


def test_server_that_ignores_range_once_restarts_cleanly(server, workspace, fast):
    data = payload(300_000)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(120_000))
    server.inject("a.bin", Fault.ignore_range())
    workspace.fetch(server.url("a.bin"), policy=fast, progress=False)
    assert (workspace.raw / "a.bin").read_bytes() == data
    assert_consistent(workspace)


def test_interrupted_fetch_resumes_in_the_next_call(server, workspace):
    data = payload(300_000)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(100_000))
    server.inject("a.bin", Fault.status(500), times=None)
    no_retry = RetryPolicy(retries=0, max_resumes=0, backoff=0.01)
    with pytest.raises(ArchiveUnavailableError, match="resumed when you fetch again"):
        workspace.fetch(server.url("a.bin"), policy=no_retry, progress=False)
    assert raw_files(workspace) == []
    assert workspace.entries() == {}
    server.clear_faults()
    workspace.fetch(server.url("a.bin"), policy=no_retry, progress=False)
    assert gets(server, "a.bin")[-1].header("range") == "bytes=100000-"
    assert (workspace.raw / "a.bin").read_bytes() == data


def test_progress_making_drops_do_not_use_up_retries(server, workspace):
    data = payload(50_000)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(8_000), times=None)
    policy = RetryPolicy(retries=1, backoff=0.001)
    table = workspace.fetch(server.url("a.bin"), policy=policy, progress=False)
    assert table["attempts"][0] == 7  # 6 drops of 8000 bytes, then the last 2000
    assert (workspace.raw / "a.bin").read_bytes() == data


def test_retry_after_is_honoured_instead_of_backoff(server, workspace):
    server.add("a.bin", b"data")
    server.inject("a.bin", Fault.too_many_requests(retry_after=0), times=2)
    # A backoff of an hour would hang the test: only Retry-After: 0 lets it finish.
    policy = RetryPolicy(retries=3, backoff=3600, max_backoff=3600)
    workspace.fetch(server.url("a.bin"), policy=policy, progress=False)
    assert [r.status for r in gets(server, "a.bin")] == [429, 429, 200]


def test_too_long_retry_after_fails_with_advice(server, workspace):
    server.add("a.bin", b"data")
    server.inject("a.bin", Fault.too_many_requests(retry_after=3600))
    with pytest.raises(ArchiveUnavailableError, match="asks to wait 3600 s"):
        workspace.fetch(server.url("a.bin"), progress=False)
    assert raw_files(workspace) == []


def test_persistent_server_errors_give_up_after_bounded_retries(server, workspace, fast):
    server.add("a.bin", b"data")
    server.inject("a.bin", Fault.status(502), times=None)
    with pytest.raises(ArchiveUnavailableError, match="after 4 attempts: HTTP 502") as info:
        workspace.fetch(server.url("a.bin"), policy=fast, progress=False)
    assert isinstance(info.value, ConnectionError)
    assert server.url("a.bin") in str(info.value)
    assert len(gets(server, "a.bin")) == 4
    assert raw_files(workspace) == [] and workspace.entries() == {}


def test_warnings_name_the_url_and_retries_left(server, workspace, fast, caplog):
    server.add("a.bin", b"data")
    server.inject("a.bin", Fault.status(500))
    with caplog.at_level(logging.WARNING, logger="awiml"):
        workspace.fetch(server.url("a.bin"), policy=fast, progress=False)
    assert any("a.bin" in r.getMessage() and "retry 1 of 3" in r.getMessage()
               for r in caplog.records)


# --- errors a user can cause ----------------------------------------------------------------


def test_missing_file_is_not_found(server, workspace):
    with pytest.raises(NotFoundError, match="404") as info:
        workspace.fetch(server.url("no/such.tab"), progress=False)
    assert isinstance(info.value, FileNotFoundError)
    assert "no/such.tab" in str(info.value)


def test_missing_local_path_is_not_found(tmp_path, workspace):
    with pytest.raises(NotFoundError, match="does not exist"):
        workspace.fetch(str(tmp_path / "nothing.tab"), progress=False)


def test_unknown_protocol_says_what_to_check(workspace):
    with pytest.raises(NotFoundError, match="protocol"):
        workspace.fetch("nosuchproto://x/y", progress=False)


def test_one_bad_url_among_good_ones_keeps_the_good_ones(server, workspace):
    server.add("good1.bin", b"1")
    server.add("good2.bin", b"2")
    with pytest.raises(NotFoundError) as info:
        workspace.fetch([server.url("good1.bin"), server.url("gone.bin"),
                         server.url("good2.bin")], progress=False)
    assert "2 other file(s)" in " ".join(getattr(info.value, "__notes__", []))
    assert raw_files(workspace) == ["good1.bin", "good2.bin"]
    assert_consistent(workspace)


def test_several_failures_are_reported_together(server, workspace, fast):
    server.add("good.bin", b"1")
    server.add("flaky.bin", b"2")
    server.inject("flaky.bin", Fault.status(500), times=None)
    urls = [server.url("good.bin"), server.url("gone.bin"), server.url("flaky.bin")]
    with pytest.raises(FetchError) as info:
        workspace.fetch(urls, policy=fast, progress=False)
    error = info.value
    assert isinstance(error, AwimlError)
    assert set(error.failures) == {server.url("gone.bin"), server.url("flaky.bin")}
    assert isinstance(error.failures[server.url("gone.bin")], NotFoundError)
    assert "2 files could not be fetched" in str(error)
    assert list(error.results["path"]) == ["good.bin"]
    assert raw_files(workspace) == ["good.bin"]
    assert_consistent(workspace)


def test_not_enough_disk_space_fails_before_writing(server, workspace, monkeypatch):
    import shutil

    server.add("big.bin", payload(100_000))
    real = shutil.disk_usage

    def tiny(path):
        usage = real(path)
        return usage._replace(free=1000)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    with pytest.raises(TransferError, match="not enough space") as info:
        workspace.fetch(server.url("big.bin"), progress=False)
    assert "Free some space" in str(info.value)
    assert raw_files(workspace) == []


# --- credentials ----------------------------------------------------------------------------


def test_basic_auth_from_arguments_and_secrets_stay_out(tmp_path, workspace, caplog):
    from awiml.testing import FileServer

    with FileServer(auth=("alice", "pa55-word")) as server, caplog.at_level(logging.DEBUG):
        server.add("secret.tab", b"restricted")
        with pytest.raises(AuthenticationError, match="401") as info:
            workspace.fetch(server.url("secret.tab"), progress=False)
        assert "netrc" in str(info.value)
        workspace.fetch(server.url("secret.tab"), auth=("alice", "pa55-word"), progress=False)
    assert (workspace.raw / "secret.tab").read_bytes() == b"restricted"
    assert "pa55-word" not in workspace.manifest_path.read_text()
    assert "pa55-word" not in caplog.text


def test_credentials_in_the_url_are_used_but_never_recorded(workspace):
    from awiml.testing import FileServer

    with FileServer(auth=("alice", "pa55-word")) as server:
        server.add("secret.tab", b"restricted")
        url = server.url("secret.tab").replace("http://", "http://alice:pa55-word@")
        workspace.fetch(url, progress=False)
        entry = workspace.entries()["secret.tab"]
        assert entry.source == server.url("secret.tab")
    assert "pa55-word" not in workspace.manifest_path.read_text()


def test_netrc_credentials_are_used(tmp_path, workspace, monkeypatch):
    from awiml.testing import FileServer

    with FileServer(auth=("bob", "from-netrc")) as server:
        server.add("a.tab", b"netrc works")
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login bob password from-netrc\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        workspace.fetch(server.url("a.tab"), progress=False)
    assert (workspace.raw / "a.tab").read_bytes() == b"netrc works"


def test_bearer_token(workspace):
    from awiml.testing import FileServer

    with FileServer(auth="t0ken-value") as server:
        server.add("a.tab", b"token works")
        workspace.fetch(server.url("a.tab"), token="t0ken-value", progress=False)
        assert gets(server, "a.tab")[-1].header("authorization") == "Bearer t0ken-value"
    assert "t0ken-value" not in workspace.manifest_path.read_text()


# --- the manifest and verify ----------------------------------------------------------------


def test_manifest_is_sorted_json_lines(server, workspace):
    for name in ["c.bin", "a.bin", "b.bin"]:
        server.add(name, name.encode())
    workspace.fetch([server.url(n) for n in ["c.bin", "a.bin", "b.bin"]], progress=False)
    lines = workspace.manifest_path.read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["a.bin", "b.bin", "c.bin"]
    assert list(json.loads(lines[0])) == ["path", "source", "size", "sha256", "retrieved",
                                          "awiml_version", "digest_source", "metadata"]


def test_corrupt_manifest_line_is_named(workspace):
    workspace.manifest_path.write_text('{"path": "a"}\nnot json\n')
    with pytest.raises(AwimlError, match=r"MANIFEST, line 1"):
        workspace.manifest()


def test_verify_reports_missing_extra_and_changed(server, workspace):
    for name in ["keep.bin", "gone.bin", "edit.bin"]:
        server.add(name, name.encode() * 100)
    workspace.fetch([server.url(n) for n in ["keep.bin", "gone.bin", "edit.bin"]],
                    progress=False)
    assert workspace.verify().ok
    (workspace.raw / "gone.bin").unlink()
    (workspace.raw / "edit.bin").chmod(0o644)
    (workspace.raw / "edit.bin").write_bytes(b"tampered")
    (workspace.raw / "stray.txt").write_text("?")
    report = workspace.verify()
    assert not report.ok
    assert (report.missing, report.extra, report.changed) == (
        ["gone.bin"], ["stray.txt"], ["edit.bin"])
    assert report.checked == 1
    assert "missing: gone.bin" in str(report)


def test_two_processes_fetching_into_one_workspace_lose_nothing(server, workspace):
    """Two `awiml fetch` processes at once: both sets of files end up in the manifest."""
    import subprocess
    import sys

    for i in range(24):
        server.add(f"p{i % 2}/f{i}.bin", payload(2000, seed=i))
    procs = []
    for part in (0, 1):
        urls = [server.url(f"p{part}/f{i}.bin") for i in range(part, 24, 2)]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "awiml.cli", "fetch", *urls, "-w", str(workspace.root),
             "--no-progress", "--workers", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert len(workspace.entries()) == 24
    assert_consistent(workspace)


def test_fetched_files_are_read_only(server, workspace):
    server.add("a.bin", b"x")
    workspace.fetch(server.url("a.bin"), progress=False)
    assert os.stat(workspace.raw / "a.bin").st_mode & 0o222 == 0


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MiB file system (tmpfs); skipped where mounting is not allowed."""
    import subprocess

    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_mid_transfer_loses_nothing(tiny_disk, server):
    import fsspec

    from awiml import Workspace
    from awiml.archives import RemoteFile

    ws = Workspace.create(tiny_disk / "ws")
    server.add("small.bin", b"kept")
    ws.fetch(server.url("small.bin"), progress=False)
    manifest_before = ws.manifest_path.read_bytes()
    memory = fsspec.filesystem("memory")
    memory.pipe("/big.bin", payload(3 * 1024 * 1024))
    # size unknown up front, so only the write itself can notice the full disk
    remote = RemoteFile(source="memory://big.bin", name="big.bin", fs=memory, path="/big.bin")
    with pytest.raises(TransferError, match="disk full") as info:
        ws.fetch(remote, progress=False)
    assert "Free some space" in str(info.value)
    assert raw_files(ws) == ["small.bin"]
    assert ws.manifest_path.read_bytes() == manifest_before
    assert not list((ws.root / ".awiml" / "downloads").glob("*.part"))
    assert_consistent(ws)


def test_ctrl_c_stops_promptly_and_the_next_fetch_resumes(server, workspace):
    """SIGINT to `awiml fetch` mid-transfer: raw/ untouched, partial kept, next run resumes."""
    import signal
    import subprocess
    import sys
    import time

    data = payload(2_000_000)
    server.add("big.bin", data)
    server.inject("big.bin", Fault.stall(after_bytes=600_000, delay=2.0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "awiml.cli", "fetch", server.url("big.bin"), "-w",
         str(workspace.root), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    partial_dir = workspace.root / ".awiml" / "downloads"
    deadline = time.monotonic() + 30
    while not any(p.stat().st_size >= 600_000 for p in partial_dir.glob("*.part")):
        assert time.monotonic() < deadline, "the transfer never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert raw_files(workspace) == [] and workspace.entries() == {}
    (kept,) = [p.stat().st_size for p in partial_dir.glob("*.part")]
    assert 600_000 <= kept < len(data)
    server.clear_faults()
    workspace.fetch(server.url("big.bin"), progress=False)
    assert gets(server, "big.bin")[-1].header("range") == f"bytes={kept}-"
    assert (workspace.raw / "big.bin").read_bytes() == data


# --- a full disk while the manifest is rewritten ----------------------------------------------


def all_files(ws):
    """Every file below the workspace (bookkeeping included), relative and sorted."""
    return sorted(p.relative_to(ws.root).as_posix() for p in ws.root.rglob("*") if p.is_file())


def assert_unrecorded_fetch_left_nothing(ws, manifest_before, files_before, error):
    """The failed fetch added no file to raw/, kept the manifest and left no temporary file."""
    assert isinstance(error, TransferError) and isinstance(error, OSError)
    assert str(ws.root) in str(error)
    assert "free" in str(error).lower() and "fetch again" in str(error)
    assert ws.manifest_path.read_bytes() == manifest_before
    assert raw_files(ws) == ["a.bin"]
    report = ws.verify()
    assert report.ok and report.extra == [], str(report)
    leftovers = sorted(set(all_files(ws)) - set(files_before))
    # only the verified download (and its lock) stay, for the next fetch to reuse
    assert [p for p in leftovers if not p.startswith(".awiml/downloads/")] == []
    assert [p for p in leftovers if p.endswith(".tmp")] == []


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc"),
                    reason="needs RLIMIT_FSIZE (Linux)")
def test_file_too_large_for_the_manifest_rewrite_leaves_raw_as_it_was(tmp_path, workspace):
    """A real write failure (EFBIG under RLIMIT_FSIZE) while raw/MANIFEST is rewritten."""
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(payload(1000))
    (src / "b.bin").write_bytes(payload(2000, seed=1))
    # a manifest larger than the child may write: its rewrite fails, the download does not
    workspace.fetch(str(src / "a.bin"), metadata={"note": "x" * 80_000}, progress=False)
    manifest_before = workspace.manifest_path.read_bytes()
    files_before = all_files(workspace)
    code = f"""
import resource, signal
from awiml import Workspace
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
ws = Workspace({str(workspace.root)!r})
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    ws.fetch({str(src / "b.bin")!r}, progress=False)
except BaseException as exc:
    import pickle, sys
    sys.stdout.buffer.write(pickle.dumps(exc))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    import pickle

    error = pickle.loads(proc.stdout)
    assert_unrecorded_fetch_left_nothing(workspace, manifest_before, files_before, error)
    # once there is room, the same fetch records the file without downloading it again
    table = workspace.fetch(str(src / "b.bin"), progress=False)
    assert list(table["status"]) == ["fetched"]
    assert raw_files(workspace) == ["a.bin", "b.bin"]
    assert_consistent(workspace)


def test_disk_full_while_recording_leaves_raw_as_it_was(tiny_disk):
    """A real ENOSPC (a 1 MiB tmpfs): the download fits, the manifest's rewrite does not."""
    import shutil

    import fsspec

    from awiml import Workspace
    from awiml.archives import RemoteFile

    ws = Workspace.create(tiny_disk / "ws")
    src = tiny_disk / "a.bin"
    src.write_bytes(payload(1000))
    ws.fetch(str(src), metadata={"note": "x" * 60_000}, progress=False)
    src.unlink()
    manifest_before = ws.manifest_path.read_bytes()
    files_before = all_files(ws)
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(tiny_disk).free - 200_000))
    memory = fsspec.filesystem("memory")
    size = shutil.disk_usage(tiny_disk).free - 16 * 1024  # fits, but leaves no room to record
    memory.pipe("/b.bin", payload(size, seed=1))
    remote = RemoteFile(source="memory://b.bin", name="b.bin", fs=memory, path="/b.bin",
                        size=size)
    with pytest.raises(TransferError) as info:
        ws.fetch(remote, progress=False)
    assert "disk full" in str(info.value)
    assert_unrecorded_fetch_left_nothing(ws, manifest_before, files_before, info.value)
    filler.unlink()
    table = ws.fetch(remote, progress=False)
    assert list(table["status"]) == ["fetched"]
    assert raw_files(ws) == ["a.bin", "b.bin"]
    assert_consistent(ws)


needs_fsize_limit = pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc"),
                                       reason="needs RLIMIT_FSIZE (Linux)")


def fetch_under_file_size_limit(workspace, url: str, limit: int):
    """Fetch ``url`` in a child whose writes beyond ``limit`` bytes fail (EFBIG); its error."""
    import subprocess
    import sys

    code = f"""
import resource, signal
from awiml import Workspace
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
ws = Workspace({str(workspace.root)!r})
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
try:
    ws.fetch({url!r}, progress=False)
except BaseException as exc:
    print(type(exc).__name__, exc)
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


@needs_fsize_limit
def test_a_lock_file_that_cannot_be_written_is_an_awiml_error(tmp_path, workspace):
    """On a full disk even the transfer's lock file fails: an awiml error, raw/ unchanged."""
    src = tmp_path / "b.bin"
    src.write_bytes(payload(2000))
    proc = fetch_under_file_size_limit(workspace, str(src), 1)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("TransferError"), proc.stdout
    assert "could not create the lock file" in proc.stdout and "fetch again" in proc.stdout
    assert raw_files(workspace) == [] and workspace.entries() == {}
    assert all_files(workspace) == [".awiml/workspace.json", "README.md"]


@needs_fsize_limit
def test_a_download_larger_than_the_file_size_limit_says_disk_full(tmp_path, workspace):
    """EFBIG mid-transfer (RLIMIT_FSIZE) is worded like ENOSPC: the same advice, raw/ unchanged."""
    src = tmp_path / "big.bin"
    src.write_bytes(payload(300_000))
    proc = fetch_under_file_size_limit(workspace, str(src), 100_000)
    assert proc.returncode == 0, proc.stderr
    assert "disk full while fetching" in proc.stdout, proc.stdout
    assert "Free some space" in proc.stdout
    assert raw_files(workspace) == []
    assert list(workspace.fetch(str(src), progress=False)["status"]) == ["fetched"]
