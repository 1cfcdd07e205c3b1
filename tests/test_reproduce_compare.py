"""Comparing a retrained model with the stored one (awiml.store.reproduce.compare)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from awiml.classify import KerasClassifier
from awiml.datasets import synthetic_calls
from awiml.features import Spectrogram
from awiml.preprocess import ConvertUnits, HarmoniseColumns
from awiml.store.reproduce.compare import (
    KERAS_ATOL,
    KERAS_RTOL,
    compare_environments,
    compare_fitted,
    compare_keras,
    compare_predictions,
)

SAMPLE_RATE = 8000


@pytest.fixture(scope="module")
def calls():
    return synthetic_calls(16, sample_rate=SAMPLE_RATE, instrument="A", seed=1)


def calls_pipeline(classifier) -> Pipeline:
    return Pipeline([
        ("harmonise", HarmoniseColumns({"pressure": ["pressure", "p"]}, targets=["pressure"],
                                       unknown="drop")),
        ("units", ConvertUnits({"pressure": "Pa"})),
        ("spectrogram", Spectrogram(sample_rate=SAMPLE_RATE, n_fft=128, column="pressure",
                                    output="pooled")),
        ("scale", StandardScaler()),
        ("classify", classifier),
    ])


@pytest.mark.parametrize("make", [
    lambda seed: RandomForestClassifier(n_estimators=5, random_state=seed),
    lambda seed: LogisticRegression(max_iter=500, random_state=seed, solver="saga", tol=0.1),
], ids=["forest", "logistic"])
def test_same_seed_same_model_and_another_seed_is_named(calls, make):
    fit = [calls_pipeline(make(seed)).fit(calls, calls["label"]) for seed in (0, 0, 1)]
    assert compare_fitted(fit[0], fit[1]) == []
    found = compare_fitted(fit[0], fit[2])
    paths = [d.path for d in found]
    assert "steps[4].classify.random_state" in paths
    fitted = [p for p in paths
              if p.startswith("steps[4].classify.") and p != "steps[4].classify.random_state"]
    assert fitted, paths  # a fitted attribute, not only the parameter, is named
    assert not [p for p in paths if not p.startswith("steps[4]")], paths  # the rest is equal


def test_forest_difference_names_the_tree_and_array_with_its_max_diff(calls):
    stored = calls_pipeline(RandomForestClassifier(n_estimators=3, random_state=0))
    stored.fit(calls, calls["label"])
    new = calls_pipeline(RandomForestClassifier(n_estimators=3, random_state=0))
    new.fit(calls, calls["label"])
    new.named_steps["scale"].mean_[2] += 0.25
    [difference] = compare_fitted(stored, new)
    assert difference.path == "steps[3].scale.mean_"
    assert "max abs diff 0.25" in difference.description


def test_class_dtype_shape_and_dataframe_differences():
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 0, 1, 1, 0, 1])
    assert compare_fitted(LogisticRegression().fit(X, y), StandardScaler().fit(X))[0].path == ""
    a, b = StandardScaler().fit(X), StandardScaler().fit(X)
    b.scale_ = b.scale_.astype("float32")
    assert compare_fitted(a, b)[0].description == "dtype float64 vs float32"
    b.scale_ = np.ones(3)
    assert compare_fitted(a, b)[0].description == "shape (2,) vs (3,)"
    a.table_, b.table_ = pd.DataFrame({"x": [1.0, np.nan]}), pd.DataFrame({"x": [1.0, np.nan]})
    b.scale_ = a.scale_.copy()
    assert compare_fitted(a, b) == []  # NaN equals NaN in frames and arrays
    b.table_.loc[0, "x"] = 2.0
    assert [d.path for d in compare_fitted(a, b)] == ["table_"]


def test_column_transformer_and_search_are_walked():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    y = (frame["a"] > 0).astype(int)

    def search(c_values):
        columns = ColumnTransformer([("scaled", StandardScaler(), ["a"])],
                                    remainder="passthrough")
        pipeline = Pipeline([("columns", columns), ("classify", LogisticRegression())])
        return GridSearchCV(pipeline, {"classify__C": c_values}, cv=2).fit(frame, y)

    assert compare_fitted(search([0.1, 1.0]), search([0.1, 1.0])) == []  # fit times ignored
    paths = [d.path for d in compare_fitted(search([0.1, 1.0]), search([0.1, 10.0]))]
    assert "param_grid['classify__C'][1]" in paths
    assert any(p.startswith("best_estimator_.steps[1].classify.") for p in paths) or \
        "cv_results_['param_classify__C']" in paths, paths
    stored, new = search([1.0]), search([1.0])
    new.best_estimator_.named_steps["columns"].transformers_[0][1].mean_[0] += 1.0
    assert [d.path for d in compare_fitted(stored, new)] == [
        "best_estimator_.steps[0].columns.transformers_[0].scaled.mean_"]


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(0, 4, (3, 4))[y] + rng.normal(0, 0.5, (n, 4))
    return X.astype("float32"), np.asarray(["a", "b", "c"])[y]


def keras_pipeline(seed=0) -> Pipeline:
    network = KerasClassifier(model_params={"hidden_units": (8,)}, epochs=2, batch_size=16,
                              random_state=seed)
    return Pipeline([("scale", StandardScaler()), ("classify", network)])


@pytest.fixture(scope="module")
def keras_fits():
    X, y = blobs()
    return X, [keras_pipeline(0).fit(X, y), keras_pipeline(0).fit(X, y)]


def test_keras_fitted_twice_is_within_tolerance(keras_fits):
    X, (stored, new) = keras_fits
    assert compare_keras(stored, new) == []
    assert compare_keras(stored.named_steps["classify"], new.named_steps["classify"]) == []
    assert compare_keras(stored[-1].model_, new[-1].model_) == []
    comparison = compare_predictions(stored, new, X, exact=False)
    assert comparison.ok and comparison.rows == len(X)


def test_keras_perturbed_weight_is_reported_with_its_max_diff(keras_fits):
    X, (stored, _) = keras_fits
    _, y = blobs()
    new = keras_pipeline(0).fit(X, y)
    layer = next(layer for layer in new[-1].model_.layers if layer.weights)
    kernel = layer.weights[0]
    values = np.array(kernel.numpy())
    values.flat[0] += 0.5
    kernel.assign(values)
    found = compare_keras(stored, new)
    [difference] = found
    index = new[-1].model_.layers.index(layer)
    stored_name = stored[-1].model_.layers[index].name  # a difference names the stored layer
    assert difference.path == f"steps[1].classify.model_.layers[{index}]({stored_name}).kernel"
    assert "max abs diff 0.5" in difference.description
    assert f"rtol={KERAS_RTOL:g}" in difference.description
    comparison = compare_predictions(stored, new, X, exact=False)
    assert comparison.proba_differs and comparison.proba_max_abs_diff > KERAS_ATOL


def test_keras_tolerance_applies_to_the_network_only(keras_fits):
    X, (stored, _) = keras_fits
    _, y = blobs()
    new = keras_pipeline(0).fit(X, y)
    new.named_steps["scale"].mean_[0] += 1e-9  # far inside the network's tolerance
    for weight in new[-1].model_.weights:
        weight.assign(np.asarray(weight.numpy()) * (1 + KERAS_RTOL / 10))
    assert [d.path for d in compare_keras(stored, new)] == ["steps[0].scale.mean_"]
    exact = compare_fitted(stored, new)
    assert any(".model_.layers[" in d.path for d in exact)  # compare_fitted: exact everywhere


def test_keras_layer_structure_difference():
    X, y = blobs()
    a = KerasClassifier(model_params={"hidden_units": (8,)}, epochs=1, random_state=0).fit(X, y)
    b = KerasClassifier(model_params={"hidden_units": (8, 4)}, epochs=1,
                        random_state=0).fit(X, y)
    descriptions = [d.description for d in compare_keras(a, b)]
    assert any(d.startswith("layer structure differs") for d in descriptions), descriptions


def test_predictions_exact_and_counted():
    X = np.arange(20.0).reshape(10, 2)
    y = (X[:, 0] > 9).astype(int)
    a = LogisticRegression().fit(X, y)
    b = LogisticRegression(C=0.01).fit(X, y)
    same = compare_predictions(a, a, X)
    assert same.ok and same.proba_differs == 0 and same.proba_max_abs_diff == 0.0
    other = compare_predictions(a, b, X)
    assert not other.ok and other.proba_differs == 10 and other.exact
    assert other.proba_max_abs_diff > 0
    loose = compare_predictions(a, b, X, exact=False, rtol=1.0, atol=1.0)
    assert loose.proba_differs == 0 and loose.predict_differs == other.predict_differs
    no_proba = compare_predictions(StandardScalerClassifier(), StandardScalerClassifier(1), X)
    assert no_proba.proba_differs is None and no_proba.predict_differs == 10


class StandardScalerClassifier:
    """A predict-only model (no predict_proba)."""

    def __init__(self, shift=0):
        self.shift = shift

    def predict(self, X):
        return np.asarray(X)[:, 0] + self.shift


def test_environments_names_differing_and_missing_distributions():
    import importlib.metadata

    numpy_version = importlib.metadata.version("numpy")
    recorded = {"numpy": numpy_version, "scikit_learn": "0.0.1", "no-such-dist-awiml": "1.0"}
    found = compare_environments(recorded)
    assert ("scikit-learn", "0.0.1", importlib.metadata.version("scikit-learn")) in found
    assert ("no-such-dist-awiml", "1.0", None) in found
    assert not [row for row in found if row[0] == "numpy"]
    assert compare_environments({"numpy": "1"}, {"NumPy": "1"}) == []
