"""parse_panmd / write_panmd on PANGAEA's real panmd records, round trips, pangaeapy, bad input."""

from __future__ import annotations

import codecs
import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import DATA

from awiml.archives.pangaea.model import DatasetMetadata, Event, Parameter
from awiml.archives.pangaea.panmd import compose_citation, parse_panmd, write_panmd
from awiml.errors import InvalidDataError

PANGAEA = DATA / "pangaea"
XML = PANGAEA / "metadata_xml"
PARENT = XML / "PANGAEA_547942_collection_parent_panmd.xml"
CHILD = XML / "PANGAEA_547797_child_panmd.xml"
LINKED = XML / "PANGAEA_611408_linked_files_panmd.xml"
LOGIN = XML / "PANGAEA_893044_login_required_panmd.xml"
RECORDS = sorted(XML.glob("*.xml"))
TEXTS = [PANGAEA / "PANGAEA_889513_PS103_surf_oce_tsg.tab",
         PANGAEA / "PANGAEA_898941_Bracher_2019_PS103_pigments.tab"]
NS = 'xmlns:md="http://www.pangaea.de/MetaData"'


def record(body: str) -> str:
    return f"<md:MetaData {NS}>{body}</md:MetaData>"


def overrides(xml: bytes) -> list[str]:
    return re.findall(r'key="awiml:(\w+)"', xml.decode())


# --------------------------------------------------------------------------- #
# Real records
# --------------------------------------------------------------------------- #


def test_collection_parent():
    meta = parse_panmd(PARENT.read_bytes())
    assert meta.doi == "10.1594/PANGAEA.547942"
    assert meta.is_collection
    assert meta.children == ("10.1594/PANGAEA.547797", "10.1594/PANGAEA.547799",
                             "10.1594/PANGAEA.771930")
    assert meta.size == "3 datasets"
    assert meta.parameters == ()
    assert meta.parent is None
    assert meta.extra["collectionType"] == "publication series"
    assert meta.extra["mimeType"] == "application/zip"
    assert meta.extra["hierarchyLevel"] == "parent"
    assert "collectionChilds" not in meta.extra and "loginOption" not in meta.extra
    assert meta.last_modified == "2019-02-13T11:08:43Z"
    assert meta.license == "CC-BY-3.0"
    assert meta.abstract.startswith("A 13-million-year continuous record")
    assert meta.related[0].startswith("Supplement to: Pälike, Heiko; Norris, Richard D;")
    assert meta.related[0].endswith("(2006): The Heartbeat of the Oligocene Climate System. "
                                    "Science, 314(5807), 1894-1898, "
                                    "https://doi.org/10.1126/science.1133822")
    assert all(r.startswith("Related to: ") for r in meta.related[1:])
    assert len(meta.related) == 5
    assert meta.keywords == ()  # techKeywords are auto-generated, not keywords


def test_child_with_matrix_columns():
    meta = parse_panmd(CHILD.read_bytes())
    assert meta.doi == "10.1594/PANGAEA.547797"
    assert meta.parent == "10.1594/PANGAEA.547942"
    assert not meta.is_collection and not meta.restricted
    assert meta.login_option == "unrestricted"
    assert meta.title.startswith("Age model based on benthic foraminiferal stable isotopes")
    assert meta.authors[0] == "Pälike, Heiko" and len(meta.authors) == 9
    assert meta.year == 2006
    assert meta.citation == (
        "Pälike, Heiko; Norris, Richard D; Herrle, Jens O; Wilson, Paul A; Coxall, Helen; "
        "Lear, Caroline H; Shackleton, Nicholas J; Tripati, Aradhna K; Wade, Bridget S (2006): "
        "Age model based on benthic foraminiferal stable isotopes of sediment core ODP Site "
        "199-1218, equatorial Pacific. PANGAEA, https://doi.org/10.1594/PANGAEA.547797")
    shorts = [p.short_name for p in meta.parameters]
    assert len(shorts) == 15
    assert shorts[:4] == ["Depth", "Depth comp", "Depth cr", "Sample label"]
    assert shorts.count("Age model") == 3  # the same parameter, three age models
    ages = [p for p in meta.parameters if p.short_name == "Age model"]
    assert [p.comment for p in ages] == [
        "consistent with Cande and Kent, 1995",
        "calibrated manually to astronomical template",
        "calibrated automatically to astronomical template, used for figures"]
    depth = meta.parameters[0]
    assert depth == Parameter("DEPTH, sediment/rock", "Depth", "m", geocode=True,
                              type="numeric", format="####0.00")
    assert meta.parameters[1].method == "Intercore correlation"
    assert meta.parameters[3].type == "string"
    assert meta.parameters[3].method == "ODP sample designation (URI: hdl:10013/epic.27914.d001)"
    assert meta.parameters[7].unit == "‰ PDB"
    assert meta.size == "31115 data points"
    assert meta.coverage == {
        "WEST-BOUND LONGITUDE": "-135.36666", "EAST-BOUND LONGITUDE": "-135.36666",
        "SOUTH-BOUND LATITUDE": "8.88963", "NORTH-BOUND LATITUDE": "8.88963",
        "MEDIAN LONGITUDE": "-135.36666", "MEDIAN LATITUDE": "8.88963",
        "DATE/TIME START": "2001-11-14T00:00:00", "DATE/TIME END": "2001-11-14T00:00:00",
        "MINIMUM DEPTH, sediment/rock": "54.6 m", "MAXIMUM DEPTH, sediment/rock": "273.45 m"}
    (event,) = meta.events
    assert event == Event(
        label="199-1218", latitude=8.88963, longitude=-135.36666, elevation=-4827.2,
        datetime="2001-11-14T00:00:00", location="North Pacific Ocean",
        campaign="Leg199 (URI: https://doi.org/10.2973/odp.proc.ir.199.2002)",
        basis="Joides Resolution (URI: http://www-odp.tamu.edu/resolutn.html)",
        device="Composite Core (COMPCORE)",
        comment="80 cores; 735.1 m cored; 62 m drilled; 98.5% recovery",
        attributes={"Penetration": "797.1 m", "Recovery": "723.7 m"})
    assert meta.projects == ("Ocean Drilling Program (ODP) (URI: http://www-odp.tamu.edu/)",)
    assert meta.extra["hierarchyLevel"] == "child"
    assert meta.extra["topoType"] == "vertical profile"
    assert meta.extra["dateTime"] == "2006-11-03T10:41:05"
    assert meta.last_modified == "2019-01-26T14:02:45Z"


def test_linked_files_record():
    meta = parse_panmd(LINKED.read_bytes())
    assert [(p.short_name, p.type, p.unit) for p in meta.parameters] == [
        ("File name", "string", None), ("File format", "string", None),
        ("File size", "numeric", "kByte"), ("URL file", "uri", None)]
    # the PI as the text export writes it: name, then ORCID, e-mail and web page
    assert {p.pi for p in meta.parameters} == {
        "Grobe, Hannes (https://orcid.org/0000-0002-4133-2218, hannes.grobe@awi.de, "
        "http://www.awi.de/en/about-us/organisation/staff/hannes-grobe.html)"}
    assert meta.parameters[3].name == "Uniform resource locator/link to file"
    assert meta.citation == (
        "Grobe, Hannes; Hubberten, Hans-Wolfgang; Krause, Reinhard A; Mondzech, Juliane; "
        "Schenke, Hans Werner (2007): Documentation of IPY Seamount. Alfred Wegener Institute, "
        "Helmholtz Centre for Polar and Marine Research, Bremerhaven, PANGAEA, "
        "https://doi.org/10.1594/PANGAEA.611408")
    assert [r.split(":")[0] for r in meta.related] == ["Further details", "Further details"]
    assert meta.related[0] == (
        "Further details: Protokoll of SCUFN meeting related to the proposal of two new undersea "
        "features (2007). IHO (International Hydrographic Organization), "
        "hdl:10013/epic.28777.d001")
    assert meta.events[0].campaign == (
        "ANT-XXIII/9 (PS69) (URI: https://doi.org/10.2312/BzPM_0583_2008)")
    assert meta.events[0].attributes == {}  # the campaign's attributes are not the event's
    assert meta.coverage["MINIMUM ELEVATION"] == "-1780.0 m"


def test_login_required_record():
    meta = parse_panmd(LOGIN.read_bytes())
    assert meta.restricted is True
    assert meta.login_option == "access rights needed"
    assert meta.extra["status"] == "validated"
    assert meta.license is None
    assert "DATE/TIME START" not in meta.coverage
    assert meta.events[0].datetime is None
    assert meta.related[0].startswith("Supplement to: Pälike, Heiko;")
    assert "(in prep.): Carbon and oxygen stable isotope" in meta.related[0]
    assert meta.doi == "10.1594/PANGAEA.893044"  # from a doi.pangaea.de URI


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name.split("_")[1])
def test_real_records_round_trip_without_overrides(path):
    meta = parse_panmd(path.read_bytes())
    written = write_panmd(meta)
    assert parse_panmd(written) == meta
    assert overrides(written) == []
    assert DatasetMetadata.from_dict(meta.to_dict()) == meta


# --------------------------------------------------------------------------- #
# Round trips of written records
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name.split("_")[1])
def test_text_metadata_round_trips(path):
    from awiml.archives.pangaea import read_metadata

    meta = read_metadata(path)
    written = write_panmd(meta)
    assert parse_panmd(written) == meta
    # what the emulator serves: PANGAEA's usual technical entries are present,
    # and panmd's own elements carry every field
    served = dataclasses.replace(meta, login_option="unrestricted",
                                 extra={**meta.extra, "status": "published"})
    record = write_panmd(served)
    assert overrides(record) == []
    root = ET.fromstring(record)
    pi = root.find("md:matrixColumn/md:PI", {"md": "http://www.pangaea.de/MetaData"})
    assert [child.tag.split("}")[1] for child in pi] == ["lastName", "firstName", "eMail", "URI",
                                                         "orcid"][:len(pi)]
    assert root.find(".//md:license/md:name", {"md": "http://www.pangaea.de/MetaData"}).text \
        .startswith("Creative Commons Attribution")


def test_written_record_uses_pangaeas_element_order_and_prefix():
    meta = parse_panmd(CHILD.read_bytes())
    text = write_panmd(meta).decode("utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<md:MetaData ' + NS)
    root = ET.fromstring(text)
    order = ["citation", "abstract", "reference", "extent", "project", "event", "size", "license",
             "comment", "matrixColumn", "keywords", "technicalInfo"]
    tags = [child.tag.split("}")[1] for child in root]
    assert tags == sorted(tags, key=order.index)
    assert '<md:matrixColumn col="4" source="data" type="numeric" format="######0">' in text
    assert '<md:entry key="collectionChilds"' not in text


def test_awkward_metadata_round_trips_through_overrides():
    meta = DatasetMetadata(
        doi="10.1594/PANGAEA.1",
        title="  padded title ",
        citation="Someone (2020): not the usual pattern",
        authors=("Solo",),
        coverage={"MEDIAN LATITUDE": "1.5", "SOMETHING ELSE": "x", "MINIMUM DEPTH, water": "3"},
        related=("no relation prefix, https://example.org/x", "Related to: A (2001): B"),
        events=(Event("E1", 1.0, 2.0, attributes={"Gear": "net"}),),
        parameters=(Parameter("A", "A", type="datetime"), Parameter("A", "A")),
        extra={"status": "published", "loginOption": "clash"},
        restricted=True,
    )
    written = write_panmd(meta)
    assert parse_panmd(written) == meta
    assert sorted(overrides(written)) == ["citation", "coverage", "extra", "login_option",
                                          "title"]


def test_dataset_id_supplies_or_checks_the_doi():
    meta = DatasetMetadata(title="T", parameters=(Parameter("Salinity", "Sal"),),
                           extra={"status": "published"})
    written = write_panmd(meta, dataset_id=42)
    again = parse_panmd(written)
    assert again.doi == "10.1594/PANGAEA.42"
    assert again == dataclasses.replace(meta, doi="10.1594/PANGAEA.42")
    assert write_panmd(dataclasses.replace(meta, doi="10.1594/PANGAEA.42"), dataset_id=42)
    with pytest.raises(ValueError, match="disagrees"):
        write_panmd(dataclasses.replace(meta, doi="10.1594/PANGAEA.7"), dataset_id=42)


def test_compose_citation_parts():
    assert compose_citation([], None, None) is None
    assert compose_citation([], 2020, "Title?", doi="10.1594/PANGAEA.5") == (
        "(2020): Title? PANGAEA, https://doi.org/10.1594/PANGAEA.5")
    assert compose_citation(["A, B"], None, "T", "AWI") == "A, B: T. AWI, PANGAEA"


# --------------------------------------------------------------------------- #
# pangaeapy reads what write_panmd writes
# --------------------------------------------------------------------------- #


class _Reply:
    def __init__(self, status: int, text: str, content_type: str):
        self.status_code = status
        self.text = text
        self.headers = {"Content-Type": content_type}

    def raise_for_status(self):
        if self.status_code >= 400:
            raise AssertionError(f"HTTP {self.status_code}")


def _feed_pangaeapy(monkeypatch, xml: bytes, table: str | None = None):
    import pangaeapy.pandataset as pandataset

    def fake_get_request(url, accepted_type=None, auth_token=None, timeout=10, num_retries=1):
        assert url.startswith("https://doi.pangaea.de/10.1594/PANGAEA.")
        if accepted_type == "application/vnd.pangaea.metadata+xml":
            return _Reply(200, xml.decode("utf-8"), accepted_type)
        if accepted_type == "text/x-bibliography":
            return _Reply(200, "a citation", "text/plain")
        if table is None:
            return _Reply(406, "no table", "text/plain")
        return _Reply(200, table, "text/tab-separated-values;charset=UTF-8")

    monkeypatch.setattr(pandataset, "get_request", fake_get_request)
    return pandataset.PanDataSet


def test_pangaeapy_loads_a_written_record_with_its_table(monkeypatch, tmp_path):
    meta = parse_panmd(CHILD.read_bytes())
    header = "\t".join(p.label for p in meta.parameters)
    rows = ["\t".join(["54.6", "1", "2", "S1", "27000", "27100", "27200", "0.5", "1.5", "0.1",
                       "0.2", "0.3", "0.4", "ok", "Lear"])]
    table = "/* DATA DESCRIPTION:\n*/\n" + header + "\n" + "\n".join(rows) + "\n"
    PanDataSet = _feed_pangaeapy(monkeypatch, write_panmd(meta), table)
    dataset = PanDataSet(547797, cachedir=tmp_path)
    assert list(dataset.params)[:8] == ["Depth", "Depth comp", "Depth cr", "Sample label",
                                        "Age model", "Age model_2", "Age model_3",
                                        "Cibicidoides spp. δ13C"]
    assert dataset.params["Age model_2"].comment == "calibrated manually to astronomical template"
    assert dataset.params["Depth"].source == "geocode"
    assert dataset.params["Depth"].unit == "m"
    assert dataset.params["Depth comp"].method.name == "Intercore correlation"
    assert dataset.params["Cibicidoides spp. δ13C"].format == "##0.00"
    assert list(dataset.events) == ["199-1218"]
    assert dataset.events["199-1218"].latitude == pytest.approx(8.88963)
    assert dataset.events["199-1218"].campaign.name == "Leg199"
    assert dataset.licence.label == "CC-BY-3.0"
    assert dataset.title.startswith("Age model based on")
    assert dataset.loginstatus == "unrestricted"
    assert dataset.data["Age model_3"].tolist() == [27200]
    assert dataset.data["Sample label"].tolist() == ["S1"]


def test_pangaeapy_sees_collections_and_restrictions(monkeypatch, tmp_path):
    PanDataSet = _feed_pangaeapy(monkeypatch, write_panmd(parse_panmd(PARENT.read_bytes())))
    parent = PanDataSet(547942, cachedir=tmp_path)
    assert parent.isCollection
    assert parent.collection_members == ["doi:10.1594/PANGAEA.547797",
                                         "doi:10.1594/PANGAEA.547799",
                                         "doi:10.1594/PANGAEA.771930"]
    PanDataSet = _feed_pangaeapy(monkeypatch, write_panmd(parse_panmd(LOGIN.read_bytes())))
    restricted = PanDataSet(893044, cachedir=tmp_path)
    assert restricted.loginstatus == "access rights needed"
    assert restricted.data.empty
    assert next(iter(restricted.params)) == "Sample label"


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #


def test_malformed_xml_is_invalid_data():
    with pytest.raises(InvalidDataError, match="not well-formed XML"):
        parse_panmd(CHILD.read_bytes()[:-40])
    with pytest.raises(InvalidDataError, match="not well-formed XML"):
        parse_panmd(b"")


def test_doctype_and_entities_are_refused():
    laughs = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
              b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
              + record("<md:abstract>&lol2;</md:abstract>").encode())
    with pytest.raises(InvalidDataError, match="DOCTYPE"):
        parse_panmd(laughs)
    external = '<!doctype x SYSTEM "file:///etc/passwd">' + record("")
    with pytest.raises(InvalidDataError, match="entity-expansion"):
        parse_panmd(external)
    with pytest.raises(InvalidDataError, match="not well-formed"):
        parse_panmd(record("<md:abstract>&undefined;</md:abstract>"))


def test_not_a_panmd_record():
    with pytest.raises(InvalidDataError, match=r"root element is <html>"):
        parse_panmd("<html><body>Service unavailable</body></html>")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<md:citation><md:year>MMVI</md:year></md:citation>", r"md:year.*'MMVI'"),
        ("<md:event><md:label>E7</md:label><md:latitude>north</md:latitude></md:event>",
         r"event 'E7'.*md:latitude.*'north'"),
        ('<md:matrixColumn col="x"><md:parameter><md:name>A</md:name></md:parameter>'
         "</md:matrixColumn>", r"col='x'"),
        ('<md:matrixColumn col="0"><md:parameter/></md:matrixColumn>', "no <md:parameter>"),
        ('<md:technicalInfo><md:entry key="collectionChilds" value="D1,X-2"/></md:technicalInfo>',
         "collectionChilds"),
        ('<md:technicalInfo><md:entry key="awiml:title" value="{oops"/></md:technicalInfo>',
         "awiml:title"),
        ("<md:citation><md:parentURI>https://example.org/x</md:parentURI></md:citation>",
         "parentURI"),
    ],
)
def test_wrong_values_name_the_element(body, message):
    with pytest.raises(InvalidDataError, match=message):
        parse_panmd(record(body))


def test_encodings_and_wrappers():
    body = record("<md:citation><md:title>Größe</md:title></md:citation>")
    assert parse_panmd(codecs.BOM_UTF8 + body.encode()).title == "Größe"
    assert parse_panmd(body.encode("utf-16")).title == "Größe"
    latin = ('<?xml version="1.0" encoding="ISO-8859-1"?>' + body).encode("latin-1")
    assert parse_panmd(latin).title == "Größe"
    oai = f"<OAI-PMH><GetRecord><record><metadata>{body}</metadata></record></GetRecord></OAI-PMH>"
    assert parse_panmd(oai).title == "Größe"
    with pytest.raises(InvalidDataError, match="cannot be decoded as utf-8"):
        parse_panmd(record("<md:abstract>é</md:abstract>").encode("latin-1"))
    with pytest.raises(InvalidDataError, match="cannot be decoded as klingon"):
        parse_panmd(b'<?xml version="1.0" encoding="klingon"?>' + body.encode())
    with pytest.raises(TypeError):
        parse_panmd(Path("x.xml"))  # type: ignore[arg-type]


def test_children_with_unpublished_prefix():
    meta = parse_panmd(record('<md:technicalInfo><md:entry key="collectionChilds" '
                              'value="D1, U22,333"/></md:technicalInfo>'))
    assert meta.children == ("10.1594/PANGAEA.1", "10.1594/PANGAEA.22", "10.1594/PANGAEA.333")
