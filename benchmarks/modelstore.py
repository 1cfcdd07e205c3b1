"""Save and load time of awiml's model storage relative to the frameworks' own.

For the same moderately sized models, in the same run, best of N:

- two Keras CNNs (~1.1 M and ~8.4 M parameters): ``awiml.ModelStore`` and
  ``awiml.store.serialize.dump_model``/``load_model`` against ``keras.Model.save`` and
  ``keras.saving.load_model``;
- a random forest (200 trees, 20 000 rows): the same against ``skops.io.dump``
  and ``skops.io.load`` (with the trusted types skops asks for).

A ratio of 1.00 means as fast as the framework alone; the target is <= 1.3.
Each timed save starts without the files of the previous run (removed untimed),
so that no contender writes into a page cache the others filled.
Rows marked "(info)" are not judged: the framework's save followed by an
``fsync`` shows what the store's durability (every file synced to disk before
the version is published) costs on this disk, since the frameworks alone leave
the file in the page cache.

Run: ``KERAS_BACKEND=torch python benchmarks/modelstore.py [--repeat 5] [--quick]``
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

TARGET = 1.3


def best_of_interleaved(repeat: int, contenders: dict) -> dict[str, float]:
    """Smallest wall time of each contender, running them in turn ``repeat`` times.

    ``contenders`` maps a name to ``(setup, func)``; ``setup`` (untimed) may be None.
    Interleaving spreads the noise of a shared machine over all contenders alike.
    """
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeat):
        for name, (setup, func) in contenders.items():
            if setup is not None:
                setup()
            gc.collect()
            start = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def keras_model(quick: bool, dense: int = 256):
    import keras
    import numpy as np

    size = 16 if quick else 32
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(dense, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ], name="cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, size=64)
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)  # builds the optimizer state too
    return model, X


def sklearn_model(quick: bool):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    n_samples, n_trees = (4_000, 50) if quick else (20_000, 200)
    X, y = make_classification(n_samples, 20, n_informative=10, n_classes=4, random_state=0)
    model = RandomForestClassifier(n_trees, n_jobs=-1, random_state=0).fit(X, y)
    model.set_params(n_jobs=1)
    return model, X


class Scratch:
    """A fresh empty folder per timed run, all below one temporary root."""

    def __init__(self, root: Path):
        self.root = root
        self.count = 0
        self.current = root

    def fresh(self) -> Path:
        """Remove the last run's files (untimed) and make an empty folder for the next."""
        if self.current != self.root and self.current.parent == self.root:
            shutil.rmtree(self.current, ignore_errors=True)
        self.count += 1
        self.current = self.root / f"run{self.count}"
        self.current.mkdir()
        return self.current


def _model_store():
    try:
        from awiml.store import ModelStore
    except ImportError as exc:
        return None, str(exc)
    return ModelStore, ""


def measure(kind: str, model, X, repeat: int, root: Path) -> list[tuple[str, float, float]]:
    """Return rows (what, save seconds, load seconds) for ``kind`` "keras<n>" or "sklearn"."""
    import numpy as np

    from awiml.store.serialize import dump_model, load_model

    scratch = Scratch(root / kind)
    scratch.root.mkdir()
    plain_dir, awiml_dir = root / f"{kind}-plain", root / f"{kind}-awiml"
    expected = model.predict(X, verbose=0) if kind.startswith("keras") else model.predict(X)

    def check(loaded):
        got = loaded.predict(X, verbose=0) if kind.startswith("keras") else loaded.predict(X)
        np.testing.assert_array_equal(got, expected)

    if kind.startswith("keras"):
        import keras

        plain_name = "keras.Model.save / keras.saving.load_model"

        def save_plain():
            model.save(scratch.current / "model.keras")

        def save_plain_synced():
            model.save(scratch.current / "model.keras")
            with open(scratch.current / "model.keras", "rb") as handle:
                os.fsync(handle.fileno())

        def load_plain():
            return keras.saving.load_model(plain_dir / "model.keras")
    else:
        import skops.io

        plain_name = "skops.io.dump / skops.io.load"

        def save_plain():
            skops.io.dump(model, scratch.current / "model.skops")

        def save_plain_synced():
            skops.io.dump(model, scratch.current / "model.skops")
            with open(scratch.current / "model.skops", "rb") as handle:
                os.fsync(handle.fileno())

        def load_plain():
            return skops.io.load(plain_dir / "model.skops", trusted=trusted)

    saved = {}

    def save_awiml():
        saved.update(dump_model(model, scratch.current))

    def load_awiml():
        return load_model(awiml_dir, saved)

    store_class, missing = _model_store()
    names = [plain_name, "awiml.store.serialize dump_model / load_model"]
    saves = {names[0]: (scratch.fresh, save_plain), names[1]: (scratch.fresh, save_awiml)}
    loads = {names[0]: (None, load_plain), names[1]: (None, load_awiml)}
    synced = ("keras.Model.save" if kind.startswith("keras") else "skops.io.dump") \
        + " + fsync (info)"
    names.append(synced)
    saves[synced] = (scratch.fresh, save_plain_synced)
    loads[synced] = (None, load_plain)
    if store_class is not None:
        store = store_class(root / f"{kind}-store")
        refs = []
        stored = "awiml.ModelStore save / load"
        names.append(stored)

        def drop_last_version():
            # like the scratch folders: each run starts without the last run's files
            if refs:
                store.delete(refs[-1], force=True)

        saves[stored] = (drop_last_version,
                         lambda: refs.append(store.save(model, f"bench-{kind}")))
        loads[stored] = (None, lambda: store.load(refs[-1]))

    # one copy of each format to load from, and a check that every loader gets the model back
    plain_dir.mkdir()
    scratch.current = plain_dir
    save_plain()
    trusted = None
    if kind == "sklearn":
        trusted = skops.io.get_untrusted_types(file=plain_dir / "model.skops")
    awiml_dir.mkdir()
    saved.update(dump_model(model, awiml_dir))
    save_times = best_of_interleaved(repeat, saves)
    for name in names:
        check(loads[name][1]())
    load_times = best_of_interleaved(repeat, loads)
    rows = [(name, save_times[name], load_times[name]) for name in names]
    if store_class is None:
        rows.append((f"awiml.ModelStore: not available ({missing})", float("nan"), float("nan")))
    return rows


def report(title: str, rows: list[tuple[str, float, float]]) -> bool:
    base_save, base_load = rows[0][1], rows[0][2]
    print(f"\n{title}")
    print(f"{'':44} {'save s':>8} {'ratio':>6} {'load s':>8} {'ratio':>6}")
    ok = True
    for name, save_s, load_s in rows:
        if save_s != save_s:  # nan: not measured
            print(f"{name}")
            continue
        save_r, load_r = save_s / base_save, load_s / base_load
        print(f"{name:44} {save_s:8.3f} {save_r:6.2f} {load_s:8.3f} {load_r:6.2f}")
        if not name.endswith("(info)"):
            ok &= save_r <= TARGET and load_r <= TARGET
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (best is kept)")
    parser.add_argument("--quick", action="store_true", help="smaller models, for a smoke test")
    args = parser.parse_args(argv)

    import keras

    root = Path(tempfile.mkdtemp(prefix="awiml-bench-"))
    try:
        networks = [keras_model(args.quick)]
        if not args.quick:
            networks.append(keras_model(False, dense=2048))
        keras_rows = [measure(f"keras{i}", model, X, args.repeat, root)
                      for i, (model, X) in enumerate(networks)]
        forest, Xf = sklearn_model(args.quick)
        sk_rows = measure("sklearn", forest, Xf, args.repeat, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"best of {args.repeat}; backend {keras.backend.backend()}; target ratio <= {TARGET}")
    ok = True
    for (model, _), rows in zip(networks, keras_rows, strict=True):
        ok &= report(f"Keras CNN, {model.count_params():,} parameters", rows)
    n_nodes = sum(e.tree_.node_count for e in forest.estimators_)
    ok &= report(f"RandomForest, {len(forest.estimators_)} trees, {n_nodes:,} nodes, "
                 f"{len(Xf):,} rows", sk_rows)
    print("\nall ratios within target" if ok else "\nsome ratio above target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
