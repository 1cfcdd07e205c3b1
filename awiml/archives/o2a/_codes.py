"""Sensor codes of the O2A data web service, and the column labels of its tables.

A sensor code is a URN ``<platform type>:<platform>[:<device>...]:<parameter>``,
for example ``vessel:polarstern:tsg:temperature``; near-real-time streams may end
in ``$NRT``. The data service labels a table column ``<code> (<function>) [<unit>]``,
e.g. ``vessel:heincke:dwd:air_pressure (mean) [hPa]``.

Assumptions, from the service's public answers: codes are ASCII letters, digits and
``_ - . $`` between colons, compared case-insensitively (the service lower-cases
them); a label's function is one word; its unit may be empty (``[]``) or missing.
A label that does not have this form is refused rather than guessed at, because
a wrong split would put values under the wrong sensor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import InvalidDataError

_PART = r"[A-Za-z0-9_.\-]+"
_CODE = re.compile(rf"{_PART}(?::{_PART})+(?:\$NRT)?", re.IGNORECASE)
_LABEL = re.compile(
    rf"\s*(?P<code>{_CODE.pattern})\s*(?:\((?P<function>[A-Za-z_]+)\))?"
    r"\s*(?:\[(?P<unit>[^\[\]]*)\])?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SensorCode:
    """A sensor code split into its parts.

    Attributes
    ----------
    platform_type : str
        ``vessel``, ``station``, ``observatory``, ...
    platform : str
        The platform's short name, e.g. ``polarstern``.
    devices : tuple of str
        The devices between platform and parameter, outermost first; may be empty.
    parameter : str
        What is measured, e.g. ``temperature``.
    near_real_time : bool
        Whether the code ends in ``$NRT``.
    """

    platform_type: str
    platform: str
    devices: tuple[str, ...]
    parameter: str
    near_real_time: bool = False

    def __str__(self) -> str:
        parts = (self.platform_type, self.platform, *self.devices, self.parameter)
        return ":".join(parts) + ("$NRT" if self.near_real_time else "")


def parse_code(text: str) -> SensorCode:
    """Split a sensor code into its parts.

    Parameters
    ----------
    text : str
        A code such as ``vessel:polarstern:tsg:temperature``; surrounding blanks
        are ignored and it is lower-cased, as the service does.

    Returns
    -------
    SensorCode

    Raises
    ------
    InvalidDataError
        When ``text`` is not a code of at least three parts.

    Examples
    --------
    >>> code = parse_code("vessel:Polarstern:tsg:temperature")
    >>> code.platform, code.devices, code.parameter
    ('polarstern', ('tsg',), 'temperature')
    >>> str(parse_code("vessel:heincke:dwd:air_pressure$NRT"))
    'vessel:heincke:dwd:air_pressure$NRT'
    """
    cleaned = str(text).strip()
    if not _CODE.fullmatch(cleaned) or cleaned.count(":") < 2:
        raise InvalidDataError(
            f"{text!r} is not an O2A sensor code: write it as "
            "<platform type>:<platform>[:<device>...]:<parameter>, for example "
            "'vessel:polarstern:tsg:temperature'."
        )
    nrt = cleaned.upper().endswith("$NRT")
    parts = cleaned[: -4 if nrt else None].lower().split(":")
    return SensorCode(parts[0], parts[1], tuple(parts[2:-1]), parts[-1], nrt)


def parse_label(label: str) -> tuple[str, str | None, str | None]:
    """Split a column label of the data service's table.

    Parameters
    ----------
    label : str
        ``<code> (<function>) [<unit>]``; function and unit may be missing.

    Returns
    -------
    tuple of (str, str or None, str or None)
        The code as written, the function in lower case, the unit (None when
        missing or empty).

    Raises
    ------
    InvalidDataError
        When the label has another form.

    Examples
    --------
    >>> parse_label("vessel:heincke:dwd:air_pressure (mean) [hPa]")
    ('vessel:heincke:dwd:air_pressure', 'mean', 'hPa')
    >>> parse_label("station:svluwobs:svluw2:ctd_181:temperature [°C]")
    ('station:svluwobs:svluw2:ctd_181:temperature', None, '°C')
    """
    match = _LABEL.fullmatch(label)
    if match is None or match["code"].count(":") < 2:
        raise InvalidDataError(
            f"column label {label!r} of an O2A table is not '<sensor code> (<function>)"
            " [<unit>]'; the table cannot be read safely. Check that the answer comes "
            "from the O2A data web service (format=text/tab-separated-values)."
        )
    unit = (match["unit"] or "").strip() or None
    function = match["function"].lower() if match["function"] else None
    return match["code"], function, unit
