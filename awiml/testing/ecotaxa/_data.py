"""The data behind :class:`awiml.testing.EcotaxaServer`: taxa, projects, objects, exports.

Private helper of :mod:`awiml.testing.ecotaxa`. It turns tables in EcoTaxa's
export-column naming into projects, answers the object-set queries and
filters of EcoTaxa's API over them, and writes export zips in the layout of
EcoTaxa's general TSV export (``ecotaxa/ecotaxa_back``,
``API_operations/exports/ForProject.py``), checked against the real reference
exports in ``tests/data/ecotaxa/``.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__: list[str] = []

STATUS_CODES = {"validated": "V", "predicted": "P", "dubious": "D"}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}

#: Lineages (root first) of the four classes of EcoTaxa's ML template, as in
#: EcoTaxa's WoRMS-based tree (assumed; the ML template's tables hold the
#: names only).
ML_TEMPLATE_LINEAGES: dict[str, tuple[str, ...]] = {
    "Cladocera": (
        "living", "Eukaryota", "Opisthokonta", "Holozoa", "Metazoa", "Arthropoda",
        "Crustacea", "Branchiopoda", "Diplostraca", "Cladocera",
    ),
    "Copepoda": (
        "living", "Eukaryota", "Opisthokonta", "Holozoa", "Metazoa", "Arthropoda",
        "Crustacea", "Multicrustacea", "Hexanauplia", "Copepoda",
    ),
    "Siphonophorae": (
        "living", "Eukaryota", "Opisthokonta", "Holozoa", "Metazoa", "Cnidaria",
        "Hydrozoa", "Siphonophorae",
    ),
    "detritus": ("not-living", "detritus"),
}  # fmt: skip

ML_TEMPLATE_TITLE = (
    "EcoTaxa ML template: 400 plankton vignettes (Cladocera, Copepoda, Siphonophorae, detritus)"
)

FIXED_OBJECT_COLUMNS = tuple(
    "object_id object_lat object_lon object_date object_time object_link object_depth_min "
    "object_depth_max object_annotation_status object_annotation_person_name "
    "object_annotation_person_email object_annotation_date object_annotation_time "
    "object_annotation_category object_annotation_hierarchy".split()
)
_IGNORED = frozenset(
    "img_file_name img_rank complement_info sample_id sample_dataportal_descriptor "
    "process_id acq_id acq_instrument objid processid_internal acq_id_internal "
    "sample_id_internal classif_id classif_who classif_auto_id classif_auto_name "
    "classif_auto_score classif_auto_when object_random_value object_sunpos sample_lat "
    "sample_long object_annotation_category_id".split()
)


class QueryError(ValueError):
    """A request the API refuses with ``422``; the message is the ``detail``."""


# --------------------------------------------------------------------------- #
# Taxonomy
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Taxon:
    """One node of the emulator's taxonomy tree."""

    id: int
    name: str
    display_name: str
    parent_id: int | None
    path: tuple[str, ...]
    named: bool = False


class Taxonomy:
    """The taxonomy tree: nodes keyed by their lineage (root first). Not thread-safe."""

    def __init__(self) -> None:
        self.by_id: dict[int, Taxon] = {}
        self.by_path: dict[tuple[str, ...], Taxon] = {}

    def add(self, path: Sequence[str], display_name: str | None = None) -> Taxon:
        """Return the node of ``path``, creating it and its ancestors if needed."""
        path = tuple(str(p).strip() for p in path if str(p).strip())
        if not path:
            raise ValueError("a taxon lineage needs at least one name")
        parent: Taxon | None = None
        for depth in range(1, len(path) + 1):
            key = path[:depth]
            node = self.by_path.get(key)
            leaf = depth == len(path)
            if node is not None and leaf and display_name and not node.named:
                node = dataclasses.replace(node, display_name=display_name, named=True)
                self.by_id[node.id] = self.by_path[key] = node
            if node is None:
                if leaf and display_name:
                    shown = display_name
                elif parent is not None and any(n.name == key[-1] for n in self.by_id.values()):
                    shown = f"{key[-1]}<{parent.name}"  # EcoTaxa's way to tell homonyms apart
                else:
                    shown = key[-1]
                node = Taxon(
                    id=len(self.by_id) + 1,
                    name=key[-1],
                    display_name=shown,
                    parent_id=None if parent is None else parent.id,
                    path=key,
                    named=leaf and bool(display_name),
                )
                self.by_id[node.id] = node
                self.by_path[key] = node
            parent = node
        assert parent is not None
        return parent

    def find(self, display_name: str) -> Taxon | None:
        """Return the first node with this display name or name."""
        for node in self.by_id.values():
            if node.display_name == display_name:
                return node
        for node in self.by_id.values():
            if node.name == display_name:
                return node
        return None

    def lineage(self, taxon_id: int) -> list[Taxon]:
        """Return the node and its ancestors, the node first."""
        chain = []
        node = self.by_id.get(taxon_id)
        while node is not None:
            chain.append(node)
            node = self.by_id.get(node.parent_id) if node.parent_id is not None else None
        return chain

    def descendants(self, taxon_id: int) -> set[int]:
        """Return the id and the ids of all nodes below it."""
        root = self.by_id.get(taxon_id)
        if root is None:
            return {taxon_id}
        size = len(root.path)
        return {
            node.id
            for node in self.by_id.values()
            if len(node.path) >= size and node.path[:size] == root.path
        }

    def children(self, taxon_id: int) -> list[int]:
        """Return the ids of the direct children."""
        return [n.id for n in self.by_id.values() if n.parent_id == taxon_id]


# --------------------------------------------------------------------------- #
# Projects and objects
# --------------------------------------------------------------------------- #


@dataclass
class Image:
    """One image of an object, stored in the vault."""

    imgid: int
    rank: int
    orig_file_name: str
    vault_path: str
    data: bytes | Path
    size: tuple[int, int] | None = None

    def read(self) -> bytes:
        """Return the image bytes."""
        return self.data if isinstance(self.data, bytes) else Path(self.data).read_bytes()

    def dimensions(self) -> tuple[int | None, int | None]:
        """Return ``(width, height)`` read from the image, or ``(None, None)``."""
        if self.size is None:
            try:
                from PIL import Image as PILImage

                with PILImage.open(io.BytesIO(self.read())) as picture:
                    self.size = (int(picture.width), int(picture.height))
            except Exception:  # not an image PIL knows: no dimensions
                return None, None
        return self.size


@dataclass
class EcoObject:
    """One object of a project, with the values EcoTaxa stores for it."""

    objid: int
    orig_id: str
    projid: int
    latitude: float | None
    longitude: float | None
    objdate: str | None
    objtime: str | None
    depth_min: float | None
    depth_max: float | None
    classif_qual: str | None
    classif_id: int | None
    sample: str | None
    sampleid: int | None
    acquisition: str | None
    acquisid: int | None
    process: str | None
    images: list[Image] = field(default_factory=list)
    free: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    """One project: its settings and its objects."""

    projid: int
    title: str
    visible: bool
    members: frozenset[str]
    instrument: str
    description: str
    objects: list[EcoObject]
    free_cols: dict[str, str]
    sample_cols: list[str]
    acq_cols: list[str]
    process_cols: list[str]
    samples: dict[str, dict[str, Any]]
    acquisitions: dict[str, dict[str, Any]]
    processes: dict[str, dict[str, Any]]
    license: str = ""

    def as_json(self, user: str | None) -> dict[str, Any]:
        """Return the project object of ``/projects/search`` and ``/projects/{id}``."""
        count = len(self.objects)
        validated = sum(1 for o in self.objects if o.classif_qual == "V")
        classified = sum(1 for o in self.objects if o.classif_id is not None)
        right = "Manage" if user is not None and user in self.members else ""
        return {
            "projid": self.projid,
            "title": self.title,
            "status": "Annotate",
            "instrument": self.instrument,
            "visible": self.visible,
            "access": "1" if self.visible else "0",
            "license": self.license,
            "objcount": count,
            "pctvalidated": round(100.0 * validated / count, 4) if count else 0.0,
            "pctclassified": round(100.0 * classified / count, 4) if count else 0.0,
            "obj_free_cols": dict(self.free_cols),
            "sample_free_cols": {n: f"t{i + 1:02d}" for i, n in enumerate(self.sample_cols)},
            "acquisition_free_cols": {n: f"t{i + 1:02d}" for i, n in enumerate(self.acq_cols)},
            "process_free_cols": {n: f"t{i + 1:02d}" for i, n in enumerate(self.process_cols)},
            "description": self.description,
            "highest_right": right,
        }


class Ids:
    """Counters for the internal ids the emulator hands out. Not thread-safe."""

    def __init__(self) -> None:
        self.objid = 0
        self.imgid = 0
        self.sampleid = 0
        self.acquisid = 0

    def next(self, name: str) -> int:
        """Return the next value of counter ``name``."""
        value = getattr(self, name) + 1
        setattr(self, name, value)
        return value


def vault_path(imgid: int, orig_file_name: str) -> str:
    """Return EcoTaxa's vault path of an image: ``"NNNN/NNNN.<ext>"``."""
    suffix = Path(orig_file_name).suffix.lower() or ".jpg"
    return f"{imgid // 10000:04d}/{imgid % 10000:04d}{suffix}"


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, (list, tuple)) else False
    except (TypeError, ValueError):
        return False


def _cell_text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def _cell_float(value: Any, column: str) -> float | None:
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r}: {value!r} is not a number") from None


def _cell_moment_text(value: Any, kinds: tuple[type, ...], layout: str) -> str | None:
    """Return a date or time cell as text: ``layout`` applied to ``kinds``, else stripped."""
    if _is_missing(value):
        return None
    if isinstance(value, kinds):
        return value.strftime(layout)
    text = _cell_text(value)
    return None if text is None else text.strip()


def _cell_date(value: Any) -> str | None:
    text = _cell_moment_text(value, (datetime, date), "%Y-%m-%d")
    if text is None:
        return None
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    raise ValueError(f"object_date {value!r} is neither YYYY-MM-DD nor YYYYMMDD")


def parse_time(value: Any) -> str | None:
    """Return a time as ``HH:MM:SS`` from ``HH:MM[:SS]``, ``HHMMSS`` or a time object."""
    text = _cell_moment_text(value, (datetime, time), "%H:%M:%S")
    if text is None:
        return None
    if re.fullmatch(r"\d{1,6}", text):
        text = text.zfill(6)
        return f"{text[:2]}:{text[2:4]}:{text[4:]}"
    if re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", text):
        return text if len(text) == 8 else text + ":00"
    raise ValueError(f"object_time {value!r} is neither HH:MM:SS nor HHMMSS")


def _cell_status(value: Any) -> str | None:
    text = _cell_text(value)
    if text is None:
        return None
    code = STATUS_CODES.get(text.strip().lower())
    if code is None and text.strip().upper() in STATUS_NAMES:
        code = text.strip().upper()
    if code is None:
        raise ValueError(
            f"object_annotation_status {value!r} is not validated, predicted or dubious"
        )
    return code


def build_project(
    projid: int,
    title: str,
    objects: pd.DataFrame,
    images: Mapping[str, bytes | str | Path],
    *,
    visible: bool,
    members: Iterable[str],
    instrument: str,
    description: str,
    license: str,
    taxonomy: Taxonomy,
    ids: Ids,
) -> Project:
    """Turn a table in export-column naming into a :class:`Project` (see ``add_project``)."""
    columns = [str(c) for c in objects.columns]
    if "object_id" not in columns:
        raise ValueError("the objects table needs an object_id column")
    numeric = {
        c: objects[c].dtype.kind in "iuf"
        or all(isinstance(v, (int, float)) or _is_missing(v) for v in objects[c])
        for c in columns
    }
    free_names = [
        c[len("object_") :]
        for c in columns
        if c.startswith("object_") and c not in FIXED_OBJECT_COLUMNS and c not in _IGNORED
    ]
    free_cols: dict[str, str] = {}
    n_num = n_text = 0
    for name in free_names:
        if numeric["object_" + name]:
            n_num += 1
            free_cols[name] = f"n{n_num:02d}"
        else:
            n_text += 1
            free_cols[name] = f"t{n_text:02d}"
    sample_cols = _unprefixed_columns(columns, "sample_")
    acq_cols = _unprefixed_columns(columns, "acq_")
    process_cols = _unprefixed_columns(columns, "process_")
    samples: dict[str, dict[str, Any]] = {}
    acquisitions: dict[str, dict[str, Any]] = {}
    processes: dict[str, dict[str, Any]] = {}
    sample_ids: dict[str, int] = {}
    acq_ids: dict[str, int] = {}
    by_orig: dict[str, EcoObject] = {}
    result: list[EcoObject] = []
    records = objects.to_dict("records")
    for line, row in enumerate(records, start=1):
        orig_id = _cell_text(row.get("object_id"))
        if orig_id is None:
            raise ValueError(f"row {line} of the objects table has no object_id")
        obj = by_orig.get(orig_id)
        if obj is None:
            obj = _new_object(row, orig_id, projid, free_cols, taxonomy, ids)
            sample = _cell_text(row.get("sample_id"))
            if sample is not None:
                if sample not in sample_ids:
                    sample_ids[sample] = ids.next("sampleid")
                    samples[sample] = {
                        "dataportal_descriptor": _cell_text(
                            row.get("sample_dataportal_descriptor")
                        ),
                        "latitude": obj.latitude,
                        "longitude": obj.longitude,
                        **{c: _cell_text(row.get("sample_" + c)) for c in sample_cols},
                    }
                obj.sample, obj.sampleid = sample, sample_ids[sample]
            acq = _cell_text(row.get("acq_id"))
            if acq is not None:
                if acq not in acq_ids:
                    acq_ids[acq] = ids.next("acquisid")
                    acquisitions[acq] = {
                        "instrument": _cell_text(row.get("acq_instrument")) or instrument,
                        **{c: _cell_text(row.get("acq_" + c)) for c in acq_cols},
                    }
                obj.acquisition, obj.acquisid = acq, acq_ids[acq]
            process = _cell_text(row.get("process_id"))
            if process is not None:
                processes.setdefault(
                    process, {c: _cell_text(row.get("process_" + c)) for c in process_cols}
                )
                obj.process = process
            by_orig[orig_id] = obj
            result.append(obj)
        name = _cell_text(row.get("img_file_name"))
        if name is not None:
            data = images.get(name)
            if data is None:
                data = images.get(Path(name).name)
            if data is None:
                raise ValueError(
                    f"object {orig_id!r}: image {name!r} is not among the images given"
                )
            rank = row.get("img_rank")
            rank = len(obj.images) if _is_missing(rank) else int(rank)
            imgid = ids.next("imgid")
            content = bytes(data) if isinstance(data, (bytes, bytearray)) else Path(data)
            if isinstance(content, Path) and not content.is_file():
                raise FileNotFoundError(f"image {name!r}: {content} is not a file")
            obj.images.append(Image(imgid, rank, Path(name).name, vault_path(imgid, name), content))
            obj.images.sort(key=lambda i: i.rank)
    return Project(
        projid=projid,
        title=title,
        visible=visible,
        members=frozenset(members),
        instrument=instrument,
        description=description,
        objects=result,
        free_cols=free_cols,
        sample_cols=sample_cols,
        acq_cols=acq_cols,
        process_cols=process_cols,
        samples=samples,
        acquisitions=acquisitions,
        processes=processes,
        license=license,
    )


def _unprefixed_columns(columns: Sequence[str], prefix: str) -> list[str]:
    return [c[len(prefix) :] for c in columns if c.startswith(prefix) and c not in _IGNORED]


def _new_object(
    row: Mapping[str, Any],
    orig_id: str,
    projid: int,
    free_cols: Mapping[str, str],
    taxonomy: Taxonomy,
    ids: Ids,
) -> EcoObject:
    category = _cell_text(row.get("object_annotation_category"))
    hierarchy = _cell_text(row.get("object_annotation_hierarchy"))
    classif_id = None
    if hierarchy is not None:
        classif_id = taxonomy.add(hierarchy.split(">"), category).id
    elif category is not None:
        found = taxonomy.find(category)
        classif_id = (found or taxonomy.add([category])).id
    status = _cell_status(row.get("object_annotation_status"))
    if classif_id is not None and status is None:
        status = "P"
    free: dict[str, Any] = {}
    for name, column in free_cols.items():
        value = row.get("object_" + name)
        if column.startswith("n"):
            free[name] = _cell_float(value, "object_" + name)
        else:
            free[name] = _cell_text(value)
    extra = {
        key: _cell_text(row.get(key))
        for key in (
            "object_link",
            "object_annotation_person_name",
            "object_annotation_person_email",
            "object_annotation_date",
            "object_annotation_time",
            "complement_info",
        )
    }
    if extra["object_annotation_date"] is not None:
        extra["object_annotation_date"] = _cell_date(row.get("object_annotation_date"))
    if extra["object_annotation_time"] is not None:
        extra["object_annotation_time"] = parse_time(row.get("object_annotation_time"))
    return EcoObject(
        objid=ids.next("objid"),
        orig_id=orig_id,
        projid=projid,
        latitude=_cell_float(row.get("object_lat"), "object_lat"),
        longitude=_cell_float(row.get("object_lon"), "object_lon"),
        objdate=_cell_date(row.get("object_date")),
        objtime=parse_time(row.get("object_time")),
        depth_min=_cell_float(row.get("object_depth_min"), "object_depth_min"),
        depth_max=_cell_float(row.get("object_depth_max"), "object_depth_max"),
        classif_qual=status if classif_id is not None else None,
        classif_id=classif_id,
        sample=None,
        sampleid=None,
        acquisition=None,
        acquisid=None,
        process=None,
        free=free,
        extra=extra,
    )


def ml_template_table() -> tuple[pd.DataFrame, dict[str, Path]]:
    """Read awiml's bundled ML-template data as an objects table and its images."""
    import pandas as pd

    root = Path(str(importlib.resources.files("awiml").joinpath("data", "ecotaxa_ml_template")))
    tables = []
    for split in ("training", "test"):
        labels = pd.read_csv(root / f"{split}_labels.csv")
        features = pd.read_csv(root / f"{split}_features.csv.gz")
        merged = labels.merge(features, on="id", how="left", validate="one_to_one")
        table = pd.DataFrame(
            {
                "object_id": "mltemplate_" + merged["id"].astype(str),
                "object_annotation_status": "validated",
                "object_annotation_category": merged["label"],
                "object_annotation_hierarchy": [
                    ">".join(ML_TEMPLATE_LINEAGES[label]) for label in merged["label"]
                ],
                "img_file_name": merged["id"].astype(str) + ".jpg",
                "img_rank": 0,
            }
        )
        feature_cols = [c for c in features.columns if c != "id"]
        free = merged[feature_cols].astype(float)
        free.columns = ["object_" + c for c in feature_cols]
        table = pd.concat([table, free], axis=1)
        table["sample_id"] = split
        table["acq_id"] = split
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    images = {name: root / "images" / name for name in table["img_file_name"]}
    return table, images
