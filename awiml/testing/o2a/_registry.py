"""The emulated O2A registry: items, their parameters, events and contacts; RSQL; ``@uuid``.

Items are kept as plain dicts whose shared parts (a unit, a type, a status) are the
same dict objects, each with an ``"@uuid"``. :func:`serialise` writes one answer the way
the registry's Jackson serialiser does: the first occurrence of an object whole, every
later one in the same answer as its uuid string only.

The RSQL subset (:func:`parse_where`) is what awiml and the public notebooks send:
``code=LIKE=<pattern>`` (``*`` any run of characters, case-insensitive),
``code==<code>`` (case-insensitive), ``id==<n>`` and ``parent.id==<n>``, joined with
``;`` (and). Anything else is refused with 400.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from ...archives.o2a._references import UUID_KEY, resolve_references
from .._http import RefusedRequest

__all__ = ["Registry", "parse_where", "serialise"]

_NAMESPACE = uuid.UUID("0c5e3a1e-6f1b-4c55-9a57-7f2a6f0b2a14")
_DATA = "awiml.testing.o2a"


def stable_uuid(name: str) -> str:
    """Return a uuid derived from ``name`` (the same in every run)."""
    return str(uuid.uuid5(_NAMESPACE, name))


def serialise(answer: Any) -> Any:
    """Return ``answer`` with every repeated ``@uuid`` object replaced by its uuid string.

    Parameters
    ----------
    answer : object
        Decoded JSON whose shared objects carry ``"@uuid"``.

    Returns
    -------
    object
        A copy: each object with an ``@uuid`` whole at its first occurrence (in
        document order), the uuid string at every later one.

    Examples
    --------
    >>> unit = {"@uuid": "u1", "code": "%"}
    >>> serialise([{"unit": unit}, {"unit": unit}])
    [{'unit': {'@uuid': 'u1', 'code': '%'}}, {'unit': 'u1'}]
    """
    seen: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            key = node.get(UUID_KEY)
            if isinstance(key, str):
                if key in seen:
                    return key
                seen.add(key)
            return {name: walk(value) for name, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return walk(answer)


_CLAUSE = re.compile(r"\s*(code|id|parent\.id)\s*(=LIKE=|==)\s*(.*?)\s*", re.IGNORECASE)


def parse_where(where: str) -> Callable[[dict[str, Any]], bool]:
    """Turn an RSQL ``where`` into a predicate on items.

    Parameters
    ----------
    where : str
        Clauses ``code=LIKE=<pattern>``, ``code==<code>``, ``id==<n>``,
        ``parent.id==<n>`` joined with ``;``.

    Returns
    -------
    callable
        ``predicate(item) -> bool``.

    Raises
    ------
    RefusedRequest
        400, naming the clause it cannot read.

    Examples
    --------
    >>> keep = parse_where("code=LIKE=vessel:*;parent.id==456")
    >>> keep({"code": "vessel:mya_ii:motion", "parentId": 456})
    True
    >>> keep({"code": "station:x", "parentId": 456})
    False
    """
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for clause in where.split(";"):
        match = _CLAUSE.fullmatch(clause)
        if match is None or not match.group(3):
            raise RefusedRequest(
                400,
                f"cannot parse where clause {clause!r}: supported are code=LIKE=<pattern>, "
                "code==<code>, id==<n> and parent.id==<n>, joined with ';'",
            )
        name, operator, value = match.group(1).lower(), match.group(2).upper(), match.group(3)
        value = value.strip("'\"")
        if name == "code":
            wanted = value.lower()
            if operator == "=LIKE=":
                pattern = re.compile(fnmatch.translate(wanted.replace("[", "[[]")), re.S)
                tests.append(lambda item, p=pattern: bool(p.match(str(item["code"]).lower())))
            else:
                tests.append(lambda item, w=wanted: str(item["code"]).lower() == w)
            continue
        if operator != "==" or not re.fullmatch(r"-?\d{1,18}", value):
            raise RefusedRequest(400, f"{name} needs == and an integer, got {clause!r}")
        number = int(value)
        field = "id" if name == "id" else "parentId"
        tests.append(lambda item, f=field, n=number: item.get(f) == n)
    return lambda item: all(test(item) for test in tests)


class Registry:
    """Items with their parameters, events and contacts, answered as the registry does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: dict[int, dict[str, Any]] = {}
        self.parts: dict[tuple[int, str], list[dict[str, Any]]] = {}

    def add_item(
        self,
        item: dict[str, Any],
        *,
        parameters: Iterable[dict[str, Any]] = (),
        events: Iterable[dict[str, Any]] = (),
        contacts: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Register ``item`` (a dict with ``id`` and ``code``) and its sub-resources."""
        ident = int(item["id"])
        with self._lock:
            self.items[ident] = item
            self.parts[(ident, "parameters")] = list(parameters)
            self.parts[(ident, "events")] = list(events)
            self.parts[(ident, "contacts")] = list(contacts)

    def find(self, where: str | None) -> list[dict[str, Any]]:
        """Items matching ``where`` (every item when None), by id."""
        keep = parse_where(where) if where is not None and where.strip() else (lambda item: True)
        with self._lock:
            items = sorted(self.items.values(), key=lambda item: item["id"])
        return [item for item in items if keep(item)]

    def item(self, ident: int) -> dict[str, Any] | None:
        """Return the item with id ``ident``, or None."""
        with self._lock:
            return self.items.get(ident)

    def part(self, ident: int, name: str) -> list[dict[str, Any]]:
        """Return the parameters, events or contacts of item ``ident``."""
        with self._lock:
            return list(self.parts.get((ident, name), []))

    def by_code(self, code: str) -> dict[str, Any] | None:
        """Return the item whose code is ``code`` (case-insensitive), or None."""
        wanted = code.lower()
        with self._lock:
            return next((i for i in self.items.values() if i["code"].lower() == wanted), None)


# --------------------------------------------------------------------------- #
# The sample registry: real items of Mya II, plausible ones for the other sensors
# --------------------------------------------------------------------------- #


def _real(name: str) -> Any:
    text = importlib.resources.files(_DATA).joinpath("data", name).read_text("utf-8")
    return json.loads(text)


def _shared(kind: str, key: str, **fields: Any) -> dict[str, Any]:
    return {UUID_KEY: stable_uuid(f"{kind}:{key}"), **fields}


#: Units of the sample sensors: code -> (name, ucum); ``%`` is the registry's real unit 12.
_UNITS = {
    "°C": ("degree Celsius", "Cel"),
    "hPa": ("hectopascal", "hPa"),
    "dbar": ("decibar", "dbar"),
    "mS/cm": ("millisiemens per centimetre", "mS/cm"),
    "µg/L": ("microgram per litre", "ug/L"),
    "FTU": ("formazin turbidity unit", "[FTU]"),
    "PSU": ("practical salinity unit", "[psu]"),
    "mg/l": ("milligram per litre", "mg/L"),
    "ml/l": ("millilitre per litre", "mL/L"),
    "µmol/l": ("micromole per litre", "umol/L"),
}


def sample_registry() -> tuple[Registry, dict[str, dict[str, Any]]]:
    """Build the sample registry.

    Returns
    -------
    Registry
        Items for every device and platform of the sample sensors.
    dict
        Parameter of every sample sensor code (``<item code>:<shortName>``).
    """
    registry = Registry()
    real_item = _real("registry_item_560_optode.json")
    # The notebook added "urn" (item code + ":" + shortName) to each parameter: not served.
    real_params = [{k: v for k, v in p.items() if k != "urn"}
                   for p in _real("registry_item_560_parameters_slice1-3.json")]
    real_events = _real("registry_item_560_events_slice1-2.json")
    real_contacts = _real("registry_item_8767_contacts.json")
    real_children = _real("registry_items_where_parent_id_456.json")

    # Objects the real slices refer to but do not contain: defined here, plausibly.
    percent = real_params[0]["unit"]
    units: dict[str, dict[str, Any]] = {"%": percent}
    units["µmol/l"] = {
        UUID_KEY: "acbd5aa2-df76-4194-843c-e05018798220", "id": 31, "code": "µmol/l",
        "name": "micromole per litre", "typicalUse": "concentration", "ucum": "umol/L",
        "mathML": "{µmol/l}", "visible": True,
    }
    for number, (code, (name, ucum)) in enumerate(sorted(_UNITS.items()), start=900):
        units.setdefault(code, _shared("unit", code, id=number, code=code, name=name,
                                       typicalUse="measurement", ucum=ucum,
                                       mathML="{" + code + "}", visible=True))
    sample = resolve_references(
        {"item": real_item, "children": real_children, "params": real_params,
         "events": real_events, "contacts": real_contacts,
         "defs": [units["µmol/l"], _parameter_type("c32366c1-87c1-4fee-8bd1-42420a01c6aa",
                                                  "oxygen concentration", 222)]}
    )
    status = sample["item"]["status"]
    device_group = sample["item"]["type"]["vocableGroup"]
    deployment = sample["events"][0]["type"]
    contacts = sample["contacts"]
    units["%"] = sample["params"][0]["unit"]
    units["µmol/l"] = sample["params"][1]["unit"]

    def item_type(name: str, number: int) -> dict[str, Any]:
        return _shared("type", name, id=number, lastModified="2020-11-18T08:16:20.751",
                       generalName=name, systemName=name.replace(" ", "_"), description="",
                       vocabulary="AWI", vocableValue="AWI", vocableGroup=device_group)

    vessel, station = item_type("vessel", 901), item_type("station", 902)

    def item(ident: int, code: str, short: str, long: str, parent: int | None,
             kind: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = {UUID_KEY: stable_uuid(f"item:{code}"), "id": ident,
                "created": "2014-09-30T22:00:00", "lastModified": "2024-01-17T18:17:13.759",
                "code": code, "shortName": short, "longName": long, "description": "",
                "model": extra.pop("model", ""), "manufacturer": extra.pop("manufacturer", ""),
                "serialNumber": extra.pop("serialNumber", ""), "inventoryNumber": "",
                "citation": f"10013/sensor.{stable_uuid('citation:' + code)}",
                "status": status, "type": kind, "version": 1, "itemProperties": []}
        if parent is not None:
            body["parentId"] = parent
        body.update(extra)
        return body

    parameters: dict[str, dict[str, Any]] = {}
    parameter_types: dict[str, dict[str, Any]] = {}

    def parameter(item_code: str, ident: int, name: str, short: str, unit: str,
                  kind: str) -> dict[str, Any]:
        if kind not in parameter_types:
            parameter_types[kind] = _parameter_type(
                stable_uuid(f"ptype:{kind}"), kind, 800 + len(parameter_types))
        body = {UUID_KEY: stable_uuid(f"parameter:{item_code}:{short}"), "id": ident,
                "name": name, "shortName": short, "unit": units[unit],
                "type": parameter_types[kind], "properties": []}
        parameters[f"{item_code}:{short}"] = body
        return body

    def event(item_code: str, ident: int, start: str, end: str | None, lat: float,
              lon: float, label: str) -> dict[str, Any]:
        return {UUID_KEY: stable_uuid(f"event:{item_code}:{ident}"), "id": ident,
                "startDate": start, "endDate": end, "latitude": lat, "longitude": lon,
                "elevation": 0.0, "label": label, "description": "", "type": deployment}

    def contact_records(item_code: str, people: Iterable[dict[str, Any]]) -> list[dict]:
        return [{UUID_KEY: stable_uuid(f"contact:{item_code}:{n}"), "id": 30000 + n,
                 "contact": record["contact"], "role": record["role"]}
                for n, record in enumerate(people)]

    # Mya II: the real platform children, their real parent (plausible) and item 560.
    registry.add_item(item(456, "vessel:mya_ii", "Mya_II", "Research vessel Mya II", None,
                           vessel))
    for child in sample["children"]:
        registry.add_item(child)
    optode = sample["item"]
    # records[0] (not recovered) defined the unit and type that o2_corr refers to:
    # an oxygen concentration in µmol/l. The optode's temperature is added at the end.
    parameter_types["oxygen concentration"] = sample["params"][1]["type"]
    oxygen = parameter(optode["code"], 651, "O2", "o2", "µmol/l", "oxygen concentration")
    for real in sample["params"]:
        parameters[f"{optode['code']}:{real['shortName']}"] = real
    temperature = parameter(optode["code"], 760, "Temperature", "temperature", "°C",
                            "water temperature")
    registry.add_item(optode, parameters=[oxygen, *sample["params"], temperature],
                      events=sample["events"],
                      contacts=contact_records(optode["code"], contacts[:3]))

    # Heincke, Polarstern and the AWIPEV underwater observatory: plausible items.
    heincke_contacts = contact_records("vessel:heincke:dwd", contacts[:2])
    registry.add_item(item(9100, "vessel:heincke", "Heincke", "Research vessel Heincke",
                           None, vessel))
    registry.add_item(
        item(9101, "vessel:heincke:dwd", "DWD", "DWD weather station Heincke", 9100,
             item_type("weather station", 903), manufacturer="Deutscher Wetterdienst"),
        parameters=[
            parameter("vessel:heincke:dwd", 9111, "Air temperature", "air_temperature", "°C",
                      "air temperature"),
            parameter("vessel:heincke:dwd", 9112, "Air pressure", "air_pressure", "hPa",
                      "air pressure"),
        ],
        events=[event("vessel:heincke:dwd", 91101, "2014-10-01T00:00:00", None, 54.1781,
                      7.8897, "Heincke DWD station installed (Helgoland)")],
        contacts=heincke_contacts,
    )
    registry.add_item(item(9200, "vessel:polarstern", "Polarstern",
                           "Research vessel Polarstern", None, vessel))
    registry.add_item(
        item(9201, "vessel:polarstern:tsg", "TSG", "Thermosalinograph Polarstern", 9200,
             item_type("thermosalinograph", 904), model="SBE 21",
             manufacturer="Sea-Bird Electronics"),
        parameters=[
            parameter("vessel:polarstern:tsg", 9211, "Temperature", "temperature", "°C",
                      "water temperature"),
            parameter("vessel:polarstern:tsg", 9212, "Salinity", "salinity", "PSU",
                      "salinity"),
        ],
        events=[
            event("vessel:polarstern:tsg", 92101, "2015-01-01T00:00:00", "2016-12-15T23:59:59",
                  53.5396, 8.5809, "TSG installed (Bremerhaven)"),
            event("vessel:polarstern:tsg", 92102, "2016-12-16T18:20:00", "2017-01-30T18:10:00",
                  -34.0464, 18.1750, "PS103 (ANT-XXXII/2)"),
        ],
        contacts=contact_records("vessel:polarstern:tsg", contacts[2:3]),
    )
    registry.add_item(item(9300, "station:svluwobs", "SVLUWOBS",
                           "AWIPEV underwater observatory, Spitsbergen", None, station))
    registry.add_item(item(9301, "station:svluwobs:svluw2", "SVLUW2",
                           "Underwater node 2, Kongsfjorden", 9300,
                           item_type("observatory node", 905)))
    ctd_code = "station:svluwobs:svluw2:ctd_181"
    ctd_parameters = [
        parameter(ctd_code, 9311 + n, name, short, unit, kind)
        for n, (name, short, unit, kind) in enumerate(CTD_PARAMETERS)
    ]
    registry.add_item(
        item(9302, ctd_code, "CTD_181", "CTD 181 at node 2", 9301,
             item_type("CTD", 906), model="SBE 16plus", manufacturer="Sea-Bird Electronics",
             serialNumber="181"),
        parameters=ctd_parameters,
        events=[event(ctd_code, 93101, "2012-07-01T00:00:00", None, 78.9303, 11.9201,
                      "CTD 181 deployed at SVLUW2")],
        contacts=contact_records(ctd_code, contacts[:1]),
    )
    return registry, parameters


#: The AWIPEV CTD's parameters: (name, shortName, unit, parameter type), as in the
#: legacy sensor list of the data service.
CTD_PARAMETERS = (
    ("Conductivity", "conductivity", "mS/cm", "conductivity"),
    ("Pressure", "pressure", "dbar", "water pressure"),
    ("Temperature", "temperature", "°C", "water temperature"),
    ("Oxygen concentration", "oxygen_concentration", "%", "oxygen saturation"),
    ("Chlorophyll concentration", "chlorophyll_concentration", "µg/L", "chlorophyll"),
    ("Turbidity", "turbidity", "FTU", "turbidity"),
    ("Salinity", "salinity", "PSU", "salinity"),
    ("Oxygen (mg/l)", "oxygen_mg", "mg/l", "oxygen concentration"),
    ("Oxygen (ml/l)", "oxygen_ml", "ml/l", "oxygen concentration"),
)


def _parameter_type(key: str, name: str, number: int) -> dict[str, Any]:
    return {UUID_KEY: key, "id": number, "lastModified": "2022-09-13T17:03:16.577",
            "generalName": name, "systemName": name.replace(" ", "_"), "description": "",
            "vocabulary": "NERC", "vocableValue": "", "vocableGroup":
            "b876cf1e-b073-4569-9ab6-8fa33ff3108c"}

