"""Post-load structure checks of scikit-learn models, before a loaded model is handed out.

This module's one job: walk an object that :func:`skops.io.load` just built and
check the index arrays that scikit-learn's compiled code uses without bounds
checks, so that a crafted or corrupt file fails here, with
:class:`awiml.errors.InvalidDataError`, instead of crashing the process at
prediction time. :func:`_check_structures` is the entry point; it looks at

- decision trees (``sklearn.tree._tree.Tree``): every child index points
  forward inside the node array, so a walk always ends at a leaf, and every
  feature index is below the number of features the owning estimator checks
  its input against;
- HistGradientBoosting predictors (``TreePredictor``): the same, plus the
  bitsets of categorical splits;
- ensembles: sub-estimators see the ensemble's input or a subset of it;
- k-NN trees (``KDTree``, ``BallTree``): index arrays stay within the
  training data, node arrays agree in size, Minkowski weights fit;
- libsvm models (SVC, SVR...): the support-vector arrays agree in size.

The types checked here are trusted (:mod:`awiml.store._trust_policy`) only because
of these checks. Heavy imports happen inside the functions.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ..errors import InvalidDataError

#: Raises :class:`~awiml.errors.InvalidDataError` describing what is inconsistent.
_Fail = Callable[[str], NoReturn]


def _check_structures(root: Any, path: Path) -> None:
    """Check the index arrays that scikit-learn's compiled code uses without bounds checks."""
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.neighbors._ball_tree import BallTree
    from sklearn.neighbors._kd_tree import KDTree
    from sklearn.svm._base import BaseLibSVM
    from sklearn.tree._tree import Tree

    def fail(what: str) -> NoReturn:
        raise InvalidDataError(f"{path}: inconsistent model structure: {what}; the file is "
                               "corrupt or was crafted, refusing to use it")

    seen: set[int] = set()
    stack: list[tuple[Any, Any]] = [(root, None)]
    while stack:
        obj, owner = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, BaseEstimator):
            _check_ensemble(obj, fail)
            if isinstance(obj, BaseLibSVM):
                _check_libsvm(obj, fail)
            owner = obj
        if isinstance(obj, Tree):
            _check_tree(obj, owner, fail)
        elif isinstance(obj, TreePredictor):
            _check_predictor(obj, owner, fail)
        elif isinstance(obj, (KDTree, BallTree)):
            _check_binary_tree(obj, fail)
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((v, owner) for v in obj)
        elif isinstance(obj, dict):
            stack.extend((v, owner) for v in obj.values())
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((v, owner) for v in obj.ravel())
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.extend((v, owner) for v in vars(obj).values())


def _n_features(owner: Any) -> int | None:
    n = getattr(owner, "n_features_in_", None)
    return int(n) if isinstance(n, numbers.Integral) else None


def _check_ensemble(est: Any, fail: _Fail) -> None:
    """Sub-estimators of an ensemble see the ensemble's (checked) input or a subset of it."""
    import numpy as np

    subs = getattr(est, "estimators_", None)
    n = _n_features(est)
    if subs is None or n is None or isinstance(subs, dict):
        return
    subs = list(np.asarray(subs, dtype=object).ravel()) if isinstance(subs, np.ndarray) else \
        list(subs) if isinstance(subs, (list, tuple)) else []
    features = getattr(est, "estimators_features_", None)
    for i, sub in enumerate(subs):
        m = _n_features(sub)
        if m is None:
            continue
        if m > n:
            fail(f"{type(est).__name__} sub-estimator {i} expects {m} features, the "
                 f"ensemble only {n}")
        if features is not None and i < len(features):
            f = np.asarray(features[i])
            if f.ndim != 1 or len(f) != m or (len(f) and (f.min() < 0 or f.max() >= n)):
                fail(f"{type(est).__name__} feature subset {i} does not fit {n} features")


def _check_tree(tree: Any, owner: Any, fail: _Fail) -> None:
    import numpy as np

    n = int(tree.node_count)
    if n < 1 or n > int(tree.capacity):
        fail(f"decision tree with {n} nodes in room for {tree.capacity}")
    left = tree.children_left
    right = tree.children_right
    limit = int(tree.n_features)
    owner_n = _n_features(owner)
    if owner_n is not None:
        limit = min(limit, owner_n)
    inner = left != -1
    if (right[~inner] != -1).any():
        fail("decision tree leaf with a right child")
    _check_inner_nodes(np.flatnonzero(inner), left, right, tree.feature, n, limit, fail,
                       "decision tree")


def _check_predictor(predictor: Any, owner: Any, fail: _Fail) -> None:
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE \
            or nodes.ndim != 1 or len(nodes) < 1:
        fail("HistGradientBoosting predictor without a valid node array")
    inner = nodes["is_leaf"] == 0
    feature = nodes["feature_idx"]
    limit = _n_features(owner)
    _check_inner_nodes(np.flatnonzero(inner), nodes["left"], nodes["right"], feature,
                       len(nodes), limit, fail, "HistGradientBoosting")
    categorical = inner & (nodes["is_categorical"] != 0)
    if categorical.any():
        bitsets = [np.asarray(predictor.raw_left_cat_bitsets),
                   np.asarray(predictor.binned_left_cat_bitsets)]
        if not all(b.ndim == 2 and b.shape[1] == 8 for b in bitsets) or \
                (nodes["bitset_idx"][categorical] >= min(len(b) for b in bitsets)).any():
            fail("HistGradientBoosting categorical split without its bitset")
        mapper = getattr(owner, "_bin_mapper", None)
        is_cat = getattr(mapper, "is_categorical_", None)
        if is_cat is None or limit is None or len(is_cat) != limit or \
                not np.asarray(is_cat, dtype=bool)[feature[categorical]].all():
            fail("HistGradientBoosting categorical split on a non-categorical feature")


def _check_inner_nodes(idx: Any, left: Any, right: Any, feature: Any, n: int,
                       limit: int | None, fail: _Fail, what: str) -> None:
    """Fail unless each inner node in ``idx`` has later children and a feature below ``limit``."""
    left, right, feature = left[idx], right[idx], feature[idx]
    bad = (left <= idx) | (right <= idx) | (left >= n) | (right >= n) | (feature < 0)
    if limit is not None:
        bad |= feature >= limit
    if bad.any():
        fail(f"{what} node with a child or feature index out of range")


def _check_binary_tree(tree: Any, fail: _Fail) -> None:
    import numpy as np

    data, idx_array, node_data, node_bounds = (np.asarray(a) for a in tree.get_arrays())
    if data.ndim != 2 or idx_array.ndim != 1 or node_data.ndim != 1 or node_bounds.ndim != 3:
        fail("neighbors tree arrays of the wrong dimensions")
    n_samples, n_features = data.shape
    n_nodes = len(node_data)
    if len(idx_array) != n_samples or (n_samples and (
            idx_array.min() < 0 or idx_array.max() >= n_samples)):
        fail("neighbors tree index outside the training data")
    if n_nodes < 1 or node_bounds.shape[1:] != (n_nodes, n_features):
        fail("neighbors tree node arrays of mismatched sizes")
    start, end = node_data["idx_start"], node_data["idx_end"]
    if (start < 0).any() or (end < start).any() or (end > n_samples).any():
        fail("neighbors tree node covering samples outside the training data")
    inner = np.flatnonzero(node_data["is_leaf"] == 0)
    if len(inner) and 2 * inner.max() + 2 >= n_nodes:
        fail("neighbors tree node whose children are missing")
    weights = getattr(tree, "sample_weight", None)
    if weights is not None and len(np.asarray(weights)) not in (n_samples, 1, 0):
        fail("neighbors tree sample weights of the wrong length")
    metric = getattr(tree, "dist_metric", None)
    if metric is not None and type(metric).__name__.startswith("Minkowski"):
        w = np.asarray(metric.__getstate__()[1])
        if w.size not in (0, 1, n_features):
            fail("Minkowski weights of the wrong length")


def _check_libsvm(svm: Any, fail: _Fail) -> None:
    import numpy as np

    if not hasattr(svm, "support_"):
        return  # not fitted
    n_support = np.asarray(getattr(svm, "_n_support", []))
    support = np.asarray(svm.support_)
    vectors = np.asarray(svm.support_vectors_)
    dual = np.asarray(svm._dual_coef_)
    intercept = np.asarray(svm._intercept_)
    n_sv = len(support)
    n_class = len(n_support)
    if n_support.ndim != 1 or (n_support < 0).any() or dual.ndim != 2 or dual.shape[1] != n_sv:
        fail("libsvm model arrays of mismatched sizes")
    if vectors.ndim != 2 or (vectors.shape[0] not in (0, n_sv)):
        fail("libsvm support vectors of the wrong shape")
    shape_fit = getattr(svm, "shape_fit_", None)
    if n_sv and shape_fit and (support.min() < 0 or support.max() >= shape_fit[0]):
        fail("libsvm support index outside the training data")
    n_features = _n_features(svm)
    if vectors.shape[0] and n_features is not None and vectors.shape[1] != n_features:
        fail("libsvm support vectors with the wrong number of features")
    if svm._impl in ("c_svc", "nu_svc"):
        pairs = n_class * (n_class - 1) // 2
        if n_class < 2 or int(n_support.sum()) != n_sv or dual.shape[0] != n_class - 1 or \
                intercept.shape != (pairs,):
            fail("libsvm classifier arrays of mismatched sizes")
        for name in ("_probA", "_probB"):
            if np.asarray(getattr(svm, name, [])).size not in (0, pairs):
                fail("libsvm probability arrays of mismatched sizes")
    elif dual.shape[0] != 1 or intercept.size != 1:
        fail("libsvm regression arrays of mismatched sizes")
