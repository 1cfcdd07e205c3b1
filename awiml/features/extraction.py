"""Run a feature extractor over many files: :func:`awiml.features.extract`.

joblib, dask and the workspace are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._files import atomic_open, file_digest
from ..errors import AwimlError, InvalidDataError, NotFoundError
from ._params import _is_int

__all__ = ["extract"]

logger = logging.getLogger(__name__)


_BACKENDS = ("loky", "threading", "multiprocessing", "dask")


def _cache_key(extractor: Any) -> tuple[str, dict[str, Any]]:
    """Return the cache folder name (class name, hash of class + parameters) and record."""
    cls = type(extractor)

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return repr(value)

    record = {
        "extractor": f"{cls.__module__}.{cls.__qualname__}",
        "params": extractor.get_params(deep=False),
        "versions": _computing_versions(),
    }
    text = json.dumps(record, sort_keys=True, default=plain)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{cls.__name__}-{digest}", json.loads(text)


# Distributions whose versions key the feature cache: awiml and what computes features.
_CACHE_PACKAGES = ("awiml", "numpy", "scipy", "scikit-image", "pillow")


def _computing_versions() -> dict[str, str]:
    """Return the installed versions of ``_CACHE_PACKAGES`` (those not installed are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    from .._version import __version__

    found = {"awiml": __version__}
    for name in _CACHE_PACKAGES[1:]:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def _cache_folder(extractor: Any, cache: Any) -> Path | None:
    """Create the extractor's cache folder with its ``params.json``; ``None`` without a cache."""
    if cache is None:
        return None
    from ..workspace.workspace import Workspace

    root = cache.features if isinstance(cache, Workspace) else Path(cache).expanduser()
    name, record = _cache_key(extractor)
    folder = root / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "params.json").exists():
            _write_cached(folder / "params.json",
                          (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    except OSError as exc:
        raise AwimlError(
            f"cannot use the feature cache {folder}: {exc.strerror or exc}. Check the path "
            "and your write permission, or pass cache=None."
        ) from None
    return folder


def _write_cached(path: Path, data: bytes | np.ndarray) -> None:
    """Write a cache file atomically, unsynced (a file a crash damaged is computed again)."""
    with atomic_open(path, sync=False) as handle:
        if isinstance(data, np.ndarray):
            np.save(handle, data, allow_pickle=False)
        else:
            handle.write(data)


def _named(exc: BaseException, path: str) -> BaseException:
    """``exc`` if its message names ``path``, else an InvalidDataError that does."""
    if isinstance(exc, AwimlError) and path in str(exc):
        return exc
    error = InvalidDataError(f"feature extraction failed for {path}: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _inputs_for(extractor: Any, paths: Sequence[str]) -> list[Any]:
    """Return what ``transform`` gets for these files: ``read_input`` of each, or paths."""
    reader = getattr(extractor, "read_input", None)
    if reader is None:
        return list(paths)
    items = []
    for path in paths:
        try:
            items.append(reader(path))
        except Exception as exc:
            raise _named(exc, path) from exc
    return items


def _extract_chunk(extractor: Any, paths: Sequence[str], folder: str | None) -> list[np.ndarray]:
    """Features of some files: read from the cache, or computed and cached. Runs in a worker."""
    results: list[Any] = [None] * len(paths)
    targets: list[Path | None] = [None] * len(paths)
    todo = []
    for i, path in enumerate(paths):
        if folder is not None:
            try:
                checksum = file_digest(path)
            except OSError as exc:
                raise NotFoundError(f"cannot read {path}: {exc.strerror or exc}") from None
            target = Path(folder) / f"{checksum.split(':', 1)[1]}.npy"
            targets[i] = target
            if target.is_file():
                try:
                    results[i] = np.load(target, allow_pickle=False)
                    continue
                except (ValueError, OSError, EOFError):
                    logger.warning("unreadable cache file %s; computing it again", target)
        todo.append(i)
    if not todo:
        return results
    todo_paths = [paths[i] for i in todo]
    items = _inputs_for(extractor, todo_paths)
    try:
        computed = extractor.transform(items)
    except Exception as batch_error:
        for item, path in zip(items, todo_paths, strict=True):
            try:
                extractor.transform([item])
            except Exception as exc:
                raise _named(exc, path) from exc
        raise batch_error
    for j, i in enumerate(todo):
        row = np.asarray(computed[j])
        results[i] = row
        target = targets[i]
        if target is not None:
            try:
                _write_cached(target, row)
            except (OSError, ValueError) as exc:
                raise AwimlError(
                    f"could not write the features of {paths[i]} to the cache {target}: "
                    f"{exc}. Check the disk space and permissions, or pass cache=None."
                ) from None
    return results


def _split(paths: list[str], chunk_size: int | None, workers: int) -> list[list[str]]:
    """Cut ``paths`` into chunks: ``chunk_size`` files, or about eight chunks per worker."""
    if chunk_size is None:
        chunk_size = min(64, max(1, math.ceil(len(paths) / (8 * max(1, workers)))))
    return [paths[i:i + chunk_size] for i in range(0, len(paths), chunk_size)]


def _chunks_with_joblib(extractor: Any, paths: list[str], chunk_size: int | None,
                        folder: str | None, n_jobs: int | None, backend: str):
    """Yield ``(chunk, rows)`` in input order, computed by joblib's ``backend``."""
    import joblib

    with joblib.parallel_config(backend=backend):
        chunks = _split(paths, chunk_size, joblib.effective_n_jobs(n_jobs))
        tasks = (joblib.delayed(_extract_chunk)(extractor, chunk, folder) for chunk in chunks)
        results = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
        yield from zip(chunks, results, strict=True)


def _chunks_on_dask(extractor: Any, paths: list[str], chunk_size: int | None,
                    folder: str | None):
    """Yield ``(chunk, rows)`` in input order, computed on the running Client's workers.

    Every chunk is a task of its own, submitted at once, so a cluster of one
    worker computes too (joblib would run a single worker's share in this
    process) and no round trip waits between two chunks. A task carries the
    extractor and the paths, never file contents; a task lost with its worker
    runs again on another; futures not yet read are cancelled on an error.
    """
    from distributed import get_client

    client = get_client()
    chunks = _split(paths, chunk_size, sum(client.nthreads().values()))
    futures = client.map(_extract_chunk, [extractor] * len(chunks), chunks,
                         [folder] * len(chunks), pure=False)
    futures.reverse()  # popped from the end, in input order; each released once read
    try:
        for chunk in chunks:
            yield chunk, futures.pop().result()
    finally:
        if futures:
            client.cancel(futures)


def _require_dask_client() -> None:
    """Raise an AwimlError that says what to do unless a dask.distributed Client runs."""
    try:
        import distributed
    except ImportError:
        raise AwimlError(
            "extract(backend='dask') needs dask.distributed: pip install 'awiml[dask]'"
        ) from None
    try:
        distributed.get_client()
    except ValueError:
        raise AwimlError(
            "extract(backend='dask') found no running dask.distributed Client. Start one "
            "first: on one machine `from dask.distributed import Client; client = Client()`; "
            "on the AWI HPC through SLURM: `from dask_jobqueue import SLURMCluster; "
            "cluster = SLURMCluster(cores=8, memory='16GB', walltime='02:00:00'); "
            "cluster.scale(jobs=4); client = Client(cluster)`. The workers must see the "
            "input files and the cache folder (a shared file system)."
        ) from None


def extract(
    extractor,
    inputs,
    *,
    n_jobs=None,
    backend="loky",
    cache=None,
    progress=True,
    chunk_size=None,
):
    """Run a feature extractor over many files, in parallel and cached.

    Each worker reads a chunk of files and transforms them in one call, so
    only the chunks being processed are in memory, besides the result. With a
    cache, each file's features are stored (atomically, without pickle) as
    ``<cache>/<Class>-<hash>/<sha256>.npy``: ``<sha256>`` is the file's
    checksum (:func:`awiml.archives.transfer.file_checksum`), ``<hash>`` that
    of the extractor's class, ``get_params()`` and the installed versions of
    awiml, NumPy, SciPy, scikit-image and Pillow, which ``params.json`` in that
    folder records. A file seen before with the same parameters and versions
    is read, not computed; after an upgrade of any of those packages, features
    are computed again into a new folder (the old one may be deleted).

    Parameters
    ----------
    extractor : estimator
        A transformer such as :class:`~awiml.features.Spectrogram` or
        :class:`~awiml.features.ImageFeatures`. ``transform`` gets what its
        ``read_input(path)`` method returns for each file, if it has one, else
        the paths. If it is not fitted, ``extract`` fits it, in place, on the
        first file; a file's features must depend only on the file and the
        parameters (true here), or the cache would return stale values.
    inputs : iterable of path-like
        The files, in the order of the result.
    n_jobs : int, optional
        Parallel workers, as in joblib: ``-1`` for all cores. Default: one,
        in this process. Ignored with ``backend="dask"``, which uses every
        worker of the cluster, however many.
    backend : {"loky", "threading", "multiprocessing", "dask"}, default="loky"
        The joblib backend, or ``"dask"``: each chunk becomes a task of the
        running :class:`dask.distributed.Client` (``pip install 'awiml[dask]'``;
        e.g. a ``dask_jobqueue.SLURMCluster`` on the AWI HPC), even on a
        cluster of one worker.
    cache : Workspace or path-like, optional
        Where to cache: a :class:`~awiml.Workspace` (its ``features/`` folder)
        or any folder. ``None`` computes everything.
    progress : bool, default=True
        Show a progress bar (the Jupyter widget in a notebook with ipywidgets,
        else a text bar).
    chunk_size : int, optional
        Files per task; by default about eight tasks per worker, from 1 to 64 files.

    Returns
    -------
    ndarray
        The features of each file stacked along axis 0 in input order:
        (n_files, n_features) for tabular features, (n_files, height, width,
        channels) for :class:`~awiml.features.ImageTensor` and so on.

    Raises
    ------
    NotFoundError
        If input files are missing (all are checked before any work starts).
    InvalidDataError
        If a file cannot be read or transformed; the message names the file.
    AwimlError
        For ``backend="dask"`` without a running Client or without dask.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from awiml.features import ImageFeatures
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rows, cols = np.mgrid[:64, :64]
    >>> for r in (10, 20):
    ...     disc = np.where((rows - 32) ** 2 + (cols - 32) ** 2 <= r**2, 0, 255)
    ...     np.save(folder / f"disc{r}.npy", disc.astype(np.uint8))
    >>> files = sorted(folder.glob("disc*.npy"))
    >>> features = ImageFeatures(properties=("equivalent_diameter_area",))
    >>> extract(features, files, cache=folder / "cache", progress=False).round()
    array([[20.],
           [40.]])
    >>> len(list((folder / "cache").glob("ImageFeatures-*/*.npy")))
    2
    """
    paths = [os.fspath(p) for p in inputs]
    if not paths:
        raise InvalidDataError("extract() got no input files")
    if backend not in _BACKENDS:
        raise InvalidDataError(f"extract(backend={backend!r}) is invalid: use one of {_BACKENDS}")
    if chunk_size is not None and (not _is_int(chunk_size) or chunk_size < 1):
        raise InvalidDataError(f"extract(chunk_size={chunk_size!r}) is invalid: give an "
                               "integer >= 1 or None")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        raise NotFoundError(f"{len(missing)} input file(s) do not exist: {shown}")
    if backend == "dask":
        _require_dask_client()
    try:
        check_is_fitted(extractor)
    except NotFittedError:
        try:
            extractor.fit(_inputs_for(extractor, paths[:1]))
        except Exception as exc:
            raise _named(exc, paths[0]) from exc
    folder = _cache_folder(extractor, cache)
    location = None if folder is None else os.fspath(folder)
    if backend == "dask":
        chunk_results = _chunks_on_dask(extractor, paths, chunk_size, location)
    else:
        chunk_results = _chunks_with_joblib(extractor, paths, chunk_size, location, n_jobs,
                                            backend)
    from .._progress import progress_bar

    out = None
    done = 0
    with progress_bar(enabled=bool(progress), total=len(paths), unit="file",
                      desc=type(extractor).__name__) as bar:
        for chunk, rows in chunk_results:
            for path, row in zip(chunk, rows, strict=True):
                if out is None:
                    out = np.empty((len(paths), *row.shape), dtype=row.dtype)
                elif row.shape != out.shape[1:]:
                    raise InvalidDataError(
                        f"the features of {path} have shape {row.shape}, those of the "
                        f"files before it {out.shape[1:]}; extract() stacks equal shapes "
                        "only (for recordings: give them one length)"
                    )
                out[done] = row
                done += 1
            bar.update(len(chunk))
    logger.info("extracted %s features of %d files%s", type(extractor).__name__, len(paths),
                f" (cache {folder})" if folder else "")
    return out
