"""Ctrl-C during a fetch, the resume after it, and a download folder that cannot be written.

Ctrl-C must end ``awiml fetch`` within a second or two whatever the server
does (sending nothing in the middle of a body, or before its headers, for
several parallel downloads too), keep the partial files, say that the same
command resumes them and exit with 130. The next fetch resumes by ``Range``,
and its progress bar counts the bytes that were already on disk.

Each fetch that is interrupted runs in a child process (``python -m
awiml.cli``) that gets a real SIGINT; the server is a real
:class:`~awiml.testing.FileServer` on the loopback interface.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_consistent, payload, raw_files, sha256
from test_archive_cache import _as_a_plain_user  # root drops its power to ignore modes

from awiml import Workspace
from awiml.archives import RemoteFile, download
from awiml.archives.transfer import RetryPolicy, partial_size
from awiml.errors import ArchiveUnavailableError
from awiml.testing import Fault

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a child")

ROOT = Path(__file__).parents[1]
#: Longer than the test may take: only Ctrl-C can end a wait for this server.
STALL = 120.0
SIZE = 2_000_000
BEFORE_STALL = 600_000


def gets(server, name):
    return [r for r in server.requests if r.method == "GET" and r.path == "/" + name]


def partials(ws: Workspace) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (ws.root / ".awiml" / "downloads").glob("*.part")}


def start_cli_fetch(ws: Workspace, urls: list[str], *extra: str) -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "awiml.cli", "fetch", *urls, "-w", str(ws.root), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def interrupt(proc: subprocess.Popen) -> tuple[float, str]:
    """Send SIGINT; return how long the child took to end and what it wrote to stderr."""
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("`awiml fetch` did not end within 30 s of Ctrl-C")
    return time.monotonic() - start, err


def assert_interrupt_reported(err: str, ws: Workspace) -> None:
    assert "Aborted!" not in err
    assert "interrupted" in err, err
    assert "kept" in err and str(ws.root / ".awiml" / "downloads") in err, err
    assert "run the same `awiml fetch` command again" in err, err


@pytest.mark.parametrize("files", [1, 3], ids=["one-file", "three-parallel-files"])
def test_ctrl_c_ends_a_fetch_whose_server_stalled_mid_body(server, workspace, files):
    bodies = {f"f{i}.bin": payload(SIZE, seed=i) for i in range(files)}
    for name, data in bodies.items():
        server.add(name, data)
        server.inject(name, Fault.stall(after_bytes=BEFORE_STALL, delay=STALL))
    proc = start_cli_fetch(workspace, [server.url(name) for name in bodies], "--workers", "4")
    wait_until(lambda: len([n for n in partials(workspace).values() if n >= BEFORE_STALL])
               == files or proc.poll() is not None, "the partial bytes arrived")
    took, err = interrupt(proc)

    assert took < 3.0, f"Ctrl-C took {took:.1f} s to end the fetch"
    assert proc.returncode == 130, err
    assert_interrupt_reported(err, workspace)
    assert raw_files(workspace) == [] and workspace.entries() == {}
    kept = partials(workspace)
    assert len(kept) == files and all(BEFORE_STALL <= n < SIZE for n in kept.values()), kept

    # the next fetch, from a server that now serves the rest, resumes each file
    server.clear_faults()
    table = workspace.fetch([server.url(name) for name in bodies], progress=False)
    assert sorted(table["path"]) == sorted(bodies)
    for name, data in bodies.items():
        last = gets(server, name)[-1]
        assert last.header("range") == f"bytes={BEFORE_STALL}-" and last.status == 206
        assert (workspace.raw / name).read_bytes() == data
        assert workspace.entries()[name].sha256 == sha256(data)
    assert partials(workspace) == {}
    assert_consistent(workspace)


def test_ctrl_c_ends_a_fetch_whose_server_sends_no_headers(server, workspace):
    """The server takes the resumed request and then answers nothing at all."""
    data = payload(SIZE)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(BEFORE_STALL))
    with pytest.raises(ArchiveUnavailableError):  # leaves a partial file
        workspace.fetch(server.url("a.bin"), progress=False,
                        policy=RetryPolicy(retries=0, max_resumes=0))
    (before,) = partials(workspace).values()
    server.inject("a.bin", Fault.slow(STALL))
    proc = start_cli_fetch(workspace, [server.url("a.bin")])
    wait_until(lambda: len(gets(server, "a.bin")) == 2 or proc.poll() is not None,
               "the resumed request reached the server")
    took, err = interrupt(proc)

    assert took < 3.0, f"Ctrl-C took {took:.1f} s to end the fetch"
    assert proc.returncode == 130, err
    assert_interrupt_reported(err, workspace)
    assert list(partials(workspace).values()) == [before]
    server.clear_faults()
    start = time.monotonic()
    workspace.fetch(server.url("a.bin"), progress=False)  # no lock of the ended process waits
    assert time.monotonic() - start < 10
    assert gets(server, "a.bin")[-1].header("range") == f"bytes={before}-"
    assert (workspace.raw / "a.bin").read_bytes() == data
    assert_consistent(workspace)


def test_ctrl_c_in_python_raises_keyboard_interrupt_with_a_note(server, workspace):
    """In a script or notebook Ctrl-C stays a KeyboardInterrupt; a note says what was kept."""
    server.add("a.bin", payload(SIZE))
    server.inject("a.bin", Fault.stall(after_bytes=BEFORE_STALL, delay=STALL))
    code = f"""
import sys
from awiml import Workspace
try:
    Workspace({str(workspace.root)!r}).fetch({server.url("a.bin")!r}, progress=False)
except KeyboardInterrupt as exc:
    print("KeyboardInterrupt", *getattr(exc, "__notes__", []), sep="\\n")
    sys.exit(7)
"""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: any(n >= BEFORE_STALL for n in partials(workspace).values())
               or proc.poll() is not None, "the partial bytes arrived")
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 3.0
    assert proc.returncode == 7, err
    assert out.startswith("KeyboardInterrupt\n")
    assert "1 partial file is kept" in out and "resumes it" in out, out


# --- the progress of a resumed download ------------------------------------------------------


def bar_states(stderr: str) -> list[str]:
    """The successive renderings of tqdm's text bar."""
    return [part.strip() for part in re.split(r"[\r\n]", stderr) if "fetch 1 file" in part]


@pytest.mark.parametrize("announced", [False, True], ids=["size-from-reply", "size-listed"])
def test_a_resumed_fetch_s_progress_bar_ends_at_100_percent(server, workspace, capsys,
                                                           announced):
    data = payload(SIZE)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(BEFORE_STALL))
    url = server.url("a.bin")
    item = RemoteFile(source=url, name="a.bin", url=url, size=SIZE) if announced else url
    with pytest.raises(ArchiveUnavailableError):
        workspace.fetch(item, progress=False, policy=RetryPolicy(retries=0, max_resumes=0))
    capsys.readouterr()

    workspace.fetch(item, progress=True)
    states = bar_states(capsys.readouterr().err)
    assert states, "no progress bar was shown"
    assert gets(server, "a.bin")[-1].header("range") == f"bytes={BEFORE_STALL}-"
    assert "100%" in states[-1] and "1.91M/1.91M" in states[-1], states[-1]
    # it starts where the earlier run stopped, not at zero
    assert "586k" in states[0], states[0]


def test_download_progress_adds_up_to_the_file_also_when_resumed(server, tmp_path):
    data = payload(SIZE)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(BEFORE_STALL))
    remote = RemoteFile(source=server.url("a.bin"), name="a.bin", url=server.url("a.bin"))
    no_retry = RetryPolicy(retries=0, max_resumes=0)
    with pytest.raises(ArchiveUnavailableError):
        download(remote, tmp_path, policy=no_retry)
    assert partial_size(remote, tmp_path) == BEFORE_STALL

    calls: list[int] = []
    result = download(remote, tmp_path, policy=no_retry, progress=calls.append)
    assert sum(calls) == SIZE == result.size and calls[0] == BEFORE_STALL
    assert result.path.read_bytes() == data

    # a caller that counted the bytes on disk already is told only the rest
    result.path.unlink()
    server.inject("a.bin", Fault.drop_after(BEFORE_STALL))
    with pytest.raises(ArchiveUnavailableError):
        download(remote, tmp_path, policy=no_retry)
    calls.clear()
    download(remote, tmp_path, policy=no_retry, progress=calls.append,
             counted=partial_size(remote, tmp_path))
    assert sum(calls) == SIZE - BEFORE_STALL


def test_the_cli_progress_of_a_resumed_fetch_ends_at_100_percent(server, workspace):
    data = payload(SIZE)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(BEFORE_STALL))
    with pytest.raises(ArchiveUnavailableError):
        workspace.fetch(server.url("a.bin"), progress=False,
                        policy=RetryPolicy(retries=0, max_resumes=0))
    proc = start_cli_fetch(workspace, [server.url("a.bin")])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    states = bar_states(err)
    assert "100%" in states[-1] and "1.91M/1.91M" in states[-1], states[-1]


# --- a download folder that cannot be written ------------------------------------------------

CHILD = """
import json, sys
from awiml import Workspace
try:
    Workspace(sys.argv[1]).fetch(sys.argv[2], progress=False)
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}))
"""


def _snapshot(ws: Workspace) -> list[tuple[str, bytes]]:
    return sorted((p.relative_to(ws.root).as_posix(), p.read_bytes())
                  for p in ws.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("what", ["read-only downloads", "missing downloads, read-only .awiml"])
def test_a_download_folder_that_cannot_be_written_is_an_awiml_error(tmp_path, server,
                                                                    workspace, what):
    server.add("kept.bin", b"kept")
    workspace.fetch(server.url("kept.bin"), progress=False)
    server.add("a.bin", payload(SIZE))
    server.inject("a.bin", Fault.drop_after(BEFORE_STALL))
    with pytest.raises(ArchiveUnavailableError):  # a partial file that must survive
        workspace.fetch(server.url("a.bin"), progress=False,
                        policy=RetryPolicy(retries=0, max_resumes=0))
    meta = workspace.root / ".awiml"
    downloads = meta / "downloads"
    if what == "read-only downloads":
        locked = downloads
    else:
        shutil.rmtree(downloads)
        locked = meta
    source = tmp_path / "new.tab"
    source.write_text("depth\n1\n")
    before = _snapshot(workspace)
    locked.chmod(0o555)
    try:
        result = subprocess.run(
            _as_a_plain_user([sys.executable, "-c", CHILD, str(workspace.root), str(source)]),
            cwd=ROOT, env={**os.environ, "KERAS_BACKEND": "torch"},
            capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if outcome.get("ok"):
        pytest.skip("file permissions do not apply here")
    assert "TransferError" in outcome["mro"] and "AwimlError" in outcome["mro"], outcome
    assert "OSError" in outcome["mro"]
    message = outcome["message"]
    assert f"download folder {downloads}" in message, message
    assert "writable" in message and "fetch again" in message, message
    assert str(source) in message
    assert _snapshot(workspace) == before  # nothing lost: raw/, MANIFEST, the partial file
    assert raw_files(workspace) == ["kept.bin"]
