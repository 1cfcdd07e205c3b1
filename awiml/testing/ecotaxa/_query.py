"""Object-set queries of :class:`awiml.testing.EcotaxaServer`: filters, fields, order.

Private helper of :mod:`awiml.testing.ecotaxa`. The filters act as
``ecotaxa_back``'s ``ObjectSetFilter`` (``BO/ObjectSet.py``) does on the
database; the fields are those of ``POST /object_set/{projid}/query``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ._data import EcoObject, Project, QueryError, Taxonomy, parse_time

__all__: list[str] = []

_T = TypeVar("_T")


def _filter(
    filters: Mapping[str, Any], key: str, parse: Callable[[str], _T], what: str
) -> _T | None:
    """Return filter ``key`` read by ``parse``: ``None`` if blank, QueryError if not ``what``."""
    value = filters.get(key)
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        return parse(text)
    except ValueError:
        raise QueryError(f"filter {key}={text!r} is not {what}") from None


def _filter_number(filters: Mapping[str, Any], key: str) -> float | None:
    return _filter(filters, key, float, "a number")


def _filter_ids(filters: Mapping[str, Any], key: str) -> set[int] | None:
    return _filter(filters, key, _id_set, "a comma-separated list of ids")


def _id_set(text: str) -> set[int]:
    return {int(v) for v in text.split(",") if v.strip()}


def _day(text: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(text)
    return text


def _between(low: float, value: float | None, high: float) -> bool:
    return value is not None and low <= value <= high


def select(project: Project, filters: Mapping[str, Any], taxonomy: Taxonomy) -> list[EcoObject]:
    """Return the objects of ``project`` that pass EcoTaxa's project filters.

    The filters act as in ``ecotaxa_back``'s ``ObjectSetFilter``: the
    bounding box only when all of ``MapN``, ``MapS``, ``MapW``, ``MapE`` are
    given (``BETWEEN``, so no date-line crossing), the depth range only with
    both ``depthmin`` and ``depthmax`` (both depths inside it), ``freenum``
    with ``freenumst`` (else ``freenumend``). The emulator does not record
    who validated an object, so ``statusfilter`` ``VM`` and ``NVM`` ("by
    me", "not by me") both keep the validated objects.
    """
    if not isinstance(filters, Mapping):
        raise QueryError("the filters must be a JSON object")
    tests = _predicates(project, filters, taxonomy)
    return [obj for obj in project.objects if all(test(obj) for test in tests)]


def _predicates(
    project: Project, filters: Mapping[str, Any], taxonomy: Taxonomy
) -> list[Callable[[EcoObject], bool]]:
    tests: list[Callable[[EcoObject], bool]] = []
    samples = _filter_ids(filters, "samples")
    if samples is not None:
        tests.append(lambda o: o.sampleid in samples)
    taxa = _filter_ids(filters, "taxo")
    if taxa is not None:
        if str(filters.get("taxochild") or "") == "Y":
            taxa = set().union(*(taxonomy.descendants(t) for t in taxa))
        tests.append(lambda o: o.classif_id in taxa)
    status = str(filters.get("statusfilter") or "")
    if status:
        tests.append(lambda o: _status_passes(status, o.classif_qual))
    north, south, west, east = (
        _filter_number(filters, k) for k in ("MapN", "MapS", "MapW", "MapE")
    )
    if north is not None and south is not None and west is not None and east is not None:
        tests.append(
            lambda o: _between(south, o.latitude, north) and _between(west, o.longitude, east)
        )
    low, high = _filter_number(filters, "depthmin"), _filter_number(filters, "depthmax")
    if low is not None and high is not None:
        tests.append(
            lambda o: _between(low, o.depth_min, high) and _between(low, o.depth_max, high)
        )
    instrument = str(filters.get("instrum") or "").casefold()
    if instrument:
        tests.append(lambda o: instrument in project.instrument.casefold())
    months = _filter_ids(filters, "month")
    if months is not None:
        tests.append(lambda o: o.objdate is not None and int(o.objdate[5:7]) in months)
    first, last = (_filter(filters, k, _day, "a date YYYY-MM-DD") for k in ("fromdate", "todate"))
    if first is not None:
        tests.append(lambda o: o.objdate is not None and o.objdate >= first)
    if last is not None:
        tests.append(lambda o: o.objdate is not None and o.objdate <= last)
    tests += _time_predicates(filters)
    tests += _free_predicates(project, filters)
    return tests


def _time_predicates(filters: Mapping[str, Any]) -> list[Callable[[EcoObject], bool]]:
    start, end = (
        _filter(filters, k, parse_time, "a time HH:MM[:SS]") for k in ("fromtime", "totime")
    )
    if str(filters.get("inverttime") or "") == "1":
        if start is None or end is None:
            return []
        return [lambda o: o.objtime is not None and (o.objtime <= start or o.objtime >= end)]
    tests: list[Callable[[EcoObject], bool]] = []
    if start is not None:
        tests.append(lambda o: o.objtime is not None and o.objtime >= start)
    if end is not None:
        tests.append(lambda o: o.objtime is not None and o.objtime <= end)
    return tests


def _free_predicates(
    project: Project, filters: Mapping[str, Any]
) -> list[Callable[[EcoObject], bool]]:
    tests: list[Callable[[EcoObject], bool]] = []
    column = str(filters.get("freenum") or "")
    bound_start = _filter_number(filters, "freenumst")
    bound_end = _filter_number(filters, "freenumend")
    if column and (bound_start is not None or bound_end is not None):
        number = _free_name(project.free_cols, "n", column[2:], "freenum")
        if bound_start is not None:
            tests.append(lambda o: o.free.get(number) is not None and o.free[number] >= bound_start)
        else:
            tests.append(lambda o: o.free.get(number) is not None and o.free[number] <= bound_end)
    column, wanted = str(filters.get("freetxt") or ""), str(filters.get("freetxtval") or "")
    if column and wanted:
        table = column[:1]
        if table == "o":
            name = _free_name(project.free_cols, "t", column[2:], "freetxt")
            value: Callable[[EcoObject], Any] = lambda o: o.free.get(name)  # noqa: E731
        else:
            value = _entity_text(project, table, column)
        regex = _ilike_pattern(wanted)
        tests.append(lambda o: value(o) is not None and regex.fullmatch(str(value(o))) is not None)
    return tests


def _ilike_pattern(wanted: str) -> re.Pattern[str]:
    """Compile SQL ``ILIKE '%<wanted>%'`` with EcoTaxa's ``^``/``$`` anchors."""
    start, end = wanted.startswith("^"), wanted.endswith("$") and len(wanted) > 1
    core = wanted[1 if start else 0 : -1 if end else None]
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in core)
    return re.compile(("" if start else ".*") + body + ("" if end else ".*"), re.I | re.S)


def _free_name(free_cols: Mapping[str, str], kind: str, number: str, key: str) -> str:
    try:
        wanted = f"{kind}{int(number):02d}"
    except ValueError:
        raise QueryError(f"filter {key} does not name a free column (like 'on01')") from None
    for name, db_column in free_cols.items():
        if db_column == wanted:
            return name
    raise QueryError(f"filter {key}: the project has no free column {wanted}")


def _entity_text(project: Project, table: str, column: str) -> Callable[[EcoObject], Any]:
    names = {"s": project.sample_cols, "a": project.acq_cols, "p": project.process_cols}.get(table)
    try:
        index = int(column[2:]) - 1
    except ValueError:
        index = -1
    if names is None or not 0 <= index < len(names):
        raise QueryError(f"filter freetxt={column!r} names no free text column of the project")
    name = names[index]
    if table == "s":
        return lambda o: project.samples.get(o.sample or "", {}).get(name)
    if table == "a":
        return lambda o: project.acquisitions.get(o.acquisition or "", {}).get(name)
    return lambda o: project.processes.get(o.process or "", {}).get(name)


def _status_passes(wanted: str, qual: str | None) -> bool:
    if wanted == "NV":
        return qual != "V"
    if wanted == "PV":
        return qual in ("P", "V")
    if wanted in ("VM", "NVM"):
        return qual == "V"
    if wanted == "U":
        return qual is None
    if wanted == "UP":
        return qual in ("P", None)
    if wanted == "PVD":
        return qual is not None
    return qual == wanted[:3]


def field_value(obj: EcoObject, name: str, project: Project, taxonomy: Taxonomy) -> Any:
    """Return the value of query field ``name`` (e.g. ``"obj.depth_min"``) for ``obj``."""
    image = obj.images[0] if obj.images else None
    taxon = taxonomy.by_id.get(obj.classif_id) if obj.classif_id is not None else None
    prefix, _, rest = name.partition(".")
    if prefix == "fre":
        if rest not in project.free_cols:
            raise QueryError(
                f"unknown field {name!r}: project {project.projid} has no free column {rest!r}"
            )
        return obj.free.get(rest)
    simple = {
        "obj.objid": lambda: obj.objid,
        "obj.orig_id": lambda: obj.orig_id,
        "obj.latitude": lambda: obj.latitude,
        "obj.longitude": lambda: obj.longitude,
        "obj.depth_min": lambda: obj.depth_min,
        "obj.depth_max": lambda: obj.depth_max,
        "obj.objdate": lambda: obj.objdate,
        "obj.objtime": lambda: obj.objtime,
        "obj.classif_qual": lambda: obj.classif_qual,
        "obj.classif_id": lambda: obj.classif_id,
        "obj.object_link": lambda: obj.extra.get("object_link"),
        "obj.complement_info": lambda: obj.extra.get("complement_info"),
        "obj.acquisid": lambda: obj.acquisid,
        "obj.projid": lambda: obj.projid,
        "txo.id": lambda: None if taxon is None else taxon.id,
        "txo.name": lambda: None if taxon is None else taxon.name,
        "txo.display_name": lambda: None if taxon is None else taxon.display_name,
        "img.imgid": lambda: None if image is None else image.imgid,
        "img.imgrank": lambda: None if image is None else image.rank,
        "img.file_name": lambda: None if image is None else image.vault_path,
        "img.orig_file_name": lambda: None if image is None else image.orig_file_name,
        "img.width": lambda: None if image is None else image.dimensions()[0],
        "img.height": lambda: None if image is None else image.dimensions()[1],
        "sam.sampleid": lambda: obj.sampleid,
        "sam.orig_id": lambda: obj.sample,
        "acq.acquisid": lambda: obj.acquisid,
        "acq.orig_id": lambda: obj.acquisition,
        "acq.instrument": lambda: project.acquisitions.get(obj.acquisition or "", {}).get(
            "instrument"
        ),
    }
    getter = simple.get(name)
    if getter is None:
        raise QueryError(f"unknown field {name!r}")
    return getter()


def check_fields(names: Sequence[str], project: Project, taxonomy: Taxonomy) -> None:
    """Raise :class:`QueryError` if a field name is unknown."""
    probe = EcoObject(0, "", project.projid, *([None] * 13))  # type: ignore[arg-type]
    for name in names:
        field_value(probe, name, project, taxonomy)


def sort_key(name: str, project: Project, taxonomy: Taxonomy) -> Any:
    """Return a key function ordering objects by field ``name`` (missing values last)."""

    def key(obj: EcoObject) -> tuple[bool, Any, int]:
        value = field_value(obj, name, project, taxonomy)
        return (value is None, value if value is not None else 0, obj.objid)

    return key
