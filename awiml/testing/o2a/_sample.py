"""awiml's sample sensors: real answers where they were recovered, synthetic series elsewhere.

The real rows (``data/``, see its README): the Heincke weather station's hourly means
of 2024-03-18T20:00 to 2024-03-19T09:00, the AWIPEV CTD's hourly means of temperature
and pressure on 2018-10-01 00:00 to 04:00, and the Polarstern thermosalinograph's
10-minute series of cruise PS103 from the PANGAEA table bundled in ``awiml/data``
(doi:10.1594/PANGAEA.889513), interpolated to seconds with a little noise.
"""

from __future__ import annotations

import calendar
import functools
import importlib.resources
import itertools
import json
from datetime import datetime
from typing import Any

import numpy as np

from ._registry import CTD_PARAMETERS
from ._series import Signal, Window

__all__ = ["sample_sensors"]

_HOUR = 3600


def _text(package: str, *path: str) -> str:
    return importlib.resources.files(package).joinpath(*path).read_text("utf-8")


def _stamp(text: str) -> int:
    """Seconds since 1970 of ``YYYY-MM-DD[T ]HH:MM[:SS]`` (UTC)."""
    text = text.strip().replace(" ", "T")
    layout = "%Y-%m-%dT%H:%M:%S" if text.count(":") == 2 else "%Y-%m-%dT%H:%M"
    return calendar.timegm(datetime.strptime(text, layout).timetuple())


def _hourly(name: str) -> tuple[int, list[str], np.ndarray]:
    """Read a real hourly data table: (first label, column codes, values[row, column])."""
    lines = _text("awiml.testing.o2a", "data", name).splitlines()
    codes = [label.split(" (")[0] for label in lines[0].split("\t")[1:]]
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    stamps = [_stamp(row[0]) for row in rows]
    if any(b - a != _HOUR for a, b in itertools.pairwise(stamps)):
        raise ValueError(f"{name}: rows are not consecutive hours")
    return stamps[0], codes, np.array([[float(v) for v in row[1:]] for row in rows])


@functools.lru_cache(maxsize=1)
def _ps103() -> tuple[int, np.ndarray, np.ndarray]:
    """PS103 thermosalinograph on a regular 10-minute grid: (start, temperature, salinity)."""
    text = _text("awiml", "data", "PANGAEA_889513_PS103_surf_oce_tsg.tab")
    body = text[text.index("*/") + 2 :].strip().splitlines()
    header = body[0].split("\t")
    when, temp, sal = header.index("Date/Time"), header.index("Temp [°C]"), header.index("Sal")
    stamps, temps, sals = [], [], []
    for line in body[1:]:
        cells = line.split("\t")
        if len(cells) > max(temp, sal) and cells[temp] and cells[sal]:
            stamps.append(_stamp(cells[when]))
            temps.append(float(cells[temp]))
            sals.append(float(cells[sal]))
    grid = np.arange(stamps[0], stamps[-1] + 1, 600, dtype=np.int64)
    return stamps[0], np.interp(grid, stamps, temps), np.interp(grid, stamps, sals)


def _noise(code: str, size: float) -> Signal:
    """Small noise-like wiggles (no level, no seasons) for a recorded window."""
    return Signal.synthetic(code + "#window", 0.0, 0.0, 0.0, size)


# code, unit, id, platformId, sensor field, (level, annual, daily, noise)
_CTD_SIGNALS = {
    "conductivity": (33.0, 2.0, 0.1, 0.05),
    "pressure": (6.2, 0.1, 0.4, 0.02),
    "temperature": (3.0, 3.0, 0.2, 0.1),
    "oxygen_concentration": (95.0, 8.0, 1.0, 0.5),
    "chlorophyll_concentration": (1.5, 1.0, 0.2, 0.1),
    "turbidity": (2.0, 0.8, 0.3, 0.2),
    "salinity": (34.5, 0.4, 0.02, 0.01),
    "oxygen_mg": (10.5, 1.0, 0.1, 0.05),
    "oxygen_ml": (7.3, 0.7, 0.07, 0.03),
}
_CTD_IDS = {"pressure": 440, "temperature": 441, "conductivity": 442,
            "oxygen_concentration": 443, "chlorophyll_concentration": 444, "turbidity": 445,
            "salinity": 446, "oxygen_mg": 447, "oxygen_ml": 448}


def sample_sensors() -> list[tuple[str, str, str, str, Signal, tuple[Window, ...], dict]]:
    """Return the sample sensors: (code, unit, first, last, signal, windows, /sensors entry)."""
    out: list[tuple[str, str, str, str, Signal, tuple[Window, ...], dict[str, Any]]] = []

    # Heincke: the real /sensors entry of air_pressure, its twin for air_temperature.
    [pressure_entry] = json.loads(
        _text("awiml.testing.o2a", "data", "dws_sensors_pattern_heincke_air_pressure.json"))
    start, codes, values = _hourly("dws_data_heincke_air_temp_pressure_hour_mean.tsv")
    heincke = {"vessel:heincke:dwd:air_temperature": ("°C", 8, (10.0, 6.0, 1.5, 0.3)),
               "vessel:heincke:dwd:air_pressure": ("hPa", 9, (1013.0, 4.0, 0.8, 0.5))}
    for code, (unit, ident, shape) in heincke.items():
        entry = dict(pressure_entry) if code == pressure_entry["code"] else {
            **pressure_entry, "id": ident, "code": code, "logicalCode": code, "sensor": code,
            "unit": unit, "lastValue": None, "lastQualityFlag": None}
        column = values[:, codes.index(code)]
        window = Window(start, _HOUR, np.append(column, column[-1]))  # held to lastDate
        out.append((code, unit, entry["firstDate"], entry["lastDate"],
                    Signal.synthetic(code, *shape), (window,), entry))

    # AWIPEV underwater CTD: the legacy sensor list, two real columns.
    legacy = "legacy2018_dws_data_svluwobs_ctd181_temp_pressure_hour_head.tsv"
    start, codes, values = _hourly(legacy)
    prefix = "station:svluwobs:svluw2:ctd_181"
    for _, short, unit, _ in CTD_PARAMETERS:
        code = f"{prefix}:{short}"
        windows = ((Window(start, _HOUR, values[:, codes.index(code)]),)
                   if code in codes else ())
        entry = {"id": _CTD_IDS[short], "platformId": 58, "sensor": code.split(":", 1)[1]}
        out.append((code, unit, "2012-07-01T00:00:00", "2024-12-31T23:59:59",
                    Signal.synthetic(code, *_CTD_SIGNALS[short]), windows, entry))

    # Polarstern thermosalinograph: PS103 from PANGAEA, synthetic elsewhere.
    start, temperature, salinity = _ps103()
    tsg = "vessel:polarstern:tsg"
    for short, unit, ident, series, shape, noise in (
        ("temperature", "°C", 2001, temperature, (5.0, 8.0, 0.3, 0.05), 0.02),
        ("salinity", "PSU", 2002, salinity, (34.0, 0.5, 0.02, 0.01), 0.005),
    ):
        code = f"{tsg}:{short}"
        window = Window(start, 600, series, linear=True, noise=_noise(code, noise), flag=1)
        out.append((code, unit, "2015-01-01T00:00:00", "2024-12-31T23:59:59",
                    Signal.synthetic(code, *shape), (window,),
                    {"id": ident, "platformId": 3}))

    # Mya II FerryBox optode: the parameters of real registry item 560.
    optode = "vessel:mya_ii:fb_741202:optode_9999a"
    for short, unit, ident, shape in (
        ("o2", "µmol/l", 3000, (290.0, 30.0, 5.0, 1.0)),
        ("temperature", "°C", 3001, (12.0, 6.0, 1.0, 0.1)),
        ("saturation", "%", 3002, (98.0, 6.0, 3.0, 0.5)),
        ("o2_corr", "µmol/l", 3003, (280.0, 30.0, 5.0, 1.0)),
        ("saturation_qf", "%", 3004, (1.0, 0.0, 0.0, 0.0)),
    ):
        code = f"{optode}:{short}"
        out.append((code, unit, "2016-06-27T00:00:00", "2024-01-17T18:00:00",
                    Signal.synthetic(code, *shape), (), {"id": ident, "platformId": 4}))
    return out
