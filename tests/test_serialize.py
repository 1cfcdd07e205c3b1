"""awiml.store.serialize: round trips, the trusted-types policy, refusals and corrupt files.

No test here needs Keras (those are in test_serialize_keras.py), so the skops
policy is tested even where Keras cannot be imported.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from awiml.errors import AwimlError, InvalidDataError, NotFoundError
from awiml.store.serialize import (
    KERAS_LAYERS,
    TRUSTED_TYPES,
    UntrustedModelError,
    dump_model,
    load_model,
    model_kind,
)

MARKER_NAME = "code-ran.marker"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # OpenMP models (HistGradientBoosting) spin for minutes on a busy 2-core machine
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(400, 8, n_informative=5, n_classes=3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def frame(data):
    X, y = data
    df = pd.DataFrame(X, columns=list("abcdefgh"))
    df["site"] = np.where(X[:, 0] > 0, "north", "south")
    return df, y


def roundtrip(model, tmp_path, **load_kwargs):
    folder = tmp_path / "model"
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "needs trusted" warning
        saved = dump_model(model, folder)
    saved = json.loads(json.dumps(saved, allow_nan=False))  # what the store writes and reads
    return load_model(folder, saved, **load_kwargs), saved, folder


# --------------------------------------------------------------------------- scikit-learn

SKLEARN_MODELS = {
    "random_forest": lambda: RandomForestClassifier(20, random_state=0),
    "extra_trees": lambda: ExtraTreesClassifier(10, random_state=0),
    "gradient_boosting": lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=10),
    "knn": lambda: KNeighborsClassifier(5),
    "knn_ball_tree_minkowski3": lambda: KNeighborsClassifier(algorithm="ball_tree", p=3),
    "logistic_regression": lambda: LogisticRegression(max_iter=1000),
    "scaler_svc": lambda: make_pipeline(StandardScaler(), SVC()),
    "mlp": lambda: MLPClassifier((16,), max_iter=30, random_state=0),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(SKLEARN_MODELS))
def test_sklearn_roundtrip(name, data, tmp_path):
    X, y = data
    model = SKLEARN_MODELS[name]().fit(X, y)
    loaded, saved, folder = roundtrip(model, tmp_path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert saved["kind"] == "sklearn"
    assert saved["files"] == {"estimator": "model.skops"}
    assert sorted(p.name for p in folder.iterdir()) == ["model.skops"]
    assert saved["classes"] == [0, 1, 2]
    assert saved["untrusted_types"] == []
    assert saved["architecture"]["class"].endswith(type(model).__name__)
    assert {"scikit-learn", "skops", "numpy"} <= set(saved["framework_versions"])


def test_column_transformer_pipeline_roundtrip(frame, tmp_path):
    df, y = frame
    columns = ColumnTransformer([
        ("numbers", StandardScaler(), list("abcdefgh")),
        ("site", OneHotEncoder(handle_unknown="ignore"), ["site"]),
    ])
    model = Pipeline([("columns", columns), ("forest", RandomForestClassifier(10, random_state=0))])
    model.fit(df, y)
    loaded, saved, _ = roundtrip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))
    assert saved["params"]["forest__n_estimators"] == 10
    assert saved["architecture"]["params"]["steps"][0][0] == "columns"
    assert "steps" not in saved["params"]


def test_hist_gradient_boosting_with_categorical_features(frame, tmp_path):
    df, y = frame
    model = HistGradientBoostingClassifier(max_iter=10, categorical_features=["site"]).fit(df, y)
    loaded, _, _ = roundtrip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(df), model.predict_proba(df))


def test_load_in_a_fresh_process(data, tmp_path):
    X, y = data
    model = RandomForestClassifier(5, random_state=0).fit(X, y)
    folder = tmp_path / "m"
    folder.mkdir()
    saved = dump_model(model, folder)
    (tmp_path / "saved.json").write_text(json.dumps(saved))
    np.save(tmp_path / "X.npy", X)
    code = (
        "import json, sys, numpy as np\n"
        "from awiml.store.serialize import load_model\n"
        f"m = load_model({str(folder)!r}, json.load(open({str(tmp_path / 'saved.json')!r})))\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, m.predict(np.load({str(tmp_path / 'X.npy')!r})))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), model.predict(X))


# --------------------------------------------------------------------------- refusals (skops)


def write_marker(X):
    """A user function: it leaves a marker file if it ever runs."""
    Path(MARKER_NAME).write_text("ran")
    return X


def test_function_outside_policy_is_refused_and_not_run(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = data
    model = make_pipeline(FunctionTransformer(write_marker), LogisticRegression(max_iter=500))
    model.fit(X, y)
    Path(MARKER_NAME).unlink()
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.warns(UserWarning, match="write_marker"):
        saved = dump_model(model, folder)
    name = f"{write_marker.__module__}.write_marker"
    assert saved["untrusted_types"] == [name]
    with pytest.raises(UntrustedModelError, match="write_marker") as info:
        load_model(folder, saved)
    assert info.value.names == [name]
    assert "trusted=" in str(info.value) and "model.skops" in str(info.value)
    assert isinstance(info.value, AwimlError) and isinstance(info.value, ValueError)
    assert not Path(MARKER_NAME).exists()
    # after review, the caller may extend the policy explicitly
    loaded = load_model(folder, saved, trusted=[name])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_numpy_functions_are_not_trusted_by_default(data, tmp_path):
    X, y = data
    model = make_pipeline(FunctionTransformer(np.tanh), LogisticRegression(max_iter=500))
    model.fit(X, y)
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.warns(UserWarning):
        saved = dump_model(model, folder)
    with pytest.raises(UntrustedModelError, match="tanh"):
        load_model(folder, saved)
    loaded = load_model(folder, saved, trusted=saved["untrusted_types"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def crafted_skops(path: Path, state: dict) -> None:
    from skops.io._protocol import PROTOCOL

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", json.dumps({**state, "protocol": PROTOCOL,
                                                    "_skops_version": "0.16.0"}))


def _str(value: str) -> dict:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


@pytest.mark.parametrize("module, name, loader", [
    ("os", "system", "ConstructorFromReduceNode"),
    ("builtins", "eval", "ConstructorFromReduceNode"),
    ("builtins", "exec", "ObjectNode"),
    ("subprocess", "Popen", "ObjectNode"),
])
def test_crafted_skops_file_calling_code_is_refused(module, name, loader, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = {"os": f"touch {MARKER_NAME}",
               "builtins": f"open({MARKER_NAME!r}, 'w').close()"}.get(module, "true")
    state = {"__class__": name, "__module__": module, "__loader__": loader,
             "content": {"__class__": "tuple", "__module__": "builtins",
                         "__loader__": "TupleNode", "content": [_str(command)]}}
    folder = tmp_path / "m"
    folder.mkdir()
    crafted_skops(folder / "model.skops", state)
    with pytest.raises(UntrustedModelError, match=f"{module}.{name}"):
        load_model(folder, {"kind": "sklearn", "files": {"estimator": "model.skops"}})
    assert not (tmp_path / MARKER_NAME).exists()


def test_calling_loaders_are_not_opened_by_the_default_policy(tmp_path):
    # a trusted *class* name does not let a file call it with arguments of its choosing
    state = {"__class__": "StandardScaler", "__module__": "sklearn.preprocessing._data",
             "__loader__": "ConstructorFromReduceNode",
             "content": {"__class__": "tuple", "__module__": "builtins",
                         "__loader__": "TupleNode", "content": []}}
    folder = tmp_path / "m"
    folder.mkdir()
    crafted_skops(folder / "model.skops", state)
    with pytest.raises(UntrustedModelError, match="StandardScaler"):
        load_model(folder, {"kind": "sklearn", "files": {"estimator": "model.skops"}})


# --------------------------------------------------------------------------- crafted structures


def _dump(model, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    return folder, dump_model(model, folder)


def test_tree_with_out_of_range_child_is_refused(data, tmp_path):
    X, y = data
    model = RandomForestClassifier(3, random_state=0).fit(X, y)
    tree = model.estimators_[1].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10**9
    tree.__setstate__({**state, "nodes": nodes})
    folder, saved = _dump(model, tmp_path)
    with pytest.raises(InvalidDataError, match=r"model\.skops.*decision tree"):
        load_model(folder, saved)


def test_tree_with_out_of_range_feature_is_refused(data, tmp_path):
    X, y = data
    model = GradientBoostingClassifier(n_estimators=2, random_state=0).fit(X, y)
    tree = model.estimators_[0, 0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["feature"][0] = 8  # one past the last feature
    tree.__setstate__({**state, "nodes": nodes})
    folder, saved = _dump(model, tmp_path)
    with pytest.raises(InvalidDataError, match="decision tree"):
        load_model(folder, saved)


def test_hist_gradient_boosting_node_out_of_range_is_refused(data, tmp_path):
    X, y = data
    model = HistGradientBoostingClassifier(max_iter=2).fit(X, y)
    model._predictors[0][0].nodes["feature_idx"][0] = 99
    folder, saved = _dump(model, tmp_path)
    with pytest.raises(InvalidDataError, match="HistGradientBoosting"):
        load_model(folder, saved)


def test_neighbors_tree_index_out_of_range_is_refused(data, tmp_path):
    X, y = data
    model = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
    state = model._tree.__getstate__()
    index = state[1].copy()
    index[0] = 10**9
    model._tree.__setstate__((state[0], index, *state[2:]))
    folder, saved = _dump(model, tmp_path)
    with pytest.raises(InvalidDataError, match="neighbors tree"):
        load_model(folder, saved)


def test_svm_with_inconsistent_arrays_is_refused(data, tmp_path):
    X, y = data
    model = SVC().fit(X, y)
    model._n_support = model._n_support + 5
    folder, saved = _dump(model, tmp_path)
    with pytest.raises(InvalidDataError, match="libsvm"):
        load_model(folder, saved)


# --------------------------------------------------------------------------- corrupt files


def test_truncated_skops_file(data, tmp_path):
    X, y = data
    folder, saved = _dump(LogisticRegression().fit(X, y), tmp_path)
    path = folder / "model.skops"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InvalidDataError, match=r"model\.skops"):
        load_model(folder, saved)


def test_missing_file(data, tmp_path):
    X, y = data
    folder, saved = _dump(LogisticRegression().fit(X, y), tmp_path)
    (folder / "model.skops").unlink()
    with pytest.raises(NotFoundError, match=r"model\.skops"):
        load_model(folder, saved)


def test_file_outside_the_folder_is_refused(tmp_path):
    with pytest.raises(InvalidDataError, match="not inside"):
        load_model(tmp_path, {"kind": "sklearn", "files": {"estimator": "../x.skops"}})


def test_unknown_kind(tmp_path):
    with pytest.raises(InvalidDataError, match="unknown model kind"):
        load_model(tmp_path, {"kind": "pickle", "files": {}})


# --------------------------------------------------------------------------- awiml's pieces


def test_awiml_features_in_pipelines(tmp_path):
    from awiml import features
    rng = np.random.default_rng(3)
    t = np.arange(4000) / 8000
    freqs = rng.choice([600.0, 1800.0], size=40)
    waves = np.sin(2 * np.pi * freqs[:, None] * t) + 0.1 * rng.normal(size=(40, len(t)))
    labels = np.where(freqs > 1000, "high", "low")
    spectra = Pipeline([
        ("spectrogram", features.Spectrogram(sample_rate=8000, mel_bins=16, output="pooled")),
        ("classify", LogisticRegression(max_iter=500)),
    ]).fit(waves, labels)
    loaded, _, _ = roundtrip(spectra, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(waves), spectra.predict_proba(waves))

    images = []
    for i in range(30):
        image = np.full((40, 40), 230, dtype=np.uint8)
        r = 4 + (i % 3) * 5
        yy, xx = np.ogrid[:40, :40]
        image[(yy - 20) ** 2 + ((xx - 20) / (1 + i % 2)) ** 2 < r**2] = 40
        images.append(image)
    y = np.array([i % 3 for i in range(30)])
    shapes = Pipeline([("features", features.ImageFeatures()),
                       ("forest", RandomForestClassifier(10, random_state=0))]).fit(images, y)
    tensors = Pipeline([("tensor", features.ImageTensor(size=(16, 16))),
                        ("flat", FunctionTransformer(np.reshape, kw_args={"shape": (30, -1)})),
                        ]).fit(images)
    for name, model in [("shapes", shapes), ("tensors", tensors)]:
        folder = tmp_path / name
        folder.mkdir()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # np.reshape: outside the policy
            saved = dump_model(model, folder)
        loaded = load_model(folder, saved, trusted=saved["untrusted_types"])
        if name == "shapes":
            assert saved["untrusted_types"] == []
            np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
        else:
            assert saved["untrusted_types"] == ["numpy.reshape"]
            np.testing.assert_array_equal(loaded.transform(images), model.transform(images))


def test_awiml_preprocess_and_features_in_a_pipeline(tmp_path):
    from awiml import datasets, features, preprocess
    train = datasets.synthetic_calls(20, sample_rate=8000, instrument="A", seed=1)
    test = datasets.synthetic_calls(10, sample_rate=8000, instrument="B", seed=2)
    model = Pipeline([
        ("harmonise", preprocess.HarmoniseColumns({"pressure": ["pressure", "p"]},
                                                  targets=["pressure"], unknown="drop")),
        ("units", preprocess.ConvertUnits({"pressure": "Pa"})),
        ("quality", preprocess.QualityFilter()),
        ("spectrogram", features.Spectrogram(sample_rate=8000, output="pooled")),
        ("classify", LogisticRegression(max_iter=500)),
    ]).fit(train, train["label"])
    loaded, saved, _ = roundtrip(model, tmp_path)
    assert saved["untrusted_types"] == []
    np.testing.assert_array_equal(loaded.predict_proba(test), model.predict_proba(test))


def test_drop_missing_roundtrip(tmp_path):
    from awiml import preprocess
    train = pd.DataFrame({"temperature": [1.0, None, 3.0, 4.0], "salinity": [34.0, 35.0, None, 33]})
    model = preprocess.DropMissing(strategy="median").fit(train)
    loaded, _, _ = roundtrip(model, tmp_path)
    pd.testing.assert_frame_equal(loaded.transform(train), model.transform(train))


# --------------------------------------------------------------------------- the policies


def test_trusted_types_are_exact_existing_classes():
    assert len(TRUSTED_TYPES) == len(set(TRUSTED_TYPES))
    for name in TRUSTED_TYPES:
        assert "*" not in name and not name.endswith(".")
        module, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except ImportError:
            assert module.startswith("awiml."), name  # awiml's pieces may not be written yet
            continue
        if name == "sklearn.utils.validation.check_array":
            continue  # the one function, reviewed: HistGradientBoosting's own validator
        assert isinstance(obj, type), name


def test_awiml_pieces_are_trusted():
    expected = {
        "awiml.preprocess": ["HarmoniseColumns", "ConvertUnits", "QualityFilter", "DropMissing"],
        "awiml.features": ["Spectrogram", "ImageFeatures", "ImageTensor"],
    }
    for module, names in expected.items():
        for name in names:
            assert f"{module}.{name}" in TRUSTED_TYPES
        mod = importlib.import_module(module)
        from skops.io._utils import get_type_name

        for name in names:  # the name skops records must be the one the policy lists
            assert get_type_name(getattr(mod, name)) == f"{module}.{name}"


def test_policy_leaves_out_dangerous_names():
    for name in ["builtins.eval", "builtins.exec", "os.system", "subprocess.Popen",
                 "numpy.memmap", "numpy.load", "builtins.getattr", "builtins.open",
                 "sklearn.preprocessing._function_transformer.FunctionTransformer.transform"]:
        assert name not in TRUSTED_TYPES
    for name in ["keras.layers.Lambda", "keras.layers.TorchModuleWrapper",
                 "keras.layers.JaxLayer", "keras.layers.FlaxLayer", "keras.layers.TFSMLayer",
                 "keras.layers.StringLookup", "keras.layers.TextVectorization",
                 "keras.layers.IntegerLookup", "keras.Layer", "keras.layers.Wrapper",
                 "keras.losses.get", "keras.models.load_model", "keras.utils.get_file"]:
        assert name not in KERAS_LAYERS


def test_policy_lists_are_the_reviewed_module_objects():
    # the lists live in awiml.store._trust_policy; awiml.store.serialize binds the same objects
    from awiml.store import _trust_policy

    assert TRUSTED_TYPES is _trust_policy.TRUSTED_TYPES
    assert KERAS_LAYERS is _trust_policy.KERAS_LAYERS


def test_import_is_light():
    code = ("import sys, awiml.store.serialize; "
            "print([m for m in ('sklearn', 'keras', 'skops', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "[]"


def test_dump_needs_an_empty_folder(data, tmp_path):
    X, y = data
    (tmp_path / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        dump_model(LogisticRegression().fit(X, y), tmp_path)


def test_unstorable_attribute_is_named(data, tmp_path):
    X, y = data
    model = LogisticRegression().fit(X, y)
    model.report_ = pd.DataFrame({"a": [1]})  # skops cannot store pandas objects
    with pytest.raises(TypeError, match=r"LogisticRegression\.report_ \(a pandas"):
        dump_model(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_model_kind_rejects_other_objects():
    with pytest.raises(TypeError, match="cannot store"):
        model_kind({"weights": [1, 2]})


def test_dump_model_reports_the_digest_of_the_skops_file_it_wrote(tmp_path):
    from awiml.archives.transfer import file_checksum

    X, y = make_classification(60, 4, random_state=0)
    digests: dict[str, str] = {}
    saved = dump_model(LogisticRegression().fit(X, y), tmp_path, digests=digests)
    assert saved["files"] == {"estimator": "model.skops"}
    assert digests == {"model.skops": file_checksum(tmp_path / "model.skops")}


def test_durable_dump_syncs_the_skops_file_once(tmp_path, monkeypatch):
    synced: list[int] = []  # inode numbers
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    X, y = make_classification(60, 4, random_state=0)
    model = LogisticRegression().fit(X, y)
    monkeypatch.setattr(os, "fsync", spy)
    plain, durable = tmp_path / "plain", tmp_path / "durable"
    plain.mkdir()
    durable.mkdir()
    dump_model(model, plain)
    assert synced == []  # not asked for: left to the page cache, as skops.io.dump does
    digests: dict[str, str] = {}
    dump_model(model, durable, digests=digests, durable=True)
    assert synced == [(durable / "model.skops").stat().st_ino]
    assert list(digests) == ["model.skops"]


def test_awiml_names_in_the_policy_are_defined_where_they_say():
    # saved models record these dotted names: moving a class breaks loading stored models
    from awiml.store._trust_policy import _AWIML_BUILDERS

    own = [name for name in TRUSTED_TYPES if name.startswith("awiml.")] + list(_AWIML_BUILDERS)
    assert len(own) >= 8
    for name in own:
        module, _, attribute = name.rpartition(".")
        obj = getattr(importlib.import_module(module), attribute)
        assert f"{obj.__module__}.{obj.__qualname__}" == name
