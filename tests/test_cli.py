"""The awiml command line, run as users run it (click's runner and a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import PANGAEA_TAB

from awiml import Workspace, __version__
from awiml.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version_and_help():
    assert run("--version").output.strip() == f"awiml, version {__version__}"
    out = run("--help").output
    for command in ("init", "fetch", "manifest", "verify"):
        assert command in out


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("awiml")
    proc = subprocess.run([str(script), "--version"],
                          capture_output=True, text=True, check=True)
    assert __version__ in proc.stdout


def test_init_fetch_manifest_verify(tmp_path, server):
    server.add("tsg.tab", PANGAEA_TAB)
    ws = tmp_path / "project"
    assert run("init", str(ws)).exit_code == 0
    result = run("fetch", server.url("tsg.tab"), "--workspace", str(ws), "--no-progress")
    assert result.exit_code == 0
    assert "fetched  raw/tsg.tab" in result.output
    out = run("manifest", "-w", str(ws)).output
    assert "tsg.tab" in out and str(PANGAEA_TAB.stat().st_size) in out
    lines = run("manifest", "-w", str(ws), "--json").output.splitlines()
    assert json.loads(lines[0])["source"] == server.url("tsg.tab")
    verified = run("verify", "-w", str(ws))
    assert verified.exit_code == 0 and "1 file verified" in verified.output


def test_verify_exits_1_when_raw_changed(tmp_path, server):
    server.add("a.bin", b"abc")
    ws = Workspace.create(tmp_path / "p")
    ws.fetch(server.url("a.bin"), progress=False)
    (ws.raw / "a.bin").unlink()
    result = run("verify", "-w", str(ws.root))
    assert result.exit_code == 1
    assert "missing: a.bin" in result.output


def test_errors_are_one_clear_line_without_traceback(tmp_path, server):
    ws = Workspace.create(tmp_path / "p")
    result = CliRunner().invoke(main, ["fetch", server.url("nope.tab"), "-w", str(ws.root),
                                       "--no-progress"])
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "404" in result.output and "nope.tab" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["manifest", "-w", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "awiml init" in missing.output


def test_empty_manifest_says_what_to_do(tmp_path):
    ws = Workspace.create(tmp_path / "p")
    assert "awiml fetch" in run("manifest", "-w", str(ws.root)).output


def test_checksum_option_and_usage_errors(tmp_path, server):
    server.add("a.bin", b"abc")
    ws = Workspace.create(tmp_path / "p")
    bad = CliRunner().invoke(main, ["fetch", server.url("a.bin"), "-w", str(ws.root),
                                    "--checksum", "nonsense:zz", "--no-progress"])
    assert bad.exit_code == 2 and "algorithm" in bad.output
    two = CliRunner().invoke(main, ["fetch", "a", "b", "-w", str(ws.root), "--checksum", "x"])
    assert two.exit_code == 2
    abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    good = run("fetch", server.url("a.bin"), "-w", str(ws.root), "--no-progress",
               "--checksum", abc)
    assert good.exit_code == 0


def test_token_comes_from_the_environment(tmp_path, monkeypatch):
    from awiml.testing import FileServer

    ws = Workspace.create(tmp_path / "p")
    monkeypatch.setenv("AWIML_HTTP_TOKEN", "env-t0ken")
    with FileServer(auth="env-t0ken") as server:
        server.add("a.bin", b"abc")
        result = run("fetch", server.url("a.bin"), "-w", str(ws.root), "--no-progress")
        assert result.exit_code == 0
    assert "env-t0ken" not in ws.manifest_path.read_text()


def test_models_commands(tmp_path):
    import os

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from awiml import ModelStore

    ws = Workspace.create(tmp_path / "p")
    X, y = load_iris(return_X_y=True)
    store = ModelStore(ws)
    store.save(LogisticRegression(max_iter=500).fit(X, y), "iris", metrics={"accuracy": 0.97})
    store.save(LogisticRegression(C=0.5, max_iter=500).fit(X, y), "iris")
    root = str(ws.root)
    listed = run("models", "list", "-w", root)
    assert listed.exit_code == 0 and "iris" in listed.output
    assert "2" in run("models", "list", "-w", root, "iris").output
    assert run("models", "alias", "-w", root, "iris", "production", "1").output.strip() == (
        "iris@production -> iris@1")
    shown = run("models", "show", "-w", root, "iris@production")
    assert shown.exit_code == 0 and "iris" in shown.output
    diff = run("models", "diff", "-w", root, "iris@1", "iris@2")
    assert diff.exit_code == 0 and "C" in diff.output
    assert run("models", "verify", "-w", root).exit_code == 0
    version_dir = ws.model / "iris" / "versions" / "2"
    weights = next(p for p in version_dir.iterdir() if p.suffix == ".skops")
    os.chmod(weights, 0o644)
    weights.write_bytes(b"tampered")
    bad = CliRunner().invoke(main, ["models", "verify", "-w", root])
    assert bad.exit_code == 1
    missing = CliRunner().invoke(main, ["models", "show", "-w", root, "nope@1"])
    assert missing.exit_code == 1 and missing.output.startswith("error: ")
    for slip in ("iris@", "../x@1", "iris@-1"):  # mistyped references: one line, no traceback
        mistyped = CliRunner().invoke(main, ["models", "show", "-w", root, slip])
        assert mistyped.exit_code == 1, slip
        assert mistyped.output.startswith("error: ") and "Traceback" not in mistyped.output
