"""How the training process was started: the ``run`` section of a version's provenance.

:func:`run_section` reads the command line of the running interpreter
(``sys.orig_argv``, else ``sys.argv``), the ``__main__`` module and, in a
Jupyter kernel, the notebook's path, so that a later re-run can start the
same script, module or notebook with the same arguments and interpreter
options. Nothing is asked of the user's training script.

Assumptions, by kind:

``script``
    ``python [options] path/train.py [args]``. The script's path is taken
    from the command line and resolved against the working directory.
``module``
    ``python [options] -m pkg.mod [args]``.
``notebook``
    Only inside an IPython kernel (``ipykernel`` imported): the path comes from
    ``JPY_SESSION_NAME``, which Jupyter Server 2 and later set to the
    notebook's path (an absolute path is taken as it is; a relative one is
    looked for from the working directory upwards, as it is relative to the
    server's root, a parent of the notebook's folder), or from the
    ``__vsc_ipynb_file__`` global that VS Code sets in ``__main__``.
``interactive``
    Anything else that cannot be started again as it was: ``python -c``
    (its code is not recorded), a REPL, code read from standard input, a test
    runner (pytest) or an IPython shell or kernel whose notebook is unknown.

Secrets are never recorded: the value of an argument with a secret-looking
name (``--password=x``, ``--token x``, ``api_key=x``; the names
:func:`awiml.store._record._is_secret_key` knows) becomes ``***``, and URLs
lose their credentials (:func:`awiml.errors.redact_url`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..errors import redact_url
from ._record import _is_secret_key

#: Modules and console scripts that run someone else's code: a run through them is interactive.
RUNNERS = frozenset({"pytest", "py.test", "_pytest", "IPython", "ipython", "ipython3",
                     "ipykernel", "ipykernel_launcher", "jupyter", "jupyter-lab",
                     "jupyter-notebook", "jupyter-execute", "spyder_kernels"})

# interpreter options followed by a value (as "-X dev" or "-Xdev")
_OPTIONS_WITH_VALUE = frozenset("XWcm")
_LONG_OPTIONS_WITH_VALUE = frozenset({"--check-hash-based-pycs"})


def run_section(workspace: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Describe how the running interpreter was started, for a re-run.

    Parameters
    ----------
    workspace : path-like, optional
        The root of the store's workspace, recorded as ``workspace``.

    Returns
    -------
    dict
        JSON-ready: ``kind`` (``"script"``, ``"module"``, ``"notebook"`` or
        ``"interactive"``), ``script``, ``module``, ``notebook`` (None unless
        that kind), ``args`` (after the script or module, secrets as
        ``***``), ``cwd``, ``repository`` (the absolute top level of the git
        working tree, found by looking for ``.git`` upwards, or None),
        ``workspace``, ``python`` (e.g. ``"3.11.7"``) and
        ``executable_args`` (the interpreter's own options, e.g. ``["-X",
        "dev", "-u"]``). ``script``, ``notebook`` and ``cwd`` are POSIX paths
        relative to ``repository`` when inside it, else absolute.

    Examples
    --------
    >>> section = run_section()   # under pytest, which runs other code: interactive
    >>> section["kind"], section["script"], section["python"] == sys.version.split()[0]
    ('interactive', None, True)
    """
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    options, target, rest = _split_command(argv[1:])
    cwd = Path.cwd()
    kind, script, module, notebook = "interactive", None, None, None
    args: list[str] = []
    found = _notebook()
    if found is not None:
        kind, notebook = "notebook", found
    elif target is not None and target[0] == "-m" and target[1].split(".")[0] not in RUNNERS:
        kind, module, args = "module", target[1], rest
    elif target is not None and target[0] == "script" and target[1] != "-" \
            and Path(target[1]).name not in RUNNERS:
        kind, script, args = "script", _absolute(cwd / target[1]), rest
    elif target is not None and target[0] == "-c":
        args = rest
    start = next((p.parent for p in (notebook, script) if p is not None), cwd)
    repository = find_repository(start)
    return {
        "kind": kind,
        "script": _relative(script, repository),
        "module": module,
        "notebook": _relative(notebook, repository),
        "args": redact_args(args),
        "cwd": _relative(cwd, repository),
        "repository": repository.as_posix() if repository else None,
        "workspace": Path(workspace).absolute().as_posix() if workspace is not None else None,
        "python": sys.version.split()[0],
        "executable_args": redact_args(options),
    }


def find_repository(start: str | os.PathLike[str]) -> Path | None:
    """Return the nearest folder at or above ``start`` holding ``.git`` (a file or folder).

    git is not run: a worktree's or submodule's ``.git`` file counts as well.

    Examples
    --------
    >>> import tempfile
    >>> top = Path(tempfile.mkdtemp()); (top / ".git").mkdir(); (top / "src").mkdir()
    >>> find_repository(top / "src") == top
    True
    """
    folder = _absolute(Path(start))
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def redact_args(args: list[str]) -> list[str]:
    """Return command-line arguments with secret values as ``***`` and URLs redacted.

    Examples
    --------
    >>> redact_args(["--epochs", "3", "--token", "s3cret", "--password=x", "api_key=k",
    ...              "https://bob:pw@example.org/a?token=t", "--url=ftp://bob:pw@host/x"],
    ...             )  # doctest: +NORMALIZE_WHITESPACE
    ['--epochs', '3', '--token', '***', '--password=***', 'api_key=***',
     'https://example.org/a?token=***', '--url=ftp://host/x']
    """
    out: list[str] = []
    hide_next = False
    for arg in map(str, args):
        if hide_next and not arg.startswith("-"):
            out.append("***")
            hide_next = False
            continue
        hide_next = False
        name, equals, value = arg.partition("=")
        if "://" in name:  # a URL: its user, password and secret query values go
            out.append(redact_url(arg))
        elif equals and _is_secret_key(name.lstrip("-")):
            out.append(f"{name}=***")
        elif arg.startswith("-") and _is_secret_key(arg.lstrip("-")):
            out.append(arg)
            hide_next = True
        else:
            out.append(f"{name}={redact_url(value)}" if "://" in value else arg)
    return out


def _split_command(words: list[str]) -> tuple[list[str], tuple[str, str] | None, list[str]]:
    """Split the words after the interpreter into options, the target and its arguments.

    The target is ``("-m", module)``, ``("-c", code)``, ``("script", path)``
    or None (a REPL); the options never hold ``-c``'s code.
    """
    options: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            index += 1
            break
        if word.startswith("--"):
            take = 2 if word in _LONG_OPTIONS_WITH_VALUE else 1
            options += words[index:index + take]
            index += take
            continue
        if not word.startswith("-") or word == "-":
            break
        # a cluster of one-letter options, the last may take a value ("-uX", "dev")
        for position, letter in enumerate(word[1:], start=1):
            if letter in _OPTIONS_WITH_VALUE:
                value = word[position + 1:]
                if not value:
                    index += 1
                    value = words[index] if index < len(words) else ""
                if letter in "cm":
                    if position > 1:
                        options.append(word[:position])
                    return options, (f"-{letter}", value), words[index + 1:]
                options.append(word[:position + 1] if not word[position + 1:] else word)
                if not word[position + 1:]:
                    options.append(value)
                break
        else:
            options.append(word)
        index += 1
    if index < len(words):
        return options, ("script", words[index]), words[index + 1:]
    return options, None, []


def _notebook() -> Path | None:
    """Return the path of the notebook this IPython kernel runs, if it can be known."""
    if "ipykernel" not in sys.modules:  # never imported to look: no kernel without it
        return None
    main = sys.modules.get("__main__")
    vscode = getattr(main, "__vsc_ipynb_file__", None)
    if isinstance(vscode, str) and vscode:
        return _absolute(Path(vscode))
    session = os.environ.get("JPY_SESSION_NAME")
    if not session:
        return None
    path = Path(session)
    if path.is_absolute():
        return _absolute(path)
    cwd = Path.cwd()
    for root in (cwd, *cwd.parents):
        if (root / path).is_file():
            return _absolute(root / path)
    return None


def _absolute(path: Path) -> Path:
    """Return ``path`` absolute and without ``..`` (links are not resolved)."""
    return Path(os.path.normpath(path.absolute()))


def _relative(path: Path | None, repository: Path | None) -> str | None:
    """Return ``path`` relative to ``repository`` when inside it, else absolute, POSIX style."""
    if path is None:
        return None
    if repository is not None:
        try:
            return path.relative_to(repository).as_posix()
        except ValueError:
            pass
    return path.as_posix()
