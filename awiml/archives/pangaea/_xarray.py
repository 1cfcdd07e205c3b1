"""Turn a PANGAEA table (as :func:`read_text` returns it) into a CF-style xarray Dataset."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["frame_to_xarray", "udunits"]

# PANGAEA unit spellings that UDUNITS (and so CF) writes differently.
_UDUNITS = {
    "°C": "degC",
    "deg C": "degC",
    "°": "degree",
    "deg": "degree",
    "%": "percent",
    "‰": "1e-3",
    "per mil": "1e-3",
    "µm": "um",
    "µg/l": "ug/l",
    "µmol/kg": "umol/kg",
    "µmol/l": "umol/l",
    "µatm": "uatm",
    "psu": "1",
    "PSU": "1",
    "#": "1",
    "#/l": "l-1",
}

_GEOCODE_UNITS = {"Latitude": "degrees_north", "Longitude": "degrees_east"}


def udunits(unit: str | None, short_name: str = "") -> str | None:
    """Return the UDUNITS spelling of a PANGAEA unit (unchanged where already valid).

    Parameters
    ----------
    unit : str or None
        The unit as PANGAEA writes it, e.g. ``"°C"`` or ``"µmol/kg"``.
    short_name : str, optional
        The column's short name; ``Latitude`` and ``Longitude`` get CF's
        ``degrees_north`` and ``degrees_east``.

    Returns
    -------
    str or None
        The unit for the ``units`` attribute, or ``None`` for none.

    Examples
    --------
    >>> udunits("°C"), udunits("µmol/kg"), udunits(None, "Latitude")
    ('degC', 'umol/kg', 'degrees_north')
    """
    if short_name in _GEOCODE_UNITS or not unit:
        return _GEOCODE_UNITS.get(short_name)
    return _UDUNITS.get(unit, unit.replace("µ", "u").replace("°", "degree"))


def _variable_name(column: str) -> str:
    """Make a netCDF-safe variable name from a PANGAEA short name."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", column).strip("_")
    return name if name and not name[0].isdigit() else f"v_{name}"


def frame_to_xarray(table: pd.DataFrame) -> xr.Dataset:
    """Convert a PANGAEA table to an :class:`xarray.Dataset` with CF-style attributes.

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`awiml.archives.pangaea.read_text` or
        :meth:`PangaeaSource.read`, with ``attrs["columns"]`` and
        ``attrs["pangaea"]``.

    Returns
    -------
    xarray.Dataset
        Variables along ``obs``; see :meth:`PangaeaSource.to_xarray`.
    """
    import pandas as pd
    import xarray as xr

    columns: dict[str, Any] = table.attrs.get("columns", {})
    meta: dict[str, Any] = table.attrs.get("pangaea", {})
    names = {column: _variable_name(column) for column in table.columns}
    used: dict[str, int] = {}
    for column, name in names.items():
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            names[column] = f"{name}_{used[name]}"
    variables = {}
    for column in table.columns:
        series = table[column]
        categorical = isinstance(series.dtype, pd.CategoricalDtype)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        elif categorical or pd.api.types.is_string_dtype(series.dtype):  # object columns too
            values = series.astype(object).where(series.notna(), "").astype(str).to_numpy()
        else:
            values = series.to_numpy()
        info = columns.get(column, {})
        short_name = info.get("short_name", column)
        attrs = {
            "pangaea_short_name": short_name,
            "long_name": info.get("long_name"),
            "units": udunits(info.get("unit"), short_name),
            "pangaea_unit": info.get("unit"),
            **{key: info.get(key) for key in ("comment", "method", "pi")},
            "pangaea_geocode": "true" if info.get("geocode") else None,
        }
        flag = f"{column}_flag"
        if flag in table.columns:
            attrs["ancillary_variables"] = _variable_name(flag)
        if column.endswith("_flag") and column[: -len("_flag")] in table.columns:
            attrs["long_name"] = f"quality flag of {column[: -len('_flag')]}"
            attrs["flag_meanings_source"] = "PANGAEA quality prefixes: ? / * # < >"
        variables[names[column]] = ("obs", values, {k: v for k, v in attrs.items() if v})
    dataset = xr.Dataset(variables, coords={"obs": range(len(table))})
    doi = meta.get("doi")
    global_attrs = {
        "title": meta.get("title") or "",
        "citation": meta.get("citation") or "",
        "references": f"https://doi.org/{doi}" if doi else "",
        "license": meta.get("license") or "",
        "source": "PANGAEA (https://www.pangaea.de)",
        "Conventions": "CF-1.10",
    }
    dataset.attrs.update({k: v for k, v in global_attrs.items() if v})
    return dataset
