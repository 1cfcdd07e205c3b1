"""Every public awiml estimator pickles, and scikit-learn's search and cross-validation of
awiml pipelines through joblib's Dask backend on worker processes give the local result."""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import awiml
from awiml import classify, features, preprocess
from awiml.classify import KerasClassifier
from awiml.datasets import plankton_images
from awiml.features import ImageFeatures, ImageTensor, Spectrogram
from awiml.preprocess import ConvertUnits, DropMissing, HarmoniseColumns, QualityFilter

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

TEMPLATE = Path(awiml.__file__).parent / "data" / "ecotaxa_ml_template"


@pytest.fixture(scope="module")
def client():
    """A Client of two worker processes of one thread each, shared by this module's tests."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def vignettes() -> pd.DataFrame:
    """12 vignettes of each of the two commonest classes of the EcoTaxa template."""
    train, _ = plankton_images(TEMPLATE)
    top = train["label"].value_counts().index[:2]
    return pd.concat([train[train["label"] == label].head(12) for label in top])


def ctd_table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A CTD-like table with units in its labels, quality flags and gaps."""
    rng = np.random.default_rng(seed)
    temperature = rng.normal(4, 3, n)
    salinity = rng.normal(34.5, 0.4, n)
    temperature[rng.choice(n, 5, replace=False)] = np.nan
    flags = pd.Categorical(rng.choice(["", "?", "*"], n, p=[0.8, 0.1, 0.1]),
                           categories=["", "?", "/", "*", "#", "<", ">"])
    return pd.DataFrame({"Temp [°C]": temperature, "Temp [°C]_flag": flags, "Sal": salinity,
                         "Depth [m]": rng.uniform(0, 500, n)})


def ctd_labels(table: pd.DataFrame) -> np.ndarray:
    warm = table["Temp [°C]"].fillna(4) + 2 * (table["Sal"] - 34.5) > 4
    return np.where(warm, "Atlantic", "Arctic")


def table_pipeline() -> Pipeline:
    return Pipeline([
        ("quality", QualityFilter()),
        ("harmonise", HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"],
                                        "depth": ["depth"]})),
        ("units", ConvertUnits({"temperature": "K", "depth": "km"})),
        ("gaps", DropMissing(strategy="median")),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression()),
    ])


def image_pipeline() -> Pipeline:
    return Pipeline([
        ("features", ImageFeatures()),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=500)),
    ])


def recordings() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((6, 400))


def images() -> list[str]:
    return sorted(map(os.fspath, (TEMPLATE / "images").glob("*.jpg")))[:4]


def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return X, np.where(X[:, 0] + 0.3 * X[:, 1] > 0, "Copepoda", "detritus")


# Every public estimator: how to make it, the data to fit it on, and what its fit gives.
CASES = {
    "ImageFeatures": (ImageFeatures, images, "transform"),
    "ImageTensor": (lambda: ImageTensor(size=(12, 12)), images, "transform"),
    "Spectrogram": (lambda: Spectrogram(sample_rate=100, n_fft=32, mel_bins=8),
                    recordings, "transform"),
    "HarmoniseColumns": (lambda: table_pipeline()["harmonise"], ctd_table, "transform"),
    "QualityFilter": (QualityFilter, ctd_table, "transform"),
    "ConvertUnits": (lambda: ConvertUnits({"Temp": "K"}), ctd_table, "transform"),
    "DropMissing": (lambda: DropMissing(strategy="median"), ctd_table, "transform"),
    "KerasClassifier": (lambda: KerasClassifier(model_params={"hidden_units": (4,)}, epochs=2,
                                                random_state=0), blobs, "predict_proba"),
}


def public_estimators() -> set[str]:
    return {name for module in (features, preprocess, classify) for name in module.__all__
            if isinstance(getattr(module, name), type)
            and issubclass(getattr(module, name), BaseEstimator)}


def fitted(name: str):
    make, data, method = CASES[name]
    inputs = data()
    estimator = make()
    estimator.fit(*inputs) if isinstance(inputs, tuple) else estimator.fit(inputs)
    X = inputs[0] if isinstance(inputs, tuple) else inputs
    return estimator, X, method


def assert_same_output(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
        assert a.attrs == b.attrs
    else:
        np.testing.assert_array_equal(a, b)


def test_every_public_estimator_has_a_pickling_case():
    assert public_estimators() == set(CASES)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_estimator_pickles_unfitted_and_fitted(name, dumps):
    make = CASES[name][0]
    blank = pickle.loads(dumps(make()))
    assert type(blank) is type(make()) and repr(blank.get_params()) == repr(make().get_params())
    estimator, X, method = fitted(name)
    restored = pickle.loads(dumps(estimator))
    assert_same_output(getattr(restored, method)(X), getattr(estimator, method)(X))
    # the copy fits again as the original did
    refit, *_ = fitted(name)
    make_data = CASES[name][1]()
    restored_blank = pickle.loads(dumps(make()))
    if isinstance(make_data, tuple):
        restored_blank.fit(*make_data)
    else:
        restored_blank.fit(make_data)
    assert_same_output(getattr(restored_blank, method)(X), getattr(refit, method)(X))


def test_fitted_estimators_run_on_worker_processes(client):
    # KerasClassifier: in the slow test below (importing Keras on the workers takes long)
    for name in sorted(set(CASES) - {"KerasClassifier"}):
        estimator, X, method = fitted(name)
        remote = client.submit(getattr(estimator, method), X, pure=False).result()
        assert_same_output(remote, getattr(estimator, method)(X))


def search_results(search) -> dict:
    """cv_results_ without the timings, which differ between any two runs."""
    return {key: value for key, value in search.cv_results_.items() if "time" not in key}


def assert_same_results(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ma.MaskedArray):
            assert list(a[key]) == list(b[key]), key
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_grid_search_of_an_image_pipeline_on_dask_equals_local(client, vignettes):
    X, y = list(vignettes["path"]), vignettes["label"].to_numpy()
    grid = {"features__threshold": ["triangle", "otsu"]}
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    local = GridSearchCV(image_pipeline(), grid, cv=cv).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(image_pipeline(), grid, cv=cv, n_jobs=-1).fit(X, y)
    assert_same_results(search_results(remote), search_results(local))
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_cross_validation_and_search_of_a_table_pipeline_on_dask_equal_local(client):
    table = ctd_table(120)
    y = ctd_labels(table)
    cv = KFold(4, shuffle=True, random_state=0)
    local = cross_validate(table_pipeline(), table, y, cv=cv, return_train_score=True,
                           return_estimator=True)
    with joblib.parallel_backend("dask"):
        remote = cross_validate(table_pipeline(), table, y, cv=cv, return_train_score=True,
                                return_estimator=True, n_jobs=-1)
    np.testing.assert_array_equal(remote["test_score"], local["test_score"])
    np.testing.assert_array_equal(remote["train_score"], local["train_score"])
    assert local["test_score"].mean() > 0.8  # the pipeline learns the rule
    for a, b in zip(remote["estimator"], local["estimator"], strict=True):
        np.testing.assert_array_equal(a[-1].coef_, b[-1].coef_)
        assert a["harmonise"].report_.equals(b["harmonise"].report_)
    grid = {"gaps__strategy": ["median", "mean"], "classify__C": [0.01, 1.0]}
    local_search = GridSearchCV(table_pipeline(), grid, cv=cv).fit(table, y)
    with joblib.parallel_backend("dask"):
        remote_search = GridSearchCV(table_pipeline(), grid, cv=cv, n_jobs=-1).fit(table, y)
    assert_same_results(search_results(remote_search), search_results(local_search))
    assert remote_search.best_params_ == local_search.best_params_


@pytest.mark.slow
def test_grid_search_of_a_keras_classifier_on_dask_equals_local(client):
    # slow: each worker process imports Keras and PyTorch (tens of seconds on a busy machine)
    estimator, X, method = fitted("KerasClassifier")
    remote = client.submit(getattr(estimator, method), X, pure=False).result()
    np.testing.assert_array_equal(remote, getattr(estimator, method)(X))
    X, y = blobs()
    model = KerasClassifier(epochs=3, batch_size=8, learning_rate=0.05, random_state=0)
    grid = {"model_params__hidden_units": [(4,), (8,)]}
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    # Training sums gradients over threads, so its last bits depend on the thread count of
    # the backend (PyTorch here): the local reference runs with one thread, as the Dask
    # workers do (their nanny sets OMP_NUM_THREADS=1 for one thread per worker).
    with one_thread():
        local = GridSearchCV(model, grid, cv=cv).fit(X, y)
        expected = local.predict_proba(X)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(model, grid, cv=cv, n_jobs=-1).fit(X, y)
    assert_same_results(search_results(remote), search_results(local))
    with one_thread():
        np.testing.assert_array_equal(remote.predict_proba(X), expected)


@contextlib.contextmanager
def one_thread():
    """One thread for BLAS, OpenMP and, on the PyTorch backend, PyTorch's own pool."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(threads)
