"""Stack several archive tables into one: :func:`awiml.preprocess.concat_tables`."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..errors import InvalidDataError
from ..units import parse_unit
from ._columns import _column_info, _flag_columns, _quoted, _unit_of
from .transformers import HarmoniseColumns

__all__ = ["concat_tables"]


def concat_tables(
    tables: Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
    *,
    source: str = "source",
    harmonise: HarmoniseColumns | Mapping[str, Any] | None = None,
    to: Literal["pandas", "xarray"] = "pandas",
) -> Any:
    """Stack several tables into one, keeping where each row came from.

    Parameters
    ----------
    tables : dict or iterable of (name, DataFrame)
        The tables, each with a distinct name: a DOI, file name or
        instrument, written into the ``source`` column of its rows.
    source : str, default "source"
        Name of the provenance column, the first column of the result (a
        categorical of the names, in the order given).
    harmonise : HarmoniseColumns or dict, optional
        Harmonise each table first with (a clone of) this transformer; a
        dict is the ``mapping`` of a :class:`HarmoniseColumns`.
    to : {"pandas", "xarray"}, default "pandas"
        Return a :class:`pandas.DataFrame`, or an :class:`xarray.Dataset`
        with one variable per column along the dimension ``row``.

    Returns
    -------
    pandas.DataFrame or xarray.Dataset
        The union of the columns (missing where a table lacks one), rows in
        table order with a new index. ``attrs["units"]`` holds the unit of
        each column, ``attrs["columns"]`` the column metadata (from the first
        table that has it), ``attrs["sources"]`` for each name the number of
        rows and, where known, the DOI and citation. In a Dataset each
        variable carries ``units`` and ``long_name`` where known, time stamps
        are UTC without zone, and text and flags are strings (``""`` for
        missing).

    Raises
    ------
    InvalidDataError
        A column is in different units in two tables (convert one first
        with :class:`ConvertUnits`), or a table already has a ``source``
        column.

    Warns
    -----
    UserWarning
        A column has a unit in some tables and none in others; the result
        takes the known unit.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"Depth water [m]": [11.0], "Temp [°C]": [14.4]})
    >>> b = pd.DataFrame({"Depth (m)": [10.0], "Chl a": [0.6]})
    >>> out = concat_tables({"tsg": a, "pigments": b}, harmonise={"depth": ["depth water"]})
    >>> out
         source  depth  Temp [°C]  Chl a
    0       tsg   11.0       14.4    NaN
    1  pigments   10.0        NaN    0.6
    >>> out.attrs["units"]["depth"]
    'm'
    """
    if not isinstance(source, str) or not source:
        raise TypeError(f"concat_tables: source must be a column name (str), not {source!r}")
    if to not in ("pandas", "xarray"):
        raise ValueError(f"concat_tables: to must be 'pandas' or 'xarray', not {to!r}")
    items = list(tables.items()) if isinstance(tables, Mapping) else list(tables)
    if not items:
        raise ValueError("concat_tables: no tables given")
    names: list[Any] = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], pd.DataFrame)):
            raise TypeError(
                "concat_tables: tables must be a dict {name: DataFrame} or a list of "
                f"(name, DataFrame) pairs, got an item {type(item).__name__}"
            )
        names.append(item[0])
    repeated = pd.Index(names)[pd.Index(names).duplicated()].unique().tolist()
    if repeated:
        raise ValueError(
            f"concat_tables: the names {_quoted(repeated)} are given more than once; each table "
            "needs its own name, so that its rows can be told apart"
        )
    if harmonise is not None:
        if isinstance(harmonise, Mapping):
            harmonise = HarmoniseColumns(harmonise)
        if not isinstance(harmonise, HarmoniseColumns):
            raise TypeError(
                "concat_tables: harmonise must be a HarmoniseColumns or its mapping (dict), not "
                f"{type(harmonise).__name__}"
            )
        items = [(name, clone(harmonise).fit_transform(table)) for name, table in items]
    frames = []
    sources: dict[Any, dict[str, Any]] = {}
    for name, table in items:
        if source in table.columns:
            raise InvalidDataError(
                f"concat_tables: table {name!r} already has a column {source!r}; pass another "
                "name with source=..."
            )
        frame = table.copy(deep=False)
        frame.attrs = {}
        frame.insert(0, source, name)
        frames.append(frame)
        meta = table.attrs.get("pangaea")
        sources[name] = {"rows": len(table)}
        if isinstance(meta, Mapping):
            sources[name].update({k: meta[k] for k in ("doi", "citation") if meta.get(k)})
    units, info = _merge_units(items)
    out = pd.concat(frames, ignore_index=True, sort=False)
    out[source] = pd.Categorical(out[source], categories=names)
    for column in out.columns:
        dtypes = [t[column].dtype for _, t in items if column in t.columns]
        if dtypes and all(isinstance(d, pd.CategoricalDtype) for d in dtypes):
            if all(d == dtypes[0] for d in dtypes) and out[column].dtype != dtypes[0]:
                out[column] = out[column].astype(dtypes[0])
    out.attrs = {"units": units, "columns": info, "sources": sources}
    if to == "xarray":
        return _to_xarray(out, source)
    return out


def _same_unit(a: str, b: str) -> bool:
    """Whether two unit strings mean the same unit (as parsed, else as spelled)."""
    try:
        return parse_unit(a) == parse_unit(b)
    except InvalidDataError:
        return " ".join(a.split()) == " ".join(b.split())


def _merge_units(
    items: list[tuple[Any, pd.DataFrame]],
) -> tuple[dict[Any, str | None], dict[Any, Any]]:
    """Merge the units and metadata of the columns of all tables; refuse conflicting units."""
    units: dict[Any, tuple[str | None, Any]] = {}
    unknown: dict[Any, list[Any]] = {}
    info: dict[Any, Any] = {}
    for name, table in items:
        flags = _flag_columns(table)
        meta = _column_info(table)
        for column in table.columns:
            if column in meta and column not in info:
                info[column] = meta[column]
            if column in flags:
                continue
            unit = _unit_of(table, column)
            known, first = units.get(column, (None, None))
            if unit is None:
                unknown.setdefault(column, []).append(name)
                units.setdefault(column, (None, None))
            elif known is None:
                units[column] = (unit, name)
            elif not _same_unit(known, unit):
                raise InvalidDataError(
                    f"concat_tables: column {column!r} is in {known!r} in table {first!r} but in "
                    f"{unit!r} in table {name!r}; convert one first, e.g. with "
                    f"ConvertUnits({{{column!r}: {known!r}}})"
                )
    partly = {column: tables for column, tables in unknown.items() if units[column][0] is not None}
    if partly:
        detail = "; ".join(
            f"{column!r} ({units[column][0]!r}) has no unit in {_quoted(tables)}"
            for column, tables in partly.items()
        )
        warnings.warn(f"concat_tables: {detail}; taking the known unit", UserWarning, stacklevel=3)
    merged = {column: unit for column, (unit, _) in units.items()}
    for column, unit in merged.items():
        if unit is not None and column in info and isinstance(info[column], Mapping):
            info[column] = {**info[column], "unit": unit}
    return merged, info


def _to_xarray(table: pd.DataFrame, source: str) -> Any:
    """Return the stacked ``table`` as an :class:`xarray.Dataset` along the dimension ``row``."""
    import xarray as xr

    units = table.attrs.get("units", {})
    info = table.attrs.get("columns", {})
    variables = {}
    used: set[str] = set()
    for column in table.columns:
        series = table[column]
        attrs: dict[str, Any] = {}
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            attrs["timezone"] = "UTC"
        elif isinstance(series.dtype, pd.CategoricalDtype) or (
            pd.api.types.is_string_dtype(series) and not _holds_arrays(series)
        ):
            values = series.astype(object).where(series.notna(), "").astype(str).to_numpy()
        else:
            values = series.to_numpy()
        name = str(column).replace("/", "_")
        base, count = name, 1
        while name in used:
            count += 1
            name = f"{base}_{count}"
        used.add(name)
        if name != column:
            attrs["label"] = str(column)
        if units.get(column):
            attrs["units"] = units[column]
        entry = info.get(column)
        if isinstance(entry, Mapping) and entry.get("long_name"):
            attrs["long_name"] = entry["long_name"]
        variables[name] = ("row", values, attrs)
    dataset = xr.Dataset(variables, coords={"row": np.arange(len(table))})
    dataset.attrs["source_column"] = source
    dataset.attrs["sources"] = [str(name) for name in table.attrs.get("sources", {})]
    return dataset


def _holds_arrays(series: pd.Series) -> bool:
    """Whether ``series`` holds one array per row (judged by its first value)."""
    first = series.first_valid_index()
    return first is not None and np.ndim(series.loc[first]) > 0
