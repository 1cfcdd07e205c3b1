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
    assert any(cache.rglob("data.tab"))  # the engine used the cache it was given
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
