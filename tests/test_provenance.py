"""Provenance: git state, environment, hardware, timing; never a secret."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from awiml.store import provenance
from awiml.store.provenance import collect_provenance

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "code"
    root.mkdir()
    git(root, "init", "-q", "-b", "survey")
    (root / "train.py").write_text("print('train')\n")
    (root / "util.py").write_text("X = 1\n")
    git(root, "add", "train.py", "util.py")
    git(root, "commit", "-q", "-m", "first")
    return root


@needs_git
def test_clean_repository(repo):
    prov = collect_provenance(code_dir=repo)
    code = prov["code"]
    assert code["status"] == "git"
    assert code["commit"] == git(repo, "rev-parse", "HEAD")
    assert len(code["commit"]) == 40
    assert code["branch"] == "survey"
    assert code["dirty"] is False
    assert code["changed"] == [] and code["untracked"] == []
    assert code["remote"] is None


@needs_git
def test_dirty_repository_lists_changed_and_untracked_files(repo):
    (repo / "train.py").write_text("print('changed')\n")
    (repo / "new.py").write_text("\n")
    sub = repo / "pkg"
    sub.mkdir()
    code = collect_provenance(code_dir=sub)["code"]  # any folder inside the tree
    assert code["commit"] == git(repo, "rev-parse", "HEAD")
    assert code["dirty"] is True
    assert code["changed"] == [".M train.py"]
    assert code["untracked"] == ["new.py"]


@needs_git
def test_untracked_files_alone_do_not_make_the_tree_dirty(repo):
    (repo / "notes.txt").write_text("x\n")
    code = collect_provenance(code_dir=repo)["code"]
    assert code["dirty"] is False and code["untracked"] == ["notes.txt"]


@needs_git
def test_staged_rename_is_listed_once(repo):
    git(repo, "mv", "util.py", "helpers.py")
    code = collect_provenance(code_dir=repo)["code"]
    assert code["dirty"] is True
    assert code["changed"] == ["R. helpers.py"]


@needs_git
def test_long_change_lists_are_truncated(repo, monkeypatch):
    monkeypatch.setattr(provenance, "MAX_LISTED_FILES", 3)
    for i in range(7):
        (repo / f"u{i}.txt").write_text("x")
    code = collect_provenance(code_dir=repo)["code"]
    assert len(code["untracked"]) == 3 and code["untracked_count"] == 7


@needs_git
def test_detached_head_has_no_branch(repo):
    git(repo, "checkout", "-q", "--detach")
    code = collect_provenance(code_dir=repo)["code"]
    assert code["branch"] is None and code["commit"] is not None


@needs_git
def test_repository_without_commits(tmp_path):
    git(tmp_path, "init", "-q")
    code = collect_provenance(code_dir=tmp_path)["code"]
    assert code["status"] == "git" and code["commit"] is None
    assert "no commit" in code["reason"]


@needs_git
def test_remote_credentials_are_redacted(repo):
    git(repo, "remote", "add", "origin",
        "https://alice:ghp_SECRETTOKEN123@gitlab.awi.de/ml/plankton.git")
    code = collect_provenance(code_dir=repo)["code"]
    assert code["remote"] == "https://gitlab.awi.de/ml/plankton.git"
    assert "SECRETTOKEN" not in json.dumps(code) and "alice" not in json.dumps(code)


@needs_git
def test_the_upstream_remote_is_preferred(repo):
    git(repo, "remote", "add", "origin", "https://example.org/fork.git")
    git(repo, "remote", "add", "awi", "https://oauth2:glpat-XYZ@gitlab.awi.de/ml/p.git")
    git(repo, "config", "branch.survey.remote", "awi")
    git(repo, "config", "branch.survey.merge", "refs/heads/survey")
    git(repo, "update-ref", "refs/remotes/awi/survey", "HEAD")
    code = collect_provenance(code_dir=repo)["code"]
    assert code["remote"] == "https://gitlab.awi.de/ml/p.git"


@needs_git
def test_fsmonitor_hook_is_never_run(repo, tmp_path):
    marker = tmp_path / "hook-ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    code = collect_provenance(code_dir=repo)["code"]
    assert code["status"] == "git"
    assert not marker.exists()


@needs_git
def test_slow_status_still_records_the_commit(repo, monkeypatch):
    real = provenance._git

    def slow_status(folder, *args):
        if args[0] == "status":
            raise subprocess.TimeoutExpired(["git", *args], provenance.GIT_TIMEOUT)
        return real(folder, *args)

    monkeypatch.setattr(provenance, "_git", slow_status)
    code = collect_provenance(code_dir=repo)["code"]
    assert code["commit"] == git(repo, "rev-parse", "HEAD")
    assert code["branch"] == "survey" and code["dirty"] is None
    assert "dirty state is unknown" in code["reason"]


def test_outside_a_repository_is_unknown(tmp_path):
    code = collect_provenance(code_dir=tmp_path)["code"]
    assert code == {"status": "unknown", "commit": None, "reason": code["reason"]}
    assert code["reason"]


def test_missing_folder_is_unknown(tmp_path):
    assert collect_provenance(code_dir=tmp_path / "nope")["code"]["status"] == "unknown"


def test_no_git_installed_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = collect_provenance(code_dir=tmp_path)["code"]
    assert code["status"] == "unknown" and code["reason"] == "git is not installed"


def test_default_code_dir_is_the_working_directory(repo, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.chdir(repo)
    assert collect_provenance()["code"]["commit"] == git(repo, "rev-parse", "HEAD")


def test_environment_hardware_user(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    prov = collect_provenance(code_dir=tmp_path)
    env = prov["environment"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"]["awiml"] == prov["awiml_version"]
    assert {"numpy", "pandas", "scikit-learn"} <= set(env["packages"])
    if "keras" not in sys.modules:
        assert env["keras_backend"] == "torch"
    hw = prov["hardware"]
    assert hw["hostname"] and hw["cpu_count"] >= 1 and hw["cpu_usable"] >= 1
    assert hw["memory_total_bytes"] is None or hw["memory_total_bytes"] > 0
    assert isinstance(hw["gpus"], list)
    assert prov["user"] is None or isinstance(prov["user"], str)


def test_collecting_imports_no_heavy_module(tmp_path):
    code = (
        "import json, sys\n"
        "from awiml.store.provenance import collect_provenance\n"
        f"prov = collect_provenance(code_dir={str(tmp_path)!r})\n"
        "heavy = [m for m in ('torch', 'keras', 'sklearn', 'tensorflow', 'jax', 'skops', "
        "'xarray', 'pandas', 'scipy') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'gpus': prov['hardware']['gpus']}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out) == {"heavy": [], "gpus": []}


def test_user_lookup_failure_is_tolerated(tmp_path, monkeypatch):
    def fail():
        raise KeyError("getpwuid(): uid not found: 1234")

    monkeypatch.setattr(provenance.getpass, "getuser", fail)
    assert collect_provenance(code_dir=tmp_path)["user"] is None


def test_no_secret_from_the_environment(repo, monkeypatch):
    secrets = {
        "AWIML_HTTP_TOKEN": "tok-5f3e2d1c-very-secret",
        "GITLAB_PASSWORD": "hunter2-not-in-provenance",
        "AWS_SECRET_ACCESS_KEY": "AKIAEXAMPLESECRETKEY",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SLURM_JOB_ID", "424242")
    prov = collect_provenance(code_dir=repo if shutil.which("git") else None)
    text = json.dumps(prov)
    for key, value in secrets.items():
        assert value not in text and key not in text
    assert prov["hardware"]["slurm_job_id"] == "424242"


@pytest.mark.parametrize(
    ("started", "ended"),
    [
        (dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc),
         dt.datetime(2026, 3, 1, 12, 1, 30, tzinfo=dt.timezone.utc)),
        (1772366400.0, 1772366490.0),
        ("2026-03-01T12:00:00Z", "2026-03-01T12:01:30+00:00"),
    ],
)
def test_timing(tmp_path, started, ended):
    timing = collect_provenance(code_dir=tmp_path, started=started, ended=ended)["timing"]
    assert timing["started"] == "2026-03-01T12:00:00.000Z"
    assert timing["ended"] == "2026-03-01T12:01:30.000Z"
    assert timing["duration_seconds"] == 90.0


def test_timing_unknown_and_invalid(tmp_path):
    timing = collect_provenance(code_dir=tmp_path)["timing"]
    assert timing == {"started": None, "ended": None, "duration_seconds": None}
    with pytest.raises(ValueError, match="before"):
        collect_provenance(code_dir=tmp_path, started=100.0, ended=50.0)
    with pytest.raises(ValueError, match="ISO 8601"):
        collect_provenance(code_dir=tmp_path, started="yesterday")


def test_result_is_json_ready(tmp_path):
    prov = collect_provenance(code_dir=tmp_path, started=0, ended=1)
    assert json.loads(json.dumps(prov, allow_nan=False)) == prov


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no process priorities here")
def test_git_runs_at_a_lower_priority(tmp_path, monkeypatch):
    # a stand-in git that writes down its own niceness (in its working directory)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text(f"#!{sys.executable}\nimport os, time\ntime.sleep(0.1)\n"
                    "open('niceness', 'w').write(str(os.nice(0)))\n")
    fake.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    provenance.git_state(work)
    expected = min(os.nice(0) + provenance.GIT_NICENESS, 19)
    assert int((work / "niceness").read_text()) == expected
