"""Models stored by awiml 0.1.0 load and predict exactly as they did then.

``tests/data/modelstore_0.1.0/`` holds a ModelStore written by awiml 0.1.0
(before the package was laid out by concern) and the predictions it gave;
``make_store.py`` there says how. Every later release must keep loading it:
stored models name awiml's classes by their public dotted path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import awiml
from awiml.archives.pangaea import read_text

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "modelstore_0.1.0"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
IMAGES = Path(awiml.__file__).parent / "data" / "ecotaxa_ml_template" / "images"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # A copy: loading must not need to write, but nothing may touch the fixture either.
    target = tmp_path_factory.mktemp("old") / "store"
    shutil.copytree(FIXTURE / "store", target)
    return awiml.ModelStore(target)


def check(model, x, expected):
    assert model.predict(x).tolist() == expected["predict"]
    np.testing.assert_allclose(model.predict_proba(x), expected["predict_proba"],
                               rtol=1e-6, atol=1e-7)


def test_fixture_was_written_by_0_1_0(store):
    assert EXPECTED["awiml"] == "0.1.0"
    assert set(store.list()["name"]) == {"zones", "plankton", "calls", "network"}
    assert store.verify().ok


def test_table_pipeline_of_awiml_pieces(store):
    table = read_text(DATA / "pangaea" / "PANGAEA_889513_PS103_surf_oce_tsg.tab")
    model = store.load("zones@production")
    assert [type(step).__module__ for _, step in model.steps[:4]] == ["awiml.preprocess"] * 4
    check(model, table.iloc[EXPECTED["zones"]["rows"]], EXPECTED["zones"])


def test_image_features_pipeline(store):
    paths = [str(IMAGES / name) for name in EXPECTED["plankton"]["images"]]
    check(store.load("plankton"), paths, EXPECTED["plankton"])


def test_spectrogram_pipeline(store):
    check(store.load("calls"), np.load(FIXTURE / "calls.npy"), EXPECTED["calls"])


@pytest.mark.slow
def test_pipeline_ending_in_keras_classifier(store):
    model = store.load("network")
    check(model, np.load(FIXTURE / "network_inputs.npy"), EXPECTED["network"])
