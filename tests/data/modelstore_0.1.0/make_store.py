"""Write the ModelStore that awiml 0.1.0 saved, with the predictions it gave.

Run once, with awiml 0.1.0 (commit 327e3f0), to make ``store/`` and
``expected.json`` beside this file::

    KERAS_BACKEND=torch python tests/data/modelstore_0.1.0/make_store.py

Every later release must load these models and predict exactly the same
(``tests/test_stored_models.py``). Do not run it again with a later release:
the point of the files is that an older awiml wrote them.

Inputs are real data in ``tests/data`` and ``awiml/data``: the PS103
thermosalinograph table (doi:10.1594/PANGAEA.889513, CC-BY-3.0) and 40 plankton
vignettes of EcoTaxa's machine-learning template (GPL-3.0); the acoustic calls
are ``awiml.datasets.synthetic_calls``, kept here as ``calls.npy``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import awiml
from awiml.archives.pangaea import read_text
from awiml.classify import KerasClassifier, build_mlp
from awiml.datasets import plankton_images, synthetic_calls
from awiml.features import ImageFeatures, Spectrogram
from awiml.preprocess import ConvertUnits, DropMissing, HarmoniseColumns, QualityFilter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TABLE = ROOT / "tests" / "data" / "pangaea" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
IMAGES = ROOT / "awiml" / "data" / "ecotaxa_ml_template"


def zone_labels(latitude):
    """Southern Ocean zone of each latitude, as in awiml's demo."""
    return np.where(latitude < -55, "antarctic",
                    np.where(latitude < -45, "polar frontal", "subantarctic/subtropical"))


def main() -> None:
    """Fit the models, store them and record their predictions."""
    store_dir = HERE / "store"
    shutil.rmtree(store_dir, ignore_errors=True)
    store = awiml.ModelStore(store_dir)
    expected: dict[str, dict] = {"awiml": awiml.__version__}

    table = read_text(TABLE)
    labels = zone_labels(table["Latitude"].to_numpy())
    rows = np.arange(0, len(table) - 3, 7)  # every 7th row: small, still all zones
    train, test = table.iloc[rows], table.iloc[rows + 3]
    tables = Pipeline([
        ("quality", QualityFilter()),
        ("harmonise", HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"]},
                                       targets=["temperature", "salinity"], unknown="drop")),
        ("units", ConvertUnits({"temperature": "K"})),
        ("fill", DropMissing(strategy="median")),
        ("classify", RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0)),
    ]).fit(train, labels[rows])
    store.save(tables, "zones", alias="production")
    expected["zones"] = {"rows": (rows + 3).tolist(), "predict": tables.predict(test).tolist(),
                         "predict_proba": tables.predict_proba(test).tolist()}

    images, _ = plankton_images(IMAGES)
    pick = np.concatenate([np.flatnonzero(images["label"] == label)[:10]
                           for label in sorted(images["label"].unique())])
    paths = [str(p) for p in images["path"].iloc[pick]]
    names = [Path(p).name for p in paths]
    plankton = Pipeline([
        ("features", ImageFeatures()),
        ("classify", RandomForestClassifier(n_estimators=20, random_state=0)),
    ]).fit(paths, images["label"].iloc[pick].to_numpy())
    store.save(plankton, "plankton")
    expected["plankton"] = {"images": names, "predict": plankton.predict(paths).tolist(),
                            "predict_proba": plankton.predict_proba(paths).tolist()}

    calls = synthetic_calls(6, seed=3)
    waves = np.stack(calls["Pressure [Pa]"].to_numpy()).astype(np.float32)
    np.save(HERE / "calls.npy", waves)
    acoustic = Pipeline([
        ("spectrogram", Spectrogram(sample_rate=8000, mel_bins=16, output="pooled")),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=500)),
    ]).fit(waves, calls["label"].to_numpy())
    store.save(acoustic, "calls")
    expected["calls"] = {"predict": acoustic.predict(waves).tolist(),
                         "predict_proba": acoustic.predict_proba(waves).tolist()}

    numbers = DropMissing(strategy="median").fit_transform(
        HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"]},
                         targets=["temperature", "salinity"], unknown="drop").fit_transform(train))
    network = Pipeline([
        ("scale", StandardScaler()),
        ("classify", KerasClassifier(build_mlp, model_params={"hidden_units": (8,)},
                                     epochs=3, random_state=0)),
    ]).fit(numbers.to_numpy(np.float32), labels[rows])
    test_numbers = DropMissing(strategy="median").fit(numbers).transform(
        HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"]},
                         targets=["temperature", "salinity"], unknown="drop").fit_transform(test))
    store.save(network, "network")
    x_test = test_numbers.to_numpy(np.float32)
    np.save(HERE / "network_inputs.npy", x_test)
    expected["network"] = {"predict": network.predict(x_test).tolist(),
                           "predict_proba": network.predict_proba(x_test).tolist()}

    (HERE / "expected.json").write_text(json.dumps(expected) + "\n")


if __name__ == "__main__":
    main()
