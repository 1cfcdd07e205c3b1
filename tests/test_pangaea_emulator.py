"""PangaeaServer through real HTTP: every route, content type, error, search and fault."""

from __future__ import annotations

import dataclasses
import email.utils
import io
import logging
import zipfile

import pytest
import requests
from conftest import DATA, payload

from awiml.archives.pangaea.panmd import parse_panmd, write_panmd
from awiml.archives.pangaea.text import read_metadata
from awiml.testing import Fault
from awiml.testing.pangaea import PangaeaServer

PANGAEA = DATA / "pangaea"
XML = PANGAEA / "metadata_xml"
TSG = PANGAEA / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
PIGMENTS = PANGAEA / "PANGAEA_898941_Bracher_2019_PS103_pigments.tab"
PARENT = XML / "PANGAEA_547942_collection_parent_panmd.xml"
CHILD = XML / "PANGAEA_547797_child_panmd.xml"
LINKED = XML / "PANGAEA_611408_linked_files_panmd.xml"
LOGIN = XML / "PANGAEA_893044_login_required_panmd.xml"
TOKEN = "s3cret-token"
TSV = "text/tab-separated-values"
PANMD = "application/vnd.pangaea.metadata+xml"
IMAGE = payload(50_000, seed=611408)
LINKED_TABLE = (
    b"/* DATA DESCRIPTION:\n*/\nFile name\tFile format\tFile size [kByte]\tURL file\n"
    b"img1.jpg\tJPEG\t48.828\thttps://download.pangaea.de/dataset/611408/files/img1.jpg\n"
)


@pytest.fixture
def pangaea():
    with PangaeaServer(token=TOKEN) as server:
        server.add_dataset(889513, text=TSG)
        server.add_dataset(898941, text=PIGMENTS)
        server.add_dataset(547797, xml=CHILD)
        server.add_dataset(893044, xml=LOGIN, text=TSG, restricted=True,
                           files={"core.jpg": IMAGE[:1000]})
        server.add_dataset(611408, xml=LINKED, text=LINKED_TABLE, files={"img1.jpg": IMAGE})
        server.add_collection(547942, xml=PARENT)
        server.add_collection(900001, children=[889513, 898941], title="PS103 underway and CTD")
        yield server


def get(server: PangaeaServer, path: str, accept: str | None = None, token: str | None = None,
        **kwargs) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if accept is not None:
        headers["Accept"] = accept
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(server.base_url + path, headers=headers, timeout=5, **kwargs)


def search(server: PangaeaServer, **params) -> dict:
    reply = requests.get(server.endpoints["search"], params=params, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


def es(server: PangaeaServer, **params) -> requests.Response:
    return requests.get(server.endpoints["es"], params=params, timeout=5)


# --------------------------------------------------------------------------- #
# /10.1594/PANGAEA.<id>
# --------------------------------------------------------------------------- #


def test_endpoints_share_the_loopback_server(pangaea):
    base = pangaea.base_url
    assert pangaea.endpoints == {"doi": base, "download": base,
                                 "search": base + "/advanced/search.php",
                                 "es": base + "/es/pangaea/panmd/_search"}
    assert pangaea.datasets == (547797, 547942, 611408, 889513, 893044, 898941, 900001)


def test_text_is_served_as_stored(pangaea):
    reply = get(pangaea, "/10.1594/PANGAEA.889513", TSV)
    assert reply.status_code == 200
    assert reply.content == TSG.read_bytes()
    assert reply.headers["Content-Type"] == "text/tab-separated-values;charset=UTF-8"
    assert reply.headers["Last-Modified"]
    assert reply.headers["ETag"].startswith('"')
    assert get(pangaea, "/10.1594/PANGAEA.889513?format=textfile").content == TSG.read_bytes()


def test_metadata_for_a_text_dataset_is_its_header(pangaea):
    reply = get(pangaea, "/10.1594/PANGAEA.889513", PANMD)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/vnd.pangaea.metadata+xml;charset=UTF-8"
    served = parse_panmd(reply.content)
    header = read_metadata(TSG)
    stamp = served.last_modified
    # the served record adds the column types PANGAEA's records carry, read from the values
    assert [p.type for p in served.parameters] == [
        "dateTime", "numeric", "numeric", "numeric", "numeric", "numeric"]
    typed = tuple(dataclasses.replace(h, type=s.type)
                  for h, s in zip(header.parameters, served.parameters, strict=True))
    assert served == dataclasses.replace(
        header, parameters=typed, login_option="unrestricted", last_modified=stamp,
        parent="10.1594/PANGAEA.900001",
        extra={**header.extra, "mimeType": TSV, "status": "published"})
    assert b'key="awiml:' not in reply.content  # a natural panmd record
    assert email.utils.parsedate_to_datetime(reply.headers["Last-Modified"]).strftime(
        "%Y-%m-%dT%H:%M:%SZ") == stamp
    assert pangaea.metadata("doi:10.1594/PANGAEA.889513") == served


def test_metadata_given_as_xml_is_served_unchanged(pangaea):
    reply = get(pangaea, "/10.1594/PANGAEA.547797", PANMD)
    assert reply.content == CHILD.read_bytes()
    assert reply.headers["Last-Modified"] == "Sat, 26 Jan 2019 14:02:45 GMT"


def test_citation_and_landing_page(pangaea):
    reply = get(pangaea, "/10.1594/PANGAEA.889513", "text/x-bibliography")
    assert reply.headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert reply.text == read_metadata(TSG).citation
    assert get(pangaea, "/10.1594/PANGAEA.889513?format=citation_text").text == reply.text
    for accept in (None, "text/html", "*/*", "application/json"):
        page = get(pangaea, "/10.1594/PANGAEA.889513", accept)
        assert page.headers["Content-Type"] == "text/html;charset=UTF-8"
        assert "<title>Continuous thermosalinograph oceanography" in page.text
    collection = get(pangaea, "/10.1594/PANGAEA.900001?format=html").text
    assert '<a href="/10.1594/PANGAEA.889513">' in collection


def test_accept_header_quality_values_decide(pangaea):
    path = "/10.1594/PANGAEA.889513"
    assert get(pangaea, path, f"{TSV}, */*;q=0.1").headers["Content-Type"].startswith(TSV)
    assert get(pangaea, path, f"text/html, {TSV};q=0.5").headers["Content-Type"].startswith(
        "text/html")
    assert get(pangaea, path, f"{TSV};q=0.2, {PANMD}").headers["Content-Type"].startswith(PANMD)
    assert get(pangaea, path, f"{TSV};q=0").headers["Content-Type"].startswith("text/html")


def test_unknown_format_and_unknown_dataset(pangaea):
    assert get(pangaea, "/10.1594/PANGAEA.889513?format=netcdf").status_code == 400
    missing = get(pangaea, "/10.1594/PANGAEA.123456789", TSV)
    assert missing.status_code == 404
    assert get(pangaea, "/10.1594/PANGAEA.123456789", PANMD).status_code == 404


def test_datasets_without_a_table_answer_406(pangaea):
    for ident in (547797, 547942, 900001):
        reply = get(pangaea, f"/10.1594/PANGAEA.{ident}", TSV)
        assert reply.status_code == 406
        assert "no tabular data" in reply.text
        assert get(pangaea, f"/10.1594/PANGAEA.{ident}", PANMD).status_code == 200


def test_restricted_data_need_the_token(pangaea, caplog):
    path = "/10.1594/PANGAEA.893044"
    with caplog.at_level(logging.DEBUG, logger="awiml.testing"):
        anonymous = get(pangaea, path, TSV)
        wrong = get(pangaea, path, TSV, token="guess")
        good = get(pangaea, path, TSV, token=TOKEN)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="PANGAEA"'
    assert "restricted" in anonymous.text
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    assert good.status_code == 200 and good.content == TSG.read_bytes()
    assert get(pangaea, path, TSV, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    # metadata, citation and landing page stay public
    assert get(pangaea, path, PANMD).content == LOGIN.read_bytes()
    assert get(pangaea, path, "text/x-bibliography").status_code == 200
    assert get(pangaea, path).status_code == 200
    assert TOKEN not in caplog.text and TOKEN not in repr(pangaea)
    assert pangaea.token == TOKEN


def test_restricted_flag_rewrites_a_contradicting_record(pangaea):
    meta = pangaea.add_dataset(611408, xml=LINKED, text=LINKED_TABLE, restricted=True)
    assert meta.restricted and meta.login_option == "access rights needed"
    served = parse_panmd(get(pangaea, "/10.1594/PANGAEA.611408", PANMD).content)
    assert served.login_option == "access rights needed"
    assert get(pangaea, "/10.1594/PANGAEA.611408", TSV).status_code == 401


def test_server_without_token_never_opens_restricted_data():
    with PangaeaServer() as server:
        server.add_dataset(893044, xml=LOGIN, text=TSG)
        assert get(server, "/10.1594/PANGAEA.893044", TSV, token="anything").status_code == 401


def test_head_requests(pangaea):
    reply = requests.head(pangaea.base_url + "/10.1594/PANGAEA.889513",
                          headers={"Accept": TSV}, timeout=5)
    assert reply.status_code == 200
    assert int(reply.headers["Content-Length"]) == TSG.stat().st_size
    assert reply.content == b""
    assert requests.head(pangaea.base_url + "/10.1594/PANGAEA.547797", headers={"Accept": TSV},
                         timeout=5).status_code == 406


def test_conditional_requests(pangaea):
    first = get(pangaea, "/10.1594/PANGAEA.547797", PANMD)
    since = {"If-Modified-Since": first.headers["Last-Modified"]}
    assert get(pangaea, "/10.1594/PANGAEA.547797", PANMD, headers=since).status_code == 304
    older = {"If-Modified-Since": "Mon, 01 Jan 2018 00:00:00 GMT"}
    assert get(pangaea, "/10.1594/PANGAEA.547797", PANMD, headers=older).status_code == 200
    text = get(pangaea, "/10.1594/PANGAEA.889513", TSV)
    again = get(pangaea, "/10.1594/PANGAEA.889513", TSV,
                headers={"If-None-Match": text.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_last_modified_is_settable_and_moves_on_reregistration(pangaea):
    meta = pangaea.add_dataset(889513, text=TSG, last_modified="2020-05-04T03:02:01")
    assert meta.last_modified == "2020-05-04T03:02:01Z"
    reply = get(pangaea, "/10.1594/PANGAEA.889513", TSV)
    assert reply.headers["Last-Modified"] == "Mon, 04 May 2020 03:02:01 GMT"
    before = pangaea.add_dataset(898941, text=PIGMENTS).last_modified
    after = pangaea.add_dataset(898941, text=PIGMENTS).last_modified
    assert after > before


def test_collection_zip_holds_its_childrens_tables(pangaea):
    reply = get(pangaea, "/10.1594/PANGAEA.900001?format=zip")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        assert archive.namelist() == ["889513.tab", "898941.tab"]
        assert archive.read("889513.tab") == TSG.read_bytes()
        assert archive.read("898941.tab") == PIGMENTS.read_bytes()
    again = get(pangaea, "/10.1594/PANGAEA.900001?format=zip")
    assert again.content == reply.content  # deterministic
    single = get(pangaea, "/10.1594/PANGAEA.889513?format=zip")
    with zipfile.ZipFile(io.BytesIO(single.content)) as archive:
        assert archive.namelist() == ["889513.tab"]
    # 547942's children: only 547797 is registered, and it has no table
    assert get(pangaea, "/10.1594/PANGAEA.547942?format=zip").status_code == 406


def test_restricted_child_locks_the_collection_zip(pangaea):
    pangaea.add_collection(900002, children=[889513, 893044])
    assert get(pangaea, "/10.1594/PANGAEA.900002?format=zip").status_code == 401
    reply = get(pangaea, "/10.1594/PANGAEA.900002?format=zip", token=TOKEN)
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        assert archive.namelist() == ["889513.tab", "893044.tab"]


def test_collections_adopt_their_children(pangaea):
    collection = pangaea.metadata(900001)
    assert collection.is_collection and collection.size == "2 datasets"
    assert collection.title == "PS103 underway and CTD"
    assert collection.extra["collectionType"] == "collection"
    assert pangaea.metadata(898941).parent == "10.1594/PANGAEA.900001"
    assert pangaea.metadata(547797).parent == "10.1594/PANGAEA.547942"  # its own record says so
    pangaea.add_collection(900003, children=[611408])
    assert pangaea.metadata(611408).parent == "10.1594/PANGAEA.900003"
    later = pangaea.add_dataset(547799, xml=write_panmd(
        dataclasses.replace(parse_panmd(CHILD.read_bytes()), doi="10.1594/PANGAEA.547799",
                            parent=None)))
    assert later.parent == "10.1594/PANGAEA.547942"


def test_registration_errors(pangaea):
    with pytest.raises(ValueError, match="text=, xml="):
        pangaea.add_dataset(1)
    with pytest.raises(ValueError, match=r"describes 10\.1594/PANGAEA\.547797"):
        pangaea.add_dataset(1, xml=CHILD)
    with pytest.raises(ValueError, match="disagree"):
        pangaea.add_collection(547942, children=[1], xml=PARENT)
    with pytest.raises(ValueError, match="at least one child"):
        pangaea.add_collection(2, children=[])
    with pytest.raises(TypeError, match="bytes or a path"):
        pangaea.add_dataset(3, text=str(TSG))
    with pytest.raises(ValueError, match="plain file name"):
        pangaea.add_dataset(4, text=TSG, files={"../x": b""})
    with pytest.raises(KeyError):
        pangaea.metadata(5)


def test_stopped_server_keeps_its_url_and_refuses_connections():
    server = PangaeaServer()
    with pytest.raises(RuntimeError, match="never started"):
        server.base_url  # noqa: B018
    with server:
        url = server.endpoints["doi"]
    assert server.base_url == url and "stopped" in repr(server)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/10.1594/PANGAEA.1", timeout=5)


def test_sample_data():
    with PangaeaServer() as server:
        meta = server.add_sample_data()
        assert meta.doi == "10.1594/PANGAEA.889513"
        assert get(server, "/10.1594/PANGAEA.889513", TSV).content == TSG.read_bytes()


# --------------------------------------------------------------------------- #
# Linked files
# --------------------------------------------------------------------------- #


def test_linked_file_with_range_and_resume(pangaea):
    path = "/dataset/611408/files/img1.jpg"
    whole = get(pangaea, path)
    assert whole.status_code == 200 and whole.content == IMAGE
    assert whole.headers["Content-Type"] == "image/jpeg"
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = get(pangaea, path, headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-{len(IMAGE) - 1}/{len(IMAGE)}"
    assert whole.content[:1000] + part.content == IMAGE
    assert get(pangaea, "/dataset/611408/files/nope.jpg").status_code == 404


def test_restricted_linked_file(pangaea):
    path = "/dataset/893044/files/core.jpg"
    assert get(pangaea, path).status_code == 401
    assert get(pangaea, path, token="guess").status_code == 401
    whole = get(pangaea, path, token=TOKEN)
    assert whole.status_code == 200 and whole.content == IMAGE[:1000]
    part = get(pangaea, path, token=TOKEN, headers={"Range": "bytes=-100"})
    assert part.status_code == 206 and part.content == IMAGE[900:1000]
    assert part.headers["Content-Range"] == "bytes 900-999/1000"
    stale = get(pangaea, path, token=TOKEN, headers={"Range": "bytes=10-19", "If-Range": '"x"'})
    assert stale.status_code == 200
    fresh = get(pangaea, path, token=TOKEN,
                headers={"Range": "bytes=10-19", "If-Range": whole.headers["ETag"]})
    assert fresh.status_code == 206 and fresh.content == IMAGE[10:20]
    assert get(pangaea, path, token=TOKEN, headers={"Range": "bytes=5000-"}).status_code == 416
    head = requests.head(pangaea.base_url + path, headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=5)
    assert head.status_code == 200 and head.headers["Content-Length"] == "1000"


# --------------------------------------------------------------------------- #
# Faults
# --------------------------------------------------------------------------- #


def test_rate_limit_and_tape_recall_faults_apply_to_the_doi_route(pangaea):
    path = "10.1594/PANGAEA.889513"
    pangaea.inject(path, Fault.too_many_requests(retry_after=1))
    pangaea.inject("10.1594/PANGAEA.*", Fault.status(503, headers={"Retry-After": "1"}))
    limited = get(pangaea, "/" + path, TSV)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    recalling = get(pangaea, "/" + path, TSV)
    assert recalling.status_code == 503 and recalling.headers["Retry-After"] == "1"
    assert get(pangaea, "/" + path, TSV).content == TSG.read_bytes()
    assert [r.status for r in pangaea.requests if r.path == "/" + path] == [429, 503, 200]


def test_faults_on_search_and_broken_downloads(pangaea):
    pangaea.inject("advanced/search.php", Fault.status(500))
    assert requests.get(pangaea.endpoints["search"], timeout=5).status_code == 500
    assert search(pangaea)["totalCount"] == 7
    pangaea.inject("10.1594/PANGAEA.889513", Fault.drop_after(100))
    with pytest.raises(requests.exceptions.RequestException):
        get(pangaea, "/10.1594/PANGAEA.889513", TSV)


# --------------------------------------------------------------------------- #
# search.php
# --------------------------------------------------------------------------- #


def test_search_shape_and_collections(pangaea):
    found = search(pangaea, q="")
    assert found["totalCount"] == 7
    assert [r["URI"] for r in found["results"]] == [
        "doi:10.1594/PANGAEA.547797", "doi:10.1594/PANGAEA.547942", "doi:10.1594/PANGAEA.611408",
        "doi:10.1594/PANGAEA.889513", "doi:10.1594/PANGAEA.893044", "doi:10.1594/PANGAEA.898941",
        "doi:10.1594/PANGAEA.900001"]
    by_uri = {r["URI"]: r for r in found["results"]}
    assert all(isinstance(r["score"], float) for r in found["results"])
    assert ">3 datasets<" in by_uri["doi:10.1594/PANGAEA.547942"]["html"]
    assert ">2 datasets<" in by_uri["doi:10.1594/PANGAEA.900001"]["html"]
    assert ">8964 data points<" in by_uri["doi:10.1594/PANGAEA.889513"]["html"]
    assert "Boebel, Olaf; Rohardt, Gerd (2018)" in by_uri["doi:10.1594/PANGAEA.889513"]["html"]
    assert search(pangaea, q="*")["totalCount"] == 7


def test_search_terms_all_must_occur(pangaea):
    assert [r["URI"] for r in search(pangaea, q="thermosalinograph")["results"]] == [
        "doi:10.1594/PANGAEA.889513"]
    assert search(pangaea, q="POLARSTERN pigment")["totalCount"] == 1
    assert search(pangaea, q="polarstern")["totalCount"] == 3  # case does not matter
    assert search(pangaea, q="polarstern nothing-like-this")["totalCount"] == 0
    assert search(pangaea, q="Cibicidoides")["totalCount"] == 1  # a parameter name
    assert search(pangaea, q="HPLC")["totalCount"] == 1  # a keyword
    assert search(pangaea, q='"405,000-year eccentricity cycle"')["totalCount"] == 1  # abstract
    assert search(pangaea, q='reference:"Heartbeat of the Oligocene"')["totalCount"] == 2
    assert search(pangaea, q="parameter:Sal")["totalCount"] == 1  # Sal is only in 889513
    assert search(pangaea, q="citation:Pälike")["totalCount"] == 3
    assert search(pangaea, q="campaign:PS69")["totalCount"] == 1
    assert search(pangaea, q='event:"PS103_1-1"')["totalCount"] == 1


def test_search_ranks_title_matches_first(pangaea):
    results = search(pangaea, q="PS103")["results"]
    assert {r["URI"] for r in results} == {"doi:10.1594/PANGAEA.889513",
                                           "doi:10.1594/PANGAEA.898941",
                                           "doi:10.1594/PANGAEA.900001"}
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_search_paging(pangaea):
    meta = parse_panmd(LINKED.read_bytes())
    for n in range(30):
        ident = 700000 + n
        copy = dataclasses.replace(meta, doi=f"10.1594/PANGAEA.{ident}", title=f"Seamount {n}",
                                   citation=None)
        pangaea.add_dataset(ident, xml=write_panmd(copy))
    first = search(pangaea, q="seamount", count=10)
    assert first["totalCount"] == 31
    pages = [first] + [search(pangaea, q="seamount", count=10, offset=o) for o in (10, 20, 30)]
    uris = [r["URI"] for page in pages for r in page["results"]]
    assert len(uris) == 31 == len(set(uris))
    assert [len(p["results"]) for p in pages] == [10, 10, 10, 1]
    assert search(pangaea, q="seamount", offset=40)["results"] == []
    pangaea.max_search_count = 5
    capped = search(pangaea, q="seamount", count=1000)
    assert len(capped["results"]) == 5 and capped["totalCount"] == 31
    bad = requests.get(pangaea.endpoints["search"], params={"count": "ten"}, timeout=5)
    assert bad.status_code == 400 and "count" in bad.text
    assert requests.get(pangaea.endpoints["search"], params={"offset": -1},
                        timeout=5).status_code == 400


def test_search_bounding_box(pangaea):
    def uris(**box):
        return {r["URI"].rsplit(".", 1)[1] for r in search(pangaea, count=50, **box)["results"]}

    equatorial_pacific = uris(minlat=0, maxlat=20, minlon=-140, maxlon=-130)
    assert equatorial_pacific == {"547797", "547942"}
    assert uris(minlat=0, maxlat=20, minlon=170, maxlon=-130) == {"547797", "547942"}  # date line
    assert uris(minlat=-45, maxlat=-40, minlon=40, maxlon=45) == {"611408"}
    # the PS103 boxes span -71..-34 S, -60..18 E
    assert uris(minlat=-80, maxlat=-70, minlon=-20, maxlon=-10) == {"889513", "898941"}
    assert uris(minlat=60, maxlat=70) == set()
    assert requests.get(pangaea.endpoints["search"], params={"minlat": "north"},
                        timeout=5).status_code == 400


def test_search_dates(pangaea):
    def uris(**dates):
        return {r["URI"].rsplit(".", 1)[1] for r in search(pangaea, count=50, **dates)["results"]}

    assert uris(mindate="2007-01-01", maxdate="2007-12-31") == {"611408"}
    assert uris(mindate="2017-01-30", maxdate="2017-01-30") == {"889513"}  # ends 18:10 that day
    assert uris(mindate="2017-01-31", maxdate="2017-02-28") == set()
    assert uris(maxdate="2001-11-14") == {"547797", "547942"}
    assert uris(mindate="2016-12") == {"889513", "898941"}
    assert requests.get(pangaea.endpoints["search"], params={"mindate": "yesterday"},
                        timeout=5).status_code == 400


# --------------------------------------------------------------------------- #
# Elasticsearch
# --------------------------------------------------------------------------- #


AWIML_FIELDS = "sf-idDataSet,sp-loginOption,nDataPoints"


def test_es_answers_awimls_request(pangaea):
    # exactly what awiml.archives.pangaea._search sends; 404404 is not registered
    reply = es(pangaea, q="sf-idDataSet:893044 sf-idDataSet:889513 sf-idDataSet:404404",
               size=3, _source=AWIML_FIELDS)
    assert reply.status_code == 200
    body = reply.json()
    assert body["timed_out"] is False
    assert body["hits"]["total"] == {"value": 2, "relation": "eq"}
    hits = body["hits"]["hits"]
    assert [(h["_index"], h["_id"]) for h in hits] == [("pangaea", "889513"), ("pangaea", "893044")]
    assert hits[0]["_source"] == {"sf-idDataSet": 889513, "sp-loginOption": 1, "nDataPoints": 8964}
    assert hits[1]["_source"]["sp-loginOption"] == 3  # access rights needed
    # size cuts the page, not the total; _source may name fewer fields
    one = es(pangaea, q="sf-idDataSet:893044 sf-idDataSet:889513", size=1,
             _source="sp-loginOption").json()
    assert one["hits"]["total"]["value"] == 2
    assert [h["_source"] for h in one["hits"]["hits"]] == [{"sp-loginOption": 1}]
    # a collection has no data points of its own
    (parent,) = es(pangaea, q="sf-idDataSet:547942").json()["hits"]["hits"]
    assert parent["_source"] == {"sf-idDataSet": 547942, "sp-loginOption": 1}


@pytest.mark.parametrize(
    "params",
    [
        {"q": "thermosalinograph"},
        {"q": "_id:889513"},
        {"q": "sf-idDataSet:889513 OR sf-idDataSet:893044"},
        {"q": ""},
        {"q": "sf-idDataSet:889513", "from": "3"},
        {"q": "sf-idDataSet:889513", "size": "many"},
        {"q": "sf-idDataSet:889513", "_source": "URI"},
    ],
)
def test_es_refuses_every_other_request_naming_the_one_it_answers(pangaea, params):
    reply = es(pangaea, **params)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "illegal_argument_exception"
    assert "only the request awiml sends" in error["reason"]
    assert error["supported"].startswith("GET /es/pangaea/panmd/_search?q=sf-idDataSet:<id>")


def test_es_refuses_the_query_dsl(pangaea):
    body = {"query": {"terms": {"sf-idDataSet": [889513]}}}
    reply = requests.post(pangaea.endpoints["es"], json=body, timeout=5)
    assert reply.status_code == 400
    assert "query DSL is not emulated" in reply.json()["error"]["reason"]


# --------------------------------------------------------------------------- #
# pangaeapy against the emulator
# --------------------------------------------------------------------------- #


def test_pangaeapy_reads_through_the_emulator(pangaea, monkeypatch, tmp_path):
    import pangaeapy.pandataset as pandataset

    original = pandataset.get_request

    def routed(url, accepted_type=None, auth_token=None, timeout=10, num_retries=1):
        url = url.replace("https://doi.pangaea.de", pangaea.base_url)
        return original(url, accepted_type, auth_token, timeout, num_retries)

    monkeypatch.setattr(pandataset, "get_request", routed)
    linked = pandataset.PanDataSet(611408, cachedir=tmp_path)
    assert list(linked.data["File name"]) == ["img1.jpg"]
    assert linked.params["URL file"].type == "uri"
    text_only = pandataset.PanDataSet(889513, cachedir=tmp_path)
    assert list(text_only.params)[:6] == ["Date/Time", "Latitude", "Longitude", "Depth water",
                                          "Temp", "Sal"]
    rows = TSG.read_text(encoding="utf-8").split("*/\n", 1)[1].count("\n") - 1
    assert len(text_only.data) == rows == 4482
    assert text_only.citation == read_metadata(TSG).citation
    restricted = pandataset.PanDataSet(893044, cachedir=tmp_path, auth_token=TOKEN)
    assert restricted.loginstatus == "access rights needed"
    collection = pandataset.PanDataSet(900001, cachedir=tmp_path)
    assert collection.isCollection
    assert collection.collection_members == ["doi:10.1594/PANGAEA.889513",
                                             "doi:10.1594/PANGAEA.898941"]
