"""Safe serialization of fitted models: architecture and weights apart, no pickle.

This module turns a fitted model into a few plain files in an empty folder,
and back, without ever executing code found in those files. It is the layer
under :class:`awiml.ModelStore`, which adds versions, aliases, checksums and
provenance around it.

Three kinds of model are supported (see :func:`model_kind`):

``"sklearn"``
    A scikit-learn estimator or Pipeline, awiml's own pieces included:
    ``model.skops``, written with :func:`skops.io.dump`, never pickle.
``"keras"``
    A Keras 3 model: ``architecture.json`` (``model.to_json()``) and
    ``model.weights.h5``; on request also ``model.keras``, never loaded from.
``"sklearn+keras"``
    A :class:`awiml.classify.KerasClassifier`, or a Pipeline ending in one:
    ``steps.skops`` (the steps before it), its network as for ``"keras"``,
    and ``classifier.json`` (parameters, classes, training history).

Loading is safe by construction
-------------------------------
*scikit-learn.* Before :func:`skops.io.load` builds anything, awiml reads the
file's ``schema.json`` and checks every type it names against
:data:`TRUSTED_TYPES` (exact names, no module wildcards) plus ``trusted``;
anything else raises :class:`UntrustedModelError`, naming the types, and skops
then audits again with the same list. Functions are never trusted by default,
and the skops loaders that *call* something named in the file
(``ConstructorFromReduceNode``, ``MethodNode``, ``OperatorFuncNode``) only for
names the caller trusts.

The tree structures of forests, gradient boosting and k-NN (``Tree``,
``TreePredictor``, ``KDTree``, ``BallTree``), which skops refuses because
compiled code uses their index arrays without bounds checks, are trusted *and*
checked after loading (``awiml.store._model_checks``); a model that fails a
check raises :class:`awiml.errors.InvalidDataError`.

*Keras.* Every ``class_name``/``module``/``registered_name`` of the
architecture JSON must be in :data:`KERAS_LAYERS`; lambdas and custom or
registered objects are refused, naming them. Only then is the model built,
with Keras' ``safe_mode`` forced on, and the weights loaded.

How :data:`TRUSTED_TYPES` was reviewed
--------------------------------------
Each ordinary model (random forest, extra trees, gradient boosting and
HistGradientBoosting, k-NN with both tree algorithms, SVC with and without
probabilities, logistic regression, MLP, Pipelines, ColumnTransformer with
scalers and encoders...) was fitted, dumped with skops and inspected with
:func:`skops.io.get_untrusted_types` and by reading its ``schema.json``; every
name found was checked in the scikit-learn / NumPy source for what loading
does with it:

- scikit-learn estimators: ``__init__`` only stores its arguments and
  ``__setstate__`` only fills ``__dict__`` (the estimator contract), so an
  instance built from a file runs no code of the file's choosing. The list is
  a curated subset of :func:`sklearn.utils.all_estimators`: classifiers,
  regressors, transformers, pipelines and composites scientists use; search
  objects (their scorers hold functions), text vectorizers, Gaussian-process
  kernels and manifold learners are left out.
- Internal types those estimators hold: loss and link objects, the
  histogram binner, MLP optimizers, ``Bunch``, k-NN distance metrics without
  user data (Euclidean, Manhattan, Chebyshev, Minkowski), and the tree
  structures above, whose content awiml checks.
- ``functools.partial`` and ``sklearn.utils.validation.check_array``:
  HistGradientBoosting with categorical features builds
  ``FunctionTransformer(partial(check_array, ...))`` itself; both only
  validate an array.
- NumPy: ``ndarray``, ``dtype``, the scalar types, ``RandomState`` and
  ``Generator`` (arrays are read with ``allow_pickle=False``).
- SciPy's ``ShortTimeFFT``, which :class:`awiml.features.Spectrogram` keeps:
  plain Python over NumPy arrays.
- Python containers and scalars.
- awiml's own pieces: their ``__init__`` follows the estimator contract;
  ``HarmoniseColumns`` keeps a ``_Matcher`` of plain lists and dicts.

The lists live in the private module ``awiml.store._trust_policy``, bound here
again as the same objects so that their documentation is this module's. The test
suite checks that every entry names an existing class (not a function, except
``check_array``) so that the list cannot rot silently when scikit-learn moves a class.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import numbers
import os
import shutil
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .._files import tagged
from ..errors import InvalidDataError, NotFoundError, UntrustedModelError
from ._model_checks import _check_structures
from ._trust_policy import (
    _AWIML_BUILDERS,
    _KERAS_BACKEND_OPTIMIZER,
    _KERAS_DATA_MARKERS,
    _SKOPS_CALLING_LOADERS,
    _SKOPS_DATA_LOADERS,
)
from ._trust_policy import KERAS_LAYERS as _POLICY_KERAS_LAYERS
from ._trust_policy import TRUSTED_TYPES as _POLICY_TRUSTED_TYPES

__all__ = [
    "KERAS_LAYERS",
    "TRUSTED_TYPES",
    "UnloadedBuilder",
    "UntrustedModelError",
    "dump_model",
    "load_model",
    "model_kind",
]

#: Version of the layout written by :func:`dump_model` (recorded as ``"format"``).
FORMAT = 1


#: Exact names of the types awiml loads from a skops file without being told.
#: See :mod:`awiml.store.serialize` for how the list was reviewed.
TRUSTED_TYPES: tuple[str, ...] = _POLICY_TRUSTED_TYPES

#: Exact ``module.name`` of the Keras classes and functions a saved architecture may use,
#: as Keras writes them in ``model.to_json()``. Deliberately absent: ``Lambda``,
#: ``TorchModuleWrapper``, ``JaxLayer``, ``FlaxLayer``, ``TFSMLayer`` (they carry or load
#: foreign code), ``StringLookup``, ``IntegerLookup``, ``TextVectorization`` (they read
#: files named in their config), the abstract bases (``keras.Layer``, ``keras.layers.Wrapper``,
#: ``keras.Loss``...) and the (de)serialization helpers (``keras.losses.get``...).
KERAS_LAYERS: frozenset[str] = _POLICY_KERAS_LAYERS

_KERAS_CLASSIFIER = "awiml.classify.KerasClassifier"


class UnloadedBuilder:
    """Stands for a KerasClassifier builder function that was saved by name only.

    awiml never imports code named in a saved model, so a loaded
    :class:`~awiml.classify.KerasClassifier` gets this placeholder as its
    ``model`` parameter when it was fitted with a builder of your own. The
    classifier predicts as usual; refitting (or cloning and fitting) raises
    until you set the builder again with ``set_params(model=your_builder)``.

    Parameters
    ----------
    name : str
        The builder's qualified name, ``"module.function"``.

    Examples
    --------
    >>> UnloadedBuilder("mypkg.nets.build_net")
    UnloadedBuilder('mypkg.nets.build_net')
    """

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse to build: the builder's code was not loaded.

        Parameters
        ----------
        *args, **kwargs
            Ignored.

        Returns
        -------
        Any
            Never returns.

        Raises
        ------
        UntrustedModelError
            Always.
        """
        raise UntrustedModelError(
            f"the builder {self.name} was saved by name only and awiml never imports code "
            "named in a saved model; import it yourself and call "
            f"set_params(model={self.name.rpartition('.')[2]}) before fitting again",
            [self.name],
        )

    def __repr__(self) -> str:
        return f"UnloadedBuilder({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnloadedBuilder) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("UnloadedBuilder", self.name))


# --------------------------------------------------------------------------- kinds


def _is_keras_model(obj: Any) -> bool:
    keras = sys.modules.get("keras")  # not imported: there is no Keras model
    return keras is not None and isinstance(obj, keras.Model)


def _is_keras_classifier(obj: Any) -> bool:
    classify = sys.modules.get("awiml.classify")
    return classify is not None and isinstance(obj, classify.KerasClassifier)


def _is_estimator(obj: Any) -> bool:
    return hasattr(obj, "get_params") and hasattr(obj, "fit") and not isinstance(obj, type)


def _is_sklearn_pipeline(obj: Any) -> bool:
    pipeline = sys.modules.get("sklearn.pipeline")
    return pipeline is not None and type(obj) is pipeline.Pipeline


def model_kind(model: Any) -> str:
    """Return how :func:`dump_model` stores ``model``.

    Parameters
    ----------
    model : object
        A fitted scikit-learn estimator or Pipeline, a Keras 3 model, a
        :class:`~awiml.classify.KerasClassifier`, or a Pipeline ending in one.

    Returns
    -------
    str
        ``"keras"`` for a Keras model, ``"sklearn+keras"`` for a
        KerasClassifier or a Pipeline whose last step is one, ``"sklearn"``
        for any other scikit-learn estimator.

    Raises
    ------
    TypeError
        For anything else, or a KerasClassifier anywhere but last in a Pipeline.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> model_kind(LogisticRegression())
    'sklearn'
    """
    if _is_keras_model(model):
        return "keras"
    if _is_keras_classifier(model):
        return "sklearn+keras"
    if _is_sklearn_pipeline(model) and model.steps and _is_keras_classifier(model.steps[-1][1]):
        _refuse_nested_keras(model.steps[:-1])
        return "sklearn+keras"
    if _is_estimator(model):
        _refuse_nested_keras(model)
        return "sklearn"
    raise TypeError(
        f"cannot store a {type(model).__module__}.{type(model).__qualname__}: expected a "
        "scikit-learn estimator or Pipeline, a Keras model, or a KerasClassifier"
    )


def _reachable(obj: Any, children: Callable[[Any], Iterable[Any]]) -> Iterator[Any]:
    """Yield ``obj`` and, depth first, each object ``children(item)`` leads to, once each."""
    stack, seen = [obj], set()
    while stack:
        item = stack.pop()
        if id(item) not in seen:
            seen.add(id(item))
            yield item
            stack.extend(children(item))


def _parts(item: Any) -> Iterable[Any]:
    """Return what an estimator (its parameters), list, tuple or dict holds."""
    if _is_estimator(item):
        return item.get_params(deep=False).values()
    if isinstance(item, (list, tuple)):
        return item
    return item.values() if isinstance(item, dict) else ()


def _refuse_nested_keras(obj: Any) -> None:
    """Raise TypeError when a Keras model or KerasClassifier hides inside ``obj``."""
    for item in _reachable(obj, _parts):
        if _is_keras_model(item) or _is_keras_classifier(item):
            raise TypeError(
                f"a {type(item).__name__} can only be stored as the last step of a "
                "scikit-learn Pipeline (or on its own), not nested inside another estimator"
            )


# --------------------------------------------------------------------------- JSON helpers


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return f"{module}.{name}"


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Return a readable, JSON-ready description of ``value`` (lossy, for humans and diffs)."""
    import numpy as np

    if depth > 20:
        return {"repr": _short_repr(value)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _json_safe(value.item(), depth + 1)
    if isinstance(value, np.ndarray):
        if value.size <= 100 and value.dtype.kind in "biufUS":
            return _json_safe(value.tolist(), depth + 1)
        return {"ndarray": {"shape": list(value.shape), "dtype": str(value.dtype)}}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if _is_keras_model(value):
        return {"keras_model": str(getattr(value, "name", ""))}
    if _is_estimator(value):
        return _describe_estimator(value, depth + 1)
    if isinstance(value, type):
        return {"type": _qualname(value)}
    if callable(value) and hasattr(value, "__qualname__"):
        return {"function": _qualname(value)}
    if isinstance(value, UnloadedBuilder):
        return {"function": value.name}
    return {"repr": _short_repr(value)}


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break saving
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def _describe_estimator(estimator: Any, depth: int = 0) -> dict[str, Any]:
    """Return ``{"class": ..., "params": ...}`` with nested estimators described the same way."""
    params = estimator.get_params(deep=False)
    return {
        "class": _qualname(type(estimator)),
        "params": {k: _json_safe(v, depth + 1) for k, v in sorted(params.items())},
    }


def _flat_params(estimator: Any) -> dict[str, Any]:
    """Return ``get_params(deep=True)`` without the estimators themselves, JSON-ready."""
    out = {}
    for key, value in sorted(estimator.get_params(deep=True).items()):
        if _is_estimator(value) or _is_keras_model(value):
            continue
        if isinstance(value, (list, tuple)) and any(
            _is_estimator(v) or (isinstance(v, tuple) and any(map(_is_estimator, v)))
            for v in value
        ):
            continue
        out[key] = _json_safe(value)
    return out


def _classes(model: Any) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    try:
        return [_json_safe(c) for c in list(classes)]
    except TypeError:
        return None


class _NotJSON(Exception):
    """A value that cannot be written as reversible JSON."""


def _encode(value: Any) -> Any:
    """Encode ``value`` as JSON that :func:`_decode` turns back into an equal value."""
    import numpy as np

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return _encode(value.item())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": str(value)}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"__items__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUSO":
        return {"__ndarray__": _encode(value.tolist()), "dtype": value.dtype.str}
    if isinstance(value, UnloadedBuilder):
        return {"__function__": value.name}
    if callable(value) and hasattr(value, "__qualname__") and "<" not in _qualname(value):
        return {"__function__": _qualname(value)}
    keras = sys.modules.get("keras")
    if keras is not None and not _is_keras_model(value) and hasattr(value, "get_config"):
        try:
            return {"__keras__": keras.saving.serialize_keras_object(value)}
        except Exception as exc:
            raise _NotJSON(_short_repr(value)) from exc
    raise _NotJSON(_short_repr(value))


def _decode(value: Any, path: Path, trusted: frozenset[str]) -> Any:
    """Invert :func:`_encode`; functions come back as awiml builders or :class:`UnloadedBuilder`."""
    import numpy as np

    if isinstance(value, list):
        return [_decode(v, path, trusted) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(_decode(v, path, trusted) for v in value["__tuple__"])
    if "__items__" in value:
        return {_decode(k, path, trusted): _decode(v, path, trusted)
                for k, v in value["__items__"]}
    if "__ndarray__" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in "biufUSO":
            raise InvalidDataError(f"{path}: unexpected array dtype {value['dtype']!r}")
        items = _decode(value["__ndarray__"], path, trusted)
        if dtype.kind == "O":
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out
        return np.array(items, dtype=dtype)
    if "__function__" in value:
        name = value["__function__"]
        if name in _AWIML_BUILDERS:
            from ..classify import networks as classify

            return getattr(classify, name.rpartition(".")[2])
        return UnloadedBuilder(str(name))
    if "__keras__" in value:
        return _keras_object_from_config(value["__keras__"], path, trusted)
    return {k: _decode(v, path, trusted) for k, v in value.items()}


def _framework_versions(kind: str) -> dict[str, str]:
    import numpy as np

    versions = {"numpy": np.__version__}
    if kind != "keras":
        import sklearn
        import skops

        versions.update({"scikit-learn": sklearn.__version__, "skops": skops.__version__})
    if kind != "sklearn":
        keras = sys.modules.get("keras")
        versions.update({"keras": keras.__version__, "backend": keras.backend.backend()})
    return versions


# --------------------------------------------------------------------------- dump


def dump_model(model: Any, folder: str | Path, *, keras_archive: bool = False,
               digests: dict[str, str] | None = None, durable: bool = False) -> dict[str, Any]:
    """Write ``model`` into the empty ``folder``: architecture as JSON, state without pickle.

    Parameters
    ----------
    model : object
        A fitted scikit-learn estimator or Pipeline, a built Keras 3 model,
        a fitted :class:`~awiml.classify.KerasClassifier`, or a Pipeline
        ending in one (see :func:`model_kind`).
    folder : str or pathlib.Path
        An existing, empty folder.
    keras_archive : bool, default=False
        Also keep the usual ``model.keras`` archive of a Keras network, to open
        with Keras directly (awiml never loads from it). It costs the weights'
        size once more on disk and about the time of a ``keras.Model.save``.
    digests : dict, optional
        Filled with ``{file name: "sha256:<hex>"}`` for the files hashed while
        they were written (the skops files), so they need not be read again.
    durable : bool, default=False
        Flush the files named in ``digests`` to disk (``fsync``) before
        returning, beside the hashing, so a caller need not sync them again.

    Returns
    -------
    dict
        JSON-ready description to pass back to :func:`load_model`:
        ``format``, ``kind``, ``files`` (role to file name relative to
        ``folder``), ``architecture`` (class and parameters, or the Keras
        layer list), ``params`` (JSON-safe hyper-parameters), ``classes``
        (or None), ``framework_versions`` and ``untrusted_types`` (types the
        model holds that :func:`load_model` will only accept when passed in
        ``trusted``; normally empty).

    Raises
    ------
    TypeError
        If ``model`` is of no supported kind.
    ValueError
        If ``folder`` is not empty, or a Keras network is not built yet.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> folder = tempfile.mkdtemp()
    >>> saved = dump_model(model, folder)
    >>> saved["kind"], saved["files"], saved["classes"]
    ('sklearn', {'estimator': 'model.skops'}, [0, 1])
    >>> load_model(folder, saved).predict([[1.0]])
    array([1])
    """
    folder = Path(folder)
    kind = model_kind(model)
    if not folder.is_dir():
        raise NotFoundError(f"{folder}: no such folder; create it (empty) first")
    if any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty; dump_model writes into an empty folder")
    if kind == "sklearn":
        files = {"estimator": "model.skops"}
        untrusted = _dump_skops(model, folder / "model.skops", digests, durable)
        architecture = _describe_estimator(model)
        params = _flat_params(model)
    elif kind == "keras":
        files = _dump_keras(model, folder, keras_archive=keras_archive)
        untrusted = []
        architecture = _keras_summary(model)
        params = _keras_params(model)
    else:
        files, untrusted = _dump_keras_classifier(model, folder, keras_archive=keras_archive,
                                                  digests=digests, durable=durable)
        classifier = model.steps[-1][1] if _is_sklearn_pipeline(model) else model
        architecture = {
            "pipeline": _describe_estimator(model),
            "keras": _keras_summary(classifier.model_),
        }
        params = _flat_params(model)
    if untrusted:
        warnings.warn(
            f"the model holds types outside awiml's trusted-types policy: {untrusted}; "
            f"loading it will need trusted={untrusted!r} (after review)",
            UserWarning,
            stacklevel=2,
        )
    return {
        "format": FORMAT,
        "kind": kind,
        "files": files,
        "architecture": architecture,
        "params": params,
        "classes": _classes(model),
        "framework_versions": _framework_versions(kind),
        "untrusted_types": untrusted,
    }


class _ViewReader(io.RawIOBase):
    """A read-only, seekable file over a buffer, without copying it (for :mod:`zipfile`)."""

    def __init__(self, view: Any) -> None:
        super().__init__()
        self.view = memoryview(view).cast("B")
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: len(self.view)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        count = max(0, min(len(buffer), len(self.view) - self.pos))
        buffer[:count] = self.view[self.pos:self.pos + count]
        self.pos += count
        return count


class _InspectingWriter:
    """A binary file that hashes and reads what is written to it, beside the write itself.

    skops hands its whole archive to one ``write`` call: a thread hashes the bytes
    while they are written (and, with ``durable``, another waits for ``fsync``),
    and then the schema is read from memory, so nothing reads the file again.
    """

    def __init__(self, handle: Any, durable: bool = False) -> None:
        self.handle = handle
        self.durable = durable
        self.sha256 = hashlib.sha256()
        self.writes = 0
        self.schema: set[tuple[str, str, str | None]] | None = None

    def write(self, data: Any) -> int:
        from concurrent.futures import ThreadPoolExecutor

        self.writes += 1
        with ThreadPoolExecutor(max_workers=2) as pool:
            hashing = pool.submit(self.sha256.update, data)
            count = self.handle.write(data)  # releases the GIL, like the hash
            syncing = None
            if self.durable and self.writes == 1:  # later pieces are synced by the caller
                self.handle.flush()
                syncing = pool.submit(os.fsync, self.handle.fileno())
            # parsed only now: beside the write, the parse would slow it (two cores)
            try:
                self.schema = _read_schema(_ViewReader(data))
            except (zipfile.BadZipFile, KeyError, ValueError, EOFError):
                self.schema = None  # not a whole archive in one piece: read the file later
            hashing.result()
            if syncing is not None:
                syncing.result()
            return count


def _dump_skops(obj: Any, path: Path, digests: dict[str, str] | None = None,
                durable: bool = False) -> list[str]:
    """Write ``obj`` with skops; return the types the default policy would refuse.

    With ``digests``, record the file's ``"sha256:<hex>"`` under its name; with
    ``durable``, sync the file to disk before returning.
    """
    import skops.io

    try:
        with open(path, "wb") as handle:
            writer = _InspectingWriter(handle, durable)
            skops.io.dump(obj, writer)  # type: ignore[arg-type]
            if durable and writer.writes != 1:  # written in pieces: sync what the writer did not
                handle.flush()
                os.fsync(handle.fileno())
        if digests is not None:
            digests[path.name] = tagged(writer.sha256)
    except TypeError as exc:  # skops' "cannot persist this type"; other errors propagate
        path.unlink(missing_ok=True)
        where = _unstorable(obj)
        raise TypeError(
            f"skops cannot store {where or type(obj).__name__} ({type(exc).__name__}: {exc}); "
            "fitted state must be arrays, numbers, strings, lists, dicts or estimators"
        ) from exc
    found = writer.schema if writer.writes == 1 else None
    if found is None:
        found = _read_schema(path)
    return sorted(_audit_schema(found, frozenset())[0])


def _unstorable(obj: Any) -> str | None:
    """Name the first attribute of an estimator in ``obj`` that skops cannot store."""
    import skops.io

    def nested(value: Any) -> bool:
        return _is_estimator(value) or isinstance(value, (list, tuple))

    def children(item: Any) -> Iterable[Any]:
        if _is_estimator(item):
            return filter(nested, vars(item).values())
        return item if isinstance(item, (list, tuple)) else ()

    for item in _reachable(obj, children):
        if not _is_estimator(item):
            continue
        for key, value in vars(item).items():
            if nested(value):
                continue
            try:
                skops.io.dumps(value)
            except Exception:
                return (f"{type(item).__name__}.{key} "
                        f"(a {type(value).__module__}.{type(value).__qualname__})")
    return None


def _dump_keras(model: Any, folder: Path, *, keras_archive: bool,
                stem: str = "", role: str = "") -> dict[str, str]:
    """Write a Keras network's architecture, weights and (optionally) archive."""
    if not model.built:
        raise ValueError(
            f"the Keras model {model.name!r} is not built yet (no weights); call it on data "
            "or build it before storing it"
        )
    names = {
        "architecture": f"{stem}architecture.json",
        "weights": f"{stem}model.weights.h5",
        "keras_archive": f"{stem}model.keras",
    }
    from ._keras_skipsets import lend_skipsets

    (folder / names["architecture"]).write_text(model.to_json(), encoding="utf-8")
    if keras_archive:
        archive = folder / names["keras_archive"]
        with lend_skipsets():
            model.save(archive)
        # the archive holds the very weights file save_weights writes: copy it out once
        _copy_zip_member(archive, "model.weights.h5", folder / names["weights"])
    else:
        del names["keras_archive"]
        with lend_skipsets():
            model.save_weights(folder / names["weights"])
    return {f"{role}{k}": v for k, v in names.items()}


def _copy_zip_member(archive: Path, member: str, target: Path) -> None:
    """Copy one member of a zip file we just wrote to ``target``.

    A stored (uncompressed) member is copied from its offset, without the CRC
    pass of :meth:`zipfile.ZipFile.open`, which costs as much as the writing.
    """
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            return
    with open(archive, "rb") as src, open(target, "wb") as dst:
        src.seek(info.header_offset)
        header = src.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise InvalidDataError(f"{archive}: bad zip header of {member}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        src.seek(info.header_offset + 30 + name_length + extra_length)
        remaining = info.compress_size
        while remaining:
            chunk = src.read(min(remaining, 1 << 22))
            if not chunk:
                raise InvalidDataError(f"{archive}: {member} is truncated")
            dst.write(chunk)
            remaining -= len(chunk)


def _keras_summary(model: Any) -> dict[str, Any]:
    layers = []
    for layer in model.layers:
        try:
            n_params = int(layer.count_params())
        except Exception:  # a layer without weights built
            n_params = 0
        layers.append({"name": layer.name, "class": type(layer).__name__, "params": n_params})
    return {
        "class": type(model).__name__,
        "name": model.name,
        "layers": layers,
        "total_params": int(model.count_params()),
    }


def _keras_params(model: Any) -> dict[str, Any]:
    if not getattr(model, "compiled", False):
        return {}
    try:
        return _json_safe(model.get_compile_config() or {})
    except Exception:  # compile configs of exotic optimizers: the architecture file has it
        return {}


def _dump_keras_classifier(model: Any, folder: Path, *, keras_archive: bool,
                           digests: dict[str, str] | None = None, durable: bool = False
                           ) -> tuple[dict[str, str], list[str]]:
    """Write a (Pipeline ending in a) KerasClassifier: steps, network and sklearn side."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    files: dict[str, str] = {}
    untrusted: list[str] = []
    if _is_sklearn_pipeline(model):
        name, classifier = model.steps[-1]
        params = model.get_params(deep=False)
        params["steps"] = [*model.steps[:-1], (name, "passthrough")]
        head = Pipeline(**params)
        files["steps"] = "steps.skops"
        untrusted = _dump_skops(head, folder / "steps.skops", digests, durable)
    else:
        name, classifier = None, model
    check_is_fitted(classifier)
    files.update(_dump_keras(classifier.model_, folder, keras_archive=keras_archive))
    state: dict[str, Any] = {"class": _KERAS_CLASSIFIER, "step": name, "params": {},
                             "unsaved_params": {}, "fitted": {}}
    for key, value in classifier.get_params(deep=False).items():
        if key == "model" and _is_keras_model(value):
            files.update(_dump_keras(value, folder, keras_archive=False,
                                     stem="template.", role="template_"))
            state["params"][key] = {"__template__": True}
            continue
        try:
            state["params"][key] = _encode(value)
        except _NotJSON as exc:
            state["unsaved_params"][key] = str(exc)
    for key in ("classes_", "class_weight_", "history_", "n_iter_", "n_features_in_",
                "input_shape_", "feature_names_in_"):
        if hasattr(classifier, key):
            try:
                state["fitted"][key] = _encode(getattr(classifier, key))
            except _NotJSON as exc:
                raise TypeError(f"cannot store KerasClassifier.{key}: {exc}") from None
    files["classifier"] = "classifier.json"
    (folder / "classifier.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
    return files, untrusted


# --------------------------------------------------------------------------- load


def load_model(folder: str | Path, saved: Mapping[str, Any], *,
               trusted: Iterable[str] = (), contents: Mapping[str, Any] | None = None) -> Any:
    """Load a model written by :func:`dump_model`, never executing code from its files.

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder :func:`dump_model` wrote.
    saved : dict
        The description :func:`dump_model` returned (or the same read back from JSON).
    trusted : iterable of str, default=()
        Extra fully qualified type, function or Keras class names to accept
        beyond :data:`TRUSTED_TYPES` and :data:`KERAS_LAYERS`. Pass only names
        you have reviewed, for a file whose origin you trust.
    contents : dict of str to bytes or binary file, optional
        Files already read or opened, by their name in ``saved["files"]``;
        skops files among them are parsed from these, not opened again.

    Returns
    -------
    object
        The fitted model, ready to predict.

    Raises
    ------
    UntrustedModelError
        If a file names a type, function or Keras class outside the policy
        and ``trusted``; nothing from the file was built.
    awiml.errors.InvalidDataError
        If a file is corrupt (truncated, invalid JSON, inconsistent
        structures); the message names the file.
    awiml.errors.NotFoundError
        If a file is missing.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> model = RandomForestClassifier(5, random_state=0).fit([[0.0], [1.0]], [0, 1])
    >>> folder = tempfile.mkdtemp()
    >>> saved = dump_model(model, folder)
    >>> load_model(folder, saved).predict([[0.9]])
    array([1])
    """
    folder = Path(folder)
    if isinstance(trusted, str):
        trusted = [trusted]
    trusted = frozenset(str(t) for t in trusted)
    kind = saved.get("kind")
    files = saved.get("files") or {}
    if not isinstance(files, Mapping):
        raise InvalidDataError(f"{folder}: the saved description has no valid 'files' mapping")
    in_memory = dict(contents or {})
    if kind == "sklearn":
        return _load_skops(_file(folder, files, "estimator"), trusted,
                           in_memory.get(files.get("estimator")))
    if kind == "keras":
        return _load_keras(_file(folder, files, "architecture"), _file(folder, files, "weights"),
                           trusted)
    if kind == "sklearn+keras":
        return _load_keras_classifier(folder, files, trusted, in_memory)
    raise InvalidDataError(f"{folder}: unknown model kind {kind!r}; expected one of "
                           "'sklearn', 'keras', 'sklearn+keras'")


def _file(folder: Path, files: Mapping[str, Any], role: str) -> Path:
    name = files.get(role)
    if not isinstance(name, str) or not name:
        raise InvalidDataError(f"{folder}: the saved description lists no {role!r} file")
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise InvalidDataError(f"{folder}: the {role!r} file {name!r} is not inside the folder")
    path = folder / relative
    if not path.is_file():
        raise NotFoundError(f"{path}: missing {role} file of the saved model")
    return path


def _refusal(path: Path, refused: Mapping[str, str] | Iterable[str], what: str
             ) -> UntrustedModelError:
    """Build the error for ``refused`` names (a mapping adds a detail to show per name)."""
    details = dict(refused) if isinstance(refused, Mapping) else {n: n for n in refused}
    names = sorted(n for n in details if n != "__lambda__")
    shown = ", ".join(details[n] for n in sorted(details))
    message = (
        f"{path}: refusing to load {what} outside awiml's trusted policy: {shown}. "
        "Loading them could run code chosen by whoever wrote the file."
    )
    if names:
        message += (
            " If you have reviewed them and trust the file's origin, pass them explicitly: "
            f"load(..., trusted={names!r})"
        )
    if "__lambda__" in details:
        message += (
            " A serialized Python lambda is never loaded: rebuild the model in code and "
            "load only its weights"
        )
    return UntrustedModelError(message, details, str(path))


# ------------------------------------------------------------ scikit-learn


def _read_schema(source: Any) -> set[tuple[str, str, str | None]]:
    """Return every ``(loader, name, method)`` the ``schema.json`` of a skops file holds.

    ``source`` is a path or a binary file object; the names are collected in the
    JSON parser's object hook, in one pass.
    """
    found: set[tuple[str, str, str | None]] = set()

    def hook(node: dict) -> dict:
        loader = node.get("__loader__")
        if loader is not None and loader != "JsonNode":
            method = None
            if loader == "MethodNode":
                content = node.get("content")
                method = str(content.get("func")) if isinstance(content, dict) else None
            found.add((str(loader), f"{node.get('__module__')}.{node.get('__class__')}", method))
        return node

    with zipfile.ZipFile(source) as archive:
        json.loads(archive.read("schema.json"), object_hook=hook)
    return found


def _audit_schema(found: set[tuple[str, str, str | None]], trusted: frozenset[str]
                  ) -> tuple[set[str], set[str]]:
    """Split the names :func:`_read_schema` found into refused and accepted ones.

    The policy is :data:`TRUSTED_TYPES` plus ``trusted``; loaders that call what they
    name are accepted only for names in ``trusted``.
    """
    allowed = set(TRUSTED_TYPES) | trusted
    refused: set[str] = set()
    accepted: set[str] = set()
    for loader, name, method in found:
        if loader == "CachedNode":
            continue
        if loader in _SKOPS_DATA_LOADERS:
            (accepted if name in allowed else refused).add(name)
        elif loader in _SKOPS_CALLING_LOADERS:
            if loader == "MethodNode":
                name = f"{name}.{method}"
            (accepted if name in trusted else refused).add(name)
        else:
            refused.add(f"{name} (skops loader {loader})")
    return refused, accepted


def _load_skops(path: Path, trusted: frozenset[str], content: Any = None) -> Any:
    import contextlib

    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    if content is None:
        opened: Any = open(path, "rb")
    elif isinstance(content, (bytes, bytearray, memoryview)):
        opened = io.BytesIO(content)
    else:  # the caller's open binary file: read from its start, leave it open
        content.seek(0)
        opened = contextlib.nullcontext(content)
    # one open file (or buffer) for the audit and for skops: what is checked is what is loaded
    with opened as handle:
        try:
            found = _read_schema(handle)
        except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
            raise InvalidDataError(f"{path}: not a readable skops file ({exc})") from exc
        refused, accepted = _audit_schema(found, trusted)
        if refused:
            raise _refusal(path, refused, "types")
        handle.seek(0)
        try:
            # skops gets the names the file holds, not the whole policy: the same decision,
            # and its per-node cost grows with the length of this list
            obj = skops.io.load(handle, trusted=sorted(accepted))
        except UntrustedTypesFoundException as exc:
            raise UntrustedModelError(f"{path}: skops refused the file: {exc}", (), str(path)
                                      ) from exc
        except Exception as exc:
            raise InvalidDataError(f"{path}: corrupt skops file ({type(exc).__name__}: {exc})"
                                   ) from exc
    _check_structures(obj, path)
    return obj


# ------------------------------------------------------------ Keras


def _keras_refusals(config: Any, allowed: frozenset[str], registered: frozenset[str]
                    ) -> dict[str, str]:
    """Return what a Keras config names outside ``allowed``: name to a description."""
    refused: dict[str, str] = {}
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if isinstance(node, str):
            if node in registered:
                refused[node] = f"registered custom object {node!r}"
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if "class_name" not in node:
            continue
        class_name = node["class_name"]
        module = node.get("module")
        registered_name = node.get("registered_name")
        label = ""
        inner = node.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            label = f" (layer {inner['name']!r})"
        if not isinstance(class_name, str) or not isinstance(module, (str, type(None))):
            text = _short_repr(node)[:80]
            refused[text] = f"a malformed entry {text}"
            continue
        if class_name in _KERAS_DATA_MARKERS:
            continue
        if class_name == "__lambda__":
            refused["__lambda__"] = "a serialized Python lambda (__lambda__)"
            continue
        if class_name == "function":
            fn = inner if isinstance(inner, str) else "?"
            if module == "builtins":
                ok = any(f"keras.{m}.{fn}" in allowed
                         for m in ("activations", "losses", "metrics"))
            else:
                ok = f"{module}.{fn}" in allowed
            if not ok or registered_name not in (None, fn):
                refused[f"{module}.{fn}"] = f"function {module}.{fn}"
            continue
        if module is not None and _KERAS_BACKEND_OPTIMIZER.fullmatch(module):
            module = "keras.optimizers"
        name = f"{module}.{class_name}"
        if name not in allowed or registered_name not in (None, class_name):
            detail = name + label
            if registered_name not in (None, class_name):
                detail += f" registered as {registered_name!r}"
            refused[name] = detail
    return refused


def _keras_object_from_config(config: Any, path: Path, trusted: frozenset[str]) -> Any:
    """Check a Keras config against the policy and ``trusted``, then build it in safe mode."""
    from ..classify.networks import _import_keras

    keras = _import_keras()
    from keras.src.saving.serialization_lib import SafeModeScope

    registered = frozenset(keras.saving.get_custom_objects()) - trusted
    refused = _keras_refusals(config, KERAS_LAYERS | trusted, registered)
    if refused:
        raise _refusal(path, refused, "Keras classes, layers or functions")
    try:
        with SafeModeScope(True):
            return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except UntrustedModelError:
        raise
    except Exception as exc:
        raise InvalidDataError(f"{path}: cannot build the Keras object it describes "
                               f"({type(exc).__name__}: {exc})") from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDataError(f"{path}: invalid JSON ({exc})") from exc


def _load_keras(architecture: Path, weights: Path, trusted: frozenset[str]) -> Any:
    from ._keras_skipsets import lend_skipsets

    config = _read_json(architecture)
    if not isinstance(config, dict) or "class_name" not in config:
        raise InvalidDataError(f"{architecture}: not a Keras model configuration")
    model = _keras_object_from_config(config, architecture, trusted)
    if not _is_keras_model(model):
        raise InvalidDataError(f"{architecture}: describes a {type(model).__name__}, "
                               "not a Keras model")
    try:
        with warnings.catch_warnings():
            # a compiled model's weights file carries the optimizer's variables, which an
            # inference-ready model has not built yet: Keras warns and skips them
            warnings.filterwarnings("ignore", message=".*[Ss]kipping variable loading")
            with lend_skipsets():
                model.load_weights(weights)
    except Exception as exc:
        raise InvalidDataError(f"{weights}: cannot load the weights "
                               f"({type(exc).__name__}: {exc})") from exc
    return model


def _load_keras_classifier(folder: Path, files: Mapping[str, Any],
                           trusted: frozenset[str], contents: Mapping[str, Any]) -> Any:
    from ..classify.networks import KerasClassifier

    state_path = _file(folder, files, "classifier")
    state = _read_json(state_path)
    if not isinstance(state, dict) or state.get("class") != _KERAS_CLASSIFIER or \
            not isinstance(state.get("params"), dict) or not isinstance(state.get("fitted"), dict):
        raise InvalidDataError(f"{state_path}: not a saved {_KERAS_CLASSIFIER}")
    head = None
    if "steps" in files:
        head = _load_skops(_file(folder, files, "steps"), trusted, contents.get(files["steps"]))
        if not _is_sklearn_pipeline(head) or not head.steps or head.steps[-1][1] != "passthrough":
            raise InvalidDataError(f"{folder / files['steps']}: not the head of a Pipeline")
    network = _load_keras(_file(folder, files, "architecture"), _file(folder, files, "weights"),
                          trusted)
    params = {}
    for key, value in state["params"].items():
        if isinstance(value, dict) and value.get("__template__"):
            params[key] = _load_keras(_file(folder, files, "template_architecture"),
                                      _file(folder, files, "template_weights"), trusted)
        else:
            params[key] = _decode(value, state_path, trusted)
    try:
        classifier = KerasClassifier(**params)
    except TypeError as exc:
        raise InvalidDataError(f"{state_path}: parameters do not fit KerasClassifier ({exc})"
                               ) from exc
    fitted = {k: _decode(v, state_path, trusted) for k, v in state["fitted"].items()}
    if "classes_" not in fitted:
        raise InvalidDataError(f"{state_path}: the classifier has no classes_")
    if "input_shape_" in fitted:
        fitted["input_shape_"] = tuple(fitted["input_shape_"])
    for key, value in fitted.items():
        setattr(classifier, key, value)
    classifier.model_ = network
    if head is None:
        return classifier
    head.steps[-1] = (head.steps[-1][0], classifier)
    return head
