"""A labelled set of plankton images, from an EcoTaxa export or any table of image paths."""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidDataError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NON_FEATURE_COLUMNS", "ImageDataset", "plankton_images"]

logger = logging.getLogger(__name__)

#: ``object_*`` columns of EcoTaxa tables that say which object it is, where
#: and when it was sampled, or where it lay in the scanned frame, rather than
#: what it looks like: :meth:`ImageDataset.from_export` and
#: :meth:`ImageDataset.from_frame` leave them (and every
#: ``object_annotation_*`` column) out of the features unless asked for by name.
NON_FEATURE_COLUMNS: frozenset[str] = frozenset(
    {
        # identity, sampling position and time
        "object_id",
        "object_link",
        "object_lat",
        "object_lon",
        "object_lat_end",
        "object_lon_end",
        "object_date",
        "object_time",
        "object_date_end",
        "object_time_end",
        "object_depth_min",
        "object_depth_max",
        # position of the object in the scanned image (ZooProcess, UVP) and its tag
        "object_x",
        "object_y",
        "object_xm",
        "object_ym",
        "object_bx",
        "object_by",
        "object_xstart",
        "object_ystart",
        "object_xmg5",
        "object_ymg5",
        "object_tag",
    }
)

# Columns of to_frame() before the features.
_RESERVED = ("id", "path", "label", "hierarchy")
_MAX_LISTED = 5


def _listing(items: Sequence[Any]) -> str:
    """Name at most a few items, and say how many there are in all."""
    shown = ", ".join(repr(item) for item in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _distinct(values: np.ndarray) -> int | None:
    """Count the distinct values (None when they cannot be compared)."""
    try:
        return len(set(values.tolist()))
    except TypeError:  # unhashable ids
        return None


def _column(frame: pd.DataFrame, name: str, role: str, where: str, hint: str = "") -> pd.Series:
    """Return ``frame[name]``, or say which columns there are and what to do (``hint``)."""
    if name not in frame.columns:
        raise InvalidDataError(
            f"{where} has no {role} column {name!r}; its columns are {list(frame.columns)}. "
            f"{hint or f'Name it with {role}=...'}"
        )
    return frame[name]


def _is_missing(values: pd.Series) -> np.ndarray:
    """Return True where a cell is empty: NaN, None or a blank string."""
    text = values.astype("string").str.strip()
    return (values.isna() | (text == "")).to_numpy(dtype=bool)


def _auto_features(frame: pd.DataFrame) -> list[str]:
    """Return the numeric ``object_*`` columns that describe the object's appearance."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return [
        name
        for name in frame.columns
        if isinstance(name, str)
        and name.startswith("object_")
        and not name.startswith("object_annotation_")
        and name not in NON_FEATURE_COLUMNS
        and is_numeric_dtype(frame[name])
        and not is_bool_dtype(frame[name])
    ]


class ImageDataset:
    """A labelled set of images: paths, labels, ids, taxonomy and object features.

    One row per image. Build it from an EcoTaxa export with
    :meth:`from_export`, from any table with :meth:`from_frame`, or from
    arrays with the constructor. Every accessor returns a copy, and
    :meth:`split` and :meth:`subset` return new datasets, so a dataset never
    changes once built.

    Parameters
    ----------
    paths : sequence of path-like
        The image files; relative paths are made absolute against the current
        folder. The files are not checked here (:meth:`from_export` and
        :meth:`from_frame` do check them).
    labels : sequence
        The label of every image, stored as str; none may be missing.
    ids : sequence, optional
        The id of the object each image shows. Several images of one object
        share an id; :meth:`split` keeps them on one side. Default: the row
        numbers ``0 .. n-1``.
    hierarchy : sequence of str, optional
        The taxonomic path of every label, such as
        ``"Biota>Animalia>Arthropoda>...>Oncaeidae"``; missing entries are None.
    features : pandas.DataFrame or array-like of shape (n_images, n_features), optional
        Numeric features of every object, converted to float64; missing values
        are NaN. Column names must be unique and differ from ``id``, ``path``,
        ``label`` and ``hierarchy``.
    metadata : pandas.DataFrame, optional
        Any other columns, one row per image (the rows of the source table in
        :meth:`from_export` and :meth:`from_frame`).

    Raises
    ------
    InvalidDataError
        If the lengths differ, a label is missing or the features are not numeric.

    See Also
    --------
    awiml.features.ImageFeatures : measure the objects in the images.
    awiml.features.ImageTensor : the images as one tensor, for a CNN.
    awiml.classify.KerasClassifier : a Keras network as a scikit-learn classifier.

    Examples
    --------
    >>> ds = ImageDataset(["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
    ...                   ["Copepoda", "detritus", "Copepoda", "detritus"],
    ...                   features={"object_area": [10.0, 3.0, 12.0, 4.0]})
    >>> ds
    <ImageDataset: 4 images of 2 classes (Copepoda 2, detritus 2), 1 feature>
    >>> ds.classes
    array(['Copepoda', 'detritus'], dtype=object)
    >>> train, test = ds.split(0.5, random_state=0)
    >>> sorted(train.labels), sorted(test.labels)
    (['Copepoda', 'detritus'], ['Copepoda', 'detritus'])
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        labels: Sequence[Any],
        *,
        ids: Sequence[Any] | None = None,
        hierarchy: Sequence[str | None] | None = None,
        features: Any = None,
        metadata: pd.DataFrame | None = None,
    ) -> None:
        import pandas as pd

        if isinstance(paths, (str, os.PathLike)):
            raise InvalidDataError(f"paths must be a sequence of paths; got the single path "
                                   f"{paths!r}: pass [{paths!r}]")
        self._paths = np.asarray([os.path.abspath(os.fspath(p)) for p in paths], dtype=object)
        n = len(self._paths)
        label_series = pd.Series(list(labels), dtype=object)
        self._check_length("labels", len(label_series), n)
        missing = np.flatnonzero(_is_missing(label_series))
        if missing.size:
            raise InvalidDataError(
                f"{missing.size} of {n} labels are missing (rows {_listing(missing.tolist())}); "
                "drop the unlabelled images first"
            )
        self._labels = label_series.astype(str).to_numpy(dtype=object)
        self._ids = np.empty(n if ids is None else len(ids), dtype=object)
        self._ids[:] = range(n) if ids is None else list(ids)
        self._check_length("ids", len(self._ids), n)
        if hierarchy is None:
            self._hierarchy = None
        else:
            tree = pd.Series(list(hierarchy), dtype=object)
            self._check_length("hierarchy", len(tree), n)
            self._hierarchy = tree.where(~_is_missing(tree), None).to_numpy(dtype=object)
        self._features = self._check_features(features, n)
        if metadata is None:
            metadata = pd.DataFrame(index=pd.RangeIndex(n))
        self._check_length("metadata", len(metadata), n)
        self._metadata = pd.DataFrame(metadata).reset_index(drop=True)

    @staticmethod
    def _check_length(name: str, length: int, n: int) -> None:
        if length != n:
            raise InvalidDataError(f"{name} has {length} entries but there are {n} paths; "
                                   "give one per image")

    @staticmethod
    def _check_features(features: Any, n: int) -> pd.DataFrame:
        import pandas as pd

        if features is None:
            return pd.DataFrame(index=pd.RangeIndex(n), dtype=np.float64)
        table = pd.DataFrame(features)
        if table.ndim != 2 or len(table) != n:
            raise InvalidDataError(
                f"features has shape {table.shape} but there are {n} paths; give one row per image"
            )
        names = [str(c) for c in table.columns]
        clashes = sorted({c for c in names if names.count(c) > 1} | (set(names) & set(_RESERVED)))
        if clashes:
            raise InvalidDataError(
                f"the feature column(s) {clashes} are repeated or named like the dataset's own "
                f"columns {list(_RESERVED)}; rename them"
            )
        converted = {}
        for name, label in zip(names, table.columns, strict=True):
            column = table[label]
            try:
                converted[name] = pd.to_numeric(column).to_numpy(dtype=np.float64)
            except (ValueError, TypeError):
                bad = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
                raise InvalidDataError(
                    f"the feature column {label!r} is not numeric (e.g. {bad.iloc[0]!r}); "
                    "pick numeric columns with features=[...]"
                ) from None
        return pd.DataFrame(converted, index=pd.RangeIndex(n), columns=names)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        root: str | os.PathLike[str] | None = None,
        *,
        path: str = "img_file_name",
        label: str = "object_annotation_category",
        id: str | None = None,
        hierarchy: str | None = None,
        features: Sequence[str] | None = None,
        min_count: int = 1,
    ) -> ImageDataset:
        r"""Build a dataset from a table with one row per image.

        Rows whose label is empty (objects not yet classified) are left out.

        Parameters
        ----------
        frame : pandas.DataFrame
            The table.
        root : path-like, optional
            The folder the paths in ``path`` are relative to; absolute paths are
            kept. Default: the current folder.
        path : str, default="img_file_name"
            The column of image paths.
        label : str, default="object_annotation_category"
            The column of labels.
        id : str, optional
            The column of object ids. Default: ``object_id`` when the table has
            it, else the row numbers in ``frame`` (0 for its first row).
        hierarchy : str, optional
            The column of taxonomic paths. Default:
            ``object_annotation_hierarchy`` when the table has it, else none.
        features : sequence of str, optional
            The feature columns, in this order; any numeric column may be named.
            Default: every numeric ``object_*`` column except
            :data:`NON_FEATURE_COLUMNS` and ``object_annotation_*``.
        min_count : int, default=1
            Leave out the classes with fewer objects than this (2 lets every
            class be split between train and test).

        Returns
        -------
        ImageDataset
            One row per row of ``frame`` kept, in the order of ``frame``; the
            whole rows are kept as :attr:`metadata`.

        Raises
        ------
        InvalidDataError
            If a column is missing (the message lists those there are), a path
            is empty or a feature column is not numeric.
        NotFoundError
            If image files do not exist; the message names them.

        Examples
        --------
        >>> import tempfile, pathlib, pandas as pd
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("1.jpg", "2.jpg"):
        ...     _ = (root / name).write_bytes(b"")
        >>> table = pd.DataFrame({"file": ["1.jpg", "2.jpg"], "taxon": ["Copepoda", "Oithona"],
        ...                       "area": [120.5, 88.0]})
        >>> ds = ImageDataset.from_frame(table, root, path="file", label="taxon",
        ...                              features=["area"])
        >>> ds.paths[0] == str(root / "1.jpg"), list(ds.labels), ds.features.shape
        (True, ['Copepoda', 'Oithona'], (2, 1))
        """
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise InvalidDataError(f"from_frame takes a DataFrame; got {type(frame).__name__}")
        base = Path(os.getcwd() if root is None else root).expanduser()
        return cls._from_table(
            frame, np.full(len(frame), str(base), dtype=object),
            np.full(len(frame), f"the table (root {base})", dtype=object),
            "the table", "Check root= and the paths in the table.",
            path=path, label=label, id=id, hierarchy=hierarchy, features=features,
            min_count=min_count,
        )

    @classmethod
    def from_export(
        cls,
        folder: str | os.PathLike[str],
        *,
        label: str = "object_annotation_category",
        status: str | Sequence[str] | None = ("validated",),
        min_count: int = 1,
        all_images: bool = False,
        features: Sequence[str] | None = None,
        pattern: str = "ecotaxa_*.tsv",
    ) -> ImageDataset:
        r"""Read an unzipped EcoTaxa export: every ``ecotaxa_*.tsv`` and the images it names.

        The TSV files are searched in ``folder`` and its subfolders, so every
        layout EcoTaxa writes works: the general export, whole or split by taxon,
        sample or acquisition (``ecotaxa_<name>.tsv`` and ``<name>/<image>``), the
        legacy DOI export (``images/<category>/<objid>_<rank>.jpg``) and an import
        bundle. ``img_file_name`` is read relative to the folder of its TSV; each
        TSV is read with :func:`awiml.archives.ecotaxa.tsv.read_tsv`. Rows without
        a label are left out.

        Parameters
        ----------
        folder : path-like
            The folder the export ZIP was unpacked into.
        label : str, default="object_annotation_category"
            The label column; ``"object_annotation_hierarchy"`` gives the whole
            taxonomic path as label.
        status : str or sequence of str or None, default=("validated",)
            Keep only the objects whose ``object_annotation_status`` is one of
            these: by default those a person validated. ``None`` keeps every
            labelled object, machine predictions (``"predicted"``) included.
        min_count : int, default=1
            As in :meth:`from_frame`, counted after the status filter.
        all_images : bool, default=False
            Keep every image of an object (``with_images="all"``), one row each
            (they share the id); by default only the one of lowest ``img_rank``.
        features : sequence of str, optional
            The feature columns, by default as in :meth:`from_frame`; columns
            empty in the export are NaN.
        pattern : str, default="ecotaxa_*.tsv"
            Glob pattern of the TSV file names.

        Returns
        -------
        ImageDataset
            One row per object kept (per image with ``all_images``), in the
            order of the sorted TSV paths and their rows; :attr:`metadata` holds
            the whole rows of the TSV files.

        Raises
        ------
        NotFoundError
            If the folder has no TSV file, or an image file named in a TSV does
            not exist; the message names the file and the TSV.
        InvalidDataError
            If a TSV lacks the label, ``img_file_name`` or status column (the
            message lists its columns), or no object is left after filtering.

        Examples
        --------
        A one-object export, split by taxon:

        >>> import tempfile, pathlib
        >>> export = pathlib.Path(tempfile.mkdtemp())
        >>> (export / "Copepoda").mkdir()
        >>> _ = (export / "Copepoda" / "obj17.jpg").write_bytes(b"")
        >>> _ = (export / "ecotaxa_Copepoda.tsv").write_text(
        ...     "img_file_name\tobject_id\tobject_lat\tobject_annotation_status\t"
        ...     "object_annotation_category\tobject_area\n"
        ...     "Copepoda/obj17.jpg\tobj17\t-54.2\tvalidated\tCopepoda\t412\n")
        >>> ds = ImageDataset.from_export(export)
        >>> ds
        <ImageDataset: 1 image of 1 class (Copepoda 1), 1 feature>
        >>> list(ds.ids), ds.paths[0] == str(export / "Copepoda" / "obj17.jpg")
        (['obj17'], True)
        >>> ds.features
           object_area
        0        412.0
        """
        import pandas as pd

        from ..archives.ecotaxa.tsv import read_tsv

        root = Path(folder).expanduser().absolute()
        if root.is_file():
            raise InvalidDataError(
                f"{root} is a file; from_export reads the unpacked export: unpack it first, "
                f"e.g. shutil.unpack_archive({str(root)!r}, 'export')"
            )
        if not root.is_dir():
            raise NotFoundError(f"{root} does not exist; give the folder of an unpacked export")
        tsvs = sorted(p for p in root.rglob(pattern) if p.is_file())
        if not tsvs:
            raise NotFoundError(
                f"no file matching {pattern!r} in {root} or its subfolders; is it an unpacked "
                "EcoTaxa export? (pattern=... changes the file names searched)"
            )
        if isinstance(status, str):
            status = (status,)
        tables, folders, sources = [], [], []
        for tsv in tsvs:
            table = read_tsv(tsv)
            where = str(tsv)
            if "img_file_name" not in table.columns:
                raise InvalidDataError(
                    f"{tsv} has no img_file_name column, so the export holds no images; export "
                    "again with images (with_images='first' or 'all')"
                )
            _column(table, label, "label", where)
            if status is not None:
                _column(table, "object_annotation_status", "status", where,
                        "Pass status=None to keep every labelled object.")
            folders += [str(tsv.parent)] * len(table)
            sources += [where] * len(table)
            tables.append(table)
        frame = pd.concat(tables, ignore_index=True, sort=False)

        keep = ~_is_missing(frame[label])
        if status is not None:
            found = frame.loc[keep, "object_annotation_status"]
            wanted = found.isin(list(status)).to_numpy(dtype=bool)
            if not wanted.any():
                counts = found.fillna("").astype(str).value_counts()
                summary = ", ".join(f"{s or '(empty)'!r}: {c}" for s, c in counts.items())
                raise InvalidDataError(
                    f"none of the {int(keep.sum())} labelled rows in {root} has the status "
                    f"{list(status)} (found {summary or 'none'}); pass status=None to keep every "
                    "labelled object, machine predictions included, or e.g. "
                    "status=('validated', 'dubious')"
                )
            keep[np.flatnonzero(keep)[~wanted]] = False
        rows = np.flatnonzero(keep)
        if not all_images and "object_id" in frame.columns:
            chosen = frame.iloc[rows]
            if "img_rank" in chosen.columns:
                rank = pd.to_numeric(chosen["img_rank"], errors="coerce")
                chosen = chosen.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable",
                                                                          na_position="last")
            first = ~chosen["object_id"].duplicated(keep="first")
            rows = np.sort(rows[np.isin(rows, chosen.index[first.to_numpy()])])
        return cls._from_table(
            frame.iloc[rows].reset_index(drop=True),
            np.asarray(folders, dtype=object)[rows],
            np.asarray(sources, dtype=object)[rows],
            f"the export {root}",
            "Unpack the whole export, or export again with images.",
            path="img_file_name",
            label=label,
            features=features,
            min_count=min_count,
        )

    @classmethod
    def _from_table(
        cls,
        frame: pd.DataFrame,
        folders: np.ndarray,
        sources: np.ndarray,
        where: str,
        missing_hint: str,
        *,
        path: str,
        label: str,
        features: Sequence[str] | None,
        min_count: int,
        id: str | None = None,
        hierarchy: str | None = None,
    ) -> ImageDataset:
        """Check the columns and files of ``frame`` (paths relative to ``folders``) and build."""
        relative = _column(frame, path, "path", where)
        paths = [
            None if gone else os.path.join(folder, name)
            for gone, folder, name in zip(
                _is_missing(relative), folders, relative.astype(str), strict=True
            )
        ]
        if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral) or (
            min_count < 1
        ):
            raise InvalidDataError(f"min_count={min_count!r} is invalid: give an integer >= 1")
        labels = _column(frame, label, "label", where)
        id_name = id if id is not None else ("object_id" if "object_id" in frame.columns else None)
        ids = None if id_name is None else _column(frame, id_name, "id", where)
        tree_name = hierarchy
        if tree_name is None and "object_annotation_hierarchy" in frame.columns:
            tree_name = "object_annotation_hierarchy"
        if tree_name is not None:
            _column(frame, tree_name, "hierarchy", where)
        if isinstance(features, str):
            features = [features]
        feature_names = _auto_features(frame) if features is None else list(features)
        for name in feature_names:
            _column(frame, name, "feature", where, "Check features=[...]")

        keep = ~_is_missing(labels)
        if not keep.all():
            logger.info("left out %d row(s) without a label in %s", int((~keep).sum()), where)
        if min_count > 1:
            objects = frame.loc[keep].assign(
                _id=np.arange(len(frame))[keep] if ids is None else ids[keep]
            )
            per_class = objects.groupby(labels[keep].astype(str))["_id"].nunique()
            rare = per_class.index[per_class < min_count]
            if len(rare):
                logger.info("left out the classes with fewer than %d objects: %s", min_count,
                            list(rare))
                keep &= ~labels.astype(str).isin(rare).to_numpy()
        rows = np.flatnonzero(keep)

        no_path = [int(i) for i in rows if paths[i] is None]
        if no_path:
            raise InvalidDataError(
                f"{len(no_path)} labelled row(s) of {sources[no_path[0]]} have no image in "
                f"column {path!r} (row(s) {_listing(no_path)}); export with images, or drop them"
            )
        absent = [i for i in rows if not os.path.isfile(paths[i])]
        if absent:
            detail = ", ".join(f"{paths[i]} (listed in {sources[i]})" for i in absent[:3])
            raise NotFoundError(
                f"{len(absent)} image file(s) do not exist: {detail}"
                f"{' and more' if len(absent) > 3 else ''}. {missing_hint}"
            )
        kept = frame.iloc[rows].reset_index(drop=True)
        return cls(
            [paths[i] for i in rows],
            kept[label].to_numpy(),
            ids=rows if id_name is None else kept[id_name].to_numpy(),
            hierarchy=None if tree_name is None else kept[tree_name].to_numpy(),
            features=kept[feature_names],
            metadata=kept,
        )

    @property
    def paths(self) -> np.ndarray:
        """Absolute paths of the images, an object array of str.

        Usable as ``X`` of :class:`~awiml.features.ImageFeatures`,
        :class:`~awiml.features.ImageTensor` and :func:`~awiml.features.extract`
        as it is.
        """
        return self._paths.copy()

    @property
    def labels(self) -> np.ndarray:
        """The label of every image, an object array of str."""
        return self._labels.copy()

    @property
    def classes(self) -> np.ndarray:
        """The distinct labels, sorted: the ``classes_`` a classifier fitted on them gets."""
        return np.asarray(sorted(set(self._labels)), dtype=object)

    @property
    def ids(self) -> np.ndarray:
        """The object id of every image, an object array (row numbers when not given)."""
        return self._ids.copy()

    @property
    def hierarchy(self) -> np.ndarray | None:
        """The taxonomic path of every label (None where unknown), or None when not given."""
        return None if self._hierarchy is None else self._hierarchy.copy()

    @property
    def features(self) -> pd.DataFrame:
        """Numeric features of every image, float64, NaN where missing; may have no column."""
        return self._features.copy()

    @property
    def metadata(self) -> pd.DataFrame:
        """The whole row of the source table of every image (no column when built from arrays)."""
        return self._metadata.copy()

    def class_counts(self) -> pd.Series:
        """Count the images of each class, most frequent first (ties by label).

        Returns
        -------
        pandas.Series
            Counts indexed by label, named ``"count"``.
        """
        import pandas as pd

        counts = pd.Series(self._labels, dtype=object).value_counts().sort_index()
        counts = counts.sort_values(ascending=False, kind="stable").rename_axis("label")
        return counts.rename("count").astype(np.int64)

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        counts = self.class_counts()
        shown = ", ".join(f"{label} {count}" for label, count in counts.iloc[:_MAX_LISTED].items())
        if len(counts) > _MAX_LISTED:
            shown += ", ..."
        n_features = self._features.shape[1]
        return (
            f"<ImageDataset: {len(self)} image{'s' * (len(self) != 1)} of {len(counts)} "
            f"class{'es' * (len(counts) != 1)} ({shown}), {n_features} "
            f"feature{'s' * (n_features != 1)}>"
        )

    def _repr_html_(self) -> str:
        """Show the dataset in Jupyter: sizes, classes and a few thumbnails (one per class)."""
        from .. import _html

        counts = self.class_counts()
        n_features = self._features.shape[1]
        try:
            folder = os.path.commonpath(list(self._paths)) if len(self) else None
        except ValueError:  # paths on different drives
            folder = None
        objects = _distinct(self._ids)
        facts = [
            ("images", len(self)),
            ("objects", objects if objects != len(self) else None),
            ("classes", len(counts)),
            ("features", f"{n_features}: {_listing(list(self._features.columns))}"
             if n_features else "0"),
            ("taxonomy", "known" if self._hierarchy is not None else None),
            ("folder", folder),
        ]
        first: dict[str, int] = {}
        for index, label in enumerate(self._labels):
            first.setdefault(label, index)
        examples = ((self._paths[first[label]], label) for label in counts.index)
        return _html.block(
            "image-dataset", "ImageDataset",
            _html.fields(facts),
            _html.thumbnails(examples),
            _html.table(["label", "images", "share"],
                        ((label, count, f"{count / len(self):.1%}")
                         for label, count in counts.items()), total=len(counts)),
        )

    def to_frame(self) -> pd.DataFrame:
        """Return one table: ``id``, ``path``, ``label``, ``hierarchy`` (if known), the features.

        Returns
        -------
        pandas.DataFrame
            One row per image.
        """
        import pandas as pd

        columns: dict[str, Any] = {"id": self._ids, "path": self._paths, "label": self._labels}
        if self._hierarchy is not None:
            columns["hierarchy"] = self._hierarchy
        head = pd.DataFrame(columns, index=pd.RangeIndex(len(self)))
        return pd.concat([head, self._features], axis=1)

    def subset(self, indices: Any) -> ImageDataset:
        """Return the images at ``indices``, as a new dataset.

        Parameters
        ----------
        indices : array-like of int or of bool
            Row positions, or a boolean mask with one entry per image.

        Returns
        -------
        ImageDataset
            The selected rows, in the order given.

        Examples
        --------
        >>> ds = ImageDataset(["a.jpg", "b.jpg", "c.jpg"], ["x", "y", "x"])
        >>> ds.subset(ds.labels == "x")
        <ImageDataset: 2 images of 1 class (x 2), 0 features>
        """
        index = np.asarray(indices)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise InvalidDataError(
                    f"a boolean mask needs one entry per image ({len(self)}); got shape "
                    f"{index.shape}"
                )
            index = np.flatnonzero(index)
        elif index.size == 0:
            index = index.astype(np.intp)
        elif index.dtype.kind not in "iu" or index.ndim != 1:
            raise InvalidDataError(
                f"subset takes row positions (1-D integers) or a boolean mask; got {index.dtype} "
                f"of shape {index.shape}"
            )
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise InvalidDataError(f"row positions must lie in 0..{len(self) - 1}")
        new = object.__new__(type(self))
        new._paths = self._paths[index]
        new._labels = self._labels[index]
        new._ids = self._ids[index]
        new._hierarchy = None if self._hierarchy is None else self._hierarchy[index]
        new._features = self._features.iloc[index].reset_index(drop=True)
        new._metadata = self._metadata.iloc[index].reset_index(drop=True)
        return new

    def split(
        self,
        test_size: float = 0.2,
        *,
        random_state: int | np.random.RandomState | None = None,
        stratify: bool = True,
    ) -> tuple[ImageDataset, ImageDataset]:
        """Split into a training and a test set, by object, stratified by class.

        The objects (distinct ids) are split, not the images, so the images of
        one object always land on one side. With ``stratify``, each class is
        split on its own: ``round(test_size * n)`` of its ``n`` objects go to
        the test set, but at least one and never all, so every class is on
        both sides (and the test set may be a little larger than
        ``test_size`` for rare classes).

        Parameters
        ----------
        test_size : float, default=0.2
            Fraction of the objects in the test set, between 0 and 1.
        random_state : int, numpy.random.RandomState or None, default=None
            Seed of the shuffle: an int gives the same split every time.
        stratify : bool, default=True
            Split each class on its own; ``False`` shuffles all objects together.

        Returns
        -------
        train, test : ImageDataset
            The two parts, each in the order of this dataset.

        Raises
        ------
        InvalidDataError
            If ``test_size`` is out of range, a class has fewer than two objects,
            or the images of one object carry different labels.
        """
        import pandas as pd
        from sklearn.utils import check_random_state

        if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not (
            0 < test_size < 1
        ):
            raise InvalidDataError(
                f"test_size={test_size!r} is invalid: give the test fraction, between 0 and 1"
            )
        rng = check_random_state(random_state)
        codes, _ = pd.factorize(pd.Series(self._ids, dtype=object), use_na_sentinel=False)
        n_objects = int(codes.max()) + 1 if codes.size else 0
        _, first = np.unique(codes, return_index=True)
        object_labels = self._labels[first]  # the label of each object's first image
        differ = np.flatnonzero(object_labels[codes] != self._labels)
        if differ.size:
            bad = sorted({self._ids[i] for i in differ}, key=str)
            raise InvalidDataError(
                f"the images of object(s) {_listing(bad)} carry different labels; an object "
                "has one label"
            )
        if stratify:
            groups = pd.Series(np.arange(n_objects)).groupby(object_labels, sort=True)
            small = [label for label, members in groups if len(members) < 2]
            if small:
                raise InvalidDataError(
                    f"the class(es) {_listing(small)} have fewer than 2 objects, too few to be on "
                    "both sides of a stratified split; leave them out (min_count=2 in from_export "
                    "or from_frame, or ds.subset(~np.isin(ds.labels, [...]))), or use "
                    "stratify=False"
                )
            parts = [members.to_numpy() for _, members in groups]
        elif n_objects < 2:
            raise InvalidDataError(f"the dataset has {n_objects} object(s); a split needs >= 2")
        else:
            parts = [np.arange(n_objects)]
        chosen = []
        for part in parts:
            n_test = min(max(int(np.floor(test_size * len(part) + 0.5)), 1), len(part) - 1)
            chosen.append(rng.permutation(part)[:n_test])
        in_test = np.isin(codes, np.concatenate(chosen) if chosen else np.empty(0, int))
        return self.subset(np.flatnonzero(~in_test)), self.subset(np.flatnonzero(in_test))


def plankton_images(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    r"""Load a labelled image folder in the layout of EcoTaxa's ML template.

    The folder holds ``training_labels.csv`` and ``test_labels.csv``, with
    columns ``id``, ``img_path`` and ``label``, and the images in
    ``images/``. ``img_path`` is relative to the folder; the template's
    ``io/images/`` prefix is read as ``images/``. Without an ``img_path``
    column, the image of id ``7`` is ``images/7.jpg``.

    Parameters
    ----------
    root : path-like
        The folder.

    Returns
    -------
    train, test : pandas.DataFrame
        One row per image: ``id``, ``path`` (absolute, as str) and ``label``.

    Raises
    ------
    NotFoundError
        If the folder, a label file or images are missing; the message names them.
    InvalidDataError
        If a label file lacks the ``id`` or ``label`` column.

    See Also
    --------
    awiml.features.ImageFeatures : measure the organisms in the images.
    awiml.features.ImageTensor : the images as a tensor for a CNN.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "images").mkdir()
    >>> for i in (1, 2):
    ...     _ = (root / "images" / f"{i}.jpg").write_bytes(b"")
    >>> _ = (root / "training_labels.csv").write_text("id,img_path,label\n1,io/images/1.jpg,a\n")
    >>> _ = (root / "test_labels.csv").write_text("id,img_path,label\n2,io/images/2.jpg,b\n")
    >>> train, test = plankton_images(root)
    >>> train.columns.tolist(), train["path"].iloc[0].endswith("images/1.jpg"), test["label"][0]
    (['id', 'path', 'label'], True, 'b')
    """
    import pandas as pd

    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise NotFoundError(f"{root} does not exist or is not a folder")
    files = [root / "training_labels.csv", root / "test_labels.csv"]
    absent_files = [str(f) for f in files if not f.is_file()]
    if absent_files:
        raise NotFoundError(
            f"{' and '.join(absent_files)} do(es) not exist; a labelled image folder holds "
            "training_labels.csv, test_labels.csv and images/"
        )
    tables = []
    for csv in files:
        try:
            table = pd.read_csv(csv)
        except (ValueError, OSError) as exc:
            raise InvalidDataError(f"{csv} could not be read as CSV: {exc}") from None
        missing = [c for c in ("id", "label") if c not in table.columns]
        if missing:
            raise InvalidDataError(f"{csv} lacks column(s) {missing}; it has {list(table.columns)}")
        if "img_path" in table.columns:
            relative = table["img_path"].astype(str).str.replace(r"^io/images/", "images/",
                                                                 regex=True)
        else:
            relative = "images/" + table["id"].astype(str) + ".jpg"
        paths = [str(root / p) for p in relative]
        absent = [p for p in paths if not os.path.isfile(p)]
        if absent:
            raise NotFoundError(
                f"{len(absent)} image(s) listed in {csv} do not exist, e.g. {absent[:3]}"
            )
        tables.append(
            pd.DataFrame({"id": table["id"], "path": paths, "label": table["label"].astype(str)})
        )
    return tables[0], tables[1]
