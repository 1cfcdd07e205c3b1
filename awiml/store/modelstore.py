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
            evaluation/sample.*   the first rows of the test inputs (see save's sample=)
            model.skops ...       the serializer's files (see awiml.store.serialize)
          2/ ...
          .tmp-<host>-<pid>-<hex>/      a save in progress (never listed nor loaded)
          .deleted-<host>-<pid>-<hex>/  a delete in progress
        aliases/
          production              one line: the version number, e.g. "3"
        .claims/
          1 2 ...                 one file per version number ever handed out
        .lock                     short-lived soft lock of alias changes and deletes

``version.json`` (sorted keys, indented, every path relative) records the
files with their ``role``, ``size`` and ``sha256``, what
:func:`awiml.store.serialize.dump_model` returned, the training data, metrics,
parameters, tags, notes, training history and provenance
(:mod:`awiml.store.provenance`).

**Safety on shared file systems** (the user guide, ``docs/guide/modelstore.md``,
tells more): a version is written under ``versions/.tmp-...``, its files
read-only and flushed, and published by one atomic ``rename``; version
numbers are claimed with ``O_CREAT | O_EXCL`` (atomic on NFSv3 and later) and
never reused; an alias is one file replaced atomically, and alias changes and
deletes take the name's soft lock. Loading checks every file it reads against
``version.json`` before anything is deserialised, and runs no code from the
files (:func:`awiml.store.serialize.load_model`).
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import json
import logging
import os
import re
import secrets
import socket
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .._files import atomic_write, buffer_digest, soft_lock
from .._version import __version__
from ..errors import (
    AwimlError,
    ChecksumMismatchError,
    ModelStoreError,
    NotFoundError,
    redact_url,
)
from ..workspace.manifest import ManifestEntry
from . import _seal as _store_files
from ._datasets import group_datasets
from ._record import (
    _NAME,
    _comparable_pair,
    _doi_of,
    _dumps,
    _entry_reference,
    _field_order,
    _figures,
    _is_workspace_root,
    _key_metric,
    _local_references,
    _metrics,
    _scalar_metrics,
    _tags,
    _to_json,
    _training_history,
    _training_time,
    _utc_now,
)
from ._sample import SamplePayload, read_sample, sample_payload
from .card import model_card

if TYPE_CHECKING:
    import pandas as pd

    from ..workspace.workspace import Workspace

__all__ = ["LAYOUT_VERSION", "ModelStore", "ModelStoreError", "StoreVerifyReport", "model_card"]

logger = logging.getLogger(__name__)

#: Version of the on-disk layout, recorded in every ``version.json``.
LAYOUT_VERSION = 1

#: Seconds after which a temporary folder of an unfinished save counts as abandoned.
STALE_AFTER = 3600.0

#: Seconds to wait for a name's lock (alias changes, deletes) before giving up.
LOCK_TIMEOUT = 60.0

_NUMBER = re.compile(r"[1-9][0-9]{0,17}")
_RESERVED_ALIASES = frozenset({"latest"})
_METADATA_ROLES = frozenset({"metadata", "card", "figure", "sample"})
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

    def _headline(self) -> str:
        count = f"{len(self.versions)} version{'s' if len(self.versions) != 1 else ''}"
        if self.ok:
            return f"store verified: {count}, {self.checked} files as recorded"
        return f"store differs from its records ({count}, {self.checked} files as recorded)"

    def __str__(self) -> str:
        lines = [self._headline() + ("" if self.ok else ":")]
        for label, items in (("missing", self.missing), ("changed", self.changed),
                             ("unreadable", self.unreadable),
                             ("dangling alias", self.dangling_aliases),
                             ("extra (ignored)", self.extra)):
            lines += [f"  {label}: {item}" for item in items]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .. import _html

        return _html.block(
            "store-verify-report", self._headline(),
            _html.listing("missing", self.missing), _html.listing("changed", self.changed),
            _html.listing("unreadable", self.unreadable),
            _html.listing("dangling aliases", self.dangling_aliases),
            _html.listing("extra (ignored)", self.extra),
        )


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
    awiml.store.serialize.dump_model : How each kind of model is written.
    awiml.store.provenance.collect_provenance : What is recorded about code, machine and time.

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
        from ..workspace.redirect import redirected
        from ..workspace.workspace import Workspace

        workspace: Workspace | None = None
        if isinstance(path_or_workspace, Workspace):
            workspace = path_or_workspace
            path = workspace.model
        else:
            path = redirected(Path(path_or_workspace).expanduser().absolute())
            if _is_workspace_root(path):
                workspace = Workspace(path)
                path = workspace.model
            elif path.name == "model" and _is_workspace_root(path.parent):
                workspace = Workspace(path.parent)
        self.path: Path = Path(path)
        self.workspace = workspace

    def __repr__(self) -> str:
        return f"ModelStore({str(self.path)!r})"

    def _repr_html_(self) -> str:
        """Show the store in Jupyter: its models, the most recently changed first.

        Only the latest ``version.json`` of at most :data:`awiml._html.MAX_ROWS`
        models is read; an empty, missing or damaged store is shown, not raised.
        """
        from .. import _html
        from .._progress import human_size

        facts: list[tuple[str, Any]] = [
            ("folder", self.path),
            ("workspace", self.workspace.root if self.workspace is not None else None),
        ]
        try:
            names = sorted(self._names(), key=lambda n: _changed(self.path / n), reverse=True)
        except OSError as exc:
            names = []
            facts.append(("problem", f"the folder could not be read: {exc}"))
        facts.append(("models", len(names) if names else "none yet: save one with "
                      "store.save(model, name)"))

        def cells(name: str) -> list[Any]:
            try:
                row = self._list_row(name)
            except (AwimlError, OSError) as exc:
                return [name, f"unreadable: {exc}", "", "", "", "", "", ""]
            if row is None:
                return [name, "no versions", "", "", "", "", "", ""]
            value = "" if row["value"] is None else f"{row['metric']} {row['value']:.4g}"
            size = "" if row["size"] is None else human_size(row["size"])
            return [name, row["latest"], row["versions"], row["aliases"], row["kind"],
                    row["created"], value, size]

        models = _html.table(
            ["name", "latest", "versions", "aliases", "kind", "created", "metric",
             "size of latest"],
            map(cells, names), total=len(names),
        ) if names else ""
        return _html.block("model-store", "ModelStore", _html.fields(facts), models)

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
        compute: Any = None,
        sample: Any = None,
    ) -> str:
        """Store ``model`` as the next version of ``name``, with its provenance.

        Parameters
        ----------
        model : object
            A fitted scikit-learn estimator or Pipeline, a built Keras 3 model,
            an :class:`~awiml.classify.KerasClassifier` or a Pipeline ending in
            one (see :func:`awiml.store.serialize.model_kind`).
        name : str
            The model's name: letters, digits, ``_``, ``.`` and ``-``, starting
            with a letter or digit, at most 100 characters.
        data : object or list of objects, optional
            The training data: a :class:`~awiml.workspace.Workspace` (all of
            its ``raw/``), a :class:`~awiml.workspace.manifest.ManifestEntry`,
            a path in a workspace's ``raw/`` (absolute, or relative to the
            working directory or the store's workspace ``raw/``; its source,
            DOI and sha256 come from the manifest), another local file (name,
            size and sha256), a URL or DOI, or a dict recorded as given.
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
            For Keras networks, also keep the usual ``model.keras`` archive (see
            :func:`awiml.store.serialize.dump_model`); awiml never loads from it.
        compute : distributed.Client or dict, optional
            The Dask cluster the model was trained on, recorded as the
            provenance's ``compute`` section: a client to describe, or a section
            :func:`awiml.store.provenance.compute_resources` returned while the
            training's client was open (for a save after it closed). By
            default, the client active where ``save`` is called (inside
            ``with Client(...)``, that one); without one, ``"local"``. Dask is
            never imported for this, and a client that cannot be asked gives a
            warning and a partial section, never a failed save.
        sample : array-like, DataFrame, list of paths or False, optional
            Test inputs whose first 200 rows are kept as the version's
            evaluation sample (read back with :meth:`sample`), so that a
            re-run can compare predictions: an array
            (``evaluation/sample.npz``), a DataFrame
            (``evaluation/sample.json``; numeric, bool, str and datetime
            columns) or a list of input files (their paths and SHA-256 in
            ``evaluation/sample_inputs.json``; not copied). By default the
            inputs of an :class:`~awiml.classify.EvaluationReport` given as
            ``metrics`` (those :func:`~awiml.classify.evaluate` was given;
            inputs that cannot be stored safely are then skipped with a
            warning); ``False`` stores none. Never pickled.

        Returns
        -------
        str
            The new version's reference, ``"name@N"``.

        Raises
        ------
        TypeError
            If ``model`` is of no supported kind, or ``params``, ``tags`` or
            ``metrics`` hold values that are not JSON-able (the message names
            the key), or ``sample`` cannot be stored without pickle.
        ValueError
            If ``name`` or ``alias`` is not a valid name.
        awiml.errors.InvalidDataError
            If ``compute`` is neither a Dask client nor a valid section.
        awiml.errors.ModelStoreError
            If ``name`` is new and differs only in case from a stored model's
            name, or ``alias`` differs only in case from an alias ``name``
            already has (see :meth:`alias`); nothing is saved. On
            case-insensitive file shares (SMB, APFS, NTFS) such names are one
            file; stores that already hold such a pair still load and list both.
        awiml.errors.NotFoundError
            If a ``data`` item names nothing that exists.

        Notes
        -----
        Nothing of the new version is visible until it is complete: a failure
        (or a crash) part-way leaves no version behind.
        """
        from .provenance import _compute_argument, collect_provenance
        from .serialize import dump_model

        _check_name(name, "model name")
        self._refuse_case_twin(name)  # before anything is written
        if alias is not None:
            _check_alias(alias)
            self._refuse_case_twin(name, alias)
        record_params = _to_json(dict(params or {}), "params", secret_keys=True)
        record_tags = _tags(tags)
        record_metrics = _metrics(metrics)
        record_data = self._data_references(data)
        compute = _compute_argument(compute)
        figure_bytes = _figures(figures, metrics)
        sample_data = self._sample_payload(sample, metrics)
        if notes is not None and not isinstance(notes, str):
            raise TypeError(f"notes must be a str, not {type(notes).__name__}")
        started, ended, duration, timing_source = _training_time(training_time, model)
        training = _training_history(model)
        # git runs as subprocesses: collect provenance beside the serializer's work
        from concurrent.futures import ThreadPoolExecutor, wait

        background = ThreadPoolExecutor(max_workers=2)  # later also the sealing
        # in the caller's context, where `with Client(...)` made its client the active one
        provenance_job = background.submit(contextvars.copy_context().run, collect_provenance,
                                           code_dir=code_dir, started=started, ended=ended,
                                           compute=compute, workspace=None if self.workspace
                                           is None else self.workspace.root)

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
                if path in ("version.json", "MODEL_CARD.md") \
                        or path.startswith(("figures/", "evaluation/")):
                    raise ModelStoreError(
                        f"the serializer wrote {path!r}, a name the store reserves; this is a "
                        "bug in awiml.store.serialize"
                    )
            files = {path: {"role": roles.get(path, "model")} for path in model_files}
            if figure_bytes:
                (tmp / "figures").mkdir()
                for figure_name, content in figure_bytes.items():
                    (tmp / "figures" / figure_name).write_bytes(content)
                    files[f"figures/{figure_name}"] = {"role": "figure"}
            if sample_data is not None:
                (tmp / sample_data.file).parent.mkdir(parents=True, exist_ok=True)
                (tmp / sample_data.file).write_bytes(sample_data.content)
                files[sample_data.file] = {"role": "sample"}
            # hashing and syncing (the files dump_model hashed it also synced) run in the
            # background while the version number is claimed and the card is written
            sealing = background.submit(_store_files._seal_all, tmp, list(files), known,
                                        synced=known)

            provenance = provenance_job.result()
            if duration is not None:
                provenance["timing"]["duration_seconds"] = duration
            provenance["timing"]["source"] = timing_source
            provenance["evaluation_sample"] = (None if sample_data is None
                                               else sample_data.section)
            number = self._claim(name)
            record = {
                "awiml_version": __version__,
                "created": _utc_now(),
                "data": record_data,
                "datasets": group_datasets(record_data),
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
            card_facts = _store_files._seal(tmp / "MODEL_CARD.md")
            for path, facts in sealing.result().items():
                files[path].update(facts)
            record["files"]["MODEL_CARD.md"] = {"role": "card", **card_facts}
            (tmp / "version.json").write_text(_dumps(record), encoding="utf-8")
            _store_files._seal(tmp / "version.json")
            _store_files._fsync_dir(tmp)
            final = versions_dir / str(number)
            try:
                os.rename(tmp, final)
            except OSError as exc:
                raise ModelStoreError(
                    f"could not publish {name}@{number}: {final} exists or cannot be created "
                    f"({exc.strerror or exc}). Is another tool writing into {versions_dir}?"
                ) from exc
            published = True
            _store_files._fsync_dir(versions_dir)
        except OSError as exc:
            if not published and not isinstance(exc, AwimlError):
                advice = _store_files._os_advice(exc)
                exc.add_note(f"saving {name!r} in {self.path} failed, so no version was "
                             f"published and the others are untouched; {advice}")
            raise
        finally:
            background.shutdown(wait=False)
            if not published:
                if sealing is not None:  # let it finish before its files are removed
                    wait([sealing])
                _store_files._force_rmtree(tmp)
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

    def _sample_payload(self, sample: Any, metrics: Any) -> SamplePayload | None:
        """Encode ``sample=`` of a save, or by default the inputs of an EvaluationReport."""
        if sample is False:
            return None
        raw = None if self.workspace is None else self.workspace.raw
        if sample is not None:
            return sample_payload(sample, raw)
        inputs = getattr(metrics, "_inputs", None)  # an awiml EvaluationReport's test inputs
        if inputs is None or isinstance(metrics, Mapping):
            return None
        try:
            return sample_payload(inputs, raw)
        except (TypeError, ValueError) as exc:
            warnings.warn(f"the evaluation sample is not stored: {exc}", RuntimeWarning,
                          stacklevel=3)
            return None

    def _write_gitignore(self) -> None:
        target = self.path / ".gitignore"
        if target.exists():
            return
        with contextlib.suppress(FileExistsError):  # never replaces one written meanwhile
            atomic_write(target, _GITIGNORE, replace=False)

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
        from ..workspace.workspace import Workspace

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
        if isinstance(item, str) and ("://" in text
                                      or text.lower().startswith(("doi:", "10.", "hdl:"))):
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
        awiml.errors.ModelStoreError
            If ``name`` already has an alias that differs from ``alias`` only
            in case (``production`` and ``Production``); nothing changes.
        ValueError
            If the alias is not a valid alias name.

        Notes
        -----
        An alias is a file, and on case-insensitive file shares (SMB, APFS,
        NTFS) ``Production`` and ``production`` are one file. A new alias that
        differs from an existing one only in case is refused rather than folded
        to one case, so every existing alias stays readable exactly as written;
        a pair made on a case-sensitive disk still loads, lists and moves.

        Examples
        --------
        >>> import tempfile
        >>> from sklearn.dummy import DummyClassifier
        >>> store = ModelStore(tempfile.mkdtemp())
        >>> store.save(DummyClassifier().fit([[0], [1]], [0, 1]), "toy", alias="production")
        'toy@1'
        >>> store.alias("toy", "production", 1)
        'toy@1'
        >>> store.alias("toy", "Production", 1)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        awiml.errors.ModelStoreError: the alias 'Production' of 'toy' differs only in case ...
        """
        _check_name(name, "model name")
        _check_alias(alias)
        self._require_name(name)
        with self._lock(name):
            number = self._resolve_version_of(name, version)
            self._refuse_case_twin(name, alias)
            aliases = self.path / name / "aliases"
            aliases.mkdir(parents=True, exist_ok=True)
            try:
                atomic_write(aliases / alias, f"{number}\n")
            except OSError as exc:
                raise ModelStoreError(
                    f"could not point the alias {alias!r} of {name!r} in {self.path} at version "
                    f"{number}: {exc.strerror or exc}. The alias is unchanged; "
                    f"{_store_files._os_advice(exc, 'set it again')}."
                ) from exc
        return f"{name}@{number}"

    def _refuse_case_twin(self, name: str, alias: str | None = None) -> None:
        """Refuse a new model name, or a new alias of ``name``, differing only in case.

        On case-insensitive file shares the two would be one file (an alias)
        or one folder (a model). Names that exist as spelt are always fine.
        """
        existing = self._names() if alias is None else self._aliases(name)
        new = name if alias is None else alias
        twin = next((e for e in sorted(existing) if e.casefold() == new.casefold()), None)
        if new in existing or twin is None:
            return
        if alias is None:
            what = f"the model name {name!r} differs only in case from the model {twin!r}"
            where = self.path
            one = "one folder, so its versions would mix with the other's"
            advice = f"Save it as {twin!r} (store.save(model, {twin!r}) adds a version)"
            outcome = "saved"
        else:
            what = f"the alias {alias!r} of {name!r} differs only in case from its alias {twin!r}"
            where = self.path / name / "aliases"
            one = "one file, so setting one would move the other"
            advice = f"Use {twin!r} (store.alias({name!r}, {twin!r}, version) moves it)"
            outcome = "changed"
        raise ModelStoreError(
            f"{what} (in {where}). On case-insensitive file shares (SMB from Windows, macOS) "
            f"the two are {one}. {advice}, or choose a name that differs in more than case; "
            f"nothing was {outcome}."
        )

    def _resolve_version_of(self, name: str, version: int | str) -> int:
        if isinstance(version, int) and not isinstance(version, bool):
            ref = f"{name}@{version}"
        elif isinstance(version, str):
            ref = version if "@" in version else f"{name}@{version}"
        else:
            raise TypeError(f"version must be an int or a str, not {type(version).__name__}")
        ref_name, number = self._resolve(ref)
        if ref_name != name:
            raise ValueError(f"{version!r} names a version of {ref_name!r}, not of {name!r}")
        return number

    def _lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Return the soft lock of one model name, whose error says how to clear a stale one."""
        path = self.path / name / ".lock"
        return soft_lock(path, LOCK_TIMEOUT, lambda: ModelStoreError(
            f"the model {name!r} is locked by another process ({path}). Wait for it to "
            "finish; if no awiml process runs on any host, delete that file."
        ), lambda exc: ModelStoreError(
            f"could not create the lock file {path} of the model {name!r}: "
            f"{exc.strerror or exc}. Nothing was changed; "
            f"{_store_files._os_advice(exc, 'try again')}."
        ))

    def _aliases(self, name: str) -> dict[str, int | None]:
        """Return every alias of ``name`` and the number it holds (None if unreadable)."""
        folder = self.path / name / "aliases"
        out: dict[str, int | None] = {}
        for entry in _listdir(folder):
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
        return [e for e in _listdir(self.path)
                if _NAME.fullmatch(e) and (self.path / e / "versions").is_dir()]

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
        name, at, selector = ref.partition("@")
        self._require_name(name)
        if at and not selector:  # "name@" is a slip, not "the latest" (delete trusts it)
            raise ValueError(f"{ref!r} names no version after '@': use 'name', 'name@3', "
                             "'name@latest' or 'name@alias'")
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
            (see :func:`awiml.store.serialize.load_model`); only for reviewed types
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
            message names the file and no model is returned.
        awiml.store.serialize.UntrustedModelError
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
            self._raise_problem(name, number, folder, path,
                                _store_files._check_size(folder, path, needed[path]))
        # Each file is hashed in a thread from a memory map of the open file (no GIL, no
        # copy) while the loader parses the same open file, which runs no code from it. The
        # model is handed out only once every digest matched; else the damaged file is named.
        from concurrent.futures import ThreadPoolExecutor

        with contextlib.ExitStack() as opened, \
                ThreadPoolExecutor(max_workers=min(len(needed), 4) or 1) as pool:
            contents: dict[str, Any] = {}
            digests = {}
            for path in needed:
                handle = opened.enter_context(open(folder / path, "rb"))
                mapped = _store_files._map_read_only(handle)
                if mapped is None:
                    digests[path] = pool.submit(_store_files._digest_in_background, folder / path)
                else:
                    opened.callback(mapped.close)
                    digests[path] = pool.submit(buffer_digest, mapped)
                if path.endswith(".skops"):
                    contents[path] = handle

            def check_digests() -> None:
                for path in sorted(digests):
                    problem = _store_files._digest_problem(digests[path].result(), needed[path])
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
        rows = [row for row in map(self._list_row, self._names()) if row is not None]
        for row in rows:
            del row["size"]
        return _dated_table(rows, ["name", "latest", "versions", "aliases", "kind", "created",
                                   "metric", "value"])

    def _list_row(self, name: str) -> dict[str, Any] | None:
        """Return the :meth:`list` row of ``name`` plus the ``size`` of its latest version."""
        versions = self._versions(name)
        if not versions:
            return None
        latest = versions[-1]
        try:
            record = self._record(name, latest)
        except AwimlError:
            record = {}
        metric, value = _key_metric(record.get("metrics"))
        files = record.get("files") or {}
        return {
            "name": name,
            "latest": latest,
            "versions": len(versions),
            "aliases": ", ".join(f"{a}={n}" for a, n in self._aliases(name).items()),
            "kind": record.get("kind"),
            "created": record.get("created"),
            "metric": metric,
            "value": value,
            "size": sum(f.get("size") or 0 for f in files.values() if isinstance(f, dict))
            if record else None,
        }

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
        return _dated_table(rows, ["version", "created", "kind", "aliases", *metric_names,
                                   "commit", "dirty", "user", "host"])

    def info(self, ref: str) -> dict[str, Any]:
        """Return everything recorded about one version.

        Parameters
        ----------
        ref : str
            A model reference (see :meth:`load`).

        Returns
        -------
        dict
            The content of ``version.json`` (among it ``data``, ``datasets``
            and ``provenance`` with ``run``, ``seeds`` and
            ``evaluation_sample``; versions saved by earlier releases may
            lack these three and ``datasets``) plus ``ref`` (``"name@N"``),
            ``aliases`` (those now pointing at it), ``path`` (the version's
            folder, absolute, on this machine) and ``archived``: the archived
            copies of its files that the workspace's archive log records
            (:meth:`Workspace.archive <awiml.Workspace.archive>`), one dict per
            tar part with ``url``, ``archived`` (time) and ``files`` (the
            version's files in it, identical by SHA-256); empty for a store
            outside a workspace or a version not archived.
        """
        name, number = self._resolve(ref)
        record = self._record(name, number)
        record["ref"] = f"{name}@{number}"
        record["aliases"] = sorted(a for a, n in self._aliases(name).items() if n == number)
        folder = self.path / name / "versions" / str(number)
        record["path"] = str(folder)
        record["archived"] = self._archived_copies(folder, record.get("files") or {})
        return record

    def reproduce(
        self,
        ref: str,
        *,
        scratch: str | os.PathLike[str] | None = None,
        keep: bool = False,
        fetch: bool = True,
        args: builtins.list[str] | None = None,
        timeout: float | None = None,
        rtol: float | None = None,
        atol: float | None = None,
        progress: bool = False,
    ) -> Any:
        """Train version ``ref`` again from its record and compare the result with it.

        In a scratch folder, never writing this workspace's ``raw/`` or
        ``model/``: the recorded inputs are linked from ``raw/`` when their
        SHA-256 matches, else fetched again from their recorded source and
        checked (a changed input is refused, with both checksums); the code
        is checked out at the recorded commit (a dirty tree or an unreachable
        commit is not reproducible); the recorded script, module or notebook
        runs again with its arguments, seeds and Keras backend, its workspace
        redirected to the scratch copy; then the new model is compared with
        the stored one (every fitted attribute exactly for scikit-learn, the
        weights within ``rtol``/``atol`` for Keras), with the predictions on
        the recorded evaluation sample, the metrics and the package versions
        side by side.

        Parameters
        ----------
        ref : str
            The version to reproduce (``"name@3"``, ``"name@production"``,
            ``"name"`` for the latest).
        scratch : path-like, optional
            Where to make the scratch folder. Default: the workspace's
            ``.awiml/reproduce/`` (the system's temporary folder for a store
            outside a workspace).
        keep : bool, default=False
            Keep the scratch folder (inputs, checkout, new model) afterwards.
        fetch : bool, default=True
            Fetch inputs missing from ``raw/`` again; when False they count as
            missing.
        args : list of str, optional
            The entry point's arguments instead of the recorded ones (needed
            when the record hid a password or token as ``***``).
        timeout : float, optional
            Seconds the re-run may take.
        rtol, atol : float, optional
            The tolerance for a Keras network's weights and probabilities
            (:data:`~awiml.store.reproduce.compare.KERAS_RTOL` and
            :data:`~awiml.store.reproduce.compare.KERAS_ATOL` by default).
        progress : bool, default=False
            Show progress bars while fetching.

        Returns
        -------
        ReproductionReport
            ``reproduced`` is the verdict; ``print(report)`` shows data, code,
            run, environment, model, predictions and metrics side by side.

        Raises
        ------
        awiml.errors.NotFoundError
            If ``ref`` names no stored version.

        Examples
        --------
        See :doc:`/how-to/reproduce-a-model` (it needs a script in a git
        repository, so it is not run here)::

            report = ModelStore(ws).reproduce("plankton@production")
            print(report)
            assert report.reproduced
        """
        from .reproduce.compare import KERAS_ATOL, KERAS_RTOL
        from .reproduce.reproduction import reproduce

        return reproduce(self, ref, scratch=scratch, keep=keep, fetch=fetch, args=args,
                         timeout=timeout, rtol=KERAS_RTOL if rtol is None else rtol,
                         atol=KERAS_ATOL if atol is None else atol, progress=progress)

    def sample(self, ref: str) -> Any:
        """Return the evaluation sample stored with a version, checked against its record.

        Parameters
        ----------
        ref : str
            The version whose sample to read: ``"name@3"``, ``"name@alias"``
            or ``"name"`` for the latest.

        Returns
        -------
        numpy.ndarray, pandas.DataFrame, list of str or None
            The first rows of the test inputs as they were saved (see the
            ``sample`` parameter of :meth:`save`): an array, a DataFrame, or
            the absolute paths of the input files (relative ones resolved in
            this workspace's ``raw/``); None when the version has no sample
            (versions saved before awiml kept one have none).

        Raises
        ------
        awiml.errors.NotFoundError
            If the version or its sample file is missing.
        awiml.errors.ChecksumMismatchError
            If the sample file differs from the version's record.

        Examples
        --------
        >>> import tempfile
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> from awiml.classify import evaluate
        >>> X, y = [[0.0], [1.0], [2.0]], [0, 1, 1]
        >>> model = DecisionTreeClassifier().fit(X, y)
        >>> store = ModelStore(tempfile.mkdtemp())
        >>> store.save(model, "toy", metrics=evaluate(model, X, y))
        'toy@1'
        >>> store.sample("toy").tolist()
        [[0.0], [1.0], [2.0]]
        """
        name, number = self._resolve(ref)
        record = self._record(name, number)
        section = (record.get("provenance") or {}).get("evaluation_sample")
        if not isinstance(section, Mapping) or not section.get("file"):
            return None
        folder = self.path / name / "versions" / str(number)
        path = str(section["file"])
        entry = record["files"].get(path)
        if entry is None:
            raise ChecksumMismatchError(f"{name}@{number}: the evaluation sample {path} is not "
                                        "among the version's recorded files; it is damaged")
        self._raise_problem(name, number, folder, path,
                            _store_files._check_file(folder, path, entry))
        raw = None if self.workspace is None else self.workspace.raw
        return read_sample(folder / path, str(section.get("kind")), raw)

    def _archived_copies(self, folder: Path, files: Mapping[str, Any]) -> builtins.list[dict]:
        """Find the tar parts in the workspace's archive log that hold the version's files."""
        if self.workspace is None:
            return []
        try:
            prefix = folder.relative_to(self.workspace.root).as_posix() + "/"
        except ValueError:
            return []
        log = self.workspace.archived()
        parts: dict[str, dict[str, Any]] = {}
        for row in log[log["path"].str.startswith(prefix)].itertuples():
            file = row.path.removeprefix(prefix)
            if (files.get(file) or {}).get("sha256") == row.sha256:
                part = parts.setdefault(row.part, {"url": row.part, "files": [],
                                                   "archived": row.archived.isoformat()})
                part["files"].append(file)
        return [parts[url] for url in sorted(parts)]

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
            how the run was started (``run.*``: script or module, arguments,
            working directory, Python, interpreter options) and its seeds,
            code, training data (per file, by sha256, and per dataset, by
            digest), run parameters, tags, metrics, the model's
            hyper-parameters and architecture, framework and package
            versions, the installed distributions that differ (when both
            versions recorded them), Keras backend, hardware and compute (the
            Dask scheduler, its workers, threads and memory per worker; not
            the scheduler's address or SLURM job ids, which are new on every
            run); no rows when they agree. ``table.attrs`` holds the two
            resolved references.
        """
        import pandas as pd

        resolved = [self._resolve(ref) for ref in (ref_a, ref_b)]
        flat = _comparable_pair(*(self._record(*r) for r in resolved))
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
        if ref is not None and "@" in ref:
            targets = [self._resolve(ref)]
            names = [targets[0][0]]
        else:
            names = self._names() if ref is None else [ref]
            if ref is not None:
                self._require_name(ref)
            targets = [(n, v) for n in names for v in self._versions(n)]
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
            problems = _store_files._map_files(
                lambda p, f=folder, e=files: _store_files._check_file(f, p, e[p]), folder,
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
            _store_files._fsync_dir(versions_dir)
        _store_files._force_rmtree(doomed)
        logger.info("deleted %s@%s (and aliases %s)", name, number, pointing)
        return pointing


# ---------------------------------------------------------------------- helpers


_VERSION_COLUMNS = frozenset({"version", "created", "kind", "aliases", "commit", "dirty", "user",
                              "host"})


def _dated_table(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Return ``rows`` as a table whose ``created`` column holds UTC times."""
    import pandas as pd

    table = pd.DataFrame(rows, columns=columns)
    table["created"] = pd.to_datetime(table["created"], utc=True)
    return table


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


def _changed(folder: Path) -> float:
    """Return when a model's versions or aliases last changed (0 when unknown)."""
    times = []
    for part in ("versions", "aliases"):
        with contextlib.suppress(OSError):
            times.append((folder / part).stat().st_mtime)
    return max(times, default=0.0)


def _describe(versions: list[int], aliases: Mapping[str, int | None]) -> str:
    shown = ", ".join(map(str, versions[-20:]))
    if len(versions) > 20:
        shown = f"{len(versions)} versions, the last 20: {shown}"
    text = f"versions: {shown or 'none'}"
    if aliases:
        text += "; aliases: " + ", ".join(f"{a} -> {n}" for a, n in aliases.items())
    return text


def _listdir(folder: Path) -> list[str]:
    """Return the sorted names in ``folder``, none when it does not exist."""
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def _numbers(folder: Path) -> list[int]:
    return [int(e) for e in _listdir(folder) if _NUMBER.fullmatch(e)]


def _relative_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40] or "host"


def _clean_stale(versions_dir: Path) -> None:
    """Remove what crashed saves and deletes left in ``versions_dir`` (best effort)."""
    now = time.time()
    for entry in _listdir(versions_dir):
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
            _store_files._force_rmtree(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:  # the one OSError for "no such process" (ESRCH)
        return False
    except (OSError, OverflowError):  # not ours to signal, or no valid pid: assume alive
        return True
    return True


