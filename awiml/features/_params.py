"""Parameter checks the feature extractors share, worded the same for each."""

from __future__ import annotations

import numbers
from typing import Any

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

