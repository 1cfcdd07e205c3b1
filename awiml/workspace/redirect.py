"""Send a training script's workspace to a scratch copy while a model is reproduced.

``awiml models reproduce`` re-runs a training script that names its
workspace by path (an argument, a constant, a notebook cell). So that the
re-run reads the checked inputs and writes its model into a scratch
workspace, never into the original ``raw/`` or ``model/``, it starts the
script with the environment variable :data:`REDIRECT_ENV` set to
``{"from": <recorded workspace root>, "to": <scratch workspace root>}``
(JSON). :class:`~awiml.workspace.Workspace` and
:class:`~awiml.store.ModelStore` pass every path they are given through
:func:`redirected`, which maps the recorded root and anything under it to
the scratch copy. Outside a reproduction the variable is unset and paths are
returned as they are. Files a script opens by an absolute path without
awiml still come from the original folder (read only, and checked against
the recorded checksums before the run).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

__all__ = ["REDIRECT_ENV", "redirect_environment", "redirected"]

logger = logging.getLogger(__name__)

#: The environment variable a reproduction sets for the script it runs.
REDIRECT_ENV = "AWIML_REDIRECT_WORKSPACE"


def redirect_environment(recorded: str | os.PathLike[str],
                         scratch: str | os.PathLike[str]) -> dict[str, str]:
    """Return the environment entry that sends ``recorded`` (a workspace root) to ``scratch``.

    Examples
    --------
    >>> redirect_environment("/data/project", "/tmp/scratch/ws")
    {'AWIML_REDIRECT_WORKSPACE': '{"from": "/data/project", "to": "/tmp/scratch/ws"}'}
    """
    return {REDIRECT_ENV: json.dumps({"from": os.fspath(recorded), "to": os.fspath(scratch)})}


def redirected(path: str | os.PathLike[str]) -> Path:
    """Return ``path``, moved into the scratch workspace when a reproduction asks for it.

    Parameters
    ----------
    path : path-like
        An absolute path (a workspace root, a store, a file in ``raw/``).

    Returns
    -------
    pathlib.Path
        ``path`` itself, unless :data:`REDIRECT_ENV` names a ``from`` root that
        is ``path`` or one of its parents (and ``path`` is not already in
        ``to``): then the same place under ``to``.
        A malformed variable is ignored with a warning (the path is kept).

    Examples
    --------
    >>> import os
    >>> os.environ.update(redirect_environment("/data/project", "/tmp/scratch/ws"))
    >>> redirected("/data/project/model")
    PosixPath('/tmp/scratch/ws/model')
    >>> redirected("/data/other")
    PosixPath('/data/other')
    >>> os.environ.update(redirect_environment("/data/project", "/data/project/.awiml/x/ws"))
    >>> redirected("/data/project/.awiml/x/ws/raw")  # the copy itself stays
    PosixPath('/data/project/.awiml/x/ws/raw')
    >>> del os.environ[REDIRECT_ENV]
    >>> redirected("/data/project/model")
    PosixPath('/data/project/model')
    """
    path = Path(path)
    setting = os.environ.get(REDIRECT_ENV)
    if not setting:
        return path
    try:
        mapping = json.loads(setting)
        source, target = Path(mapping["from"]), Path(mapping["to"])
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("ignoring %s: not {\"from\": ..., \"to\": ...} (%s)", REDIRECT_ENV, exc)
        return path
    if path == target or target in path.parents:
        return path  # already the scratch copy (which may lie inside the recorded root)
    try:
        relative = path.relative_to(source)
    except ValueError:
        return path
    moved = target / relative
    logger.info("reproduction: %s is read as %s", path, moved)
    return moved
