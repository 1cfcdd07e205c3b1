"""awiml.classify: KerasClassifier under the scikit-learn contract, and evaluate()."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn import metrics
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.estimator_checks import parametrize_with_checks

import awiml
from awiml.classify import EvaluationReport, KerasClassifier, build_cnn, build_mlp, evaluate
from awiml.classify import networks as classify

# Keras' torch backend calls np.array(tensor) the NumPy 1 way; not ours to fix, and noisy.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ZOO = Path(awiml.__file__).parent / "data" / "ecotaxa_ml_template"
CLASSES = ["Cladocera", "Copepoda", "Siphonophorae", "detritus"]


# ----------------------------------------------------------------------------- data and builders


def load_zooprocess(split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The 48 ZooProcess features and the label of each object of one split."""
    features = pd.read_csv(ZOO / f"{split}_features.csv.gz")
    labels = pd.read_csv(ZOO / f"{split}_labels.csv")
    table = labels.merge(features, on="id", validate="one_to_one")
    assert len(table) == len(labels) == len(features)
    return table[features.columns[1:]], table["label"].to_numpy()


@pytest.fixture(scope="module")
def zoo():
    X_train, y_train = load_zooprocess("training")
    X_test, y_test = load_zooprocess("test")
    assert X_train.shape == (320, 48) and X_test.shape == (80, 48)
    return X_train, y_train, X_test, y_test


@pytest.fixture(scope="module")
def keras():
    return classify._import_keras()


def dense_builder(input_shape, n_classes, units=16, loss=None):
    """A one-hidden-layer network; compiled only when ``loss`` is given."""
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    x = keras.layers.Dense(units, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))
    if loss is not None:
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    return model


def zoo_pipeline(**params) -> Pipeline:
    params = {"model_params": {"hidden_units": (32,)}, "epochs": 30, "learning_rate": 0.01,
              "random_state": 0, **params}
    return Pipeline([("scale", StandardScaler()), ("clf", KerasClassifier(**params))])


def blobs(n=120, n_features=4, seed=0, labels=("a", "b", "c")):
    """Well separated Gaussian blobs: any working classifier gets them right."""
    rng = np.random.default_rng(seed)
    y_idx = rng.integers(0, len(labels), n)
    centres = rng.normal(0, 4, (len(labels), n_features))
    X = centres[y_idx] + rng.normal(0, 0.5, (n, n_features))
    return X.astype("float32"), np.asarray(labels)[y_idx]


def stripes(n, size=16, seed=0):
    """Noisy images of horizontal or vertical stripes of random period and phase."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = np.empty((n, size, size, 1), "float32")
    index = np.arange(size)
    for i in range(n):
        period = rng.integers(2, 6)
        wave = ((index + rng.integers(0, period)) % period < period / 2).astype("float32")
        image = np.repeat(wave[:, None], size, axis=1)  # constant rows: horizontal stripes
        X[i, ..., 0] = image if y[i] == 0 else image.T
    X += rng.normal(0, 0.3, X.shape).astype("float32")
    return X, np.where(y == 0, "horizontal", "vertical")


# ----------------------------------------------------------------------------- learning


@pytest.fixture(scope="module")
def fitted_zoo(zoo):
    X_train, y_train, _, _ = zoo
    return zoo_pipeline().fit(X_train, y_train)


def test_builder_on_zooprocess_features_reaches_accuracy(zoo, fitted_zoo):
    _, _, X_test, y_test = zoo
    accuracy = fitted_zoo.score(X_test, y_test)
    # Measured: 0.8375 with random_state=0; over random_state 0..19 the range was
    # 0.7875-0.875 (mean 0.85), on a par with a random forest (0.84) and a standardised
    # logistic regression (0.85). Chance is 0.25 (4 balanced classes): 0.75 is three times
    # chance and 3 test objects below the worst seed, so it catches a broken fit, not noise.
    assert accuracy >= 0.75
    clf = fitted_zoo[-1]
    assert clf.n_iter_ == 30 and set(clf.history_) == {"loss", "accuracy"}
    assert clf.n_features_in_ == 48 and clf.input_shape_ == (48,)


def test_string_labels_round_trip_and_score_is_accuracy(zoo, fitted_zoo):
    _, _, X_test, y_test = zoo
    clf = fitted_zoo[-1]
    assert list(clf.classes_) == CLASSES
    predicted = fitted_zoo.predict(X_test)
    assert predicted.shape == (80,)
    assert all(isinstance(label, str) for label in predicted)
    assert set(predicted) <= set(CLASSES)
    assert fitted_zoo.score(X_test, y_test) == metrics.accuracy_score(y_test, predicted)


def test_predict_proba_rows_sum_to_one_and_columns_follow_classes(zoo, fitted_zoo):
    X_train, y_train, X_test, _ = zoo
    proba = fitted_zoo.predict_proba(X_test)
    assert proba.shape == (80, 4) and proba.dtype == np.float64
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    classes = fitted_zoo[-1].classes_
    np.testing.assert_array_equal(classes[proba.argmax(axis=1)], fitted_zoo.predict(X_test))
    # Column j holds class j: on the training data, the objects of each class get their
    # highest mean probability in that class's column.
    train_proba = fitted_zoo.predict_proba(X_train)
    for j, label in enumerate(classes):
        assert train_proba[y_train == label].mean(axis=0).argmax() == j
    np.testing.assert_allclose(np.exp(fitted_zoo.predict_log_proba(X_test)), proba)


def test_same_random_state_gives_same_model(zoo):
    X_train, y_train, X_test, _ = zoo
    a = zoo_pipeline(epochs=3).fit(X_train, y_train).predict_proba(X_test)
    b = zoo_pipeline(epochs=3).fit(X_train, y_train).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)


def test_balanced_class_weight_on_imbalanced_subset(zoo):
    X_train, y_train, X_test, _ = zoo
    rare = "Siphonophorae"
    keep = np.concatenate([np.flatnonzero(y_train != rare), np.flatnonzero(y_train == rare)[:8]])
    X_sub, y_sub = X_train.iloc[keep], y_train[keep]
    plain = zoo_pipeline().fit(X_sub, y_sub)
    balanced = zoo_pipeline(class_weight="balanced").fit(X_sub, y_sub)
    expected = compute_class_weight("balanced", classes=np.array(CLASSES), y=y_sub)
    np.testing.assert_allclose(balanced[-1].class_weight_, expected)
    assert balanced[-1].class_weight_[CLASSES.index(rare)] == pytest.approx(248 / (4 * 8))
    np.testing.assert_array_equal(plain[-1].class_weight_, np.ones(4))
    # Weighting the rare class up (x7.75) shifts probability towards it. Measured mean
    # probability of the rare class on the 80 test objects: 0.066 plain vs 0.084 balanced
    # with random_state=0, and higher when balanced for every random_state in 0..9.
    j = CLASSES.index(rare)
    assert balanced.predict_proba(X_test)[:, j].mean() > plain.predict_proba(X_test)[:, j].mean()


def test_class_weight_dict_equals_sample_weight():
    X, y = blobs(60)
    by_class = KerasClassifier(dense_builder, class_weight={"a": 3.0, "c": 0.5}, epochs=2,
                               random_state=1).fit(X, y)
    by_sample = KerasClassifier(dense_builder, epochs=2, random_state=1).fit(
        X, y, sample_weight=np.select([y == "a", y == "c"], [3.0, 0.5], 1.0))
    np.testing.assert_array_equal(by_class.class_weight_, [3.0, 1.0, 0.5])
    np.testing.assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X), rtol=1e-6)


def test_early_stopping_stops_before_max_epochs(zoo):
    X_train, y_train, X_test, y_test = zoo
    # Measured: stops after 12 epochs (8-17 for random_state 0..2), test accuracy 0.825.
    model = zoo_pipeline(epochs=100, validation_split=0.25, early_stopping=True,
                         patience=3).fit(X_train, y_train)
    clf = model[-1]
    assert 3 < clf.n_iter_ < 100
    assert set(clf.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == clf.n_iter_ for values in clf.history_.values())
    assert model.score(X_test, y_test) >= 0.7


def test_validation_split_is_stratified_and_seeded():
    # Sorted labels: Keras' own validation_split would hold out only the last class.
    X, y = blobs(80)
    order = np.argsort(y, kind="stable")
    clf = KerasClassifier(dense_builder, epochs=1, validation_split=0.25, random_state=0)
    clf.fit(X[order], y[order])
    assert 0 < clf.history_["val_accuracy"][0] <= 1
    y_sorted = np.unique(y[order], return_inverse=True)[1]
    train, val = classify._split(y_sorted, 0.25, 0)
    assert (len(train), len(val)) == (60, 20) and set(train).isdisjoint(val)
    assert set(y_sorted[val]) == {0, 1, 2}  # every class, not the last one only
    np.testing.assert_array_equal(val, classify._split(y_sorted, 0.25, 0)[1])


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_precompiled_builder_and_one_hot_loss(loss):
    X, y = blobs(90)
    clf = KerasClassifier(dense_builder, model_params={"loss": loss}, epochs=15,
                          random_state=0).fit(X, y)
    learning_rate = float(np.asarray(clf.model_.optimizer.learning_rate))
    assert learning_rate == pytest.approx(0.01)  # the builder's own, not Adam's default
    assert clf.score(X, y) >= 0.9


def test_logits_and_single_sigmoid_output(keras):
    X, y = blobs(80, labels=("a", "b"))

    def logits(input_shape, n_classes):
        inputs = keras.Input(shape=input_shape)
        return keras.Model(inputs, keras.layers.Dense(n_classes)(inputs))

    def sigmoid(input_shape, n_classes):
        inputs = keras.Input(shape=input_shape)
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))

    from_logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for clf in (KerasClassifier(logits, loss=from_logits, learning_rate=0.05, epochs=10,
                                random_state=0),
                KerasClassifier(sigmoid, loss="binary_crossentropy", learning_rate=0.05,
                                epochs=10, random_state=0)):
        proba = clf.fit(X, y).predict_proba(X)
        assert proba.shape == (80, 2) and (proba >= 0).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert clf.score(X, y) >= 0.9


def test_small_cnn_learns_stripe_orientation():
    # In decibel-like units (about -75 to -45), as spectrograms come: build_cnn's
    # Normalization layer, adapted in fit, brings them to zero mean and unit variance.
    X_train, y_train = stripes(240, seed=1)
    X_test, y_test = stripes(100, seed=2)
    X_train, X_test = 10 * X_train - 60, 10 * X_test - 60
    # Measured: 1.00 on the 100 test images after 5 epochs, for random_state 0, 1 and 2.
    clf = KerasClassifier(build_cnn, model_params={"filters": (8,), "dense_units": 16},
                          epochs=5, learning_rate=0.01, random_state=0).fit(X_train, y_train)
    assert clf.input_shape_ == (16, 16, 1)
    assert clf.score(X_test, y_test) >= 0.9
    normalization = clf.model_.layers[1]
    assert float(np.asarray(normalization.mean).ravel()[0]) == pytest.approx(X_train.mean(),
                                                                             rel=1e-4)
    with pytest.raises(ValueError, match=r"shape \(16, 16\).*\(16, 16, 1\)"):
        clf.predict(X_test[..., 0])


def test_input_normalization_is_adapted_only_when_not_yet(keras):
    X, y = blobs(80, n_features=3)
    X = X * [1.0, 100.0, 0.01] + [0.0, -50.0, 7.0]

    def stats(layer):
        return (np.asarray(layer.mean).ravel(), np.asarray(layer.variance).ravel())

    clf = KerasClassifier(model_params={"normalize": True, "hidden_units": 8}, epochs=1,
                          validation_split=0.25, random_state=0).fit(X, y)
    train, _ = classify._split(np.unique(y, return_inverse=True)[1], 0.25, 0)
    mean, variance = stats(clf.model_.layers[1])
    np.testing.assert_allclose(mean, X[train].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(variance, X[train].var(axis=0), rtol=1e-4)

    # Statistics adapted beforehand or given explicitly are kept.
    for first, expected in [(keras.layers.Normalization(), [2.0, 1.0]),
                            (keras.layers.Normalization(mean=5.0, variance=4.0), [5.0, 4.0])]:
        model = keras.Sequential([keras.Input((3,)), first, keras.layers.Dense(3, "softmax")])
        if first.input_mean is None:
            first.adapt(np.ones((2, 3)) * [[1.0], [3.0]])
        fitted = KerasClassifier(model, epochs=1).fit(X, y).model_
        assert fitted.layers[0] is not first
        mean, variance = stats(fitted.layers[0])
        np.testing.assert_allclose([mean[0], variance[0]], expected)


# ----------------------------------------------------------------------------- built models, clone


def built_model(keras, n_features=4, n_classes=3, compiled=False):
    model = keras.Sequential([
        keras.Input(shape=(n_features,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    if compiled:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return model


def weights(model):
    return [w.copy() for w in model.get_weights()]


def test_built_model_is_copied_never_trained(keras):
    X, y = blobs(90)
    model = built_model(keras)
    before = weights(model)
    clf = KerasClassifier(model, epochs=15, learning_rate=0.05, random_state=0).fit(X, y)
    assert clf.model_ is not model
    assert clf.score(X, y) >= 0.9
    for a, b in zip(before, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(a, b) for a, b in zip(before, weights(clf.model_),
                                                          strict=True))


def test_compiled_built_model_keeps_its_compilation(keras):
    X, y = blobs(60)
    clf = KerasClassifier(built_model(keras, compiled=True), epochs=1).fit(X, y)
    assert type(clf.model_.optimizer).__name__ == "SGD"
    with pytest.warns(UserWarning, match="compiled already"):
        KerasClassifier(built_model(keras, compiled=True), epochs=1, learning_rate=0.1).fit(X, y)


def test_clone_of_built_model_has_independent_weights(keras):
    X, y = blobs(90)
    model = built_model(keras)
    original = KerasClassifier(model, epochs=2, random_state=0)
    before = weights(model)
    copy = clone(original)
    assert copy.model is not model
    assert copy.get_params()["epochs"] == 2 and not hasattr(copy, "model_")
    for a, b in zip(model.weights, copy.model.weights, strict=True):
        assert a is not b
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    copy.fit(X, y)
    copy.model.set_weights([np.zeros_like(w) for w in before])
    for a, b in zip(before, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)
    # A fitted estimator clones to an unfitted one.
    assert not hasattr(clone(copy), "model_")


def test_clone_keeps_metadata_requests_and_dataframe_names(keras):
    import sklearn

    with sklearn.config_context(enable_metadata_routing=True):
        clf = KerasClassifier(dense_builder).set_fit_request(sample_weight=True)
        routing = clone(clf).get_metadata_routing()
        assert routing.fit.requests == {"sample_weight": True}
    X, y = blobs(40)
    frame = pd.DataFrame(X, columns=["area", "mean", "major", "minor"])
    fitted = KerasClassifier(dense_builder, epochs=1).fit(frame, y)
    assert list(fitted.feature_names_in_) == ["area", "mean", "major", "minor"]
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(frame.rename(columns={"area": "surface"}))


def test_model_params_with_built_model_is_an_error(keras):
    X, y = blobs(30)
    with pytest.raises(ValueError, match="builder function"):
        KerasClassifier(built_model(keras), model_params={"units": 3}).fit(X, y)


def test_get_params_and_set_params_route_builder_hyper_parameters():
    user_params = {"units": 8}
    clf = KerasClassifier(dense_builder, model_params=user_params, epochs=3)
    shallow = clf.get_params(deep=False)
    assert shallow["model_params"] == {"units": 8} and "model_params__units" not in shallow
    assert clf.get_params()["model_params__units"] == 8
    clf.set_params(model_params__units=32, epochs=4, batch_size=16)
    assert clf.model_params == {"units": 32} and user_params == {"units": 8}
    assert (clf.epochs, clf.batch_size) == (4, 16)
    clf.set_params(model_params={"units": 2}, model_params__loss=None)
    assert clf.model_params == {"units": 2, "loss": None}
    pipe = make_pipeline(StandardScaler(), KerasClassifier(dense_builder))
    pipe.set_params(kerasclassifier__model_params__units=5)
    assert pipe[-1].model_params == {"units": 5}
    assert pipe.get_params()["kerasclassifier__model_params__units"] == 5
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(units=3)
    assert clone(clf).get_params(deep=False) == clf.get_params(deep=False)


def test_unknown_builder_parameter_is_a_clear_error():
    X, y = blobs(30)
    with pytest.raises(ValueError, match=r"\['unit'\] are not arguments of the builder"):
        KerasClassifier(dense_builder, model_params={"unit": 3}).fit(X, y)


def test_grid_search_over_builder_units(zoo):
    X_train, y_train, _, _ = zoo
    search = GridSearchCV(
        zoo_pipeline(model=dense_builder, model_params={"units": 4}, epochs=5),
        {"clf__model_params__units": [4, 16]},
        cv=2,
    ).fit(X_train, y_train)
    assert search.best_params_["clf__model_params__units"] in (4, 16)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_[-1].model_params["units"] == search.best_params_[
        "clf__model_params__units"]
    assert search.score(X_train, y_train) > 0.5


def test_pickle_round_trip():
    X, y = blobs(60)
    clf = KerasClassifier(dense_builder, epochs=2, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
        ({"validation_split": 1.0}, ValueError, "validation_split"),
        ({"class_weight": "auto"}, ValueError, "class_weight"),
        ({"class_weight": {"Copepoda": 2.0}}, ValueError, r"not in y: \['Copepoda'\]"),
        ({"model": "mlp"}, TypeError, "model must be a keras.Model or a function"),
        ({"model": lambda shape, n: None}, TypeError, "returned NoneType"),
        ({"model_params": {"units": 2}, "model": lambda shape, n, units: dense_builder(shape, 5)},
         ValueError, "ends in 5 units but y has 3 classes"),
    ],
)
def test_bad_parameters_fail_in_fit_with_advice(params, error, match):
    X, y = blobs(30)
    clf = KerasClassifier(**params)  # __init__ only stores
    with pytest.raises(error, match=match):
        clf.fit(X, y)


def test_one_class_is_an_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        KerasClassifier(epochs=1).fit(np.zeros((4, 2)), ["Copepoda"] * 4)


def test_default_builders():
    X, y = blobs(60, n_features=6)
    clf = KerasClassifier(model_params={"hidden_units": 8, "dropout": 0.1}, epochs=20,
                          learning_rate=0.05, random_state=0).fit(X.reshape(60, 2, 3), y)
    assert clf.model_.name == "mlp" and clf.n_features_in_ == 2
    assert clf.score(X.reshape(60, 2, 3), y) >= 0.9
    assert build_mlp((3,), 2, hidden_units=()).count_params() == 8
    assert build_cnn((8, 8), 3, filters=4, dense_units=0).output_shape == (None, 3)
    with pytest.raises(ValueError, match="build_mlp for feature tables"):
        build_cnn((48,), 4)


# ----------------------------------------------------------------------------- evaluate


def check_metrics(report: EvaluationReport, y_true, y_pred, labels):
    assert report.accuracy == metrics.accuracy_score(y_true, y_pred)
    assert report.balanced_accuracy == metrics.balanced_accuracy_score(y_true, y_pred)
    assert report.f1_macro == pytest.approx(
        metrics.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                         zero_division=0)
    expected = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s},
                            index=pd.Index(labels, name="label"))
    pd.testing.assert_frame_equal(report.per_class, expected)
    np.testing.assert_array_equal(report.confusion.to_numpy(),
                                  metrics.confusion_matrix(y_true, y_pred, labels=labels))
    assert list(report.confusion.index) == list(report.confusion.columns) == list(labels)
    assert report.confusion.index.name == "true label"
    assert report.confusion.columns.name == "predicted label"


def check_confusion_figure(report: EvaluationReport):
    fig = report.figure()
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["Counts", "Normalised by true label (recall)"]
    for ax in panels:
        assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(x) for x in report.labels]
    assert [ax.get_title() for ax in report.figure(kind="counts").axes if ax.get_title()] == [
        "Counts"]
    with pytest.raises(ValueError, match="kind must be one of"):
        report.figure(kind="pie")


def test_evaluate_scikit_learn_model(zoo):
    X_train, y_train, X_test, y_test = zoo
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
    report = evaluate(forest, X_test, y_test)
    y_pred = forest.predict(X_test)
    assert report.labels == CLASSES and report.model_name == "RandomForestClassifier"
    check_metrics(report, y_test, y_pred, CLASSES)
    check_confusion_figure(report)
    assert report.learning_curves() is None and report.history is None
    html = report._repr_html_()
    assert f"{report.accuracy:.4f}" in html and "data:image/png;base64," in html
    assert "Learning curves" not in html
    text = str(report)
    assert f"accuracy           {report.accuracy:.4f}" in text and "Copepoda" in text
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["accuracy"] == report.accuracy and data["labels"] == CLASSES
    assert data["confusion"]["matrix"] == report.confusion.to_numpy().tolist()
    assert data["per_class"][1]["label"] == "Copepoda"
    assert data["per_class"][1]["support"] == 20 and data["history"] is None



def _long_pipeline(X, y) -> Pipeline:
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, RobustScaler

    steps = [SimpleImputer(), VarianceThreshold(), FunctionTransformer(), RobustScaler(),
             MinMaxScaler(), StandardScaler(), FunctionTransformer(), RobustScaler(),
             make_pipeline(MinMaxScaler(), StandardScaler()), RandomForestClassifier(
                 n_estimators=5, random_state=0)]
    return make_pipeline(*steps).fit(X, y)


@pytest.mark.parametrize("kind", ["counts", "both"])
@pytest.mark.parametrize("which", ["pipeline", "one long name"])
def test_confusion_figure_title_fits_a_long_pipeline(kind, which):
    """The title of the stored figure is wrapped or shortened to lie inside the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    if which == "pipeline":
        model = _long_pipeline(X, y)
        report = evaluate(model, X, y)
        assert report.model_name.count(" -> ") == 10
    else:
        report = EvaluationReport.from_predictions(y, y, model_name="Convolutional" * 30)
    for dpi in (80, 100):  # the notebook's and the store's
        fig = report.figure(kind=kind)
        fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        titles = [t for t in fig.texts if t.get_text()]
        assert len(titles) == 1
        extent = titles[0].get_window_extent(canvas.get_renderer())
        box = fig.bbox
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, (extent, box)
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, (extent, box)
        text = titles[0].get_text()
        assert f"accuracy {report.accuracy:.3f}" in text
        if which == "pipeline":
            assert text.startswith("Pipeline(SimpleImputer") and "RandomForestClassifier" in text
        # the title leaves the panels room: no axes was squeezed to nothing
        assert all(ax.get_window_extent().height > 50 for ax in fig.axes)


def test_evaluate_keras_pipeline_has_learning_curves(zoo, fitted_zoo):
    _, _, X_test, y_test = zoo
    report = evaluate(fitted_zoo, X_test, y_test)
    check_metrics(report, y_test, fitted_zoo.predict(X_test), CLASSES)
    check_confusion_figure(report)
    assert report.model_name == "Pipeline(StandardScaler -> KerasClassifier)"
    assert report.history == fitted_zoo[-1].history_
    curves = report.learning_curves()
    assert isinstance(curves, Figure)
    assert [(ax.get_title(), ax.get_xlabel()) for ax in curves.axes] == [
        ("loss", "Epoch"), ("accuracy", "Epoch")]
    html = report._repr_html_()
    assert f"{report.accuracy:.4f}" in html and html.count("data:image/png;base64,") == 2
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert len(data["history"]["loss"]) == 30


def test_evaluate_keras_classifier_with_validation_curves():
    X, y = blobs(80)
    clf = KerasClassifier(dense_builder, epochs=3, validation_split=0.25, random_state=0)
    report = evaluate(clf.fit(X, y), X, y)
    axes = report.learning_curves().axes
    assert [line.get_label() for line in axes[0].get_lines()] == ["training", "validation"]
    assert "Training: 3 epochs" in str(report)


def test_evaluate_labels_order_and_unpredicted_classes():
    y_true = np.array(["b", "b", "a", "c"])
    y_pred = np.array(["b", "a", "a", "a"])
    report = EvaluationReport.from_predictions(y_true, y_pred, labels=["c", "b", "a"])
    check_metrics(report, y_true, y_pred, ["c", "b", "a"])
    assert report.per_class.loc["c", "recall"] == 0.0

    class Fixed:  # a fitted "model" whose classes_ include one it never predicts
        classes_ = np.array(["a", "b", "c", "d"])

        def predict(self, X):
            return y_pred

    report = evaluate(Fixed(), np.zeros((4, 1)), y_true)
    assert report.labels == ["a", "b", "c", "d"]
    assert report.confusion.loc["d"].sum() == 0 and report.per_class.loc["d", "support"] == 0
    with pytest.raises(TypeError, match="fitted classifier"):
        evaluate(object(), np.zeros((1, 1)), ["a"])


def test_to_dict_keeps_numeric_labels():
    report = EvaluationReport.from_predictions(np.array([0, 1, 2]), np.array([0, 2, 2]))
    data = report.to_dict()
    assert data["labels"] == [0, 1, 2] and isinstance(data["labels"][0], int)
    assert json.loads(json.dumps(data))["per_class"][2]["precision"] == 0.5


# ----------------------------------------------------------------------------- imports, backend


def test_import_loads_no_keras_until_a_keras_model_is_used(tmp_path):
    code = textwrap.dedent("""
        import json, os, sys
        import numpy as np
        import awiml
        awiml.classify  # the lazy attribute, as users reach it
        from awiml.classify import KerasClassifier, evaluate
        from sklearn.tree import DecisionTreeClassifier
        X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
        evaluate(DecisionTreeClassifier().fit(X, y), X, y).to_dict()
        clf = KerasClassifier(epochs=1)
        before = [m for m in ("keras", "torch") if m in sys.modules]
        clf.fit(X, y)
        import keras
        print(json.dumps({"before": before, "env": os.environ.get("KERAS_BACKEND"),
                          "backend": keras.config.backend()}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)  # no keras.json: the rule applies
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"before": [], "env": "torch", "backend": "torch"}


def test_backend_rule_never_overrides_the_user(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    installed = {"torch"}
    monkeypatch.setattr(classify, "_installed", lambda name: name in installed)
    assert classify._backend_to_set() == "torch"
    (tmp_path / "keras.json").write_text('{"backend": "tensorflow"}')  # Keras' own default
    assert classify._backend_to_set() == "torch"
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')  # the user's choice
    assert classify._backend_to_set() is None
    (tmp_path / "keras.json").unlink()
    installed.add("jax")
    assert classify._backend_to_set() is None
    installed.discard("jax")
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    assert classify._backend_to_set() is None


# ----------------------------------------------------------------------------- scikit-learn checks


def tiny_builder(input_shape, n_classes, units=4):
    return dense_builder(input_shape, n_classes, units=units)


EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch training for a few epochs: weighting a sample by 2 is not the same as "
        "repeating it (other batches, other number of steps)"
    ),
}


@pytest.mark.slow
@parametrize_with_checks(
    # 5 epochs at learning rate 0.05 fit the checks' blobs well enough for
    # check_classifiers_train and check_class_weight_classifiers; the whole set takes ~5-30 s.
    [KerasClassifier(tiny_builder, epochs=5, learning_rate=0.05, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
