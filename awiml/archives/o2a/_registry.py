"""The O2A registry: what a sensor is, on which platform, where it was deployed, who to ask.

The registry (``https://registry.o2a-data.de/rest/v2``) describes items (platforms,
devices, sensors) in a tree. Assumptions about it, from its public answers
(``tests/data/o2a``):

- lists come as ``{"totalRecords": n, "records": [...]}`` and are paged with
  ``offset`` and ``hits``; awiml asks for pages until it holds ``totalRecords``
  records or a page comes back empty;
- ``GET /items?where=code==<code>`` finds an item by code (RSQL), and
  ``GET /items/{id}`` answers one item; an item names its parent by ``parentId``
  (missing or ``null`` at the top, the platform);
- a sensor code of the data web service is ``<item code>:<parameter shortName>``;
  when the registry has no item for the code minus its last part, the longest
  shorter prefix it knows is taken (a sensor filed under its platform, say);
- ``GET /items/{id}/parameters``, ``/events`` (deployments: ``startDate``,
  ``endDate`` in UTC without zone, ``latitude``, ``longitude``, ``elevation``,
  ``label``, a ``type`` with ``generalName``) and ``/contacts`` (a ``contact``
  and its ``role``) are lists as above;
- within one answer a repeated object is sent whole once and afterwards as its
  ``@uuid`` string (:func:`~awiml.archives.o2a._references.resolve_references`
  puts it back; the pages of one list are resolved together).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import ArchiveUnavailableError, InvalidDataError, NotFoundError, redact_url
from ._codes import SensorCode
from ._references import resolve_references

if TYPE_CHECKING:
    import pandas as pd

    from .source import PlatformSource

#: Records asked for per page.
PAGE_SIZE = 100
#: Most records read from one list (a guard against a server that never ends).
MAX_RECORDS = 100_000
#: Most parents walked up from a device to its platform.
MAX_DEPTH = 32
#: The registry's failures that leave a part of the description missing.
MISSING = (ArchiveUnavailableError, InvalidDataError, NotFoundError)


@dataclass
class Description:
    """What the registry says about one sensor, and what it could not say.

    Attributes
    ----------
    item, parameter, platform : dict or None
        The device item, its parameter for the sensor, the item at the top of
        its tree; ``@uuid`` references resolved.
    events : list of dict
        Deployments and other events, oldest first (see :func:`event`).
    contacts : list of dict
        People to ask (see :func:`contact`).
    missing : list of str
        A sentence per part that could not be read, with the reason.
    """

    item: dict[str, Any] | None = None
    parameter: dict[str, Any] | None = None
    platform: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """Return the parts as the keys of ``PlatformSource.info``."""
        return {"item": self.item, "parameter": self.parameter, "platform": self.platform,
                "events": self.events, "contacts": self.contacts}


def describe(source: PlatformSource, code: SensorCode) -> Description:
    """Ask the registry about one sensor: item, parameter, platform, events, contacts.

    Parameters
    ----------
    source : PlatformSource
        Its ``registry_url`` and ``_get`` are used.
    code : SensorCode
        The sensor (``$NRT`` is ignored: a stream and its archive share an item).

    Returns
    -------
    Description
        Never raises for the registry's failures: an unreachable registry or an
        unknown item leaves the parts ``None`` or empty and says why in
        ``missing``. When the item cannot be looked up, nothing more is asked; a
        part that fails after that leaves the others.
    """
    found = Description()
    try:
        item, rest = find_item(source, code)
    except MISSING as exc:
        found.missing.append(f"the registry could not be read ({exc})")
        return found
    if item is None:
        found.missing.append(
            f"the registry has no item for {code.platform_type}:{code.platform}"
            f"{''.join(':' + d for d in code.devices)} or the items above it"
        )
        return found
    found.item = item
    ident = item.get("id")
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("platform", lambda: platform_of(source, item)),
        ("parameter", lambda: parameter_of(source, ident, code.parameter, rest)),
        ("events", lambda: events_of(source, ident)),
        ("contacts", lambda: [contact(r) for r in records(source, f"items/{ident}/contacts",
                                                          what=f"the contacts of item {ident}")]),
    ]
    for name, read in parts:
        try:
            setattr(found, name, read())
        except MISSING as exc:  # the other parts may still be there
            found.missing.append(f"the {name} could not be read ({exc})")
        else:
            if name == "parameter" and found.parameter is None:
                found.missing.append(f"item {item.get('code')!r} lists no parameter "
                                     f"{code.parameter!r}")
    return found


def records(
    source: PlatformSource, path: str, *, what: str, where: str | None = None
) -> list[dict[str, Any]]:
    """Read every page of a registry list; return its records, references resolved.

    Parameters
    ----------
    source : PlatformSource
        The source whose registry is asked.
    path : str
        Below the registry's base, e.g. ``"items"`` or ``"items/560/events"``.
    what : str
        What is asked for, for messages.
    where : str, optional
        An RSQL filter, e.g. ``"code==vessel:polarstern"``.

    Returns
    -------
    list of dict

    Raises
    ------
    InvalidDataError
        When an answer is not a ``{"totalRecords", "records"}`` object.
    ArchiveUnavailableError, NotFoundError
        As ``PlatformSource._get`` raises them.
    """
    found: list[Any] = []
    while len(found) < MAX_RECORDS:
        params: dict[str, Any] = {"offset": len(found), "hits": PAGE_SIZE}
        if where is not None:
            params["where"] = where
        answer = _answer(source, path, params, what)
        page = answer.get("records") if isinstance(answer, dict) else None
        total = answer.get("totalRecords") if isinstance(answer, dict) else None
        if not isinstance(page, list) or not isinstance(total, int):
            raise _unexpected(source, what, "a list of records ({'totalRecords', 'records'})")
        found += page
        if not page or len(found) >= total:
            break
    return [record for record in resolve_references(found) if isinstance(record, dict)]


def get_item(source: PlatformSource, ident: Any) -> dict[str, Any]:
    """Return one registry item by id, references resolved.

    Raises
    ------
    NotFoundError
        When the registry has no such item.
    InvalidDataError
        When the answer is not an item.
    """
    answer = _answer(source, f"items/{ident}", None, f"item {ident}")
    if not isinstance(answer, dict):
        raise _unexpected(source, f"item {ident}", "an item (a JSON object)")
    return resolve_references(answer)


def find_item(source: PlatformSource, code: SensorCode) -> tuple[dict[str, Any] | None, str]:
    """Find the item of a sensor: the code minus its last part, else shorter prefixes.

    Returns
    -------
    tuple of (dict or None, str)
        The item and the rest of the code after the item's code (the parameter,
        with the devices the registry does not know in front).
    """
    parts = [code.platform_type, code.platform, *code.devices]
    for size in range(len(parts), 1, -1):
        prefix = ":".join(parts[:size])
        for record in records(source, "items", where=f"code=={prefix}",
                              what=f"the item {prefix!r}"):
            if str(record.get("code", "")).strip().lower() == prefix:
                return record, ":".join([*parts[size:], code.parameter])
    return None, code.parameter


def platform_of(source: PlatformSource, device: dict[str, Any]) -> dict[str, Any]:
    """Walk up ``parentId`` from a device to the item at the top of its tree."""
    current = device
    seen = {current.get("id")}
    for _ in range(MAX_DEPTH):
        parent = current.get("parentId")
        if parent in (None, "", 0) or parent in seen:
            return current
        seen.add(parent)
        current = get_item(source, parent)
    return current


def parameter_of(
    source: PlatformSource, ident: Any, name: str, rest: str
) -> dict[str, Any] | None:
    """Return the parameter of item ``ident`` whose ``shortName`` is ``name`` (or ``rest``)."""
    wanted = {name.lower(), rest.lower()}
    for record in records(source, f"items/{ident}/parameters",
                          what=f"the parameters of item {ident}"):
        if str(record.get("shortName", "")).strip().lower() in wanted:
            return record
    return None


def events_of(source: PlatformSource, ident: Any) -> list[dict[str, Any]]:
    """Return the events of item ``ident`` (see :func:`event`), oldest first."""
    found = [event(r) for r in records(source, f"items/{ident}/events",
                                       what=f"the events of item {ident}")]
    return sorted(found, key=lambda e: (e["startDate"] is None, e["startDate"] or 0))


def event(record: dict[str, Any]) -> dict[str, Any]:
    """Reduce a registry event to its dates (UTC), position, label and type name.

    Examples
    --------
    >>> event({"id": 1, "startDate": "2020-08-31T05:14:00", "endDate": None,
    ...        "latitude": 53.9, "longitude": 8.7, "label": "M-1",
    ...        "type": {"generalName": "Deployment"}})["startDate"]
    Timestamp('2020-08-31 05:14:00+0000', tz='UTC')
    """
    return {
        "id": record.get("id"),
        "startDate": _time(record.get("startDate")),
        "endDate": _time(record.get("endDate")),
        "latitude": record.get("latitude"),
        "longitude": record.get("longitude"),
        "elevation": record.get("elevation"),
        "label": record.get("label"),
        "description": record.get("description"),
        "type": _name(record.get("type")),
    }


def contact(record: dict[str, Any]) -> dict[str, Any]:
    """Reduce a registry contact to the person, their organisation and role name.

    Examples
    --------
    >>> contact({"contact": {"firstName": "Philipp", "lastName": "Fischer"},
    ...          "role": {"generalName": "Principal Investigator"}})["role"]
    'Principal Investigator'
    """
    person = record.get("contact") if isinstance(record.get("contact"), dict) else {}
    return {
        "firstName": person.get("firstName"),
        "lastName": person.get("lastName"),
        "email": person.get("email"),
        "orcid": person.get("orcid") or None,
        "companyName": person.get("companyName"),
        "role": _name(record.get("role")),
    }


def _name(vocable: Any) -> str | None:
    """Return the name of a vocabulary term (a type, a role), or None."""
    if isinstance(vocable, dict):
        for key in ("generalName", "name", "systemName"):
            if isinstance(vocable.get(key), str) and vocable[key].strip():
                return vocable[key].strip()
    return None


def _time(value: Any) -> pd.Timestamp | None:
    import pandas as pd

    if not isinstance(value, str) or not value.strip():
        return None
    stamp = pd.to_datetime(value.strip(), utc=True, errors="coerce", format="ISO8601")
    return None if pd.isna(stamp) else stamp


def _answer(source: PlatformSource, path: str, params: dict[str, Any] | None,
            what: str) -> Any:
    """GET one registry answer as JSON; a refusal or a body that is not JSON raises."""
    url = f"{source.registry_url}/{path}"
    response = source._get(url, params=params, what=what, service="registry")
    with response:
        if response.status_code == 400:
            raise InvalidDataError(
                f"the O2A registry refused the request for {what} ({redact_url(response.url)}: "
                f"{response.text.strip()[:200]})"
            )
        try:
            return response.json()
        except ValueError:
            raise _unexpected(source, what, f"JSON ({redact_url(response.url)})") from None


def _unexpected(source: PlatformSource, what: str, expected: str) -> InvalidDataError:
    return InvalidDataError(
        f"the O2A registry's answer for {what} is not {expected}; is "
        f"{redact_url(source.registry_url)} the registry? Point registry_url (or "
        "AWIML_O2A_REGISTRY_URL) at https://registry.o2a-data.de/rest/v2 or a mirror."
    )
