"""Put the recorded training inputs of a stored model into a scratch workspace.

A stored version lists its training files in ``record["data"]``: each with
its ``path`` below ``raw/``, its ``source`` (the URL it was fetched from) and
its ``sha256``. :func:`gather_inputs` makes the scratch workspace's ``raw/``
hold exactly those bytes, file by file:

1. from the source workspace, when its ``raw/<path>`` holds the recorded
   digest (as its ``raw/MANIFEST`` says, or, for a file the manifest does not
   list, as hashing it shows): hard-linked (copied across devices) into the
   scratch ``raw/``, its manifest line copied along;
2. else fetched again from the recorded ``source`` with
   :meth:`Workspace.fetch <awiml.workspace.Workspace.fetch>` into a staging
   workspace inside the scratch one, then checked against the recorded digest.
   Only a file with the recorded digest is moved on into the scratch ``raw/``;
   one that changed at the archive is refused, and the outcome names the
   path, the source and both digests.

The source workspace is only read. :class:`InputOutcome` says, per
reference, how the file was got or why it could not be.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from ..._files import file_digest
from ..._version import __version__
from ...errors import AwimlError, WorkspaceError, redact_url
from ...workspace.manifest import ManifestEntry, utc_stamp, write_manifest
from ...workspace.workspace import Workspace, _make_read_only

__all__ = ["HOW", "InputOutcome", "gather_inputs"]

#: What :attr:`InputOutcome.how` can be: linked from the source workspace,
#: fetched again, missing, changed (at the archive or in the workspace), or
#: not a file reference.
HOW = ("workspace", "fetched", "missing", "changed", "unchecked")


@dataclass(frozen=True)
class InputOutcome:
    """How one recorded training input was got for the reproduction.

    Parameters
    ----------
    path : str or None
        The file's path below ``raw/``; None for a reference that names no file.
    source : str or None
        Where it was fetched from, as recorded.
    recorded_sha256 : str or None
        The digest the model was trained on.
    found_sha256 : str or None
        The digest of the file found (in the workspace or at the source).
    how : str
        One of :data:`HOW`.
    ok : bool
        Whether the scratch ``raw/`` holds the recorded bytes (``"workspace"``,
        ``"fetched"``) or the reference names no file to hold
        (``"unchecked"``, which the report shows as such).
    message : str
        One line for people.

    Examples
    --------
    >>> outcome = InputOutcome("ctd.tab", None, "sha256:00", None, "missing", False,
    ...                        "raw/ctd.tab: missing, no source recorded")
    >>> print(outcome)
    raw/ctd.tab: missing, no source recorded
    """

    path: str | None
    source: str | None
    recorded_sha256: str | None
    found_sha256: str | None
    how: str
    ok: bool
    message: str

    def __str__(self) -> str:
        return self.message


def gather_inputs(
    data_refs: Iterable[Mapping[str, Any]],
    source_workspace: Workspace | None,
    scratch_workspace: Workspace,
    *,
    fetch: bool = True,
    progress: bool = False,
) -> list[InputOutcome]:
    r"""Fill the scratch workspace's ``raw/`` with the recorded training inputs.

    Parameters
    ----------
    data_refs : iterable of mapping
        ``record["data"]`` of the stored version.
    source_workspace : Workspace or None
        The workspace the model was trained in, read only; None to fetch everything.
    scratch_workspace : Workspace
        A fresh workspace (:meth:`Workspace.create
        <awiml.workspace.Workspace.create>`) for the reproduction.
    fetch : bool, optional
        Fetch files missing from (or changed in) the source workspace again
        from their recorded source. When False they are reported missing.
    progress : bool, optional
        Show a progress bar while fetching.

    Returns
    -------
    list of InputOutcome
        One per reference, in order. The scratch ``raw/MANIFEST`` lists
        every file placed.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> source = Workspace.create(pathlib.Path(tempfile.mkdtemp()) / "project")
    >>> csv = pathlib.Path(tempfile.mkdtemp()) / "ctd.csv"
    >>> _ = csv.write_text("depth,temp\n1,4.2\n")
    >>> _ = source.fetch(csv.as_uri(), progress=False)
    >>> refs = [{"path": e.path, "source": e.source, "sha256": e.sha256}
    ...         for e in source.entries().values()]
    >>> scratch = Workspace.create(pathlib.Path(tempfile.mkdtemp()) / "scratch")
    >>> [o.how for o in gather_inputs(refs, source, scratch)]
    ['workspace']
    >>> csv.unlink(); _ = csv.write_text("depth,temp\n1,9.9\n")  # changed at the source
    >>> other = Workspace.create(pathlib.Path(tempfile.mkdtemp()) / "scratch")
    >>> [outcome] = gather_inputs(refs, None, other)
    >>> outcome.how, outcome.ok, (other.raw / "ctd.csv").exists()
    ('changed', False, False)
    """
    source_entries = source_workspace.entries() if source_workspace is not None else {}
    placed: dict[str, ManifestEntry] = {}
    outcomes: list[InputOutcome] = []
    try:
        for ref in data_refs:
            outcomes.append(_gather_one(dict(ref), source_workspace, source_entries,
                                        scratch_workspace, placed, fetch=fetch,
                                        progress=progress))
    finally:
        if placed:
            entries = {**scratch_workspace.entries(), **placed}
            write_manifest(scratch_workspace.manifest_path, entries.values())
    return outcomes


def _gather_one(
    ref: dict[str, Any],
    source_workspace: Workspace | None,
    source_entries: Mapping[str, ManifestEntry],
    scratch: Workspace,
    placed: dict[str, ManifestEntry],
    *,
    fetch: bool,
    progress: bool,
) -> InputOutcome:
    path, source, recorded = ref.get("path"), ref.get("source"), ref.get("sha256")
    source = redact_url(str(source)) if source else None

    def outcome(how: str, ok: bool, message: str, found: str | None = None) -> InputOutcome:
        return InputOutcome(path, source, recorded, found, how, ok, message)

    if not path:
        label = ref.get("name") or source or ref.get("doi") or "a reference"
        return outcome("unchecked", True, f"{label}: not a file reference: cannot be checked")
    path = str(path)
    if not _inside_raw(path):
        return outcome("unchecked", False, f"{path!r} is not a path inside raw/: cannot be "
                                           "checked")
    if not recorded:
        return outcome("unchecked", True, f"raw/{path}: no sha256 recorded: cannot be checked")

    found: str | None = None
    if source_workspace is not None:
        local = source_workspace.raw / path
        if local.is_file():
            entry = source_entries.get(path)
            # hashed every time: a file changed in place at the same size must not pass
            found = file_digest(local)
            if found == recorded:
                _link(local, scratch.raw / path, recorded)
                placed[path] = entry if entry is not None else _entry_for(ref, path, local)
                return outcome("workspace", True, f"raw/{path}: linked from the workspace "
                                                  f"{source_workspace.root}", found)
    in_workspace = "differs in the workspace" if found else "missing from the workspace"
    if not source:
        if found:
            return outcome("changed", False,
                           f"raw/{path}: {in_workspace} (recorded {recorded}, found {found}) "
                           "and no source was recorded to fetch it again", found)
        return outcome("missing", False, f"raw/{path}: missing, no source recorded")
    if not fetch:
        return outcome("changed" if found else "missing", False,
                       f"raw/{path}: {in_workspace}; fetching again from {source} was "
                       "switched off", found)
    return _refetch(ref, path, source, recorded, scratch, placed, progress, outcome)


def _refetch(
    ref: Mapping[str, Any],
    path: str,
    source: str,
    recorded: str,
    scratch: Workspace,
    placed: dict[str, ManifestEntry],
    progress: bool,
    outcome: Any,
) -> InputOutcome:
    """Fetch ``source`` into a staging workspace; move it on only with the recorded digest."""
    staging_dir = Path(tempfile.mkdtemp(prefix="refetch-", dir=scratch.root / ".awiml"))
    try:
        staging = Workspace.create(staging_dir)
        try:
            table = staging.fetch(str(ref["source"]), progress=progress)
        except AwimlError as exc:
            return outcome("missing", False, f"raw/{path}: missing from the workspace, and "
                                             f"fetching it again from {source} failed: {exc}")
        rows = table[table["path"] == path]
        if rows.empty and len(table) == 1:
            rows = table
        if len(rows) != 1:
            return outcome("missing", False, f"raw/{path}: {source} gives {len(table)} files, "
                                             "none of them at that path")
        row = rows.iloc[0]
        found = str(row["sha256"])
        if found != recorded:
            return outcome("changed", False,
                           f"raw/{path}: {source} now gives other content: recorded "
                           f"{recorded}, found {found}; not reproducible with this input, "
                           "and nothing was placed in the scratch raw/", found)
        _link(staging.raw / str(row["path"]), scratch.raw / path, recorded)
        placed[path] = replace(staging.entries()[str(row["path"])], path=path)
        return outcome("fetched", True, f"raw/{path}: fetched again from {source}", found)
    finally:
        shutil.rmtree(staging_dir, ignore_errors=True)


def _inside_raw(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and "\\" not in path \
        and ".." not in parts and path != "MANIFEST"


def _link(source: Path, target: Path, sha256: str) -> None:
    """Hard-link ``source`` as ``target`` (read-only), or copy it where links are refused.

    A ``target`` that holds ``sha256`` already (a reference listed twice) is kept.
    """
    if target.is_file() and file_digest(target) == sha256:
        return
    if target.exists():
        raise WorkspaceError(f"{target} exists with other content; reproduce into a fresh "
                             "scratch workspace")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another device, or a file system without hard links
        shutil.copyfile(source, target)
        _make_read_only(target)


def _entry_for(ref: Mapping[str, Any], path: str, local: Path) -> ManifestEntry:
    """Return a manifest line for a file the source manifest did not list."""
    return ManifestEntry(
        path=path,
        source=str(ref.get("source") or local.as_uri()),
        size=local.stat().st_size,
        sha256=str(ref["sha256"]),
        retrieved=str(ref.get("retrieved") or utc_stamp()),
        awiml_version=__version__,
        metadata={key: ref[key] for key in ("doi", "citation", "license") if ref.get(key)},
    )
