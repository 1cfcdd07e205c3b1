"""awiml.store.serialize with Keras: networks, KerasClassifier pipelines, refusals, bad files."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from test_serialize import MARKER_NAME, _dump, roundtrip

from awiml import classify
from awiml.errors import InvalidDataError
from awiml.store.serialize import (
    KERAS_LAYERS,
    UnloadedBuilder,
    UntrustedModelError,
    dump_model,
    load_model,
    model_kind,
)

# --------------------------------------------------------------------------- Keras


def dense_data(n=64, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype("float32")
    return X, (X[:, 0] > 0).astype("int32")


def sequential():
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3)),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    X, y = dense_data()
    model.fit(X, y, epochs=2, verbose=0)
    return model


def functional():
    inputs = keras.Input((8,), name="x")
    hidden = keras.layers.Dense(5, activation="gelu")(inputs)
    merged = keras.layers.Concatenate()([hidden, inputs])
    outputs = keras.layers.Dense(2)(merged)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("build", [sequential, functional])
@pytest.mark.parametrize("archive", [True, False])
def test_keras_roundtrip(build, archive, tmp_path):
    model = build()
    folder = tmp_path / "m"
    folder.mkdir()
    saved = dump_model(model, folder, keras_archive=archive)
    saved = json.loads(json.dumps(saved, allow_nan=False))
    assert saved["kind"] == "keras" and model_kind(model) == "keras"
    expected = {"architecture": "architecture.json", "weights": "model.weights.h5"}
    if archive:
        expected["keras_archive"] = "model.keras"
    assert saved["files"] == expected
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected.values())
    assert saved["architecture"]["total_params"] == model.count_params()
    assert {"keras", "backend"} <= set(saved["framework_versions"])
    loaded = load_model(folder, saved)
    X, _ = dense_data()
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    if archive:  # the kept archive opens with Keras itself too
        again = keras.saving.load_model(folder / "model.keras")
        np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


def test_keras_lambda_layer_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / MARKER_NAME
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Lambda(lambda x: (open(MARKER_NAME, "w").close(), x)[1], name="side_effect"),
        keras.layers.Dense(2),
    ])
    folder = tmp_path / "m"
    folder.mkdir()
    saved = dump_model(model, folder)
    marker.unlink(missing_ok=True)
    with pytest.raises(UntrustedModelError, match=r"keras\.layers\.Lambda.*side_effect") as info:
        load_model(folder, saved)
    assert "architecture.json" in str(info.value)
    assert "never loaded" in str(info.value)
    # trusting the layer class does not let a serialized lambda through
    with pytest.raises(UntrustedModelError, match="lambda"):
        load_model(folder, saved, trusted=["keras.layers.Lambda"])
    assert not marker.exists()


def edit_architecture(folder: Path, edit) -> None:
    path = folder / "architecture.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("entry, named", [
    ({"module": "mypkg.layers", "class_name": "Evil", "registered_name": "mypkg>Evil"},
     "mypkg.layers.Evil"),
    ({"module": "keras.layers", "class_name": "TorchModuleWrapper", "registered_name": None},
     "keras.layers.TorchModuleWrapper"),
    ({"module": "keras.layers", "class_name": "StringLookup", "registered_name": None},
     "keras.layers.StringLookup"),
    ({"module": "keras.layers", "class_name": "Dense", "registered_name": "mypkg>Dense"},
     "keras.layers.Dense"),
    ({"module": None, "class_name": "Dense", "registered_name": None}, "None.Dense"),
    # a class name no JSON writer of Keras makes: refused, not a bare TypeError
    ({"module": "keras.layers", "class_name": ["Dense"], "registered_name": None},
     "malformed entry"),
    ({"module": ["keras.layers"], "class_name": "Dense", "registered_name": None},
     "malformed entry"),
])
def test_keras_unknown_class_is_refused(entry, named, tmp_path):
    model = functional()
    folder, saved = _dump(model, tmp_path)

    def edit(config):
        config["config"]["layers"][1].update(entry)

    edit_architecture(folder, edit)
    with pytest.raises(UntrustedModelError, match=named.replace(".", r"\.")):
        load_model(folder, saved)


def test_keras_function_outside_keras_is_refused(tmp_path):
    folder, saved = _dump(functional(), tmp_path)

    def edit(config):
        config["config"]["layers"][1]["config"]["activation"] = {
            "module": "os", "class_name": "function", "config": "system",
            "registered_name": "system"}

    edit_architecture(folder, edit)
    with pytest.raises(UntrustedModelError, match=r"function os\.system"):
        load_model(folder, saved)


def test_keras_registered_custom_object_is_refused(tmp_path):
    folder, saved = _dump(functional(), tmp_path)

    @keras.saving.register_keras_serializable(package="awimltest")
    def sneaky(x):  # pragma: no cover - must never run
        raise AssertionError("custom code ran")

    try:
        edit_architecture(folder, lambda c: c["config"]["layers"][1]["config"].update(
            activation="awimltest>sneaky"))
        with pytest.raises(UntrustedModelError, match="awimltest>sneaky"):
            load_model(folder, saved)
    finally:
        keras.saving.get_custom_objects().pop("awimltest>sneaky", None)


def test_keras_truncated_weights(tmp_path):
    folder, saved = _dump(sequential(), tmp_path)
    path = folder / "model.weights.h5"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(InvalidDataError, match=r"model\.weights\.h5"):
        load_model(folder, saved)


def test_keras_invalid_json(tmp_path):
    folder, saved = _dump(sequential(), tmp_path)
    (folder / "architecture.json").write_text('{"class_name": "Sequential", ')
    with pytest.raises(InvalidDataError, match=r"architecture\.json.*invalid JSON"):
        load_model(folder, saved)


def test_keras_architecture_that_is_not_a_model(tmp_path):
    folder, saved = _dump(sequential(), tmp_path)
    (folder / "architecture.json").write_text(json.dumps(
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2},
         "registered_name": None}))
    with pytest.raises(InvalidDataError, match="not a Keras model"):
        load_model(folder, saved)


def test_unbuilt_keras_model_is_refused(tmp_path):
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        dump_model(model, tmp_path)


# --------------------------------------------------------------------------- KerasClassifier


def my_builder(input_shape, n_classes, units=8):
    return classify.build_mlp(input_shape, n_classes, hidden_units=(units,))


@pytest.fixture(scope="module")
def plankton():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 6))
    y = np.where(X[:, 0] + 0.3 * X[:, 1] > 0, "Copepoda", "detritus")
    return X, y


def test_keras_classifier_pipeline_roundtrip(plankton, tmp_path):
    X, y = plankton
    model = Pipeline([
        ("scale", StandardScaler()),
        ("clf", classify.KerasClassifier(model_params={"hidden_units": (8,)}, epochs=3,
                                         random_state=0)),
    ]).fit(X, y)
    assert model_kind(model) == "sklearn+keras"
    loaded, saved, _ = roundtrip(model, tmp_path)
    assert saved["kind"] == "sklearn+keras"
    assert set(saved["files"]) == {"steps", "architecture", "weights", "classifier"}
    assert saved["classes"] == ["Copepoda", "detritus"]
    assert saved["params"]["clf__epochs"] == 3
    assert saved["architecture"]["keras"]["total_params"] > 0
    clf = loaded.steps[-1][1]
    assert loaded.steps[-1][0] == "clf"
    assert isinstance(clf, classify.KerasClassifier)
    assert isinstance(clf.model_, keras.Model)
    np.testing.assert_array_equal(clf.classes_, model[-1].classes_)
    assert clf.history_ == model[-1].history_
    assert clf.get_params() == model[-1].get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # a clone refits with the default builder restored by name
    from sklearn.base import clone

    assert clone(loaded).fit(X, y).predict(X).shape == (len(X),)


def test_bare_keras_classifier_with_own_builder(plankton, tmp_path):
    X, y = plankton
    model = classify.KerasClassifier(
        my_builder, model_params={"units": 4}, epochs=2, random_state=0,
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(), class_weight={"Copepoda": 2.0},
    ).fit(X, y)
    loaded, saved, _ = roundtrip(model, tmp_path)
    assert "steps" not in saved["files"]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.model == UnloadedBuilder(f"{my_builder.__module__}.my_builder")
    assert loaded.class_weight == {"Copepoda": 2.0}
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.01)
    with pytest.raises(UntrustedModelError, match="set_params"):
        loaded.fit(X, y)
    loaded.set_params(model=my_builder).fit(X, y)  # the user restores the builder


def test_keras_classifier_with_built_template(plankton, tmp_path):
    X, y = plankton
    template = classify.build_mlp((6,), 2, hidden_units=(3,))
    model = classify.KerasClassifier(template, epochs=2, random_state=0).fit(X, y)
    loaded, saved, _ = roundtrip(model, tmp_path)
    assert {"template_architecture", "template_weights"} <= set(saved["files"])
    assert isinstance(loaded.model, keras.Model)
    np.testing.assert_array_equal(loaded.model.get_weights()[0], template.get_weights()[0])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_keras_classifier_corrupt_state(plankton, tmp_path):
    X, y = plankton
    model = classify.KerasClassifier(epochs=1, random_state=0).fit(X, y)
    folder, saved = _dump(model, tmp_path)
    (folder / "classifier.json").write_text("{not json")
    with pytest.raises(InvalidDataError, match=r"classifier\.json"):
        load_model(folder, saved)


def test_keras_classifier_nested_elsewhere_is_refused(plankton):
    from sklearn.ensemble import VotingClassifier

    voting = VotingClassifier([("k", classify.KerasClassifier()), ("lr", LogisticRegression())])
    with pytest.raises(TypeError, match="last step"):
        model_kind(voting)


def test_keras_allow_list_names_exist():
    from keras.src import api_export

    for name in KERAS_LAYERS:
        module, _, attr = name.rpartition(".")
        obj = api_export.get_symbol_from_name(name)
        if obj is None:
            obj = getattr(importlib.import_module(module), attr)
        assert obj is not None, name
