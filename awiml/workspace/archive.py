"""Archiving a workspace's results back to an archive: tar parts, verified, never overwritten.

:meth:`Workspace.archive <awiml.workspace.Workspace.archive>` packs files and
folders of a workspace into tar files of at most ``part_size`` bytes, uploads
each to a destination folder given as a URL (``hsm:///hs/projects/<p>/<dest>``
for AWI's tape archive, or any fsspec URL: ``file://``, ``sftp://``...), checks
what arrived by size and SHA-256 (read back from the destination), and records
every part with its members in the workspace's archive log,
``.awiml/archived.jsonl``, which :meth:`Workspace.archived` reads.

Why tar parts
    AWI asks users of its tape archive to store few large files rather than
    many small ones: every file costs a tape position and a recall. Folders
    and small files are therefore packed; each part is a complete tar file
    that can be fetched and unpacked on its own.

How a part is built
    Files are taken in sorted order of their path in the workspace (members
    are named by that path, so unpacking a part into a workspace puts every
    file back where it was) and packed until the next file would make the
    part larger than ``part_size``. A file larger than ``part_size`` is packed
    alone (that part is larger; it is the only way it stays one readable
    file). Symbolic links are neither followed nor archived. The tar is
    POSIX (PAX), with the files' modes and modification times but neither
    owner names nor ids, so the same files give
    byte-identical parts, and a run that was interrupted finds the parts it
    already archived identical and skips them.

Never overwritten
    Before anything is uploaded, every part's name is looked up at the
    destination; a name that exists there, and is not this workspace's own
    identical part from an earlier run, stops the whole call. A part is
    uploaded under a hidden temporary name, verified, and only then renamed
    to its final name; a failed upload is removed. Nothing half-written keeps
    a part's name.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import file_digest, soft_lock
from ..errors import (
    ArchiveConflictError,
    AwimlError,
    NotFoundError,
    TransferError,
    redact_url,
)
from .manifest import utc_stamp

if TYPE_CHECKING:
    import pandas as pd

    from .workspace import Workspace

__all__ = ["DEFAULT_PART_SIZE", "ArchivePart", "archive", "archived"]

#: Largest tar part by default: 20 GiB (assumed: large enough that a project's
#: results make few tape files, small enough to stage one in minutes).
DEFAULT_PART_SIZE = 20 * 2**30
#: The log of what was archived where, relative to the workspace root.
LOG_NAME = Path(".awiml") / "archived.jsonl"
#: Columns of the table :meth:`Workspace.archive` returns.
ARCHIVE_COLUMNS = ("part", "url", "files", "size", "sha256", "status")
_BLOCK = 512
_RECORD = 20 * _BLOCK


@dataclass(frozen=True)
class ArchivePart:
    """One planned tar part: its file name and the workspace files it holds.

    Parameters
    ----------
    name : str
        The part's file name at the destination, ``<label>-<NNN>.tar``.
    members : tuple of str
        Paths of the files, relative to the workspace root, in tar order.
    estimate : int
        An upper bound of the part's size in bytes.
    """

    name: str
    members: tuple[str, ...]
    estimate: int = field(compare=False)


def _tar_size(path: str, size: int) -> int:
    """Upper bound of the bytes a regular file adds to a PAX tar: headers and padded data."""
    header = _BLOCK * (4 if len(path.encode()) > 99 else 2)  # PAX header for long names
    return header + -(-size // _BLOCK) * _BLOCK


def _files_of(root: Path, paths: Iterable[str | os.PathLike[str]]) -> list[tuple[str, int]]:
    """List the regular files named by ``paths`` (folders walked): (path in workspace, size)."""
    found: dict[str, int] = {}
    for item in paths:
        given = Path(item)
        target = given if given.is_absolute() else root / given
        try:
            relative = target.resolve().relative_to(root.resolve())
        except ValueError:
            raise NotFoundError(
                f"{str(item)!r} is not inside the workspace {root}; archive copies only the "
                "workspace's own files: copy it in first (e.g. into interim/)") from None
        if not target.exists():
            raise NotFoundError(f"{str(item)!r} does not exist in the workspace {root}; "
                                "name a file or folder in it (relative to its root)")
        if relative.parts[:1] == (LOG_NAME.parts[0],):
            raise NotFoundError(f"{str(item)!r} is the workspace's own bookkeeping "
                                f"({LOG_NAME.parts[0]}/); name the data to archive")
        walk = [target] if target.is_file() else sorted(target.rglob("*"))
        for path in walk:
            rel = path.resolve().relative_to(root.resolve())
            if path.is_file() and not path.is_symlink() and rel.parts[0] != LOG_NAME.parts[0]:
                found[rel.as_posix()] = path.stat().st_size
    if not found:
        raise NotFoundError(f"no files to archive in {', '.join(map(str, paths))!s}: "
                            "the folders are empty")
    return sorted(found.items())


def plan_parts(files: Sequence[tuple[str, int]], label: str, part_size: int) -> list[ArchivePart]:
    """Group files into tar parts of at most ``part_size`` bytes, in the given order.

    Parameters
    ----------
    files : sequence of (str, int)
        Paths in the workspace and their sizes, in the order to pack them.
    label : str
        The parts' name stem: ``<label>-000.tar``, ``<label>-001.tar``...
    part_size : int
        Largest part in bytes; a single larger file gets a part of its own.

    Returns
    -------
    list of ArchivePart

    Examples
    --------
    Each file costs its 1024-byte header and its data padded to 512 bytes,
    a tar ends in two blocks padded to a 10240-byte record:

    >>> parts = plan_parts([("a", 3000), ("b", 3000), ("c", 9000)], "run", 12_000)
    >>> [(p.name, p.members, p.estimate) for p in parts]
    [('run-000.tar', ('a', 'b'), 10240), ('run-001.tar', ('c',), 20480)]
    >>> [p.name for p in plan_parts([("a", 10), ("b", 10)], "run", 20 * 2**20)]
    ['run-000.tar']
    """
    groups: list[list[tuple[str, int]]] = [[]]
    used = 0
    for path, size in files:
        need = _tar_size(path, size)
        if groups[-1] and _padded(used + need) > part_size:
            groups.append([])
            used = 0
        groups[-1].append((path, size))
        used += need
    width = max(3, len(str(len(groups) - 1)))
    return [ArchivePart(f"{label}-{number:0{width}d}.tar", tuple(p for p, _ in group),
                        _padded(sum(_tar_size(p, s) for p, s in group)))
            for number, group in enumerate(groups)]


def _padded(members: int) -> int:
    """Return a tar's size from its members' bytes: two end blocks, padded to records."""
    return -(-(members + 2 * _BLOCK) // _RECORD) * _RECORD


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Leave owner names and ids out of a member, so the same files give the same tar."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(root: Path, part: ArchivePart, target: Path) -> list[dict[str, Any]]:
    """Write ``part`` as a tar file at ``target``; return its members' records.

    Parameters
    ----------
    root : pathlib.Path
        The workspace root the members' paths are relative to.
    part : ArchivePart
        What to pack.
    target : pathlib.Path
        The tar file to write (replaced).

    Returns
    -------
    list of dict
        Per member: ``path``, ``size``, ``sha256``, ``mtime`` (seconds).
    """
    records = []
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in part.members:
            path = root / member
            info = _reset(tar.gettarinfo(path, arcname=member))
            info.pax_headers = {}
            info.mtime = int(info.mtime)
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
            records.append({"path": member, "size": info.size,
                            "sha256": file_digest(path), "mtime": info.mtime})
    return records


def read_log(workspace: Workspace) -> list[dict[str, Any]]:
    """Return the records of the workspace's archive log, oldest first (none if it is new).

    Raises
    ------
    TransferError
        A line is not a record awiml wrote (not JSON, or without a part's
        ``url``, ``sha256``, ``size``, ``archived`` and its ``members``); the
        message names the line.
    """
    path = workspace.root / LOG_NAME
    if not path.exists():
        return []
    records = []
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            record = None
        if not _is_record(record):
            raise TransferError(f"line {number} of the archive log {path} is not a record of "
                                "an archived part; restore the file from a backup, or remove "
                                "that line if you know it is damaged") from None
        records.append(record)
    return records


def _is_record(record: Any) -> bool:
    """Whether ``record`` has the fields of a logged part and of each member."""
    if not isinstance(record, dict) or not isinstance(record.get("members"), list):
        return False
    if not all(isinstance(record.get(key), str) for key in ("url", "sha256", "archived")):
        return False
    return isinstance(record.get("size"), int) and all(
        isinstance(m, dict) and isinstance(m.get("path"), str)
        and isinstance(m.get("size"), int) and isinstance(m.get("sha256"), str)
        for m in record["members"])


def _append_log(workspace: Workspace, record: Mapping[str, Any]) -> None:
    """Append one record to the archive log, under the workspace's lock, synced to disk."""
    path = workspace.root / LOG_NAME
    lock = path.with_name(path.name + ".lock")
    with soft_lock(lock, 60.0, lambda: TransferError(
            f"the archive log {path} is locked by another process; wait, or delete {lock} "
            "if no awiml process runs")):
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _join(destination: str, name: str) -> str:
    return destination.rstrip("/") + "/" + name


def archive(
    workspace: Workspace,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    destination: str,
    *,
    name: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Pack, upload, verify and log; the implementation of :meth:`Workspace.archive`."""
    import fsspec
    import pandas as pd

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not isinstance(part_size, int) or part_size < _RECORD:
        raise ValueError(f"part_size={part_size!r} is too small: give at least {_RECORD} bytes")
    files = _files_of(workspace.root, paths)
    label = name or _label(paths)
    if not label or "/" in label or label.startswith("."):
        raise ValueError(f"name={label!r} cannot name archive parts: give a plain file "
                         "name stem such as 'results'")
    parts = plan_parts(files, label, part_size)
    shown = redact_url(destination)
    try:
        fs, folder = fsspec.core.url_to_fs(destination, **dict(storage_options or {}))
    except (ValueError, ImportError) as exc:
        raise ValueError(f"cannot archive to {shown!r}: {exc}; give a folder URL such as "
                         "'hsm:///hs/projects/<project>/<folder>'") from exc
    fs = _writer(fs, shown)
    logged = {record["url"]: record for record in read_log(workspace)}
    urls = {part.name: _join(destination, part.name) for part in parts}
    taken = [part.name for part in parts
             if urls[part.name] not in logged and fs.exists(_join(folder, part.name))]
    if taken:
        raise ArchiveConflictError(
            f"{shown} already holds {', '.join(taken)}, which this workspace did not archive "
            "there; archiving never replaces a file: give another name= or destination")
    fs.makedirs(folder, exist_ok=True)
    staging = workspace.root / LOG_NAME.parent / "archive-staging"
    staging.mkdir(parents=True, exist_ok=True)
    rows = []
    from .._progress import progress_bar

    with progress_bar(enabled=progress, total=sum(p.estimate for p in parts), unit="B",
                      unit_scale=True, desc=f"archive {label}") as bar:
        for part in parts:
            rows.append(_archive_part(workspace, fs, folder, part, urls[part.name],
                                      logged.get(urls[part.name]), staging, bar))
    return pd.DataFrame(rows, columns=list(ARCHIVE_COLUMNS))


def _writer(fs: Any, shown: str) -> Any:
    """Return what writes to the destination: the source's explicit writer, or ``fs``.

    awiml's archive sources refuse fsspec's writing methods; one that can take
    results (the HSM) hands out a writer with the same method names.
    """
    if hasattr(fs, "archive_writer"):
        return fs.archive_writer()
    if fs.__module__.startswith("awiml."):
        raise ValueError(f"cannot archive to {shown!r}: {type(fs).__name__} is read-only; "
                         "archive to hsm:///hs/projects/<project>/<folder> or a folder URL")
    return fs


def _label(paths: Sequence[str | os.PathLike[str]]) -> str:
    """Return the default name stem of the parts: the first path's last part."""
    return Path(paths[0]).name or "workspace"


def _archive_part(workspace: Workspace, fs: Any, folder: str, part: ArchivePart, url: str,
                  earlier: Mapping[str, Any] | None, staging: Path, bar: Any) -> dict[str, Any]:
    """Pack one part, upload it under a temporary name, verify, rename and log it."""
    local = staging / part.name
    try:
        members = pack(workspace.root, part, local)
        size, digest = local.stat().st_size, file_digest(local)
        row = {"part": part.name, "url": url, "files": len(members), "size": size,
               "sha256": digest}
        final = _join(folder, part.name)
        if earlier is not None:
            if earlier["sha256"] == digest and _remote_size(fs, final) == size:
                bar.update(part.estimate)
                return {**row, "status": "present"}
            raise ArchiveConflictError(
                f"{redact_url(url)} was archived from this workspace before with other "
                "content; archiving never replaces a file: give another name= or destination")
        temporary = _join(folder, f".{part.name}.uploading")
        _upload(fs, local, temporary, final, size, digest, url)
        bar.update(part.estimate)
        _append_log(workspace, {**row, "members": members,
                                "archived": utc_stamp(), "awiml": _version()})
        return {**row, "status": "archived"}
    finally:
        local.unlink(missing_ok=True)


def _upload(fs: Any, local: Path, temporary: str, final: str, size: int, digest: str,
            url: str) -> None:
    """Copy ``local`` to ``temporary``, check size and digest read back, rename to ``final``."""
    shown = redact_url(url)
    again = "run the archive again (parts already archived are skipped)"
    try:
        try:
            fs.put_file(str(local), temporary)
        except OSError as exc:
            raise TransferError(f"{shown}: the upload failed ({exc}); nothing kept its name: "
                                f"{again}") from None
        arrived = _remote_size(fs, temporary)
        if arrived != size:
            raise TransferError(f"{shown}: {arrived} bytes arrived of {size}; {again}")
        with fs.open(temporary, "rb") as handle:
            read_back = file_digest(handle)
        if read_back != digest:
            raise TransferError(f"{shown}: the uploaded copy reads back as {read_back}, not "
                                f"{digest}; {again}")
        if fs.exists(final):
            raise ArchiveConflictError(f"{shown} appeared while it was uploaded; archiving "
                                       "never replaces a file: give another name= or destination")
        fs.mv(temporary, final)
    except BaseException as exc:
        _remove_quietly(fs, temporary, exc)
        if isinstance(exc, OSError) and not isinstance(exc, AwimlError):
            raise TransferError(f"{shown}: {exc}; {again}") from exc
        raise


def _remove_quietly(fs: Any, path: str, exc: BaseException) -> None:
    """Remove a half-written upload; if that fails too, say so in ``exc``'s notes."""
    try:
        if fs.exists(path):
            fs.rm(path)
    except Exception:  # the connection may be gone: report it, keep the first error
        exc.add_note(f"awiml: the partial upload {path} could not be removed; delete it")


def _remote_size(fs: Any, path: str) -> int | None:
    try:
        return int(fs.info(path)["size"])
    except FileNotFoundError:
        return None


def _version() -> str:
    from .._version import __version__

    return __version__


def archived(workspace: Workspace) -> pd.DataFrame:
    """Implement :meth:`Workspace.archived`: one row per archived file."""
    import pandas as pd

    rows = [{"path": member["path"], "size": member["size"], "sha256": member["sha256"],
             "part": record["url"], "part_sha256": record["sha256"],
             "archived": record["archived"]}
            for record in read_log(workspace) for member in record["members"]]
    table = pd.DataFrame(rows, columns=["path", "size", "sha256", "part", "part_sha256",
                                        "archived"])
    table["archived"] = pd.to_datetime(table["archived"], utc=True)
    return table
