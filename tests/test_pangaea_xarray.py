"""xarray: the ``pangaea`` engine and the CF-1.10 Dataset of ``PangaeaSource.to_xarray``.

Against the loopback PANGAEA emulator and the real text exports in tests/data.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import xarray as xr
from conftest import DATA

from awiml import PangaeaSource
from awiml.archives.pangaea._backend import PangaeaBackendEntrypoint
from awiml.errors import AuthenticationError, InvalidDataError, NotFoundError
from awiml.testing import PangaeaServer

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).parent.parent
PANGAEA = DATA / "pangaea"
TSG = PANGAEA / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
PIGMENTS = PANGAEA / "PANGAEA_898941_Bracher_2019_PS103_pigments.tab"
FLAGS = PANGAEA / "malformed" / "flags_and_limits.tab"
NOHEADER = PANGAEA / "Polarstern_radiosondes_datawarehouse_noheader.txt"
TOKEN = "t0ken-for-xarray-tests"
ENGINE = PangaeaBackendEntrypoint


@pytest.fixture
def pangaea():
    with PangaeaServer(token=TOKEN) as server:
        server.add_dataset(889513, text=TSG)
        server.add_dataset(898941, text=PIGMENTS)
        server.add_dataset(900002, text=FLAGS.read_bytes())
        server.add_dataset(889514, text=TSG, restricted=True)
        server.add_collection(900001, children=[889513, 898941])
        yield server


@pytest.fixture
def source(pangaea):
    return PangaeaSource(base_url=pangaea.base_url, cache=False, skip_instance_cache=True)


def open_remote(pangaea, url, **kwargs):
    kwargs.setdefault("storage_options", {"cache": False, "skip_instance_cache": True})
    return xr.open_dataset(url, engine=ENGINE, base_url=pangaea.base_url, **kwargs)


# --------------------------------------------------------------------------- #
# The engine
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("url", ["pangaea://889513", "pangaea://10.1594/PANGAEA.889513",
                                 "pangaea://889513/data.tab",
                                 "https://doi.org/10.1594/PANGAEA.889513"])
def test_engine_opens_a_dataset_as_to_xarray_does(pangaea, source, url):
    dataset = open_remote(pangaea, url)
    xr.testing.assert_identical(dataset, source.to_xarray(889513))
    assert dataset["Temp"].attrs["units"] == "degC"


def test_engine_opens_a_local_export_as_to_xarray_does(source, tmp_path):
    expected = source.to_xarray(889513)
    xr.testing.assert_identical(xr.open_dataset(TSG, engine=ENGINE), expected)
    xr.testing.assert_identical(xr.open_dataset(str(TSG), engine=ENGINE), expected)
    with TSG.open("rb") as handle:
        xr.testing.assert_identical(xr.open_dataset(handle, engine=ENGINE), expected)
    # A name with a space and an umlaut, as scientists name files.
    copy = tmp_path / "Fahrt Südpolarmeer.tab"
    copy.write_bytes(TSG.read_bytes())
    xr.testing.assert_identical(xr.open_dataset(copy, engine=ENGINE), expected)


def test_engine_drops_variables_by_name_or_short_name(pangaea):
    dataset = open_remote(pangaea, "pangaea://889513",
                          drop_variables=["Sal", "Date/Time", "no such variable"])
    assert "Sal" not in dataset.variables and "Date_Time" not in dataset.variables
    assert "Temp" in dataset
    flagged = open_remote(pangaea, "pangaea://900002", drop_variables="Temp_flag")
    assert "Temp_flag" not in flagged.variables
    assert "ancillary_variables" not in flagged["Temp"].attrs  # no link to a dropped variable
    assert "ancillary_variables" in flagged["Chl_a"].attrs


def test_engine_passes_the_token_and_cache_to_the_source(pangaea, tmp_path):
    with pytest.raises(AuthenticationError, match="token"):
        open_remote(pangaea, "pangaea://889514")
    cache = tmp_path / "cache"
    dataset = open_remote(pangaea, "pangaea://889514", token=TOKEN,
                          storage_options={"cache": cache, "skip_instance_cache": True})
    assert dataset.sizes["obs"] == 4482
    assert any(cache.rglob("data.*.tab"))  # the engine used the cache it was given (per token)
    assert TOKEN not in repr(dataset.attrs)


def test_engine_guesses_only_pangaea_urls_and_exports(tmp_path):
    engine = ENGINE()
    assert engine.guess_can_open("pangaea://889513")
    assert engine.guess_can_open(str(TSG)) and engine.guess_can_open(TSG)
    bom = tmp_path / "bom.tab"
    bom.write_bytes(b"\xef\xbb\xbf" + TSG.read_bytes())
    assert engine.guess_can_open(bom)
    with TSG.open("rb") as handle:
        handle.read(5)
        assert not engine.guess_can_open(handle)  # not at the header: no claim
        handle.seek(0)
        assert engine.guess_can_open(handle) and handle.tell() == 0
    netcdf = tmp_path / "x.nc"
    xr.Dataset({"a": ("x", [1, 2])}).to_netcdf(netcdf)
    for other in (NOHEADER, netcdf, tmp_path / "missing.tab", tmp_path,
                  "https://example.org/x.nc", io.BytesIO(b"x,y\n1,2\n"), 42):
        assert not engine.guess_can_open(other), other
    # With no engine named, xarray asks each engine: a PANGAEA export finds this one.
    xr.testing.assert_identical(ENGINE().open_dataset(str(TSG)),
                                xr.open_dataset(TSG, engine=ENGINE))


def test_engine_errors_name_the_input_and_the_fix(pangaea, tmp_path):
    with pytest.raises(InvalidDataError, match=r"'pangaea://889513/metadata\.xml'.*fsspec"):
        open_remote(pangaea, "pangaea://889513/metadata.xml")
    with pytest.raises(InvalidDataError, match=r"'pangaea://PS103'.*pangaea://889513"):
        open_remote(pangaea, "pangaea://PS103")
    with pytest.raises(InvalidDataError, match=r"collection.*889513"):
        open_remote(pangaea, "pangaea://900001")
    with pytest.raises(NotFoundError, match="does not exist"):
        open_remote(pangaea, "pangaea://123456789")
    missing = tmp_path / "missing.tab"
    with pytest.raises(NotFoundError, match=r"missing\.tab' does not exist.*pangaea://"):
        xr.open_dataset(missing, engine=ENGINE)
    # xarray turns a DOI without a scheme into a path: say which form works.
    with pytest.raises(NotFoundError, match=r"write 'pangaea://889513'"):
        xr.open_dataset("doi:10.1594/PANGAEA.889513", engine=ENGINE)
    with pytest.raises(InvalidDataError, match=r"local file.*token.*leave them out"):
        xr.open_dataset(TSG, engine=ENGINE, token=TOKEN)
    with pytest.raises(InvalidDataError, match="given both"):
        open_remote(pangaea, "pangaea://889513",
                    storage_options={"base_url": pangaea.base_url})
    with pytest.raises(InvalidDataError, match=r"x\.nc"):
        netcdf = tmp_path / "x.nc"
        xr.Dataset({"a": ("x", [1, 2])}).to_netcdf(netcdf)
        xr.open_dataset(netcdf, engine=ENGINE)


def test_pyproject_registers_the_engine():
    """The entry point names the class; xarray finds it by name once awiml is installed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    target = project["project"]["entry-points"]["xarray.backends"]["pangaea"]
    module, _, name = target.partition(":")
    import importlib

    assert getattr(importlib.import_module(module), name) is PangaeaBackendEntrypoint


def test_engine_name_resolves_through_the_entry_point(tmp_path):
    """``engine="pangaea"`` in a fresh interpreter that sees pyproject's entry point.

    The entry point is installed as package metadata of its own on a temporary
    path, so the test does not depend on how awiml was installed.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    target = project["project"]["entry-points"]["xarray.backends"]["pangaea"]
    info = tmp_path / "awiml_engine_check-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: awiml-engine-check\n"
                                   "Version: 0\n")
    (info / "entry_points.txt").write_text(f"[xarray.backends]\npangaea = {target}\n")
    script = textwrap.dedent(f"""
        import warnings
        warnings.simplefilter("ignore")  # an installed awiml may register the same engine
        import xarray as xr
        assert "pangaea" in xr.backends.list_engines()
        ds = xr.open_dataset({str(TSG)!r}, engine="pangaea")
        print(ds.sizes["obs"], ds.attrs["Conventions"])
        print(xr.open_dataset({str(TSG)!r}).sizes["obs"])  # guessed from the header
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4482", "CF-1.10", "4482"]


# --------------------------------------------------------------------------- #
# CF-1.10
# --------------------------------------------------------------------------- #

# One CTD cast: the position and time are only in the event of the metadata block.
PROFILE = (
    "/* DATA DESCRIPTION:\n"
    "Citation:\tBracher, Astrid (2019): Pigments of one CTD cast (test table). PANGAEA, "
    "https://doi.org/10.1594/PANGAEA.999001\n"
    "Event(s):\tPS103_11-1 * LATITUDE: -66.536900 * LONGITUDE: 0.009520 * "
    "DATE/TIME: 2016-12-28T07:32:00 * ELEVATION: -4593.0 m * LOCATION: Lazarev Sea\n"
    "Parameter(s):\tDEPTH, water [m] (Depth water) * GEOCODE\n"
    "\tChlorophyll a [µg/l] (Chl a)\n"
    "\tTemperature, water [°C] (Temp)\n"
    "License:\tCreative Commons Attribution 4.0 International (CC-BY-4.0)\n"
    "*/\n"
    "Depth water [m]\tChl a [µg/l]\tTemp [°C]\n"
    "2\t0.5966\t?-0.5\n30\t<0.001\t-1.2\n50\t0.7205\t-1.8\n"
).encode()
# One mooring: fixed position and depth, times that vary.
SERIES = (
    "Event label\tDate/Time\tLatitude\tLongitude\tDepth water [m]\tTemp [°C]\n"
    "AWI-M1\t2016-12-16T00:00\t-66.5\t0.01\t11\t1.0\n"
    "AWI-M1\t2016-12-16T01:00\t-66.5\t0.01\t11\t1.1\n"
    "AWI-M1\t2016-12-16T02:00\t-66.5\t0.01\t11\t0.9\n"
).encode()
# Sample sites without times: points, with units that map and units that do not.
SITES = (
    "Latitude\tLongitude\tElevation [m]\tRad [W/m**2]\tSed rate [cm/ka]\tδ18O [‰ PDB]"
    "\tTurb [NTU]\tChl a [µg/l]\tSal\n"
    "-66.5\t0.01\t-4593\t120.5\t1.2\t3.1\t0.4\t0.5\t34.1\n"
    "-68.0\t0.00\t-4511\t80.0\t0.9\t3.4\t0.2\t0.7\t34.2\n"
).encode()
FEATURE_TYPES = {"point", "timeSeries", "trajectory", "profile"}


def check_cf(dataset):
    """Explicit checks of the CF-1.10 rules the Dataset promises, with cf-xarray's help."""
    import cf_xarray  # noqa: F401  (registers .cf)
    from cf_xarray.units import units as udunits

    assert dataset.attrs["Conventions"] == "CF-1.10"
    if "featureType" in dataset.attrs:
        assert dataset.attrs["featureType"] in FEATURE_TYPES
        # CF 9.1: every discrete sampling geometry has a latitude and a longitude
        assert dataset.cf.axes["X"] and dataset.cf.axes["Y"]
    for axis, names in dataset.cf.axes.items():  # CF 4: at most one coordinate per axis
        assert len(names) == 1, (axis, names)
        assert names[0] in dataset.coords
    for name, variable in dataset.variables.items():
        attrs = variable.attrs
        if variable.dtype.kind == "M":  # CF 4.4: time encoded as "<unit> since <date>"
            assert "units" not in attrs
            assert " since " in variable.encoding["units"] and variable.encoding["calendar"]
        if "units" in attrs and not attrs["units"].replace("e-", "").replace(".", "").isdigit():
            udunits.parse_units(attrs["units"])  # raises for a unit UDUNITS cannot read
        if attrs.get("standard_name") == "latitude":
            assert attrs["units"] == "degrees_north"
        if attrs.get("standard_name") == "longitude":
            assert attrs["units"] == "degrees_east"
        if attrs.get("axis") == "Z" or "positive" in attrs:  # CF 4.3
            assert attrs["positive"] in ("up", "down")
            assert udunits.parse_units(attrs["units"]).dimensionality == {"[length]": 1}
        if "flag_values" in attrs:  # CF 3.5
            assert attrs["flag_values"].dtype == variable.dtype
            assert len(attrs["flag_values"]) == len(attrs["flag_meanings"].split())
            assert set(variable.values.ravel()) <= set(attrs["flag_values"])
            assert dataset[name].cf.is_flag_variable
        for linked in attrs.get("ancillary_variables", "").split():
            assert linked in dataset.variables
        if "cf_role" in attrs:
            assert attrs["cf_role"] in ("trajectory_id", "profile_id", "timeseries_id")


def test_to_xarray_track_is_a_cf_trajectory(source, tmp_path):
    dataset = source.to_xarray(889513)
    check_cf(dataset)
    assert dataset.attrs["featureType"] == "trajectory"
    assert dataset.cf.axes == {"T": ["Date_Time"], "Y": ["Latitude"], "X": ["Longitude"],
                               "Z": ["Depth_water"]}
    assert dataset.cf.standard_names == {"time": ["Date_Time"], "latitude": ["Latitude"],
                                         "longitude": ["Longitude"], "depth": ["Depth_water"]}
    assert set(dataset.data_vars) == {"Temp", "Sal"}  # geocodes are coordinates now
    assert dataset["Depth_water"].attrs["positive"] == "down"
    assert dataset.cf.cf_roles == {"trajectory_id": ["trajectory"]}
    assert str(dataset["trajectory"].values) == "PS103-track"
    assert dataset.cf["latitude"].dims == ("obs",)
    # Kept: names and attributes that code written for 0.1 reads.
    assert dataset["Temp"].attrs["units"] == "degC"
    assert dataset["Temp"].attrs["pangaea_unit"] == "°C"
    assert dataset["Latitude"].attrs["pangaea_short_name"] == "Latitude"
    # netCDF: time is stored as numbers with CF units, geocodes listed as coordinates.
    path = tmp_path / "tsg.nc"
    dataset.to_netcdf(path)
    with xr.open_dataset(path, decode_times=False) as raw:
        assert raw["Date_Time"].attrs["units"].startswith("seconds since 1970-01-01")
        assert raw["Date_Time"].attrs["calendar"] == "standard"
        assert set(raw["Temp"].encoding["coordinates"].split()) == {
            "Date_Time", "Latitude", "Longitude", "Depth_water", "trajectory"}
    with xr.open_dataset(path) as back:
        assert (back["Date_Time"].values == dataset["Date_Time"].values).all()
        assert back.attrs["featureType"] == "trajectory"


def test_to_xarray_cast_is_a_cf_profile_placed_by_its_event(pangaea, tmp_path):
    pangaea.add_dataset(999001, text=PROFILE)
    source = PangaeaSource(base_url=pangaea.base_url, cache=False, skip_instance_cache=True)
    dataset = source.to_xarray(999001)
    check_cf(dataset)
    assert dataset.attrs["featureType"] == "profile"
    # CF 9: a profile's position and time are one per profile, the depth one per level
    assert dataset["Latitude"].ndim == dataset["Longitude"].ndim == dataset["Date_Time"].ndim == 0
    assert float(dataset.cf["latitude"]) == pytest.approx(-66.5369)
    assert str(dataset.cf["time"].values).startswith("2016-12-28T07:32")
    assert dataset.cf["depth"].dims == ("obs",) and dataset.cf["depth"].attrs["positive"] == "down"
    assert dataset.cf.cf_roles == {"profile_id": ["profile"]}
    assert "PS103_11-1" in str(dataset["profile"].values)
    local = tmp_path / "cast.tab"
    local.write_bytes(PROFILE)
    xr.testing.assert_identical(xr.open_dataset(local, engine=ENGINE), dataset)


def test_to_xarray_mooring_is_a_cf_time_series():
    dataset = xr.open_dataset(io.BytesIO(SERIES), engine=ENGINE)
    check_cf(dataset)
    assert dataset.attrs["featureType"] == "timeSeries"
    assert dataset.cf["time"].dims == ("obs",)
    assert dataset.cf["latitude"].ndim == dataset.cf["longitude"].ndim == 0
    assert dataset.cf["depth"].ndim == 0 and float(dataset.cf["depth"]) == 11
    assert dataset.cf.cf_roles == {"timeseries_id": ["station"]}


def test_to_xarray_several_events_are_cf_points(source):
    with pytest.warns(UserWarning, match="does not match"):  # BIO-MATE renamed its header
        dataset = source.to_xarray(898941, on_mismatch="warn")
    check_cf(dataset)
    assert dataset.attrs["featureType"] == "point"
    assert all(dataset[name].dims == ("obs",) for name in dataset.cf.axes.values()
               for name in name)
    assert not dataset.cf.cf_roles
    # every pigment keeps its unit, in UDUNITS spelling
    pigments = [n for n, v in dataset.data_vars.items() if v.attrs.get("pangaea_unit") == "µg/l"]
    assert len(pigments) == 26 and {dataset[n].attrs["units"] for n in pigments} == {"ug/l"}


def test_to_xarray_units_map_cleanly_or_stay_pangaea_only():
    dataset = xr.open_dataset(io.BytesIO(SITES), engine=ENGINE)
    check_cf(dataset)
    assert dataset.attrs["featureType"] == "point"  # positions vary, no times
    units = {name: var.attrs.get("units") for name, var in dataset.variables.items()}
    assert units == {"Latitude": "degrees_north", "Longitude": "degrees_east",
                     "Elevation": "m", "Rad": "W/m2", "Sed_rate": "cm/kyr", "v_18O": None,
                     "Turb": None, "Chl_a": "ug/l", "Sal": None}
    # Where no UDUNITS spelling fits, PANGAEA's unit stays, under a name CF does not read.
    assert not any("units" in v.attrs for v in dataset.variables.values()
                   if v.attrs.get("pangaea_unit") in ("‰ PDB", "NTU"))
    assert {v.attrs.get("pangaea_unit") for v in dataset.variables.values()} >= {"‰ PDB", "NTU"}
    # Elevation is PANGAEA's height above sea level: up, CF's altitude
    assert dataset["Elevation"].attrs["positive"] == "up"
    assert dataset.cf.standard_names["altitude"] == ["Elevation"]
    assert dataset.cf.axes["Z"] == ["Elevation"]


def test_to_xarray_quality_flags_are_cf_flag_variables(pangaea, source):
    dataset = source.to_xarray(900002)
    check_cf(dataset)
    flag = dataset["Temp_flag"]
    assert dataset["Temp"].attrs["ancillary_variables"] == "Temp_flag"
    assert dataset.cf.get_associated_variable_names("Chl_a")["ancillary_variables"] == [
        "Chl_a_flag"]
    assert flag.attrs["flag_meanings"].split()[:3] == ["no_flag", "questionable", "not_valid"]
    assert list((flag.cf == "questionable").values) == [True, False, False, False, False, False]
    assert list((dataset["Chl_a_flag"].cf == "below_detection_limit").values) == [
        False, True, False, False, False, False]
    assert "units" not in flag.attrs
