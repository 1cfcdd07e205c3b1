"""Clean archive tables: harmonise column labels, convert units, apply quality flags.

Raw data comes in several files that each spell things their own way (``Temp
[°C]`` in one, ``TEMP`` in another; depth in metres or pressure in decibar;
PANGAEA quality flags on some values). :class:`HarmoniseColumns`,
:class:`ConvertUnits`, :class:`QualityFilter` and :class:`DropMissing` turn
such tables into one consistent table, and
:func:`~awiml.preprocess.concat_tables` (in ``concat.py``) stacks them.

The classes follow scikit-learn's estimator contract, so they work with
:func:`sklearn.base.clone`, in a :class:`~sklearn.pipeline.Pipeline` or
:class:`~sklearn.compose.ColumnTransformer` and under
:class:`~sklearn.model_selection.GridSearchCV`. Stored models name them (and
``_Matcher``, which a fitted :class:`HarmoniseColumns` holds) by their public
path ``awiml.preprocess.<name>``: their ``__module__`` is pinned to it, so keep
it when this file moves.

Tables in, tables out
---------------------
``X`` is a :class:`pandas.DataFrame`, usually one from
:func:`awiml.archives.pangaea.read_text`, and ``transform`` returns a new
DataFrame (the input is never modified). A 2-D numeric array is accepted too,
validated as scikit-learn validates arrays, with the columns ``x0, x1, ...``
(or the labels seen by ``fit`` if that was given a DataFrame).

Columns are found by name, not by position: the table given to ``transform``
may come from another file, with more columns or in another order, as long
as the columns a transformer works on are there. ``n_features_in_`` and
``feature_names_in_`` describe the table seen by ``fit`` and are checked only
for arrays, whose columns have no names.

Units travel with the table, in ``X.attrs``. A column's unit is looked up in
``X.attrs["units"][column]`` (written by these transformers), then
``X.attrs["columns"][column]["unit"]`` (written by ``read_text``), then a
unit in the label itself (``"Temp [°C]"``, see :func:`awiml.units.split_label`).

Rows and pipelines
------------------
A scikit-learn pipeline passes ``y`` alongside ``X`` and cannot drop rows
from it. A transformer that drops rows (:class:`QualityFilter` with
``action="drop"``, :class:`DropMissing` with ``strategy="drop"``) therefore
belongs before the pipeline, on the table that still holds the label column;
inside a pipeline, mask and impute instead. ``fit_transform(X, y)`` raises an
error if it would drop rows while ``y`` is given; at prediction time nothing
can catch this, so the pipeline would return fewer predictions than rows.
"""

from __future__ import annotations

import os
import sys
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..archives.pangaea.text import QUALITY_FLAGS
from ..errors import InvalidDataError
from ..units import _BRACKETS, _PARENS, convert, parse_unit, split_label
from ._columns import (
    _FLAG_SUFFIX,
    _as_list,
    _column_info,
    _flag_columns,
    _is_number_column,
    _quoted,
    _require_columns,
    _unit_of,
)

__all__ = ["ConvertUnits", "DropMissing", "HarmoniseColumns", "QualityFilter"]

_NO_FLAG = ""


class _TableTransformer(
    OneToOneFeatureMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Base of the table transformers: DataFrame in, DataFrame out.

    A subclass defines ``_check_params()``, ``_fit(frame, params)`` and
    ``_transform(frame, params)``, ``params`` being what ``_check_params`` returns.
    scikit-learn's output wrapping is off: it would name the output columns after
    the table seen by ``fit``, not the table given.
    """

    _fitted = "n_features_in_"  # the attribute fit sets and transform checks

    def __init_subclass__(cls, **kwargs: Any) -> None:
        kwargs.setdefault("auto_wrap_output_keys", None)
        super().__init_subclass__(**kwargs)

    def set_output(self, *, transform: str | None = None) -> _TableTransformer:
        """Choose the output container (these transformers always return DataFrames).

        Parameters
        ----------
        transform : {"default", "pandas"} or None, default None
            Both give a :class:`pandas.DataFrame`; ``None`` leaves the setting
            unchanged. Polars has no ``DataFrame.attrs`` to hold units and provenance.

        Returns
        -------
        self
            The transformer.
        """
        if transform is None:
            return self
        if transform not in ("default", "pandas"):
            raise ValueError(
                f"{type(self).__name__} returns pandas DataFrames (units and provenance live in "
                f"DataFrame.attrs); set_output(transform={transform!r}) is not supported, "
                "use 'pandas' or 'default'"
            )
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config = {}
        self._sklearn_output_config["transform"] = transform
        return self

    def fit(self, X: Any, y: Any = None) -> _TableTransformer:
        """Check the parameters and learn from ``X`` what ``transform`` needs.

        Parameters
        ----------
        X : pandas.DataFrame or 2-D array-like
            A table with the columns the parameters name.
        y : array-like, optional
            Not used; a pipeline passes it.

        Returns
        -------
        self
            The fitted transformer.

        Raises
        ------
        InvalidDataError
            ``X`` does not suit the parameters; the message names the columns.
        """
        params = self._check_params()
        self._fit(self._table(X, reset=True), params)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        """Transform ``X`` into a new table (``X`` itself is not modified).

        Parameters
        ----------
        X : pandas.DataFrame or 2-D array-like
            A table, possibly from another file than the one seen by ``fit``.

        Returns
        -------
        pandas.DataFrame
            The transformed table, with updated ``attrs``.

        Raises
        ------
        InvalidDataError
            As for :meth:`fit`.
        """
        check_is_fitted(self, self._fitted)
        params = self._check_params()
        return self._transform(self._table(X, reset=False), params)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit to ``X``, then transform it.

        Parameters
        ----------
        X : pandas.DataFrame or 2-D array-like
            The table.
        y : array-like, optional
            Not used, except that no rows may be dropped while it is given.
        **fit_params : dict
            Passed to ``fit``.

        Returns
        -------
        pandas.DataFrame
            The transformed table.
        """
        out = self.fit(X, y, **fit_params).transform(X)
        n_rows = len(self._table(X, reset=False)) if y is not None else len(out)
        if len(out) != n_rows:
            raise ValueError(
                f"{type(self).__name__} dropped {n_rows - len(out)} of {n_rows} rows, "
                "but was given y, which keeps all rows: inside a Pipeline, X and y would no "
                "longer line up. In a Pipeline, mask or impute instead (QualityFilter("
                "action='mask'), DropMissing(strategy='median')); drop rows before the "
                "Pipeline, on the table that still holds the label column."
            )
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _table(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """Return ``X`` as a DataFrame; record (``reset``) or check its shape for arrays."""
        if isinstance(X, pd.DataFrame):
            duplicated = X.columns[X.columns.duplicated()].unique().tolist()
            if duplicated:
                raise InvalidDataError(
                    f"{type(self).__name__}: the table has several columns labelled "
                    f"{_quoted(duplicated)}; labels must be unique"
                )
            if reset:
                validate_data(self, X, skip_check_array=True, reset=True)
            return X
        if isinstance(X, pd.Series):
            raise ValueError(
                f"{type(self).__name__} expects a table (pandas DataFrame), got a Series; "
                "use series.to_frame()"
            )
        array = check_array(X, dtype="numeric", ensure_all_finite="allow-nan", estimator=self)
        validate_data(self, array, skip_check_array=True, reset=reset)
        names = getattr(self, "feature_names_in_", None)
        if reset or names is None:
            names = [f"x{i}" for i in range(array.shape[1])]
        return pd.DataFrame(array, columns=list(names), copy=False)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the output column names.

        Parameters
        ----------
        input_features : list of str, optional
            Must equal ``feature_names_in_`` if given.

        Returns
        -------
        numpy.ndarray of object
            The output column names: the input names, less the flag columns
            :class:`QualityFilter` drops, with the new unit in the labels
            :class:`ConvertUnits` converts.
        """
        names = list(super().get_feature_names_out(input_features))
        return np.asarray(self._names_out(names), dtype=object)

    def _names_out(self, names: list[Any]) -> list[Any]:
        """Return the output names for the fit table's ``names``; subclasses change them."""
        return names


def _tolerant_key(label: str) -> str:
    """Drop unit, case, spaces and punctuation from a label: ``"Temp [°C]"`` -> ``"temp"``."""
    name = split_label(label)[0]
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(char for char in folded if char.isalnum())


class _Matcher:
    """The compiled mapping of :class:`HarmoniseColumns`: label -> canonical name."""

    __module__ = "awiml.preprocess"

    def __init__(self, mapping: Any, targets: Any, owner: str) -> None:
        mapping = {} if mapping is None else mapping
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"{owner}: mapping must be a dict such as {{'temperature': ['Temp', 'TEMP']}} "
                f"or {{'Temp': 'temperature'}}, not {type(mapping).__name__}"
            )
        if targets is not None and (
            isinstance(targets, str) or not isinstance(targets, (list, tuple, set, frozenset))
        ):
            raise TypeError(f"{owner}: targets must be a list of canonical names, not {targets!r}")
        pairs: list[tuple[str, str]] = []  # (canonical, alias)
        for key, value in mapping.items():
            if isinstance(value, str):
                canonical, aliases = value, [key]
            elif isinstance(value, (list, tuple, set, frozenset)):
                canonical, aliases = key, sorted(value, key=str)
            else:
                raise TypeError(
                    f"{owner}: mapping[{key!r}] must be a canonical name (str) or a list of "
                    f"aliases, not {value!r}"
                )
            for name in (canonical, *aliases):
                if not isinstance(name, str) or not name.strip():
                    raise TypeError(
                        f"{owner}: names in mapping must be non-empty strings, got {name!r}"
                    )
            pairs.append((canonical, canonical))
            pairs.extend((canonical, alias) for alias in aliases)
        for target in targets or ():
            if not isinstance(target, str) or not target.strip():
                raise TypeError(f"{owner}: targets must be non-empty strings, got {target!r}")
            pairs.append((target, target))
        self.canonical: list[str] = list(dict.fromkeys(canonical for canonical, _ in pairs))
        self.targets: list[str] = list(dict.fromkeys(targets or ()))
        self.alias: dict[str, str] = {}
        self.tolerant: dict[str, tuple[str, str]] = {}
        for canonical, alias in pairs:
            other = self.alias.setdefault(alias, canonical)
            if other != canonical:
                raise ValueError(
                    f"{owner}: mapping gives {alias!r} for both {other!r} and {canonical!r}"
                )
            key = _tolerant_key(alias)
            if not key:
                continue
            other_canonical, other_alias = self.tolerant.setdefault(key, (canonical, alias))
            if other_canonical != canonical:
                raise ValueError(
                    f"{owner}: mapping gives {other_alias!r} for {other_canonical!r} and "
                    f"{alias!r} for {canonical!r}, which are the same name once case, spaces, "
                    "punctuation and units are ignored"
                )

    def match(self, label: Any, info: Any) -> tuple[str | None, str]:
        """Return ``(canonical name or None, how)`` for one column label."""
        text = label if isinstance(label, str) else str(label)
        if text in self.canonical:
            return text, "exact"
        if text in self.alias:
            return self.alias[text], "alias"
        if (key := _tolerant_key(text)) in self.tolerant:
            return self.tolerant[key][0], "tolerant"
        for field in ("short_name", "long_name") if isinstance(info, Mapping) else ():
            name = info.get(field)
            if not isinstance(name, str) or not name:
                continue
            canonical = self.alias.get(name) or self.tolerant.get(_tolerant_key(name), [None])[0]
            if canonical:
                return canonical, "metadata"
        return None, "unmatched"


class _HarmonisePlan:
    """How one table is harmonised: renames, drops, units and the report rows."""

    def __init__(self) -> None:
        self.rename: dict[Any, Any] = {}
        self.drop: list[Any] = []
        self.units: dict[Any, str | None] = {}
        self.rows: list[tuple[Any, Any, str | None, str]] = []
        self.names_out: list[Any] = []


class HarmoniseColumns(_TableTransformer):
    """Rename the columns of tables from different files to the same canonical names.

    Each column label is matched against the canonical names and their
    aliases, in this order:

    1. ``"exact"``: the label is a canonical name;
    2. ``"alias"``: the label is one of the aliases, exactly;
    3. ``"tolerant"``: the label equals a canonical name or alias once case,
       spaces, punctuation and a unit suffix are ignored, so ``Temp [°C]``,
       ``TEMP`` and ``temperature (deg C)`` all match ``{"temperature":
       ["temp", "temperature"]}``;
    4. ``"metadata"``: the PANGAEA short or long name that ``read_text``
       recorded for the column (``X.attrs["columns"][label]``) matches, as in
       2 or 3; this finds a column whose header was renamed by hand.

    Quality-flag columns (``<label>_flag``) follow their data column. The
    matching is done again on every call, so a transformer fitted on one
    instrument's file transforms another's with other labels.

    Parameters
    ----------
    mapping : dict, optional
        Canonical names and their aliases, as ``{canonical: [alias, ...]}``
        or ``{alias: canonical}`` (a string value), mixed freely. Every
        canonical name is an alias of itself. A canonical name that no column
        of the table given to ``fit`` matches gives a ``UserWarning`` naming
        it (list it in ``targets`` to make that an error).
    targets : list of str, optional
        Canonical names that must be present: a table without them is an
        error naming the missing names and the columns that were seen (in
        ``transform``, also the column each name was fitted on).
        Targets need not be in ``mapping``.
    unknown : {"keep", "drop", "error"}, default "keep"
        What to do with columns that match nothing: pass them through
        unchanged, leave them out, or raise an error listing them.

    Attributes
    ----------
    report_rows_ : list of list
        The rows of ``report_`` as plain lists.
    report_ : pandas.DataFrame
        What ``fit`` matched: one row per column seen (``label``, output
        ``name`` or missing if dropped, ``unit`` found, and ``how``: ``exact``,
        ``alias``, ``tolerant``, ``metadata``, ``flag`` or ``unmatched``), then
        one row per canonical name that no column matched (``how`` =
        ``missing``).
    n_features_in_, feature_names_in_ : int, numpy.ndarray of str
        Number and labels (if all strings) of the columns of the table seen by ``fit``.

    See Also
    --------
    ConvertUnits : Convert the harmonised columns to common units.
    concat_tables : Stack harmonised tables.

    Notes
    -----
    ``transform`` returns the columns in the order of its input, renamed. The
    unit found for each data column is recorded in ``out.attrs["units"]``
    (``{name: unit text or None}``); ``out.attrs["columns"]`` is re-keyed by the
    new names, a renamed column's entry gaining its original ``"label"``. Two
    columns matching the same canonical name is an error naming both.

    Examples
    --------
    >>> import pandas as pd
    >>> harmonise = HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal", "PSAL"]})
    >>> ship = pd.DataFrame({"Temp [°C]": [14.4], "Sal": [35.0], "Station": ["A"]})
    >>> out = harmonise.fit_transform(ship)
    >>> list(out.columns)
    ['temperature', 'salinity', 'Station']
    >>> out.attrs["units"]
    {'temperature': '°C', 'salinity': None, 'Station': None}
    >>> print(harmonise.report_.to_string(index=False))
        label        name unit       how
    Temp [°C] temperature   °C  tolerant
          Sal    salinity None  tolerant
      Station     Station None unmatched

    Another instrument's file, other labels, same result:

    >>> glider = pd.DataFrame({"TEMP (deg C)": [1.5], "PSAL": [34.1]})
    >>> list(harmonise.transform(glider).columns)
    ['temperature', 'salinity']
    """

    __module__ = "awiml.preprocess"
    _fitted = "_matcher"

    def __init__(
        self,
        mapping: Mapping[str, Any] | None = None,
        *,
        targets: Sequence[str] | None = None,
        unknown: Literal["keep", "drop", "error"] = "keep",
    ) -> None:
        self.mapping = mapping
        self.targets = targets
        self.unknown = unknown

    def _check_params(self) -> _Matcher:
        if self.unknown not in ("keep", "drop", "error"):
            raise ValueError(
                f"HarmoniseColumns: unknown must be 'keep', 'drop' or 'error', not {self.unknown!r}"
            )
        return _Matcher(self.mapping, self.targets, "HarmoniseColumns")

    def _fit(self, frame: pd.DataFrame, matcher: _Matcher) -> None:
        plan = self._plan(frame, matcher, fitted=False)
        self._matcher = matcher
        self._names_out = plan.names_out
        matched = {row[1] for row in plan.rows if row[3] not in ("unmatched", "flag")}
        unused = [name for name in matcher.canonical if name not in matched]
        rows = plan.rows + [(None, name, None, "missing") for name in unused]
        if unused:  # targets are never unused here: _plan raised for them
            spelt = "; ".join(
                f"{name!r} (as {_quoted(_labels_of(matcher, name), limit=4)})" for name in unused
            )
            unmatched = [row[0] for row in plan.rows if row[3] == "unmatched"]
            warnings.warn(
                f"HarmoniseColumns: the mapping names {spelt}, which no column of the table "
                f"matches, so nothing was renamed to {_quoted(unused, limit=4)}; columns that "
                f"matched nothing: {_quoted(unmatched) or 'none'}. Add the column's label to the "
                "mapping; list the name in targets=[...] to make this an error; or leave it out "
                "of the mapping if this table does not have it (report_ shows what matched).",
                UserWarning,
                stacklevel=_caller_level(),
            )
        # Plain lists (not a DataFrame) so the fitted state stores safely with skops.
        self.report_rows_ = [list(row) for row in rows]

    @property
    def report_(self) -> pd.DataFrame:
        """What ``fit`` matched, as a table (see the class Attributes)."""
        check_is_fitted(self, "report_rows_")
        return pd.DataFrame(
            self.report_rows_, columns=["label", "name", "unit", "how"], dtype=object
        )

    def _transform(self, frame: pd.DataFrame, matcher: _Matcher) -> pd.DataFrame:
        # The fitted matcher, which a stored model brings along; ``matcher`` only checks.
        plan = self._plan(frame, self._matcher, fitted=True)
        out = frame.drop(columns=plan.drop) if plan.drop else frame.copy(deep=False)
        if plan.rename:
            out = out.rename(columns=plan.rename)
        info = _column_info(frame)
        entries: dict[Any, Any] = {}
        for label in frame.columns:
            if label in plan.drop:
                continue
            new = plan.rename.get(label, label)
            entry = dict(info[label]) if isinstance(info.get(label), Mapping) else {}
            if plan.units.get(new):
                entry["unit"] = plan.units[new]
            if new != label:
                entry.setdefault("label", label)
            if entry:
                entries[new] = entry
        out.attrs["units"] = dict(plan.units)
        out.attrs["columns"] = entries
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the output column names.

        Parameters
        ----------
        input_features : list of str, optional
            Column labels. Unlike most transformers these need not be the ones
            seen by ``fit``: the mapping is applied to them.

        Returns
        -------
        numpy.ndarray of object
            The canonical names (and kept labels) for ``input_features``, or
            for the table seen by ``fit`` if ``input_features`` is ``None``.
        """
        check_is_fitted(self, "_matcher")
        if input_features is None:
            return np.asarray(self._names_out, dtype=object)
        plan = self._plan(pd.DataFrame(columns=list(input_features)), self._matcher,
                          fitted=True)
        return np.asarray(plan.names_out, dtype=object)

    def _plan(self, frame: pd.DataFrame, matcher: _Matcher, *, fitted: bool) -> _HarmonisePlan:
        """Match ``frame``'s columns; ``fitted``: for ``transform``, after ``fit``."""
        plan = _HarmonisePlan()
        flags = _flag_columns(frame)
        info = _column_info(frame)
        found: dict[str, Any] = {}
        unmatched: list[Any] = []
        hows: dict[Any, str] = {}
        for label in frame.columns:
            if label in flags:
                continue
            canonical, how = matcher.match(label, info.get(label))
            hows[label] = how
            if canonical is None:
                unmatched.append(label)
                continue
            if canonical in found:
                raise InvalidDataError(
                    f"HarmoniseColumns: columns {found[canonical]!r} and {label!r} both match "
                    f"{canonical!r}; rename one, or make the mapping more specific"
                )
            found[canonical] = label
            if canonical != label:
                plan.rename[label] = canonical
        if unmatched and self.unknown == "error":
            raise InvalidDataError(
                f"HarmoniseColumns: columns {_quoted(unmatched)} match no canonical name "
                f"(known: {_quoted(matcher.canonical)}); add them to the mapping or pass "
                "unknown='keep' or 'drop'"
            )
        missing = [target for target in matcher.targets if target not in found]
        if missing and fitted:
            raise InvalidDataError(self._missing_at_transform(frame, matcher, missing))
        if missing:
            raise InvalidDataError(
                f"HarmoniseColumns: no column matches {_quoted(missing)}; the table has columns "
                f"{_quoted(frame.columns)}. Add their labels to the mapping, e.g. "
                f"{{{missing[0]!r}: ['<label>']}}"
            )
        dropped = set(unmatched) if self.unknown == "drop" else set()
        for label in frame.columns:
            parent = flags.get(label)  # a flag column follows its data column
            if parent is None:
                unit, how, new = _unit_of(frame, label), hows[label], plan.rename.get(label, label)
            else:
                unit, how, new = None, "flag", f"{plan.rename.get(parent, parent)}{_FLAG_SUFFIX}"
            if (label if parent is None else parent) in dropped:
                plan.drop.append(label)
                plan.rows.append((label, None, unit, how))
                continue
            if parent is None:
                plan.units[new] = unit
            elif new != label:
                plan.rename[label] = new
            plan.rows.append((label, new, unit, how))
            plan.names_out.append(new)
        clashes = pd.Index(plan.names_out)
        clashes = clashes[clashes.duplicated()].unique().tolist()
        if clashes:
            raise InvalidDataError(
                f"HarmoniseColumns: renaming would give several columns named {_quoted(clashes)}; "
                "rename the clashing columns first"
            )
        return plan

    def _missing_at_transform(self, frame: pd.DataFrame, matcher: _Matcher,
                              missing: list[str]) -> str:
        """Say which needed columns a table given to a fitted transformer lacks."""
        # report_rows_ is there in every fitted HarmoniseColumns awiml made; be lenient anyway
        fitted_label = {row[1]: row[0] for row in getattr(self, "report_rows_", None) or ()
                        if len(row) == 4 and row[3] not in ("unmatched", "flag", "missing")}
        needs = "; ".join(
            f"{name!r} (fitted on the column {fitted_label[name]!r})" if name in fitted_label
            else repr(name) for name in missing
        )
        labels = [label for name in missing for label in _labels_of(matcher, name)]
        return (
            f"HarmoniseColumns: the table has no column for {needs}, which the fitted "
            f"transformer needs (targets); the table has columns {_quoted(frame.columns)}. "
            "Give it a table with that column, under the label it was fitted on or one the "
            f"mapping knows ({_quoted(labels)}; case, spaces and units do not matter)."
        )


def _caller_level() -> int:
    """Return the ``stacklevel`` that points a warning at the code calling awiml or sklearn."""
    import sklearn

    inside = (os.path.dirname(os.path.dirname(__file__)) + os.sep,
              os.path.dirname(sklearn.__file__) + os.sep)
    frame, level = sys._getframe(1), 1  # level 1: the function that warns
    while frame.f_back is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _labels_of(matcher: _Matcher, name: str) -> list[str]:
    """Return the labels ``matcher`` maps to the canonical ``name`` (the name first)."""
    return [name, *(alias for alias, canonical in matcher.alias.items()
                    if canonical == name and alias != name)]


def _relabel(label: Any, unit: str) -> Any:
    """Replace the unit in a label (``"Temp [°C]"`` -> ``"Temp [K]"``); other labels unchanged."""
    if not isinstance(label, str) or split_label(label)[1] is None:
        return label
    start, end = (_BRACKETS.match(label) or _PARENS.match(label)).span("unit")
    return f"{label[:start]}{unit}{label[end:]}"


class ConvertUnits(_TableTransformer):
    """Convert columns to the units you ask for.

    Parameters
    ----------
    target_units : dict
        ``{column: unit}``, e.g. ``{"temperature": "K", "pressure": "Pa"}``.
        A key is a column label or a label without its unit (``"Temp"`` for
        ``"Temp [°C]"``). Units are read by :func:`awiml.units.parse_unit`.
        Other columns pass through unchanged.
    source_units : dict, optional
        ``{column: unit}`` for columns whose unit the table does not say, or
        says wrongly; this comes first. Otherwise the table's unit counts
        (see :mod:`awiml.preprocess.transformers`); in ``transform``, a column for which
        the table says nothing is in the unit it had in ``fit`` (``source_units_``).

    Attributes
    ----------
    source_units_ : dict
        The unit each converted column had in the table seen by ``fit``.
    n_features_in_, feature_names_in_ : int, numpy.ndarray of str
        Number and labels (if all strings) of the columns of the table seen by ``fit``.

    Raises
    ------
    InvalidDataError
        In ``fit`` or ``transform``: a column is missing, has no unit or one
        that cannot be read, cannot be converted to its target (the message
        names the column and both units), or holds values that are not numbers.

    See Also
    --------
    awiml.units.convert : The conversion of the numbers.
    HarmoniseColumns : Finds the units of the columns it renames.

    Notes
    -----
    Temperatures are absolute (14.40 °C is 287.55 K); values may be numbers
    or, in an object column, one array of numbers per row (a waveform per
    recording). Missing values stay missing; ``float32`` stays ``float32``,
    other numbers become ``float64``. A label with a unit in it gets the new
    unit (``"Temp [°C]"`` becomes ``"Temp [K]"``); ``out.attrs["units"]`` and
    ``out.attrs["columns"][column]["unit"]`` are set to the targets.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"temperature": [14.40, -1.8], "pressure [dbar]": [10.0, 0.5]})
    >>> table.attrs["units"] = {"temperature": "°C"}
    >>> convert = ConvertUnits({"temperature": "K", "pressure": "Pa"})
    >>> out = convert.fit_transform(table)
    >>> out.round(2).to_dict(orient="list")
    {'temperature': [287.55, 271.35], 'pressure [Pa]': [100000.0, 5000.0]}
    >>> out.attrs["units"]
    {'temperature': 'K', 'pressure [Pa]': 'Pa'}
    """

    __module__ = "awiml.preprocess"
    _fitted = "source_units_"

    def __init__(
        self, target_units: Mapping[str, str], *, source_units: Mapping[str, str] | None = None
    ) -> None:
        self.target_units = target_units
        self.source_units = source_units

    def _fit(self, frame: pd.DataFrame, targets: dict[Any, str]) -> None:
        plan = self._plan(frame, targets, learned={})
        self.source_units_ = {key: source for key, (_, source, _) in plan.items()}

    def _transform(self, frame: pd.DataFrame, targets: dict[Any, str]) -> pd.DataFrame:
        plan = self._plan(frame, targets, learned=self.source_units_)
        out = frame.copy(deep=False)
        units = dict(out.attrs["units"]) if isinstance(out.attrs.get("units"), Mapping) else {}
        info = {k: dict(v) if isinstance(v, Mapping) else v for k, v in _column_info(out).items()}
        renames = {}
        for key, (label, source, target) in plan.items():
            out[label] = _convert_series(frame[label], source, target, f"column {key!r}")
            new = _relabel(label, target)
            if new != label:
                if new in frame.columns:
                    raise InvalidDataError(
                        f"ConvertUnits: converting column {label!r} to {target!r} would name it "
                        f"{new!r}, but the table already has such a column"
                    )
                renames[label] = new
            units.pop(label, None)
            units[new] = target
            entry = info.pop(label, None)
            info[new] = {**(entry if isinstance(entry, Mapping) else {}), "unit": target}
        if renames:
            out = out.rename(columns=renames)
        out.attrs["units"] = units
        out.attrs["columns"] = info
        return out

    def _names_out(self, names: list[Any]) -> list[Any]:
        targets = self._check_params()
        keys = [_target_key(label, targets) for label in names]
        return [
            label if key is None else _relabel(label, targets[key])
            for label, key in zip(names, keys, strict=True)
        ]

    def _check_params(self) -> dict[Any, str]:
        for what, units, example in (
            ("target_units", self.target_units, "K"),
            ("source_units", {} if self.source_units is None else self.source_units, "degC"),
        ):
            if not isinstance(units, Mapping):
                raise TypeError(
                    f"ConvertUnits: {what} must be a dict such as {{'temperature': {example!r}}}, "
                    f"not {units!r}"
                )
            for key, unit in units.items():
                if not isinstance(unit, str):
                    raise TypeError(
                        f"ConvertUnits: {what}[{key!r}] must be a unit as text, not {unit!r}"
                    )
        for key, unit in self.target_units.items():
            try:
                parse_unit(unit)
            except InvalidDataError as error:
                raise InvalidDataError(
                    f"ConvertUnits: the target unit of column {key!r} is not valid: {error}"
                ) from None
        return dict(self.target_units)

    def _plan(
        self, frame: pd.DataFrame, targets: dict[Any, str], learned: Mapping[Any, str]
    ) -> dict[Any, tuple[Any, str, str]]:
        """Return ``{key: (label, source unit, target unit)}`` for each column to convert."""
        given = self.source_units or {}
        plan = {}
        for key, target in targets.items():
            label = _find_label(frame, key)
            source = given.get(key, given.get(label)) or _unit_of(frame, label) or learned.get(key)
            if not source:
                raise InvalidDataError(
                    f"ConvertUnits: column {key!r} has no unit (none in source_units, "
                    "X.attrs['units'], X.attrs['columns'] or its label); pass "
                    f"source_units={{{key!r}: '<unit>'}}"
                )
            try:
                parse_unit(source)
            except InvalidDataError as error:
                raise InvalidDataError(
                    f"ConvertUnits: column {key!r} is in {source!r}, which awiml cannot read as "
                    f"a unit ({error}); pass source_units={{{key!r}: '<unit>'}}"
                ) from None
            convert(np.empty(0), source, target, what=f"column {key!r}")  # compatible?
            plan[key] = (label, source, target)
        return plan


def _target_key(label: Any, targets: Mapping[Any, str]) -> Any:
    """Return the key of ``targets`` naming ``label`` (itself, or its name without unit)."""
    if label in targets:
        return label
    if isinstance(label, str):
        name, unit = split_label(label)
        if unit is not None and name in targets:
            return name
    return None


def _find_label(frame: pd.DataFrame, key: Any) -> Any:
    if key in frame.columns:
        return key
    candidates = [label for label in frame.columns if _target_key(label, {key: ""}) is not None]
    if len(candidates) > 1:
        raise InvalidDataError(
            f"ConvertUnits: columns {_quoted(candidates)} all match {key!r}; name one exactly"
        )
    _require_columns(frame, candidates or [key], "ConvertUnits")  # raises if there is none
    return candidates[0]


def _convert_series(series: pd.Series, source: str, target: str, what: str) -> pd.Series:
    """Convert a column of numbers, or of one array of numbers per row."""
    if _is_number_column(series):
        dtype = np.float32 if series.dtype == np.float32 else np.float64
        values = series.to_numpy(dtype=dtype, na_value=np.nan)
        return pd.Series(convert(values, source, target, what=what), index=series.index)
    if series.dtype != object:
        raise InvalidDataError(
            f"cannot convert {what}: it holds {series.dtype} values, not numbers"
        )
    cells = series.to_numpy()
    arrays: list[np.ndarray] = []
    positions: list[int] = []
    for position, cell in enumerate(cells):
        if cell is None or (np.ndim(cell) == 0 and pd.isna(cell)):
            continue
        array = np.asarray(cell)
        if array.dtype.kind not in "iuf":
            raise InvalidDataError(
                f"cannot convert {what}: row {series.index[position]!r} holds "
                f"{type(cell).__name__} {cell!r:.60}, not numbers"
            )
        arrays.append(array)
        positions.append(position)
    out = cells.copy()
    if arrays:
        flat = np.concatenate([a.ravel().astype(np.float64) for a in arrays])
        converted = convert(flat, source, target, what=what)
        ends = np.cumsum([a.size for a in arrays])
        for position, array, chunk in zip(
            positions, arrays, np.split(converted, ends[:-1]), strict=True
        ):
            dtype = np.float32 if array.dtype == np.float32 else np.float64
            value = chunk.reshape(array.shape).astype(dtype, copy=False)
            out[position] = value if array.ndim else dtype(value)
    return pd.Series(out, index=series.index, dtype=object)


class QualityFilter(_TableTransformer):
    """Mask or drop values by their PANGAEA quality flags.

    ``read_text`` puts the quality flag of a value (``?``, ``/``, ``*``,
    ``#``, ``<``, ``>``; see :data:`awiml.archives.pangaea.text.QUALITY_FLAGS`)
    into a ``<column>_flag`` column; a missing flag means the value is not
    flagged. A value passes if its flag is in ``accept``, ``""`` standing for
    "no flag".

    Parameters
    ----------
    accept : str or tuple of str, default ("",)
        The flags that pass. ``("", "<")`` also keeps values below the
        detection limit (the value is the limit); ``("", "?")`` keeps
        questionable values.
    columns : list of str, optional
        The data columns whose flags count (a listed column without a flag
        column has no flagged values). Default: every column with a flag
        column, in the table at hand.
    action : {"mask", "drop"}, default "mask"
        ``"mask"`` sets each value that does not pass to missing (NaN) and
        keeps every row, so it is safe inside a
        :class:`~sklearn.pipeline.Pipeline`. ``"drop"`` drops the rows in
        which any of the columns has a value that does not pass; the row
        labels of the others are kept (``y.loc[out.index]`` realigns a
        target). Use it on a table that still holds the label column, before
        the pipeline (see :mod:`awiml.preprocess.transformers`).
    drop_flag_columns : bool, default True
        Leave the flag columns of ``columns`` out of the output.

    Attributes
    ----------
    flag_columns_ : dict
        ``{column: flag column or None}`` in the table seen by ``fit``.
    n_features_in_, feature_names_in_ : int, numpy.ndarray of str
        Number and labels (if all strings) of the columns of the table seen by ``fit``.

    See Also
    --------
    DropMissing : Then drop or fill the masked values.

    Examples
    --------
    >>> import pandas as pd
    >>> flags = pd.Categorical(["?", None, "<"], categories=["?", "/", "*", "#", "<", ">"])
    >>> table = pd.DataFrame({"chl": [0.6, 0.5, 0.001], "chl_flag": flags})
    >>> QualityFilter().fit_transform(table)["chl"].tolist()
    [nan, 0.5, nan]
    >>> QualityFilter(accept=("", "<"), action="drop").fit_transform(table)
         chl
    1  0.500
    2  0.001
    """

    __module__ = "awiml.preprocess"
    _fitted = "flag_columns_"

    def __init__(
        self,
        accept: str | Sequence[str] = ("",),
        columns: Sequence[str] | None = None,
        *,
        action: Literal["mask", "drop"] = "mask",
        drop_flag_columns: bool = True,
    ) -> None:
        self.accept = accept
        self.columns = columns
        self.action = action
        self.drop_flag_columns = drop_flag_columns

    def _fit(self, frame: pd.DataFrame, accept: tuple[str, ...]) -> None:
        self.flag_columns_ = self._select(frame)

    def _transform(self, frame: pd.DataFrame, accept: tuple[str, ...]) -> pd.DataFrame:
        selected = self._select(frame)
        rejected: dict[Any, np.ndarray] = {}
        for column, flag in selected.items():
            if flag is None:
                continue
            codes = frame[flag].astype(object)
            codes = codes.where(codes.notna(), _NO_FLAG)
            bad = ~codes.isin(accept).to_numpy()
            if bad.any():
                rejected[column] = bad
        out = frame.copy(deep=False)
        if self.action == "mask":
            for column, bad in rejected.items():
                out[column] = frame[column].mask(bad)
        elif rejected:
            out = frame[~np.logical_or.reduce(list(rejected.values()))]
        if self.drop_flag_columns:
            out = out.drop(columns=[flag for flag in selected.values() if flag is not None])
        return out

    def _names_out(self, names: list[Any]) -> list[Any]:
        dropped = set(self.flag_columns_.values()) if self.drop_flag_columns else set()
        return [name for name in names if name not in dropped]

    def _check_params(self) -> tuple[str, ...]:
        accept = (self.accept,) if isinstance(self.accept, str) else self.accept
        if not isinstance(accept, (list, tuple, set, frozenset)):
            raise TypeError(f"QualityFilter: accept must be a tuple of flags, not {self.accept!r}")
        valid = (_NO_FLAG, *QUALITY_FLAGS)
        bad = [flag for flag in accept if flag not in valid]
        if bad:
            raise ValueError(
                f"QualityFilter: accept holds {_quoted(bad)}, which are not quality flags; use "
                f"'' (no flag) and {_quoted(QUALITY_FLAGS)}"
            )
        if self.action not in ("mask", "drop"):
            raise ValueError(f"QualityFilter: action must be 'mask' or 'drop', not {self.action!r}")
        if not isinstance(self.drop_flag_columns, (bool, np.bool_)):
            raise TypeError(
                f"QualityFilter: drop_flag_columns must be True or False, not "
                f"{self.drop_flag_columns!r}"
            )
        _as_list(self.columns, "columns", "QualityFilter")
        return tuple(accept)

    def _select(self, frame: pd.DataFrame) -> dict[Any, Any]:
        """Return ``{data column: its flag column or None}`` for the columns whose flags count."""
        flags = _flag_columns(frame)
        if self.columns is None:
            return {column: flag for flag, column in flags.items()}
        selected = {}
        for label in _as_list(self.columns, "columns", "QualityFilter") or []:
            if label in flags:  # a flag column was named: use its data column
                label = flags[label]
            _require_columns(frame, [label], "QualityFilter")
            flag = f"{label}{_FLAG_SUFFIX}" if isinstance(label, str) else None
            selected[label] = flag if flag in flags else None
        return selected


class DropMissing(_TableTransformer):
    """Drop rows with missing values, or fill the missing values.

    Parameters
    ----------
    columns : list of str, optional
        The columns to look at. Default: every column except quality-flag
        columns (whose missing values mean "no flag"); for the filling
        strategies, only the columns of numbers (list text columns to fill
        them with a text ``fill_value``).
    how : {"any", "all"}, default "any"
        With ``strategy="drop"``: drop a row if any (or all) of ``columns``
        are missing in it. Not used by the other strategies.
    strategy : {"drop", "mean", "median", "constant"}, default "drop"
        ``"drop"`` removes rows (row labels of the others are kept); use it
        to clean a table before a :class:`~sklearn.pipeline.Pipeline`, not
        inside one (see :mod:`awiml.preprocess.transformers`). The others fill missing
        values with the mean or median learned by ``fit``, or with
        ``fill_value``, and keep every row, so they are safe in a pipeline.
    fill_value : scalar, optional
        The value for ``strategy="constant"``; default 0.

    Attributes
    ----------
    fill_values_ : dict
        The fill value of each column, learned by ``fit`` (not set for
        ``strategy="drop"``).
    statistics_ : pandas.Series
        The same, indexed by column.
    n_features_in_, feature_names_in_ : int, numpy.ndarray of str
        Number and labels (if all strings) of the columns of the table seen by ``fit``.

    Raises
    ------
    InvalidDataError
        In ``fit``: a column is missing, holds no numbers for ``"mean"`` or
        ``"median"``, or has no values at all to learn from.

    See Also
    --------
    sklearn.impute.SimpleImputer : The same filling for arrays.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"temperature": [1.0, None, 3.0], "salinity": [34.0, 35.0, None]})
    >>> DropMissing().fit_transform(train)
       temperature  salinity
    0          1.0      34.0
    >>> fill = DropMissing(strategy="median").fit(train)
    >>> fill.statistics_.to_dict()
    {'temperature': 2.0, 'salinity': 34.5}
    >>> fill.transform(pd.DataFrame({"temperature": [float("nan")], "salinity": [33.0]}))
       temperature  salinity
    0          2.0      33.0
    """

    __module__ = "awiml.preprocess"

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        *,
        how: Literal["any", "all"] = "any",
        strategy: Literal["drop", "mean", "median", "constant"] = "drop",
        fill_value: Any = None,
    ) -> None:
        self.columns = columns
        self.how = how
        self.strategy = strategy
        self.fill_value = fill_value

    def _fit(self, frame: pd.DataFrame, _: None) -> None:
        if hasattr(self, "fill_values_"):
            del self.fill_values_
        columns = self._columns(frame)
        if self.strategy == "drop":
            return
        if self.strategy == "constant":
            fill = 0 if self.fill_value is None else self.fill_value
            self.fill_values_ = dict.fromkeys(columns, fill)
            return
        stats = {column: getattr(frame[column], self.strategy)() for column in columns}
        empty = [column for column, value in stats.items() if pd.isna(value)]
        if empty:
            raise InvalidDataError(
                f"DropMissing: columns {_quoted(empty)} have no values in the table given to fit, "
                f"so there is no {self.strategy} to learn; leave them out (columns=...) or use "
                "strategy='constant'"
            )
        self.fill_values_ = {column: float(value) for column, value in stats.items()}

    @property
    def statistics_(self) -> pd.Series:
        """The fill value of each column, indexed by column."""
        check_is_fitted(self, "fill_values_")
        dtype = object if self.strategy == "constant" else np.float64
        return pd.Series(self.fill_values_, index=list(self.fill_values_), dtype=dtype)

    def _transform(self, frame: pd.DataFrame, _: None) -> pd.DataFrame:
        if self.strategy == "drop":
            columns = self._columns(frame)
            if not columns:
                return frame.copy(deep=False)
            return frame.dropna(subset=columns, how=self.how)
        statistics = self.statistics_
        _require_columns(frame, statistics.index, "DropMissing")
        out = frame.copy(deep=False)
        for column, value in statistics.items():
            series = frame[column]
            if series.isna().any():
                if _is_number_column(series) and series.dtype.kind == "f":
                    value = series.dtype.type(value)
                out[column] = series.fillna(value)
        return out

    def _check_params(self) -> None:
        if self.strategy not in ("drop", "mean", "median", "constant"):
            raise ValueError(
                "DropMissing: strategy must be 'drop', 'mean', 'median' or 'constant', not "
                f"{self.strategy!r}"
            )
        if self.how not in ("any", "all"):
            raise ValueError(f"DropMissing: how must be 'any' or 'all', not {self.how!r}")
        if self.fill_value is not None and self.strategy != "constant":
            raise ValueError(
                f"DropMissing: fill_value is used only with strategy='constant', not "
                f"{self.strategy!r}"
            )
        _as_list(self.columns, "columns", "DropMissing")

    def _columns(self, frame: pd.DataFrame) -> list[Any]:
        wanted = _as_list(self.columns, "columns", "DropMissing")
        if wanted is None:
            flags = _flag_columns(frame)
            numbers_only = self.strategy != "drop"
            return [
                label
                for label in frame.columns
                if label not in flags and (not numbers_only or _is_number_column(frame[label]))
            ]
        _require_columns(frame, wanted, "DropMissing")
        if self.strategy in ("mean", "median"):
            bad = [label for label in wanted if not _is_number_column(frame[label])]
            if bad:
                kinds = ", ".join(f"{label!r} ({frame[label].dtype})" for label in bad)
                raise InvalidDataError(
                    f"DropMissing: strategy={self.strategy!r} needs numbers, but columns {kinds} "
                    "hold none; leave them out or use strategy='constant'"
                )
        return list(wanted)

