"""The work behind ``EcotaxaSource.filters`` and ``EcotaxaSource.query``, without HTTP.

:class:`~awiml.archives.ecotaxa.EcotaxaSource` makes the requests and hands each function here
what it needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import InvalidDataError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_QUERY_FIELDS",
    "QUERY_FIELDS",
    "as_text",
    "check_page",
    "pick_taxon",
    "query_columns",
    "read_objects",
    "status_filter",
    "translate_filters",
]

logger = logging.getLogger(__name__)

#: Friendly column names of :meth:`EcotaxaSource.query` and the EcoTaxa fields behind them.
QUERY_FIELDS: Mapping[str, str] = {
    "object_id": "obj.orig_id",
    "latitude": "obj.latitude",
    "longitude": "obj.longitude",
    "date": "obj.objdate",
    "time": "obj.objtime",
    "depth_min": "obj.depth_min",
    "depth_max": "obj.depth_max",
    "status": "obj.classif_qual",
    "category": "txo.display_name",
    "img_file_name": "img.file_name",
    "taxon_id": "obj.classif_id",
    "taxon_name": "txo.name",
    "img_width": "img.width",
    "img_height": "img.height",
    "sample_id": "sam.orig_id",
    "acq_id": "acq.orig_id",
}

#: The columns :meth:`EcotaxaSource.query` returns by default (plus the project's free columns).
DEFAULT_QUERY_FIELDS: tuple[str, ...] = (
    "object_id", "latitude", "longitude", "date", "time", "depth_min", "depth_max",
    "status", "category", "img_file_name",
)

_FLOAT_FIELDS = frozenset({"obj.latitude", "obj.longitude", "obj.depth_min", "obj.depth_max"})
_STATUS_WORDS = {"V": "validated", "P": "predicted", "D": "dubious"}
#: The status sets EcoTaxa's ``statusfilter`` accepts (ecotaxa_back's ObjectSetFilter).
_STATUS_SETS: Mapping[str, frozenset[str]] = {
    "V": frozenset("V"), "P": frozenset("P"), "D": frozenset("D"), "U": frozenset("U"),
    "NV": frozenset("PDU"), "PV": frozenset("PV"), "UP": frozenset("UP"),
    "PVD": frozenset("PVD"),
}
_STATUS_CODES = {"validated": "V", "predicted": "P", "dubious": "D", "unclassified": "U",
                 "not_validated": "NV"}
#: Depth in metres standing for "no lower limit" of a depth range (deeper than any ocean).
_DEEPEST = 12000
_FRIENDLY = frozenset({"taxa", "status", "bbox", "depth", "dates"})


def as_text(value: Any) -> str:
    """Write one filter value as EcoTaxa wants it: text, lists joined by commas, ``Y``/``N``.

    Examples
    --------
    >>> as_text(True), as_text([1, 2]), as_text(0.5)
    ('Y', '1,2', '0.5')
    """
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(as_text(v) for v in value)
    return str(value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def status_filter(status: Any) -> str:
    """Turn one status or a collection of them into the ``statusfilter`` EcoTaxa knows.

    Parameters
    ----------
    status : str or collection of str
        As the ``status`` filter of :meth:`EcotaxaSource.filters
        <awiml.archives.ecotaxa.EcotaxaSource.filters>` (a list, or a comma-separated string).

    Returns
    -------
    str
        One of ``V``, ``P``, ``D``, ``U``, ``NV``, ``PV``, ``UP`` and ``PVD``.

    Raises
    ------
    InvalidDataError
        An unknown status, or statuses EcoTaxa cannot filter on together.

    Examples
    --------
    >>> status_filter(["predicted", "validated"])
    'PV'
    """
    codes: set[str] = set()
    for item in _as_list(status):
        text = str(item).strip()
        code = _STATUS_CODES.get(text.casefold(), text.upper())
        if code in _STATUS_SETS:
            codes |= _STATUS_SETS[code]
        else:
            raise InvalidDataError(
                f"unknown status {item!r}: use V/validated, P/predicted, D/dubious, "
                "U/unclassified or NV/not_validated"
            )
    for code, members in _STATUS_SETS.items():
        if members == codes:
            return code
    raise InvalidDataError(
        f"EcoTaxa cannot filter on the statuses {sorted(codes)} together; it knows one status, "
        "validated+predicted (PV), unclassified+predicted (UP), validated+predicted+dubious "
        "(PVD) and not validated (NV). Query without a status filter and select in pandas."
    )


def pick_taxon(name: str, found: Any) -> int:
    """Choose the taxon a name means among the answers of ``GET /taxa/search``.

    Parameters
    ----------
    name : str
        The taxon name the caller gave.
    found : Any
        EcoTaxa's reply: a list of ``{"id": ..., "text": ...}`` (``text`` is
        ``name<parent`` for a homonym).

    Returns
    -------
    int
        The id of the one taxon whose name matches, ignoring case.

    Raises
    ------
    NotFoundError
        No taxon has this name (close matches are named).
    InvalidDataError
        Several taxa have it; the message lists them with their ids.

    Examples
    --------
    >>> pick_taxon("copepoda", [{"id": 25828, "text": "Copepoda"},
    ...                         {"id": 61973, "text": "Copepoda X"}])
    25828
    """
    candidates = [t for t in found if isinstance(t, Mapping)] if isinstance(found, list) else []
    wanted = name.casefold()
    exact = [t for t in candidates if str(t.get("text", "")).casefold() == wanted
             or str(t.get("text", "")).split("<")[0].strip().casefold() == wanted]
    if len(exact) == 1:
        return int(exact[0]["id"])
    shown = ", ".join(f"{t.get('text')} (id {t.get('id')})" for t in (exact or candidates)[:8])
    if not exact:
        raise NotFoundError(
            f"EcoTaxa knows no taxon named {name!r}"
            + (f"; close matches: {shown}" if shown else "")
            + ". Give the exact name or the taxon id."
        )
    raise InvalidDataError(
        f"the taxon name {name!r} is ambiguous in EcoTaxa: {shown}. Give the taxon id."
    )


def translate_filters(
    filters: Mapping[str, Any] | None, taxon_id: Callable[[Any], int]
) -> dict[str, str]:
    """Translate filters into EcoTaxa's ``ProjectFilters`` (all values are strings).

    Parameters
    ----------
    filters : mapping, optional
        As described in :meth:`EcotaxaSource.filters
        <awiml.archives.ecotaxa.EcotaxaSource.filters>`.
    taxon_id : callable
        Turns one taxon (a name or an id) into its id; called for each
        member of ``taxa``.

    Returns
    -------
    dict of str to str
        The filters as EcoTaxa expects them.

    Raises
    ------
    InvalidDataError
        A status, box or range that cannot be translated.

    Examples
    --------
    >>> translate_filters({"taxa": [25828], "depth": (None, 200)}, int)
    {'taxo': '25828', 'taxochild': 'Y', 'depthmin': '0', 'depthmax': '200'}
    """
    given = dict(filters or {})
    out = {k: as_text(v) for k, v in given.items() if k not in _FRIENDLY and v is not None}
    if given.get("taxa") is not None:
        ids = [taxon_id(t) for t in _as_list(given["taxa"])]
        out["taxo"] = ",".join(str(i) for i in ids)
        out.setdefault("taxochild", "Y")
    if given.get("status") is not None:
        out["statusfilter"] = status_filter(given["status"])
    if given.get("bbox") is not None:
        try:
            min_lat, min_lon, max_lat, max_lon = (float(v) for v in given["bbox"])
        except (TypeError, ValueError):
            raise InvalidDataError(
                f"bbox must be (min_lat, min_lon, max_lat, max_lon), got {given['bbox']!r}"
            ) from None
        out.update(MapS=as_text(min_lat), MapW=as_text(min_lon),
                   MapN=as_text(max_lat), MapE=as_text(max_lon))
    for key, (low, high) in (("depth", ("depthmin", "depthmax")),
                             ("dates", ("fromdate", "todate"))):
        if given.get(key) is None:
            continue
        try:
            first, second = given[key]
        except (TypeError, ValueError):
            raise InvalidDataError(
                f"{key} must be a pair (from, to), got {given[key]!r}"
            ) from None
        if key == "depth":
            # EcoTaxa applies a depth range only when both ends are given.
            first = 0 if first is None else first
            second = _DEEPEST if second is None else second
        if first is not None:
            out[low] = as_text(first)
        if second is not None:
            out[high] = as_text(second)
    return out


def query_columns(meta: Mapping[str, Any], fields: Sequence[str] | None) -> list[tuple[str, str]]:
    """Return the ``(column, EcoTaxa field)`` pairs of a query.

    Parameters
    ----------
    meta : mapping
        EcoTaxa's project object; its ``obj_free_cols`` names the free columns.
    fields : sequence of str or None
        As for :meth:`EcotaxaSource.query`.

    Returns
    -------
    list of tuple of str
        The columns in order. A free column whose name is also a friendly
        name is called ``free_<name>``.

    Raises
    ------
    InvalidDataError
        A field that is none of the above.

    Examples
    --------
    >>> query_columns({"obj_free_cols": {"area": "n01"}}, ["category", "area"])
    [('category', 'txo.display_name'), ('area', 'fre.area')]
    """
    free = list((meta.get("obj_free_cols") or {}).keys())
    free_names = {name: (f"free_{name}" if name in QUERY_FIELDS else name) for name in free}
    if fields is None:
        chosen = [(name, QUERY_FIELDS[name]) for name in DEFAULT_QUERY_FIELDS]
        return chosen + [(free_names[name], f"fre.{name}") for name in free]
    columns = []
    for item in fields:
        if item in QUERY_FIELDS:
            columns.append((item, QUERY_FIELDS[item]))
        elif item in free_names:
            columns.append((free_names[item], f"fre.{item}"))
        elif "." in item:
            prefix, _, rest = item.partition(".")
            columns.append((free_names.get(rest, rest) if prefix == "fre" else item, item))
        else:
            raise InvalidDataError(
                f"unknown field {item!r}: use one of {sorted(QUERY_FIELDS)}, a free column "
                f"of the project ({free}), or an EcoTaxa field such as 'obj.depth_min'"
            )
    return columns


def check_page(reply: Any, projid: int) -> Mapping[str, Any]:
    """Return a reply of ``POST /object_set/{projid}/query`` once sure it has ``object_ids``.

    Raises
    ------
    InvalidDataError
        It has none.

    Examples
    --------
    >>> check_page({"object_ids": [], "total_ids": 0}, 1)["total_ids"]
    0
    """
    if not isinstance(reply, Mapping) or "object_ids" not in reply:
        raise InvalidDataError(f"EcoTaxa's query reply for project {projid} has no object_ids")
    return reply


def read_objects(
    get_page: Callable[[int, int], Mapping[str, Any]],
    projid: int,
    columns: Sequence[tuple[str, str]],
    page_size: int,
) -> tuple[pd.DataFrame, int]:
    """Page through a query until EcoTaxa's ``total_ids`` and build the table.

    Parameters
    ----------
    get_page : callable
        ``get_page(window_start, window_size)`` sends one query for the
        fields of ``columns``, in their order, and returns the checked reply
        (``object_ids``, ``details``, ``total_ids``).
    projid : int
        The project, for messages.
    columns : sequence of (str, str)
        The ``(column, EcoTaxa field)`` pairs from :func:`query_columns`.
    page_size : int
        Objects per request.

    Returns
    -------
    pandas.DataFrame
        The table :meth:`EcotaxaSource.query` describes, without ``attrs``.
    int
        EcoTaxa's ``total_ids``.

    Raises
    ------
    InvalidDataError
        A reply whose ids and details differ in number.

    Examples
    --------
    >>> rows = {0: {"object_ids": [7, 8], "details": [["a", "V"], ["b", "P"]], "total_ids": 3},
    ...         2: {"object_ids": [9], "details": [["c", None]], "total_ids": 3}}
    >>> table, total = read_objects(lambda start, size: rows[start], 1,
    ...                             [("object_id", "obj.orig_id"), ("status", "obj.classif_qual")],
    ...                             page_size=2)
    >>> total, table["status"].tolist()
    (3, ['validated', 'predicted', nan])
    """
    import pandas as pd

    names = [name for name, _ in columns]
    ids: list[int] = []
    rows: list[list[Any]] = []
    total = 0
    while True:
        reply = get_page(len(ids), page_size)
        page_ids = list(reply.get("object_ids") or [])
        details = list(reply.get("details") or [])
        if len(details) != len(page_ids):
            raise InvalidDataError(
                f"EcoTaxa's query reply for project {projid} has {len(page_ids)} ids but "
                f"{len(details)} rows of details"
            )
        total = int(reply.get("total_ids", len(ids) + len(page_ids)))
        ids += page_ids
        rows += details
        if not page_ids or len(ids) >= total:
            break
    if len(ids) != total:
        logger.warning("project %s: EcoTaxa announced %d objects but %d were listed (did "
                       "the project change while paging?)", projid, total, len(ids))
    frame = pd.DataFrame(rows, columns=names, index=pd.Index(ids, name="objid"))
    for name, field in columns:
        if field in _FLOAT_FIELDS:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif field == "obj.classif_qual" and name == "status":
            frame[name] = frame[name].map(_STATUS_WORDS).astype("object")
        elif field == "obj.objdate" and name == "date":
            frame[name] = pd.to_datetime(frame[name], format="%Y-%m-%d", errors="coerce")
    return frame, total
