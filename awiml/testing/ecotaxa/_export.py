"""Export zips of :class:`awiml.testing.EcotaxaServer`, in EcoTaxa's general TSV layout.

Private helper of :mod:`awiml.testing.ecotaxa`. It writes what
``POST /object_set/export/general`` produces in ``ecotaxa/ecotaxa_back``
(``API_operations/exports/ForProject.py``): the column order, the optional
``[t]``/``[f]`` types row, UTF-8 with BOM, ``csv.QUOTE_NONNUMERIC``, one TSV per
group and the images beside them. awiml's tests compare the result byte for
byte with the real reference exports in ``tests/data/ecotaxa/``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._data import (
    FIXED_OBJECT_COLUMNS,
    STATUS_NAMES,
    EcoObject,
    Image,
    Project,
    QueryError,
    Taxonomy,
    _is_missing,
)

__all__: list[str] = []

JOB_TYPE = "GeneralExport"
PENDING_MESSAGE = "Waiting for a slot"

_INTERNAL_COLUMNS = tuple(
    "objid processid_internal acq_id_internal sample_id_internal classif_id classif_who "
    "classif_auto_id classif_auto_name classif_auto_score classif_auto_when "
    "object_random_value object_sunpos sample_lat sample_long".split()
)
_FLOAT_COLUMNS = frozenset(
    "object_lat object_lon object_depth_min object_depth_max classif_auto_score sample_lat "
    "sample_long".split()
)
_ANNOTATION_COLUMNS = tuple(
    "object_id object_annotation_status object_annotation_person_name "
    "object_annotation_person_email object_annotation_date object_annotation_time "
    "object_annotation_category object_annotation_category_id".split()
)


@dataclass(frozen=True)
class ExportRequest:
    """The options of ``POST /object_set/export/general`` the emulator honours."""

    project_id: int
    split_by: str = "none"
    with_images: str = "none"
    with_types_row: bool = False
    with_internal_ids: bool = False
    only_annotations: bool = False
    out_to_ftp: bool = False

    @classmethod
    def parse(cls, request: Any) -> ExportRequest:
        """Check the ``request`` part of the body; raise :class:`QueryError` if invalid."""
        if not isinstance(request, Mapping):
            raise QueryError("body.request must be an object (GeneralExportReq)")
        try:
            project_id = int(request["project_id"])
        except (KeyError, TypeError, ValueError):
            raise QueryError("body.request.project_id must be an integer") from None
        split = request.get("split_by") or "none"
        if split not in ("none", "sample", "acquisition", "taxon"):
            raise QueryError(
                f"body.request.split_by {split!r} is not one of none, sample, acquisition, taxon"
            )
        images = request.get("with_images") or "none"
        if images not in ("none", "first", "all"):
            raise QueryError(f"body.request.with_images {images!r} is not one of none, first, all")
        flags = {}
        for name in ("with_types_row", "with_internal_ids", "only_annotations", "out_to_ftp"):
            value = request.get(name, False)
            if not isinstance(value, bool):
                raise QueryError(f"body.request.{name} must be a boolean")
            flags[name] = value
        return cls(project_id, split, images, **flags)


def safe_file_name(name: str) -> str:
    """Replace what cannot go into a file name, as EcoTaxa does for taxon groups."""
    return re.sub(r"[^a-zA-Z0-9 .\-()]", "_", str(name))


def export_zip(
    project: Project,
    objects: Sequence[EcoObject],
    request: ExportRequest,
    taxonomy: Taxonomy,
    *,
    out_file: str,
    log_name: str,
    log_text: str,
) -> tuple[bytes, int]:
    """Write the zip of a general export; return its bytes and the number of TSV rows."""
    only = request.only_annotations
    with_images = request.with_images if not only else "none"
    split = request.split_by if not only else "none"
    types_row = request.with_types_row or only
    internal = request.with_internal_ids and not only
    columns, floats = _export_columns(project, with_images != "none", types_row, internal, only)
    group_of = {
        "sample": lambda o: o.sample,
        "acquisition": lambda o: o.acquisition,
        "taxon": lambda o: _display_name(o, taxonomy),
    }.get(split)

    def order(obj: EcoObject) -> tuple[Any, ...]:
        value = group_of(obj) if group_of is not None else obj.sample
        return (value is None, value or "", obj.objid)

    rows: list[tuple[str, dict[str, Any], Image | None]] = []
    base = out_file[: -len(".zip")] if out_file.endswith(".zip") else out_file
    for obj in sorted(objects, key=order):
        group = base if group_of is None else group_of(obj)
        folder = safe_file_name(group) if split == "taxon" else str(group)
        values = _export_row(obj, project, taxonomy, internal, only)
        if with_images == "none":
            rows.append((folder, values, None))
            continue
        chosen = obj.images[:1] if with_images == "first" else obj.images
        if not chosen:
            rows.append((folder, {"img_file_name": None, "img_rank": None, **values}, None))
        for image in chosen:
            rows.append(
                (
                    folder,
                    {"img_file_name": image.orig_file_name, "img_rank": image.rank, **values},
                    image,
                )
            )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        groups: dict[str, list[dict[str, Any]]] = {}
        copies: list[tuple[str, Image]] = []
        used: set[str] = set()
        for folder, values, image in rows:
            if image is not None:
                target = f"{folder}/{image.orig_file_name}"
                if target in used:
                    target = f"{folder}/{image.rank}/{image.orig_file_name}"
                used.add(target)
                values["img_file_name"] = target
                copies.append((target, image))
            groups.setdefault(folder, []).append(values)
        for folder, lines in groups.items():
            text = io.StringIO()
            writer = csv.DictWriter(
                text,
                columns,
                delimiter="\t",
                quotechar='"',
                lineterminator="\n",
                quoting=csv.QUOTE_NONNUMERIC,
            )
            writer.writeheader()
            if types_row:
                writer.writerow({c: "[f]" if c in floats else "[t]" for c in columns})
            for values in lines:
                row = {c: values.get(c) for c in columns}
                writer.writerow({c: None if _is_missing(v) else v for c, v in row.items()})
            archive.writestr(f"ecotaxa_{folder}.tsv", text.getvalue().encode("utf-8-sig"))
        for target, image in copies:
            archive.writestr(target, image.read())
        archive.writestr(log_name, log_text.encode("utf-8"))
    return buffer.getvalue(), len(rows)


def _display_name(obj: EcoObject, taxonomy: Taxonomy) -> str | None:
    taxon = taxonomy.by_id.get(obj.classif_id) if obj.classif_id is not None else None
    return None if taxon is None else taxon.display_name


def _export_columns(
    project: Project, images: bool, types_row: bool, internal: bool, only: bool
) -> tuple[list[str], set[str]]:
    floats = set(_FLOAT_COLUMNS)
    if only:
        return list(_ANNOTATION_COLUMNS), floats
    columns = ["img_file_name", "img_rank"] if images else []
    columns += list(FIXED_OBJECT_COLUMNS)
    if not types_row:
        columns.append("complement_info")
    for name, db_column in project.free_cols.items():
        columns.append("object_" + name)
        if db_column.startswith("n"):
            floats.add("object_" + name)
    columns += ["sample_id", "sample_dataportal_descriptor"]
    columns += ["sample_" + c for c in project.sample_cols]
    columns += ["process_id"] + ["process_" + c for c in project.process_cols]
    columns += ["acq_id", "acq_instrument"] + ["acq_" + c for c in project.acq_cols]
    if internal:
        columns += list(_INTERNAL_COLUMNS)
    return columns, floats


def _export_row(
    obj: EcoObject, project: Project, taxonomy: Taxonomy, internal: bool, only: bool
) -> dict[str, Any]:
    taxon = taxonomy.by_id.get(obj.classif_id) if obj.classif_id is not None else None
    judged = obj.classif_qual in ("V", "D")
    values: dict[str, Any] = {
        "object_id": obj.orig_id,
        "object_lat": obj.latitude,
        "object_lon": obj.longitude,
        "object_date": obj.objdate,
        "object_time": obj.objtime,
        "object_link": obj.extra.get("object_link"),
        "object_depth_min": obj.depth_min,
        "object_depth_max": obj.depth_max,
        "object_annotation_status": STATUS_NAMES.get(obj.classif_qual or "", obj.classif_qual),
        "object_annotation_person_name": obj.extra.get("object_annotation_person_name"),
        "object_annotation_person_email": obj.extra.get("object_annotation_person_email"),
        "object_annotation_date": obj.extra.get("object_annotation_date") if judged else None,
        "object_annotation_time": obj.extra.get("object_annotation_time") if judged else None,
        "object_annotation_category": None if taxon is None else taxon.display_name,
        "object_annotation_hierarchy": None if taxon is None else ">".join(taxon.path),
        "object_annotation_category_id": None if taxon is None else taxon.id,
        "complement_info": " ".join((obj.extra.get("complement_info") or "").splitlines()) or None,
    }
    if only:
        return values
    values.update({"object_" + k: v for k, v in obj.free.items()})
    sample = project.samples.get(obj.sample or "", {})
    values["sample_id"] = obj.sample
    values["sample_dataportal_descriptor"] = sample.get("dataportal_descriptor")
    values.update({"sample_" + c: sample.get(c) for c in project.sample_cols})
    process = project.processes.get(obj.process or "", {})
    values["process_id"] = obj.process
    values.update({"process_" + c: process.get(c) for c in project.process_cols})
    acq = project.acquisitions.get(obj.acquisition or "", {})
    values["acq_id"] = obj.acquisition
    values["acq_instrument"] = acq.get("instrument")
    values.update({"acq_" + c: acq.get(c) for c in project.acq_cols})
    if internal:
        values.update(
            {
                "objid": obj.objid,
                "processid_internal": obj.acquisid,
                "acq_id_internal": obj.acquisid,
                "sample_id_internal": obj.sampleid,
                "classif_id": obj.classif_id,
                "classif_who": None,
                "classif_auto_id": obj.classif_id if obj.classif_qual == "P" else None,
                "classif_auto_name": None,
                "classif_auto_score": None,
                "classif_auto_when": None,
                "object_random_value": None,
                "object_sunpos": None,
                "sample_lat": sample.get("latitude"),
                "sample_long": sample.get("longitude"),
            }
        )
    return values


@dataclass
class ExportJob:
    """One export job and what it produced. Use it with ``lock`` held."""

    ident: int
    owner: str
    owner_id: int
    request: ExportRequest
    filters: dict[str, Any]
    objects: list[EcoObject]
    project: Project
    steps: int
    outcome: tuple[str, list[str], dict[str, Any]]
    created: datetime
    state: str = "P"
    polls: int = 0
    progress_pct: int | None = None
    progress_msg: str | None = PENDING_MESSAGE
    errors: list[str] = field(default_factory=list)
    question: dict[str, Any] = field(default_factory=dict)
    reply: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    updated: datetime = field(default_factory=datetime.now)
    content: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def advance(self, taxonomy: Taxonomy) -> None:
        """Count one poll: ``P`` first, then ``R``, the final state at poll ``steps``."""
        if self.state not in ("P", "R"):
            return
        self.polls += 1
        self.updated = datetime.now()
        if self.polls >= self.steps:
            self.finish(taxonomy)
        elif self.polls > 1:
            self.state = "R"
            self.progress_pct = int(100 * (self.polls - 1) / max(self.steps - 1, 1))
            self.progress_msg = "Start TSV export"

    def answer(self, reply: dict[str, Any]) -> None:
        """Take the reply to the question of a job in state ``A``; it then runs to ``F``."""
        self.reply, self.question = reply, {}
        self.outcome = ("F", [], {})
        self.state, self.polls, self.progress_msg = "P", 0, "Proceeding"
        self.progress_pct = None
        self.updated = datetime.now()

    def finish(self, taxonomy: Taxonomy) -> None:
        """Move to the final state; for ``F``, write the zip."""
        state, errors, question = self.outcome
        self.updated = datetime.now()
        if state == "E":
            self.state, self.errors = "E", list(errors)
            self.progress_msg = errors[0] if errors else "Error"
            return
        if state == "A":
            self.state, self.question = "A", dict(question)
            self.progress_msg = "Question"
            return
        out_file = f"export_{self.project.projid}_{self.created.strftime('%Y%m%d_%H%M')}.zip"
        log_text = (
            f"{self.created.isoformat()} INFO Input Param = {dataclasses.asdict(self.request)}\n"
            f"{self.updated.isoformat()} INFO Extracted {len(self.objects)} objects\n"
        )
        self.content, rows = export_zip(
            self.project,
            self.objects,
            self.request,
            taxonomy,
            out_file=out_file,
            log_name=f"job_{self.ident}.log",
            log_text=log_text,
        )
        self.state, self.progress_pct, self.progress_msg = "F", 100, "Export successful"
        self.result = {"rowcount": rows, "out_file": out_file}

    def as_json(self) -> dict[str, Any]:
        """Return the job object of ``GET /jobs/{id}/``."""
        return {
            "id": self.ident,
            "owner_id": self.owner_id,
            "type": JOB_TYPE,
            "params": {"req": dataclasses.asdict(self.request), "filters": self.filters},
            "state": self.state,
            "step": None,
            "progress_pct": self.progress_pct,
            "progress_msg": self.progress_msg,
            "inside": {},
            "question": self.question,
            "reply": self.reply,
            "result": self.result,
            "errors": self.errors,
            "creation_date": self.created.isoformat(),
            "updated_on": self.updated.isoformat(),
        }
