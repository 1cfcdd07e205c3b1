"""UDUNITS spellings of archive units (awiml.units.udunits), as O2A and PANGAEA write them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awiml.archives.pangaea._xarray import udunits as pangaea_udunits
from awiml.units import convert, parse_unit, udunits


@pytest.mark.parametrize(("unit", "expected"), [
    ("°C", "degC"), ("PSU", "1"), ("psu", "1"), ("hPa", "hPa"), ("m/s", "m/s"),
    ("%", "percent"), ("µmol/l", "umol/l"), ("mS/cm", "mS/cm"), ("dbar", "dbar"),
    ("W/m^2", "W/m^2"), ("W/m**2", "W/m2"), ("deg", "degree"), ("#/l", "l-1"),
])
def test_o2a_units_get_udunits_spellings(unit, expected):
    assert udunits(unit) == expected


@pytest.mark.parametrize("unit", [None, "", "  ", "NTU", "‰ PDB", "arbitrary units", "°C/°C?"])
def test_units_without_a_clean_udunits_spelling_are_none(unit):
    assert udunits(unit) is None


@pytest.mark.parametrize("unit", ["°C", "hPa", "m/s", "µmol/l", "W/m^2", "mS/cm", "%", "PSU"])
def test_udunits_spellings_are_read_by_udunits_and_by_awiml_as_the_same_unit(unit):
    cf_units = pytest.importorskip("cf_xarray.units").units
    text = udunits(unit)
    cf_units.parse_units(text)  # raises if UDUNITS cannot read it
    assert convert(1.5, text, unit) == pytest.approx(1.5)


def test_pangaea_keeps_its_geocode_units_and_shares_the_rest():
    assert pangaea_udunits(None, "Latitude") == "degrees_north"
    assert pangaea_udunits("°C") == udunits("°C") == "degC"
    assert pangaea_udunits("mm/a") == "mm/yr"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_any_text_gives_a_unit_awiml_reads_the_same_or_none(text):
    result = udunits(text)
    if result is not None:
        assert parse_unit(result) is not None
