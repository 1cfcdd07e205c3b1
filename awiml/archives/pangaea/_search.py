"""PANGAEA search: ``search.php`` pages, enriched from the Elasticsearch index.

``search.php`` results carry only a DOI, a score and an HTML snippet (citation,
size, ">N datasets<" for collections); one Elasticsearch request per
:data:`ENRICH_BATCH` hits then tells which datasets need a token
(``sp-loginOption``: 1 is unrestricted) and how many data points they hold.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ...errors import ArchiveUnavailableError, InvalidDataError
from .model import dataset_id, normalize_doi

if TYPE_CHECKING:
    import pandas as pd

    from .source import PangaeaSource

__all__ = ["search"]

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
#: Hits looked up per Elasticsearch request (keeps the query URL short).
ENRICH_BATCH = 100
COLUMNS = ["doi", "title", "citation", "restricted", "collection", "size", "score"]

_TAG = re.compile(r"<[^>]+>")
_CITATION_DIV = re.compile(r'<div class="citation">(.*?)</div>', re.DOTALL)
_SIZE_CELL = re.compile(
    r'<td class="key">\s*Size:\s*</td>\s*<td class="content">(.*?)</td>', re.DOTALL
)
_COLLECTION = re.compile(r">\s*(\d+)\s+datasets?\s*<")
_TITLE = re.compile(r"\(\d{4}[a-z]?\):\s*(?P<title>.+?)\.\s+(?:[A-Z][^.]*,\s*)?PANGAEA")


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def _title(citation: str) -> str | None:
    """Take the title from a citation ``Authors (year): Title. Publisher, PANGAEA, DOI``."""
    match = _TITLE.search(citation)
    if match:
        return match.group("title").strip()
    head = citation.split("): ", 1)
    return head[1].split(". ", 1)[0].strip() if len(head) == 2 else None


def _iso(value: str | date | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    try:
        return datetime.fromisoformat(str(value)).date().isoformat()
    except ValueError:
        raise InvalidDataError(
            f"{name}={value!r} is not an ISO date; write it like '2016-12-16'"
        ) from None


def _bbox_params(bbox: tuple[float, float, float, float]) -> dict[str, float]:
    try:
        min_lat, min_lon, max_lat, max_lon = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InvalidDataError(
            f"bbox={bbox!r} must be four numbers (min_lat, min_lon, max_lat, max_lon)"
        ) from None
    if not (-90 <= min_lat <= max_lat <= 90 and -180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise InvalidDataError(
            f"bbox={bbox!r} is not (min_lat, min_lon, max_lat, max_lon) in degrees: latitudes "
            "go from -90 to 90 with min <= max, longitudes from -180 to 180"
        )
    return {"minlat": min_lat, "minlon": min_lon, "maxlat": max_lat, "maxlon": max_lon}


def search(
    source: PangaeaSource,
    query: str = "",
    *,
    bbox: tuple[float, float, float, float] | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Search PANGAEA and return one row per dataset found.

    Parameters
    ----------
    query : str
        PANGAEA's query syntax, e.g. ``"PS103 thermosalinograph"``.
    bbox : tuple of float, optional
        ``(min_lat, min_lon, max_lat, max_lon)`` in degrees.
    start, end : str, optional
        ISO dates bounding the data's time coverage.
    limit : int, optional
        Most rows to return; pages of up to 500 are fetched as needed.

    Returns
    -------
    pandas.DataFrame
        Columns ``doi``, ``title``, ``citation``, ``restricted``,
        ``collection``, ``size`` and ``score``, in PANGAEA's order, with
        ``attrs["total"]`` the number of hits PANGAEA reports.
    """
    import pandas as pd

    if limit < 1:
        raise InvalidDataError(f"limit={limit} must be at least 1")
    dates = {"mindate": _iso(start, "start"), "maxdate": _iso(end, "end")}
    params: dict[str, Any] = {
        "q": query or "",
        **(_bbox_params(bbox) if bbox is not None else {}),
        **{key: value for key, value in dates.items() if value is not None},
    }
    rows: list[dict[str, Any]] = []
    total = 0
    while len(rows) < limit:
        page = dict(params, count=min(PAGE_SIZE, limit - len(rows)), offset=len(rows))
        with source._get(source.endpoints["search"], params=page,
                         what=f"the search {query!r}") as response:
            try:
                reply = response.json()
                total = int(reply["totalCount"])
                results = list(reply["results"])
            except (ValueError, KeyError, TypeError):
                raise InvalidDataError(
                    f"PANGAEA's search answered something that is not its JSON (status "
                    f"{response.status_code}); try again later"
                ) from None
        rows += [_row(result) for result in results]
        if not results or len(rows) >= total:
            break
    rows = rows[:limit]
    _enrich(source, rows)
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"restricted": "boolean", "size": "Int64"})
    table.attrs.update(total=total, query=query)
    return table


def _row(result: dict[str, Any]) -> dict[str, Any]:
    snippet = str(result.get("html", ""))
    match = _CITATION_DIV.search(snippet)
    citation = _text(match.group(1)) if match else _text(snippet)
    size_match = _SIZE_CELL.search(snippet)
    size_text = _text(size_match.group(1)) if size_match else ""
    digits = re.match(r"\s*([\d,]+)\s+data points", size_text)
    return {
        "doi": normalize_doi(str(result["URI"])),
        "title": _title(citation),
        "citation": citation,
        "restricted": None,
        "collection": bool(_COLLECTION.search(snippet)),
        "size": int(digits.group(1).replace(",", "")) if digits else None,
        "score": float(result.get("score") or 0.0),
    }


def _enrich(source: PangaeaSource, rows: list[dict[str, Any]]) -> None:
    """Fill ``restricted`` (and a missing ``size``) from the Elasticsearch index, by batch."""
    for begin in range(0, len(rows), ENRICH_BATCH):
        batch = rows[begin : begin + ENRICH_BATCH]
        ids = [dataset_id(row["doi"]) for row in batch]
        params = {
            "q": " ".join(f"sf-idDataSet:{i}" for i in ids),
            "size": len(ids),
            "_source": "sf-idDataSet,sp-loginOption,nDataPoints",
        }
        try:
            with source._get(source.endpoints["es"], params=params,
                             what="PANGAEA's search index") as response:
                hits = response.json()["hits"]["hits"]
        except (ArchiveUnavailableError, ValueError, KeyError, TypeError) as exc:
            logger.warning("could not learn which search hits are restricted (%s); "
                           "the 'restricted' column stays empty", type(exc).__name__)
            return
        found = {}
        for hit in hits:
            record = hit.get("_source", {})
            try:
                found[int(record.get("sf-idDataSet", hit.get("_id")))] = record
            except (TypeError, ValueError):
                continue
        for ident, row in zip(ids, batch, strict=True):
            record = found.get(ident, {})
            login = record.get("sp-loginOption")
            if login is not None:
                row["restricted"] = str(login) != "1"
            if row["size"] is None and isinstance(record.get("nDataPoints"), int):
                row["size"] = record["nDataPoints"]
