"""Checking out the recorded commit of the training code (awiml.store.reproduce.code)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from awiml.store.provenance import git_state
from awiml.store.reproduce.code import checkout_code

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(folder: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org",
         "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=folder, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    return result.stdout.strip()


@pytest.fixture
def repository(tmp_path) -> Path:
    """A repository with two commits, pushed to a bare remote ``remote.git``."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("print('first')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "train.py").write_text("print('second')\n")
    (repo / "lib").mkdir()
    (repo / "lib" / "helpers.py").write_text("X = 2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "remote.git"))
    git(repo, "remote", "add", "origin", (tmp_path / "remote.git").as_uri())
    return repo


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(folder).parts}


def test_clean_commit_is_checked_out_as_a_worktree(repository, tmp_path):
    first = git(repository, "rev-parse", "HEAD~1")
    code = {**git_state(repository), "commit": first}
    before = git(repository, "worktree", "list", "--porcelain")
    outcome = checkout_code(code, {"repository": str(repository)}, tmp_path / "scratch")
    assert outcome.ok and outcome.how == "worktree", outcome.reason
    assert outcome.where == tmp_path / "scratch" / "code"
    assert git(outcome.where, "rev-parse", "HEAD") == first
    assert tree(outcome.where) == {"train.py": "print('first')\n"}  # the commit's exact tree
    assert git(outcome.where, "status", "--porcelain") == ""
    assert str(outcome.where) in git(repository, "worktree", "list", "--porcelain")
    outcome.cleanup()
    outcome.cleanup()  # twice is harmless
    assert git(repository, "worktree", "list", "--porcelain") == before
    assert not outcome.where.exists()
    assert tree(repository)["train.py"] == "print('second')\n"  # the user's tree untouched


def test_dirty_record_is_refused_with_its_summary(repository, tmp_path):
    (repository / "train.py").write_text("print('edited')\n")
    (repository / "notes.txt").write_text("scratch\n")
    code = git_state(repository)
    assert code["dirty"]
    outcome = checkout_code(code, {"repository": str(repository)}, tmp_path / "scratch")
    assert not outcome.ok and outcome.where is None
    assert "1 changed file(s)" in outcome.reason and "train.py" in outcome.reason
    assert "1 untracked" in outcome.reason
    assert outcome.diff_summary == {"changed": code["changed"], "changed_count": 1,
                                    "untracked": ["notes.txt"], "untracked_count": 1}
    assert not (tmp_path / "scratch" / "code").exists()


@pytest.mark.parametrize(("code", "expected"), [
    ({"status": "unknown", "commit": None, "reason": "git is not installed"},
     "the training code was not recorded in git (git is not installed)"),
    (None, "the training code was not recorded in git (no code section was recorded)"),
    ({"status": "git", "commit": None, "reason": "the repository has no commit yet"},
     "the commit of the training code is unknown (the repository has no commit yet)"),
    ({"status": "git", "commit": "ab" * 20, "dirty": None,
      "reason": "git status took longer than 10 s; the dirty state is unknown"},
     "whether the training code differed from commit " + "ab" * 20 + " is unknown"),
])
def test_unusable_records_are_refused(code, expected, tmp_path):
    outcome = checkout_code(code, None, tmp_path)
    assert not outcome.ok and outcome.reason.startswith(expected)


def test_missing_commit_is_refused_naming_repository_and_remote(repository, tmp_path):
    code = {**git_state(repository), "commit": "0123456789" * 4}
    outcome = checkout_code(code, {"repository": str(repository)}, tmp_path / "scratch")
    assert not outcome.ok
    assert outcome.reason.startswith(f"commit {'0123456789' * 4} is not in {repository} nor "
                                     f"{(tmp_path / 'remote.git').as_uri()}")
    assert not (tmp_path / "scratch" / "code").exists()


def test_moved_repository_is_cloned_from_the_remote(repository, tmp_path):
    first = git(repository, "rev-parse", "HEAD~1")
    code = {**git_state(repository), "commit": first}
    moved = repository.rename(tmp_path / "elsewhere")
    outcome = checkout_code(code, {"repository": str(repository)}, tmp_path / "scratch")
    assert outcome.ok and outcome.how == "clone", outcome.reason
    assert git(outcome.where, "rev-parse", "HEAD") == first
    assert tree(outcome.where) == {"train.py": "print('first')\n"}
    outcome.cleanup()
    assert not outcome.where.exists()
    assert moved.is_dir()


def test_remote_that_needs_a_password_fails_at_once_without_secrets(repository, tmp_path):
    code = {**git_state(repository), "commit": git(repository, "rev-parse", "HEAD"),
            "remote": "http://127.0.0.1:9/nobody/project.git"}
    outcome = checkout_code(code, None, tmp_path / "scratch")
    assert not outcome.ok
    assert "no local repository (none was recorded) nor http://127.0.0.1:9/" in outcome.reason
    code["remote"] = "https://alice:s3cret@127.0.0.1:9/project.git"
    outcome = checkout_code(code, None, tmp_path / "scratch2")
    assert not outcome.ok and "s3cret" not in outcome.reason
