"""Parameter checks the feature extractors share, worded the same for each."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import InvalidDataError


def _is_int(value: Any) -> bool:
    """Tell whether ``value`` is an integer (NumPy's too), but not a boolean."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bad_param(estimator: BaseEstimator, name: str, value: Any, expected: str) -> InvalidDataError:
    return InvalidDataError(
        f"{type(estimator).__name__}({name}={value!r}) is invalid: {name} must be {expected}."
    )


def _check_input_features(estimator: BaseEstimator, input_features: Any) -> None:
    """Check ``input_features`` of ``get_feature_names_out`` as scikit-learn does."""
    if input_features is None:
        return
    given = np.asarray(input_features, dtype=object)
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None and not np.array_equal(names_in, given):
        raise ValueError("input_features is not equal to feature_names_in_")
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and len(given) != n_in:
        raise ValueError(
            f"input_features should have length equal to number of features ({n_in}), "
            f"got {len(given)}"
        )
