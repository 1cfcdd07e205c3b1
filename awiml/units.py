"""Units of measurement: one shared pint registry that reads oceanographic spellings.

Archive files write units the way people do: PANGAEA writes ``°C``,
``µmol/kg``, ``‰`` and ``deg``; CF/UDUNITS files write ``degC`` and
``mg m-3``; older tables write ``deg C``, ``PSU`` or ``per mil``.
:func:`parse_unit` reads all of these, with the one registry
:func:`unit_registry` returns; :func:`split_label` and :func:`convert` use it.

What the registry adds to pint's defaults
-----------------------------------------
* Practical salinity (PSS-78) as ``practical_salinity_unit``, a dimensionless
  unit spelled ``PSU``, ``psu``, ``PSS``, ``PSS-78`` or ``pss78``: 35 PSU is
  the number 35. Practical salinity is a scale, not a mass fraction, so
  :func:`convert` refuses to turn it into ``g/kg``, ``‰`` or ``%`` (that
  needs TEOS-10, e.g. ``gsw.SA_from_SP``) and converts it only to itself or
  to plain ``dimensionless``.
* Spellings pint does not read: ``deg C`` and ``degrees Celsius`` (°C),
  ``per mil`` and ``o/oo`` (‰), ``1e-3`` (CF's parts per thousand, ‰),
  ``#`` (a count, as in PANGAEA's ``#/l``), UDUNITS exponents (``m-2``,
  ``s-1``) and ``℃``.
* ``ppt`` is refused: pint reads it as a picopint, oceanographers mean
  parts per thousand and chemists parts per trillion.

Temperatures in ``°C`` or ``°F`` are absolute temperatures: 0 °C converts to
273.15 K. Write ``delta_degC`` for a temperature difference.

pint is imported on first use, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidDataError

if TYPE_CHECKING:
    import pint

__all__ = ["convert", "parse_unit", "split_label", "udunits", "unit_registry"]

#: Spellings pint does not read, keyed by their case-folded, space-collapsed form.
_ALIASES: dict[str, str] = {
    "deg c": "degree_Celsius",
    "deg_c": "degree_Celsius",
    "degc": "degree_Celsius",
    "deg. c": "degree_Celsius",
    "degree c": "degree_Celsius",
    "degrees c": "degree_Celsius",
    "degree celsius": "degree_Celsius",
    "degrees celsius": "degree_Celsius",
    "degrees_celsius": "degree_Celsius",
    "celsius": "degree_Celsius",
    "deg f": "degree_Fahrenheit",
    "degrees fahrenheit": "degree_Fahrenheit",
    "deg k": "kelvin",
    "degrees kelvin": "kelvin",
    "psu": "practical_salinity_unit",
    "pss": "practical_salinity_unit",
    "pss-78": "practical_salinity_unit",
    "pss78": "practical_salinity_unit",
    "pss 78": "practical_salinity_unit",
    "practical salinity": "practical_salinity_unit",
    "practical salinity unit": "practical_salinity_unit",
    "practical salinity units": "practical_salinity_unit",
    "per mil": "permille",
    "per mill": "permille",
    "per mille": "permille",
    "permil": "permille",
    "o/oo": "permille",
    "1e-3": "permille",
    "10^-3": "permille",
    "unitless": "dimensionless",
    "none": "dimensionless",
}

# Archive unit spellings that UDUNITS (and so CF) writes differently; taken as they are.
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
# What UDUNITS can read: ASCII symbols, digits, products, quotients and powers.
_UDUNITS_TEXT = re.compile(r"[A-Za-z0-9 ./^*()+-]+")
# PANGAEA's "a" (annum), "ka" and "Ma" are UDUNITS' "yr", "kyr" and "Myr" ("a" is an are there).
_ANNUM = re.compile(r"(?<![A-Za-z])(k|M)?a(?![A-Za-z])")

_REFUSED: dict[str, str] = {
    "ppt": (
        "it is ambiguous (parts per thousand or parts per trillion; pint would read a "
        "picopint): write '‰' or 'g/kg' for parts per thousand"
    ),
}

# A UDUNITS exponent: a unit symbol directly followed by an integer ("m-2", "s-1", "m2").
_EXPONENT = re.compile(r"(^|[\s*/(])([A-Za-zµμ°Ω]+)(-?\d+)(?=$|[\s*/)])")
# A label ending in a unit: "Temp [°C]" or "Temp [°C] (comment)"; "temperature (deg C)".
_BRACKETS = re.compile(
    r"^(?P<name>.*?)\s*\[(?P<unit>[^\[\]]*)\](?:\s*\((?P<comment>[^()]*)\))?\s*$"
)
_PARENS = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>[^()]*)\)\s*$")


@functools.cache
def unit_registry() -> pint.UnitRegistry:
    """Return awiml's shared :class:`pint.UnitRegistry` (created once, then cached).

    The registry is pint's default one plus practical salinity
    (``practical_salinity_unit``, symbol ``PSU``). It is not installed as
    pint's application registry: awiml changes no global state. Units and
    quantities from different registries do not mix, so make quantities that
    meet awiml's with this registry.

    Returns
    -------
    pint.UnitRegistry
        The same object on every call.

    Examples
    --------
    >>> ureg = unit_registry()
    >>> ureg is unit_registry()
    True
    >>> ureg.Quantity(35.0, "PSU").to("dimensionless").magnitude
    35.0
    """
    import pint

    ureg = pint.UnitRegistry(cache_folder=None)
    ureg.define("practical_salinity_unit = [] = PSU")
    return ureg


def parse_unit(text: str) -> pint.Unit:
    """Read a unit as archives write it into a :class:`pint.Unit`.

    Parameters
    ----------
    text : str
        The unit: pint syntax (``"degC"``, ``"umol/kg"``, ``"m**2"``),
        PANGAEA spellings (``"°C"``, ``"µmol/kg"``, ``"‰"``, ``"deg"``,
        ``"#/l"``), UDUNITS exponents (``"mg m-3"``) or one of the spellings
        listed in :mod:`awiml.units` (``"deg C"``, ``"PSU"``,
        ``"per mil"``).

    Returns
    -------
    pint.Unit
        A unit of :func:`unit_registry`.

    Raises
    ------
    InvalidDataError
        ``text`` is empty, is not a unit, is ambiguous (``"ppt"``) or is a
        scaled unit such as ``"10 m"``. The message quotes ``text``.
    TypeError
        ``text`` is not a string.

    Examples
    --------
    >>> str(parse_unit("°C")), str(parse_unit("deg C")), str(parse_unit("µmol/kg"))
    ('degree_Celsius', 'degree_Celsius', 'micromole / kilogram')
    >>> parse_unit("PSU").dimensionless, str(parse_unit("deg")), str(parse_unit("mg m-3"))
    (True, 'degree', 'milligram / meter ** 3')
    >>> parse_unit("Sal")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    awiml.errors.InvalidDataError: cannot read 'Sal' as a unit: 'Sal' is not defined ...
    """
    if not isinstance(text, str):
        raise TypeError(f"a unit must be given as text, not {type(text).__name__} ({text!r})")
    return _parse_unit(text)


@functools.lru_cache(maxsize=1024)
def _parse_unit(text: str) -> pint.Unit:
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        raise InvalidDataError(f"cannot read {text!r} as a unit: it is empty")
    key = " ".join(cleaned.split()).casefold()
    if key in _REFUSED:
        raise InvalidDataError(f"cannot read {text!r} as a unit: {_REFUSED[key]}")
    expression = _ALIASES.get(key)
    if expression is None:
        expression = cleaned.replace("#", "count")
        expression = _EXPONENT.sub(lambda m: f"{m.group(1)}{m.group(2)}**{m.group(3)}", expression)
    ureg = unit_registry()
    try:
        parsed = ureg.parse_expression(expression)
    except Exception as error:  # pint raises many types for text that is not a unit
        reason = str(error).strip() or type(error).__name__
        raise InvalidDataError(f"cannot read {text!r} as a unit: {reason}") from None
    if not isinstance(parsed, ureg.Quantity):  # a bare number such as "2"
        raise InvalidDataError(f"cannot read {text!r} as a unit: it is a number")
    if parsed.magnitude != 1:
        raise InvalidDataError(
            f"cannot read {text!r} as a unit: it is a scaled unit ({parsed.magnitude} "
            f"{parsed.units}); scale the values instead"
        )
    return parsed.units


def split_label(label: str) -> tuple[str, str | None]:
    """Split a column label into its name and the unit it carries, if any.

    A unit is the text in square brackets at the end of the label (PANGAEA's
    ``"Temp [°C]"``, optionally followed by a comment in parentheses, which is
    dropped), or the text in parentheses at the end if :func:`parse_unit`
    reads it as a unit (``"temperature (deg C)"``; ``"Chl a (HPLC)"`` has no
    unit).

    Parameters
    ----------
    label : str
        A column label.

    Returns
    -------
    name : str
        The label without the unit, stripped.
    unit : str or None
        The unit text as written (not parsed), or ``None``.

    Examples
    --------
    >>> split_label("Temp [°C]"), split_label("Depth water [m]")
    (('Temp', '°C'), ('Depth water', 'm'))
    >>> split_label("temperature (deg C)"), split_label("TEMP"), split_label("Chl a (HPLC)")
    (('temperature', 'deg C'), ('TEMP', None), ('Chl a (HPLC)', None))
    """
    text = str(label)
    match = _BRACKETS.match(text)
    if match:
        unit = match.group("unit").strip()
        return match.group("name").strip(), unit or None
    match = _PARENS.match(text)
    if match and match.group("name").strip():
        unit = match.group("unit").strip()
        if unit:
            with contextlib.suppress(InvalidDataError):
                _parse_unit(unit)
                return match.group("name").strip(), unit
    return text.strip(), None


@functools.lru_cache(maxsize=512)
def udunits(unit: str | None) -> str | None:
    """Return the UDUNITS spelling of an archive's unit (for CF's ``units``), or None.

    The spellings of the table in docs/guide/pangaea.md are taken as they
    are (``°C`` is ``degC``, ``%`` is ``percent``, ``‰`` is ``1e-3``, practical
    salinity ``PSU`` is CF's ``1``). Any other unit is rewritten (``µ`` as
    ``u``, ``m**2`` as ``m2``, PANGAEA's ``a`` and ``ka`` as ``yr`` and
    ``kyr``, ``#/ml`` as ``ml-1``) and kept only if the result is plain
    UDUNITS text that :func:`parse_unit` reads as the same unit; otherwise
    ``None``: the caller omits ``units`` rather than guess (``‰ PDB``,
    ``NTU``, ``arbitrary units``).

    Parameters
    ----------
    unit : str or None
        The unit as the archive writes it, e.g. ``"°C"`` or ``"µmol/kg"``.

    Returns
    -------
    str or None
        The unit for a ``units`` attribute, or ``None`` for none.

    Examples
    --------
    >>> udunits("°C"), udunits("µmol/kg"), udunits("PSU"), udunits("hPa")
    ('degC', 'umol/kg', '1', 'hPa')
    >>> udunits("W/m**2"), udunits("mm/a"), udunits("‰ PDB") is None, udunits("") is None
    ('W/m2', 'mm/yr', True, True)
    """
    if not unit or not unit.strip():
        return None
    unit = unit.strip()
    if unit in _UDUNITS:
        return _UDUNITS[unit]
    text = unit.replace("µ", "u").replace("μ", "u")
    text = re.sub(r"\*\*\s*(-?\d+)", r"\1", text)
    text = re.sub(r"^#/([A-Za-z]+)$", r"\1-1", text)
    text = _ANNUM.sub(lambda match: (match.group(1) or "") + "yr", text)
    if not _UDUNITS_TEXT.fullmatch(text):
        return None
    return text if _same_unit(unit, text) else None


def _same_unit(archive: str, cf: str) -> bool:
    """Whether awiml's unit registry reads both spellings as one unit."""
    import math

    try:
        source, target = parse_unit(archive), parse_unit(cf)
        if source == target:
            return True
        factor = unit_registry().Quantity(1.0, source).to(target).magnitude
    except InvalidDataError:
        return False
    except Exception:  # pint's DimensionalityError and others: not the same unit
        return False
    return math.isclose(factor, 1.0, rel_tol=1e-9)


def convert(
    values: Any, source: str | pint.Unit, target: str | pint.Unit, *, what: str | None = None
) -> Any:
    """Convert numbers from one unit to another.

    Parameters
    ----------
    values : float or array-like of float
        The numbers, in ``source`` units. Missing values (NaN) stay missing.
        Temperatures are absolute (``0 °C`` is ``273.15 K``).
    source, target : str or pint.Unit
        The units, as text for :func:`parse_unit` or as units of
        :func:`unit_registry`.
    what : str, optional
        What the values are, for error messages (``"column 'pressure'"``).

    Returns
    -------
    float or numpy.ndarray
        The numbers in ``target`` units: a float for a scalar, else a float
        array of the same shape (``float32`` stays ``float32``).

    Raises
    ------
    InvalidDataError
        A unit cannot be read, the units measure different things (a
        temperature and a pressure), or practical salinity would be turned
        into a mass fraction. The message names both units.

    Examples
    --------
    >>> convert(10.0, "dbar", "Pa"), convert([1013.25], "mbar", "hPa")
    (100000.0, array([1013.25]))
    >>> float(convert(0.0, "°C", "K"))
    273.15
    >>> convert(1.0, "degC", "Pa", what="column 'pressure'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    awiml.errors.InvalidDataError: cannot convert column 'pressure' from 'degC' to 'Pa': ...
    """
    import pint

    src = source if isinstance(source, pint.Unit) else parse_unit(source)
    tgt = target if isinstance(target, pint.Unit) else parse_unit(target)
    scalar = np.ndim(values) == 0
    array = np.asarray(values)
    if array.dtype.kind not in "f":
        array = array.astype(np.float64)
    if src == tgt:
        out = array.copy()
    else:
        subject = f"{what} " if what else ""
        problem = f"cannot convert {subject}from {str(source)!r} to {str(target)!r}"
        ureg = unit_registry()
        psu, plain = ureg.practical_salinity_unit, ureg.dimensionless
        if (src == psu and tgt not in (psu, plain)) or (tgt == psu and src not in (psu, plain)):
            raise InvalidDataError(
                f"{problem}: practical salinity (PSS-78) is a dimensionless scale, not a mass "
                "fraction; converting it needs TEOS-10 (e.g. gsw.SA_from_SP), not a change of unit"
            )
        try:
            out = ureg.Quantity(array, src).to(tgt).magnitude
        except pint.DimensionalityError:
            raise InvalidDataError(
                f"{problem}: {_dimensions(src)} is not {_dimensions(tgt)}"
            ) from None
        out = np.asarray(out, dtype=array.dtype)
    return float(out) if scalar else out


def _dimensions(unit: pint.Unit) -> str:
    text = str(unit.dimensionality)
    return "dimensionless" if text in ("", "dimensionless") else text

