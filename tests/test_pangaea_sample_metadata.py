"""PangaeaServer.add_sample_metadata: four real panmd records, served offline (issue 12)."""

from __future__ import annotations

import importlib.resources

import pytest
import requests
from conftest import DATA

from awiml import PangaeaSource
from awiml.archives.pangaea import parse_panmd
from awiml.errors import InvalidDataError, NotFoundError
from awiml.testing import PangaeaServer

XML = DATA / "pangaea" / "metadata_xml"


@pytest.fixture(scope="module")
def pangaea():
    with PangaeaServer() as server:
        server.add_sample_data()
        server.add_sample_metadata()
        yield server


@pytest.fixture
def source(pangaea):
    return PangaeaSource(base_url=pangaea.base_url, cache=False, skip_instance_cache=True)


def test_the_bundled_records_are_the_real_ones_of_tests_data():
    folder = importlib.resources.files("awiml.testing.pangaea") / "data"
    for real in XML.glob("*.xml"):
        assert folder.joinpath(real.name).read_bytes() == real.read_bytes(), real.name


def test_the_records_are_served_as_registered(pangaea, source):
    assert pangaea.datasets == (547797, 547942, 611408, 889513, 893044)
    for ident, name in [(547797, "PANGAEA_547797_child_panmd.xml"),
                        (611408, "PANGAEA_611408_linked_files_panmd.xml"),
                        (893044, "PANGAEA_893044_login_required_panmd.xml")]:
        real = parse_panmd((XML / name).read_bytes())
        served = source.metadata(ident)
        assert (served.doi, served.title, served.citation) == (real.doi, real.title, real.citation)
        assert [p.label for p in served.parameters] == [p.label for p in real.parameters]


def test_a_real_collection_and_its_child(source):
    assert source.children(547942) == [
        "10.1594/PANGAEA.547797", "10.1594/PANGAEA.547799", "10.1594/PANGAEA.771930"]
    assert source.metadata(547797).parent == "10.1594/PANGAEA.547942"
    assert source.ls("547942", detail=False) == [
        "547797", "547799", "771930", "547942/metadata.xml"]
    assert "Site 199-1218" in source.citation(547942)


def test_linked_files_and_restricted_records(source):
    assert [p.label for p in source.metadata(611408).parameters] == [
        "File name", "File format", "File size [kByte]", "URL file"]
    assert source.metadata(893044).restricted
    assert not source.metadata(611408).restricted
    found = source.search("Subbotina")
    assert list(found["doi"]) == ["10.1594/PANGAEA.893044"]
    assert list(found["restricted"]) == [True]


def test_data_that_are_not_bundled_are_not_made_up(pangaea, source):
    # Only the records are real; a table is 406, an unbundled child 404.
    for ident in (547797, 611408):
        with pytest.raises(InvalidDataError, match=f"PANGAEA.{ident} has no data table"):
            source.read(ident)
    with pytest.raises(NotFoundError, match="547799"):
        source.metadata(547799)
    reply = requests.get(pangaea.base_url + "/10.1594/PANGAEA.611408?format=textfile", timeout=5)
    assert reply.status_code == 406
