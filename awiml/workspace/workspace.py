"""The project workspace: folder layout, manifest, fetch and verify.

A workspace is a plain folder, local or on a network share, with the folders
of :data:`LAYOUT` and ``.awiml/`` for awiml's bookkeeping (``workspace.json``,
partial downloads, and the soft lock files of :func:`awiml._files.soft_lock`).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from .._files import NO_SPACE, fsync_dir, publish, soft_lock
from .._progress import human_size
from .._version import __version__
from ..archives.base import RemoteFile, _first, expand_fsspec_path, http_session
from ..archives.pangaea.model import DOI_PREFIX, dataset_id
from ..archives.transfer import (
    DownloadResult,
    RetryPolicy,
    download,
    file_checksum,
    parse_checksum,
    partial_size,
)
from ..errors import (
    AwimlError,
    InvalidDataError,
    NotFoundError,
    RawFileConflictError,
    TransferError,
    WorkspaceError,
    redact_url,
)
from .manifest import (
    MANIFEST_COLUMNS,
    ManifestEntry,
    read_manifest,
    utc_stamp,
    write_manifest,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LAYOUT", "FetchError", "VerifyReport", "Workspace"]

logger = logging.getLogger(__name__)

#: The folders of a workspace and what each is for.
LAYOUT: Mapping[str, str] = {
    "raw": "read-only input data as fetched from the archives; MANIFEST records each file",
    "src": "the project's own code (scripts, notebooks)",
    "lib": "third-party code and helpers the project depends on",
    "features": "extracted features and their caches",
    "interim": "intermediate, cleaned data",
    "model": "the ModelStore: model architectures, weights and provenance",
}

_META_DIR = ".awiml"
_MARKER = "workspace.json"
_LAYOUT_VERSION = 1
#: Columns of the table :meth:`Workspace.fetch` returns.
_ROW_COLUMNS = ("path", "source", "size", "sha256", "status", "attempts")
#: Seconds the main thread waits at a time, so that Ctrl-C is handled at once.
_WAIT_SLICE = 0.2
#: Seconds an interrupted fetch gives its transfers to stop and close their partial files.
_STOP_GRACE = 1.0
#: File names a report's text lists before "... and N more".
_LISTED = 20


def _files_count(number: int) -> str:
    """Return ``"1 file"`` or ``"N files"``."""
    return f"{number} file" if number == 1 else f"{number} files"


class FetchError(TransferError):
    """Several files of one :meth:`Workspace.fetch` call failed.

    Parameters
    ----------
    message : str
        The summary.
    failures : dict of str to Exception
        Each failed source and its error.
    results : pandas.DataFrame or None
        The files that were fetched or already present.
    """

    def __init__(
        self, message: str, failures: Mapping[str, BaseException], results: Any = None
    ) -> None:
        super().__init__(message)
        self.failures = dict(failures)
        self.results = results


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`Workspace.verify` found in ``raw/``.

    Parameters
    ----------
    checked : int
        Files hashed and found as recorded.
    missing : list of str
        In the manifest but not on disk.
    extra : list of str
        On disk but not in the manifest.
    changed : list of str
        On disk with another size or checksum than recorded.
    computed_only : list of str
        Files found as recorded whose digest was only computed on arrival
        (``digest_source == "computed"`` in the manifest): the archive
        published no checksum, so that they have not changed since is known,
        not that they arrived intact. They do not make the report fail.

    Examples
    --------
    >>> report = VerifyReport(2, computed_only=["ctd.tab"])
    >>> report.ok
    True
    >>> print(report)
    raw/ matches its manifest (2 files verified)
      1 of them rest only on a digest computed on arrival (no published checksum):
        ctd.tab
    """

    checked: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    computed_only: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether ``raw/`` agrees with the manifest exactly."""
        return not (self.missing or self.extra or self.changed)

    def _headline(self) -> str:
        if self.ok:
            return f"raw/ matches its manifest ({_files_count(self.checked)} verified)"
        return f"raw/ differs from its manifest ({_files_count(self.checked)} as recorded)"

    def __str__(self) -> str:
        lines = [self._headline() + ("" if self.ok else ":")]
        lines += [f"  {label}: {p}" for label in ("missing", "extra", "changed")
                  for p in getattr(self, label)]
        if self.computed_only:
            shown = self.computed_only[:_LISTED]
            lines.append(f"  {len(self.computed_only)} of them rest only on a digest computed "
                         "on arrival (no published checksum):")
            lines += [f"    {p}" for p in shown]
            if len(self.computed_only) > len(shown):
                lines.append(f"    ... and {len(self.computed_only) - len(shown)} more "
                             "(`awiml manifest` shows each file's digest_source)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(getattr(self, k))} {k}" for k in
                           ("missing", "extra", "changed", "computed_only")
                           if getattr(self, k))
        return f"<VerifyReport {'ok' if self.ok else 'differs'}: {self.checked} checked" + (
            f", {counts}>" if counts else ">")

    def _repr_html_(self) -> str:
        from .. import _html

        return _html.block(
            "verify-report", self._headline(),
            _html.listing("missing (in the manifest, not on disk)", self.missing),
            _html.listing("extra (on disk, not in the manifest)", self.extra),
            _html.listing("changed (size or sha256 differs)", self.changed),
            _html.listing("resting only on a digest computed on arrival (the archive "
                          "published no checksum)", self.computed_only),
        )


def _folder(name: str, doc: str) -> property:
    """Return the read-only property for the layout folder ``name``."""

    def folder(workspace: Workspace) -> Path:
        return workspace.root / name

    folder.__doc__ = doc
    return property(folder)


class Workspace:
    """A project folder with read-only ``raw/`` data and a manifest of where it came from.

    Parameters
    ----------
    path : path-like
        The workspace folder. It must exist with the full layout; use
        :meth:`create` (or ``awiml init PATH``) to make one.

    Raises
    ------
    WorkspaceError
        If the folder or parts of its layout are missing; the message lists them.

    See Also
    --------
    Workspace.create : make a new workspace, or complete an existing one.

    Examples
    --------
    >>> import tempfile
    >>> ws = Workspace.create(tempfile.mkdtemp())
    >>> sorted(p.name for p in ws.root.iterdir() if not p.name.startswith("."))
    ['README.md', 'features', 'interim', 'lib', 'model', 'raw', 'src']
    >>> ws.manifest().empty
    True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from .redirect import redirected

        root = redirected(Path(path).expanduser().absolute())
        if not root.is_dir():
            raise WorkspaceError(
                f"{root} is not a workspace: the folder does not exist. "
                f"Create one with Workspace.create({str(root)!r}) or `awiml init {root}`."
            )
        missing = [name + "/" for name in LAYOUT if not (root / name).is_dir()]
        if not (root / _META_DIR / _MARKER).is_file():
            missing.append(f"{_META_DIR}/{_MARKER}")
        if missing:
            raise WorkspaceError(
                f"{root} is not a complete awiml workspace: missing {', '.join(missing)}. "
                f"Run `awiml init {root}` (or Workspace.create) to add them; existing files "
                "are kept."
            )
        self.root = root

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Workspace:
        """Create a workspace, or add what is missing to an existing folder.

        Existing files and folders are never modified.

        Parameters
        ----------
        path : path-like
            The folder; created with its parents if needed.

        Returns
        -------
        Workspace
            The opened workspace.
        """
        root = Path(path).expanduser().absolute()
        try:
            root.mkdir(parents=True, exist_ok=True)
            for name in LAYOUT:
                (root / name).mkdir(exist_ok=True)
            meta = root / _META_DIR
            (meta / "downloads").mkdir(parents=True, exist_ok=True)
            marker = meta / _MARKER
            if not marker.exists():
                record = {
                    "layout_version": _LAYOUT_VERSION,
                    "created": utc_stamp(),
                    "created_by": f"awiml {__version__}",
                }
                marker.write_text(json.dumps(record, indent=2) + "\n", "utf-8")
            readme = root / "README.md"
            if not readme.exists():
                readme.write_text(_workspace_readme(root.name), "utf-8")
        except OSError as exc:
            raise WorkspaceError(
                f"could not create the workspace {root}: {exc.strerror or exc}. "
                "Check the path and your write permission."
            ) from exc
        return cls(root)

    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Workspace:
        """Open the workspace that contains ``start``, looking upwards as git finds its repository.

        The first folder from ``start`` upwards that holds
        ``.awiml/workspace.json`` is the workspace.

        Parameters
        ----------
        start : path-like, optional
            Where to begin; the current folder by default.

        Returns
        -------
        Workspace
            The enclosing workspace.

        Raises
        ------
        WorkspaceError
            If no folder from ``start`` upwards is a workspace (the message
            names ``start``), or the one found is missing parts of its layout.

        Examples
        --------
        >>> import tempfile
        >>> ws = Workspace.create(tempfile.mkdtemp())
        >>> Workspace.find(ws.raw).root == ws.root
        True
        """
        here = Path.cwd() if start is None else Path(start).expanduser().absolute()
        for folder in (here, *here.parents):
            if (folder / _META_DIR / _MARKER).is_file():
                return cls(folder)
        raise WorkspaceError(
            f"{here} is not inside an awiml workspace: neither it nor a folder above it "
            f"holds {_META_DIR}/{_MARKER}. Open a workspace by its path, or create one with "
            "Workspace.create(path) (`awiml init PATH` in a shell)."
        )

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def _repr_html_(self) -> str:
        """Show the workspace in Jupyter: its folders, and what raw/ holds, newest first.

        Reads only ``workspace.json`` and the manifest (no file is hashed or
        listed), shows at most :data:`awiml._html.MAX_ROWS` files, and shows a
        problem (a half-made workspace, an unreadable manifest) instead of raising.
        """
        from .. import _html
        from .._progress import human_size

        facts: list[tuple[str, Any]] = [("folder", self.root)]
        try:
            marker = json.loads((self._meta / _MARKER).read_text("utf-8"))
            facts += [("created", marker.get("created")), ("by", marker.get("created_by"))]
        except (OSError, ValueError, AttributeError) as exc:
            facts.append(("created", f"unknown ({_MARKER}: {exc})"))
        try:
            entries = sorted(self.entries().values(), key=lambda e: e.retrieved, reverse=True)
        except (AwimlError, OSError) as exc:
            entries, problem = [], f"<p>raw/MANIFEST could not be read: {_html.escape(exc)}</p>"
        else:
            problem = ""
        computed = sum(entry.digest_source == "computed" for entry in entries)
        if entries:
            facts += [
                ("raw/", f"{len(entries)} files, {human_size(sum(e.size for e in entries))}"),
                ("last fetch", entries[0].retrieved),
                ("digests", f"{len(entries) - computed} checked against a published "
                            f"checksum, {computed} only computed on arrival"),
            ]
        else:
            facts.append(("raw/", "empty: fetch data with ws.fetch(url)"))
        folders = _html.table(
            ["folder", "holds", ""],
            [(f"{name}/", purpose, "" if (self.root / name).is_dir() else "missing")
             for name, purpose in LAYOUT.items()],
        )
        files = _html.table(
            ["path", "size", "retrieved", "digest", "source"],
            ((e.path, human_size(e.size), e.retrieved, e.digest_source, e.source)
             for e in entries),
            total=len(entries),
        ) if entries else ""
        return _html.block("workspace", f"Workspace {self.root.name}", _html.fields(facts),
                           problem, folders, "<h5>raw/, newest first</h5>" if files else "",
                           files)

    def __fspath__(self) -> str:
        return str(self.root)

    raw = _folder("raw", "The read-only input data folder.")
    src = _folder("src", "The project's own code.")
    lib = _folder("lib", "Third-party code and helpers.")
    features = _folder("features", "Extracted features and their caches.")
    interim = _folder("interim", "Intermediate, cleaned data.")
    model = _folder("model", "The ModelStore folder.")

    @property
    def manifest_path(self) -> Path:
        """The manifest file, ``raw/MANIFEST``."""
        return self.raw / "MANIFEST"

    @property
    def _meta(self) -> Path:
        return self.root / _META_DIR

    def entries(self) -> dict[str, ManifestEntry]:
        """Return the manifest as a mapping from path (relative to ``raw/``) to entry.

        Returns
        -------
        dict of str to ManifestEntry
            Every recorded file.
        """
        return read_manifest(self.manifest_path)

    def manifest(self) -> pd.DataFrame:
        """Return the manifest as a table, one row per file in ``raw/``.

        Returns
        -------
        pandas.DataFrame
            Columns as in :data:`awiml.workspace.manifest.MANIFEST_COLUMNS`; ``retrieved``
            is a timezone-aware timestamp; ``digest_source`` is ``"published"``
            where the file was checked against a checksum the archive published
            and ``"computed"`` where its digest was only computed on arrival.
        """
        import pandas as pd

        rows = [[getattr(entry, name) for name in MANIFEST_COLUMNS]
                for entry in self.entries().values()]
        table = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
        table["size"] = table["size"].astype("int64")
        table["retrieved"] = pd.to_datetime(table["retrieved"], utc=True)
        return table.sort_values("path", ignore_index=True)

    def fetch(
        self,
        urls: str | RemoteFile | Iterable[str | RemoteFile],
        *,
        subdir: str | None = None,
        checksum: str | Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        workers: int = 4,
        progress: bool = True,
        auth: tuple[str, str] | None = None,
        token: str | None = None,
        policy: RetryPolicy | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        r"""Copy files from any archive into ``raw/`` and record them in the manifest.

        Each URL may be ``https://...``, ``file://...`` (percent-encoded or
        not), a local path or any fsspec URL (such as ``pangaea://889513``, an
        O2A sensor data extract ``o2a://<codes>?start=...&end=...``, see
        :class:`~awiml.PlatformSource`, or a file on the HSM tape archive,
        ``hsm:///hs/projects/<p>/<file>``, staged first, see
        :class:`~awiml.HSMSource`); a directory stands for every file below it.
        A PANGAEA DOI, in any form
        (``10.1594/PANGAEA.889513``, ``doi:...``, ``https://doi.org/...``,
        ``https://doi.pangaea.de/...``), is fetched as ``pangaea://889513``.
        Files stream to ``.awiml/downloads``, are verified, then renamed into
        ``raw/`` and made read-only. ``raw/`` is never overwritten: different
        content for an existing path raises
        :class:`~awiml.errors.RawFileConflictError` (use another ``subdir``).
        A file recorded with the same source and size is skipped.

        Parameters
        ----------
        urls : str, RemoteFile or iterable of them
            What to fetch.
        subdir : str, optional
            Folder below ``raw/`` to put the files in.
        checksum : str or mapping, optional
            The published checksum (``"sha256:<hex>"``, ``"md5:<hex>"``...) of
            a single URL, or a mapping from URL to checksum.
        metadata : mapping, optional
            Extra metadata recorded with every file (e.g. ``{"licence": "CC-BY-4.0"}``).
        workers : int, optional
            Files fetched at the same time.
        progress : bool, optional
            Show a progress bar (a Jupyter widget in a notebook with ipywidgets).
        auth : tuple of str, optional
            User and password for HTTP Basic authentication. Without it,
            requests reads ``~/.netrc``.
        token : str, optional
            A bearer token for HTTP.
        policy : RetryPolicy, optional
            Retries, backoff and timeouts.
        storage_options : mapping, optional
            Arguments for the fsspec filesystem of non-HTTP URLs, e.g.
            ``{"token": ...}`` for a restricted ``pangaea://`` dataset.

        Returns
        -------
        pandas.DataFrame
            One row per file with ``path``, ``source``, ``size``, ``sha256``,
            ``status`` (``"fetched"``, or ``"present"`` when ``raw/`` already
            held it) and ``attempts``.

        Raises
        ------
        AwimlError
            When one file fails, its error (:class:`~awiml.errors.NotFoundError`,
            :class:`~awiml.errors.ChecksumMismatchError`...); when several fail,
            a :class:`FetchError` listing them all. Every other file is recorded first.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> src = pathlib.Path(tempfile.mkdtemp()) / "ctd.tab"
        >>> _ = src.write_text("depth\\ttemp\\n1\\t4.2\\n")
        >>> ws = Workspace.create(tempfile.mkdtemp())
        >>> ws.fetch(src.as_uri(), progress=False)[["path", "status"]]
              path   status
        0  ctd.tab  fetched
        """
        import pandas as pd

        from .._progress import progress_bar

        items = [urls] if isinstance(urls, (str, RemoteFile)) else list(urls)
        checksums = _checksums_by_url(items, checksum)
        policy = policy or RetryPolicy()
        session = http_session(auth=auth, token=token, retries=0, pool_size=max(workers, 1))
        failures: dict[str, BaseException] = {}
        remotes: list[RemoteFile] = []
        for item in items:
            try:
                resolved = _resolve(item, session, storage_options or {})
            except AwimlError as exc:
                failures[_label(item)] = exc
                continue
            key = item.source if isinstance(item, RemoteFile) else item
            remotes += [_place(r, subdir, checksums.get(key), metadata) for r in resolved]
        _check_unique_names(remotes)

        entries = self.entries()
        rows: list[dict[str, Any]] = []
        todo: list[RemoteFile] = []
        for remote in remotes:
            entry = entries.get(remote.name)
            if entry is not None and _already_present(self.raw / remote.name, entry, remote):
                rows.append(_row(entry, "present", 0))
            else:
                todo.append(remote)

        partial_dir = self._meta / "downloads"
        present = {remote.name: partial_size(remote, partial_dir) for remote in todo}
        bar = progress_bar(
            enabled=bool(progress and todo),
            total=sum(r.size for r in todo if r.size is not None),
            initial=sum(present.values()),  # a resumed file starts where it stopped
            unit="B", unit_scale=True, unit_divisor=1024,
            desc=f"fetch {len(todo)} file{'s' if len(todo) != 1 else ''}", leave=True,
        )
        bar_lock = threading.Lock()

        def advance(nbytes: int) -> None:
            with bar_lock:
                bar.update(nbytes)

        def grow(nbytes: int) -> None:
            with bar_lock:
                bar.total += nbytes
                bar.refresh()

        def fetch_one(remote: RemoteFile) -> DownloadResult:
            return download(remote, partial_dir, policy=policy, progress=advance, on_size=grow,
                            cancel=cancel, counted=present[remote.name])

        cancel = threading.Event()
        transfers = _Transfers(fetch_one, todo, workers, cancel)
        try:
            for finished, failed in transfers.batches():
                failures.update(failed)
                if finished:
                    rows += self._commit(finished, failures)
        except BaseException as exc:
            # Ctrl-C or another surprise: running transfers stop at once (a read that
            # waits for a stalled server is cut off) and keep their partial files;
            # queued ones never start.
            transfers.stop(_STOP_GRACE)
            if isinstance(exc, KeyboardInterrupt):
                exc.add_note(_interrupted_note(partial_dir, todo))
            raise
        finally:
            bar.close()

        table = pd.DataFrame(rows, columns=_ROW_COLUMNS).sort_values("path", ignore_index=True)
        _raise_failures(failures, table)
        return table

    def _commit(
        self,
        finished: Sequence[tuple[RemoteFile, DownloadResult]],
        failures: dict[str, BaseException],
    ) -> list[dict[str, Any]]:
        """Move verified downloads into ``raw/`` and record them, under the workspace lock.

        If the manifest cannot be written, the files go back to their downloads.
        """
        rows = []
        placed: list[tuple[Path, DownloadResult]] = []  # moved into raw/ by this call
        names = [f"{remote.name} (from {_label(remote)})" for remote, _ in finished]
        lock = self._meta / "manifest.lock"
        busy = (f"the workspace is locked by another process ({lock}). Wait for it to "
                "finish; if no awiml process runs on any host, delete that file.")
        with soft_lock(lock, 60.0, lambda: WorkspaceError(busy),
                       lambda exc: _unrecorded_error(self, names, exc)):
            try:
                entries = self.entries()
                changed = False
                for remote, result in finished:
                    dest = self.raw / remote.name
                    entry = entries.get(remote.name)
                    try:
                        status = self._place_file(dest, entry, remote, result)
                    except AwimlError as exc:
                        failures[remote.source] = exc
                        continue
                    if status == "present" and entry is not None:
                        rows.append(_row(entry, "present", result.attempts))
                        continue
                    if status == "fetched":  # an adopted file was there before this call
                        placed.append((dest, result))
                    entry = ManifestEntry(
                        path=remote.name,
                        source=remote.source,
                        size=result.size,
                        sha256=result.sha256,
                        retrieved=utc_stamp(),
                        awiml_version=__version__,
                        published_checksum=result.verified_checksum,
                        metadata=dict(remote.metadata),
                    )
                    entries[remote.name] = entry
                    changed = True
                    rows.append(_row(entry, "fetched", result.attempts))
                if changed:
                    for folder in {dest.parent for dest, _ in placed}:
                        fsync_dir(folder)  # the new names are on disk before their rows
                    write_manifest(self.manifest_path, entries.values(), tmp_dir=self._meta)
            except BaseException as exc:
                _take_back(placed)
                if isinstance(exc, OSError) and not isinstance(exc, AwimlError):
                    raise _unrecorded_error(self, names, exc) from exc
                raise
        return rows

    def _place_file(
        self,
        dest: Path,
        entry: ManifestEntry | None,
        remote: RemoteFile,
        result: DownloadResult,
    ) -> str:
        """Publish one verified download at ``dest``; return how: fetched, present or adopted.

        A file on disk with this content is ``"present"`` if recorded, else
        ``"adopted"`` (recorded as fetched); other content is a conflict.
        """
        on_disk = file_checksum(dest) if dest.exists() else None
        recorded = entry.sha256 if entry is not None else None
        agrees = recorded in (None, result.sha256)
        if on_disk is not None and on_disk == result.sha256 and agrees:
            result.path.unlink(missing_ok=True)
            if entry is not None:
                return "present"
            _make_read_only(dest)  # an unrecorded file with the right content is adopted
            return "adopted"
        if on_disk is not None or not agrees:
            result.path.unlink(missing_ok=True)
            raise RawFileConflictError(_conflict_message(dest, entry, on_disk, remote, result))
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            publish(result.path, dest, sync=False)  # folders synced once, in _commit
            _make_read_only(dest)
        except OSError as exc:
            raise TransferError(
                f"could not move {remote.source} into {dest}: {exc.strerror or exc}. "
                "Check that raw/ is writable for you; the verified copy stays in "
                f"{result.path.parent} and the next fetch reuses it."
            ) from exc
        return "fetched"

    def verify(self) -> VerifyReport:
        """Re-hash ``raw/`` and compare it with the manifest.

        Returns
        -------
        VerifyReport
            Missing, extra and changed files; ``report.ok`` is ``True`` when
            everything matches. ``report.computed_only`` names the files found
            as recorded whose digest was only computed on arrival.
        """
        entries = self.entries()
        on_disk = {
            path.relative_to(self.raw).as_posix()
            for path in self.raw.rglob("*")
            if path.is_file() and path != self.manifest_path
        }
        both = sorted(set(entries) & on_disk)
        changed = [
            name for name in both
            if (self.raw / name).stat().st_size != entries[name].size
            or file_checksum(self.raw / name) != entries[name].sha256
        ]
        return VerifyReport(
            checked=len(both) - len(changed),
            missing=sorted(set(entries) - on_disk),
            extra=sorted(on_disk - set(entries)),
            changed=changed,
            computed_only=[name for name in sorted(set(both) - set(changed))
                           if entries[name].digest_source == "computed"],
        )

    def archive(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        destination: str,
        *,
        name: str | None = None,
        part_size: int | None = None,
        storage_options: Mapping[str, Any] | None = None,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Archive files and folders of the workspace: tar parts, uploaded, verified, logged.

        The files are packed into tar files of at most ``part_size`` bytes
        (members named by their path in the workspace), each uploaded to the
        folder ``destination`` under a temporary name, read back and checked
        by size and SHA-256, then given its name. A name that exists at the
        destination is never replaced: the call stops before uploading
        anything. Every part, with its members' sizes and digests, is recorded
        in the workspace's archive log (:meth:`archived`); a repeated call
        skips the parts already archived, so an interrupted one can be run
        again. See :mod:`awiml.workspace.archive` for the details.

        Parameters
        ----------
        paths : path-like or iterable of path-like
            Files and folders in the workspace, relative to its root
            (``"model/tsg-zones"``) or absolute.
        destination : str
            The folder to archive into, as a URL:
            ``"hsm:///hs/projects/<project>/<folder>"`` for AWI's tape archive,
            or any fsspec URL (``"file:///..."``, ``"sftp://host/..."``).
        name : str, optional
            The parts' name stem, ``<name>-000.tar``...; the first path's last
            part by default.
        part_size : int, optional
            Largest part in bytes, :data:`~awiml.workspace.archive.DEFAULT_PART_SIZE`
            by default. A single larger file gets a part of its own.
        storage_options : mapping, optional
            Passed to the destination's filesystem (host, user...); never logged.
        progress : bool, optional
            Show a progress bar of the bytes archived.

        Returns
        -------
        pandas.DataFrame
            One row per part: ``part``, ``url``, ``files``, ``size``,
            ``sha256`` and ``status`` (``"archived"``, or ``"present"`` for
            a part an earlier call archived).

        Raises
        ------
        NotFoundError
            A path does not exist or is not in the workspace.
        ArchiveConflictError
            A part's name exists at the destination.
        TransferError
            An upload failed or did not read back identical; nothing kept its name.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> ws = Workspace.create(pathlib.Path(tempfile.mkdtemp()) / "ws")
        >>> _ = (ws.model / "run.txt").write_text("weights")
        >>> shelf = pathlib.Path(tempfile.mkdtemp()).as_uri()
        >>> ws.archive("model", shelf + "/results", progress=False)[["part", "files", "status"]]
                    part  files    status
        0  model-000.tar      1  archived
        >>> ws.archived()["path"].tolist()
        ['model/run.txt']
        """
        from .archive import DEFAULT_PART_SIZE, archive

        return archive(self, paths, destination, name=name,
                       part_size=DEFAULT_PART_SIZE if part_size is None else part_size,
                       storage_options=storage_options, progress=progress)

    def archived(self) -> pd.DataFrame:
        """Return the archive log: where each archived file of the workspace went.

        Returns
        -------
        pandas.DataFrame
            One row per archived file: ``path`` (in the workspace), ``size``,
            ``sha256``, ``part`` (the URL of the tar part that holds it),
            ``part_sha256`` and ``archived`` (a UTC timestamp).
        """
        from .archive import archived

        return archived(self)


class _Transfers:
    """Run the downloads of one fetch in daemon threads; the caller waits in short slices.

    Daemon threads, unlike a :class:`concurrent.futures.ThreadPoolExecutor`'s,
    never hold the interpreter at exit, so Ctrl-C ends a script or
    ``awiml fetch`` at once even while a transfer still waits for its server.
    """

    def __init__(
        self,
        fetch_one: Callable[[RemoteFile], DownloadResult],
        todo: Sequence[RemoteFile],
        workers: int,
        cancel: threading.Event,
    ) -> None:
        self._fetch_one = fetch_one
        self._todo: queue.SimpleQueue[RemoteFile] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[RemoteFile, Any, BaseException | None]] = (
            queue.SimpleQueue())
        self._count = len(todo)
        self._cancel = cancel
        for remote in todo:
            self._todo.put(remote)
        self._threads = [
            threading.Thread(target=self._work, name=f"awiml-fetch-{n}", daemon=True)
            for n in range(min(max(workers, 1), len(todo)))
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while not self._cancel.is_set():
            try:
                remote = self._todo.get_nowait()
            except queue.Empty:
                return
            try:
                self._done.put((remote, self._fetch_one(remote), None))
            except BaseException as exc:  # handed to the caller's thread
                self._done.put((remote, None, exc))

    def batches(
        self,
    ) -> Iterator[tuple[list[tuple[RemoteFile, DownloadResult]], dict[str, BaseException]]]:
        """Yield the downloads finished since the last batch, and the awiml errors of failed ones.

        Any other exception of a transfer is raised here.
        """
        left = self._count
        while left:
            try:
                items = [self._done.get(timeout=_WAIT_SLICE)]
            except queue.Empty:
                continue
            while True:
                try:
                    items.append(self._done.get_nowait())
                except queue.Empty:
                    break
            left -= len(items)
            finished, failed = [], {}
            for remote, result, error in items:
                if error is None:
                    finished.append((remote, result))
                elif isinstance(error, AwimlError):
                    failed[remote.source] = error
                else:
                    raise error
            yield finished, failed

    def stop(self, grace: float) -> None:
        """Cancel every transfer and wait up to ``grace`` seconds for them to end."""
        self._cancel.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        running = sum(thread.is_alive() for thread in self._threads)
        if running:
            logger.debug("%d transfer(s) still wait for their server; they stop when it "
                         "answers or its timeout passes", running)


def _interrupted_note(partial_dir: Path, todo: Sequence[RemoteFile]) -> str:
    """Say what an interrupted fetch kept and how to go on."""
    kept = [size for size in (partial_size(remote, partial_dir) for remote in todo) if size]
    if not kept:
        return ("awiml: the fetch was interrupted before its downloads received data; raw/ and "
                "its MANIFEST hold only the files completed before. Fetch again to start over.")
    one = len(kept) == 1
    files = "1 partial file is" if one else f"{len(kept)} partial files are"
    return (f"awiml: the fetch was interrupted; {files} kept ({human_size(sum(kept))}) in "
            f"{partial_dir}, and fetching the same URLs into this workspace again resumes "
            f"{'it' if one else 'them'}. raw/ and its MANIFEST hold only the files completed "
            "before.")


def _make_read_only(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _take_back(placed: Sequence[tuple[Path, DownloadResult]]) -> None:
    """Move files just published in ``raw/`` back to their verified downloads."""
    for dest, result in reversed(placed):
        try:
            dest.chmod(stat.S_IMODE(dest.stat().st_mode) | stat.S_IWUSR)
            publish(dest, result.path, sync=False)
        except OSError as exc:  # pragma: no cover - a rename back within one file system
            logger.error("could not take %s back out of raw/ (%s); run verify()", dest, exc)


def _unrecorded_error(ws: Workspace, names: Sequence[str], exc: OSError) -> TransferError:
    """Return the error of a fetch whose files could not be recorded in the manifest."""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    what = f"recording {shown} in {ws.manifest_path} of the workspace {ws.root}"
    full = exc.errno in NO_SPACE
    advice = "Free some space (or quota)" if full else "Check that the workspace is writable"
    return TransferError(
        f"{'disk full' if full else 'could not write'} while {what} ({exc.strerror or exc}); "
        "raw/ and its MANIFEST are as before; the verified downloads wait in "
        f"{ws.root / _META_DIR / 'downloads'}. {advice}, then fetch again: it resumes from "
        "those downloads."
    )


def _label(item: str | RemoteFile) -> str:
    return item.source if isinstance(item, RemoteFile) else redact_url(item)


def _checksums_by_url(
    items: Sequence[str | RemoteFile], checksum: str | Mapping[str, str] | None
) -> dict[str, str]:
    if checksum is None:
        return {}
    if isinstance(checksum, str):
        if len(items) != 1:
            raise ValueError(
                "checksum= as a single string needs exactly one URL; pass a mapping "
                "{url: checksum} for several"
            )
        item = items[0]
        checksum = {item.source if isinstance(item, RemoteFile) else item: checksum}
    for value in checksum.values():
        parse_checksum(value)
    return dict(checksum)


def _resolve(
    item: str | RemoteFile, session: Any, storage_options: Mapping[str, Any]
) -> list[RemoteFile]:
    """Expand a URL into the files it stands for."""
    if isinstance(item, RemoteFile):
        return [item]
    if not isinstance(item, str) or not item:
        raise NotFoundError(f"cannot fetch {item!r}: give a URL, a path or a RemoteFile")
    item = _pangaea_doi_url(item) or item
    scheme = urlsplit(item).scheme.lower()
    if scheme in ("http", "https"):
        name = unquote(urlsplit(item).path.rstrip("/").rsplit("/", 1)[-1])
        if not name:
            raise NotFoundError(
                f"{redact_url(item)} names no file; give the URL of a file, or pass a "
                "RemoteFile with a name"
            )
        return [RemoteFile(source=redact_url(item), name=name, url=item, session=session)]
    import fsspec.core

    target = _local_path(item) if scheme == "file" else item
    try:
        fs, path = fsspec.core.url_to_fs(target, **storage_options)
    except (ValueError, ImportError) as exc:
        raise NotFoundError(
            f"cannot fetch {redact_url(item)}: {exc}. Is the protocol spelled right, and is "
            "the package that provides it installed?"
        ) from None
    try:
        if hasattr(fs, "remote_files"):
            return list(fs.remote_files(path))
        return expand_fsspec_path(fs, path, protocol=_first(fs.protocol))
    except FileNotFoundError as exc:
        if isinstance(exc, AwimlError):
            raise
        hint = _near_pangaea_hint(item) if "://" not in item else None
        if hint:
            raise NotFoundError(hint) from None
        shown = redact_url(item) if target == item else f"{redact_url(item)} ({target})"
        raise NotFoundError(f"{shown} does not exist; check the path.") from None


#: A PANGAEA dataset id written almost as fetch takes it: ``pangaea:889513``,
#: ``PANGAEA.889513``, ``doi.org/10.1594/PANGAEA.889513``, ``D889513``, ``889513``.
_NEAR_PANGAEA = (
    re.compile(r"pangaea(?:[.:]|:/+)(\d+)\s*/?\s*$", re.IGNORECASE),
    re.compile(r"^\s*D?(\d+)\s*$"),
)


def _pangaea_doi_url(item: str) -> str | None:
    """Return ``pangaea://<id>`` for a PANGAEA DOI; an existing local file stays a path."""
    if DOI_PREFIX.lower() not in item.lower() or item.strip().lower().startswith("pangaea:"):
        return None
    if urlsplit(item).scheme.lower() not in ("http", "https") and os.path.exists(item):
        return None
    try:
        return f"pangaea://{dataset_id(item)}"
    except InvalidDataError:
        return None


def _near_pangaea_hint(item: str) -> str | None:
    """Say which form works when a missing local path looks like a PANGAEA dataset."""
    for pattern in _NEAR_PANGAEA:
        match = pattern.search(item)
        if match:
            number = int(match.group(1))
            return (
                f"{item!r} is neither a local file nor a form of PANGAEA name that fetch "
                f"reads. For PANGAEA dataset {number}, fetch 'pangaea://{number}' or its DOI "
                f"'{DOI_PREFIX}{number}' (also as 'doi:{DOI_PREFIX}{number}' or "
                f"'https://doi.org/{DOI_PREFIX}{number}'); for a file, check the path."
            )
    return None


def _local_path(url: str) -> str:
    """Return the path of a ``file://`` URL, percent-decoded unless only the raw one exists."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return url  # a host name: fsspec decides
    decoded = url2pathname(parts.path)
    if not os.path.exists(decoded) and os.path.exists(parts.path):
        return parts.path
    return decoded


def _place(
    remote: RemoteFile,
    subdir: str | None,
    checksum: str | None,
    metadata: Mapping[str, Any] | None,
) -> RemoteFile:
    name = PurePosixPath(subdir, remote.name).as_posix() if subdir else remote.name
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or ".." in parts or "\\" in name or (
        parts[0] == "MANIFEST" and len(parts) == 1
    ):
        raise WorkspaceError(
            f"cannot store {remote.source} as raw/{name}: the name must be a relative path "
            "inside raw/ (no '..', no leading '/', not MANIFEST)"
        )
    return replace(
        remote,
        name=name,
        checksum=remote.checksum if checksum is None else checksum,
        metadata={**remote.metadata, **(metadata or {})},
    )


def _check_unique_names(remotes: Sequence[RemoteFile]) -> None:
    seen: dict[str, str] = {}
    for remote in remotes:
        other = seen.setdefault(remote.name, remote.source)
        if other != remote.source:
            raise WorkspaceError(
                f"{other} and {remote.source} would both be stored as raw/{remote.name}; "
                "fetch them in separate calls with different subdir= values"
            )


def _already_present(path: Path, entry: ManifestEntry, remote: RemoteFile) -> bool:
    """Whether a recorded file can be kept without downloading it again."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if entry.source != remote.source or remote.size not in (None, size) or size != entry.size:
        return False
    if not remote.checksum:
        return True
    algorithm, digest = parse_checksum(remote.checksum)
    return f"{algorithm}:{digest}" in (entry.sha256, entry.published_checksum)


def _row(entry: ManifestEntry, status: str, attempts: int) -> dict[str, Any]:
    row = {name: getattr(entry, name) for name in _ROW_COLUMNS[:4]}
    return {**row, "status": status, "attempts": attempts}


def _conflict_message(
    dest: Path,
    entry: ManifestEntry | None,
    on_disk: str | None,
    remote: RemoteFile,
    result: DownloadResult,
) -> str:
    where = f"raw/{remote.name}"
    if on_disk is None and entry is not None:
        held = f"is recorded with {entry.sha256} (from {entry.source}) but is missing on disk"
    elif entry is not None and on_disk != entry.sha256:
        held = f"holds {on_disk}, which differs from its manifest record {entry.sha256}"
    else:
        origin = f" (from {entry.source}, {entry.retrieved})" if entry else " (not in MANIFEST)"
        held = f"already holds {on_disk}{origin}"
    return (
        f"{where} {held}; {remote.source} now gives {result.sha256}. raw/ is never "
        "overwritten: fetch the new version with another subdir=, or restore the recorded "
        f"file. Nothing in {dest.parent} was changed."
    )


def _raise_failures(failures: Mapping[str, BaseException], table: Any) -> None:
    if not failures:
        return
    kept = f"{len(table)} other file(s) were fetched or already present and are recorded."
    if len(failures) == 1:
        error = next(iter(failures.values()))
        if table is not None and len(table):
            error.add_note(kept)
        raise error
    lines = [f"{len(failures)} files could not be fetched. {kept}"]
    lines += [f"- {source}: {error}" for source, error in failures.items()]
    raise FetchError("\n".join(lines), failures, table)


def _workspace_readme(name: str) -> str:
    lines = [f"# {name}", "", "An awiml workspace. Folders:", ""]
    lines += [f"- `{folder}/`: {purpose}" for folder, purpose in LAYOUT.items()]
    lines += [
        "",
        "Files in `raw/` are read-only and recorded in `raw/MANIFEST` (JSON Lines: source,",
        "size, sha256, retrieval time). Add data with `awiml fetch URL` and check it with",
        "`awiml verify`, run anywhere inside this folder (or `-w PATH` from elsewhere).",
        "",
    ]
    return "\n".join(lines)
