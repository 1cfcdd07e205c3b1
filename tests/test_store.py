"""ModelStore through its public API: round trips in fresh processes, versions and aliases,
tables, integrity, crashes, concurrency, copies, provenance and data references."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from awiml import Workspace
from awiml.errors import AwimlError, ChecksumMismatchError, NotFoundError
from awiml.store import ModelStore, ModelStoreError

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def logreg(iris):
    X, y = iris
    return LogisticRegression(max_iter=1000).fit(X, y)


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "store")


def run_python(code: str, cwd: Path) -> str:
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    return result.stdout


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def writable(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)


def all_text(root: Path) -> str:
    return "\n".join(p.read_text("utf-8") for p in root.rglob("*")
                     if p.is_file() and p.suffix in (".json", ".md"))


# --------------------------------------------------------------------------- round trips


@pytest.fixture(scope="module")
def saved_kinds(tmp_path_factory, iris):
    """Save each model kind under the alias "production"; load all in one fresh process."""
    import keras

    from awiml.classify import KerasClassifier

    X, y = iris
    X = X.astype("float32")
    root = tmp_path_factory.mktemp("kinds")
    store = ModelStore(root / "store")
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(3, activation="softmax")], name="tiny")
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    net.fit(X, y, epochs=2, verbose=0)
    models = {
        "forest": RandomForestClassifier(10, random_state=0).fit(X, y),
        "pipeline": Pipeline([("scale", StandardScaler()),
                              ("clf", LogisticRegression(max_iter=1000))]).fit(X, y),
        "keras": net,
        "keras-pipeline": Pipeline([
            ("scale", StandardScaler()),
            ("clf", KerasClassifier(model_params={"hidden_units": (8,)}, epochs=3,
                                    random_state=0)),
        ]).fit(X, y),
    }
    expected, kinds = {}, {}
    for name, model in models.items():
        store.save(model, name, alias="production")
        out = model.predict(X, verbose=0) if name == "keras" else model.predict(X)
        expected[name] = np.asarray(out).tolist()
        kinds[name] = store.info(f"{name}@production")["kind"]
    np.save(root / "X.npy", X)
    code = textwrap.dedent(f"""
        import json, numpy as np
        from awiml.store import ModelStore
        store = ModelStore({str(store.path)!r})
        X = np.load({str(root / "X.npy")!r})
        out = {{}}
        for name in {list(models)!r}:
            model = store.load(name + "@production")
            pred = model.predict(X, verbose=0) if name == "keras" else model.predict(X)
            out[name] = np.asarray(pred).tolist()
        print(json.dumps(out))
    """)
    loaded = json.loads(run_python(code, root).strip().splitlines()[-1])
    return expected, loaded, kinds


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind"), [
    ("forest", "sklearn"),
    ("pipeline", "sklearn"),
    ("keras", "keras"),
    ("keras-pipeline", "sklearn+keras"),
])
def test_round_trip_in_a_fresh_process(saved_kinds, name, kind):
    expected, loaded, kinds = saved_kinds
    assert kinds[name] == kind
    assert loaded[name] == expected[name]  # identical, bit for bit (JSON keeps float repr)


def test_save_returns_references_and_load_gives_the_same_predictions(store, iris, logreg):
    X, _ = iris
    assert store.save(logreg, "iris") == "iris@1"
    np.testing.assert_array_equal(store.load("iris@1").predict(X), logreg.predict(X))
    np.testing.assert_array_equal(store.load("iris@1").predict_proba(X), logreg.predict_proba(X))


# --------------------------------------------------------------------------- versions, aliases


def test_versions_aliases_and_latest(store, iris):
    X, y = iris
    models = [LogisticRegression(C=c, max_iter=1000).fit(X, y) for c in (0.01, 1.0, 100.0)]
    refs = [store.save(m, "iris", params={"C": m.C}) for m in models]
    assert refs == ["iris@1", "iris@2", "iris@3"]
    assert store.alias("iris", "production", 2) == "iris@2"
    assert (store.path / "iris" / "aliases" / "production").read_text() == "2\n"
    assert store.load("iris").C == 100.0
    assert store.load("iris@latest").C == 100.0
    assert store.load("iris@production").C == 1.0
    assert store.load("iris@1").C == 0.01
    # an alias may be given as a reference or another alias, and moves atomically
    assert store.alias("iris", "staging", "production") == "iris@2"
    assert store.alias("iris", "production", "iris@3") == "iris@3"
    assert store.load("iris@production").C == 100.0
    assert store.info("iris@2")["aliases"] == ["staging"]
    assert not list((store.path / "iris" / "aliases").glob(".*"))  # no temporary files left
    # save(alias=...) points the alias at the new version
    assert store.save(models[0], "iris", alias="production") == "iris@4"
    assert store.info("iris@production")["version"] == 4


def test_unknown_names_versions_and_aliases_list_what_exists(store, logreg):
    with pytest.raises(NotFoundError, match="store is empty"):
        store.load("iris")
    store.save(logreg, "iris", alias="production")
    store.save(logreg, "other")
    with pytest.raises(NotFoundError, match=r"no model named 'irsi'.*models: iris, other"):
        store.load("irsi@1")
    with pytest.raises(NotFoundError, match=r"iris has no version 7; versions: 1; "
                                            r"aliases: production -> 1"):
        store.load("iris@7")
    with pytest.raises(NotFoundError, match=r"no alias 'prod'.*production -> 1"):
        store.load("iris@prod")
    with pytest.raises(NotFoundError) as info:
        store.info("nothing")
    assert isinstance(info.value, AwimlError) and isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".hidden", "x@y@z", "a b", "ü"])
def test_invalid_model_names(store, logreg, bad):
    with pytest.raises(ValueError):
        store.save(logreg, bad)
    assert not store.path.exists() or not any(store.path.iterdir())


@pytest.mark.parametrize("bad", ["latest", "3", "a/b", ""])
def test_invalid_aliases(store, logreg, bad):
    store.save(logreg, "iris")
    with pytest.raises(ValueError):
        store.alias("iris", bad, 1)
    with pytest.raises(ValueError):
        store.save(logreg, "iris", alias=bad)
    assert store.versions("iris")["version"].tolist() == [1]  # refused before saving


def test_alias_to_a_missing_version_is_refused(store, logreg):
    store.save(logreg, "iris", alias="production")
    with pytest.raises(NotFoundError, match="no version 5"):
        store.alias("iris", "production", 5)
    with pytest.raises(NotFoundError):
        store.alias("iris", "staging", "iris@nope")
    with pytest.raises(NotFoundError, match="no model named 'ghost'"):
        store.alias("ghost", "production", 1)
    assert not (store.path / "ghost").exists()
    assert store.info("iris@production")["version"] == 1
    assert not (store.path / "iris" / "aliases" / "staging").exists()


def test_an_alias_differing_only_in_case_is_refused(store, logreg):
    """Production and production are one file on SMB/macOS shares: the second is refused."""
    store.save(logreg, "iris", alias="production")
    store.save(logreg, "iris")
    aliases = store.path / "iris" / "aliases"
    with pytest.raises(ModelStoreError) as info:
        store.alias("iris", "Production", 2)
    message = str(info.value)
    assert "'Production'" in message and "'production'" in message and "case" in message
    assert "store.alias('iris', 'production', version)" in message  # what to do
    with pytest.raises(ModelStoreError, match="differs only in case"):
        store.save(logreg, "iris", alias="PRODUCTION")
    assert store.versions("iris")["version"].tolist() == [1, 2]  # refused before saving
    assert sorted(p.name for p in aliases.iterdir()) == ["production"]
    assert store.info("iris@production")["version"] == 1
    # moving the alias as it is spelt still works, and so does an unrelated one
    assert store.alias("iris", "production", 2) == "iris@2"
    assert store.alias("iris", "staging", 1) == "iris@1"


def test_a_store_that_already_has_case_twins_still_loads(store, logreg, iris):
    """Made on a case-sensitive disk before the check: both aliases read, list and move."""
    X, y = iris
    store.save(logreg, "iris", alias="production")
    store.save(LogisticRegression(C=0.01, max_iter=1000).fit(X, y), "iris")
    (store.path / "iris" / "aliases" / "Production").write_text("2\n")
    assert store.load("iris@production").C == logreg.C
    assert store.load("iris@Production").C == 0.01
    assert store.versions("iris")["aliases"].tolist() == ["production", "Production"]
    assert store.alias("iris", "Production", 1) == "iris@1"
    assert store.alias("iris", "production", 2) == "iris@2"
    store.save(logreg, "other")
    with pytest.raises(ValueError, match="not of 'iris'"):
        store.alias("iris", "production", "other@1")


def test_a_model_name_differing_only_in_case_is_refused(store, logreg):
    """Iris and iris are one folder on SMB/macOS shares: saving the second is refused."""
    store.save(logreg, "iris", alias="production")
    before = sorted(p.relative_to(store.path) for p in store.path.rglob("*"))
    with pytest.raises(ModelStoreError) as info:
        store.save(logreg, "Iris", alias="production")
    message = str(info.value)
    assert "'Iris'" in message and "'iris'" in message and "case" in message
    assert "store.save(model, 'iris')" in message and "nothing was saved" in message
    assert str(store.path) in message
    assert sorted(p.relative_to(store.path) for p in store.path.rglob("*")) == before
    assert store.list()["name"].tolist() == ["iris"]
    assert store.save(logreg, "iris") == "iris@2"  # the existing spelling still saves
    assert store.save(logreg, "iris-2") == "iris-2@1"  # and so does another name


def test_a_store_that_already_has_model_names_differing_in_case_still_loads(store, logreg, iris):
    """Made on a case-sensitive disk before the check: both models list, load and take aliases."""
    X, y = iris
    store.save(logreg, "iris")
    other = LogisticRegression(C=0.01, max_iter=1000).fit(X, y)
    shutil.copytree(store.path / "iris", store.path / "Iris")  # as an older awiml made it
    record = store.path / "Iris" / "versions" / "1" / "version.json"
    record.write_text(record.read_text().replace('"name": "iris"', '"name": "Iris"'))
    assert sorted(store.list()["name"]) == ["Iris", "iris"]
    assert store.load("Iris").C == logreg.C and store.load("iris@1").C == logreg.C
    assert store.alias("Iris", "production", 1) == "Iris@1"
    assert store.save(other, "iris") == "iris@2"  # each spelling as it is keeps saving
    assert store.load("iris").C == 0.01


# --------------------------------------------------------------------------- tables


def test_list_versions_info(store, iris):
    X, y = iris
    forest = RandomForestClassifier(5, random_state=0).fit(X, y)
    store.save(LogisticRegression(max_iter=1000).fit(X, y), "iris",
               metrics={"accuracy": 0.9, "f1_macro": 0.88, "n_samples": 150})
    store.save(forest, "iris", metrics={"accuracy": 0.95, "f1_macro": 0.94}, alias="production")
    store.save(forest, "forest")

    table = store.list()
    assert list(table.columns) == ["name", "latest", "versions", "aliases", "kind", "created",
                                   "metric", "value"]
    rows = table.set_index("name")
    assert rows.loc["iris", "latest"] == 2 and rows.loc["iris", "versions"] == 2
    assert rows.loc["iris", "aliases"] == "production=2"
    assert rows.loc["iris", "kind"] == "sklearn"
    assert (rows.loc["iris", "metric"], rows.loc["iris", "value"]) == ("accuracy", 0.95)
    assert pd.isna(rows.loc["forest", "metric"]) and pd.isna(rows.loc["forest", "value"])
    assert str(table["created"].dtype).startswith("datetime64")

    versions = store.versions("iris")
    assert list(versions.columns) == ["version", "created", "kind", "aliases", "accuracy",
                                      "f1_macro", "n_samples", "commit", "dirty", "user",
                                      "host"]
    assert versions["version"].tolist() == [1, 2]
    assert versions["aliases"].tolist() == ["", "production"]
    assert versions["accuracy"].tolist() == [0.9, 0.95]
    assert "<table" in versions._repr_html_()  # renders in Jupyter
    with pytest.raises(NotFoundError):
        store.versions("nope")

    info = store.info("iris@production")
    assert info["ref"] == "iris@2" and info["version"] == 2 and info["name"] == "iris"
    assert info["aliases"] == ["production"]
    assert Path(info["path"]) == store.path / "iris" / "versions" / "2"
    assert info["kind"] == "sklearn" and info["model"]["kind"] == "sklearn"
    assert info["model"]["architecture"]["class"].endswith("RandomForestClassifier")
    assert info["metrics"] == {"accuracy": 0.95, "f1_macro": 0.94}
    assert info["files"]["model.skops"]["role"] == "estimator"
    assert info["files"]["model.skops"]["sha256"].startswith("sha256:")
    assert {"code", "environment", "hardware", "timing", "user"} <= set(info["provenance"])
    assert info["layout_version"] == 1 and info["awiml_version"]


def test_empty_and_missing_store(tmp_path):
    store = ModelStore(tmp_path / "nowhere")
    assert store.list().empty
    assert store.verify().ok
    assert not (tmp_path / "nowhere").exists()  # reading never creates the folder


@needs_git
def test_diff_shows_params_data_code_and_metrics(tmp_path, iris):
    X, y = iris
    repo = tmp_path / "code"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    store = ModelStore(tmp_path / "store")
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    store.save(LogisticRegression(C=1.0, max_iter=1000).fit(X, y), "iris", code_dir=repo,
               data=[data], params={"seed": 1, "features": "raw"}, metrics={"accuracy": 0.9})
    (repo / "train.py").write_text("2\n")
    git(repo, "commit", "-q", "-am", "two")
    second = git(repo, "rev-parse", "HEAD")
    data.write_text("x\n2\n")
    store.save(LogisticRegression(C=5.0, max_iter=1000).fit(X, y), "iris", code_dir=repo,
               data=[data], params={"seed": 2, "features": "raw"}, metrics={"accuracy": 0.95})

    table = store.diff("iris@1", "iris@2")
    assert list(table.columns) == ["field", "a", "b"]
    assert table.attrs == {"a": "iris@1", "b": "iris@2"}
    rows = {r.field: (r.a, r.b) for r in table.itertuples()}
    assert rows["code.commit"] == (first, second)
    assert rows["params.seed"] == (1, 2)
    assert "params.features" not in rows  # unchanged
    assert rows["metrics.accuracy"] == (0.9, 0.95)
    assert rows["model.params.C"] == (1.0, 5.0)
    a, b = rows["data:a.csv"]
    assert a.startswith("sha256:") and b.startswith("sha256:") and a != b
    assert "kind" not in rows
    assert store.diff("iris@1", "iris@1").empty
    # different models, different kinds
    store.save(Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]).fit(X, y), "p")
    assert store.diff("iris@2", "p").set_index("field").loc["model.architecture.class", "b"] \
        == "sklearn.pipeline.Pipeline"


# --------------------------------------------------------------------------- integrity


def test_files_are_read_only_after_publishing(store, logreg):
    store.save(logreg, "iris")
    folder = store.path / "iris" / "versions" / "1"
    for path in folder.rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o222 == 0, path


def test_verify_detects_a_tampered_and_a_missing_file(store, logreg):
    store.save(logreg, "iris", alias="production")
    store.save(logreg, "iris")
    assert store.verify().ok
    weights = store.path / "iris" / "versions" / "1" / "model.skops"
    writable(weights)
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 0xFF  # same size, other content
    weights.write_bytes(bytes(content))
    card = store.path / "iris" / "versions" / "2" / "MODEL_CARD.md"
    card.unlink()
    (store.path / "iris" / "versions" / "2" / "stray.txt").write_text("x")

    report = store.verify()
    assert not report.ok
    assert report.versions == ["iris@1", "iris@2"]
    assert len(report.changed) == 1 and report.changed[0].startswith("iris@1: model.skops")
    assert report.missing == ["iris@2: MODEL_CARD.md"]
    assert report.extra == ["iris@2: stray.txt"]
    assert "model.skops" in str(report) and "MODEL_CARD.md" in str(report)
    one = store.verify("iris@2")
    assert one.versions == ["iris@2"] and one.missing and not one.changed
    assert store.verify("iris").versions == ["iris@1", "iris@2"]
    with pytest.raises(NotFoundError):
        store.verify("ghost")


def test_verify_reports_a_dangling_alias(store, logreg):
    store.save(logreg, "iris")
    (store.path / "iris" / "aliases" / "broken").write_text("9\n")  # written by hand
    report = store.verify()
    assert report.dangling_aliases == ["iris@broken -> 9"] and not report.ok
    with pytest.raises(NotFoundError, match="names version 9, which does not exist"):
        store.load("iris@broken")


def test_load_refuses_a_tampered_file_naming_it_and_returns_no_model(store, logreg,
                                                                      monkeypatch):
    import awiml.store.serialize

    store.save(logreg, "iris", alias="production")
    weights = store.path / "iris" / "versions" / "1" / "model.skops"
    writable(weights)
    content = bytearray(weights.read_bytes())
    content[100] ^= 0x01
    weights.write_bytes(bytes(content))

    # the digest is checked while the loader parses; whatever the loader makes of the
    # damaged file (here: a model), the checksum error wins and nothing is returned
    monkeypatch.setattr(awiml.store.serialize, "load_model", lambda *args, **kwargs: logreg)
    with pytest.raises(ChecksumMismatchError, match=r"model\.skops has sha256") as info:
        store.load("iris@production")
    assert str(weights) in str(info.value)
    with weights.open("ab") as handle:
        handle.write(b"more")
    with pytest.raises(ChecksumMismatchError, match=r"model\.skops has \d+ bytes"):
        store.load("iris")
    weights.unlink()
    with pytest.raises(NotFoundError, match=r"model\.skops is missing.*rsync"):
        store.load("iris@1")


def test_keras_weights_are_checked_and_the_unread_archive_only_by_verify(store, iris):
    import keras

    X, _ = iris
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    store.save(net, "net", keras_archive=True)
    store.save(net, "net")
    assert not (store.path / "net" / "versions" / "2" / "model.keras").exists()
    folder = store.path / "net" / "versions" / "1"
    archive = folder / "model.keras"
    writable(archive)
    archive.write_bytes(b"not a zip")
    np.testing.assert_array_equal(store.load("net").predict(X, verbose=0),
                                  net.predict(X, verbose=0))
    assert store.verify("net@1").changed[0].startswith("net@1: model.keras")
    weights = folder / "model.weights.h5"
    writable(weights)
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ChecksumMismatchError, match=r"model\.weights\.h5 has \d+ bytes"):
        store.load("net@1")


def test_load_refuses_a_damaged_version_record(store, logreg):
    store.save(logreg, "iris")
    record = store.path / "iris" / "versions" / "1" / "version.json"
    writable(record)
    record.write_text("{not json")
    with pytest.raises(ChecksumMismatchError, match=r"version\.json is not valid JSON"):
        store.load("iris")
    assert store.verify().unreadable


def test_untrusted_type_is_refused_at_load_and_trusted_passes_through(store, iris):
    from awiml.store.serialize import UntrustedModelError

    X, y = iris
    model = Pipeline([("log", FunctionTransformer(np.log1p)),
                      ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
    with pytest.warns(UserWarning, match="log1p"):
        store.save(model, "logged")
    assert store.info("logged")["model"]["untrusted_types"] == ["numpy.log1p"]
    with pytest.raises(UntrustedModelError, match="log1p"):
        store.load("logged")
    loaded = store.load("logged", trusted=["numpy.log1p"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# --------------------------------------------------------------------------- delete


def test_delete_refuses_an_aliased_version_unless_forced(store, logreg):
    for _ in range(3):
        store.save(logreg, "iris")
    store.alias("iris", "production", 2)
    store.alias("iris", "staging", 2)
    with pytest.raises(ModelStoreError, match="production, staging") as info:
        store.delete("iris@2")
    assert isinstance(info.value, AwimlError)
    assert store.versions("iris")["version"].tolist() == [1, 2, 3]
    assert store.delete("iris@1") == []
    assert store.delete("iris@production", force=True) == ["production", "staging"]
    assert store.versions("iris")["version"].tolist() == [3]
    assert not list((store.path / "iris" / "aliases").iterdir())
    assert not [p for p in (store.path / "iris" / "versions").iterdir() if p.name != "3"]
    assert store.verify().ok
    # numbers are never reused
    assert store.save(logreg, "iris") == "iris@4"
    with pytest.raises(NotFoundError):
        store.delete("iris@2")
    with pytest.raises(ValueError, match="one version"):
        store.delete("iris")
    with pytest.raises(ValueError, match="names no version after '@'"):
        store.delete("iris@")  # a slip, never "the latest"
    with pytest.raises(ValueError, match="names no version after '@'"):
        store.load("iris@")
    assert store.versions("iris")["version"].tolist()[-1] == 4


# --------------------------------------------------------------------------- crashes


class Exploding(LogisticRegression):
    """A fitted model whose serialisation fails half-way."""

    def __getstate__(self):
        raise RuntimeError("disk on fire")


def test_failed_save_leaves_no_version_and_the_next_save_continues(store, iris, logreg):
    X, y = iris
    store.save(logreg, "iris")
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save(Exploding(max_iter=1000).fit(X, y), "iris", alias="production")
    versions = store.path / "iris" / "versions"
    assert sorted(p.name for p in versions.iterdir()) == ["1"]
    assert not (store.path / "iris" / "aliases" / "production").exists()
    assert store.versions("iris")["version"].tolist() == [1]
    assert store.save(logreg, "iris") == "iris@2"


def test_failure_just_before_publishing_leaves_no_version(store, logreg, monkeypatch):
    import awiml.store._seal

    store.save(logreg, "iris")
    real = awiml.store._seal._fsync_dir

    def crash(folder):
        if folder.name.startswith(".tmp-"):
            raise OSError("power cut")
        real(folder)

    monkeypatch.setattr(awiml.store._seal, "_fsync_dir", crash)
    with pytest.raises(OSError, match="power cut"):
        store.save(logreg, "iris")
    monkeypatch.undo()
    assert sorted(p.name for p in (store.path / "iris" / "versions").iterdir()) == ["1"]
    assert store.save(logreg, "iris") == "iris@2"
    assert store.verify().ok


def test_killed_save_is_invisible_and_cleaned_up(store, logreg, tmp_path):
    store.save(logreg, "iris")
    code = textwrap.dedent(f"""
        import os
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        import awiml.store._seal, awiml.store
        awiml.store._seal._fsync_dir = lambda folder: os._exit(9)  # killed before the rename
        X, y = load_iris(return_X_y=True)
        awiml.store.ModelStore({str(store.path)!r}).save(
            LogisticRegression(max_iter=1000).fit(X, y), "iris")
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, timeout=120)
    assert result.returncode == 9
    versions = store.path / "iris" / "versions"
    leftovers = [p for p in versions.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1 and (leftovers[0] / "version.json").exists()
    assert store.versions("iris")["version"].tolist() == [1]
    assert store.load("iris").predict([[5.0, 3.0, 1.5, 0.2]]).tolist() == [0]
    assert store.verify().ok
    # a temporary folder of a live process on this host, and a recent one, stay
    live = versions / f".tmp-otherhost-{os.getpid()}-abc"
    live.mkdir()
    # the next save removes what the dead process left, and skips its claimed number
    assert store.save(logreg, "iris") == "iris@3"
    assert not leftovers[0].exists()
    assert live.exists()
    old = time.time() - 2 * 3600
    os.utime(live, (old, old))
    store.save(logreg, "iris")
    assert not live.exists()


# --------------------------------------------------------------------------- concurrency

WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from awiml.store import ModelStore

    path, worker, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=1.0 + worker, max_iter=1000).fit(X, y)
    store = ModelStore(path)
    import awiml.store.provenance, awiml.store.serialize, skops.io  # the saves start together
    (go.parent / f"ready-{worker}").touch()
    while not go.exists():
        time.sleep(0.01)
    for i in range(10):
        ref = store.save(model, "iris", tags={"worker": worker, "i": i}, alias=f"w{worker}")
        store.alias("iris", "shared", ref)
        print(ref, flush=True)
""")


@pytest.mark.slow
def test_eight_processes_save_eighty_distinct_loadable_versions(tmp_path, iris):
    X, y = iris
    path = tmp_path / "store"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(w), str(go)],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(8)
    ]
    deadline = time.monotonic() + 200
    while len(list(tmp_path.glob("ready-*"))) < 8 and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    refs = [line for out, _ in outputs for line in out.split()]
    assert len(refs) == 80 and len(set(refs)) == 80

    store = ModelStore(path)
    versions = store.versions("iris")
    assert sorted(versions["version"]) == list(range(1, 81))
    assert store.verify().ok
    expected = {w: LogisticRegression(C=1.0 + w, max_iter=1000).fit(X, y).predict_proba(X)
                for w in range(8)}
    seen = {w: [] for w in range(8)}
    for number in range(1, 81):
        tags = store.info(f"iris@{number}")["tags"]
        seen[tags["worker"]].append(tags["i"])
        np.testing.assert_allclose(store.load(f"iris@{number}").predict_proba(X),
                                   expected[tags["worker"]])
    assert all(sorted(v) == list(range(10)) for v in seen.values())
    # no lost alias: each worker's alias names its own last save
    for w in range(8):
        info = store.info(f"iris@w{w}")
        assert info["tags"] == {"worker": w, "i": 9}
    assert store.info("iris@shared")["version"] in range(1, 81)
    leftovers = [p.name for p in (path / "iris" / "versions").iterdir() if p.name[0] == "."]
    assert leftovers == []
    assert len(list((path / "iris" / "aliases").iterdir())) == 9
    assert not (path / "iris" / ".lock").exists()


# --------------------------------------------------------------------------- copies, git


def test_a_copied_workspace_still_loads(tmp_path, iris, logreg):
    X, _ = iris
    ws = Workspace.create(tmp_path / "hpc" / "project")
    src = tmp_path / "ctd.tab"
    src.write_text("depth\ttemp\n1\t4.2\n")
    ws.fetch(src.as_uri(), progress=False)
    store = ModelStore(ws)
    assert store.path == ws.model
    store.save(logreg, "iris", data=ws, alias="production", figures={"c.png": b"\x89PNG"})
    copy = shutil.copytree(ws.root, tmp_path / "laptop" / "project")
    shutil.rmtree(tmp_path / "hpc")
    moved = ModelStore(copy)  # a workspace root means its model/ folder
    assert moved.path == copy / "model" and moved.workspace is not None
    np.testing.assert_array_equal(moved.load("iris@production").predict(X), logreg.predict(X))
    assert moved.verify().ok
    # only relative paths, but for the record of where the training ran (for a re-run)
    assert moved.info("iris")["provenance"]["run"]["workspace"] == ws.root.as_posix()
    text = all_text(copy / "model").replace(f'"workspace": "{ws.root.as_posix()}"', "")
    assert str(tmp_path / "hpc") not in text and str(copy) not in text
    assert ModelStore(copy / "model").workspace is not None


def test_gitignore_keeps_weights_out_and_metadata_in(tmp_path, logreg):
    store = ModelStore(tmp_path / "model")
    store.save(logreg, "iris", alias="production")
    gitignore = (store.path / ".gitignore").read_text()
    for pattern in ("*.skops", "*.h5", "*.keras", "*.npy", ".claims/"):
        assert pattern in gitignore.splitlines()
    if shutil.which("git") is None:
        return
    git(tmp_path, "init", "-q")
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "model/iris/versions/1/model.skops",
         "model/iris/versions/1/version.json", "model/iris/versions/1/MODEL_CARD.md",
         "model/iris/aliases/production", "model/iris/.claims/1"],
        cwd=tmp_path, capture_output=True, text=True,
    ).stdout.split()
    assert ignored == ["model/iris/versions/1/model.skops", "model/iris/.claims/1"]
    # a user's own .gitignore is never overwritten
    writable(store.path / ".gitignore")
    (store.path / ".gitignore").write_text("# mine\n")
    store.save(logreg, "iris")
    assert (store.path / ".gitignore").read_text() == "# mine\n"


# --------------------------------------------------------------------------- card, provenance


def test_model_card(tmp_path, iris):
    from awiml.classify import evaluate

    X, y = iris
    ws = Workspace.create(tmp_path / "ws")
    src = tmp_path / "plankton.tab"
    src.write_text("a\tb\n1\t2\n")
    ws.fetch(src.as_uri(), progress=False,
             metadata={"doi": "10.1594/PANGAEA.889513", "license": "CC-BY-4.0"})
    model = Pipeline([("scale", StandardScaler()),
                      ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
    report = evaluate(model, X, y)
    store = ModelStore(ws)
    store.save(model, "plankton", data=ws, metrics=report, notes="First try on PS103.",
               training_time=("2026-03-01T12:00:00Z", "2026-03-01T13:02:03Z"),
               params={"features": "pooled"}, tags={"cruise": "PS103"}, alias="production")
    folder = store.path / "plankton" / "versions" / "1"
    card = (folder / "MODEL_CARD.md").read_text()
    assert card.startswith("# plankton, version 1\n")
    for text in ("`plankton@1`", "| Kind | sklearn |", "First try on PS103.",
                 "sklearn.pipeline.Pipeline", "| 1 | scale | `sklearn.preprocessing",
                 "| plankton.tab | file://", "| 10.1594/PANGAEA.889513 |",
                 f"| accuracy | {report.accuracy:.4g} |", "### Per class",
                 "![confusion](figures/confusion.png)", "| features | pooled |",
                 "| cruise | PS103 |", "## Code", "## Environment", "| scikit-learn |",
                 "## Hardware", "| CPU |", "| Duration | 1 h 2 min 3 s |",
                 "| Started | 2026-03-01T12:00:00.000Z |", "Aliases at creation | production",
                 'load("plankton@1")'):
        assert text in card, text
    png = (folder / "figures" / "confusion.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    record = json.loads((folder / "version.json").read_text())
    assert record["files"]["figures/confusion.png"]["role"] == "figure"
    assert record["files"]["MODEL_CARD.md"]["role"] == "card"
    assert record["metrics"]["accuracy"] == report.accuracy
    assert record["metrics"]["confusion"]["matrix"] == report.confusion.to_numpy().tolist()
    assert record["provenance"]["timing"]["duration_seconds"] == 3723.0
    # metadata is plain JSON with sorted keys and an indent: it diffs well
    text = (folder / "version.json").read_text()
    assert text == json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_figures_given_explicitly(store, logreg):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([1, 2], [3, 4])
    store.save(logreg, "iris", figures={"curve": fig, "raw.png": b"\x89PNG\r\n"})
    folder = store.path / "iris" / "versions" / "1" / "figures"
    assert sorted(p.name for p in folder.iterdir()) == ["curve.png", "raw.png"]
    assert (folder / "curve.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="plain file name"):
        store.save(logreg, "iris", figures={"../x.png": b""})


@needs_git
def test_provenance_recorded_without_secrets(tmp_path, logreg, monkeypatch):
    repo = tmp_path / "code"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    git(repo, "remote", "add", "origin", "https://bob:glpat-TOPSECRET@gitlab.awi.de/ml/x.git")
    (repo / "train.py").write_text("2\n")
    monkeypatch.setenv("AWIML_HTTP_TOKEN", "env-token-9f8e7d6c")
    monkeypatch.setenv("MY_DB_PASSWORD", "pw-1a2b3c4d")
    store = ModelStore(tmp_path / "store")
    store.save(logreg, "iris", code_dir=repo,
               params={"api_key": "key-5e6f7a8b", "db": {"password": "pw-xyz"}, "lr": 0.1},
               data=[{"source": "https://carol:s3cr3t@data.awi.de/x.csv?token=tk-1234"},
                     "https://dave:pw-url@example.org/y.csv"],
               tags={"auth_token": "tok-abcdef"})
    info = store.info("iris")
    code = info["provenance"]["code"]
    assert code["commit"] == git(repo, "rev-parse", "HEAD")
    assert code["branch"] == "main" and code["dirty"] is True
    assert code["changed"] == [".M train.py"]
    assert code["remote"] == "https://gitlab.awi.de/ml/x.git"
    assert info["params"] == {"api_key": "***", "db": {"password": "***"}, "lr": 0.1}
    assert store.versions("iris")["dirty"].tolist() == [True]
    text = all_text(store.path) + json.dumps(info)
    for secret in ("TOPSECRET", "env-token-9f8e7d6c", "pw-1a2b3c4d", "AWIML_HTTP_TOKEN",
                   "MY_DB_PASSWORD", "key-5e6f7a8b", "pw-xyz", "s3cr3t", "tk-1234", "carol",
                   "pw-url", "tok-abcdef"):
        assert secret not in text, secret


def test_provenance_outside_a_repository_is_unknown(tmp_path, logreg):
    store = ModelStore(tmp_path / "store")
    store.save(logreg, "iris", code_dir=tmp_path, training_time=42.5)
    prov = store.info("iris")["provenance"]
    assert prov["code"]["status"] == "unknown" and prov["code"]["commit"] is None
    assert prov["timing"]["duration_seconds"] == 42.5 and prov["timing"]["source"] == "argument"
    assert prov["environment"]["packages"]["scikit-learn"]
    assert prov["hardware"]["cpu_count"] >= 1
    assert store.versions("iris")["commit"].tolist() == [None]
    assert "Unknown (not a git repository)" in (
        store.path / "iris" / "versions" / "1" / "MODEL_CARD.md").read_text()


def test_training_time_from_the_model_and_invalid_values(store, iris):
    X, y = iris
    model = LogisticRegression(max_iter=1000).fit(X, y)
    model.fit_started_, model.fit_ended_ = 1772366400.0, 1772366410.0
    store.save(Pipeline([("clf", model)]), "timed")
    timing = store.info("timed")["provenance"]["timing"]
    assert timing["duration_seconds"] == 10.0 and timing["source"] == "model"
    for bad in (-1, "soon", (1, 2, 3), float("nan")):
        with pytest.raises(ValueError):
            store.save(model, "timed", training_time=bad)
    assert store.versions("timed")["version"].tolist() == [1]


def test_keras_training_history_is_recorded(store, iris):
    from awiml.classify import KerasClassifier

    X, y = iris
    clf = KerasClassifier(model_params={"hidden_units": (4,)}, epochs=2, random_state=0)
    store.save(Pipeline([("scale", StandardScaler()), ("clf", clf)]).fit(X, y), "net")
    training = store.info("net")["training"]
    assert training["epochs"] == 2 and len(training["history"]["loss"]) == 2
    assert "| Epochs | 2 |" in (store.path / "net" / "versions" / "1" / "MODEL_CARD.md"
                                ).read_text()


def test_values_that_are_not_json_are_refused_before_saving(store, logreg):
    with pytest.raises(TypeError, match=r"params\['when'\]\[0\]: a builtins.object"):
        store.save(logreg, "iris", params={"when": [object()]})
    with pytest.raises(TypeError, match="metrics must be a dict"):
        store.save(logreg, "iris", metrics=0.9)
    with pytest.raises(TypeError, match="cannot store"):
        store.save("not a model", "iris")
    assert store.list().empty
    store.save(logreg, "iris", params={"n": np.int64(3), "w": np.array([0.5, 1.0]),
                                       "bad": float("nan")}, tags=["baseline", "ps103"])
    info = store.info("iris")
    assert info["params"] == {"n": 3, "w": [0.5, 1.0], "bad": None}
    assert info["tags"] == {"baseline": True, "ps103": True}


# --------------------------------------------------------------------------- data references


def test_data_references_from_a_workspace_manifest(tmp_path, logreg):
    ws = Workspace.create(tmp_path / "ws")
    for name, text in (("ctd.tab", "depth\n1\n"), ("bio.tab", "count\n7\n")):
        src = tmp_path / name
        src.write_text(text)
        ws.fetch(src.as_uri(), subdir="ps103", progress=False,
                 metadata={"doi": "10.1594/PANGAEA.889513", "citation": "Someone (2019)"})
    entries = ws.entries()
    store = ModelStore(ws)
    store.save(logreg, "all", data=ws)
    data = store.info("all")["data"]
    assert [d["path"] for d in data] == ["ps103/bio.tab", "ps103/ctd.tab"]
    for ref in data:
        entry = entries[ref["path"]]
        assert ref["sha256"] == entry.sha256 and ref["size"] == entry.size
        assert ref["source"] == entry.source and ref["source"].startswith("file://")
        assert ref["doi"] == "10.1594/PANGAEA.889513"
        assert ref["citation"] == "Someone (2019)"
        assert ref["retrieved"] == entry.retrieved

    # the same file named in every way the store accepts
    ctd = entries["ps103/ctd.tab"]
    for item in (ctd, "raw/ps103/ctd.tab", "ps103/ctd.tab", ws.raw / "ps103" / "ctd.tab"):
        store.save(logreg, "one", data=item)
        assert [d["sha256"] for d in store.info("one")["data"]] == [ctd.sha256]
    store.save(logreg, "folder", data=[ws.raw / "ps103", ctd])  # duplicates collapse
    assert len(store.info("folder")["data"]) == 2

    # a store elsewhere still resolves absolute paths into a workspace's raw/
    elsewhere = ModelStore(tmp_path / "elsewhere")
    elsewhere.save(logreg, "x", data=str(ws.raw / "ps103" / "ctd.tab"))
    assert elsewhere.info("x")["data"][0]["path"] == "ps103/ctd.tab"


def test_other_data_references(tmp_path, store, logreg):
    loose = tmp_path / "local.csv"
    loose.write_text("a\n1\n")
    store.save(logreg, "iris", data=[loose, "doi:10.1594/PANGAEA.889513",
                                     "https://example.org/a.csv", {"source": "cruise log"}])
    data = store.info("iris")["data"]
    assert {"name": "local.csv", "source": None, "size": 4,
            "sha256": "sha256:" + __import__("hashlib").sha256(b"a\n1\n").hexdigest()} in data
    assert {"source": "doi:10.1594/PANGAEA.889513", "doi": "10.1594/PANGAEA.889513"} in data
    assert {"source": "https://example.org/a.csv"} in data
    assert {"source": "cruise log"} in data
    with pytest.raises(NotFoundError, match="does not exist"):
        store.save(logreg, "iris", data="no/such/file.csv")
    with pytest.raises(TypeError, match="cannot record"):
        store.save(logreg, "iris", data=[3.14])
    assert store.versions("iris")["version"].tolist() == [1]


def test_repr_and_fspath(tmp_path):
    store = ModelStore(tmp_path / "s")
    assert repr(store) == f"ModelStore({str(tmp_path / 's')!r})"
    assert os.fspath(store) == str(tmp_path / "s")


def test_importing_the_store_loads_no_heavy_module():
    code = ("import sys, awiml.store, awiml.store.provenance; "
            "print(' '.join(m for m in ('keras', 'torch', 'sklearn', 'skops', 'pandas', "
            "'tensorflow', 'jax') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == ""


def test_large_files_are_sealed_with_digests_taken_while_writing(store, iris, monkeypatch):
    import awiml.store._seal
    from awiml.archives.transfer import file_checksum

    X, y = iris
    forest = RandomForestClassifier(20, random_state=0).fit(X, y)
    monkeypatch.setattr(awiml.store._seal, "_PARALLEL_BYTES", 0)  # take the large-file path
    ref = store.save(forest, "forest")
    folder = store.path / "forest" / "versions" / "1"
    recorded = store.info(ref)["files"]["model.skops"]["sha256"]
    assert recorded == file_checksum(folder / "model.skops")
    assert store.verify(ref).ok
    np.testing.assert_array_equal(store.load(ref).predict(X), forest.predict(X))


@pytest.mark.parametrize("parallel", [False, True], ids=["small", "large"])
def test_every_file_of_a_version_reaches_the_disk_once(store, iris, monkeypatch, parallel):
    import awiml.store._seal

    if parallel:  # the path large models take: hashing and syncing side by side
        monkeypatch.setattr(awiml.store._seal, "_PARALLEL_BYTES", 0)
    synced: list[int] = []  # inode numbers
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    X, y = iris
    model = Pipeline([("scale", StandardScaler()),
                      ("forest", RandomForestClassifier(5, random_state=0))]).fit(X, y)
    monkeypatch.setattr(os, "fsync", spy)
    ref = store.save(model, "iris", figures={"note.png": b"\x89PNG fake"})
    folder = store.path / "iris" / "versions" / ref.partition("@")[2]
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.relative_to(folder).as_posix() for p in files} >= {
        "model.skops", "version.json", "MODEL_CARD.md", "figures/note.png"}
    for path in files:
        assert synced.count(path.stat().st_ino) == 1, path.name


def test_failure_while_sealing_in_the_background_leaves_no_version(store, logreg, monkeypatch):
    import awiml.store._seal

    store.save(logreg, "iris")

    def disk_full(folder, paths, known=None, synced=()):
        time.sleep(0.05)  # still busy while the card is written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(awiml.store._seal, "_seal_all", disk_full)
    with pytest.raises(OSError, match="No space left") as failure:
        store.save(logreg, "iris", alias="production")
    monkeypatch.undo()
    assert "no version was published" in str(failure.value.__notes__)
    assert "free some space" in str(failure.value.__notes__)
    versions = store.path / "iris" / "versions"
    assert sorted(p.name for p in versions.iterdir()) == ["1"]
    assert not (store.path / "iris" / "aliases" / "production").exists()
    assert store.save(logreg, "iris") == "iris@2"  # the claimed number was handed back
    assert store.verify().ok


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc"),
                    reason="needs RLIMIT_FSIZE (Linux)")
def test_alias_that_cannot_be_written_stays_as_it_was(store, logreg, tmp_path):
    """A real write failure (EFBIG under RLIMIT_FSIZE) while an alias is moved.

    Like on a full disk, the name's lock file is the first write to fail.
    """
    store.save(logreg, "iris", alias="production")
    store.save(logreg, "iris")
    aliases = store.path / "iris" / "aliases"
    before = sorted(p.name for p in aliases.iterdir())
    code = textwrap.dedent(f"""
        import resource, signal
        from awiml.store import ModelStore, ModelStoreError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        store = ModelStore({str(store.path)!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))  # "2" fits, "2\\n" does not
        try:
            store.alias("iris", "production", 2)
        except ModelStoreError as exc:
            print(isinstance(exc.__cause__, OSError), "|", exc)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cause, message = result.stdout.strip().split(" | ")
    assert cause == "True"
    assert "'iris'" in message and str(store.path) in message
    assert "free some space" in message and "Nothing was changed" in message
    assert (aliases / "production").read_text() == "1\n"
    assert sorted(p.name for p in aliases.iterdir()) == before == ["production"]
    assert not (store.path / "iris" / ".lock").exists()
    assert store.alias("iris", "production", 2) == "iris@2"
    assert store.verify().ok
