"""Column helpers the table transformers and ``concat_tables`` share (none stored in a model)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidDataError
from ..units import split_label

#: Suffix of a quality-flag column: ``<col>_flag`` holds the flags of ``<col>``.
_FLAG_SUFFIX = "_flag"


def _quoted(labels: Iterable[Any], limit: int = 12) -> str:
    """Quote labels for a message: ``'a', 'b', 'c'`` (at most ``limit``, then ``...``)."""
    labels = list(labels)
    text = ", ".join(repr(label) for label in labels[:limit])
    return text + (f", ... ({len(labels)} in all)" if len(labels) > limit else "")


def _flag_columns(frame: pd.DataFrame) -> dict[Hashable, Hashable]:
    """Map each quality-flag column (``<col>_flag`` next to ``<col>``) to its data column."""
    labels = set(frame.columns)
    return {
        label: label[: -len(_FLAG_SUFFIX)]
        for label in frame.columns
        if isinstance(label, str)
        and label.endswith(_FLAG_SUFFIX)
        and label[: -len(_FLAG_SUFFIX)] in labels
    }


def _column_info(frame: pd.DataFrame) -> Mapping[Any, Any]:
    """Return ``frame.attrs["columns"]`` (the metadata of each column), or ``{}``."""
    info = frame.attrs.get("columns")
    return info if isinstance(info, Mapping) else {}


def _unit_of(frame: pd.DataFrame, label: Any) -> str | None:
    """Return a column's unit: from ``attrs["units"]``, ``attrs["columns"]`` or its label."""
    units = frame.attrs.get("units")
    if isinstance(units, Mapping) and isinstance(units.get(label), str) and units[label]:
        return units[label]
    info = _column_info(frame).get(label)
    if isinstance(info, Mapping) and isinstance(info.get("unit"), str) and info["unit"]:
        return info["unit"]
    if isinstance(label, str):
        return split_label(label)[1]
    return None


def _as_list(value: Any, what: str, owner: str) -> list[Any] | None:
    """``None``, a label, or a list/tuple of labels, as a list (or ``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, pd.Index, np.ndarray)):
        return list(value)
    raise TypeError(f"{owner}: {what} must be a label or a list of labels, not {value!r}")


def _require_columns(frame: pd.DataFrame, wanted: Iterable[Any], owner: str) -> None:
    """Raise :class:`~awiml.errors.InvalidDataError` naming ``wanted`` labels not in ``frame``."""
    missing = [label for label in wanted if label not in frame.columns]
    if missing:
        raise InvalidDataError(
            f"{owner}: the table has no column {_quoted(missing)}; its columns are "
            f"{_quoted(frame.columns)}"
        )


def _is_number_column(series: pd.Series) -> bool:
    """Whether ``series`` holds numbers (a numeric dtype other than bool)."""
    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
