"""Check out the training code of a stored model at its recorded commit.

:func:`checkout_code` reads two sections of a version's provenance: ``code``
(what :func:`awiml.store.provenance.git_state` recorded: commit, remote, dirty
state) and ``run`` (``repository``: the repository's top folder when the
model was saved). It refuses, with a reason, what cannot be reproduced from a
commit: code outside git, an unknown commit, or a working tree that differed
from its commit (the reason lists the changed files). Otherwise it puts the
tree of the commit in ``<scratch>/code``:

- as a detached ``git worktree`` of the local repository, when it still
  exists and holds the commit (quick, nothing downloaded);
- else as a clone of the recorded remote (``git clone --no-checkout``, then
  the commit checked out). The remote was recorded without credentials; git
  asks the user's credential helpers or ``~/.netrc`` when it needs them.

git runs without a shell and without a terminal (``GIT_TERMINAL_PROMPT=0``,
ssh in batch mode, no stdin), with a timeout, so a remote that asks for a
password fails at once instead of waiting in CI. Messages never hold
credentials. :meth:`CodeOutcome.cleanup` removes the checkout (and the
worktree's registration in the repository) when the reproduction is done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import redact_url
from ..provenance import _redacted

__all__ = ["CLONE_TIMEOUT", "GIT_TIMEOUT", "CodeOutcome", "checkout_code"]

#: Seconds a local git command (look-up, worktree, checkout) may take.
GIT_TIMEOUT = 120.0

#: Seconds cloning the recorded remote may take.
CLONE_TIMEOUT = 900.0

#: The folder below the scratch folder that receives the code.
_CODE_DIR = "code"


@dataclass(frozen=True)
class CodeOutcome:
    """Where the training code was checked out, or why it could not be.

    Parameters
    ----------
    ok : bool
        Whether ``where`` holds the tree of ``commit``.
    commit : str or None
        The recorded commit.
    where : pathlib.Path or None
        The checkout (``<scratch>/code``) when ``ok``.
    how : str or None
        ``"worktree"`` (of the local repository) or ``"clone"`` (of the remote).
    reason : str or None
        Why the code could not be checked out, when not ``ok``.
    diff_summary : dict or None
        For a working tree that differed from its commit: ``changed`` and
        ``untracked`` (listed as recorded) and their counts.

    Examples
    --------
    >>> outcome = CodeOutcome(False, None, reason="the code was not in a git repository")
    >>> outcome.summary()["reason"]
    'the code was not in a git repository'
    >>> outcome.cleanup()  # nothing to remove
    """

    ok: bool
    commit: str | None
    where: Path | None = None
    how: str | None = None
    reason: str | None = None
    diff_summary: dict[str, Any] | None = None
    repository: Path | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """Return the outcome as JSON-ready data for a report."""
        return {"ok": self.ok, "commit": self.commit,
                "where": None if self.where is None else str(self.where), "how": self.how,
                "reason": self.reason, "diff_summary": self.diff_summary}

    def cleanup(self) -> None:
        """Remove the checkout; a worktree is also unregistered from its repository.

        Safe to call more than once, and on an outcome that checked nothing out.
        """
        if self.where is None:
            return
        if self.how == "worktree" and self.repository is not None:
            _run_git(self.repository, "worktree", "remove", "--force", str(self.where))
            _run_git(self.repository, "worktree", "prune")
        if self.where.exists():
            shutil.rmtree(self.where)


def checkout_code(
    code_record: Mapping[str, Any] | None,
    run_record: Mapping[str, Any] | None,
    scratch_dir: str | os.PathLike[str],
    *,
    target: str | os.PathLike[str] | None = None,
) -> CodeOutcome:
    """Check out the recorded commit of the training code into ``<scratch_dir>/code``.

    Parameters
    ----------
    code_record : mapping or None
        ``provenance["code"]`` of the stored version.
    run_record : mapping or None
        ``provenance["run"]``; its ``repository`` is tried first. Versions saved
        by earlier releases have none: the remote is cloned.
    scratch_dir : path-like
        The scratch folder; ``code/`` inside it must not exist yet.
    target : path-like, optional
        Check out here instead of ``<scratch_dir>/code`` (a missing or empty
        folder): the reproduction puts a repository that lay inside the
        workspace (its ``src/``) at the same place in the scratch workspace.

    Returns
    -------
    CodeOutcome
        ``ok`` with ``where`` and ``how``, or not ``ok`` with ``reason``. Call
        its :meth:`~CodeOutcome.cleanup` when done.

    Examples
    --------
    >>> import tempfile
    >>> outcome = checkout_code({"status": "unknown", "commit": None,
    ...                          "reason": "not a git repository"}, None, tempfile.mkdtemp())
    >>> outcome.ok, outcome.reason
    (False, 'the training code was not recorded in git (not a git repository)')
    """
    code = dict(code_record or {})
    commit = code.get("commit")
    refused = _refusal(code)
    if refused is not None:
        reason, summary = refused
        return CodeOutcome(False, commit, reason=reason, diff_summary=summary)
    target = Path(target if target is not None else Path(scratch_dir) / _CODE_DIR).absolute()
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()  # an empty folder (a new workspace's src/): git makes it again
    if target.exists():
        return CodeOutcome(False, commit, reason=f"{target} exists already; give an empty "
                                                 "scratch folder")
    target.parent.mkdir(parents=True, exist_ok=True)

    repository = (run_record or {}).get("repository")
    local = Path(repository) if repository else None
    if local is not None and local.is_dir() and _has_commit(local, commit):
        result = _run_git(local, "worktree", "add", "--detach", str(target), commit)
        if result.returncode == 0:
            return CodeOutcome(True, commit, target, "worktree", repository=local)
        # a repository that holds the commit but cannot add a worktree: try the remote

    remote = code.get("remote")
    where = f"{local}" if local is not None else "no local repository (none was recorded)"
    if not remote:
        return CodeOutcome(False, commit, reason=f"commit {commit} is not in {where}, and no "
                                                 "remote was recorded to clone")
    shown = redact_url(str(remote))
    problem = _clone(str(remote), commit, target)
    if problem is not None:
        shutil.rmtree(target, ignore_errors=True)
        return CodeOutcome(False, commit, reason=f"commit {commit} is not in {where} nor "
                                                 f"{shown} ({problem})")
    return CodeOutcome(True, commit, target, "clone")


def _refusal(code: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None] | None:
    """Return why a recorded code section cannot be checked out, or None when it can."""
    if code.get("status") != "git":
        why = code.get("reason") or "no code section was recorded"
        return f"the training code was not recorded in git ({why})", None
    commit = code.get("commit")
    if not commit:
        why = code.get("reason") or "no commit was recorded"
        return f"the commit of the training code is unknown ({why})", None
    summary = _diff_summary(code)
    if code.get("dirty"):
        changed = ", ".join(summary["changed"]) or "not listed"
        more = summary["changed_count"] - len(summary["changed"])
        return (f"the training code differed from commit {commit}: "
                f"{summary['changed_count']} changed file(s) ({changed}"
                f"{f' and {more} more' if more > 0 else ''}) and "
                f"{summary['untracked_count']} untracked; those changes were not recorded, "
                "so the code cannot be restored. Commit the code before training and "
                "saving", summary)
    if code.get("dirty") is None:
        why = code.get("reason") or "git status did not answer"
        return (f"whether the training code differed from commit {commit} is unknown "
                f"({why})", summary)
    return None


def _diff_summary(code: Mapping[str, Any]) -> dict[str, Any]:
    changed = [str(path) for path in code.get("changed") or []]
    untracked = [str(path) for path in code.get("untracked") or []]
    return {"changed": changed, "changed_count": int(code.get("changed_count", len(changed))),
            "untracked": untracked,
            "untracked_count": int(code.get("untracked_count", len(untracked)))}


def _has_commit(repository: Path, commit: str) -> bool:
    result = _run_git(repository, "cat-file", "-e", f"{commit}^{{commit}}")
    return result.returncode == 0


def _clone(remote: str, commit: str, target: Path) -> str | None:
    """Clone ``remote`` into ``target`` and check out ``commit``; return a problem or None."""
    cloned = _run_git(target.parent, "clone", "--quiet", "--no-checkout", remote,
                      str(target), timeout=CLONE_TIMEOUT)
    if cloned.returncode != 0:
        return _first_line(cloned.stderr) or "git clone failed"
    if not _has_commit(target, commit):  # not on a branch: servers may give it by its id
        fetched = _run_git(target, "fetch", "--quiet", "origin", commit, timeout=CLONE_TIMEOUT)
        if fetched.returncode != 0 or not _has_commit(target, commit):
            return "the commit is on none of its branches"
    checked = _run_git(target, "checkout", "--quiet", "--detach", commit)
    if checked.returncode != 0:
        return _first_line(checked.stderr) or "git checkout failed"
    return None


def _run_git(folder: Path, *args: str, timeout: float = GIT_TIMEOUT
             ) -> subprocess.CompletedProcess[str]:
    """Run git in ``folder`` without a shell or terminal; a failure to run is a return code.

    Unlike provenance's quick look-ups, a checkout or clone may take minutes and
    may need the user's credential helpers, ssh agent or proxy: the
    environment is kept, with prompts switched off.
    """
    env = dict(os.environ)
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    command = ["git", *args]
    try:
        return subprocess.run(command, cwd=folder, capture_output=True, text=True,
                              encoding="utf-8", errors="replace", stdin=subprocess.DEVNULL,
                              env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, -1, "", f"git {args[0]} took longer than "
                                                            f"{timeout:g} s")
    except OSError as exc:
        return subprocess.CompletedProcess(command, -1, "", f"git could not run ({exc})")


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return _redacted(lines[0].removeprefix("fatal: ")) if lines else ""

