"""Apply a stored model to many files: :func:`awiml.predict` (``awiml predict`` in a shell).

The model is named by its reference in a :class:`~awiml.store.ModelStore`;
the files are read by path where the work runs: on the workers of the active
:class:`dask.distributed.Client` (a ``LocalCluster``, a ``SLURMCluster`` on
the HPC), which load the model once each and must see the store and the
files on a shared file system at the same paths, or else in joblib's worker processes on this
machine. Only paths go to the workers and only predictions come back. The
files are cut into the same chunks either way, so both give the same
predictions, in input order.

A run writes one folder, published by one atomic rename when every file is
done (nothing is written when one fails)::

    <workspace>/predictions/<name>@<version>/<YYYYmmddTHHMMSSZ>/
      predictions.csv     one row per image, or per table row
      run.json            the model (reference, SHA-256 of its files), the
                          inputs with their SHA-256, awiml's version, times

joblib, pandas and dask are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write, buffer_digest, file_digest, fsync_dir, publish
from .._version import __version__
from ..errors import AwimlError, InvalidDataError, NotFoundError, WorkspaceError
from ._record import _utc_now

if TYPE_CHECKING:
    import pandas as pd

    from ..workspace.workspace import Workspace
    from .modelstore import ModelStore

__all__ = ["IMAGE_SUFFIXES", "PREDICTIONS", "PROCESSES_FROM", "TABLE_SUFFIXES", "predict"]

logger = logging.getLogger(__name__)

#: The workspace folder that holds the runs of :func:`predict`.
PREDICTIONS = "predictions"
#: Files a model that takes images is given (folders are searched for these).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".npy")
#: Files a model that takes tables is given, and the reader of each.
TABLE_SUFFIXES = (".csv", ".tsv", ".tab")
#: The awiml classes whose pipelines take image files (their paths).
_IMAGE_STEPS = frozenset({"awiml.features.ImageFeatures", "awiml.features.ImageTensor"})
#: Runs of at least this many files use one worker process per core by default.
PROCESSES_FROM = 200
#: Most files per task; by default a run is cut into about 100 tasks.
_MAX_CHUNK = 64
_TASKS = 100

# A worker's model, loaded once per process: (store, ref, digest) -> model.
_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()
#: How often this process loaded a model for predict (the tests read it on workers).
_LOADS: list[str] = []


@dataclass(frozen=True)
class _Job:
    """What every task needs to know; small, sent to each worker with its chunk of paths."""

    store: str
    ref: str
    digest: str
    takes: str  # "images" or "tables"
    reader: Callable[[str], Any] | None


def predict(
    ref: str,
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    workspace: Workspace | str | os.PathLike[str] | None = None,
    *,
    store: ModelStore | str | os.PathLike[str] | None = None,
    reader: Callable[[str], Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    chunk_size: int | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    client: Any = None,
) -> pd.DataFrame:
    """Apply a stored model to many files, in parallel; write the predictions into the workspace.

    A model whose pipeline starts with :class:`~awiml.features.ImageFeatures`
    or :class:`~awiml.features.ImageTensor` takes images: it gets a list of
    paths, as in training, and makes one prediction per image. Any other
    model takes tables: each table file is read into a DataFrame and the
    model makes one prediction per row.

    Parameters
    ----------
    ref : str
        The model: ``"name@3"``, ``"name@production"`` (an alias),
        ``"name@latest"`` or ``"name"``, as :meth:`ModelStore.load
        <awiml.ModelStore.load>` takes it. It is resolved once, before any
        work starts; the run records the version it resolved to.
    inputs : path-like or iterable of path-like
        Files and folders. A folder stands for the files below it (hidden
        ones aside) that the model takes: images
        (:data:`IMAGE_SUFFIXES`) or tables (:data:`TABLE_SUFFIXES`: ``.csv``,
        ``.tsv``, PANGAEA's ``.tab``). A file named twice is predicted once.
    workspace : Workspace or path-like, optional
        Where the predictions go (``predictions/``) and whose ``model/`` store
        holds the model. Default: the store's workspace, else the workspace
        that contains the current folder.
    store : ModelStore or path-like, optional
        The store of the model; default: the workspace's.
    reader : callable, optional
        ``reader(path)`` returns what the model takes for one file: a
        DataFrame for a model that takes tables (instead of awiml's readers:
        :func:`~awiml.archives.pangaea.read_text` for ``.tab``,
        :func:`pandas.read_csv` for ``.csv`` and ``.tsv``; then files of any
        suffix may be named), one item (an image array...) for a model that
        takes images. It runs on the workers, so it must pickle (a function
        of a module, not a lambda in a notebook, for worker processes).
    output : path-like, optional
        The folder of this run, which must not exist yet (or be empty).
        Default: a new folder ``predictions/<name>@<version>/<UTC time>/`` of
        the workspace.
    chunk_size : int, optional
        Files per task; by default the files are cut into about 100 tasks
        of 1 to 64 files. The chunks do not depend on where they run.
    n_jobs : int, optional
        Worker processes on this machine, as in joblib (``-1``: one per
        core); not used with a Dask client. By default one per core for
        runs of :data:`PROCESSES_FROM` files or more, and this process alone
        for fewer (a worker process takes seconds to start and load the
        model).
    progress : bool, default=True
        Show a progress bar of the files done.
    client : dask.distributed.Client or False, optional
        The Dask client to run on; by default the active one, if any.
        ``False`` runs on this machine even when a client is active.

    Returns
    -------
    pandas.DataFrame
        One row per image, or per row of each table, in input order:
        ``input`` (the path, relative to the workspace when inside it),
        ``sha256`` (the file's, ``"sha256:<hex>"``), ``row`` (tables only:
        the row of the file, from 0), ``prediction`` and, when the model has
        ``predict_proba``, ``proba_<class>`` per class. ``attrs`` holds
        what ``run.json`` records, and ``"path"``, the run's folder.

    Raises
    ------
    awiml.errors.NotFoundError
        The model reference names no model, version or alias (the store's
        own error), or an input does not exist.
    awiml.errors.InvalidDataError
        An input is not a file the model takes, a folder holds none, a file
        cannot be read, or the model fails on it (the message names it).
        Nothing is written: a run is published whole or not at all.
    awiml.errors.WorkspaceError
        No workspace was given or found, or ``output`` holds files already.

    See Also
    --------
    awiml.ModelStore.load : load the model in this process.
    awiml.features.extract : features of many files, on the same workers.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> import awiml
    >>> ws = awiml.Workspace.create(tempfile.mkdtemp())
    >>> train = pd.DataFrame({"temp": [1.0, 2.0, 8.0, 9.0], "sal": [34.0, 34.1, 35.0, 35.2]})
    >>> model = DecisionTreeClassifier().fit(train, ["cold", "cold", "warm", "warm"])
    >>> awiml.ModelStore(ws).save(model, "water", alias="production")
    'water@1'
    >>> _ = train.iloc[:3].to_csv(ws.interim / "station.csv", index=False)
    >>> table = awiml.predict("water@production", ws.interim / "station.csv", ws,
    ...                       progress=False)
    >>> table[["input", "row", "prediction"]]
                     input  row prediction
    0  interim/station.csv    0       cold
    1  interim/station.csv    1       cold
    2  interim/station.csv    2       warm
    >>> table.attrs["model"]["ref"], pathlib.Path(table.attrs["path"]).parent.name
    ('water@1', 'water@1')
    """
    from .modelstore import ModelStore

    created = _utc_now()
    started = time.perf_counter()
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise InvalidDataError(f"predict(chunk_size={chunk_size!r}) is invalid: give an integer "
                               ">= 1, or None for about 100 tasks")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int)
                               or n_jobs == 0):
        raise InvalidDataError(f"predict(n_jobs={n_jobs!r}) is invalid: give a number of "
                               "processes (-1: one per core), or None")
    if reader is not None and not callable(reader):
        raise InvalidDataError(f"predict(reader={reader!r}) is not callable: give a function "
                               "that reads one file, or None for awiml's readers")
    ws, models = _places(workspace, store, output, ModelStore)
    info = models.info(ref)  # NotFoundError of the store for an unknown ref
    resolved = info["ref"]
    digest, files = _files_digest(info)
    takes = _takes(info)
    paths = _expand(inputs, takes, reader is not None)
    job = _Job(str(models.path), resolved, digest, takes, reader)
    if chunk_size is None:
        chunk_size = min(_MAX_CHUNK, max(1, math.ceil(len(paths) / _TASKS)))
    chunks = [paths[i:i + chunk_size] for i in range(0, len(paths), chunk_size)]

    if client is None:
        client = _active_client()
    from .._progress import progress_bar

    with progress_bar(enabled=bool(progress), total=len(paths), unit="file",
                      desc=f"predict {resolved}") as bar:
        if client is not None and client is not False:
            results, compute = _run_dask(client, job, chunks, bar)
        else:
            if n_jobs is None:
                n_jobs = -1 if len(paths) >= PROCESSES_FROM else 1
            results, compute = _run_local(job, chunks, n_jobs, bar)
    compute["chunk_size"] = chunk_size

    root = ws.root if ws is not None else None
    table, inputs_record, classes = _table(paths, results, takes, root)
    record = {
        "awiml_version": __version__,
        "created": created,
        "finished": _utc_now(),
        "seconds": round(time.perf_counter() - started, 3),
        "model": {
            "ref": resolved,
            "given": ref,
            "name": resolved.partition("@")[0],
            "version": int(resolved.partition("@")[2]),
            "sha256": digest,
            "files": files,
            "kind": info.get("kind"),
            "store": str(models.path),
        },
        "takes": takes,
        "reader": _qualified(reader),
        "classes": classes,
        "compute": compute,
        "inputs": inputs_record,
    }
    folder = _write_run(table, record, ws, output, resolved)
    record["path"] = str(folder)
    table.attrs.update(record)
    logger.info("predicted %d %s with %s into %s", len(paths), takes, resolved, folder)
    return table


# ------------------------------------------------------------------ before the run


def _places(workspace: Any, store: Any, output: Any, store_class: Any) -> tuple[Any, Any]:
    """Return the workspace (or None, with an ``output`` and a store of its own) and the store."""
    from ..workspace.workspace import Workspace

    if workspace is not None and not isinstance(workspace, Workspace):
        workspace = Workspace(workspace)
    if store is not None and not isinstance(store, store_class):
        store = store_class(store)
    if workspace is None and store is not None:
        workspace = store.workspace
    if workspace is None and (store is None or output is None):
        try:
            workspace = Workspace.find()
        except WorkspaceError as exc:
            exc.add_note("predict needs a workspace for its predictions/ and model/: name it "
                         "(predict(ref, inputs, workspace), `awiml predict -w PATH`), or give "
                         "both store= and output=")
            raise
    if store is None:
        store = store_class(workspace)
    return workspace, store


def _files_digest(info: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Return one SHA-256 over a version's files (path and SHA-256 of each), and the files."""
    files = {path: entry.get("sha256") for path, entry in sorted(info["files"].items())
             if isinstance(entry, dict)}
    text = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return buffer_digest(text.encode("utf-8")), files


def _takes(info: dict[str, Any]) -> str:
    """Return ``"images"`` if the stored pipeline starts with an awiml image step, else tables."""
    node = (info.get("model") or {}).get("architecture")
    while isinstance(node, dict):
        if node.get("class") in _IMAGE_STEPS:
            return "images"
        steps = (node.get("params") or {}).get("steps")
        if not steps or not isinstance(steps, list) or not isinstance(steps[0], list) \
                or len(steps[0]) != 2:
            break
        node = steps[0][1]
    return "tables"


def _expand(inputs: Any, takes: str, any_suffix: bool) -> list[str]:
    """Return the input files, absolute, in order, folders expanded; check each exists."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    items = [Path(os.fspath(item)).expanduser().absolute() for item in inputs]
    if not items:
        raise InvalidDataError("predict() got no inputs: name files or folders")
    missing = [str(item) for item in items if not item.exists()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more"
                                          if len(missing) > 5 else "")
        raise NotFoundError(f"{len(missing)} input(s) do not exist: {shown}. Check the "
                            "paths; nothing was predicted")
    suffixes = IMAGE_SUFFIXES if takes == "images" else TABLE_SUFFIXES
    what = "image" if takes == "images" else "table"
    paths: list[str] = []
    for item in items:
        if item.is_dir():
            found = sorted(str(p) for p in item.rglob("*") if p.suffix.lower() in suffixes
                           and p.is_file() and not any(part.startswith(".") for part in
                                                       p.relative_to(item).parts))
            if not found:
                raise InvalidDataError(
                    f"the folder {item} holds no {what} files ({', '.join(suffixes)}), which "
                    f"the model takes; name other files one by one, or another folder"
                )
            paths += found
        elif not any_suffix and item.suffix.lower() not in suffixes:
            other = "table" if takes == "images" else "image"
            hint = (f"the model takes {what}s, and this looks like a {other} file"
                    if item.suffix.lower() in (TABLE_SUFFIXES if takes == "images"
                                               else IMAGE_SUFFIXES)
                    else f"awiml reads {', '.join(suffixes)}")
            raise InvalidDataError(f"{item} is not a {what} file ({hint}). Give "
                                   "predict(reader=...) a function that reads it, or leave "
                                   "it out")
        else:
            paths.append(str(item))
    return list(dict.fromkeys(paths))


def _active_client() -> Any:
    """Return the active dask.distributed Client, or None (dask is not imported for it)."""
    if "distributed" not in sys.modules:
        return None
    import distributed

    try:
        return distributed.default_client()
    except ValueError:
        return None


def _qualified(reader: Any) -> str | None:
    if reader is None:
        return None
    return f"{getattr(reader, '__module__', '?')}.{getattr(reader, '__qualname__', repr(reader))}"


# ------------------------------------------------------------------ on the workers


def _model(job: _Job) -> Any:
    """Return the job's model, loaded once per process and checked against the resolved files."""
    from .modelstore import ModelStore

    key = (job.store, job.ref, job.digest)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            store = ModelStore(job.store)
            try:
                info = store.info(job.ref)
            except NotFoundError as exc:
                raise NotFoundError(
                    f"{exc} (on the worker on {socket.gethostname()}: the workers need the "
                    "store on a shared file system, at the same path); nothing was written"
                ) from None
            if _files_digest(info)[0] != job.digest:
                raise AwimlError(f"{job.ref} in {job.store} is not the version this run "
                                 "resolved (its files differ); run predict again")
            model = store.load(job.ref)
            _MODELS.clear()
            _MODELS[key] = model
            _LOADS.append(job.ref)
            logger.info("loaded %s in process %d on %s", job.ref, os.getpid(),
                        socket.gethostname())
    return model


def _read_table(path: str) -> Any:
    """Read a table file with awiml's reader for its suffix."""
    import pandas as pd

    if path.lower().endswith(".tab"):
        from ..archives.pangaea.text import read_text

        return read_text(path)
    try:
        return pd.read_csv(path, sep="\t" if path.lower().endswith(".tsv") else ",")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InvalidDataError(f"{path} could not be read as a table: {exc}") from None


def _failed(job: _Job, path: str, exc: BaseException, doing: str) -> InvalidDataError:
    """Return the error for one file: it names the file, the model and what to do; it pickles."""
    detail = str(exc) if isinstance(exc, AwimlError) else f"{type(exc).__name__}: {exc}"
    return InvalidDataError(f"{job.ref} could not {doing} {path} ({detail}). Check that the "
                            "file is of the kind the model was trained on, or leave it out; "
                            "nothing was written")


def _read(job: _Job, path: str) -> Any:
    """Return what the model takes for one file: its path, or what the reader returns."""
    reader = job.reader or (_read_table if job.takes == "tables" else None)
    if reader is None:
        return path
    try:
        return reader(path)
    except Exception as exc:
        raise _failed(job, path, exc, "read") from None


def _apply(job: _Job, model: Any, items: Any, label: str) -> tuple[Any, Any]:
    """Return the predictions and, when the model has ``predict_proba``, the probabilities."""
    import numpy as np

    try:
        predicted = np.asarray(model.predict(items))
        proba = (np.asarray(model.predict_proba(items), dtype=float)
                 if hasattr(model, "predict_proba") else None)
    except Exception as exc:
        raise _failed(job, label, exc, "predict for") from None
    return predicted, proba


def _predict_chunk(job: _Job, paths: Sequence[str]) -> dict[str, Any]:
    """Predict a chunk of files; runs on a worker. Returns per file its facts and predictions."""
    model = _model(job)
    facts = []
    for path in paths:
        try:
            facts.append({"sha256": file_digest(path), "size": os.path.getsize(path)})
        except FileNotFoundError:
            raise NotFoundError(
                f"{path} is not there for the worker on {socket.gethostname()}: it was "
                "deleted during the run, or the workers do not see the files (they need them "
                "on a shared file system, at the same path); nothing was written") from None
        except OSError as exc:
            raise InvalidDataError(f"cannot read {path}: {exc.strerror or exc}; nothing was "
                                   "written") from None
    outputs = []
    if job.takes == "tables":
        for path in paths:
            table = _read(job, path)
            predicted, proba = _apply(job, model, table, path)
            if len(predicted) != len(table):
                raise InvalidDataError(
                    f"{job.ref} made {len(predicted)} predictions for the {len(table)} rows of "
                    f"{path}: a model applied to files must keep every row (impute instead "
                    "of dropping); nothing was written")
            outputs.append((predicted, proba))
    else:
        items = [_read(job, path) for path in paths]
        try:
            predicted, proba = _apply(job, model, items, ", ".join(paths))
        except InvalidDataError:
            for path, item in zip(paths, items, strict=True):  # name the file, if one fails
                _apply(job, model, [item], path)
            raise
        outputs = [(predicted[i:i + 1], None if proba is None else proba[i:i + 1])
                   for i in range(len(paths))]
    classes = getattr(model, "classes_", None)
    return {"facts": facts, "outputs": outputs,
            "classes": None if classes is None else [_plain(c) for c in classes]}


def _plain(value: Any) -> Any:
    """Return a NumPy scalar as the Python value (for JSON and column names)."""
    return value.item() if hasattr(value, "item") else value


# ------------------------------------------------------------------ running


def _run_local(job: _Job, chunks: list[list[str]], n_jobs: int,
               bar: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import joblib

    workers = min(len(chunks), max(1, joblib.effective_n_jobs(n_jobs)))
    results = []
    if workers == 1:
        try:
            for chunk in chunks:
                results.append(_predict_chunk(job, chunk))
                bar.update(len(chunk))
        finally:
            with _MODELS_LOCK:  # keep no model in the caller's memory
                _MODELS.clear()
    else:
        tasks = (joblib.delayed(_predict_chunk)(job, chunk) for chunk in chunks)
        done = joblib.Parallel(n_jobs=workers, backend="loky", return_as="generator")(tasks)
        for chunk, result in zip(chunks, done, strict=True):
            results.append(result)
            bar.update(len(chunk))
    return results, {"scheduler": "local", "workers": workers, "tasks": len(chunks)}


def _run_dask(client: Any, job: _Job, chunks: list[list[str]],
              bar: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from distributed import as_completed

    token = secrets.token_hex(6)
    futures = [client.submit(_predict_chunk, job, chunk, key=f"awiml-predict-{token}-{i}",
                             pure=False)
               for i, chunk in enumerate(chunks)]
    where = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(chunks)
    try:
        for future in as_completed(futures):
            i = where[future.key]
            results[i] = future.result()
            bar.update(len(chunks[i]))
    except BaseException:
        client.cancel(futures)
        raise
    from .provenance import compute_resources

    # the section a model saved under this client records: SLURM job ids included
    return results, {**compute_resources(client), "tasks": len(chunks)}


# ------------------------------------------------------------------ the run's files


def _table(paths: list[str], results: list[dict[str, Any]], takes: str,
           root: Path | None) -> tuple[pd.DataFrame, list[dict[str, Any]], list[Any] | None]:
    """Build the predictions table and the inputs' record from the chunks' results."""
    import numpy as np
    import pandas as pd

    classes = next((r["classes"] for r in results if r["classes"] is not None), None)
    names, digests, rows, predicted, probas, record = [], [], [], [], [], []
    files = iter(paths)
    for result in results:
        for facts, (prediction, proba) in zip(result["facts"], result["outputs"], strict=True):
            path = next(files)
            shown = _shown(path, root)
            count = len(prediction)
            names += [shown] * count
            digests += [facts["sha256"]] * count
            rows.append(np.arange(count))
            predicted.append(prediction)
            probas.append(proba)
            record.append({"path": shown, "sha256": facts["sha256"], "size": facts["size"],
                           "predictions": count})
    columns: dict[str, Any] = {"input": names, "sha256": digests}
    if takes == "tables":
        columns["row"] = np.concatenate(rows) if rows else np.empty(0, int)
    columns["prediction"] = np.concatenate(predicted) if predicted else []
    if classes is not None and probas and all(p is not None for p in probas):
        stacked = np.concatenate(probas)
        if stacked.ndim == 2 and stacked.shape[1] == len(classes):
            for j, name in enumerate(classes):
                columns[f"proba_{name}"] = stacked[:, j]
    return pd.DataFrame(columns), record, classes


def _shown(path: str, root: Path | None) -> str:
    """Return a path relative to the workspace (POSIX form) when inside it, else absolute."""
    if root is not None:
        with contextlib.suppress(ValueError):
            return Path(path).relative_to(root).as_posix()
    return path


def _write_run(table: pd.DataFrame, record: dict[str, Any], ws: Any, output: Any,
               resolved: str) -> Path:
    """Write the run's folder under a temporary name, then publish it by one rename."""
    from ._record import _dumps

    counts = table["prediction"].astype(str).value_counts(sort=False)
    csv = table.to_csv(index=False, lineterminator="\n").encode("utf-8")
    record["predictions"] = {"file": "predictions.csv", "rows": len(table),
                             "sha256": buffer_digest(csv),
                             "counts": {str(k): int(v) for k, v in sorted(counts.items())}}
    if output is not None:
        target = Path(output).expanduser().absolute()
        parent = target.parent
        candidates: Iterable[Path] = [target]
    else:
        parent = ws.root / PREDICTIONS / resolved
        stamp = record["created"].replace("-", "").replace(":", "")
        candidates = (parent / (stamp if n == 1 else f"{stamp}-{n}") for n in range(1, 1000))
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".tmp-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()
    except OSError as exc:
        raise WorkspaceError(f"cannot write the predictions into {parent}: "
                             f"{exc.strerror or exc}. Check the path, the free space and your "
                             "write permission; nothing was written") from None
    try:
        atomic_write(tmp / "predictions.csv", csv)
        atomic_write(tmp / "run.json", _dumps(record))
        fsync_dir(tmp)
        for target in candidates:
            with contextlib.suppress(FileNotFoundError):
                if target.is_dir() and not any(target.iterdir()):
                    target.rmdir()  # an empty folder holds no earlier run
            try:
                publish(tmp, target, replace=False)
                return target
            except (FileExistsError, OSError) as exc:
                if not target.exists():
                    raise
                if output is not None:
                    raise WorkspaceError(
                        f"{target} exists and holds files: predict never overwrites a "
                        "run. Name a new folder with output=/--output, or leave it out for "
                        f"a new folder in predictions/; nothing was written ({exc})") from None
        raise WorkspaceError(f"no free run folder in {parent}")  # pragma: no cover
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
