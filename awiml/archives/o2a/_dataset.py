"""Turn a stitched O2A data table into an xarray Dataset (CF) or a pandas frame.

Variables are named by the shortest unique suffix of their sensor code plus the
aggregate function (``air_temperature_mean``; ``polarstern_tsg_temperature_mean``
when another sensor of the request also ends in ``tsg:temperature``). Quality
flags become CF ancillary variables ``<name>_qc``. Units are written in UDUNITS
spelling (:func:`awiml.units.udunits`), so :class:`awiml.preprocess.ConvertUnits`
reads them; a standard deviation of a temperature in ``°C`` is a difference and
is given in ``K``, a count in ``1``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import InvalidDataError
from ._codes import parse_code
from ._request import ExtractRequest
from ._table import SensorTable

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["FLAG_MEANINGS", "FLAG_VALUES", "to_dataset", "to_frame", "variable_names"]

#: The O2A quality flags (AWI's ingest convention) and their CF meanings.
FLAG_VALUES = (0, 1, 2, 3, 4)
FLAG_MEANINGS = "not_checked good probably_good probably_bad bad"
#: The integer that stands for a missing flag in ``<name>_qc``.
FLAG_MISSING = -1
#: CF cell methods of the service's aggregate functions (COUNT has none).
_CELL_METHODS = {"mean": "mean", "min": "minimum", "max": "maximum", "median": "median",
                 "std": "standard_deviation"}
_INTERVALS = {"second": "1 s", "minute": "1 min", "hour": "1 hour", "day": "1 day"}
_ADVERBS = {"second": "per-second", "minute": "per-minute", "hour": "hourly", "day": "daily"}
_TIME_ENCODING = {"units": "seconds since 1970-01-01 00:00:00", "calendar": "standard",
                  "dtype": "float64"}
_UNSAFE = re.compile(r"[^0-9a-z_]+")
_HANDLE = re.compile(r"\d+(?:\.\d+)*/[^\s/]\S*")


def variable_names(codes: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Name each sensor by the shortest suffix of its code no other code of the list shares.

    Parameters
    ----------
    codes : sequence of str
        Sensor codes, lower-case.

    Returns
    -------
    dict
        ``{code: name}``; names are lower-case letters, digits and ``_``.

    Examples
    --------
    >>> names = variable_names(["vessel:polarstern:tsg:temperature",
    ...                         "vessel:polarstern:tsg:salinity"])
    >>> list(names.values())
    ['temperature', 'salinity']
    >>> names = variable_names(["vessel:polarstern:tsg:temperature",
    ...                         "vessel:heincke:tsg:temperature"])
    >>> list(names.values())
    ['polarstern_tsg_temperature', 'heincke_tsg_temperature']
    """
    parts = {code: [_safe(part) for part in code.lower().replace("$", ":").split(":")]
             for code in codes}
    names = {}
    for code, own in parts.items():
        for size in range(1, len(own) + 1):
            name = "_".join(own[-size:])
            if all("_".join(other[-size:]) != name for key, other in parts.items()
                   if key != code):
                break
        names[code] = name if not name[:1].isdigit() else f"v_{name}"
    return names


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part.lower()).strip("_") or "_"


def _units(unit: str | None, function: str | None) -> str | None:
    """Return the UDUNITS ``units`` of a column: a count is ``1``; a spread of °C is ``K``."""
    from ...units import udunits

    if function == "count":
        return "1"
    cf = udunits(unit)
    if function == "std" and cf in ("degC", "degree_Celsius", "celsius"):
        return "K"
    return cf


def _frame_unit(cf: str, archive: str | None) -> str:
    """Return the unit a frame column declares for ``ConvertUnits``: CF's, but PSU stays PSU.

    CF writes practical salinity as ``1``, which awiml would read as a plain
    ratio and let become ``g/kg`` (35 as 35000); declared as ``PSU``, awiml
    refuses that conversion (it needs TEOS-10).
    """
    from ...units import parse_unit

    if cf != "1" or not archive:
        return cf
    try:
        return "PSU" if parse_unit(archive) == parse_unit("PSU") else cf
    except InvalidDataError:
        return cf


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)):
        text = str(value).strip()
        return text or None
    return None


def _registry_attributes(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return what ``PlatformSource.info`` knows of a sensor, as variable attributes."""
    if not isinstance(info, Mapping):
        return {}
    attrs: dict[str, Any] = {}
    item = info.get("item") if isinstance(info.get("item"), Mapping) else {}
    parameter = info.get("parameter") if isinstance(info.get("parameter"), Mapping) else {}
    platform = info.get("platform") if isinstance(info.get("platform"), Mapping) else {}
    for key in ("longName", "shortName", "code"):
        if _text(platform.get(key)):
            attrs["platform"] = _text(platform.get(key))
            break
    for key in ("longName", "shortName", "code"):
        if _text(item.get(key)):
            attrs["device"] = _text(item.get(key))
            break
    for key, name in (("id", "o2a_item_id"), ("code", "o2a_item_code"),
                      ("manufacturer", "device_manufacturer"), ("model", "device_model"),
                      ("serialNumber", "device_serial_number"), ("citation", "references")):
        value = item.get(key)
        if isinstance(value, Mapping):  # e.g. a manufacturer object
            value = value.get("name") or value.get("longName") or value.get("shortName")
        if _text(value):
            attrs[name] = _text(value)
    if _HANDLE.fullmatch(attrs.get("references", "")):  # the registry cites a Handle
        attrs["references"] = f"https://hdl.handle.net/{attrs['references']}"
    if _text(parameter.get("name")):
        attrs["parameter_name"] = _text(parameter.get("name"))
    kind = parameter.get("type")
    if isinstance(kind, Mapping):
        kind = kind.get("name") or kind.get("generalName") or kind.get("systemName")
    if _text(kind):
        attrs["parameter_type"] = _text(kind)
    return attrs


def _infos(source: Any, codes: tuple[str, ...]) -> dict[str, Mapping[str, Any] | None]:
    """``source.info(code)`` of each code; None (with a warning) where it is not available."""
    info = getattr(source, "info", None)
    found: dict[str, Mapping[str, Any] | None] = dict.fromkeys(codes)
    problems = []
    for code in codes:
        try:
            answer = info(code) if info is not None else None
        except Exception as error:  # metadata is optional: its failure must not lose the data
            problems.append(f"{code!r} ({type(error).__name__}: {error})")
            continue
        if isinstance(answer, Mapping):
            found[code] = answer
        else:
            problems.append(f"{code!r} (no description)")
    if problems:
        warnings.warn(
            f"the registry's description of {', '.join(problems)} could not be read; those "
            "variables have no long name, platform or device from the registry.",
            RuntimeWarning, stacklevel=4,
        )
    return found


def _plan(table: SensorTable, request: ExtractRequest, entries: Mapping[str, Mapping[str, Any]],
          infos: Mapping[str, Mapping[str, Any] | None]) -> list[tuple[str, int, dict[str, Any]]]:
    """Return ``(name, column position, attributes)`` of every variable, in the table's order."""
    bases = variable_names(request.codes)
    planned = []
    for position, column in enumerate(table.columns):
        name = bases.get(column.code, _safe(column.code))
        if column.function:
            name = f"{name}_{column.function}"
        if column.flag:
            planned.append((f"{name}_qc", position, {
                "long_name": f"quality flag of {name}",
                "standard_name": "status_flag",
                "flag_values": list(FLAG_VALUES),
                "flag_meanings": FLAG_MEANINGS,
                "sensor": column.code,
            }))
            continue
        entry = entries.get(column.code, {})
        unit = column.unit or _text(entry.get("unit"))
        code = parse_code(column.code)
        registry = _registry_attributes(infos.get(column.code))
        what = registry.pop("parameter_name", None) or code.parameter.replace("_", " ")
        function = column.function or "value"
        attrs: dict[str, Any] = {
            "long_name": f"{what} ({_ADVERBS[request.aggregate]} {function})",
            "units": _units(unit, column.function),
            "o2a_unit": unit,
            "sensor": column.code,
            "aggregate_function": function,
            "aggregate": request.aggregate,
            "platform": code.platform,
            "device": ":".join(code.devices) or None,
            "o2a_sensor_id": _text(entry.get("id")),
        }
        if column.function in _CELL_METHODS:
            attrs["cell_methods"] = (f"time: {_CELL_METHODS[column.function]} "
                                     f"(interval: {_INTERVALS[request.aggregate]})")
        attrs.update(registry)
        planned.append((name, position, {k: v for k, v in attrs.items() if v is not None}))
    names = {name for name, _, _ in planned}
    for name, _, attrs in planned:
        if f"{name}_qc" in names:
            attrs["ancillary_variables"] = f"{name}_qc"
    return planned


def _flags(values: Any) -> Any:
    import numpy as np

    out = np.full(values.shape, FLAG_MISSING, dtype=np.int8)
    known = ~np.isnan(values)
    out[known] = values[known]
    return out


def _global_attributes(request: ExtractRequest, url: str) -> dict[str, Any]:
    from ...errors import redact_url

    return {
        "Conventions": "CF-1.10",
        "title": f"O2A sensor data: {', '.join(request.codes)}",
        "source": "AWI O2A data web service (tab-separated extract)",
        "request_url": redact_url(url),
        "sensors": " ".join(request.codes),
        "aggregate": request.aggregate,
        "aggregate_functions": " ".join(request.functions),
        "time_coverage_start": f"{request.start:%Y-%m-%dT%H:%M:%SZ}",
        "time_coverage_end": f"{request.end:%Y-%m-%dT%H:%M:%SZ}",
        "time_zone": "UTC",
    }


def to_dataset(table: SensorTable, request: ExtractRequest, url: str, *,
               entries: Mapping[str, Mapping[str, Any]],
               infos: Mapping[str, Mapping[str, Any] | None]) -> xr.Dataset:
    """Build the CF Dataset of a stitched table (see :meth:`PlatformSource.read`).

    Parameters
    ----------
    table : SensorTable
        The whole extract.
    request : ExtractRequest
        What was asked for.
    url : str
        The one request URL of the whole extract.
    entries : mapping
        The ``/sensors`` entry of each code.
    infos : mapping
        ``PlatformSource.info(code)`` of each code, or None.

    Returns
    -------
    xarray.Dataset
    """
    import xarray as xr

    frame = table.frame
    times = frame.index.tz_convert("UTC").tz_localize(None).to_numpy()
    time = xr.Variable("time", times, {
        "standard_name": "time", "axis": "T", "time_zone": "UTC",
        "long_name": f"start of the {_INTERVALS[request.aggregate]} aggregation interval (UTC)",
    }, encoding=dict(_TIME_ENCODING))
    variables = {}
    for name, position, attrs in _plan(table, request, entries, infos):
        values = frame.iloc[:, position].to_numpy()
        if name.endswith("_qc") and "flag_values" in attrs:
            variable = xr.Variable("time", _flags(values), attrs,
                                   encoding={"_FillValue": FLAG_MISSING})
        else:
            variable = xr.Variable("time", values, attrs)
        variables[name] = variable
    return xr.Dataset(variables, coords={"time": time},
                      attrs=_global_attributes(request, url))


def to_frame(table: SensorTable, request: ExtractRequest, url: str, *,
             entries: Mapping[str, Mapping[str, Any]],
             infos: Mapping[str, Mapping[str, Any] | None]) -> pd.DataFrame:
    """Build the frame of a stitched table (see :meth:`PlatformSource.read`).

    Columns are named as the Dataset's variables; ``attrs["units"]`` holds the
    UDUNITS unit of each value column (practical salinity as ``PSU``, not
    CF's ``1``, so :class:`~awiml.preprocess.ConvertUnits` refuses to make it
    a mass fraction), ``attrs["columns"]`` the attributes of
    every column (with ``unit``), ``attrs["o2a"]`` the Dataset's attributes.

    Parameters
    ----------
    table, request, url, entries, infos
        As :func:`to_dataset`.

    Returns
    -------
    pandas.DataFrame
        Indexed by UTC time (``time``).
    """
    import pandas as pd

    frame = table.frame
    data = {}
    units: dict[str, str] = {}
    columns: dict[str, dict[str, Any]] = {}
    for name, position, attrs in _plan(table, request, entries, infos):
        values = frame.iloc[:, position].to_numpy()
        if name.endswith("_qc") and "flag_values" in attrs:
            flags = _flags(values)
            data[name] = pd.arrays.IntegerArray(flags, flags == FLAG_MISSING)  # Int8, <NA>
        else:
            data[name] = values
            if attrs.get("units"):
                units[name] = _frame_unit(attrs["units"], attrs.get("o2a_unit"))
        columns[name] = {**attrs, "unit": attrs.get("units")}
    out = pd.DataFrame(data, index=frame.index.copy())
    out.index.name = "time"
    out.attrs["units"] = units
    out.attrs["columns"] = columns
    out.attrs["o2a"] = _global_attributes(request, url)
    return out
