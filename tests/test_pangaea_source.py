"""PangaeaSource through its public API against the loopback PANGAEA emulator."""

from __future__ import annotations

import logging
import os

import fsspec
import pandas as pd
import pytest
from conftest import DATA, assert_consistent

from awiml import PangaeaSource, Workspace
from awiml.archives.pangaea import read_text
from awiml.errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    InvalidDataError,
    NotFoundError,
)
from awiml.testing import Fault, PangaeaServer

PANGAEA = DATA / "pangaea"
TSG = PANGAEA / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
PIGMENTS = PANGAEA / "PANGAEA_898941_Bracher_2019_PS103_pigments.tab"
XML = PANGAEA / "metadata_xml"
TOKEN = "t0ken-for-tests"


@pytest.fixture
def pangaea():
    with PangaeaServer(token=TOKEN) as server:
        server.add_dataset(889513, text=TSG)
        server.add_dataset(898941, text=PIGMENTS)
        server.add_dataset(547797, xml=XML / "PANGAEA_547797_child_panmd.xml")
        server.add_dataset(893044, xml=XML / "PANGAEA_893044_login_required_panmd.xml")
        server.add_collection(900001, children=[889513, 898941])
        yield server


@pytest.fixture
def source(pangaea, tmp_path):
    return PangaeaSource(base_url=pangaea.base_url, cache=tmp_path / "cache", retries=2,
                         skip_instance_cache=True)


def test_identifier_forms_all_reach_the_same_dataset(source):
    forms = [889513, "889513", "10.1594/PANGAEA.889513", "doi:10.1594/PANGAEA.889513",
             "https://doi.org/10.1594/PANGAEA.889513",
             "https://doi.pangaea.de/10.1594/PANGAEA.889513"]
    assert {source.metadata(f).doi for f in forms} == {"10.1594/PANGAEA.889513"}


def test_bad_identifier_is_a_clear_error(source):
    with pytest.raises(InvalidDataError, match="not a PANGAEA dataset identifier"):
        source.metadata("PS103")
    with pytest.raises(NotFoundError, match="404"):
        source.metadata(123456789)


def test_read_real_tsg_dataset(source):
    table = source.read("10.1594/PANGAEA.889513")
    expected = read_text(TSG)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), expected, check_like=False,
                                  check_dtype=True, check_exact=False, obj="table")
    assert list(table.columns[:6]) == ["Date/Time", "Latitude", "Longitude", "Depth water",
                                       "Temp", "Sal"]
    assert table.attrs["columns"]["Temp"]["unit"] == "°C"
    assert table.attrs["pangaea"]["doi"] == "10.1594/PANGAEA.889513"
    assert str(table["Date/Time"].dt.tz) == "UTC"


def test_info_gives_fsspec_fields_and_metadata(source):
    info = source.info("pangaea://889513")
    assert info["type"] == "directory"
    assert info["doi"] == "10.1594/PANGAEA.889513"
    assert "Rohardt" in info["citation"]
    assert ("Temp", "°C") in info["parameters"]
    assert info["restricted"] is False and info["collection"] is False


def test_events_table(pangaea, tmp_path):
    source = PangaeaSource(base_url=pangaea.base_url, cache=False, skip_instance_cache=True)
    events = source.events(898941)
    assert len(events) == 25
    track = events[events["label"] == "PS103-track"].iloc[0]
    assert track["latitude_end"] == pytest.approx(-53.1447)


def test_header_mismatch_is_reported_and_can_be_tolerated(source):
    with pytest.raises(InvalidDataError, match="line"):
        source.read(898941)
    with pytest.warns(UserWarning):
        table = source.read(898941, on_mismatch="warn")
    assert len(table) > 0


@pytest.fixture
def restricted():
    """The TSG dataset published as restricted: its table needs the token."""
    with PangaeaServer(token=TOKEN) as server:
        server.add_dataset(889513, text=TSG, restricted=True)
        yield server


def test_restricted_metadata_is_public_and_says_so(source):
    assert source.metadata(893044).restricted is True
    assert source.info(893044)["restricted"] is True


def test_restricted_dataset_needs_a_token(restricted, tmp_path):
    pangaea = restricted
    anonymous = PangaeaSource(base_url=pangaea.base_url, cache=False, skip_instance_cache=True)
    with pytest.raises(AuthenticationError, match=r"pangaea\.de/user") as info:
        anonymous.read(889513)
    assert TOKEN not in str(info.value)
    wrong = PangaeaSource("wrong-token", base_url=pangaea.base_url, cache=False,
                          skip_instance_cache=True)
    with pytest.raises(AuthenticationError, match="refused the token") as info:
        wrong.read(889513)
    assert "wrong-token" not in str(info.value)
    assert "wrong-token" not in repr(wrong)
    good = PangaeaSource(TOKEN, base_url=pangaea.base_url, cache=False, skip_instance_cache=True)
    assert len(good.read(889513)) > 0


def test_token_from_environment_and_netrc(restricted, tmp_path, monkeypatch):
    pangaea = restricted
    monkeypatch.setenv("PANGAEA_TOKEN", TOKEN)
    assert len(PangaeaSource(base_url=pangaea.base_url, cache=False,
                             skip_instance_cache=True).read(889513)) > 0
    monkeypatch.delenv("PANGAEA_TOKEN")
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine pangaea.de login me password {TOKEN}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert len(PangaeaSource(base_url=pangaea.base_url, cache=False,
                             skip_instance_cache=True).read(889513)) > 0


def test_dataset_without_table_says_so(source):
    with pytest.raises(InvalidDataError, match="no data table"):
        source.read(547797)
    assert source.metadata(547797).parent == "10.1594/PANGAEA.547942"


def test_collection_children_and_read(source):
    assert source.children(900001) == ["10.1594/PANGAEA.889513", "10.1594/PANGAEA.898941"]
    with pytest.warns(UserWarning, match=r"898941: the column header .* does not match"):
        tables = source.read(900001, on_mismatch="warn")
    assert set(tables) == {"10.1594/PANGAEA.889513", "10.1594/PANGAEA.898941"}
    assert source.info(900001)["collection"] is True
    assert sorted(source.ls("900001", detail=False)) == ["889513", "898941",
                                                         "900001/metadata.xml"]


def test_rate_limit_and_tape_recall_are_retried(pangaea, source):
    pangaea.inject("10.1594/PANGAEA.889513", Fault.too_many_requests(retry_after=0))
    pangaea.inject("10.1594/PANGAEA.889513", Fault.status(503, headers={"Retry-After": "0"}))
    assert source.metadata(889513).doi == "10.1594/PANGAEA.889513"


def test_persistent_outage_is_archive_unavailable(pangaea, tmp_path):
    pangaea.inject("10.1594/PANGAEA.889513", Fault.status(503), times=None)
    source = PangaeaSource(base_url=pangaea.base_url, cache=False, retries=1,
                           skip_instance_cache=True)
    with pytest.raises(ArchiveUnavailableError, match="503"):
        source.read(889513)


def test_cache_serves_reads_when_the_server_is_gone(pangaea, tmp_path, caplog):
    cache = tmp_path / "cache"
    online = PangaeaSource(base_url=pangaea.base_url, cache=cache, skip_instance_cache=True)
    first = online.read(889513)
    tsv = "text/tab-separated-values"
    text_requests = [r for r in pangaea.requests if r.header("accept") == tsv]
    second = PangaeaSource(base_url=pangaea.base_url, cache=cache,
                           skip_instance_cache=True).read(889513)
    pd.testing.assert_frame_equal(first, second)
    assert len([r for r in pangaea.requests
                if r.header("accept") == tsv]) == len(text_requests)
    pangaea.stop()
    offline = PangaeaSource(base_url=pangaea.base_url, cache=cache, retries=0,
                            skip_instance_cache=True)
    with caplog.at_level(logging.WARNING):
        third = offline.read(889513)
    pd.testing.assert_frame_equal(first, third)
    assert "cached" in caplog.text
    with pytest.raises(ArchiveUnavailableError, match="could not be reached"):
        offline.read(898941)


def test_cache_holds_plain_files(source, tmp_path):
    source.read(889513)
    files = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert files == ["data.tab", "metadata.xml"]


def test_fsspec_open_and_pandas(pangaea, monkeypatch):
    monkeypatch.setenv("AWIML_PANGAEA_URL", pangaea.base_url)
    PangaeaSource.clear_instance_cache()
    with fsspec.open("pangaea://889513/data.tab", cache=False) as handle:
        head = handle.read(200)
    assert head.startswith(b"/* DATA DESCRIPTION:")
    with fsspec.open("pangaea://10.1594/PANGAEA.889513/metadata.xml", cache=False) as handle:
        assert b"PANGAEA.889513" in handle.read()
    with fsspec.open("pangaea://889513/data.tab", cache=False) as handle:
        table = read_text(handle)
    assert table.attrs["columns"]["Sal"]["short_name"] == "Sal"
    fs = fsspec.filesystem("pangaea", cache=False)
    assert sorted(fs.ls("889513", detail=False)) == ["889513/citation.txt", "889513/data.tab",
                                                     "889513/metadata.xml"]
    with fs.open("889513/citation.txt") as handle:
        assert b"Rohardt" in handle.read()
    PangaeaSource.clear_instance_cache()


def test_workspace_fetch_records_doi_citation_and_licence(pangaea, source, tmp_path):
    workspace = Workspace.create(tmp_path / "ws")
    table = workspace.fetch([source.remote_files("889513")[0], source.remote_files("889513")[1]],
                            progress=False)
    assert sorted(table["path"]) == ["pangaea/889513/data.tab", "pangaea/889513/metadata.xml"]
    entry = workspace.entries()["pangaea/889513/data.tab"]
    assert entry.source == "pangaea://889513/data.tab"
    assert entry.metadata["doi"] == "10.1594/PANGAEA.889513"
    assert "CC-BY" in entry.metadata["license"]
    assert "Rohardt" in entry.metadata["citation"]
    assert read_text(workspace.raw / "pangaea/889513/data.tab").shape == source.read(889513).shape
    assert_consistent(workspace)


def test_workspace_fetch_of_a_pangaea_url(pangaea, tmp_path, monkeypatch):
    monkeypatch.setenv("AWIML_PANGAEA_URL", pangaea.base_url)
    monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
    PangaeaSource.clear_instance_cache()
    workspace = Workspace.create(tmp_path / "ws")
    workspace.fetch("pangaea://900001", progress=False, storage_options={"retries": 1})
    assert sorted(workspace.entries()) == [
        "pangaea/900001/889513/data.tab", "pangaea/900001/889513/metadata.xml",
        "pangaea/900001/898941/data.tab", "pangaea/900001/898941/metadata.xml"]
    PangaeaSource.clear_instance_cache()


def test_restricted_fetch_never_records_the_token(restricted, tmp_path):
    pangaea = restricted
    source = PangaeaSource(TOKEN, base_url=pangaea.base_url, cache=False,
                           skip_instance_cache=True)
    workspace = Workspace.create(tmp_path / "ws")
    workspace.fetch(source.remote_files("889513"), progress=False)
    assert TOKEN not in workspace.manifest_path.read_text()
    anonymous = PangaeaSource(base_url=pangaea.base_url, cache=False, skip_instance_cache=True)
    with pytest.raises(AuthenticationError):
        Workspace.create(tmp_path / "ws2").fetch(anonymous.remote_files("889513"),
                                                 progress=False)


def test_to_xarray_carries_units_and_metadata(source):
    dataset = source.to_xarray(889513)
    assert dataset["Temp"].attrs["units"] == "degC"
    assert dataset["Temp"].attrs["pangaea_unit"] == "°C"
    assert dataset["Latitude"].attrs["units"] == "degrees_north"
    assert dataset.attrs["references"] == "https://doi.org/10.1594/PANGAEA.889513"
    assert "CC-BY" in dataset.attrs["license"]
    assert dataset.sizes["obs"] == len(source.read(889513))


@pytest.fixture
def linked(pangaea):
    """611408 (real panmd record) with a files table pointing at files the emulator serves.

    The record is real; the image bytes are synthetic stand-ins of known size.
    """
    from conftest import payload

    images = {f"seamount_{i}.jpg": payload(3000 + 512 * i, seed=i) for i in range(3)}
    lines = ["File name\tFile format\tFile size [kByte]\tURL file"]
    for name, data in images.items():
        url = f"{pangaea.base_url}/dataset/611408/files/{name}"
        lines.append(f"{name}\tJPEG\t{len(data) / 1024:.2f}\t{url}")  # rounded, as PANGAEA
    pangaea.add_dataset(611408, xml=XML / "PANGAEA_611408_linked_files_panmd.xml",
                        text=("\n".join(lines) + "\n").encode(), files=images)
    return images


def test_files_lists_and_fetches_linked_files(linked, source, tmp_path):
    listing = source.files(611408)
    assert list(listing["name"]) == sorted(linked)
    assert list(listing["path"]) == [f"pangaea://611408/files/{n}" for n in sorted(linked)]
    for listed, name in zip(listing["size"], sorted(linked), strict=True):
        assert abs(listed - len(linked[name])) <= 0.005 * 1024  # rounded to 0.01 kByte
    assert sorted(source.ls("611408/files", detail=False)) == [
        f"611408/files/{n}" for n in sorted(linked)]
    with source.open("611408/files/seamount_1.jpg") as handle:
        assert handle.read() == linked["seamount_1.jpg"]
    workspace = Workspace.create(tmp_path / "ws")
    workspace.fetch(source.remote_files("611408/files"), progress=False)
    for name, data in linked.items():
        assert (workspace.raw / "pangaea/611408/files" / name).read_bytes() == data
    entry = workspace.entries()["pangaea/611408/files/seamount_0.jpg"]
    assert entry.metadata["doi"] == "10.1594/PANGAEA.611408"
    assert entry.metadata["license"] == "CC-BY-3.0"
    assert_consistent(workspace)


def test_files_of_a_plain_dataset_is_empty(source, tmp_path):
    assert source.files(889513).empty
    with pytest.raises(NotFoundError, match="links no files"):
        Workspace.create(tmp_path / "ws").fetch(source.remote_files("889513/files"),
                                                progress=False)


def test_fetch_single_files_including_the_citation(source, tmp_path):
    workspace = Workspace.create(tmp_path / "ws")
    workspace.fetch(source.remote_files("889513/citation.txt"), progress=False)
    citation = (workspace.raw / "pangaea/889513/citation.txt").read_text()
    assert "Rohardt" in citation
    with pytest.raises(NotFoundError, match="collection"):
        source.remote_files("900001/data.tab")


def test_unknown_file_paths_are_not_found(source, linked):
    with pytest.raises(NotFoundError, match="no file named"):
        source.info("611408/files/nope.jpg")
    with pytest.raises(NotFoundError, match=r"data\.tab"):
        source.info("889513/other.txt")
    with pytest.raises(NotFoundError, match="dataset id or DOI"):
        source.ls("not-a-dataset")


def test_search_pages_and_flags(pangaea, source):
    everything = source.search("", limit=50)
    assert everything.attrs["total"] == len(everything) == 5
    assert set(everything["doi"]) == {"10.1594/PANGAEA.889513", "10.1594/PANGAEA.898941",
                                      "10.1594/PANGAEA.547797", "10.1594/PANGAEA.893044",
                                      "10.1594/PANGAEA.900001"}
    flags = everything.set_index("doi")
    assert bool(flags.loc["10.1594/PANGAEA.893044", "restricted"]) is True
    assert bool(flags.loc["10.1594/PANGAEA.889513", "restricted"]) is False
    assert bool(flags.loc["10.1594/PANGAEA.900001", "collection"]) is True
    assert flags.loc["10.1594/PANGAEA.889513", "size"] == 8964
    assert "thermosalinograph" in flags.loc["10.1594/PANGAEA.889513", "title"].lower()
    # paging: two results per page still returns all of them, in the same order
    before = len([r for r in pangaea.requests if r.path == "/advanced/search.php"])
    from awiml.archives.pangaea import _search as _pangaea_search

    old = _pangaea_search.PAGE_SIZE, _pangaea_search.ENRICH_BATCH
    _pangaea_search.PAGE_SIZE = _pangaea_search.ENRICH_BATCH = 2
    try:
        paged = source.search("", limit=50)
    finally:
        _pangaea_search.PAGE_SIZE, _pangaea_search.ENRICH_BATCH = old
    assert list(paged["doi"]) == list(everything["doi"])
    assert paged["restricted"].tolist() == everything["restricted"].tolist()
    pages = [r for r in pangaea.requests if r.path == "/advanced/search.php"][before:]
    assert [r.query["offset"] for r in pages] == [["0"], ["2"], ["4"]]
    assert len(source.search("", limit=3)) == 3


def test_search_filters_and_bad_arguments(source):
    found = source.search("thermosalinograph")
    assert list(found["doi"]) == ["10.1594/PANGAEA.889513"]
    south_atlantic = source.search("", bbox=(-40, 10, -30, 20))
    assert "10.1594/PANGAEA.889513" in set(south_atlantic["doi"])
    assert source.search("", start="2030-01-01").empty
    with pytest.raises(InvalidDataError, match="bbox"):
        source.search("x", bbox=(10, 0, -10, 5))
    with pytest.raises(InvalidDataError, match="ISO date"):
        source.search("x", start="last tuesday")


def test_pangaeapy_bridge_agrees_with_awiml(source):
    import numpy as np

    dataset = source.to_pandataset(889513)
    ours = source.read(889513)
    assert dataset.title and "thermosalinograph" in dataset.title.lower()
    theirs = dataset.data
    for column in ("Latitude", "Longitude", "Temp", "Sal"):
        np.testing.assert_allclose(theirs[column].to_numpy(dtype=float),
                                   ours[column].to_numpy(dtype=float), equal_nan=True)
    assert (pd.to_datetime(theirs["Date/Time"]).dt.tz_localize("UTC")
            == ours["Date/Time"]).all()


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc"),
                    reason="needs RLIMIT_FSIZE (Linux)")
def test_a_cache_write_that_fails_keeps_the_cache_as_it_was(pangaea, tmp_path):
    """A real write failure (EFBIG under RLIMIT_FSIZE) while the cache stores a dataset."""
    import subprocess
    import sys

    cache = tmp_path / "cache"
    PangaeaSource(base_url=pangaea.base_url, cache=cache, skip_instance_cache=True).read(889513)
    before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    code = f"""
import resource, signal
from awiml import PangaeaSource
from awiml.errors import TransferError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
source = PangaeaSource(base_url={pangaea.base_url!r}, cache={str(cache)!r},
                       skip_instance_cache=True)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    source.read(898941)
except TransferError as exc:
    print(isinstance(exc, OSError), "|", exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    is_os_error, message = proc.stdout.strip().split(" | ")
    assert is_os_error == "True"
    assert str(cache) in message and "free some space" in message and "cache=False" in message
    after = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    assert after == before  # no half entry, no temporary file, the old entries intact
    # with room again, the dataset is cached as usual
    fresh = PangaeaSource(base_url=pangaea.base_url, cache=cache, skip_instance_cache=True)
    assert fresh.metadata(898941).doi == "10.1594/PANGAEA.898941"
    assert len([p for p in cache.rglob("*") if p.is_file()]) == 3
