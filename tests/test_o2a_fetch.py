"""o2a:// extracts through fsspec and Workspace.fetch, against the O2A emulator (issue 14)."""

from __future__ import annotations

import fsspec
import pandas as pd
import pytest
import requests

from awiml import Workspace
from awiml.archives.o2a._url import parse_url
from awiml.errors import ArchiveUnavailableError, InvalidDataError, NotFoundError

TSG = "vessel:polarstern:tsg:temperature,vessel:polarstern:tsg:salinity"
EXTRACT = (f"o2a://{TSG}?start=2016-12-16T00:00:00&end=2016-12-18T23:59:59&aggregate=hour"
           "&functions=mean,max&flags=false")
HEINCKE = "o2a://vessel:heincke:dwd:air_pressure?start=2024-03-18T20:00&end=2024-03-19T09:00"


@pytest.fixture
def o2a(awiml_o2a_server, monkeypatch, tmp_path):
    """The emulator, with the environment that makes PlatformSource() use it."""
    monkeypatch.setenv("AWIML_O2A_URL", awiml_o2a_server.data_url)
    monkeypatch.setenv("AWIML_O2A_REGISTRY_URL", awiml_o2a_server.registry_url)
    monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
    return awiml_o2a_server


def test_fsspec_open_reads_the_extract(o2a):
    with fsspec.open(EXTRACT) as handle:
        data = handle.read()
    lines = data.decode("utf-8").split("\n")
    assert lines[0].split("\t") == [
        "datetime",
        "vessel:polarstern:tsg:temperature (mean) [°C]",
        "vessel:polarstern:tsg:temperature (max) [°C]",
        "vessel:polarstern:tsg:salinity (mean) [PSU]",
        "vessel:polarstern:tsg:salinity (max) [PSU]",
    ]
    assert lines[1].startswith("2016-12-16 00:00:00\t") and lines[-2].startswith(
        "2016-12-18 23:00:00\t")
    assert len(lines) == 1 + 72 + 1 and lines[-1] == ""
    with fsspec.open(EXTRACT, "rt", encoding="utf-8") as text:
        assert text.readline().startswith("datetime\t")


def test_fsspec_open_equals_one_request_of_the_service(o2a):
    request = parse_url(HEINCKE)
    with fsspec.open(HEINCKE) as handle:
        data = handle.read()
    direct = requests.get(request.url(o2a.data_url), timeout=30)
    assert data == direct.content and data.count(b"\n") == 1 + 14


def test_fsspec_copies_and_cats_an_extract_by_its_url(o2a, tmp_path):
    fs = fsspec.filesystem("o2a")
    with fsspec.open(HEINCKE) as handle:
        data = handle.read()
    assert fs.cat(HEINCKE) == data
    fs.get_file(HEINCKE, str(tmp_path / "heincke.tsv"))
    assert (tmp_path / "heincke.tsv").read_bytes() == data
    fs.get(fs.info(HEINCKE)["name"], str(tmp_path / "by-path.tsv"))  # the spelling without ?
    assert (tmp_path / "by-path.tsv").read_bytes() == data
    assert fs.size(HEINCKE) is None and fs.isfile(HEINCKE)


def test_a_bad_extract_url_in_fsspec_open_says_what_is_wrong(o2a):
    with pytest.raises(InvalidDataError, match=r"end is missing.*for example o2a://"):
        fsspec.open("o2a://vessel:heincke:dwd:air_pressure?start=2024-03-18").open()
    with pytest.raises(NotFoundError, match="Did you mean 'vessel:heincke:dwd:air_pressure'"):
        fsspec.open(HEINCKE.replace("air_pressure", "air_presure")).open()


def test_fetch_lands_the_extract_and_records_it(o2a, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    table = ws.fetch(EXTRACT, progress=False)
    assert table["status"].tolist() == ["fetched"]
    [path] = table["path"].tolist()
    assert path.startswith("o2a/vessel_polarstern_tsg_temperature+vessel_polarstern_tsg_salinity"
                           "_20161216T000000-20161218T235959_hour_mean+max_")
    assert path.endswith(".tsv")
    with fsspec.open(EXTRACT) as handle:
        assert (ws.raw / path).read_bytes() == handle.read()
    [entry] = ws.manifest().to_dict("records")
    assert entry["source"] == EXTRACT  # already canonical: recorded as written
    meta = entry["metadata"]
    assert meta["sensors"] == ["vessel:polarstern:tsg:temperature",
                               "vessel:polarstern:tsg:salinity"]
    assert meta["units"] == {"vessel:polarstern:tsg:temperature": "°C",
                             "vessel:polarstern:tsg:salinity": "PSU"}
    assert (meta["start"], meta["end"]) == ("2016-12-16T00:00:00Z", "2016-12-18T23:59:59Z")
    assert (meta["aggregate"], meta["functions"], meta["quality_flags"]) == (
        "hour", ["mean", "max"], False)
    assert meta["request_url"].startswith(f"{o2a.data_url}/data?sensors=vessel%3Apolarstern")
    assert "aggregateFunctions=MEAN&aggregateFunctions=MAX" in meta["request_url"]
    assert requests.get(meta["request_url"], timeout=30).content == (ws.raw / path).read_bytes()
    assert ws.verify().ok


def test_fetch_again_is_a_no_op_and_any_spelling_is_the_same_extract(o2a, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    first = ws.fetch(EXTRACT, progress=False)
    manifest = ws.manifest_path.read_bytes()
    o2a.clear_requests()
    respelled = (f"o2a://{TSG.upper()}?functions=MEAN,Max&end=2016-12-18T23:59:59"
                 "&start=2016-12-16")
    again = ws.fetch([EXTRACT, respelled], progress=False)
    assert again["status"].tolist() == ["present", "present"]
    assert again["path"].tolist() == first["path"].tolist() * 2
    assert o2a.hits("data/rest/data") == 0
    assert ws.manifest_path.read_bytes() == manifest


def test_fetch_with_quality_flags_is_another_file(o2a, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    plain = ws.fetch(HEINCKE, progress=False)["path"].iloc[0]
    flagged = ws.fetch(HEINCKE + "&flags=true", progress=False)["path"].iloc[0]
    assert plain != flagged and flagged.endswith(".tsv") and "_flags_" in flagged
    header = (ws.raw / flagged).read_text("utf-8").splitlines()[0].split("\t")
    assert header[2].endswith("(quality_flag)")
    assert ws.manifest().set_index("path").loc[flagged, "metadata"]["quality_flags"] is True


@pytest.mark.parametrize(("url", "error", "message"), [
    ("o2a://vessel:heincke:dwd:air_pressure", InvalidDataError, "names no time range"),
    ("o2a://vessel:heincke:dwd:air_pressure?start=2024-03-18&end=2024-03-19&aggregate=week",
     InvalidDataError, r"aggregate='week'.*for example o2a://"),
    ("o2a://vessel:heincke:dwd:air_pressure?start=2024-03-19&end=2024-03-18",
     InvalidDataError, "swap them"),
    (HEINCKE.replace("air_pressure", "air_presure"), NotFoundError,
     "Did you mean 'vessel:heincke:dwd:air_pressure'"),
    ("o2a://vessel:heincke:dwd:air_pressure?start=2001-01-01&end=2001-12-31",
     InvalidDataError, r"'vessel:heincke:dwd:air_pressure' has data from .* lies outside it"),
])
def test_a_bad_url_in_fetch_leaves_the_workspace_untouched(o2a, tmp_path, url, error, message):
    ws = Workspace.create(tmp_path / "ws")
    ws.fetch(HEINCKE, progress=False)
    before = {p: p.read_bytes() for p in ws.root.rglob("*") if p.is_file()}
    o2a.clear_requests()
    with pytest.raises(error, match=message):
        ws.fetch(url, progress=False)
    after = {p: p.read_bytes() for p in ws.root.rglob("*") if p.is_file()}
    assert after == before
    assert o2a.hits("data/rest/data") == 0


LONG = ("o2a://vessel:polarstern:tsg:temperature?start=2016-12-16T00:00:00"
        "&end=2016-12-31T23:59:59&functions=mean,min")


def chunks(max_points):
    from awiml.archives.o2a._read import plan_chunks

    return plan_chunks(parse_url(LONG), max_points)


def test_a_long_extract_is_fetched_in_chunks_equal_to_one_request(o2a, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    options = {"max_points": 2 * 48, "progress": False}  # two days of two columns per request
    path = ws.fetch(LONG, progress=False, storage_options=options)["path"].iloc[0]
    assert o2a.hits("data/rest/data") == len(chunks(96)) > 1
    one = requests.get(parse_url(LONG).url(o2a.data_url), timeout=30).content
    assert (ws.raw / path).read_bytes() == one and one.count(b"\n") == 1 + 16 * 24


def test_a_chunk_that_fails_for_good_leaves_raw_untouched_and_the_rest_cached(o2a, tmp_path,
                                                                                 fast):
    from awiml.testing import Fault

    ws = Workspace.create(tmp_path / "ws")
    options = {"max_points": 2 * 48, "progress": False, "retries": 0, "max_workers": 1}
    o2a.fail_range("2016-12-24T00:00:00", "2016-12-25T23:59:59", Fault.status(503), times=None)
    with pytest.raises(ArchiveUnavailableError,
                       match=r"could not fetch o2a://vessel:polarstern:tsg:temperature.*"
                             r"vessel:polarstern:tsg:temperature from 2016-12-2\d"):
        ws.fetch(LONG, progress=False, policy=fast, storage_options=options)
    assert not [p for p in ws.raw.rglob("*") if p.is_file() and p != ws.manifest_path]
    assert ws.manifest().empty
    o2a.clear_faults()
    o2a.clear_requests()
    path = ws.fetch(LONG, progress=False, storage_options=options)["path"].iloc[0]
    failed = [(a, b) for a, b in chunks(96) if a <= pd.Timestamp("2016-12-25T23:59:59Z")
              and b >= pd.Timestamp("2016-12-24T00:00:00Z")]
    assert o2a.hits("data/rest/data") == len(failed) < len(chunks(96))  # the rest: cached
    one = requests.get(parse_url(LONG).url(o2a.data_url), timeout=30).content
    assert (ws.raw / path).read_bytes() == one
    assert ws.verify().ok
