"""Compare a retrained model, its predictions and its environment with the stored ones.

A model is reproduced when the new fit equals the stored one. For
scikit-learn estimators and awiml's own (``awiml.preprocess``,
``awiml.features``, ``awiml.classify``) *equal* means exactly equal:
:func:`compare_fitted` walks both objects (class, ``get_params()``, every
fitted attribute, nested estimators) and lists each :class:`Difference` by
its attribute path, such as ``steps[1].classify.coef_``. A Keras network,
trained on a CPU in float32, cannot be held to exact equality (see
:data:`KERAS_RTOL`); :func:`compare_keras` compares its weights within a
tolerance while the scikit-learn steps around it stay exact.
:func:`compare_predictions` compares what both models predict on a sample,
and :func:`compare_environments` the recorded package versions with the
installed ones.
"""

from __future__ import annotations

import importlib.metadata
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KERAS_ATOL",
    "KERAS_RTOL",
    "Difference",
    "PredictionComparison",
    "compare_environments",
    "compare_fitted",
    "compare_keras",
    "compare_predictions",
]

#: Relative tolerance for the weights of a retrained Keras network.
#:
#: On a CPU in float32 (about 7 significant digits), a sum computed in another
#: order (another thread count, another BLAS kernel, another PyTorch build)
#: differs in its last digits, and training compounds that over every step.
#: A relative difference up to 1e-4 is that drift; a different seed, data set
#: or hyper-parameter moves weights by orders of magnitude more.
KERAS_RTOL = 1e-4

#: Absolute tolerance for the weights of a retrained Keras network: weights
#: near zero, where a relative tolerance means nothing (see :data:`KERAS_RTOL`).
KERAS_ATOL = 1e-6

#: Fitted values that measure how long something took, never the same twice: not compared.
_TIMING = re.compile(r"^(refit_time_|(mean|std)_(fit|score)_time)$")

#: How deep plain objects (not estimators, arrays or containers) are walked.
_MAX_OBJECT_DEPTH = 4


@dataclass(frozen=True)
class Difference:
    """One way the new model differs from the stored one.

    Parameters
    ----------
    path : str
        The attribute path from the top object, e.g. ``steps[1].classify.coef_``
        (``""`` for the object itself).
    description : str
        What differs, e.g. ``"values differ (max abs diff 0.031)"``.

    Examples
    --------
    >>> print(Difference("steps[1].classify.coef_", "values differ (max abs diff 0.5)"))
    steps[1].classify.coef_: values differ (max abs diff 0.5)
    """

    path: str
    description: str

    def __str__(self) -> str:
        return f"{self.path or '(the model)'}: {self.description}"


@dataclass(frozen=True)
class PredictionComparison:
    """What :func:`compare_predictions` found.

    Parameters
    ----------
    rows : int
        Rows of the sample.
    predict_differs : int
        Rows whose ``predict`` label differs.
    proba_differs : int or None
        Rows with a ``predict_proba`` value out of tolerance (exact: any
        difference); None when the models have no ``predict_proba``.
    proba_max_abs_diff : float or None
        The largest absolute difference of the probabilities.
    exact : bool
        Whether probabilities had to be equal exactly.
    rtol, atol : float
        The tolerance used when not exact.

    Examples
    --------
    >>> PredictionComparison(10, 0, 1, 2e-3, exact=False, rtol=1e-4, atol=1e-6).ok
    False
    """

    rows: int
    predict_differs: int
    proba_differs: int | None
    proba_max_abs_diff: float | None
    exact: bool
    rtol: float = 0.0
    atol: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every row's label and probabilities agree."""
        return self.predict_differs == 0 and not self.proba_differs

    def __str__(self) -> str:
        rule = "exactly" if self.exact else f"within rtol={self.rtol:g}, atol={self.atol:g}"
        text = f"{self.predict_differs} of {self.rows} predicted labels differ"
        if self.proba_differs is not None:
            text += (f"; {self.proba_differs} rows of probabilities differ ({rule}; max abs "
                     f"diff {self.proba_max_abs_diff:.3g})")
        return text


def compare_fitted(stored: Any, new: Any) -> list[Difference]:
    """List every way a fitted model differs from another, everything compared exactly.

    Both objects are walked together: the same class, equal ``get_params()``
    (estimators among the parameters walked in turn), and every fitted
    attribute (a name in ``vars(obj)`` that ends in ``_`` and does not start
    with ``_``), nested estimators in lists, tuples and dicts included
    (``estimators_``, ``steps``, ``transformers_``). NumPy arrays must have
    the same dtype, shape and values (NaN equals NaN), pandas objects must be
    ``equals``, floats exactly equal. A Keras network inside is compared
    exactly too; use :func:`compare_keras` to allow for float32 drift. Only
    the times a search measured (``refit_time_``, the ``*_fit_time`` and
    ``*_score_time`` of ``cv_results_``) are left out: they never repeat.

    Parameters
    ----------
    stored, new : object
        The stored model and the retrained one: scikit-learn estimators,
        ``Pipeline``, ``ColumnTransformer``, searches, awiml's estimators.

    Returns
    -------
    list of Difference
        Empty when the models are the same.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = np.arange(8.0).reshape(4, 2), np.array([0, 0, 1, 1])
    >>> compare_fitted(LogisticRegression().fit(X, y), LogisticRegression().fit(X, y))
    []
    >>> for d in compare_fitted(LogisticRegression().fit(X, y),
    ...                         LogisticRegression(C=0.1).fit(X, y))[:2]:
    ...     print(d.path)
    C
    coef_
    """
    walker = _Walker(rtol=0.0, atol=0.0, keras_only=False)
    walker.walk(stored, new, "")
    return walker.found


def compare_keras(
    stored: Any, new: Any, *, rtol: float = KERAS_RTOL, atol: float = KERAS_ATOL
) -> list[Difference]:
    """List how a model with a Keras network differs, the network within a tolerance.

    Parameters
    ----------
    stored, new : object
        Keras models, :class:`~awiml.classify.KerasClassifier` (its ``model_``
        holds the network), or scikit-learn pipelines holding one.
    rtol, atol : float, optional
        The tolerance of :func:`numpy.allclose` for the network's weights and
        the floats the Keras estimator recorded while training (``history_``).
        Everything outside the Keras estimator is compared exactly, as by
        :func:`compare_fitted`.

    Returns
    -------
    list of Difference
        Empty when the models agree. A weight out of tolerance is named by
        layer and weight (``model_.layers[1](dense).kernel``) with its max abs diff;
        another layer structure is one difference.

    Examples
    --------
    >>> import os
    >>> os.environ.setdefault("KERAS_BACKEND", "torch")
    'torch'
    >>> import keras
    >>> def net(seed):
    ...     keras.utils.set_random_seed(seed)
    ...     return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> compare_keras(net(0), net(0))
    []
    >>> print(compare_keras(net(0), net(1))[0].path.split(".")[-1])
    kernel
    """
    walker = _Walker(rtol=rtol, atol=atol, keras_only=True)
    walker.walk(stored, new, "")
    return walker.found


def compare_predictions(
    stored: Any,
    new: Any,
    sample: Any,
    *,
    exact: bool = True,
    rtol: float = KERAS_RTOL,
    atol: float = KERAS_ATOL,
) -> PredictionComparison:
    """Compare what two models predict on the same sample.

    Parameters
    ----------
    stored, new : estimator
        Fitted models with ``predict`` (and ``predict_proba``, compared when
        both have it).
    sample : array-like or DataFrame
        The rows to predict.
    exact : bool, optional
        Whether probabilities must be equal exactly; otherwise within
        ``rtol`` and ``atol`` (a network's). Labels are always compared exactly.
    rtol, atol : float, optional
        The tolerance when not exact.

    Returns
    -------
    PredictionComparison
        How many rows differ; ``.ok`` when none do.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = np.arange(8.0).reshape(4, 2), np.array([0, 0, 1, 1])
    >>> a, b = LogisticRegression().fit(X, y), LogisticRegression(C=1e-3).fit(X, y)
    >>> print(compare_predictions(a, a, X))
    0 of 4 predicted labels differ; 0 rows of probabilities differ (exactly; max abs diff 0)
    >>> compare_predictions(a, b, X).proba_differs
    4
    """
    import numpy as np

    old_labels = np.asarray(stored.predict(sample))
    new_labels = np.asarray(new.predict(sample))
    rows = len(old_labels)
    if old_labels.shape != new_labels.shape:
        return PredictionComparison(rows, rows, None, None, exact, rtol, atol)
    predict_differs = int(np.count_nonzero(_row_mismatch(old_labels != new_labels)))
    proba_differs: int | None = None
    max_diff: float | None = None
    if hasattr(stored, "predict_proba") and hasattr(new, "predict_proba"):
        old_p = np.asarray(stored.predict_proba(sample), dtype=float)
        new_p = np.asarray(new.predict_proba(sample), dtype=float)
        if old_p.shape != new_p.shape:
            proba_differs, max_diff = rows, math.inf
        else:
            close = (old_p == new_p) if exact else np.isclose(old_p, new_p, rtol=rtol, atol=atol)
            close |= np.isnan(old_p) & np.isnan(new_p)
            proba_differs = int(np.count_nonzero(_row_mismatch(~close)))
            max_diff = _max_abs_diff(old_p, new_p)
    return PredictionComparison(rows, predict_differs, proba_differs, max_diff, exact,
                                0.0 if exact else rtol, 0.0 if exact else atol)


def compare_environments(
    recorded_distributions: Mapping[str, str],
    current_distributions: Mapping[str, str] | None = None,
) -> list[tuple[str, str | None, str | None]]:
    """List the distributions whose recorded and installed versions differ.

    Parameters
    ----------
    recorded_distributions : mapping of str to str
        ``provenance["environment"]["distributions"]``: name to version at
        training time.
    current_distributions : mapping of str to str, optional
        Name to version now; by default the installed version of each recorded
        distribution, read with :mod:`importlib.metadata`.

    Returns
    -------
    list of (name, recorded, current)
        Sorted by name, names normalised (``scikit_learn`` is
        ``scikit-learn``); ``None`` for a version that is missing on one side.

    Examples
    --------
    >>> compare_environments({"numpy": "2.0.0", "Scikit_Learn": "1.5.0"},
    ...                      {"numpy": "2.0.0", "scikit-learn": "1.6.1", "keras": "3.8.0"})
    [('keras', None, '3.8.0'), ('scikit-learn', '1.5.0', '1.6.1')]
    """
    recorded = {_normalise(name): str(v) for name, v in recorded_distributions.items()}
    if current_distributions is None:
        current = {name: _installed_version(name) for name in recorded}
    else:
        current = {_normalise(name): str(v) for name, v in current_distributions.items()}
    names = sorted(set(recorded) | {n for n, v in current.items() if v is not None})
    return [(name, recorded.get(name), current.get(name)) for name in names
            if recorded.get(name) != current.get(name)]


def _normalise(name: str) -> str:
    """Return a distribution name as PEP 503 normalises it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _row_mismatch(mismatch: Any) -> Any:
    """Reduce an element-wise mismatch to one flag per row."""
    return mismatch.reshape(len(mismatch), -1).any(axis=1) if mismatch.ndim > 1 else mismatch


def _max_abs_diff(a: Any, b: Any) -> float:
    """Return the largest absolute difference of two numeric arrays of one shape (NaNs aside)."""
    import numpy as np

    if a.size == 0:
        return 0.0
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    diff = diff[~np.isnan(diff)]
    return float(diff.max()) if diff.size else 0.0


def _is_estimator(value: Any) -> bool:
    return hasattr(value, "get_params") and hasattr(value, "fit") and not isinstance(value, type)


def _is_keras_model(value: Any) -> bool:
    keras = sys.modules.get("keras")  # no Keras imported: no Keras model can exist
    return keras is not None and isinstance(value, keras.Model)


class _Walker:
    """Walk two objects together and collect their differences.

    ``rtol`` and ``atol`` apply inside Keras networks and, when
    ``keras_only`` is set, inside the estimators holding one; everything else
    is compared exactly.
    """

    def __init__(self, *, rtol: float, atol: float, keras_only: bool) -> None:
        self.rtol = rtol
        self.atol = atol
        self.keras_only = keras_only
        self.found: list[Difference] = []
        self._tolerant = False

    def differ(self, path: str, description: str) -> None:
        self.found.append(Difference(path, description))

    def walk(self, a: Any, b: Any, path: str, depth: int = 0) -> None:
        if type(a) is not type(b):
            self.differ(path, f"{_type_name(a)} vs {_type_name(b)}")
        elif _is_keras_model(a):
            self._tolerant_walk(self._keras, a, b, path)
        elif _is_estimator(a):
            holds_keras = self.keras_only and _is_keras_model(getattr(a, "model_", None))
            if holds_keras:
                self._tolerant_walk(self._estimator, a, b, path)
            else:
                self._estimator(a, b, path)
        else:
            self._value(a, b, path, depth)

    def _tolerant_walk(self, method: Any, a: Any, b: Any, path: str) -> None:
        before, self._tolerant = self._tolerant, True
        try:
            method(a, b, path)
        finally:
            self._tolerant = before

    def _estimator(self, a: Any, b: Any, path: str) -> None:
        params_a, params_b = a.get_params(deep=False), b.get_params(deep=False)
        self._mapping(params_a, params_b, path, key_format=".{}")
        fitted_a = _fitted_attributes(a)
        fitted_b = _fitted_attributes(b)
        self._mapping(fitted_a, fitted_b, path, key_format=".{}", what="fitted attribute")

    def _mapping(self, a: Mapping[Any, Any], b: Mapping[Any, Any], path: str, *,
                 key_format: str, what: str = "key") -> None:
        for key in sorted(set(a) | set(b), key=repr):
            if isinstance(key, str) and _TIMING.match(key):
                continue
            where = _join(path, key_format.format(key))
            if key not in a:
                self.differ(where, f"{what} only in the new model")
            elif key not in b:
                self.differ(where, f"{what} only in the stored model")
            else:
                self.walk(a[key], b[key], where)

    def _value(self, a: Any, b: Any, path: str, depth: int) -> None:
        np = sys.modules.get("numpy")
        pd = sys.modules.get("pandas")
        sparse = sys.modules.get("scipy.sparse")
        if np is not None and isinstance(a, np.ndarray):
            self._array(a, b, path)
        elif pd is not None and isinstance(a, (pd.DataFrame, pd.Series, pd.Index)):
            if not a.equals(b):
                self.differ(path, f"{type(a).__name__} contents differ")
        elif sparse is not None and sparse.issparse(a):
            if a.shape != b.shape or a.dtype != b.dtype or (a != b).nnz:
                self.differ(path, "sparse matrices differ")
        elif isinstance(a, Mapping):
            self._mapping(a, b, path, key_format="[{!r}]")
        elif isinstance(a, (list, tuple)):
            self._sequence(a, b, path)
        elif isinstance(a, float) or (np is not None and isinstance(a, np.floating)):
            self._float(float(a), float(b), path)
        elif np is not None and isinstance(a, np.random.RandomState):
            self._value(a.get_state(legacy=False), b.get_state(legacy=False), path, depth)
        else:
            self._other(a, b, path, depth)

    def _sequence(self, a: Any, b: Any, path: str) -> None:
        if len(a) != len(b):
            self.differ(path, f"{len(a)} items vs {len(b)}")
            return
        for index, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            where = f"{path}[{index}]"
            named = (isinstance(item_a, tuple) and isinstance(item_b, tuple) and len(item_a) >= 2
                     and len(item_a) == len(item_b) and isinstance(item_a[0], str))
            if named and item_a[0] == item_b[0]:  # ("name", estimator, ...): steps, transformers
                self.walk(item_a[1], item_b[1], f"{where}.{item_a[0]}")
                for k in range(2, len(item_a)):
                    self.walk(item_a[k], item_b[k], f"{where}[{k}]")
            else:
                self.walk(item_a, item_b, where)

    def _float(self, a: float, b: float, path: str) -> None:
        if a == b or (math.isnan(a) and math.isnan(b)):
            return
        if self._tolerant and math.isclose(a, b, rel_tol=self.rtol, abs_tol=self.atol):
            return
        self.differ(path, f"{a!r} vs {b!r}")

    def _array(self, a: Any, b: Any, path: str) -> None:
        import numpy as np

        if a.dtype != b.dtype:
            self.differ(path, f"dtype {a.dtype} vs {b.dtype}")
        elif a.shape != b.shape:
            self.differ(path, f"shape {a.shape} vs {b.shape}")
        elif a.dtype.kind in "fc":
            same = np.array_equal(a, b, equal_nan=True)
            if not same and self._tolerant:
                same = bool(np.allclose(a, b, rtol=self.rtol, atol=self.atol, equal_nan=True))
            if not same:
                self.differ(path, self._array_text(a, b))
        elif a.dtype.kind in "biu":
            if not np.array_equal(a, b):
                self.differ(path, f"values differ (max abs diff {_max_abs_diff(a, b):.3g})")
        elif a.dtype.kind == "O":
            self._sequence(list(a.ravel()), list(b.ravel()), path)
        elif not np.array_equal(a, b):
            self.differ(path, f"{int(np.count_nonzero(a != b))} of {a.size} values differ")

    def _array_text(self, a: Any, b: Any) -> str:
        tolerance = f" (rtol={self.rtol:g}, atol={self.atol:g})" if self._tolerant else ""
        return f"values differ{tolerance}, max abs diff {_max_abs_diff(a, b):.3g}"

    def _keras(self, a: Any, b: Any, path: str) -> None:
        import numpy as np

        layers_a = [(layer.name, type(layer).__name__) for layer in a.layers]
        layers_b = [(layer.name, type(layer).__name__) for layer in b.layers]
        if [kind for _, kind in layers_a] != [kind for _, kind in layers_b]:
            self.differ(path, "layer structure differs: "
                        f"{_layer_list(layers_a)} vs {_layer_list(layers_b)}")
            return
        for index, (layer_a, layer_b) in enumerate(zip(a.layers, b.layers, strict=True)):
            where = _join(path, f".layers[{index}]({layer_a.name})")  # the stored name
            weights_a, weights_b = layer_a.weights, layer_b.weights
            if len(weights_a) != len(weights_b):
                self.differ(where, f"{len(weights_a)} weights vs {len(weights_b)}")
                continue
            for weight_a, weight_b in zip(weights_a, weights_b, strict=True):
                name = weight_a.path.rsplit("/", 1)[-1]
                self._array(np.asarray(weight_a.numpy()), np.asarray(weight_b.numpy()),
                            f"{where}.{name}")

    def _other(self, a: Any, b: Any, path: str, depth: int) -> None:
        if a is b:
            return
        if type(a).__eq__ is not object.__eq__:
            try:
                if bool(a == b):
                    return
            except Exception:  # an __eq__ that cannot answer: compare as described below
                pass
            else:
                self.differ(path, f"{_short(a)} vs {_short(b)}")
                return
        config = getattr(a, "get_config", None)
        if callable(config):  # Keras objects (optimizers, losses, layers)
            try:
                self.walk(a.get_config(), b.get_config(), f"{path}.get_config()")
                return
            except Exception:  # an object whose config cannot be read: its attributes below
                pass
        state_a, state_b = _state(a), _state(b)
        if state_a is not None and state_b is not None and depth < _MAX_OBJECT_DEPTH:
            for key in sorted(set(state_a) | set(state_b)):
                where = _join(path, f".{key}")
                if key not in state_a or key not in state_b:
                    self.differ(where, "attribute only in one model")
                else:
                    self.walk(state_a[key], state_b[key], where, depth + 1)
            return
        self.differ(path, f"{_short(a)} vs {_short(b)}")


def _state(value: Any) -> Mapping[str, Any] | None:
    """Return what pickling keeps of an object as a mapping, or None.

    That is its ``__dict__``, or a Cython object's state, such as the nodes of
    a scikit-learn ``Tree``.
    """
    try:
        state = value.__getstate__()
    except Exception:  # an object that refuses to be pickled: compared by identity
        return None
    return state if isinstance(state, Mapping) else None


def _fitted_attributes(estimator: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(estimator).items()
            if name.endswith("_") and not name.startswith("_")}


def _join(path: str, part: str) -> str:
    return (path + part) if path else part.lstrip(".")


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _layer_list(layers: list[tuple[str, str]]) -> str:
    return "[" + ", ".join(kind for _, kind in layers) + "]"
