"""PlatformSource against the O2A emulator: sensor search, info with the registry (issue 14)."""

from __future__ import annotations

import socket
import warnings

import fsspec
import pandas as pd
import pytest
import requests

from awiml import PlatformSource
from awiml.errors import InvalidDataError, NotFoundError
from awiml.testing import Fault

HEINCKE = "vessel:heincke:dwd:air_pressure"
EXTRACT = f"o2a://{HEINCKE}?start=2024-03-18T20:00:00&end=2024-03-19T09:00:00"


@pytest.fixture
def source(awiml_o2a_server):
    return PlatformSource(awiml_o2a_server.data_url, registry_url=awiml_o2a_server.registry_url,
                          cache=False, progress=False, retries=0)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/registry/rest/v2"


def test_sensors_are_found_with_wildcards_in_any_case(source):
    found = source.sensors("VESSEL:Heincke:dwd:air_*")
    assert found["code"].tolist() == ["vessel:heincke:dwd:air_pressure",
                                      "vessel:heincke:dwd:air_temperature"]
    assert isinstance(found["firstDate"].dtype, pd.DatetimeTZDtype)
    assert str(found["firstDate"].dt.tz) == "UTC"
    tsg = source.sensors("*:tsg:*")["code"].tolist()
    assert tsg == ["vessel:polarstern:tsg:salinity", "vessel:polarstern:tsg:temperature"]
    everywhere = source.sensors("*temperature")["code"].tolist()
    assert {"vessel:heincke:dwd:air_temperature", "vessel:polarstern:tsg:temperature"} <= set(
        everywhere)
    assert source.sensors("vessel:nowhere:*").empty


def test_info_merges_the_data_service_entry_with_the_registry(source):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete answer warns of nothing
        info = source.info(HEINCKE)
    entry = source.sensors(HEINCKE).iloc[0]
    assert info["code"] == HEINCKE and info["unit"] == entry["unit"] == "hPa"
    assert info["firstDate"] == entry["firstDate"] and info["firstDate"].tzname() == "UTC"
    assert info["lastDate"] == entry["lastDate"]
    assert (info["name"], info["type"], info["size"]) == (HEINCKE, "other", None)
    assert info["item"]["code"] == "vessel:heincke:dwd"
    assert info["parameter"]["shortName"] == "air_pressure"
    assert isinstance(info["parameter"]["unit"], dict)
    assert info["platform"]["code"] == "vessel:heincke"
    assert "parentId" not in info["platform"] or not info["platform"]["parentId"]
    for event in info["events"]:
        assert isinstance(event["startDate"], pd.Timestamp) and event["startDate"].tzname() == "UTC"
        assert event["endDate"] is None or event["endDate"] >= event["startDate"]
    starts = [e["startDate"] for e in info["events"]]
    assert starts == sorted(starts)
    for contact in info["contacts"]:
        assert set(contact) >= {"firstName", "lastName", "email", "role"}
        assert contact["role"] is None or isinstance(contact["role"], str)


def _raw(server, path, **params):
    answer = requests.get(f"{server.registry_url}/{path}", params=params, timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_info_resolves_uuid_references_the_registry_sends_as_strings(awiml_o2a_server, source):
    """A unit shared by two parameters comes back whole for both, as does a shared type."""
    shared = None
    for entry in source.sensors("*").to_dict("records"):
        item_code, _, short_name = entry["code"].rpartition(":")
        items = _raw(awiml_o2a_server, "items", where=f"code=={item_code}")["records"]
        if not items:
            continue
        parameters = _raw(awiml_o2a_server, f"items/{items[0]['id']}/parameters")["records"]
        mine = [p for p in parameters if p["shortName"].lower() == short_name]
        if mine and isinstance(mine[0]["unit"], str):
            shared = entry["code"], mine[0]["unit"], parameters
            break
    assert shared, "the emulator should send at least one parameter's unit as a @uuid reference"
    code, uuid, parameters = shared
    unit = next(p["unit"] for p in parameters
                if isinstance(p["unit"], dict) and p["unit"].get("@uuid") == uuid)
    info = source.info(code)
    assert info["parameter"]["unit"] == unit
    assert info["parameter"]["unit"]["code"] and "ucum" in info["parameter"]["unit"]
    assert not isinstance(info["parameter"]["type"], str)  # types are shared the same way


def test_info_of_the_real_optode_item_560(source):
    """The registry's real answers: item 560, its parameters, deployments and contacts."""
    info = source.info("vessel:mya_ii:fb_741202:optode_9999a:saturation_qf")
    item = info["item"]
    assert (item["id"], item["model"], item["manufacturer"], item["serialNumber"]) == (
        560, "OXYGEN OPTODE 4835", "Aanderaa", "9999a")
    assert item["citation"] == "10013/sensor.51ea3572-e557-4b2b-a202-3b749a87bf84"
    assert info["platform"]["code"] == "vessel:mya_ii"
    # saturation_qf's unit and type are sent as the uuids of saturation's: resolved
    saturation = source.info("vessel:mya_ii:fb_741202:optode_9999a:saturation")["parameter"]
    assert info["parameter"]["name"] == "Saturation QF"
    assert info["parameter"]["unit"] == saturation["unit"]
    assert (saturation["unit"]["code"], saturation["unit"]["ucum"]) == ("%", "%")
    assert info["parameter"]["type"]["generalName"] == "saturation"
    first = info["events"][0]
    assert (first["label"], first["type"], first["latitude"], first["longitude"]) == (
        "MOSES Sternfahrt 5 M-1", "Deployment", 53.9048, 8.7049)
    assert first["startDate"] == pd.Timestamp("2020-08-31T05:14:00", tz="UTC")
    assert first["endDate"] == pd.Timestamp("2020-08-31T05:22:00", tz="UTC")
    assert ("Philipp", "Fischer", "Principal Investigator") in {
        (c["firstName"], c["lastName"], c["role"]) for c in info["contacts"]}


def test_info_reads_every_page_of_a_registry_list(awiml_o2a_server, source, monkeypatch):
    from awiml.archives.o2a import _registry

    whole = source.info(HEINCKE)
    monkeypatch.setattr(_registry, "PAGE_SIZE", 1)
    fresh = PlatformSource(awiml_o2a_server.data_url, registry_url=awiml_o2a_server.registry_url,
                           cache=False, progress=False, retries=0, skip_instance_cache=True)
    listed = _raw(awiml_o2a_server, f"items/{whole['item']['id']}/parameters")["records"]
    awiml_o2a_server.clear_requests()
    paged = fresh.info(HEINCKE)
    assert paged["events"] == whole["events"] and paged["contacts"] == whole["contacts"]
    assert paged["parameter"] == whole["parameter"]
    pages = [r for r in awiml_o2a_server.requests if r.path.endswith("/parameters")]
    assert len(listed) >= 2 and len(pages) == len(listed)  # one record per page


def test_registry_down_gives_the_data_service_entry_and_a_warning(awiml_o2a_server):
    source = PlatformSource(awiml_o2a_server.data_url, registry_url=closed_port_url(),
                            cache=False, progress=False, retries=0)
    with pytest.warns(UserWarning, match=r"registry could not be read .*could not be reached"):
        info = source.info(HEINCKE)
    assert info["code"] == HEINCKE and info["unit"] == "hPa"
    assert isinstance(info["lastDate"], pd.Timestamp)
    assert (info["item"], info["parameter"], info["platform"]) == (None, None, None)
    assert (info["events"], info["contacts"]) == ([], [])


def test_a_registry_part_that_fails_is_left_empty_and_asked_for_again(awiml_o2a_server, source):
    complete = source.info(HEINCKE)
    ident = complete["item"]["id"]
    fresh = PlatformSource(awiml_o2a_server.data_url, registry_url=awiml_o2a_server.registry_url,
                           cache=False, progress=False, retries=0, skip_instance_cache=True)
    awiml_o2a_server.inject(f"registry/rest/v2/items/{ident}/events", Fault.status(500))
    with pytest.warns(UserWarning, match=r"the events could not be read .*500"):
        partial = fresh.info(HEINCKE)
    assert partial["events"] == [] and partial["contacts"] == complete["contacts"]
    assert partial["item"] == complete["item"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = fresh.info(HEINCKE)  # not remembered: the registry is asked again
    assert again["events"] == complete["events"]
    again["item"]["code"] = "changed by the caller"
    assert fresh.info(HEINCKE)["item"] == complete["item"]  # what is remembered is a copy


def test_a_sensor_the_registry_does_not_know_gives_a_warning(awiml_o2a_server, source):
    awiml_o2a_server.add_sensor("vessel:nowhere:ctd:temperature", "°C")
    with pytest.warns(UserWarning, match=r"the registry has no item for vessel:nowhere:ctd "
                                         r"or the items above it"):
        info = source.info("vessel:nowhere:ctd:temperature")
    assert info["unit"] == "°C" and (info["item"], info["platform"]) == (None, None)


def test_a_sensor_filed_under_a_shallower_item_finds_it(awiml_o2a_server, source):
    awiml_o2a_server.add_sensor("vessel:heincke:newbox:turbidity", "NTU")
    with pytest.warns(UserWarning, match="item 'vessel:heincke' lists no parameter 'turbidity'"):
        info = source.info("vessel:heincke:newbox:turbidity")
    assert info["item"]["code"] == info["platform"]["code"] == "vessel:heincke"
    assert info["parameter"] is None


def test_a_server_that_is_no_registry_gives_a_warning(awiml_o2a_server):
    elsewhere = f"{awiml_o2a_server.base_url}/no-registry-here"
    source = PlatformSource(awiml_o2a_server.data_url, registry_url=elsewhere,
                            cache=False, progress=False, retries=0)
    with pytest.warns(UserWarning, match="the registry could not be read"):
        info = source.info(HEINCKE)
    assert info["item"] is None and info["unit"] == "hPa"


def test_an_unknown_code_names_close_matches(source):
    with pytest.raises(NotFoundError, match=r"no sensor 'vessel:heincke:dwd:air_presure'.*"
                                            r"Did you mean 'vessel:heincke:dwd:air_pressure'"):
        source.info("vessel:heincke:dwd:air_presure")
    with pytest.raises(InvalidDataError, match="not an O2A sensor code"):
        source.info("heincke")


def test_an_extract_is_an_fsspec_file(source):
    info = source.info(EXTRACT)
    assert info["type"] == "file" and info["size"] is None
    assert info["name"] == source._strip_protocol(EXTRACT)
    assert info["url"] == EXTRACT + "&aggregate=hour&functions=mean&flags=false"
    assert info["sensors"] == [HEINCKE] and info["units"] == {HEINCKE: "hPa"}
    assert (info["start"], info["end"]) == ("2024-03-18T20:00:00Z", "2024-03-19T09:00:00Z")
    assert source.ls(EXTRACT) == [info]
    assert source.exists(EXTRACT) and source.isfile(EXTRACT) and not source.isdir(EXTRACT)
    assert source.exists(HEINCKE) and not source.isfile(HEINCKE)
    assert not source.exists(EXTRACT.replace("air_pressure", "air_presure"))
    with pytest.raises(NotFoundError, match="Did you mean"):
        source.info(EXTRACT.replace("air_pressure", "air_presure"))


def test_fsspec_finds_the_source_by_protocol(awiml_o2a_server, monkeypatch):
    monkeypatch.setenv("AWIML_O2A_URL", awiml_o2a_server.data_url)
    monkeypatch.setenv("AWIML_O2A_REGISTRY_URL", awiml_o2a_server.registry_url)
    fs, path = fsspec.core.url_to_fs(EXTRACT, cache=False)
    assert isinstance(fs, PlatformSource) and fs.base_url == awiml_o2a_server.data_url
    assert "?" not in path  # fsspec would take it for a wildcard
    assert fs.info(fs.unstrip_protocol(path)) == fs.info(EXTRACT)
    assert fs.info(path)["url"] == EXTRACT + "&aggregate=hour&functions=mean&flags=false"


@pytest.mark.parametrize(("body", "expected"), [
    (b"<html>a login page</html>", "is not JSON"),
    (b'{"items": []}', "is not a list of records"),
])
def test_a_server_that_answers_something_else_gives_a_warning(awiml_o2a_server, server, body,
                                                              expected):
    server.add("rest/v2/items", body, content_type="application/json")
    source = PlatformSource(awiml_o2a_server.data_url, registry_url=f"{server.base_url}/rest/v2",
                            cache=False, progress=False, retries=0)
    with pytest.warns(UserWarning, match=rf"{expected}.*Point registry_url"):
        info = source.info(HEINCKE)
    assert info["item"] is None and info["unit"] == "hPa"
