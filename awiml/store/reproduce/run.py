"""Re-run the recorded entry point of a training run in the checked-out code.

What ``ModelStore.save`` recorded in ``provenance["run"]`` (a script with its
arguments, a ``python -m`` module, or a notebook) runs again with this
process's Python, in the checkout of the recorded commit, with:

- the working directory at the same place relative to the repository (or
  the scratch workspace, for one that was inside the workspace);
- the arguments as recorded, the recorded workspace root and repository
  root inside them replaced by the scratch workspace and the checkout;
- ``KERAS_BACKEND`` and ``PYTHONHASHSEED`` as recorded, the checkout first
  on ``PYTHONPATH`` (an editable install of the original tree must not win),
  and :data:`awiml.workspace.redirect.REDIRECT_ENV`, so that every
  :class:`~awiml.Workspace` and :class:`~awiml.ModelStore` the script opens
  on the recorded workspace is the scratch copy.

A run whose arguments hold a value the record hid (``***``, a password or
token) cannot be repeated from the record alone: pass the whole argument list
with ``args=``. Notebooks run with :mod:`nbclient` (the ``python3`` kernel).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ...workspace.redirect import redirect_environment

__all__ = ["OUTPUT_TAIL", "RunOutcome", "run_training"]

#: Characters of the run's output (stdout and stderr) kept for the report.
OUTPUT_TAIL = 4000

_HIDDEN = "***"

_NOTEBOOK_RUNNER = """
import sys, nbformat, nbclient
path, cwd, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3]) if sys.argv[3] else None
notebook = nbformat.read(path, as_version=4)
nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                        resources={"metadata": {"path": cwd}}).execute()
"""


@dataclass(frozen=True)
class RunOutcome:
    """How the re-run of the training went.

    Parameters
    ----------
    ok : bool
        Whether the entry point ran and exited with 0.
    command : list of str
        What was run (as shown in the report).
    cwd : str or None
        Its working directory.
    returncode : int or None
        The exit status; None when it did not run or did not end.
    seconds : float or None
        How long it ran.
    reason : str or None
        Why it did not run or failed.
    output : str
        The last :data:`OUTPUT_TAIL` characters of its output.

    Examples
    --------
    >>> RunOutcome(False, [], reason="no entry point recorded").summary()["reason"]
    'no entry point recorded'
    """

    ok: bool
    command: Sequence[str]
    cwd: str | None = None
    returncode: int | None = None
    seconds: float | None = None
    reason: str | None = None
    output: str = field(default="", repr=False)

    def summary(self) -> dict[str, Any]:
        """Return the outcome as JSON-ready data for a report (secret arguments as ``***``)."""
        from .._run import redact_args

        return {"ok": self.ok, "command": redact_args(list(self.command)), "cwd": self.cwd,
                "returncode": self.returncode, "seconds": self.seconds, "reason": self.reason,
                "output": self.output}


def run_training(
    run: Mapping[str, Any] | None,
    checkout: Path,
    scratch_workspace: Path,
    *,
    keras_backend: str | None = None,
    hash_seed: str | None = None,
    args: Sequence[str] | None = None,
    timeout: float | None = None,
) -> RunOutcome:
    """Run the recorded entry point in ``checkout``, against ``scratch_workspace``.

    Parameters
    ----------
    run : mapping or None
        ``provenance["run"]`` of the stored version (None for versions saved
        before awiml recorded it).
    checkout : pathlib.Path
        The training code at the recorded commit.
    scratch_workspace : pathlib.Path
        The root of the scratch workspace holding the checked inputs.
    keras_backend, hash_seed : str, optional
        ``KERAS_BACKEND`` and ``PYTHONHASHSEED`` for the run, as recorded.
    args : sequence of str, optional
        The arguments to pass instead of the recorded ones.
    timeout : float, optional
        Seconds the run may take; None waits for its end.

    Returns
    -------
    RunOutcome

    Examples
    --------
    >>> import pathlib, tempfile
    >>> code = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (code / "train.py").write_text("import sys; print('args', sys.argv[1:])")
    >>> run = {"kind": "script", "script": "train.py", "args": ["--epochs", "3"], "cwd": "."}
    >>> outcome = run_training(run, code, code)
    >>> outcome.ok, outcome.output.strip()
    (True, "args ['--epochs', '3']")
    """
    if not run or run.get("kind") not in ("script", "module", "notebook"):
        kind = (run or {}).get("kind")
        why = ("the version records no entry point (saved by an earlier awiml release)"
               if not run else
               f"the model was saved from an {kind or 'unknown'} session (python -c, a shell "
               "or a test runner): there is no script, module or notebook to run again")
        return RunOutcome(False, [], reason=why)
    repository = _path_or_none(run.get("repository"))
    workspace = _path_or_none(run.get("workspace"))

    # the longer root first: a repository inside the workspace (its src/) is the checkout
    pairs = sorted(((old, new) for old, new in ((workspace, scratch_workspace),
                                                (repository, checkout)) if old is not None),
                   key=lambda pair: len(str(pair[0])), reverse=True)

    def moved(text: str) -> str:
        for old, new in pairs:
            if (text == str(old) or text.startswith(str(old) + os.sep)):
                return str(new) + text[len(str(old)):]
            if "=" in text:  # --data=/the/workspace/raw
                key, _, value = text.partition("=")
                if value == str(old) or value.startswith(str(old) + os.sep):
                    return f"{key}={new}{value[len(str(old)):]}"
        return text

    given = list(run.get("args") or []) if args is None else list(args)
    if args is None and any(_HIDDEN in value for value in given):
        hidden = [value for value in given if _HIDDEN in value]
        return RunOutcome(False, [], reason=(
            f"the recorded arguments hold values that were not recorded ({', '.join(hidden)}: "
            "passwords or tokens); pass the whole argument list with args= "
            "(`awiml models reproduce ... --args ...`)"))
    arguments = [moved(value) for value in given]
    cwd = _place(run.get("cwd"), checkout, repository, workspace, scratch_workspace) or checkout
    python = [sys.executable, *[str(v) for v in run.get("executable_args") or []]]
    kind = run["kind"]
    if kind == "module":
        if not run.get("module"):
            return RunOutcome(False, [], reason="the record names no module to run")
        command = [*python, "-m", str(run["module"]), *arguments]
    else:
        entry = _place(run.get(kind), checkout, repository, workspace, scratch_workspace)
        if entry is None or not entry.is_file():
            return RunOutcome(False, [], str(cwd), reason=(
                f"the {kind} {run.get(kind)!r} is not in the code at the recorded commit "
                f"({checkout}); was it committed?"))
        if kind == "script":
            command = [*python, str(entry), *arguments]
        else:
            command = [sys.executable, "-c", _NOTEBOOK_RUNNER, str(entry), str(cwd),
                       "" if timeout is None else str(timeout)]
    environment = dict(os.environ)
    environment.update(redirect_environment(workspace, scratch_workspace)
                       if workspace is not None else {})
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(checkout), *filter(None, [environment.get("PYTHONPATH")])])
    if keras_backend:
        environment["KERAS_BACKEND"] = keras_backend
    if hash_seed is not None:
        environment["PYTHONHASHSEED"] = str(hash_seed)
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        return RunOutcome(False, command, str(cwd), None, round(time.monotonic() - started, 3),
                          f"the run did not end within {timeout:g} s", output[-OUTPUT_TAIL:])
    except OSError as exc:
        return RunOutcome(False, command, str(cwd),
                          reason=f"could not start {command[0]}: {exc.strerror or exc}")
    seconds = round(time.monotonic() - started, 3)
    output = (done.stdout + done.stderr)[-OUTPUT_TAIL:]
    if done.returncode != 0:
        return RunOutcome(False, command, str(cwd), done.returncode, seconds,
                          f"the {kind} exited with status {done.returncode}", output)
    return RunOutcome(True, command, str(cwd), 0, seconds, None, output)


def _path_or_none(value: Any) -> Path | None:
    return Path(value) if isinstance(value, str) and value else None


def _place(recorded: Any, checkout: Path, repository: Path | None, workspace: Path | None,
           scratch_workspace: Path) -> Path | None:
    """Where a recorded path (relative to the repository, or absolute) is in the re-run."""
    if not isinstance(recorded, str) or not recorded:
        return None
    path = Path(recorded)
    if not path.is_absolute():
        return checkout / PurePosixPath(recorded)
    for old, new in ((repository, checkout), (workspace, scratch_workspace)):
        if old is not None:
            try:
                return new / path.relative_to(old)
            except ValueError:
                continue
    return path


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""
