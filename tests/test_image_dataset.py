"""awiml.datasets.ImageDataset: EcoTaxa exports, tables, splits, and classifiers trained on it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import awiml
from awiml.datasets import ImageDataset
from awiml.errors import InvalidDataError, NotFoundError
from awiml.features import ImageFeatures, ImageTensor

ECOTAXA = Path(__file__).parent / "data" / "ecotaxa"
BY_TAXON = ECOTAXA / "export_general_split_by_taxon_with_types_row"
BY_ACQUISITION = ECOTAXA / "export_general_split_by_acquisition_all_images"
DOI = ECOTAXA / "export_doi_images_by_category"
IMPORT_BUNDLE = ECOTAXA / "import_bundle_m106"
TEMPLATE = Path(awiml.__file__).parent / "data" / "ecotaxa_ml_template"
CLASSES = ["Cladocera", "Copepoda", "Siphonophorae", "detritus"]


# ----------------------------------------------------------------------------- helpers


def raw_rows(folder: Path) -> pd.DataFrame:
    """Every row of every ecotaxa_*.tsv under ``folder``, read with plain pandas (the oracle).

    Adds ``_tsv`` (the file) and ``_path`` (the image: the TSV's folder / img_file_name).
    """
    tables = []
    for tsv in sorted(folder.rglob("ecotaxa_*.tsv")):
        table = pd.read_csv(tsv, sep="\t", encoding="utf-8-sig", dtype=str,
                            keep_default_na=False)
        if len(table) and set(table.iloc[0]) <= {"[t]", "[f]"}:
            table = table.iloc[1:]
        tables.append(table.assign(_tsv=str(tsv),
                                   _path=[str(tsv.parent / f) for f in table["img_file_name"]]))
    return pd.concat(tables, ignore_index=True)


def template_dataset(split: str) -> ImageDataset:
    """The ML template's ``"training"`` or ``"test"`` objects with their 48 ZooProcess features."""
    labels = pd.read_csv(TEMPLATE / f"{split}_labels.csv")
    features = pd.read_csv(TEMPLATE / f"{split}_features.csv.gz")
    table = labels.merge(features, on="id", validate="one_to_one")
    table["img_path"] = table["img_path"].str.replace(r"^io/images/", "images/", regex=True)
    return ImageDataset.from_frame(table, TEMPLATE, path="img_path", label="label", id="id",
                                   features=list(features.columns[1:]))


def features_accuracy(train: ImageDataset, test: ImageDataset, seed: int = 0) -> float:
    """Held-out accuracy of a random forest on the datasets' own features."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=2)
    return model.fit(train.features, train.labels).score(test.features, test.labels)


def cnn_accuracy(train: ImageDataset, test: ImageDataset, seed: int = 0) -> float:
    """Held-out accuracy of a small CNN on the images, 64 x 64 grey, straight from ``paths``."""
    from sklearn.pipeline import make_pipeline

    from awiml.classify import KerasClassifier, build_cnn

    model = make_pipeline(
        ImageTensor(size=(64, 64), grey=True),
        KerasClassifier(build_cnn, model_params={"filters": (16, 32, 64), "dense_units": 32},
                        epochs=50, learning_rate=0.003, random_state=seed),
    )
    return model.fit(train.paths, train.labels).score(test.paths, test.labels)


@pytest.fixture(scope="module")
def template():
    return template_dataset("training"), template_dataset("test")


# ----------------------------------------------------------------------------- from_export


@pytest.mark.parametrize("folder", [BY_TAXON, BY_ACQUISITION, DOI, IMPORT_BUNDLE],
                         ids=lambda f: f.name)
def test_from_export_reads_every_layout(folder):
    raw = raw_rows(folder)
    ds = ImageDataset.from_export(folder, status=None)
    # One row per object (with_images=all exports list some objects twice), each pointing
    # at the image file its TSV names, relative to the TSV's own folder.
    assert len(ds) == raw["object_id"].nunique() == len(set(ds.ids))
    by_id = raw.groupby("object_id")
    for object_id, path, label in zip(ds.ids, ds.paths, ds.labels, strict=True):
        rows = by_id.get_group(object_id)
        assert os.path.isabs(path) and os.path.isfile(path)
        assert path in set(rows["_path"])
        assert label == rows["object_annotation_category"].iloc[0]
    expected = raw.drop_duplicates("object_id")["object_annotation_category"].value_counts()
    assert ds.class_counts().sort_index().to_dict() == expected.sort_index().to_dict()
    features = ds.features
    assert len(features) == len(ds) and features.shape[1] > 30
    assert all(dtype == np.float64 for dtype in features.dtypes)
    assert all(name.startswith("object_") for name in features.columns)
    assert not {"object_lat", "object_lon", "object_depth_min", "object_by", "object_id"} & set(
        features.columns)
    area = dict(zip(raw["object_id"], raw["object_area"].astype(float), strict=True))
    np.testing.assert_array_equal(features["object_area"], [area[i] for i in ds.ids])


def test_split_by_taxon_export_keeps_labels_hierarchy_and_metadata():
    raw = raw_rows(BY_TAXON)
    ds = ImageDataset.from_export(BY_TAXON, status=None)
    # Split by taxon: every TSV holds one category, and its images lie in its own folder.
    for tsv, rows in raw.groupby("_tsv"):
        mine = np.isin(ds.ids, rows["object_id"])
        assert set(ds.labels[mine]) == set(rows["object_annotation_category"])
        assert all(Path(p).parent == Path(tsv).parent / Path(p).parent.name for p in
                   ds.paths[mine])
    tree = dict(zip(raw["object_id"], raw["object_annotation_hierarchy"], strict=True))
    assert list(ds.hierarchy) == [tree[i] for i in ds.ids]
    assert "Biota>Animalia>Arthropoda>Crustacea>Multicrustacea>Copepoda>Neocopepoda>Podoplea>" \
        "Cyclopoida>Ergasilida>Oncaeidae" in set(ds.hierarchy)
    # The whole TSV rows travel along, typed (the [t]/[f] row is not data).
    meta = ds.metadata
    assert len(meta) == len(ds) and list(meta["object_id"]) == list(ds.ids)
    assert set(meta["sample_id"]) == {"m106_mn01_n1_sml", "m106_mn01_n2_sml", "m106_mn01_n3_sml"}
    assert (meta["object_depth_min"].astype(float) >= 0).all()
    frame = ds.to_frame()
    assert list(frame.columns[:4]) == ["id", "path", "label", "hierarchy"]
    assert frame.shape == (len(ds), 4 + ds.features.shape[1])


def test_all_images_export_keeps_the_first_image_per_object_unless_asked():
    raw = raw_rows(BY_ACQUISITION)
    twice = raw[raw["object_id"].duplicated(keep=False)]
    assert len(raw) == 13 and list(twice["img_rank"]) == ["0", "2"]
    ds = ImageDataset.from_export(BY_ACQUISITION, status=None)
    object_id = twice["object_id"].iloc[0]
    assert list(ds.paths[ds.ids == object_id]) == [twice["_path"].iloc[0]]

    every = ImageDataset.from_export(BY_ACQUISITION, status=None, all_images=True)
    assert len(every) == 13
    assert sorted(every.paths[every.ids == object_id]) == sorted(twice["_path"])
    # Both images of that object stay on one side of any split.
    for seed in range(10):
        train, test = every.split(0.3, random_state=seed, stratify=False)
        assert (object_id in train.ids) != (object_id in test.ids)
        assert set(train.ids).isdisjoint(test.ids) and len(train) + len(test) == 13


def test_doi_export_reads_images_by_category_and_label_can_be_the_hierarchy():
    ds = ImageDataset.from_export(DOI, status=None, label="object_annotation_hierarchy")
    assert len(ds) == 11
    assert all(Path(p).parent.parent == DOI.absolute() / "images" for p in ds.paths)
    assert set(ds.classes) == set(raw_rows(DOI)["object_annotation_hierarchy"])
    assert "not-living>detritus" in ds.classes


def test_status_filter_keeps_validated_objects_and_explains_when_none_is(tmp_path):
    with pytest.raises(InvalidDataError, match=r"'predicted': 12\).*status=None"):
        ImageDataset.from_export(BY_TAXON)
    export = shutil.copytree(BY_TAXON, tmp_path / "export")
    tsv = export / "ecotaxa_detritus.tsv"
    tsv.write_bytes(tsv.read_bytes().replace(b'"predicted"', b'"validated"'))
    validated = ImageDataset.from_export(export)
    assert validated.class_counts().to_dict() == {"detritus": 4}
    both = ImageDataset.from_export(export, status=("validated", "predicted"))
    assert len(both) == len(ImageDataset.from_export(export, status=None)) == 12
    assert len(ImageDataset.from_export(export, status="predicted")) == 8


def test_min_count_leaves_out_rare_classes():
    ds = ImageDataset.from_export(BY_TAXON, status=None, min_count=2)
    assert ds.class_counts().to_dict() == {"detritus": 4, "Oncaeidae": 2, "small<egg": 2}


def test_export_errors_name_the_file_and_what_to_do(tmp_path):
    with pytest.raises(NotFoundError, match="nowhere does not exist"):
        ImageDataset.from_export(tmp_path / "nowhere")
    with pytest.raises(NotFoundError, match=r"no file matching 'ecotaxa_\*.tsv'"):
        ImageDataset.from_export(tmp_path)
    archive = tmp_path / "export.zip"
    archive.write_bytes(b"PK")
    with pytest.raises(InvalidDataError, match="unpack it first"):
        ImageDataset.from_export(archive)
    with pytest.raises(InvalidDataError, match="no img_file_name column"):
        ImageDataset.from_export(ECOTAXA / "export_general_with_internal_ids", status=None)
    with pytest.raises(InvalidDataError, match=r"ecotaxa_Cyclopoida.tsv has no label column "
                                               r"'taxon'; its columns are \[.*'object_id'"):
        ImageDataset.from_export(BY_TAXON, label="taxon")

    export = shutil.copytree(BY_TAXON, tmp_path / "export")
    (export / "detritus" / "m106_mn01_n3_sml_1.png").unlink()
    with pytest.raises(NotFoundError, match=r"1 image file\(s\) do not exist: "
                                            r".*detritus/m106_mn01_n3_sml_1.png "
                                            r"\(listed in .*ecotaxa_detritus.tsv\)"):
        ImageDataset.from_export(export, status=None)


# ----------------------------------------------------------------------------- from_frame, access


def test_from_frame_on_the_template(template):
    train, test = template
    assert (len(train), len(test)) == (320, 80)
    assert train.class_counts().to_dict() == dict.fromkeys(CLASSES, 80)
    assert list(test.classes) == CLASSES
    labels = pd.read_csv(TEMPLATE / "training_labels.csv")
    assert list(train.ids) == list(labels["id"]) and list(train.labels) == list(labels["label"])
    assert all(p == str(TEMPLATE / "images" / f"{i}.jpg") for p, i in zip(train.paths, train.ids,
                                                                          strict=True))
    assert train.features.shape == (320, 48) and train.hierarchy is None
    features = pd.read_csv(TEMPLATE / "training_features.csv.gz")
    np.testing.assert_array_equal(train.features["area"], features.set_index("id").loc[
        train.ids.astype(int), "area"])
    assert repr(train) == ("<ImageDataset: 320 images of 4 classes (Cladocera 80, Copepoda 80, "
                           "Siphonophorae 80, detritus 80), 48 features>")


def test_from_frame_checks_columns_files_and_leaves_out_unlabelled_rows(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"")
    table = pd.DataFrame({"file": ["a.jpg", "b.jpg", "c.jpg"], "taxon": ["x", None, "y"],
                          "size": [1.0, 2.0, 3.0], "note": ["ok", "ok", "bad"]})
    ds = ImageDataset.from_frame(table, tmp_path, path="file", label="taxon", features=["size"])
    assert list(ds.labels) == ["x", "y"] and list(ds.ids) == [0, 2]
    assert list(ds.features["size"]) == [1.0, 3.0]
    with pytest.raises(InvalidDataError, match=r"no label column 'species'; its columns are "
                                               r"\['file', 'taxon', 'size', 'note'\]"):
        ImageDataset.from_frame(table, tmp_path, path="file", label="species")
    with pytest.raises(InvalidDataError, match="no path column 'img_file_name'"):
        ImageDataset.from_frame(table, tmp_path, label="taxon")
    with pytest.raises(InvalidDataError, match="'note' is not numeric"):
        ImageDataset.from_frame(table, tmp_path, path="file", label="taxon", features=["note"])
    with pytest.raises(NotFoundError, match=r"elsewhere.a.jpg \(listed in the table"):
        ImageDataset.from_frame(table, tmp_path / "elsewhere", path="file", label="taxon")


def test_accessors_return_copies_and_subset_selects():
    ds = ImageDataset(["a.jpg", "b.jpg", "c.jpg", "d.jpg"], ["x", "y", "x", "z"],
                      features={"f": [1, 2, 3, 4]})
    labels, features = ds.labels, ds.features
    labels[0], features.loc[0, "f"] = "changed", 99
    assert ds.labels[0] == "x" and ds.features["f"][0] == 1
    assert ds.paths[0] == os.path.abspath("a.jpg")
    counts = ds.class_counts()
    assert isinstance(counts, pd.Series) and counts.name == "count"
    assert list(counts.items()) == [("x", 2), ("y", 1), ("z", 1)]
    by_mask = ds.subset(ds.labels == "x")
    by_index = ds.subset([3, 0])
    assert list(by_mask.ids) == [0, 2] and list(by_mask.features["f"]) == [1.0, 3.0]
    assert list(by_index.labels) == ["z", "x"] and list(by_index.features["f"]) == [4.0, 1.0]
    with pytest.raises(InvalidDataError, match="one entry per image"):
        ds.subset([True, False])
    with pytest.raises(InvalidDataError, match=r"0\.\.3"):
        ds.subset([4])
    with pytest.raises(InvalidDataError, match=r"labels has 1 entries but there are 2 paths"):
        ImageDataset(["a.jpg", "b.jpg"], ["x"])
    with pytest.raises(InvalidDataError, match="1 of 2 labels are missing"):
        ImageDataset(["a.jpg", "b.jpg"], ["x", None])


def test_paths_feed_image_features_and_image_tensor(template):
    _, test = template
    measured = ImageFeatures(properties=("area", "intensity_mean")).fit_transform(test.paths)
    assert measured.shape == (80, 2)
    # Each path goes with its own features: the organism's area measured on the image
    # ranks like ZooProcess' "area" (measured Spearman 0.995; -0.22 with shuffled paths).
    assert pd.Series(measured[:, 0]).corr(test.features["area"], method="spearman") > 0.95
    ds = ImageDataset.from_export(BY_TAXON, status=None)
    assert ImageTensor(size=(32, 32)).fit_transform(ds.paths).shape == (12, 32, 32, 1)


# ----------------------------------------------------------------------------- split


def test_split_is_stratified_seeded_and_disjoint(template):
    train, test = template
    full = ImageDataset(
        [*train.paths, *test.paths], [*train.labels, *test.labels], ids=[*train.ids, *test.ids],
        features=pd.concat([train.features, test.features], ignore_index=True))
    a, b = full.split(0.2, random_state=3)
    assert a.class_counts().to_dict() == dict.fromkeys(CLASSES, 80)
    assert b.class_counts().to_dict() == dict.fromkeys(CLASSES, 20)
    assert set(a.ids).isdisjoint(b.ids) and set(a.ids) | set(b.ids) == set(full.ids)
    again = full.split(0.2, random_state=3)[1]
    assert list(again.ids) == list(b.ids)
    assert list(full.split(0.2, random_state=4)[1].ids) != list(b.ids)
    # Rows keep their order and their features.
    assert list(b.ids) == sorted(b.ids, key=list(full.ids).index)
    np.testing.assert_array_equal(b.features, full.features.iloc[np.isin(full.ids, b.ids)])
    plain, held = full.split(0.25, random_state=0, stratify=False)
    assert (len(plain), len(held)) == (300, 100)


def test_split_puts_every_class_on_both_sides_or_says_which_is_too_small():
    ds = ImageDataset.from_export(BY_TAXON, status=None)
    with pytest.raises(InvalidDataError, match=r"'Cyclopoida'.*fewer than 2 objects.*min_count=2"):
        ds.split()
    common = ImageDataset.from_export(BY_TAXON, status=None, min_count=2)
    for seed in range(5):
        train, test = common.split(0.2, random_state=seed)
        # 0.2 of 2 rounds to 0: the class still gets one test object.
        assert train.class_counts().to_dict() == {"detritus": 3, "Oncaeidae": 1, "small<egg": 1}
        assert test.class_counts().to_dict() == {"Oncaeidae": 1, "detritus": 1, "small<egg": 1}
    for bad in (0, 1, 1.5, -0.1, True):
        with pytest.raises(InvalidDataError, match="test_size"):
            common.split(bad)


# ----------------------------------------------------------------------------- training


def test_random_forest_on_zooprocess_features_beats_chance(template):
    # The template's own train/test lists (320/80, 20 test objects per class) rather than
    # ds.split: the test set is the one its authors and test_classify use, so the accuracy
    # is comparable, and only the model's seed varies. (Re-drawing the 80 test objects
    # with split() moved the random forest's accuracy between 0.70 and 0.86 over 20 splits.)
    # Measured with random_state 0..19: 0.80-0.8625, mean 0.835 (0.8375 with seed 0), and
    # 0.85 for a HistGradientBoostingClassifier. Chance is 0.25 (4 balanced classes); 0.75
    # is three times chance and 4 test objects below the worst seed.
    train, test = template
    assert features_accuracy(train, test, seed=0) >= 0.75


@pytest.mark.slow
def test_small_cnn_on_the_images_beats_chance(template):
    # Same train/test lists as above. 64 x 64 grey images, 3 convolution blocks, 50 epochs
    # (the network underfits at 10-30 epochs: 0.46-0.66), about 12 s on 2 CPU cores.
    # Measured with random_state 0..11: 0.5375-0.725, mean 0.63 (0.70 with seed 0); the
    # images are scaled to fit 64 x 64, so the CNN loses the size of the organism that the
    # ZooProcess features keep. 0.45 is 1.8 times chance (more than 4 binomial standard
    # deviations above it on 80 objects) and 7 test objects below the worst seed.
    train, test = template
    assert cnn_accuracy(train, test, seed=0) >= 0.45
