"""awiml.store._keras_skipsets: Keras' attribute skip sets lent during awiml's saves and loads."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
from keras.src.backend.common import global_state
from keras.src.saving import saving_lib

from awiml.store import _keras_skipsets
from awiml.store._keras_skipsets import KINDS, lend_skipsets
from awiml.store.serialize import dump_model, load_model

LOOKUP = "saving_attr_skiplist_{}"


@pytest.fixture
def fresh(monkeypatch):
    """The module as in a new process: nothing built yet."""
    monkeypatch.setattr(_keras_skipsets, "_usable", None)
    monkeypatch.setattr(_keras_skipsets, "_built", {})
    for kind in KINDS:
        global_state.set_global_attribute(LOOKUP.format(kind), None)


def test_lent_sets_are_keras_own_and_taken_back(fresh):
    expected = {kind: saving_lib.get_attr_skipset(kind) for kind in KINDS}
    if global_state.get_global_attribute(LOOKUP.format("Layer")) is not None:
        pytest.skip("this Keras caches its skip sets where it looks them up")
    with lend_skipsets():
        for kind in KINDS:
            lent = global_state.get_global_attribute(LOOKUP.format(kind))
            assert lent == expected[kind]
            assert saving_lib.get_attr_skipset(kind) is lent  # Keras now finds it
    for kind in KINDS:
        assert global_state.get_global_attribute(LOOKUP.format(kind)) is None


def test_nothing_is_done_where_keras_already_finds_its_sets(fresh):
    own = {"_self_unconditional_dependency_names"}
    global_state.set_global_attribute(LOOKUP.format("Layer"), own)
    try:
        with lend_skipsets():
            assert global_state.get_global_attribute(LOOKUP.format("Layer")) is own
            assert global_state.get_global_attribute(LOOKUP.format("Loss")) is None
        assert global_state.get_global_attribute(LOOKUP.format("Layer")) is own
        assert _keras_skipsets._usable is False
    finally:
        global_state.set_global_attribute(LOOKUP.format("Layer"), None)


def test_lending_stays_in_its_thread(fresh):
    seen = []
    with lend_skipsets():
        worker = threading.Thread(
            target=lambda: seen.append(global_state.get_global_attribute(LOOKUP.format("Layer"))))
        worker.start()
        worker.join()
    assert seen == [None]


def test_saved_weights_are_the_same_with_and_without_the_lent_sets(tmp_path, fresh):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"),
                              keras.layers.Dense(2, name="d2")])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)
    model.save_weights(tmp_path / "plain.weights.h5")  # Keras alone
    (tmp_path / "awiml").mkdir()
    saved = dump_model(model, tmp_path / "awiml")
    import h5py

    def contents(path):
        found = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda name, obj: found.__setitem__(name, obj[()])
                              if isinstance(obj, h5py.Dataset) else None)
        return found

    plain = contents(tmp_path / "plain.weights.h5")
    ours = contents(tmp_path / "awiml" / "model.weights.h5")
    assert plain.keys() == ours.keys() and len(plain) > 4  # layers and optimizer state
    for name in plain:
        np.testing.assert_array_equal(plain[name], ours[name])
    loaded = load_model(tmp_path / "awiml", saved)
    np.testing.assert_array_equal(loaded.predict(np.ones((2, 4)), verbose=0),
                                  model.predict(np.ones((2, 4)), verbose=0))
