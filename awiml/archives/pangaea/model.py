"""PANGAEA's vocabulary: dataset identifiers and the metadata of a dataset.

A text export's ``/* DATA DESCRIPTION: */`` header and a panmd XML record both
parse into one :class:`DatasetMetadata`: plain data, which :meth:`~DatasetMetadata.to_dict`
makes JSON-ready for ``DataFrame.attrs``, manifests and caches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ...errors import InvalidDataError

__all__ = [
    "DOI_PREFIX",
    "DatasetMetadata",
    "Event",
    "Parameter",
    "dataset_id",
    "normalize_doi",
]

#: The DOI prefix of every PANGAEA dataset.
DOI_PREFIX = "10.1594/PANGAEA."

_ID_PATTERNS = (
    re.compile(r"^\s*(\d+)\s*$"),
    re.compile(
        r"^\s*(?:doi:\s*|https?://(?:dx\.)?doi\.org/|https?://doi\.pangaea\.de/)?"
        r"10\.1594/PANGAEA\.(\d+)\s*/?\s*$",
        re.IGNORECASE,
    ),
    re.compile(r"^\s*pangaea://(\d+)(?:/.*)?$", re.IGNORECASE),
    re.compile(r"^\s*D(\d+)\s*$"),
)


def dataset_id(identifier: str | int) -> int:
    """Return the numeric id of a PANGAEA dataset from any of its identifier forms.

    Parameters
    ----------
    identifier : str or int
        ``10.1594/PANGAEA.<id>``, ``doi:10.1594/PANGAEA.<id>``,
        ``https://doi.org/10.1594/PANGAEA.<id>``,
        ``https://doi.pangaea.de/10.1594/PANGAEA.<id>``, ``pangaea://<id>``,
        ``D<id>`` (as in panmd's ``collectionChilds``) or the bare integer.

    Returns
    -------
    int
        The dataset id.

    Raises
    ------
    InvalidDataError
        If ``identifier`` is none of these forms (also a :class:`ValueError`).

    Examples
    --------
    >>> dataset_id("doi:10.1594/PANGAEA.889513")
    889513
    >>> dataset_id("https://doi.pangaea.de/10.1594/PANGAEA.889513")
    889513
    """
    if isinstance(identifier, bool):
        raise InvalidDataError(f"{identifier!r} is not a PANGAEA dataset identifier")
    if isinstance(identifier, int):
        if identifier <= 0:
            raise InvalidDataError(f"{identifier} is not a PANGAEA dataset id (ids are positive)")
        return identifier
    text = str(identifier)
    for pattern in _ID_PATTERNS:
        match = pattern.match(text)
        if match:
            return int(match.group(1))
    raise InvalidDataError(
        f"{text!r} is not a PANGAEA dataset identifier. Use a DOI such as "
        "'10.1594/PANGAEA.889513' (also with 'doi:' or 'https://doi.org/' in front) "
        "or the bare number, e.g. 889513."
    )


def normalize_doi(identifier: str | int) -> str:
    """Return the canonical DOI ``10.1594/PANGAEA.<id>`` for any identifier form.

    Parameters
    ----------
    identifier : str or int
        See :func:`dataset_id` for the accepted forms.

    Returns
    -------
    str
        The canonical DOI, without ``doi:`` or URL prefix.

    Examples
    --------
    >>> normalize_doi(889513)
    '10.1594/PANGAEA.889513'
    >>> normalize_doi("https://doi.org/10.1594/pangaea.889513")
    '10.1594/PANGAEA.889513'
    """
    return f"{DOI_PREFIX}{dataset_id(identifier)}"


@dataclass(frozen=True)
class Parameter:
    """One column of a PANGAEA data table.

    Parameters
    ----------
    name : str
        The long parameter name, e.g. ``"Temperature, water"``.
    short_name : str
        The short name used as column header, e.g. ``"Temp"``.
    unit : str or None
        The unit as PANGAEA writes it, e.g. ``"°C"``, ``"µmol/kg"``.
    geocode : bool
        Whether the column is a geocode (Date/Time, Latitude, Depth...).
    pi, method, comment : str or None
        Principal investigator (as written in the metadata), method or device,
        and the column comment.
    type : str or None
        ``"numeric"``, ``"string"``, ``"datetime"`` or ``"uri"`` where the
        panmd record says so; ``None`` when only the text header is known.
    format : str or None
        The panmd number format, e.g. ``"####0.00"``.

    Examples
    --------
    >>> Parameter("Temperature, water", "Temp", "°C").label
    'Temp [°C]'
    """

    name: str
    short_name: str
    unit: str | None = None
    geocode: bool = False
    pi: str | None = None
    method: str | None = None
    comment: str | None = None
    type: str | None = None
    format: str | None = None

    @property
    def label(self) -> str:
        """The column header PANGAEA writes: ``"<short name> [<unit>]"``."""
        return f"{self.short_name} [{self.unit}]" if self.unit else self.short_name


@dataclass(frozen=True)
class Event:
    """A sampling event (station, cast, track) of a dataset.

    Parameters
    ----------
    label : str
        The event label, e.g. ``"PS103_1-1"``.
    latitude, longitude : float or None
        Position of a point event, or the start of a track.
    latitude_end, longitude_end : float or None
        End position of a track event.
    datetime, datetime_end : str or None
        ISO 8601 start (or only) and end times as PANGAEA writes them (UTC).
    elevation : float or None
        Elevation in metres (negative below sea level).
    location, campaign, basis, device, comment : str or None
        Where, during which expedition, from which platform, with which
        method or device, and remarks.
    attributes : Mapping
        Any other ``KEY: value`` pairs of the event.
    """

    label: str
    latitude: float | None = None
    longitude: float | None = None
    latitude_end: float | None = None
    longitude_end: float | None = None
    datetime: str | None = None
    datetime_end: str | None = None
    elevation: float | None = None
    location: str | None = None
    campaign: str | None = None
    basis: str | None = None
    device: str | None = None
    comment: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetMetadata:
    """What PANGAEA says about a dataset, from the text header or the panmd record.

    Parameters
    ----------
    doi : str or None
        Canonical DOI (``10.1594/PANGAEA.<id>``); ``None`` for data-warehouse
        extracts, which have no DOI.
    title, abstract, comment : str or None
        The dataset's title, abstract and comment.
    citation : str or None
        The full citation as PANGAEA writes it.
    authors : tuple of str
        Authors as ``"Last, First"``.
    year : int or None
        Publication year.
    keywords, projects : tuple of str
        Keywords and projects.
    related : tuple of str
        References: "Related to", "Supplement to", "Further details" lines.
    coverage : Mapping of str to str
        Coverage values (``"MEDIAN LATITUDE"``, ``"DATE/TIME START"``...).
    events : tuple of Event
        The sampling events.
    parameters : tuple of Parameter
        The columns of the data table, in table order.
    license : str or None
        The licence, preferably its short label (``"CC-BY-4.0"``).
    size : str or None
        Size as PANGAEA states it, e.g. ``"8964 data points"``.
    restricted : bool
        Whether the data need a token (panmd ``loginOption``).
    login_option : str or None
        PANGAEA's wording of the access restriction.
    parent : str or None
        DOI of the collection this dataset belongs to.
    children : tuple of str
        DOIs of the datasets of a collection.
    last_modified : str or None
        The record's last modification stamp (for caching).
    extra : Mapping of str to str
        Header keys or technical information not modelled above.

    Examples
    --------
    >>> depth = Parameter("DEPTH, water", "Depth water", "m", geocode=True)
    >>> meta = DatasetMetadata(doi="10.1594/PANGAEA.1", parameters=(depth,))
    >>> DatasetMetadata.from_dict(meta.to_dict()) == meta
    True
    """

    doi: str | None = None
    title: str | None = None
    citation: str | None = None
    authors: tuple[str, ...] = ()
    year: int | None = None
    abstract: str | None = None
    keywords: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    coverage: Mapping[str, str] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    license: str | None = None
    size: str | None = None
    comment: str | None = None
    restricted: bool = False
    login_option: str | None = None
    parent: str | None = None
    children: tuple[str, ...] = ()
    last_modified: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_collection(self) -> bool:
        """Whether the dataset is a collection (it has children and no table of its own)."""
        return bool(self.children)

    def to_dict(self) -> dict[str, Any]:
        """Return the metadata as JSON-ready nested dictionaries and lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetMetadata:
        """Rebuild metadata written by :meth:`to_dict` (unknown keys are ignored).

        Parameters
        ----------
        data : Mapping
            The dictionary.

        Returns
        -------
        DatasetMetadata
            The metadata.
        """
        values = _known_fields(cls, data)
        values["events"] = tuple(Event(**_known_fields(Event, e)) for e in values.get("events", ()))
        values["parameters"] = tuple(
            Parameter(**_known_fields(Parameter, p)) for p in values.get("parameters", ())
        )
        for key in ("authors", "keywords", "related", "projects", "children"):
            values[key] = tuple(values.get(key, ()))
        for key in ("coverage", "extra"):
            values[key] = dict(values.get(key) or {})
        return cls(**values)


def _known_fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the items of ``data`` that are fields of the dataclass ``cls``."""
    known = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in known}
