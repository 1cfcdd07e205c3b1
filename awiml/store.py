"""ModelStore: versioned, verifiable models on a plain shared folder, with their provenance.

A store is a folder (a workspace's ``model/``, or any path) on a local disk
or a network share (NFS, SMB); no server or database runs. Every save makes a
new immutable *version* of a named model; *aliases* such as ``production``
name versions; every file is recorded with its size and sha256 and checked
before a model is deserialised.

**On-disk layout**::

    <store>/
      .gitignore                  keeps weights and bookkeeping out of git
      <name>/
        versions/
          1/
            version.json          what the version is (see below)
            MODEL_CARD.md         the human-readable summary
            figures/<file>.png    evaluation figures, when given
            model.skops ...       the serializer's files (see awiml.serialize):
                                  model.skops | steps.skops, architecture.json,
                                  model.weights.h5, model.keras, classifier.json
          2/ ...
          .tmp-<host>-<pid>-<hex>/      a save in progress (never listed nor loaded)
          .deleted-<host>-<pid>-<hex>/  a delete in progress
        aliases/
          production              one line: the version number, e.g. "3"
        .claims/
          1 2 ...                 one file per version number ever handed out
        .lock                     short-lived soft lock of alias changes and deletes

``version.json`` is JSON with sorted keys and an indent, so it diffs well:
``name``, ``version``, ``created`` (UTC), ``awiml_version``, ``layout_version``,
``kind`` (``"sklearn"``, ``"keras"`` or ``"sklearn+keras"``), ``files``
(every file of the version, relative path to ``role``, ``size`` and
``sha256``), ``model`` (what :func:`awiml.serialize.dump_model` returned:
architecture, hyper-parameters, classes, framework versions, file roles),
``data`` (training data: workspace path below ``raw/``, source, DOI, sha256,
size), ``metrics``, ``params``, ``tags``, ``notes``, ``training`` (epochs and
per-epoch history, when the model has one) and ``provenance`` (code commit,
branch, remote, dirty flag, environment, hardware, timing, user; see
:mod:`awiml.provenance`). Every path in it is relative, so a store (or a whole
workspace) can be copied or rsynced elsewhere and still loads.

The metadata (``version.json``, ``MODEL_CARD.md``, ``architecture.json``,
``classifier.json``, figures, aliases) is plain text a project can keep under
git; ``.gitignore`` keeps the weights (``*.skops``, ``*.h5``, ``*.keras``,
``*.npy``...) and the bookkeeping out of it. A clone without the weights lists
and compares versions but loads none: :meth:`ModelStore.verify` names the
missing files.

**Safety on shared file systems.**

- A version is written under ``versions/.tmp-...`` and published by one
  atomic ``rename`` to ``versions/<N>``, with its files already read-only
  and flushed to disk: readers see a complete version or none. A crash leaves
  only the temporary folder, which listing and loading ignore and a later
  save removes (after an hour, or at once when its process is known dead).
- Version numbers are claimed by creating ``.claims/<N>`` with
  ``O_CREAT | O_EXCL``; on a collision the next number is tried. Exclusive
  create is atomic on local file systems and on NFSv3 and later, so two
  processes, on one host or many, never get the same number. Numbers are
  never reused, not after a delete either. A save that fails hands its number
  back; one killed part-way leaves a gap.
- An alias is one small file, replaced atomically (write a temporary file,
  then ``os.replace``). Alias changes and deletes take the name's soft lock
  (:class:`filelock.SoftFileLock`, an exclusively created file, which works on
  NFS), so an alias never points at a version being deleted. Saves never wait
  for the lock except to set the alias they were asked to set.
- Loading checks the size and sha256 of every file it reads against
  ``version.json`` before anything is deserialised, and deserialises without
  running code from the files (:func:`awiml.serialize.load_model`).
  :meth:`ModelStore.verify` checks every file, the card, figures and the
  ``model.keras`` archive (which loading does not read) included.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import json
import logging
import math
import mmap
import os
import re
import secrets
import shutil
import socket
import stat
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from filelock import SoftFileLock, Timeout

from ._version import __version__
from .errors import (
    AwimlError,
    ChecksumMismatchError,
    ModelStoreError,
    NotFoundError,
    redact_url,
)
from .manifest import ManifestEntry
from .transfer import CHUNK_SIZE, file_checksum

if TYPE_CHECKING:
    import pandas as pd

    from .workspace import Workspace

__all__ = ["LAYOUT_VERSION", "ModelStore", "ModelStoreError", "StoreVerifyReport", "model_card"]

logger = logging.getLogger(__name__)

#: Version of the on-disk layout, recorded in every ``version.json``.
LAYOUT_VERSION = 1

#: Seconds after which a temporary folder of an unfinished save counts as abandoned.
STALE_AFTER = 3600.0

#: Files of one version larger than this in total are hashed in parallel threads.
_PARALLEL_BYTES = 4 * 1024 * 1024

#: Seconds to wait for a name's lock (alias changes, deletes) before giving up.
LOCK_TIMEOUT = 60.0

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_NUMBER = re.compile(r"[1-9][0-9]{0,17}")
_RESERVED_ALIASES = frozenset({"latest"})
_METADATA_ROLES = frozenset({"metadata", "card", "figure"})
_KEY_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "macro_f1", "f1", "roc_auc", "r2",
                "rmse", "mae", "loss")
_SECRET_WORDS = frozenset({"password", "passwd", "secret", "token", "apikey", "credential",
                           "credentials", "auth", "authorization"})
_GITIGNORE = """\
# awiml ModelStore: keep the metadata (version.json, MODEL_CARD.md, architecture.json,
# classifier.json, figures, aliases) in git, and the weights out of it.
*.skops
*.h5
*.hdf5
*.keras
*.npy
*.npz
*.pkl
*.pickle
*.joblib
*.pt
*.safetensors
# bookkeeping of saves and locks in progress
.claims/
.lock
.lock.*
.tmp-*/
.deleted-*/
aliases/.*.tmp
"""


@dataclass
class StoreVerifyReport:
    """What :meth:`ModelStore.verify` found.

    Parameters
    ----------
    versions : list of str
        The references checked (``"name@N"``).
    checked : int
        Files hashed and found as recorded.
    missing : list of str
        Recorded files not on disk, as ``"name@N: path"``.
    changed : list of str
        Files with another size or sha256 than recorded.
    extra : list of str
        Files in a version folder that ``version.json`` does not list
        (reported only; they do not make the report fail).
    unreadable : list of str
        Versions whose ``version.json`` cannot be read.
    dangling_aliases : list of str
        Aliases naming a version that does not exist, as ``"name@alias -> N"``.
    """

    versions: list[str] = field(default_factory=list)
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    dangling_aliases: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every recorded file is present and unchanged and every alias resolves."""
        return not (self.missing or self.changed or self.unreadable or self.dangling_aliases)

    def __str__(self) -> str:
        count = f"{len(self.versions)} version{'s' if len(self.versions) != 1 else ''}"
        if self.ok:
            head = f"store verified: {count}, {self.checked} files as recorded"
        else:
            head = f"store differs from its records ({count}, {self.checked} files as recorded):"
        lines = [head]
        for label, items in (("missing", self.missing), ("changed", self.changed),
                             ("unreadable", self.unreadable),
                             ("dangling alias", self.dangling_aliases),
                             ("extra (ignored)", self.extra)):
            lines += [f"  {label}: {item}" for item in items]
        return "\n".join(lines)


class ModelStore:
    """Versioned models with their architecture, weights and provenance, in a plain folder.

    Parameters
    ----------
    path_or_workspace : Workspace or path-like
        A :class:`~awiml.workspace.Workspace` (the store is its ``model/``
        folder), the root folder of a workspace (same), or any folder (created
        on the first save). When the store belongs to a workspace, ``data=``
        of :meth:`save` may name files in the workspace's ``raw/``.

    Attributes
    ----------
    path : pathlib.Path
        The store's folder.
    workspace : Workspace or None
        The workspace the store belongs to, if any.

    See Also
    --------
    awiml.serialize.dump_model : How each kind of model is written.
    awiml.provenance.collect_provenance : What is recorded about code, machine and time.

    Notes
    -----
    The module documentation describes the on-disk layout and why concurrent
    saves, from processes on one host or many sharing an NFS folder, are safe.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> store = ModelStore(tempfile.mkdtemp())
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> store.save(model, "toy", metrics={"accuracy": 1.0}, alias="production")
    'toy@1'
    >>> store.load("toy@production").predict([[0.9]])
    array([1])
    >>> store.versions("toy")[["version", "kind", "aliases", "accuracy"]]
       version     kind     aliases  accuracy
    0        1  sklearn  production       1.0
    """

    def __init__(self, path_or_workspace: Workspace | str | os.PathLike[str]) -> None:
        from .workspace import Workspace

        workspace: Workspace | None = None
        if isinstance(path_or_workspace, Workspace):
            workspace = path_or_workspace
            path = workspace.model
        else:
            path = Path(path_or_workspace).expanduser().absolute()
            if _is_workspace_root(path):
                workspace = Workspace(path)
                path = workspace.model
            elif path.name == "model" and _is_workspace_root(path.parent):
                workspace = Workspace(path.parent)
        self.path: Path = Path(path)
        self.workspace = workspace

    def __repr__(self) -> str:
        return f"ModelStore({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ save

    def save(
        self,
        model: Any,
        name: str,
        *,
        data: Any = None,
        metrics: Any = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | Iterable[str] | None = None,
        alias: str | None = None,
        notes: str | None = None,
        training_time: float | tuple[Any, Any] | None = None,
        figures: Mapping[str, Any] | None = None,
        code_dir: str | os.PathLike[str] | None = None,
        keras_archive: bool = False,
    ) -> str:
        """Store ``model`` as the next version of ``name``, with its provenance.

        Parameters
        ----------
        model : object
            A fitted scikit-learn estimator or Pipeline, a built Keras 3 model,
            an :class:`~awiml.classify.KerasClassifier` or a Pipeline ending in
            one (see :func:`awiml.serialize.model_kind`).
        name : str
            The model's name: letters, digits, ``_``, ``.`` and ``-``, starting
            with a letter or digit, at most 100 characters.
        data : object or list of objects, optional
            The training data. Each item may be a
            :class:`~awiml.workspace.Workspace` (all files of its ``raw/``), a
            :class:`~awiml.manifest.ManifestEntry`, a path to a file or folder
            in a workspace's ``raw/`` (absolute, relative to the working
            directory, or relative to the store's workspace ``raw/``), which
            is looked up in that workspace's manifest for its source, DOI and
            sha256; a path to another local file (recorded by file name, size
            and sha256 only); a URL or DOI string; or a dict recorded as given.
        metrics : dict or object with ``to_dict()``, optional
            Evaluation results, e.g. ``{"accuracy": 0.93}`` or an
            :class:`~awiml.classify.EvaluationReport` (whose confusion matrix
            and learning curves then become the version's figures, unless
            ``figures`` is given).
        params : dict, optional
            JSON-able parameters of the training run (the model's own
            hyper-parameters are recorded anyway).
        tags : dict or list of str, optional
            JSON-able labels, e.g. ``{"cruise": "PS103"}``. In ``params``,
            ``tags`` and ``data`` dicts, values under secret-looking keys
            (``password``, ``token``, ``api_key``...) are stored as ``***``.
        alias : str, optional
            Also point this alias at the new version.
        notes : str, optional
            Free text for the model card.
        training_time : float or (start, end), optional
            The training duration in seconds, or its start and end (datetimes,
            epoch seconds or ISO strings). Without it, the model's
            ``fit_started_``/``fit_ended_`` attributes are used when present.
        figures : dict of str to bytes, path or matplotlib Figure, optional
            Evaluation figures by file name (``{"confusion.png": png_bytes}``);
            a Figure is saved as PNG. Stored in ``figures/`` and shown in the
            model card.
        code_dir : path-like, optional
            A folder in the git working tree of the training code, for the
            commit and dirty state. Defaults to the current working directory.
        keras_archive : bool, default=False
            For Keras networks, also keep the usual ``model.keras`` archive
            beside the architecture and weights files, for people who open
            it with Keras directly. awiml never loads from it; it costs the
            weights' size again on disk and about the time of a
            ``keras.Model.save``.

        Returns
        -------
        str
            The new version's reference, ``"name@N"``.

        Raises
        ------
        TypeError
            If ``model`` is of no supported kind, or ``params``, ``tags`` or
            ``metrics`` hold values that are not JSON-able (the message names
            the key).
        ValueError
            If ``name`` or ``alias`` is not a valid name.
        awiml.errors.NotFoundError
            If a ``data`` item names nothing that exists.

        Notes
        -----
        Nothing of the new version is visible until it is complete: a failure
        (or a crash) part-way leaves no version behind.
        """
        from .provenance import collect_provenance
        from .serialize import dump_model

        _check_name(name, "model name")
        if alias is not None:
            _check_alias(alias)
        record_params = _to_json(dict(params or {}), "params", secret_keys=True)
        record_tags = _tags(tags)
        record_metrics = _metrics(metrics)
        record_data = self._data_references(data)
        figure_bytes = _figures(figures, metrics)
        if notes is not None and not isinstance(notes, str):
            raise TypeError(f"notes must be a str, not {type(notes).__name__}")
        started, ended, duration, timing_source = _training_time(training_time, model)
        training = _training_history(model)
        # git runs as subprocesses: collect provenance beside the serializer's work
        from concurrent.futures import ThreadPoolExecutor, wait

        background = ThreadPoolExecutor(max_workers=2)  # later also the sealing
        provenance_job = background.submit(collect_provenance, code_dir=code_dir,
                                           started=started, ended=ended)

        model_dir = self.path / name
        versions_dir = model_dir / "versions"
        try:
            for folder in (versions_dir, model_dir / "aliases", model_dir / ".claims"):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelStoreError(
                f"cannot create {model_dir}: {exc.strerror or exc}. Check the path and your "
                "write permission."
            ) from exc
        self._write_gitignore()
        _clean_stale(versions_dir)

        tmp = versions_dir / f".tmp-{_host_tag()}-{os.getpid()}-{secrets.token_hex(6)}"
        tmp.mkdir()
        number: int | None = None
        published = False
        sealing = None
        try:
            known: dict[str, str] = {}
            saved = dump_model(model, tmp, keras_archive=keras_archive, digests=known,
                               durable=True)
            model_files = _relative_files(tmp)
            roles = {path: role for role, path in saved.get("files", {}).items()}
            for path in model_files:
                if path in ("version.json", "MODEL_CARD.md") or path.startswith("figures/"):
                    raise ModelStoreError(
                        f"the serializer wrote {path!r}, a name the store reserves; this is a "
                        "bug in awiml.serialize"
                    )
            files = {path: {"role": roles.get(path, "model")} for path in model_files}
            if figure_bytes:
                (tmp / "figures").mkdir()
                for figure_name, content in figure_bytes.items():
                    (tmp / "figures" / figure_name).write_bytes(content)
                    files[f"figures/{figure_name}"] = {"role": "figure"}
            # hashing and syncing (the files dump_model hashed it also synced) run in the
            # background while the version number is claimed and the card is written
            sealing = background.submit(_seal_all, tmp, list(files), known, synced=known)

            provenance = provenance_job.result()
            if duration is not None:
                provenance["timing"]["duration_seconds"] = duration
            provenance["timing"]["source"] = timing_source
            number = self._claim(name)
            record = {
                "awiml_version": __version__,
                "created": _utc_now(),
                "data": record_data,
                "files": files,
                "kind": saved["kind"],
                "layout_version": LAYOUT_VERSION,
                "metrics": record_metrics,
                "model": _to_json(saved, "the serializer's description"),
                "name": name,
                "notes": notes,
                "params": record_params,
                "provenance": provenance,
                "tags": record_tags,
                "training": training,
                "version": number,
            }
            card = model_card(record, aliases=[alias] if alias else [])  # needs no digests
            (tmp / "MODEL_CARD.md").write_text(card, encoding="utf-8")
            card_facts = _seal(tmp / "MODEL_CARD.md")
            for path, facts in sealing.result().items():
                files[path].update(facts)
            record["files"]["MODEL_CARD.md"] = {"role": "card", **card_facts}
            (tmp / "version.json").write_text(_dumps(record), encoding="utf-8")
            _seal(tmp / "version.json")
            _fsync_dir(tmp)
            final = versions_dir / str(number)
            try:
                os.rename(tmp, final)
            except OSError as exc:
                raise ModelStoreError(
                    f"could not publish {name}@{number}: {final} exists or cannot be created "
                    f"({exc.strerror or exc}). Is another tool writing into {versions_dir}?"
                ) from exc
            published = True
            _fsync_dir(versions_dir)
        except OSError as exc:
            if not published and not isinstance(exc, AwimlError):
                exc.add_note(f"saving {name!r} in {self.path} failed, so no version was "
                             f"published and the others are untouched; {_os_advice(exc)}")
            raise
        finally:
            background.shutdown(wait=False)
            if not published:
                if sealing is not None:  # let it finish before its files are removed
                    wait([sealing])
                _force_rmtree(tmp)
                if number is not None:  # never visible: hand the number back
                    (model_dir / ".claims" / str(number)).unlink(missing_ok=True)
        ref = f"{name}@{number}"
        logger.info("saved %s in %s", ref, self.path)
        if alias is not None:
            try:
                self.alias(name, alias, number)
            except AwimlError as exc:
                exc.add_note(f"{ref} was saved; only the alias {alias!r} was not set")
                raise
        return ref

    def _write_gitignore(self) -> None:
        target = self.path / ".gitignore"
        if target.exists():
            return
        tmp = self.path / f".gitignore.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(_GITIGNORE, encoding="utf-8")
        try:
            os.link(tmp, target)  # never replaces a .gitignore written meanwhile
        except OSError:
            if not target.exists():
                os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _claim(self, name: str) -> int:
        """Claim the next free version number of ``name`` with an exclusive create."""
        model_dir = self.path / name
        claims = model_dir / ".claims"
        versions = model_dir / "versions"
        number = max([0, *_numbers(claims), *_numbers(versions)]) + 1
        info = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "claimed": _utc_now()})
        for _ in range(100_000):
            try:
                fd = os.open(claims / str(number), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                number += 1
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(info + "\n")
            if (versions / str(number)).exists():  # published without a claim (copied store)
                number += 1
                continue
            return number
        raise ModelStoreError(f"could not claim a version number in {claims}")  # pragma: no cover

    def _data_references(self, data: Any) -> builtins.list[dict[str, Any]]:
        from .workspace import Workspace

        if data is None:
            return []
        items = [data] if isinstance(data, (str, os.PathLike, Mapping, ManifestEntry,
                                            Workspace)) else list(data)
        refs: builtins.list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, Workspace):
                refs += [_entry_reference(e) for e in item.entries().values()]
            elif isinstance(item, ManifestEntry):
                refs.append(_entry_reference(item))
            elif isinstance(item, Mapping):
                refs.append(_to_json(dict(item), "data", secret_keys=True))
            elif isinstance(item, (str, os.PathLike)):
                refs += self._path_references(item)
            else:
                raise TypeError(
                    f"data: cannot record a {type(item).__name__}; give a Workspace, a "
                    "ManifestEntry, a path in a workspace's raw/, a URL or DOI, or a dict"
                )
        unique: dict[str, dict[str, Any]] = {}
        for ref in refs:
            unique.setdefault(_dumps(ref), ref)
        return sorted(unique.values(), key=lambda r: (str(r.get("path", r.get("name", ""))),
                                                      str(r.get("source", ""))))

    def _path_references(self, item: str | os.PathLike[str]) -> builtins.list[dict[str, Any]]:
        text = os.fspath(item)
        candidates = [Path(text).expanduser().absolute()]
        if self.workspace is not None and not Path(text).is_absolute():
            relative = PurePosixPath(Path(text).as_posix())
            if relative.parts and relative.parts[0] == "raw":
                relative = PurePosixPath(*relative.parts[1:])
            candidates.append(self.workspace.raw / relative)
        for path in candidates:
            if path.exists():
                return _local_references(path)
        if isinstance(item, str) and (_looks_like_url_or_doi(text)):
            return [{"source": redact_url(text), **_doi_of(text, {})}]
        where = "" if self.workspace is None else f" nor in {self.workspace.raw}"
        raise NotFoundError(
            f"data: {text} does not exist (relative to {Path.cwd()}{where}). Give an existing "
            "path, a URL or DOI, a ManifestEntry or a Workspace."
        )

    # ------------------------------------------------------------------ aliases

    def alias(self, name: str, alias: str, version: int | str) -> str:
        """Point ``alias`` of model ``name`` at a version.

        Parameters
        ----------
        name : str
            The model.
        alias : str
            The symbolic name, e.g. ``"production"``; a valid name that is not
            a number and not ``"latest"``.
        version : int or str
            A version number, or a reference resolving to one of ``name``'s
            versions (``"3"``, ``"name@3"``, ``"staging"``, ``"name@latest"``).

        Returns
        -------
        str
            The reference the alias now resolves to, ``"name@N"``.

        Raises
        ------
        awiml.errors.NotFoundError
            If the version does not exist; nothing changes.
        ValueError
            If the alias is not a valid alias name.
        """
        _check_name(name, "model name")
        _check_alias(alias)
        self._require_name(name)
        with self._lock(name):
            number = self._resolve_version_of(name, version)
            aliases = self.path / name / "aliases"
            aliases.mkdir(parents=True, exist_ok=True)
            tmp = aliases / f".{alias}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            try:
                with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(f"{number}\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, aliases / alias)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(aliases)
        return f"{name}@{number}"

    def _resolve_version_of(self, name: str, version: int | str) -> int:
        if isinstance(version, bool):
            raise TypeError("version must be an int or a reference, not a bool")
        if isinstance(version, int):
            ref = f"{name}@{version}"
        elif isinstance(version, str):
            ref = version if "@" in version else f"{name}@{version}"
        else:
            raise TypeError(f"version must be an int or a str, not {type(version).__name__}")
        ref_name, number = self._resolve(ref)
        if ref_name != name:
            raise ValueError(f"{version!r} names a version of {ref_name!r}, not of {name!r}")
        return number

    def _lock(self, name: str) -> _NameLock:
        return _NameLock(self.path / name / ".lock")

    def _aliases(self, name: str) -> dict[str, int | None]:
        """Return every alias of ``name`` and the number it holds (None if unreadable)."""
        folder = self.path / name / "aliases"
        out: dict[str, int | None] = {}
        try:
            entries = sorted(os.listdir(folder))
        except FileNotFoundError:
            return out
        for entry in entries:
            if entry.startswith(".") or not _NAME.fullmatch(entry):
                continue
            try:
                text = (folder / entry).read_text(encoding="utf-8").strip()
            except (FileNotFoundError, IsADirectoryError):
                continue
            out[entry] = int(text) if _NUMBER.fullmatch(text) else None
        return out

    # ------------------------------------------------------------------ lookups

    def _names(self) -> builtins.list[str]:
        try:
            entries = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return []
        return [e for e in entries if _NAME.fullmatch(e) and (self.path / e / "versions").is_dir()]

    def _require_name(self, name: str) -> None:
        _check_name(name, "model name")
        names = self._names()
        if name not in names:
            listing = ", ".join(names) if names else "none (the store is empty)"
            raise NotFoundError(f"no model named {name!r} in the store {self.path}; models: "
                                f"{listing}")

    def _versions(self, name: str) -> builtins.list[int]:
        folder = self.path / name / "versions"
        return sorted(n for n in _numbers(folder) if (folder / str(n) / "version.json").is_file())

    def _resolve(self, ref: str) -> tuple[str, int]:
        """Resolve a reference to ``(name, version number)`` or raise NotFoundError."""
        if not isinstance(ref, str):
            raise TypeError(f"a model reference is a str like 'name@3', not {type(ref).__name__}")
        name, _, selector = ref.partition("@")
        self._require_name(name)
        selector = selector or "latest"
        versions = self._versions(name)
        aliases = self._aliases(name)
        if selector == "latest":
            if not versions:
                raise NotFoundError(f"{name} has no versions in {self.path}")
            return name, versions[-1]
        if _NUMBER.fullmatch(selector):
            number = int(selector)
            if number in versions:
                return name, number
            raise NotFoundError(f"{name} has no version {number}; {_describe(versions, aliases)}")
        if selector in aliases:
            number = aliases[selector]
            if number is not None and number in versions:
                return name, number
            raise NotFoundError(
                f"the alias {name}@{selector} names version {number}, which does not exist; "
                f"point it at another version with alias(). {_describe(versions, aliases)}"
            )
        if not _NAME.fullmatch(selector):
            raise ValueError(f"{ref!r} is not a model reference: use 'name', 'name@3', "
                             "'name@latest' or 'name@alias'")
        raise NotFoundError(f"{name} has no alias {selector!r}; {_describe(versions, aliases)}")

    def _record(self, name: str, number: int) -> dict[str, Any]:
        path = self.path / name / "versions" / str(number) / "version.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"{name}@{number}: {path} is missing") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ChecksumMismatchError(
                f"{name}@{number}: {path} is not valid JSON ({exc}); the version is damaged. "
                "Restore it from a copy, or delete it."
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
            raise ChecksumMismatchError(f"{name}@{number}: {path} is not a version record")
        return record

    # ------------------------------------------------------------------ load

    def load(self, ref: str, *, trusted: Iterable[str] = ()) -> Any:
        """Load a stored model after checking its files, without running code from them.

        Parameters
        ----------
        ref : str
            ``"name@3"``, ``"name@production"`` (an alias), ``"name@latest"``
            or ``"name"`` (the latest version).
        trusted : iterable of str, optional
            Extra type names to accept beyond awiml's trusted-types policy
            (see :func:`awiml.serialize.load_model`); only for reviewed types
            from a file whose origin you trust.

        Returns
        -------
        object
            The fitted model.

        Raises
        ------
        awiml.errors.NotFoundError
            If the name, version or alias does not exist (the message lists
            what does), or a file of the version is missing.
        awiml.errors.ChecksumMismatchError
            If a file's size or sha256 differs from ``version.json``; the
            message names the file and no model is returned. (The digests
            are computed while the files are parsed, which runs no code
            from them.)
        awiml.serialize.UntrustedModelError
            If a file names types outside the trusted policy.
        """
        from .serialize import load_model

        name, number = self._resolve(ref)
        folder = self.path / name / "versions" / str(number)
        record = self._record(name, number)
        needed = {path: entry for path, entry in record["files"].items()
                  if entry.get("role") not in _METADATA_ROLES
                  and not str(entry.get("role")).endswith("keras_archive")}
        # Sizes and paths first: cheap, and nothing is read before they are right.
        for path in sorted(needed):
            self._raise_problem(name, number, folder, path, _check_size(folder, path, needed[path]))
        # The sha256 check runs in threads while the loader parses the same files
        # (both release the GIL). Parsing runs no code from the files: the trusted-types
        # audit and Keras' safe mode see to that. The model is handed out only once every
        # digest matched; on a mismatch it is dropped and the damaged file is named.
        from concurrent.futures import ThreadPoolExecutor

        # Each file is hashed from a memory map of the open file (one call that holds no
        # GIL, no copy); skops files are parsed from that same open file.
        with contextlib.ExitStack() as opened, \
                ThreadPoolExecutor(max_workers=min(len(needed), 4) or 1) as pool:
            contents: dict[str, Any] = {}
            digests = {}
            for path in needed:
                handle = opened.enter_context(open(folder / path, "rb"))
                mapped = _map_read_only(handle)
                if mapped is None:
                    digests[path] = pool.submit(_digest_in_background, folder / path)
                else:
                    opened.callback(mapped.close)
                    digests[path] = pool.submit(_digest_of_buffer, mapped)
                if path.endswith(".skops"):
                    contents[path] = handle

            def check_digests() -> None:
                for path in sorted(digests):
                    problem = _digest_problem(digests[path].result(), needed[path])
                    self._raise_problem(name, number, folder, path, problem)

            try:
                model = load_model(folder, record["model"], trusted=trusted, contents=contents)
            except BaseException:
                check_digests()  # a damaged file explains a failed load best
                raise
            check_digests()
        return model

    @staticmethod
    def _raise_problem(name: str, number: int, folder: Path, path: str,
                       problem: str | None) -> None:
        """Raise the error for a stored file that is not as recorded (``None``: no problem)."""
        if problem is None:
            return
        if problem == "missing":
            raise NotFoundError(
                f"{name}@{number}: {folder / path} is missing. Weights are kept out of git "
                "by the store's .gitignore: copy the store folder from where the model "
                "was saved (e.g. with rsync)."
            )
        raise ChecksumMismatchError(
            f"{name}@{number}: {folder / path} {problem}; it was changed or damaged "
            "after saving, so it is not loaded. Restore it from a copy, or save the "
            "model again."
        )

    # ------------------------------------------------------------------ tables

    def list(self) -> pd.DataFrame:
        """Return one row per model name.

        Returns
        -------
        pandas.DataFrame
            Columns ``name``, ``latest`` (version number), ``versions``
            (count), ``aliases`` (``"production=3, staging=4"``), ``kind`` and
            ``created`` of the latest version, and its key ``metric`` and
            ``value`` (accuracy, balanced accuracy, F1... the first recorded).
        """
        import pandas as pd

        rows = []
        for name in self._names():
            versions = self._versions(name)
            if not versions:
                continue
            latest = versions[-1]
            try:
                record = self._record(name, latest)
            except AwimlError:
                record = {}
            metric, value = _key_metric(record.get("metrics"))
            aliases = self._aliases(name)
            rows.append({
                "name": name,
                "latest": latest,
                "versions": len(versions),
                "aliases": ", ".join(f"{a}={n}" for a, n in aliases.items()),
                "kind": record.get("kind"),
                "created": record.get("created"),
                "metric": metric,
                "value": value,
            })
        columns = ["name", "latest", "versions", "aliases", "kind", "created", "metric", "value"]
        table = pd.DataFrame(rows, columns=columns)
        table["created"] = pd.to_datetime(table["created"], utc=True)
        return table

    def versions(self, name: str) -> pd.DataFrame:
        """Return one row per version of ``name``.

        Parameters
        ----------
        name : str
            The model.

        Returns
        -------
        pandas.DataFrame
            Columns ``version``, ``created``, ``kind``, ``aliases``, one
            column per numeric metric (``accuracy``...), ``commit`` (first 12
            hex digits, or None when unknown), ``dirty``, ``user`` and
            ``host``; oldest first.

        Raises
        ------
        awiml.errors.NotFoundError
            If there is no model ``name``.
        """
        import pandas as pd

        self._require_name(name)
        by_version: dict[int, builtins.list[str]] = {}
        for alias, number in self._aliases(name).items():
            if number is not None:
                by_version.setdefault(number, []).append(alias)
        rows, metric_names = [], []
        for number in self._versions(name):
            try:
                record = self._record(name, number)
            except AwimlError:
                record = {}
            prov = record.get("provenance") or {}
            code = prov.get("code") or {}
            row = {
                "version": number,
                "created": record.get("created"),
                "kind": record.get("kind"),
                "aliases": ", ".join(by_version.get(number, [])),
            }
            for key, value in _scalar_metrics(record.get("metrics")).items():
                column = f"metric.{key}" if key in _VERSION_COLUMNS else key
                if column not in metric_names:
                    metric_names.append(column)
                row[column] = value
            commit = code.get("commit")
            row.update({
                "commit": commit[:12] if isinstance(commit, str) else None,
                "dirty": code.get("dirty"),
                "user": prov.get("user"),
                "host": (prov.get("hardware") or {}).get("hostname"),
            })
            rows.append(row)
        columns = ["version", "created", "kind", "aliases", *metric_names, "commit", "dirty",
                   "user", "host"]
        table = pd.DataFrame(rows, columns=columns)
        table["created"] = pd.to_datetime(table["created"], utc=True)
        return table

    def info(self, ref: str) -> dict[str, Any]:
        """Return everything recorded about one version.

        Parameters
        ----------
        ref : str
            A model reference (see :meth:`load`).

        Returns
        -------
        dict
            The content of ``version.json`` plus ``ref`` (``"name@N"``),
            ``aliases`` (those now pointing at it) and ``path`` (the version's
            folder, absolute, on this machine).
        """
        name, number = self._resolve(ref)
        record = self._record(name, number)
        record["ref"] = f"{name}@{number}"
        record["aliases"] = sorted(a for a, n in self._aliases(name).items() if n == number)
        record["path"] = str(self.path / name / "versions" / str(number))
        return record

    def diff(self, ref_a: str, ref_b: str) -> pd.DataFrame:
        """Show what differs between two versions.

        Parameters
        ----------
        ref_a, ref_b : str
            Model references (see :meth:`load`); they may name different models.

        Returns
        -------
        pandas.DataFrame
            Columns ``field``, ``a``, ``b``: one row per difference in kind,
            code (commit, branch, dirty, remote), training data (one row per
            file whose sha256 differs or that only one version used, ``a``
            and ``b`` being the sha256 values), run parameters, tags,
            metrics, the model's hyper-parameters and architecture, framework
            and package versions, Keras backend and hardware. No rows when
            the two versions agree on all of these. ``table.attrs`` holds
            the two resolved references.
        """
        import pandas as pd

        resolved = [self._resolve(ref) for ref in (ref_a, ref_b)]
        flat = [_comparable(self._record(*r)) for r in resolved]
        rows = []
        for key in sorted(set(flat[0]) | set(flat[1]), key=_field_order):
            a, b = flat[0].get(key), flat[1].get(key)
            if a != b:
                rows.append({"field": key, "a": a, "b": b})
        table = pd.DataFrame(rows, columns=["field", "a", "b"], dtype=object)
        table.attrs["a"], table.attrs["b"] = (f"{n}@{v}" for n, v in resolved)
        return table

    # ------------------------------------------------------------------ verify, delete

    def verify(self, ref: str | None = None) -> StoreVerifyReport:
        """Re-hash stored files and compare them with their records.

        Parameters
        ----------
        ref : str, optional
            ``None`` checks every version of every model; a bare name checks
            every version of that model; ``"name@N"`` or ``"name@alias"``
            checks one version.

        Returns
        -------
        StoreVerifyReport
            Missing and changed files, unreadable records and dangling
            aliases; ``report.ok`` is True when there are none.
        """
        if ref is None:
            names = self._names()
            targets = [(n, v) for n in names for v in self._versions(n)]
        elif "@" not in ref:
            self._require_name(ref)
            names = [ref]
            targets = [(ref, v) for v in self._versions(ref)]
        else:
            targets = [self._resolve(ref)]
            names = [targets[0][0]]
        found: dict[str, builtins.list[str]] = {key: [] for key in
                                       ("missing", "changed", "extra", "unreadable")}
        checked = 0
        for name, number in targets:
            label = f"{name}@{number}"
            folder = self.path / name / "versions" / str(number)
            try:
                record = self._record(name, number)
            except AwimlError as exc:
                found["unreadable"].append(f"{label}: {exc}")
                continue
            files = record["files"]
            problems = _map_files(lambda p, f=folder, e=files: _check_file(f, p, e[p]), folder,
                                  list(files))
            for path, problem in sorted(problems.items()):
                if problem is None:
                    checked += 1
                elif problem == "missing":
                    found["missing"].append(f"{label}: {path}")
                else:
                    found["changed"].append(f"{label}: {path} ({problem})")
            listed = {*record["files"], "version.json"}
            found["extra"] += [f"{label}: {p}" for p in _relative_files(folder)
                               if p not in listed]
        dangling = []
        for name in names:
            versions = set(self._versions(name))
            dangling += [f"{name}@{alias} -> {number}"
                         for alias, number in self._aliases(name).items()
                         if number not in versions]
        return StoreVerifyReport(versions=[f"{n}@{v}" for n, v in targets], checked=checked,
                                 dangling_aliases=dangling, **found)

    def delete(self, ref: str, *, force: bool = False) -> builtins.list[str]:
        """Delete one version.

        Parameters
        ----------
        ref : str
            ``"name@N"`` or ``"name@alias"``; a bare name is refused (delete
            versions one by one).
        force : bool, default=False
            Also delete the aliases that point at the version. Without it, a
            version that an alias names is not deleted.

        Returns
        -------
        list of str
            The aliases removed with the version (empty unless ``force``).

        Raises
        ------
        ModelStoreError
            If an alias points at the version and ``force`` is False; the
            message names the aliases.
        awiml.errors.NotFoundError
            If the version does not exist.

        Notes
        -----
        The version's number is never handed out again.
        """
        if not isinstance(ref, str) or "@" not in ref:
            raise ValueError(f"delete needs one version, 'name@N' or 'name@alias', not {ref!r}")
        name = ref.partition("@")[0]
        self._require_name(name)
        with self._lock(name):
            name, number = self._resolve(ref)
            pointing = sorted(a for a, n in self._aliases(name).items() if n == number)
            if pointing and not force:
                raise ModelStoreError(
                    f"{name}@{number} is named by the alias(es) {', '.join(pointing)}; point "
                    f"them elsewhere with alias() first, or delete with force=True to remove "
                    "them too"
                )
            for alias in pointing:
                (self.path / name / "aliases" / alias).unlink(missing_ok=True)
            versions_dir = self.path / name / "versions"
            doomed = versions_dir / f".deleted-{_host_tag()}-{os.getpid()}-{secrets.token_hex(6)}"
            os.rename(versions_dir / str(number), doomed)
            _fsync_dir(versions_dir)
        _force_rmtree(doomed)
        logger.info("deleted %s@%s (and aliases %s)", name, number, pointing)
        return pointing


# ---------------------------------------------------------------------- the model card


def model_card(record: Mapping[str, Any], aliases: Iterable[str] = ()) -> str:
    """Render a version record as a Markdown model card.

    Parameters
    ----------
    record : mapping
        The content of a ``version.json``.
    aliases : iterable of str, optional
        Aliases to mention as set when the version was created.

    Returns
    -------
    str
        Markdown: summary, notes, model and architecture, training data,
        metrics, figures, parameters, code, environment, hardware, training
        time, files and how to load the model.
    """
    name, number = record.get("name"), record.get("version")
    saved = record.get("model") or {}
    prov = record.get("provenance") or {}
    code = prov.get("code") or {}
    env = prov.get("environment") or {}
    hw = prov.get("hardware") or {}
    timing = prov.get("timing") or {}
    aliases = list(aliases)
    out = [f"# {name}, version {number}", ""]
    summary = [
        ("Reference", f"`{name}@{number}`"),
        ("Kind", record.get("kind")),
        ("Created", record.get("created")),
        ("Created by", prov.get("user")),
        ("Aliases at creation", ", ".join(aliases) or None),
        ("Classes", _short(", ".join(map(str, saved["classes"])), 300)
         if saved.get("classes") else None),
        ("awiml", record.get("awiml_version")),
    ]
    out += _table(("", ""), [(k, v) for k, v in summary if v is not None])
    if record.get("notes"):
        out += ["## Notes", "", str(record["notes"]), ""]

    out += ["## Model", ""]
    out += _architecture_lines(saved.get("architecture") or {})
    hyper = saved.get("params") or {}
    if hyper:
        flat = _flatten(hyper)
        rows = [(k, _cell(v)) for k, v in list(flat.items())[:60]]
        out += ["### Hyper-parameters", "", *_table(("parameter", "value"), rows)]
        if len(flat) > 60:
            out += [f"... and {len(flat) - 60} more in `version.json`.", ""]
    if saved.get("untrusted_types"):
        out += ["Loading needs `trusted=` for these types, outside awiml's policy: "
                + ", ".join(f"`{t}`" for t in saved["untrusted_types"]), ""]

    out += ["## Training data", ""]
    data = record.get("data") or []
    if data:
        rows = [(
            r.get("path") or r.get("name") or "",
            r.get("source") or "",
            r.get("doi") or "",
            _short_hash(r.get("sha256")),
        ) for r in data]
        out += _table(("file (in raw/)", "source", "DOI", "sha256"), rows)
    else:
        out += ["Not recorded.", ""]

    out += ["## Metrics", ""]
    metrics = record.get("metrics") or {}
    scalars = _scalar_metrics(metrics)
    if scalars:
        out += _table(("metric", "value"), [(k, _number(v)) for k, v in scalars.items()])
    per_class = metrics.get("per_class") if isinstance(metrics, dict) else None
    if isinstance(per_class, list) and per_class and all(isinstance(r, dict) for r in per_class):
        keys = list(per_class[0])
        out += ["### Per class", ""]
        out += _table(keys, [[_number(r.get(k)) for k in keys] for r in per_class])
    if not scalars and not per_class:
        out += ["Not recorded.", ""]
    figures = sorted(p for p, e in (record.get("files") or {}).items()
                     if e.get("role") == "figure")
    if figures:
        out += ["## Figures", ""]
        for path in figures:
            out += [f"![{PurePosixPath(path).stem}]({path})", ""]

    if record.get("params"):
        out += ["## Run parameters", ""]
        out += _table(("parameter", "value"),
                      [(k, _cell(v)) for k, v in _flatten(record["params"]).items()])
    if record.get("tags"):
        out += ["## Tags", ""]
        out += _table(("tag", "value"),
                      [(k, _cell(v)) for k, v in _flatten(record["tags"]).items()])

    out += ["## Code", ""]
    if code.get("status") == "git":
        changed = code.get("changed_count", 0)
        rows = [
            ("Commit", f"`{code.get('commit')}`" if code.get("commit") else "none yet"),
            ("Branch", code.get("branch") or "(detached)"),
            ("Remote", code.get("remote") or "none"),
            ("Uncommitted changes", f"yes, {changed} file(s)" if code.get("dirty") else "no"),
        ]
        out += _table(("", ""), rows)
        if code.get("changed"):
            out += ["Changed files: " + ", ".join(f"`{c}`" for c in code["changed"]), ""]
    else:
        out += [f"Unknown ({code.get('reason', 'not recorded')}).", ""]

    out += ["## Environment", ""]
    rows = [("Python", f"{env.get('python', '?')} ({env.get('python_implementation', '?')})"),
            ("Platform", env.get("platform")), ("Keras backend", env.get("keras_backend"))]
    rows += [(package, version) for package, version in (env.get("packages") or {}).items()]
    out += _table(("", ""), [(k, v) for k, v in rows if v is not None])

    out += ["## Hardware", ""]
    gpus = hw.get("gpus") or []
    rows = [
        ("Host", hw.get("hostname")),
        ("CPU", hw.get("cpu_model")),
        ("CPUs", f"{hw.get('cpu_usable')} usable of {hw.get('cpu_count')}"
         if hw.get("cpu_count") else None),
        ("Memory", _bytes(hw.get("memory_total_bytes"))),
        ("GPU", ", ".join(f"{g.get('name')} ({_bytes(g.get('memory_bytes'))})" for g in gpus)
         or "none used"),
        ("Slurm job", hw.get("slurm_job_id")),
        ("Slurm cluster", hw.get("slurm_cluster")),
    ]
    out += _table(("", ""), [(k, v) for k, v in rows if v is not None])

    out += ["## Training time", ""]
    training = record.get("training") or {}
    rows = [
        ("Started", timing.get("started")),
        ("Ended", timing.get("ended")),
        ("Duration", _duration(timing.get("duration_seconds"))),
        ("Epochs", training.get("epochs")),
    ]
    rows = [(k, v) for k, v in rows if v is not None]
    out += _table(("", ""), rows) if rows else ["Not recorded.", ""]

    out += ["## Files", ""]
    files = record.get("files") or {}
    out += _table(("file", "role", "size", "sha256"), [
        (f"`{p}`", e.get("role"), _bytes(e.get("size")), _short_hash(e.get("sha256")))
        for p, e in sorted(files.items())
    ])
    out += [
        "## Load", "",
        "```python",
        "import awiml",
        f'model = awiml.ModelStore("path/to/store").load("{name}@{number}")',
        "```", "",
        f"Files are checked against `version.json` before loading. Written by awiml "
        f"{record.get('awiml_version')}.", "",
    ]
    return "\n".join(out)


def _architecture_lines(arch: Mapping[str, Any]) -> list[str]:
    if "pipeline" in arch or "keras" in arch:
        out = []
        if arch.get("pipeline"):
            out += _estimator_lines(arch["pipeline"])
        if arch.get("keras"):
            out += ["### Keras network", "", *_keras_lines(arch["keras"])]
        return out
    if "layers" in arch:
        return _keras_lines(arch)
    if "class" in arch:
        return _estimator_lines(arch)
    return ["Architecture: see `version.json`.", ""]


def _estimator_lines(arch: Mapping[str, Any]) -> list[str]:
    out = [f"Estimator: `{arch.get('class')}`", ""]
    steps = (arch.get("params") or {}).get("steps")
    if isinstance(steps, list):
        rows = []
        for i, step in enumerate(steps, start=1):
            if isinstance(step, list) and len(step) == 2:
                label, inner = step
                cls = inner.get("class") if isinstance(inner, dict) else inner
                rows.append((i, label, f"`{cls}`"))
        out += _table(("step", "name", "class"), rows)
    return out


def _keras_lines(arch: Mapping[str, Any]) -> list[str]:
    layers = arch.get("layers") or []
    title = f"Keras `{arch.get('class')}` `{arch.get('name', '')}`"
    if isinstance(arch.get("total_params"), int):
        title += f", {arch['total_params']:,} parameters"
    out = [title, ""]
    rows = [(layer.get("name"), f"`{layer.get('class')}`", layer.get("params"))
            for layer in layers[:80] if isinstance(layer, dict)]
    out += _table(("layer", "class", "parameters"), rows)
    if len(layers) > 80:
        out += [f"... and {len(layers) - 80} more layers in `version.json`.", ""]
    return out


def _table(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = [_cell(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True)
    text = _short(str(value), 200)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def _short_hash(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    algorithm, _, digest = value.partition(":")
    return f"`{algorithm}:{digest[:12]}…`" if digest else f"`{value}`"


def _bytes(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return None  # pragma: no cover


def _duration(seconds: Any) -> str | None:
    if not isinstance(seconds, (int, float)):
        return None
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{minutes} min {secs} s"
    return f"{hours} h {text}" if hours else text


# ---------------------------------------------------------------------- helpers


class _NameLock:
    """One model name's soft lock, with an error that says how to clear a stale one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = SoftFileLock(path, timeout=LOCK_TIMEOUT)

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire()
        except Timeout:
            raise ModelStoreError(
                f"the model {self.path.parent.name!r} is locked by another process "
                f"({self.path}). Wait for it to finish; if no awiml process runs on any host, "
                "delete that file."
            ) from None

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


_VERSION_COLUMNS = frozenset({"version", "created", "kind", "aliases", "commit", "dirty", "user",
                              "host"})


def _is_workspace_root(path: Path) -> bool:
    return (path / ".awiml" / "workspace.json").is_file()


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid {what}: use letters, digits, '_', '.' and '-', starting "
            "with a letter or digit, at most 100 characters (no '@' or '/')"
        )


def _check_alias(alias: Any) -> None:
    _check_name(alias, "alias")
    if alias in _RESERVED_ALIASES or alias.isdigit():
        raise ValueError(f"{alias!r} cannot be an alias: numbers and 'latest' already name "
                         "versions")


def _describe(versions: list[int], aliases: Mapping[str, int | None]) -> str:
    shown = ", ".join(map(str, versions[-20:]))
    if len(versions) > 20:
        shown = f"{len(versions)} versions, the last 20: {shown}"
    text = f"versions: {shown or 'none'}"
    if aliases:
        text += "; aliases: " + ", ".join(f"{a} -> {n}" for a, n in aliases.items())
    return text


def _numbers(folder: Path) -> list[int]:
    try:
        return [int(e) for e in os.listdir(folder) if _NUMBER.fullmatch(e)]
    except FileNotFoundError:
        return []


def _relative_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _size_and_hash(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": file_checksum(path)}


def _check_size(folder: Path, relative: str, entry: Mapping[str, Any]) -> str | None:
    """Return None when the file exists with the recorded size, "missing", or what differs."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or ".." in parts:
        return "is not a relative path inside the version folder"
    try:
        size = (folder / relative).stat().st_size
    except FileNotFoundError:
        return "missing"
    if size != entry.get("size"):
        return f"has {size} bytes, {entry.get('size')} were recorded"
    return None


def _check_file(folder: Path, relative: str, entry: Mapping[str, Any]) -> str | None:
    """Return None when the file is as recorded, "missing", or what differs."""
    problem = _check_size(folder, relative, entry)
    if problem is not None:
        return problem
    return _digest_problem(file_checksum(folder / relative), entry)


def _digest_problem(digest: str, entry: Mapping[str, Any]) -> str | None:
    """Return None when ``digest`` is the recorded sha256, else what differs."""
    want = entry.get("sha256")
    if digest == want:
        return None
    return (f"has sha256 {digest.partition(':')[2][:16]}…, recorded "
            f"{str(want).partition(':')[2][:16]}…")


def _os_advice(exc: OSError) -> str:
    """Say what to do about a failed write, by its errno."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space (or quota) there and save again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "check that you may write there and save again"
    return "fix the cause named above and save again"


def _seal(path: Path, sync: bool = True) -> dict[str, Any]:
    """Hash a finished file, flush it to disk and make it read-only; return size and sha256.

    With ``sync=False`` the file is known to be on disk already and is not synced again.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
        if sync:
            os.fsync(handle.fileno())
        size = os.fstat(handle.fileno()).st_size
    _make_read_only(path)
    return {"size": size, "sha256": f"sha256:{digest.hexdigest()}"}


def _seal_all(folder: Path, paths: builtins.list[str],
              known: Mapping[str, str] | None = None,
              synced: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """:func:`_seal` every file below ``folder``; large ones hash and sync in parallel.

    ``known`` holds digests taken while files were written (by relative path):
    those files are not hashed again; the files in ``synced`` are already on
    disk and are not synced again. Hashing reads the page cache and costs CPU,
    ``fsync`` waits for the disk: run side by side in threads (both release the
    GIL) they take the longer of the two, not their sum.
    """
    known = dict(known or {})
    on_disk = set(synced)
    sizes = {path: (folder / path).stat().st_size for path in paths}
    if sum(sizes.values()) < _PARALLEL_BYTES:  # small: hashing again costs nothing
        return {path: _seal(folder / path, sync=path not in on_disk) for path in paths}
    from concurrent.futures import ThreadPoolExecutor

    # small files are sealed here, in turn, while threads hash and sync the large ones
    large = [path for path in paths if sizes[path] >= _PARALLEL_BYTES // 4]
    facts: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=min(2 * len(large), 4)) as pool:
        digests = {path: pool.submit(_digest_in_background, folder / path)
                   for path in large if path not in known}
        syncing = [pool.submit(_fsync_file, folder / path)
                   for path in large if path not in on_disk]
        for path in paths:
            if path not in large:
                facts[path] = _seal(folder / path, sync=path not in on_disk)
        for path in large:
            facts[path] = {"size": sizes[path],
                           "sha256": known[path] if path in known else digests[path].result()}
        for future in syncing:
            future.result()
    for path in large:
        _make_read_only(folder / path)
    return {path: facts[path] for path in paths}


_BACKGROUND_CHUNK = 32 * 1024 * 1024


def _digest_in_background(path: Path) -> str:
    """``"sha256:<hex>"`` of a file, for a thread that runs beside busy Python code.

    The file is hashed from a memory map in one call, which holds the GIL only at
    its start and end and allocates nothing. Where a file cannot be mapped, large
    chunks keep the number of GIL switches (each of which can wait a whole switch
    interval beside a parser that holds it) small.
    """
    with open(path, "rb", buffering=0) as handle:
        mapped = _map_read_only(handle)
        if mapped is not None:
            with mapped:
                return _digest_of_buffer(mapped)
        digest = hashlib.sha256()
        buffer = bytearray(min(_BACKGROUND_CHUNK, max(path.stat().st_size, 1)))
        view = memoryview(buffer)
        while count := handle.readinto(view):
            digest.update(view[:count])
    return f"sha256:{digest.hexdigest()}"


def _digest_of_buffer(content: Any) -> str:
    """``"sha256:<hex>"`` of a buffer: one call, which releases the GIL throughout."""
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


def _map_read_only(handle: Any) -> mmap.mmap | None:
    """Memory-map an open file for reading; None where that cannot be done (empty file...)."""
    try:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _make_read_only(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _map_files(func: Any, folder: Path, paths: builtins.list[str]) -> dict[str, Any]:
    """Return ``{path: func(path)}`` for files relative to ``folder``, in threads when large.

    Hashing releases the GIL, so the weights files of one version hash (and sync) at once.
    """
    sizes = 0
    for path in paths:
        try:
            sizes += (folder / path).stat().st_size
        except OSError:
            pass
    if len(paths) < 2 or sizes < _PARALLEL_BYTES:
        return {path: func(path) for path in paths}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(paths), 4)) as pool:
        return dict(zip(paths, pool.map(func, paths), strict=True))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _force_rmtree(folder: Path) -> None:
    """Remove a folder whose files or folders may be read-only; ignore what is already gone."""

    def retry(func: Any, path: str, _exc: Any) -> None:
        try:
            parent = os.path.dirname(path)
            os.chmod(parent, stat.S_IMODE(os.stat(parent).st_mode) | stat.S_IWUSR | stat.S_IXUSR)
            func(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("could not remove %s: %s", path, exc)

    if not folder.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=retry)
    else:  # pragma: no cover - Python 3.10 and 3.11
        shutil.rmtree(folder, onerror=retry)


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40] or "host"


def _clean_stale(versions_dir: Path) -> None:
    """Remove what crashed saves and deletes left in ``versions_dir`` (best effort)."""
    now = time.time()
    try:
        entries = os.listdir(versions_dir)
    except FileNotFoundError:
        return
    for entry in entries:
        if not entry.startswith((".tmp-", ".deleted-")):
            continue
        path = versions_dir / entry
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        parts = entry.split("-")
        dead = False
        if len(parts) >= 4 and parts[-2].isdigit():
            host, pid = "-".join(parts[1:-2]), int(parts[-2])
            dead = host == _host_tag() and pid != os.getpid() and not _pid_alive(pid)
        if dead or age > STALE_AFTER:
            logger.info("removing %s, left by an unfinished save or delete", path)
            _force_rmtree(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    words = set(re.split(r"[^a-z0-9]+", lowered))
    return bool(words & _SECRET_WORDS) or lowered.replace("-", "_") in {
        "api_key", "access_key", "private_key", "secret_key", "access_token"}


def _to_json(value: Any, where: str, *, secret_keys: bool = False) -> Any:
    """Return ``value`` as plain JSON data, or raise TypeError naming where it failed."""
    import numbers

    if value is None or isinstance(value, (bool, str)):
        return redact_url(value) if isinstance(value, str) and "://" in value else value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # NumPy scalar or 0-d array
        return _to_json(value.item(), where, secret_keys=secret_keys)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy array
        return _to_json(value.tolist(), where, secret_keys=secret_keys)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)):
                raise TypeError(f"{where}: the key {key!r} is not a str or number")
            text = str(key)
            if secret_keys and _is_secret_key(text):
                out[text] = "***"
                continue
            out[text] = _to_json(item, f"{where}[{text!r}]", secret_keys=secret_keys)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]", secret_keys=secret_keys)
                for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted((_to_json(v, where, secret_keys=secret_keys) for v in value), key=str)
    raise TypeError(
        f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot be stored as "
        "JSON; give numbers, strings, lists or dicts"
    )


def _tags(tags: Any) -> Any:
    if tags is None:
        return {}
    if isinstance(tags, str):
        return {tags: True}
    if isinstance(tags, Mapping):
        return _to_json(dict(tags), "tags", secret_keys=True)
    return {str(_to_json(t, "tags")): True for t in tags}


def _metrics(metrics: Any) -> dict[str, Any]:
    if metrics is None:
        return {}
    if hasattr(metrics, "to_dict") and not isinstance(metrics, Mapping):
        metrics = metrics.to_dict()
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict or have to_dict(), not {type(metrics).__name__}")
    return _to_json(dict(metrics), "metrics")


def _scalar_metrics(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict):
        return {}
    return {k: v for k, v in sorted(metrics.items(), key=lambda kv: _metric_order(kv[0]))
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _metric_order(key: str) -> tuple[int, str]:
    return (_KEY_METRICS.index(key) if key in _KEY_METRICS else len(_KEY_METRICS), key)


def _key_metric(metrics: Any) -> tuple[str | None, float | None]:
    scalars = {k: v for k, v in _scalar_metrics(metrics).items() if k != "n_samples"}
    for key, value in scalars.items():
        return key, value
    return None, None


def _figures(figures: Mapping[str, Any] | None, metrics: Any) -> dict[str, bytes]:
    """Return figure file name to PNG (or other) bytes, from ``figures`` or a report's plots."""
    if figures is None:
        figures = {}
        if callable(getattr(metrics, "figure", None)):  # an awiml EvaluationReport
            figures["confusion.png"] = metrics.figure()
            curves = getattr(metrics, "learning_curves", None)
            curves = curves() if callable(curves) else None
            if curves is not None:
                figures["learning_curves.png"] = curves
    out = {}
    for name, figure in figures.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"figures: {name!r} is not a plain file name (e.g. 'confusion.png')")
        if "." not in name:
            name += ".png"
        if isinstance(figure, (bytes, bytearray, memoryview)):
            out[name] = bytes(figure)
        elif isinstance(figure, (str, os.PathLike)):
            out[name] = Path(figure).read_bytes()
        elif callable(getattr(figure, "savefig", None)):
            import io

            buffer = io.BytesIO()
            figure.savefig(buffer, format=name.rsplit(".", 1)[1], dpi=100)
            out[name] = buffer.getvalue()
        else:
            raise TypeError(f"figures[{name!r}]: give PNG bytes, a path or a matplotlib Figure, "
                            f"not {type(figure).__name__}")
    return out


def _final_step(model: Any) -> Any:
    for _ in range(10):
        steps = getattr(model, "steps", None)
        if isinstance(steps, list) and steps:
            model = steps[-1][1]
        else:
            break
    return model


def _training_time(training_time: Any, model: Any
                   ) -> tuple[Any, Any, float | None, str | None]:
    """Return ``(started, ended, duration seconds, source)`` of the training run."""
    if training_time is not None:
        if isinstance(training_time, (tuple, list)):
            if len(training_time) != 2:
                raise ValueError("training_time must be seconds or a (start, end) pair")
            return training_time[0], training_time[1], None, "argument"
        if isinstance(training_time, bool) or not isinstance(training_time, (int, float)) \
                or not math.isfinite(training_time) or training_time < 0:
            raise ValueError(f"training_time must be seconds (>= 0) or a (start, end) pair, "
                             f"not {training_time!r}")
        return None, None, float(training_time), "argument"
    for candidate in (model, _final_step(model)):
        started = getattr(candidate, "fit_started_", None)
        ended = getattr(candidate, "fit_ended_", None)
        if started is not None and ended is not None:
            return started, ended, None, "model"
    return None, None, None, None


def _training_history(model: Any) -> dict[str, Any]:
    """Return epochs and per-epoch metrics of a Keras model or KerasClassifier, if any."""
    final = _final_step(model)
    history = getattr(final, "history_", None)
    if not isinstance(history, Mapping):
        keras_history = getattr(final, "history", None)  # a Keras model after fit()
        history = getattr(keras_history, "history", None)
    if not isinstance(history, Mapping) or not history:
        return {}
    try:
        history = _to_json(dict(history), "history")
    except TypeError:
        return {}
    epochs = getattr(final, "n_iter_", None)
    if not isinstance(epochs, int):
        epochs = max((len(v) for v in history.values() if isinstance(v, list)), default=None)
    return {"epochs": epochs, "history": history}


def _looks_like_url_or_doi(text: str) -> bool:
    return "://" in text or text.lower().startswith(("doi:", "10.", "hdl:"))


def _doi_of(source: str, metadata: Mapping[str, Any]) -> dict[str, str]:
    doi = metadata.get("doi") or metadata.get("DOI")
    if not doi:
        match = re.search(r"(?:doi:|doi\.org/|doi\.pangaea\.de/)(10\.\d{4,9}/[^\s?#]+)",
                          source, re.IGNORECASE)
        if match is None and source.startswith("10."):
            return {"doi": source}
        doi = match.group(1) if match else None
    return {"doi": str(doi)} if doi else {}


def _entry_reference(entry: ManifestEntry) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "path": entry.path,
        "source": redact_url(entry.source),
        "size": entry.size,
        "sha256": entry.sha256,
        "retrieved": entry.retrieved,
        **_doi_of(entry.source, entry.metadata),
    }
    for key in ("citation", "license"):
        value = entry.metadata.get(key)
        if isinstance(value, str) and value:
            ref[key] = value
    return ref


def _local_references(path: Path) -> list[dict[str, Any]]:
    """Return references for an existing file or folder (manifest entries inside a raw/)."""
    from .workspace import Workspace

    path = path.resolve()
    for root in path.parents:
        if _is_workspace_root(root) and (root / "raw") in (path, *path.parents):
            entries = Workspace(root).entries()
            relative = path.relative_to(root / "raw").as_posix()
            if path.is_dir():
                prefix = "" if relative == "." else relative + "/"
                found = [e for p, e in entries.items() if p.startswith(prefix)]
                if not found:
                    raise NotFoundError(f"data: {path} holds no file recorded in {root}/raw/"
                                        "MANIFEST; fetch the data with Workspace.fetch first")
                return [_entry_reference(e) for e in found]
            if relative in entries:
                return [_entry_reference(entries[relative])]
            raise NotFoundError(
                f"data: {path} is in raw/ but not recorded in {root}/raw/MANIFEST; run "
                "Workspace.verify() and fetch it again with Workspace.fetch"
            )
    if path.is_dir():
        raise NotFoundError(f"data: {path} is a folder outside any workspace's raw/; give its "
                            "files, or fetch them into a workspace first")
    return [{"name": path.name, "source": None, **_size_and_hash(path)}]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        if not value and prefix:
            out[prefix] = {}
        return out
    return {prefix: value}


def _comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten what :meth:`ModelStore.diff` compares into ``field -> value``."""
    prov = record.get("provenance") or {}
    code = prov.get("code") or {}
    env = prov.get("environment") or {}
    saved = record.get("model") or {}
    out: dict[str, Any] = {"kind": record.get("kind")}
    for key in ("commit", "branch", "dirty", "remote"):
        out[f"code.{key}"] = code.get(key)
    for ref in record.get("data") or []:
        label = ref.get("path") or ref.get("name") or ref.get("source") or "?"
        out[f"data:{label}"] = ref.get("sha256") or ref.get("source")
    flat_sections = {
        "params": record.get("params"),
        "tags": record.get("tags"),
        "metrics": _scalar_metrics(record.get("metrics")),
        "model.params": saved.get("params"),
        "model.architecture": saved.get("architecture"),
        "model.classes": {"": saved.get("classes")},
        "model.framework_versions": saved.get("framework_versions"),
        "environment.packages": env.get("packages"),
        "environment": {"python": env.get("python"), "keras_backend": env.get("keras_backend"),
                        "platform": env.get("platform")},
        "hardware": {k: v for k, v in (prov.get("hardware") or {}).items()},
    }
    for section, value in flat_sections.items():
        for key, item in _flatten(value or {}).items():
            label = f"{section}.{key}" if key else section
            out[label] = json.dumps(item, sort_keys=True) if isinstance(item, list) else item
    return out


_FIELD_ORDER = ("kind", "code.", "data:", "params.", "tags.", "metrics.", "model.",
                "environment", "hardware")


def _field_order(key: str) -> tuple[int, str]:
    for index, prefix in enumerate(_FIELD_ORDER):
        if key.startswith(prefix):
            return index, key
    return len(_FIELD_ORDER), key
