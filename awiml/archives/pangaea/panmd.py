"""PANGAEA's panmd metadata records: parse them into, and write them from, :class:`DatasetMetadata`.

A panmd record is the XML PANGAEA serves for a dataset as :data:`MEDIA_TYPE`
(namespace :data:`NAMESPACE`, prefix ``md:``). :func:`parse_panmd` maps it onto the
:class:`~awiml.archives.pangaea.model.DatasetMetadata` the text export's header also
gives; with :func:`write_panmd`, its inverse, the loopback emulator serves metadata
for datasets that only have a text file.

How the record maps onto the model
----------------------------------
=====================  ==================================================================
model field            panmd source
=====================  ==================================================================
``doi``                ``md:citation/md:URI`` (a doi.org or doi.pangaea.de URL), else the
                       ``id="dataset<n>"`` of ``md:citation``
``title``, ``year``    ``md:citation/md:title``, ``md:citation/md:year``
``authors``            ``md:citation/md:author``: ``"lastName, firstName"``
``citation``           :func:`compose_citation`, with ``md:citation/md:source`` (e.g. the
                       Alfred Wegener Institute) as ``source`` and no ``Supplement to``
``abstract``           ``md:abstract``
``keywords``           ``md:keywords/md:keyword`` (not the auto-generated ``md:techKeyword``)
``related``            ``md:citation/md:supplementTo`` as ``"Supplement to: ..."``, then
                       each ``md:reference`` as ``"<relationType>: <reference>"``
``projects``           ``md:project``: ``"name (label) (URI: uri)"``, as in the text header
``coverage``           ``md:extent``: ``"SOUTH-BOUND LATITUDE"`` ... ``"EAST-BOUND
                       LONGITUDE"``, ``"MEDIAN LATITUDE"``/``"MEDIAN LONGITUDE"`` (panmd's
                       ``meanLatitude``/``meanLongitude``), ``"DATE/TIME START"``/``"END"``
                       and, per ``md:elevation``, ``"MINIMUM <name>"``/``"MAXIMUM <name>"``
                       with the unit (``"54.6 m"``); values keep the record's text
``events``             ``md:event``; ``latitude2``/``longitude2``/``dateTime2`` become the
                       ``*_end`` fields; ``md:attribute`` children become ``attributes``
``parameters``         ``md:matrixColumn`` in ``col`` order; ``geocode`` is
                       ``source="geocode"``; ``type`` and ``format`` are the column's
                       attributes; ``pi`` is ``md:PI`` as the text export writes it,
                       ``"Last, First (ORCID URL, e-mail, URI)"`` (contacts when present)
``license``            ``md:license/md:label`` (e.g. ``"CC-BY-3.0"``), else its name
``size``               ``md:size`` and its unit: ``"31115 data points"``, ``"3 datasets"``
``comment``            the record's own ``md:comment``
``login_option``       technicalInfo ``loginOption`` (``"unrestricted"``, ``"access rights
                       needed"``...); ``restricted`` when present and not unrestricted
``parent``             ``md:citation/md:parentURI``
``children``           technicalInfo ``collectionChilds`` (``"D547797,D547799"``)
``last_modified``      technicalInfo ``lastModified``, else ``xmlLastModified``
``extra``              every other technicalInfo entry (``status``, ``mimeType``...),
                       ``md:extent/md:topoType``, ``md:citation/md:dateTime`` and, as the
                       text parser has it, ``License``: the licence's full name and label
=====================  ==================================================================

Terms (campaign, basis, device, method, location) read ``"name (optionalName) (URI:
uri)"`` as in the text export, so a dataset's text header and panmd record agree (but
the text parser keeps a "Related to" or "Further details" without its relation type).

Records with a ``<!DOCTYPE`` or ``<!ENTITY`` declaration (never in panmd; the
means of entity-expansion attacks) are refused before parsing.

``parse_panmd(write_panmd(meta)) == meta`` holds for every
:class:`DatasetMetadata`: where panmd cannot carry a value exactly (a citation
that does not follow the pattern above, a coverage key without a panmd element...),
:func:`write_panmd` adds a technicalInfo entry ``key="awiml:<field>"`` holding the
field's value as JSON, which :func:`parse_panmd` lets win. PANGAEA's own records
never contain ``awiml:`` keys, and other readers (pangaeapy) ignore them.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import InvalidDataError
from .model import DatasetMetadata, Event, Parameter, dataset_id, normalize_doi

__all__ = ["MEDIA_TYPE", "NAMESPACE", "compose_citation", "parse_panmd", "write_panmd"]

#: XML namespace of panmd records.
NAMESPACE = "http://www.pangaea.de/MetaData"

#: Media type under which PANGAEA serves panmd records (``Accept`` header).
MEDIA_TYPE = "application/vnd.pangaea.metadata+xml"

_NS = {"md": NAMESPACE}
_OVERRIDE = "awiml:"
_DOI_URL = "https://doi.org/"
_ORCID_URL = "https://orcid.org/"

#: loginOption values and the ``loginOption_num`` PANGAEA pairs them with
#: (seen in real records: 1 = unrestricted, 3 = access rights needed).
_LOGIN_NUMBERS = {"unrestricted": "1", "access rights needed": "3"}
#: technicalInfo entries that carry fields of the model (not ``extra``).
_MODEL_ENTRIES = ("lastModified", "loginOption", "loginOption_num", "collectionChilds")

_BOUNDS = (
    ("westBoundLongitude", "WEST-BOUND LONGITUDE"),
    ("eastBoundLongitude", "EAST-BOUND LONGITUDE"),
    ("southBoundLatitude", "SOUTH-BOUND LATITUDE"),
    ("northBoundLatitude", "NORTH-BOUND LATITUDE"),
    ("meanLongitude", "MEDIAN LONGITUDE"),
    ("meanLatitude", "MEDIAN LATITUDE"),
)
_TEMPORAL = (("minDateTime", "DATE/TIME START"), ("maxDateTime", "DATE/TIME END"))
#: An event's panmd elements (in their order) and :class:`Event` fields; dateTime* are text.
_EVENT_FIELDS = (
    ("latitude", "latitude"),
    ("longitude", "longitude"),
    ("latitude2", "latitude_end"),
    ("longitude2", "longitude_end"),
    ("elevation", "elevation"),
    ("dateTime", "datetime"),
    ("dateTime2", "datetime_end"),
)
_EVENT_TERMS = ("location", "campaign", "basis", "device")
_TEXT_ORDER = (
    "MEDIAN LATITUDE",
    "MEDIAN LONGITUDE",
    "SOUTH-BOUND LATITUDE",
    "WEST-BOUND LONGITUDE",
    "NORTH-BOUND LATITUDE",
    "EAST-BOUND LONGITUDE",
)

_TERM_URI = re.compile(r"^(?P<rest>.*\S) \(URI: (?P<uri>[^()\s]+)\)$")
_TERM_OPTIONAL = re.compile(r"^(?P<name>.*\S) \((?P<optional>[^()]+)\)$")
_SIZE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s+(?P<unit>\S.*)$")
_AMOUNT = re.compile(r"^(?P<number>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?:\s+(?P<unit>\S.*))?$")
_FORBIDDEN = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_RELATION = re.compile(r"^(?P<type>[A-Z][A-Za-z ]{2,40}?): (?P<text>.+)$", re.DOTALL)
_CHILD = re.compile(r"^[A-Za-z]?(\d+)$")
_CONTACT = re.compile(r"^(?P<name>[^()]*?) \((?P<contact>[^()]*)\)$")
_URI_IN_TEXT = re.compile(r"(?:https?://|hdl:|doi:)[^\s()]+")


def parse_panmd(xml: bytes | str) -> DatasetMetadata:
    """Parse a panmd metadata record into :class:`DatasetMetadata`.

    Parameters
    ----------
    xml : bytes or str
        The record, as served for ``Accept: application/vnd.pangaea.metadata+xml``.
        Bytes are decoded by their byte order mark or XML declaration (UTF-8 by
        default). A record wrapped in another document (an OAI-PMH reply) is
        found inside it.

    Returns
    -------
    DatasetMetadata
        The metadata; :mod:`awiml.archives.pangaea.panmd` gives the mapping.

    Raises
    ------
    InvalidDataError
        If the record is not well-formed XML, declares a DTD or entities, is
        not a panmd record, or holds a value of the wrong kind (a year or a
        coordinate that is not a number...); the message names the element.

    Examples
    --------
    >>> record = (
    ...     '<md:MetaData xmlns:md="http://www.pangaea.de/MetaData"><md:citation>'
    ...     "<md:author><md:lastName>Boebel</md:lastName><md:firstName>Olaf</md:firstName>"
    ...     "</md:author><md:year>2018</md:year><md:title>Thermosalinograph PS103</md:title>"
    ...     "<md:URI>https://doi.org/10.1594/PANGAEA.889513</md:URI></md:citation>"
    ...     "</md:MetaData>"
    ... )
    >>> meta = parse_panmd(record)
    >>> meta.doi, meta.authors, meta.year
    ('10.1594/PANGAEA.889513', ('Boebel, Olaf',), 2018)
    >>> meta.citation
    'Boebel, Olaf (2018): Thermosalinograph PS103. PANGAEA, https://doi.org/10.1594/PANGAEA.889513'
    """
    root = _root(xml)
    citation = root.find("md:citation", _NS)
    entries = root.findall("md:technicalInfo/md:entry", _NS)
    info = {e.get("key", ""): e.get("value", "") for e in entries if e.get("key")}

    doi = _citation_doi(citation)
    title = _text(citation, "md:title")
    authors = tuple(_person(a) for a in _findall(citation, "md:author"))
    year = _number(_text(citation, "md:year"), "<md:citation>/<md:year>", int, "a year")

    last_modified_key = "lastModified" if "lastModified" in info else "xmlLastModified"
    consumed = {*_MODEL_ENTRIES, last_modified_key}
    licence_label = _text(root, "md:license/md:label")
    licence_name = _text(root, "md:license/md:name")
    extra = {
        "dateTime": _text(citation, "md:dateTime"),
        "topoType": _text(root, "md:extent/md:topoType"),
        "License": f"{licence_name} ({licence_label})" if licence_label and licence_name else None,
    }
    for key, value in info.items():
        if key not in consumed and not key.startswith(_OVERRIDE):
            extra[key] = value

    login_option = info.get("loginOption")
    values: dict[str, Any] = {
        "doi": doi,
        "title": title,
        "citation": compose_citation(authors, year, title, _text(citation, "md:source"), doi),
        "authors": authors,
        "year": year,
        "abstract": _text(root, "md:abstract"),
        "keywords": tuple(
            t for t in (_clean(k.text) for k in root.findall("md:keywords/md:keyword", _NS)) if t
        ),
        "related": _related(root, citation),
        "projects": tuple(_project_text(p) for p in root.findall("md:project", _NS)),
        "coverage": _coverage(root),
        "events": tuple(_event(e) for e in root.findall("md:event", _NS)),
        "parameters": _parameters(root),
        "license": licence_label or licence_name,
        "size": _size(root),
        "comment": _text(root, "md:comment"),
        "restricted": login_option is not None and login_option.lower() != "unrestricted",
        "login_option": login_option,
        "parent": _parent(citation),
        "children": _children(info.get("collectionChilds")),
        "last_modified": info.get(last_modified_key),
        "extra": {key: value for key, value in extra.items() if value is not None},
    }
    for key, raw in info.items():
        name = key.removeprefix(_OVERRIDE)
        if name != key and name in values:
            values[name] = _decode_override(name, raw)
    return DatasetMetadata(**values)


def _root(xml: bytes | str) -> ET.Element:
    text = _decode(xml)
    if _FORBIDDEN.search(text):
        raise InvalidDataError(
            "panmd record refused: it contains a <!DOCTYPE> or <!ENTITY> declaration. "
            "PANGAEA's records never do, and DTD entities allow entity-expansion attacks."
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise InvalidDataError(f"panmd record is not well-formed XML: {error}") from None
    wanted = f"{{{NAMESPACE}}}MetaData"
    record = root if root.tag == wanted else root.find(f".//{wanted}")  # or wrapped (OAI-PMH)
    if record is None:
        raise InvalidDataError(
            f"not a panmd record: the root element is <{root.tag}>, expected <md:MetaData> "
            f"in the namespace {NAMESPACE}"
        )
    return record


def _decode(xml: bytes | str) -> str:
    if isinstance(xml, str):
        return xml
    if not isinstance(xml, (bytes, bytearray, memoryview)):
        raise TypeError(f"panmd record must be bytes or str, not {type(xml).__name__}")
    data = bytes(xml)
    declared = _DECLARED_ENCODING.match(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    for boms, name in (  # UTF-32 first: its little-endian mark starts with UTF-16's
        ((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE), "utf-32"),
        ((codecs.BOM_UTF8,), "utf-8-sig"),
        ((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "utf-16"),
    ):
        if data.startswith(boms):  # a byte order mark wins over the declaration
            encoding = name
            break
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as error:
        raise InvalidDataError(f"panmd record cannot be decoded as {encoding}: {error}") from None


def _clean(text: str | None) -> str | None:
    return (text.strip() or None) if text else None


def _text(parent: ET.Element | None, path: str) -> str | None:
    if parent is None:
        return None
    element = parent.find(path, _NS)
    return None if element is None else _clean(element.text)


def _findall(parent: ET.Element | None, path: str) -> list[ET.Element]:
    return [] if parent is None else parent.findall(path, _NS)


def _number(text: str | None, what: str, kind: type = float, noun: str = "a number") -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InvalidDataError(f"panmd {what}: {text!r} is not {noun}") from None


def _person(element: ET.Element) -> str:
    names = (_text(element, "md:lastName"), _text(element, "md:firstName"))
    return ", ".join(p for p in names if p)


def _contact_person(element: ET.Element) -> str:
    """``"Last, First (orcid URL, e-mail, URI)"`` as the text export writes a PI."""
    name = _person(element)
    orcid = _text(element, "md:orcid")
    if orcid and "://" not in orcid:
        orcid = _ORCID_URL + orcid
    contact = [v for v in (orcid, _text(element, "md:eMail"), _text(element, "md:URI")) if v]
    return f"{name} ({', '.join(contact)})" if contact else name


def _pangaea_doi(uri: str | None) -> str | None:
    try:
        return None if uri is None else normalize_doi(uri)
    except InvalidDataError:
        return None


def _citation_doi(citation: ET.Element | None) -> str | None:
    doi = _pangaea_doi(_text(citation, "md:URI"))
    if doi is None and citation is not None:
        match = re.fullmatch(r"dataset(\d+)", citation.get("id", ""))
        if match:
            doi = normalize_doi(int(match.group(1)))
    return doi


def _parent(citation: ET.Element | None) -> str | None:
    uri = _text(citation, "md:parentURI")
    doi = _pangaea_doi(uri)
    if uri is not None and doi is None:
        raise InvalidDataError(f"panmd <md:citation>/<md:parentURI>: {uri!r} is not a PANGAEA DOI")
    return doi


def _children(value: str | None) -> tuple[str, ...]:
    children = []
    for item in filter(None, (item.strip() for item in (value or "").split(","))):
        match = _CHILD.match(item)
        if match is None:
            raise InvalidDataError(
                f"panmd technicalInfo collectionChilds: {item!r} is not a dataset id like D547797"
            )
        children.append(normalize_doi(int(match.group(1))))
    return tuple(children)


def compose_citation(
    authors: Iterable[str],
    year: int | None,
    title: str | None,
    source: str | None = None,
    doi: str | None = None,
) -> str | None:
    """Compose a dataset citation the way PANGAEA's text export writes it.

    The pattern is ``"Last, First; Last, First (YYYY): Title. Source, PANGAEA,
    https://doi.org/<doi>"``; parts that are missing are left out. It is a best
    effort: PANGAEA's own citations can add a version or a supplement note.

    Parameters
    ----------
    authors : iterable of str
        Authors as ``"Last, First"``.
    year : int or None
        Publication year.
    title : str or None
        Dataset title.
    source : str, optional
        Publisher or institution named before "PANGAEA", e.g. ``"Alfred Wegener Institute"``.
    doi : str, optional
        Canonical DOI ``10.1594/PANGAEA.<id>``.

    Returns
    -------
    str or None
        The citation, or ``None`` when there are neither authors nor a title.

    Examples
    --------
    >>> citation = compose_citation(
    ...     ["Boebel, Olaf", "Rohardt, Gerd"], 2018, "Thermosalinograph PS103",
    ...     "Alfred Wegener Institute", "10.1594/PANGAEA.889513")
    >>> for part in citation.split(". "):
    ...     print(part)
    Boebel, Olaf; Rohardt, Gerd (2018): Thermosalinograph PS103
    Alfred Wegener Institute, PANGAEA, https://doi.org/10.1594/PANGAEA.889513
    """
    names = "; ".join(authors)
    if not (names or title):
        return None
    head = " ".join(p for p in (names, None if year is None else f"({year})") if p)
    text = f"{head}: {title}" if head and title else head or title or ""
    if not text.endswith((".", "?", "!")):
        text += "."
    tail = [p for p in (source, "PANGAEA", _DOI_URL + doi if doi else None) if p]
    return f"{text} {', '.join(tail)}"


def _reference_text(element: ET.Element) -> str:
    authors = [_person(a) for a in _findall(element, "md:author")]
    year = _text(element, "md:year") or _text(element, "md:prepubStatus")
    title = _text(element, "md:title")
    names = "; ".join(a for a in authors if a)
    head = f"{names} ({year})" if names and year is not None else names
    text = f"{head}: {title}" if head and title else head or title or ""
    if not names and year is not None:
        text = f"{text} ({year})" if text else f"({year})"
    uri = _text(element, "md:URI")
    source = _text(element, "md:source")
    parts = (
        source.rstrip(".") if source else None,
        _text(element, "md:volume"),
        _text(element, "md:pages"),
        uri if uri and (title is None or uri not in title) else None,
    )
    tail = [p for p in parts if p]
    if tail:
        if text and not text.endswith((".", "?", "!")):
            text += "."
        text = f"{text} {', '.join(tail)}" if text else ", ".join(tail)
    return text


def _related(root: ET.Element, citation: ET.Element | None) -> tuple[str, ...]:
    supplements = _findall(citation, "md:supplementTo")
    related = [f"Supplement to: {_reference_text(supplement)}" for supplement in supplements]
    for reference in root.findall("md:reference", _NS):
        text = _reference_text(reference)
        kind = reference.get("relationType")
        related.append(f"{kind}: {text}" if kind else text)
    return tuple(related)


def _join_term(name: str, optional: str | None, uri: str | None) -> str:
    """Join a term as the text export writes it; the inverse of :func:`_split_term`."""
    if optional:
        name = f"{name} ({optional})"
    return f"{name} (URI: {uri})" if uri else name


def _term_text(element: ET.Element | None) -> str | None:
    name = _text(element, "md:name") or _text(element, "md:label")
    if name is None:
        return None
    return _join_term(name, _text(element, "md:optionalName"), _text(element, "md:URI"))


def _project_text(element: ET.Element) -> str:
    label = _text(element, "md:label")
    name = _text(element, "md:name") or label or ""
    return _join_term(name, label if label != name else None, _text(element, "md:URI"))


def _coverage(root: ET.Element) -> dict[str, str]:
    extent = root.find("md:extent", _NS)
    coverage: dict[str, str] = {}
    if extent is None:
        return coverage
    geographic = sorted(_BOUNDS, key=lambda b: _TEXT_ORDER.index(b[1]))
    for part, pairs in (("geographic", geographic), ("temporal", _TEMPORAL)):
        for tag, key in pairs:
            value = _text(extent, f"md:{part}/md:{tag}")
            if value is not None:
                coverage[key] = value
    for elevation in extent.findall("md:elevation", _NS):
        name = elevation.get("name") or "ELEVATION"
        if "," not in name:
            name = name.upper()
        unit = elevation.get("unit")
        for tag, word in (("min", "MINIMUM"), ("max", "MAXIMUM")):
            value = _text(elevation, f"md:{tag}")
            if value is not None:
                coverage[f"{word} {name}"] = f"{value} {unit}" if unit else value
    return coverage


def _event(element: ET.Element) -> Event:
    label = _text(element, "md:label") or ""
    values: dict[str, Any] = {}
    for tag, name in _EVENT_FIELDS:
        text = _text(element, f"md:{tag}")
        is_time = tag.startswith("dateTime")
        values[name] = text if is_time else _number(text, f"event {label!r}: <md:{tag}>")
    terms = {term: element.find(f"md:{term}", _NS) for term in _EVENT_TERMS}
    if terms["device"] is None:
        terms["device"] = element.find("md:method", _NS)
    return Event(
        label=label,
        comment=_text(element, "md:comment"),
        attributes={
            a.get("name", ""): _clean(a.text) or "" for a in element.findall("md:attribute", _NS)
        },
        **values,
        **{term: _term_text(found) for term, found in terms.items()},
    )


def _parameters(root: ET.Element) -> tuple[Parameter, ...]:
    columns = []
    for position, column in enumerate(root.findall("md:matrixColumn", _NS)):
        col = column.get("col")
        try:
            order = int(col) if col is not None else position
        except ValueError:
            raise InvalidDataError(
                f"panmd <md:matrixColumn> number {position + 1}: col={col!r} is not an integer"
            ) from None
        parameter = column.find("md:parameter", _NS)
        name = _text(parameter, "md:name")
        if name is None:
            raise InvalidDataError(
                f"panmd <md:matrixColumn col={col!r}> has no <md:parameter>/<md:name>"
            )
        pi = column.find("md:PI", _NS)
        described = Parameter(
            name=name,
            short_name=_text(parameter, "md:shortName") or name,
            unit=_text(parameter, "md:unit"),
            geocode=column.get("source") == "geocode",
            pi=_contact_person(pi) if pi is not None else None,
            method=_term_text(column.find("md:method", _NS)),
            comment=_text(column, "md:comment"),
            type=column.get("type"),
            format=column.get("format"),
        )
        columns.append((order, described))
    columns.sort(key=lambda item: item[0])  # stable: columns with the same col keep their order
    return tuple(item[1] for item in columns)


def _size(root: ET.Element) -> str | None:
    value = _text(root, "md:size")
    unit = None if value is None else root.find("md:size", _NS).get("unit")
    return f"{value} {unit}" if unit else value


def _decode_override(name: str, raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidDataError(
            f"panmd technicalInfo entry {_OVERRIDE}{name} holds no valid JSON: {raw[:80]!r}"
        ) from None
    return getattr(DatasetMetadata.from_dict({name: value}), name)


def write_panmd(meta: DatasetMetadata, *, dataset_id: int | None = None) -> bytes:
    """Write :class:`DatasetMetadata` as a panmd record (UTF-8 XML).

    The record follows the element order and conventions of PANGAEA's own, so
    that :func:`parse_panmd` reads it back (see :mod:`awiml.archives.pangaea.panmd`) and
    pangaeapy's ``PanDataSet`` loads it. pangaeapy needs two technicalInfo
    entries the metadata may lack, which are added: ``status`` (``"published"``)
    and, for a collection, ``collectionType`` (``"collection"``).

    Parameters
    ----------
    meta : DatasetMetadata
        The metadata.
    dataset_id : int, optional
        The dataset id, for metadata without a DOI (or to check it): the
        record's DOI becomes ``10.1594/PANGAEA.<dataset_id>``.

    Returns
    -------
    bytes
        The record, UTF-8 encoded, with an XML declaration.

    Raises
    ------
    ValueError
        If ``dataset_id`` disagrees with ``meta.doi``.

    Examples
    --------
    >>> from awiml.archives.pangaea.model import Parameter
    >>> meta = DatasetMetadata(
    ...     title="Thermosalinograph PS103",
    ...     authors=("Boebel, Olaf",),
    ...     year=2018,
    ...     parameters=(Parameter("Temperature, water", "Temp", "°C"),),
    ... )
    >>> record = write_panmd(meta, dataset_id=889513)
    >>> record.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    True
    >>> again = parse_panmd(record)
    >>> again.doi, again.parameters[0].label
    ('10.1594/PANGAEA.889513', 'Temp [°C]')
    >>> again == dataclasses.replace(meta, doi="10.1594/PANGAEA.889513")
    True
    """
    if dataset_id is not None:
        doi = normalize_doi(dataset_id)
        if meta.doi is not None and meta.doi != doi:
            raise ValueError(f"dataset_id {dataset_id} disagrees with the metadata DOI {meta.doi}")
        meta = dataclasses.replace(meta, doi=doi)
    root = _build(meta)
    record = _serialise(root)
    parsed = parse_panmd(record)
    differing = [
        f.name for f in dataclasses.fields(meta) if getattr(parsed, f.name) != getattr(meta, f.name)
    ]
    if not differing:
        return record
    info = root.find("md:technicalInfo")  # _build always writes it
    exported = meta.to_dict()
    for name in differing:
        value = json.dumps(exported[name], ensure_ascii=False, separators=(",", ":"))
        _sub(info, "md:entry", key=_OVERRIDE + name, value=value)
    return _serialise(root)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _add(parent: ET.Element, tag: str, text: str | None) -> None:
    if text is not None:
        _sub(parent, tag, text)


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root, space="")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _build(meta: DatasetMetadata) -> ET.Element:
    # Tags carry their "md:" prefix literally and the root declares it, so the
    # output uses PANGAEA's prefix without touching ElementTree's global registry.
    root = ET.Element("md:MetaData", {"xmlns:md": NAMESPACE})
    extra = dict(meta.extra)
    related = list(meta.related)

    citation = _sub(root, "md:citation", id=f"dataset{dataset_id(meta.doi)}" if meta.doi else None)
    for author in meta.authors:
        _write_person(citation, "md:author", author)
    for tag, value in (
        ("md:year", None if meta.year is None else str(meta.year)),
        ("md:title", meta.title),
        ("md:source", _citation_source(meta) or None),
        ("md:URI", _DOI_URL + meta.doi if meta.doi else None),
        ("md:dateTime", extra.pop("dateTime", None)),
        ("md:parentURI", _DOI_URL + normalize_doi(meta.parent) if meta.parent else None),
    ):
        _add(citation, tag, value)
    if related and related[0].startswith("Supplement to: "):
        _write_reference(citation, "md:supplementTo", related.pop(0)[len("Supplement to: ") :])

    _add(root, "md:abstract", meta.abstract)
    for item in related:
        match = _RELATION.match(item)
        reference = _write_reference(root, "md:reference", match["text"] if match else item)
        if match:
            reference.set("relationType", match["type"])

    _write_extent(root, meta.coverage, extra.pop("topoType", None))
    for index, project in enumerate(meta.projects, start=1):
        _write_project(root, project, index)
    for event in meta.events:
        _write_event(root, event)
    if meta.size is not None:
        match = _SIZE.match(meta.size)
        number, unit = (match["number"], match["unit"]) if match else (meta.size, None)
        _sub(root, "md:size", number, unit=unit)
    if meta.license is not None:
        licence = _sub(root, "md:license")
        _sub(licence, "md:label", meta.license)
        full = extra.get("License")
        if full is not None and full.endswith(f" ({meta.license})"):
            _sub(licence, "md:name", extra.pop("License")[: -len(meta.license) - 3])
    _add(root, "md:comment", meta.comment)
    for col, parameter in enumerate(meta.parameters):
        _write_parameter(root, col, parameter)
    if meta.keywords:
        keywords = _sub(root, "md:keywords")
        for keyword in meta.keywords:
            _sub(keywords, "md:keyword", keyword)

    extra.setdefault("status", "published")
    if meta.children:
        extra.setdefault("collectionType", "collection")
    login = meta.login_option
    if login is None and meta.restricted:
        login = "access rights needed"
    entries = [
        ("lastModified", meta.last_modified),
        # the model's own fields are written below; a clash travels as awiml:extra
        *((key, str(value)) for key, value in extra.items() if key not in _MODEL_ENTRIES),
        ("collectionChilds", ",".join(f"D{dataset_id(c)}" for c in meta.children) or None),
        ("loginOption", login),
        ("loginOption_num", _LOGIN_NUMBERS.get(login.lower()) if login else None),
    ]
    info = _sub(root, "md:technicalInfo")
    for key, value in entries:
        if value is not None:
            _sub(info, "md:entry", key=key, value=value)
    return root


def _write_person(parent: ET.Element, tag: str, person: str) -> ET.Element:
    element = _sub(parent, tag)
    last, sep, first = person.partition(", ")
    _sub(element, "md:lastName", last)
    _add(element, "md:firstName", first if sep else None)
    return element


def _write_contact_person(parent: ET.Element, tag: str, text: str) -> None:
    """Write ``"Last, First (orcid URL, e-mail, URI)"`` with its contact elements."""
    match = _CONTACT.match(text)
    contact: dict[str, str] = {}
    for part in [p.strip() for p in match.group("contact").split(",")] if match else []:
        if part.startswith(_ORCID_URL):
            kind, value = "md:orcid", part[len(_ORCID_URL) :]
        elif "@" in part and "://" not in part:
            kind, value = "md:eMail", part
        elif "://" in part or part.startswith(("hdl:", "doi:")):
            kind, value = "md:URI", part
        else:
            kind, value = "", part
        if not kind or kind in contact:  # not a contact, or a second of its kind
            contact = {}
            break
        contact[kind] = value
    element = _write_person(parent, tag, match.group("name") if match and contact else text)
    for kind in ("md:eMail", "md:URI", "md:orcid"):
        _add(element, kind, contact.get(kind))


def _citation_source(meta: DatasetMetadata) -> str | None:
    """Return the publisher between the title and "PANGAEA" in the citation, if any."""
    if not meta.citation or not meta.title:
        return None
    start = meta.citation.find(meta.title)
    if start < 0:
        return None
    rest = meta.citation[start + len(meta.title) :].lstrip(".").strip()
    match = re.match(r"(.*?),\s*PANGAEA\b", rest)
    return match.group(1).strip() or None if match else None


def _write_reference(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = _sub(parent, tag)
    _sub(element, "md:title", text)
    uri = _URI_IN_TEXT.search(text)
    _add(element, "md:URI", uri.group(0).rstrip(".,;") if uri else None)
    return element


def _write_extent(parent: ET.Element, coverage: Mapping[str, str], topo: str | None) -> None:
    geographic = [(tag, coverage[key]) for tag, key in _BOUNDS if key in coverage]
    temporal = [(tag, coverage[key]) for tag, key in _TEMPORAL if key in coverage]
    elevations: dict[str, dict[str, tuple[str, str | None]]] = {}
    for key, value in coverage.items():
        word, _, name = key.partition(" ")
        amount = _AMOUNT.match(str(value).strip())
        if word in ("MINIMUM", "MAXIMUM") and name and amount:
            tag = "min" if word == "MINIMUM" else "max"
            elevations.setdefault(name, {})[tag] = (amount["number"], amount["unit"])
    if not (geographic or temporal or elevations or topo):
        return
    extent = _sub(parent, "md:extent")
    for part, pairs in (("md:geographic", geographic), ("md:temporal", temporal)):
        if pairs:
            element = _sub(extent, part)
            for tag, value in pairs:
                _sub(element, f"md:{tag}", str(value))
    for name, bounds in elevations.items():
        units = {unit for _, unit in bounds.values()}
        unit = units.pop() if len(units) == 1 else None
        element = _sub(extent, "md:elevation", name=name, unit=unit)
        for tag in ("min", "max"):
            _add(element, f"md:{tag}", bounds[tag][0] if tag in bounds else None)
    _add(extent, "md:topoType", topo)


def _split_term(text: str) -> tuple[str, str | None, str | None]:
    """Split ``"name (optional) (URI: uri)"`` into its three parts (None where absent)."""
    uri = optional = None
    match = _TERM_URI.match(text)
    if match:
        text, uri = match.group("rest"), match.group("uri")
    match = _TERM_OPTIONAL.match(text)
    if match:
        text, optional = match.group("name"), match.group("optional")
    return text, optional, uri


def _write_term(parent: ET.Element, tag: str, text: str | None) -> None:
    if text is None:
        return
    element = _sub(parent, tag)
    name, optional, uri = _split_term(text)
    _sub(element, "md:name", name)
    _add(element, "md:optionalName", optional)
    _add(element, "md:URI", uri)


def _write_project(parent: ET.Element, text: str, index: int) -> None:
    element = _sub(parent, "md:project", id=f"project{index}")  # pangaeapy needs the id
    name, label, uri = _split_term(text)
    _sub(element, "md:label", label if label is not None else name)
    _sub(element, "md:name", name)
    _add(element, "md:URI", uri)


def _write_event(parent: ET.Element, event: Event) -> None:
    element = _sub(parent, "md:event")
    _sub(element, "md:label", event.label)
    for tag, name in _EVENT_FIELDS:
        value = getattr(event, name)
        if value is not None and not tag.startswith("dateTime"):
            value = str(value) if isinstance(value, int) else repr(float(value))
        _add(element, f"md:{tag}", value)
    for name, value in event.attributes.items():
        _sub(element, "md:attribute", str(value), name=name)
    for term in _EVENT_TERMS:
        _write_term(element, f"md:{term}", getattr(event, term))
    _add(element, "md:comment", event.comment)


def _write_parameter(parent: ET.Element, col: int, parameter: Parameter) -> None:
    element = _sub(
        parent,
        "md:matrixColumn",
        col=str(col),
        source="geocode" if parameter.geocode else "data",
        type=parameter.type,
        format=parameter.format,
    )
    described = _sub(element, "md:parameter")
    _sub(described, "md:name", parameter.name)
    _sub(described, "md:shortName", parameter.short_name)
    _add(described, "md:unit", parameter.unit)
    if parameter.pi is not None:
        _write_contact_person(element, "md:PI", parameter.pi)
    _write_term(element, "md:method", parameter.method)
    _add(element, "md:comment", parameter.comment)
    _sub(element, "md:caption", parameter.label)
