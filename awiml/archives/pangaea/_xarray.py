"""Turn a PANGAEA table (as :func:`read_text` returns it) into a CF-1.10 xarray Dataset."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["frame_to_xarray", "udunits"]

_GEOCODE_UNITS = {"Latitude": "degrees_north", "Longitude": "degrees_east"}
# Vertical geocodes by short name: CF standard name (None where CF has none) and direction.
# PANGAEA's depths grow downwards, its elevations and heights upwards.
_VERTICAL: dict[str, tuple[str | None, str]] = {
    "Depth water": ("depth", "down"),
    "Depth": (None, "down"),
    "Depth sed": (None, "down"),
    "Depth ice/snow": (None, "down"),
    "Elevation": ("altitude", "up"),
    "Altitude": ("altitude", "up"),
    "Height": ("height", "up"),
}
_EVENT_COLUMNS = ("Event", "Event label")
# CF words for PANGAEA's quality flags (awiml.archives.pangaea.QUALITY_FLAGS), in its order.
_FLAG_WORDS = {
    "?": "questionable",
    "/": "not_valid",
    "*": "unknown",
    "#": "individual_definition",
    "<": "below_detection_limit",
    ">": "above_detection_limit",
}
_TIME_ENCODING = {"units": "seconds since 1970-01-01 00:00:00", "calendar": "standard"}
# featureType: the variable that names the one feature, and its cf_role.
_INSTANCE = {
    "trajectory": ("trajectory", "trajectory_id"),
    "profile": ("profile", "profile_id"),
    "timeSeries": ("station", "timeseries_id"),
}


def udunits(unit: str | None, short_name: str = "") -> str | None:
    """Return the UDUNITS spelling of a PANGAEA unit, or None where it does not map cleanly.

    :func:`awiml.units.udunits`, plus CF's ``degrees_north`` and
    ``degrees_east`` for the geocodes ``Latitude`` and ``Longitude``.

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
    >>> udunits("W/m**2"), udunits("mm/a"), udunits("‰ PDB") is None
    ('W/m2', 'mm/yr', True)
    """
    from ...units import udunits as cf_units

    if short_name in _GEOCODE_UNITS or not unit:
        return _GEOCODE_UNITS.get(short_name)
    return cf_units(unit)


def _variable_name(column: str) -> str:
    """Make a netCDF-safe variable name from a PANGAEA short name."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", column).strip("_")
    return name if name and not name[0].isdigit() else f"v_{name}"


def frame_to_xarray(table: pd.DataFrame) -> xr.Dataset:
    """Convert a PANGAEA table to a CF-1.10 :class:`xarray.Dataset`.

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`awiml.archives.pangaea.read_text` or
        :meth:`PangaeaSource.read`, with ``attrs["columns"]`` and
        ``attrs["pangaea"]``.

    Returns
    -------
    xarray.Dataset
        Variables along ``obs``; see :meth:`PangaeaSource.to_xarray` for the
        coordinates, attributes and the ``featureType`` rule.
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
    short = {column: columns.get(column, {}).get("short_name", column) for column in table}
    roles = _roles(table, short, columns)
    variables: dict[str, Any] = {}
    for column in table.columns:
        series = table[column]
        info = columns.get(column, {})
        attrs: dict[str, Any] = {
            "pangaea_short_name": short[column],
            "long_name": info.get("long_name"),
            "pangaea_unit": info.get("unit"),
            **{key: info.get(key) for key in ("comment", "method", "pi")},
            "pangaea_geocode": "true" if info.get("geocode") else None,
        }
        encoding: dict[str, Any] = {}
        base = column[: -len("_flag")] if column.endswith("_flag") else None
        if base in table.columns and isinstance(series.dtype, pd.CategoricalDtype):
            values = _flag_codes(series)
            attrs.update(_flag_attributes(short.get(base, base)))
        elif isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
            series.dtype
        ):
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                series = series.dt.tz_convert("UTC").dt.tz_localize(None)
            values = series.to_numpy()
            encoding = {**_TIME_ENCODING, "dtype": "float64"}
        elif isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            series.dtype
        ):  # object columns too
            values = series.astype(object).where(series.notna(), "").astype(str).to_numpy()
        else:
            values = series.to_numpy()
            attrs["units"] = udunits(info.get("unit"), short[column])
        attrs.update(roles.get(column, {}))
        flag = f"{column}_flag"
        if flag in table.columns and isinstance(table[flag].dtype, pd.CategoricalDtype):
            attrs["ancillary_variables"] = names[flag]
        variable = xr.Variable("obs", values, {k: v for k, v in attrs.items() if v is not None})
        variable.encoding = encoding
        variables[names[column]] = variable
    dataset = xr.Dataset(variables)
    dataset = dataset.set_coords([names[column] for column in roles])
    dataset = _event_position(dataset, meta)
    feature_type = _feature_type(dataset, table, short)
    if feature_type:
        dataset = _single_feature(dataset, table, short, feature_type, meta)
    doi = meta.get("doi")
    global_attrs = {
        "title": meta.get("title") or "",
        "citation": meta.get("citation") or "",
        "references": f"https://doi.org/{doi}" if doi else "",
        "license": meta.get("license") or "",
        "source": "PANGAEA (https://www.pangaea.de)",
        "Conventions": "CF-1.10",
        "featureType": feature_type or "",
    }
    dataset.attrs.update({k: v for k, v in global_attrs.items() if v})
    return dataset


def _roles(
    table: pd.DataFrame, short: dict[str, str], columns: dict[str, Any]
) -> dict[str, dict[str, str]]:
    """Return the CF attributes of the time, latitude, longitude and vertical columns."""
    import pandas as pd

    roles: dict[str, dict[str, str]] = {}
    axes: set[str] = set()
    for column in table.columns:
        name, dtype = short[column], table[column].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        found: dict[str, str] = {}
        if name == "Date/Time" and (
            isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype)
        ):
            found = {"standard_name": "time", "axis": "T"}
        elif name == "Latitude" and numeric:
            found = {"standard_name": "latitude", "axis": "Y"}
        elif name == "Longitude" and numeric:
            found = {"standard_name": "longitude", "axis": "X"}
        elif name in _VERTICAL and numeric:
            unit = udunits(columns.get(column, {}).get("unit"), name)
            if unit is None or not _is_length(unit):
                continue
            standard_name, positive = _VERTICAL[name]
            found = {"positive": positive, "axis": "Z"}
            if standard_name:
                found["standard_name"] = standard_name
        else:
            continue
        if found["axis"] in axes:  # one coordinate per axis carries `axis`
            del found["axis"]
            if "positive" not in found:
                continue
        axes.add(found.get("axis", ""))
        roles[column] = found
    return roles


def _is_length(unit: str) -> bool:
    from ...errors import InvalidDataError
    from ...units import parse_unit

    try:
        return str(parse_unit(unit).dimensionality) == "[length]"
    except InvalidDataError:
        return False


def _flag_codes(series: pd.Series) -> Any:
    """Return PANGAEA's flag characters as int8 codes: 0 for none, 1-6 as in QUALITY_FLAGS."""
    import numpy as np

    lookup = {char: code for code, char in enumerate(_FLAG_WORDS, start=1)}
    codes = series.astype(object).map(lambda char: lookup.get(char, 0) if char == char else 0)
    return codes.to_numpy(dtype=np.int8)


def _flag_attributes(of: str) -> dict[str, Any]:
    import numpy as np

    pairs = ", ".join(f"{code} {char}" for code, char in enumerate(_FLAG_WORDS, start=1))
    return {
        "long_name": f"quality flag of {of}",
        "flag_values": np.arange(len(_FLAG_WORDS) + 1, dtype=np.int8),
        "flag_meanings": " ".join(["no_flag", *_FLAG_WORDS.values()]),
        "comment": (
            "PANGAEA quality flags (https://wiki.pangaea.de/wiki/Quality_flag), "
            f"the value's prefix character: {pairs}; 0 no flag"
        ),
    }


def _axis_name(dataset: xr.Dataset, axis: str) -> str | None:
    for name, variable in dataset.coords.items():
        if variable.attrs.get("axis") == axis:
            return str(name)
    return None


def _event_position(dataset: xr.Dataset, meta: dict[str, Any]) -> xr.Dataset:
    """Add the one event's position and time as scalar coordinates where the table has none."""
    import numpy as np
    import pandas as pd

    events = meta.get("events") or []
    if len(events) != 1:
        return dataset
    event = events[0]
    label = event.get("label") or "the dataset's event"
    where = f"position of event {label} (PANGAEA metadata)"
    is_point = event.get("latitude_end") is None and event.get("longitude_end") is None
    scalars: dict[str, tuple[Any, dict[str, Any]]] = {}
    if (
        _axis_name(dataset, "Y") is None
        and _axis_name(dataset, "X") is None
        and is_point
        and event.get("latitude") is not None
        and event.get("longitude") is not None
    ):
        for name, axis in (("latitude", "Y"), ("longitude", "X")):
            attrs = {
                "standard_name": name,
                "axis": axis,
                "units": _GEOCODE_UNITS[name.capitalize()],
                "long_name": name.upper(),
                "comment": where,
            }
            scalars[name.capitalize()] = (float(event[name]), attrs)
    if _axis_name(dataset, "T") is None and event.get("datetime") and not event.get(
        "datetime_end"
    ):
        try:
            moment = pd.Timestamp(event["datetime"])
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is not None:
                moment = moment.tz_convert("UTC").tz_localize(None)
            attrs = {"standard_name": "time", "axis": "T", "long_name": "DATE/TIME",
                     "comment": f"time of event {label} (PANGAEA metadata)"}
            scalars["Date_Time"] = (np.datetime64(moment.to_datetime64(), "ns"), attrs)
    scalars = {name: value for name, value in scalars.items() if name not in dataset.variables}
    if not scalars:
        return dataset
    dataset = dataset.assign_coords({name: ((), value, attrs)
                                     for name, (value, attrs) in scalars.items()})
    if "Date_Time" in scalars:
        dataset["Date_Time"].encoding = dict(_TIME_ENCODING)
    return dataset


def _varies(variable: xr.DataArray | None) -> bool:
    if variable is None or variable.ndim == 0:
        return False
    return int(variable.to_series().dropna().nunique()) > 1


def _feature_type(dataset: xr.Dataset, table: pd.DataFrame, short: dict[str, str]) -> str | None:
    """Choose CF's featureType from which geocodes vary (see PangaeaSource.to_xarray)."""
    latitude, longitude = _axis_name(dataset, "Y"), _axis_name(dataset, "X")
    if latitude is None or longitude is None:
        return None
    events = [column for column in table.columns if short[column] in _EVENT_COLUMNS]
    if any(table[column].dropna().nunique() > 1 for column in events):
        return "point"
    time, vertical = _axis_name(dataset, "T"), _axis_name(dataset, "Z")
    moves = _varies(dataset[latitude]) or _varies(dataset[longitude])
    time_varies = _varies(dataset[time]) if time else False
    depth_varies = _varies(dataset[vertical]) if vertical else False
    if moves:
        return "trajectory" if time_varies else "point"
    if depth_varies and not time_varies:
        return "profile"
    if time_varies and not depth_varies:
        return "timeSeries"
    return "point"


def _single_feature(
    dataset: xr.Dataset,
    table: pd.DataFrame,
    short: dict[str, str],
    feature_type: str,
    meta: dict[str, Any],
) -> xr.Dataset:
    """Lay one trajectory, profile or time series out as CF's single-feature examples do.

    A profile's position and time and a time series' position and depth are
    constant: they become scalar coordinates. A scalar coordinate with
    ``cf_role`` names the feature (the event label, else the DOI).
    """
    import numpy as np

    if feature_type == "point":
        return dataset
    constant = {"profile": ("X", "Y", "T"), "timeSeries": ("X", "Y", "Z")}.get(feature_type, ())
    for axis in constant:
        name = _axis_name(dataset, axis)
        if name is None or dataset[name].ndim == 0:
            continue
        known = dataset[name].notnull().values
        if not known.any():
            continue
        scalar = dataset[name].isel(obs=int(np.argmax(known)))
        attrs, encoding = dict(dataset[name].attrs), dict(dataset[name].encoding)
        dataset = dataset.assign_coords({name: ((), scalar.values, attrs)})
        dataset[name].encoding = encoding
    label = None
    events = [column for column in table.columns if short[column] in _EVENT_COLUMNS]
    for column in events:
        found = table[column].dropna().unique()
        if len(found) == 1:
            label = str(found[0])
    if label is None and len(meta.get("events") or []) == 1:
        label = meta["events"][0].get("label")
    label = label or meta.get("doi")
    name, role = _INSTANCE[feature_type]
    if label and name not in dataset.variables:
        dataset = dataset.assign_coords(
            {name: ((), label, {"cf_role": role, "long_name": f"{feature_type} name"})}
        )
    return dataset
