"""What ModelStore.save records for a later re-run, with no extra code in the training script.

The run (script, module, notebook or interactive; arguments without secrets),
the seeds of ``awiml.set_seed``, every installed distribution, an evaluation
sample stored without pickle, and the training data grouped into datasets
with a digest each (issue 17).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import awiml
from awiml import Workspace
from awiml.errors import ChecksumMismatchError, InvalidDataError
from awiml.store import ModelStore, _run, _seeding, model_card
from awiml.store._datasets import group_datasets
from awiml.store._sample import SAMPLE_ROWS
from awiml.store.provenance import dataset_digest, installed_distributions

OLD_STORE = Path(__file__).parent / "data" / "modelstore_0.1.0" / "store"
PACKAGE_PARENT = Path(awiml.__file__).parents[1]

TRAIN = '''\
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import awiml
from awiml.classify import evaluate

awiml.set_seed(7)
ws = awiml.Workspace(os.environ["TRAIN_WORKSPACE"])
folder = ws.raw / "folder"
rows = [line.split(",") for path in sorted(folder.iterdir())
        for line in path.read_text().splitlines()]
X = np.array([[float(a), float(b)] for a, b, _ in rows])
y = np.array([label for _, _, label in rows])
model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
report = evaluate(model, X, y)
print(awiml.ModelStore(ws).save(model, os.environ.get("TRAIN_NAME", "plankton"),
                                data=folder, metrics=report))
'''


@pytest.fixture(autouse=True)
def fresh_seed(monkeypatch):
    """Each test starts as a process where set_seed was never called."""
    monkeypatch.setattr(_seeding, "_SEEDED", {})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A git repository whose train.py fitted a model on a workspace's raw/folder."""
    root = tmp_path_factory.mktemp("run")
    repo = root / "repo"
    (repo / "pkg").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "train.py").write_text(TRAIN)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "train.py").write_text(TRAIN)
    ws = Workspace.create(root / "ws")
    source = root / "exports"
    source.mkdir()
    generator = np.random.default_rng(0)
    for index in range(12):  # more files than the card lists one by one
        path = source / f"station{index:02d}.csv"
        path.write_text("".join(f"{a:.3f},{a + b:.3f},{'diatom' if a > 0 else 'copepod'}\n"
                                for a, b in generator.normal(size=(25, 2))))
        ws.fetch(path.as_uri(), subdir="folder", progress=False)
    env = {**os.environ, "TRAIN_WORKSPACE": str(ws.root), "KERAS_BACKEND": "torch",
           "PYTHONPATH": os.pathsep.join([str(PACKAGE_PARENT), str(repo)])}
    script = subprocess.run([sys.executable, "train.py", "--epochs", "3", "--token", "s3cret"],
                            cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert script.returncode == 0, script.stderr
    module = subprocess.run(
        [sys.executable, "-X", "utf8", "-m", "pkg.train", "--lr=0.1", "api_key=k3y"],
        cwd=repo, env={**env, "TRAIN_NAME": "as-module"}, capture_output=True, text=True,
        check=False)
    assert module.returncode == 0, module.stderr
    return types.SimpleNamespace(repo=repo, ws=ws, store=ModelStore(ws),
                                 script_ref=script.stdout.strip(),
                                 module_ref=module.stdout.strip())


# --------------------------------------------------------------------------- run


def test_a_script_run_is_recorded_with_its_arguments_and_no_secret(trained):
    info = trained.store.info(trained.script_ref)
    run = info["provenance"]["run"]
    assert run == {
        "kind": "script", "script": "train.py", "module": None, "notebook": None,
        "args": ["--epochs", "3", "--token", "***"], "cwd": ".",
        "repository": trained.repo.as_posix(), "workspace": trained.ws.root.as_posix(),
        "python": sys.version.split()[0], "executable_args": [],
    }
    folder = Path(info["path"])
    for path in folder.rglob("*"):
        if path.is_file():
            assert b"s3cret" not in path.read_bytes(), path


def test_a_module_run_is_recorded_with_interpreter_options(trained):
    run = trained.store.info(trained.module_ref)["provenance"]["run"]
    assert run["kind"] == "module" and run["module"] == "pkg.train"
    assert run["script"] is None and run["cwd"] == "."
    assert run["args"] == ["--lr=0.1", "api_key=***"]
    assert run["executable_args"] == ["-X", "utf8"]
    assert run["repository"] == trained.repo.as_posix()


def test_an_interactive_run_under_pytest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = ModelStore(tmp_path / "store")
    ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "toy")
    run = store.info(ref)["provenance"]["run"]
    assert run["kind"] == "interactive"
    assert run["script"] is run["module"] is run["notebook"] is None
    assert run["repository"] is None and run["cwd"] == tmp_path.as_posix()  # absolute outside
    assert run["workspace"] is None


@pytest.mark.parametrize(("argv", "kind", "args", "options"), [
    (["python", "-u", "-c", "import awiml  # token=s3cret", "x", "--password=p"],
     "interactive", ["x", "--password=***"], ["-u"]),
    (["python", "-uc", "print(1)"], "interactive", [], ["-u"]),
    (["python"], "interactive", [], []),
    (["python", "-", "a"], "interactive", [], []),
    (["python", "-Xdev", "-W", "error", "-O", "run.py", "https://u:pw@h.org/x?token=t"],
     "script", ["https://h.org/x?token=***"], ["-Xdev", "-W", "error", "-O"]),
    (["python", "-m", "pytest", "-q"], "interactive", [], []),
    (["python", "/venv/bin/pytest", "-q"], "interactive", [], []),
    (["python", "-mpkg.mod", "--secret", "v", "--n", "2"], "module",
     ["--secret", "***", "--n", "2"], []),
])
def test_command_lines_are_read_for_each_kind(monkeypatch, tmp_path, argv, kind, args, options):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "orig_argv", argv)
    run = _run.run_section()
    assert (run["kind"], run["args"], run["executable_args"]) == (kind, args, options)
    assert "s3cret" not in json.dumps(run) and "print(1)" not in json.dumps(run)


def test_a_script_outside_a_repository_has_an_absolute_path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "orig_argv", ["python", "sub/train.py"])
    run = _run.run_section(tmp_path / "ws")
    assert run["script"] == (tmp_path / "sub" / "train.py").as_posix()
    assert run["repository"] is None and run["workspace"] == (tmp_path / "ws").as_posix()


def test_a_worktree_git_file_marks_the_repository(monkeypatch, tmp_path):
    (tmp_path / "repo" / "nb").mkdir(parents=True)
    (tmp_path / "repo" / ".git").write_text("gitdir: /elsewhere\n")
    monkeypatch.chdir(tmp_path / "repo" / "nb")
    monkeypatch.setattr(sys, "orig_argv", ["python", "../train.py"])
    run = _run.run_section()
    assert (run["script"], run["cwd"]) == ("train.py", "nb")


@pytest.mark.parametrize("how", ["absolute", "relative", "vscode"])
def test_a_notebook_is_found_in_a_kernel(monkeypatch, tmp_path, how):
    (tmp_path / ".git").mkdir()
    (tmp_path / "notebooks").mkdir()
    notebook = tmp_path / "notebooks" / "train.ipynb"
    notebook.write_text("{}")
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "ipykernel_launcher", "-f", "k.json"])
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    if how == "vscode":
        monkeypatch.setattr(sys.modules["__main__"], "__vsc_ipynb_file__", str(notebook),
                            raising=False)
    else:
        monkeypatch.setenv("JPY_SESSION_NAME", str(notebook) if how == "absolute"
                           else "notebooks/train.ipynb")
    run = _run.run_section()
    assert (run["kind"], run["notebook"], run["cwd"]) == ("notebook", "notebooks/train.ipynb",
                                                          "notebooks")
    assert run["args"] == [] and run["repository"] == tmp_path.as_posix()


def test_a_kernel_without_a_known_notebook_is_interactive(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "ipykernel_launcher", "-f", "k"])
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert _run.run_section()["kind"] == "interactive"


# --------------------------------------------------------------------------- seeds


def test_seeds_of_the_script_run(trained):
    seeds = trained.store.info(trained.script_ref)["provenance"]["seeds"]
    assert seeds["seed"] == 7 and seeds["python"] is True and seeds["numpy"] is True
    assert seeds["keras"] is False  # the script never imported Keras, so it was not seeded
    assert seeds["set_at"].endswith("Z")


def test_keras_is_seeded_when_first_imported_after_set_seed():
    pytest.importorskip("keras")
    code = textwrap.dedent("""
        import sys
        import awiml
        from awiml.store._seeding import seeds_section
        awiml.set_seed(11)
        assert "keras" not in sys.modules  # set_seed did not import it
        assert seeds_section()["keras"] is False
        import keras
        import torch
        assert torch.initial_seed() == 11, torch.initial_seed()
        assert seeds_section()["keras"] is True
        assert keras.utils.set_random_seed  # the module works as usual
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "torch"}, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_set_seed_seeds_and_is_recorded(tmp_path, monkeypatch):
    import random

    monkeypatch.setenv("PYTHONHASHSEED", "0")
    store = ModelStore(tmp_path / "store")
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    before = store.info(store.save(model, "toy"))["provenance"]["seeds"]
    assert before == {"seed": None, "PYTHONHASHSEED": "0"}
    assert awiml.set_seed(42) == 42
    drawn = (random.random(), np.random.random())  # noqa: NPY002 - the global generator
    awiml.set_seed(42)
    assert (random.random(), np.random.random()) == drawn  # noqa: NPY002
    seeds = store.info(store.save(model, "toy"))["provenance"]["seeds"]
    assert seeds["seed"] == 42 and seeds["PYTHONHASHSEED"] == "0"
    rows = {r.field: (r.a, r.b) for r in store.diff("toy@1", "toy@2").itertuples()}
    assert rows["seeds.seed"] == (None, 42)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True, None])
def test_an_invalid_seed_is_refused_naming_it(bad):
    with pytest.raises(InvalidDataError, match=re.escape(f"{bad!r} is not a valid seed")):
        awiml.set_seed(bad)
    assert _seeding.seeds_section()["seed"] is None


# --------------------------------------------------------------------------- distributions


def test_every_installed_distribution_is_recorded(trained):
    env = trained.store.info(trained.script_ref)["provenance"]["environment"]
    distributions = env["distributions"]
    assert distributions["numpy"] == np.__version__
    assert distributions["scikit-learn"] == env["packages"]["scikit-learn"]
    assert list(distributions) == sorted(distributions)
    assert all(name == name.lower() and "_" not in name and "." not in name
               for name in distributions)


def test_listing_distributions_is_cheap():
    from awiml.store import provenance

    provenance._distributions.cache_clear()
    started = time.perf_counter()
    listed = installed_distributions()
    cold = time.perf_counter() - started
    started = time.perf_counter()
    assert installed_distributions() == listed
    warm = time.perf_counter() - started
    # measured at ~2 ms cold and ~0.1 ms warm for 156 distributions; generous for busy machines
    assert cold < 1.0 and warm < 0.1, (cold, warm)


# --------------------------------------------------------------------------- evaluation sample


def test_the_evaluation_sample_is_the_first_rows_of_the_test_inputs(trained):
    info = trained.store.info(trained.script_ref)
    section = info["provenance"]["evaluation_sample"]
    assert section["kind"] == "array" and section["file"] == "evaluation/sample.npz"
    assert section["rows"] == SAMPLE_ROWS  # 300 rows were evaluated
    assert info["files"]["evaluation/sample.npz"]["sha256"] == section["sha256"]
    assert info["files"]["evaluation/sample.npz"]["role"] == "sample"
    rows = [line.split(",") for path in sorted((trained.ws.raw / "folder").iterdir())
            for line in path.read_text().splitlines()]
    expected = np.array([[float(a), float(b)] for a, b, _ in rows])[:SAMPLE_ROWS]
    np.testing.assert_array_equal(trained.store.sample(trained.script_ref), expected)
    assert trained.store.verify(trained.script_ref).ok


def test_a_table_sample_round_trips_exactly(tmp_path):
    frame = pd.DataFrame({
        "count": np.arange(3, dtype="int64"),
        "small": np.array([1, 2, 3], dtype="uint8"),
        "temp": [1.5, np.nan, np.inf],
        "f32": np.array([0.1, 0.2, -np.inf], dtype="float32"),
        "ok": [True, False, True],
        "taxon": ["diatom", None, "copepod"],
        "when": pd.to_datetime(["2024-03-19 09:00:00", None, "2024-03-20 00:00:00.000000001"],
                               format="ISO8601"),
        "utc": pd.to_datetime(["2024-03-19T09:00Z"] * 3).tz_convert("Europe/Berlin"),
        "n": pd.array([1, None, 3], dtype="Int64"),
        7: [0.0, 1.0, 2.0],
    }, index=pd.Index(["a", "b", "c"], name="station"))
    store = ModelStore(tmp_path / "store")
    ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "toy", sample=frame)
    assert store.info(ref)["provenance"]["evaluation_sample"]["kind"] == "table"
    pd.testing.assert_frame_equal(store.sample(ref), frame)
    long = pd.DataFrame({"x": np.arange(500.0)})
    ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "toy", sample=long)
    pd.testing.assert_frame_equal(store.sample(ref), long.iloc[:SAMPLE_ROWS])


def test_a_sample_that_needs_pickle_is_refused_or_skipped(tmp_path):
    from awiml.classify import evaluate

    store = ModelStore(tmp_path / "store")
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    odd = pd.DataFrame({"x": [0.0, 1.0], "meta": [{"a": 1}, {"b": 2}]})
    with pytest.raises(TypeError, match="column 'meta' holds dict values"):
        store.save(model, "toy", sample=odd)
    with pytest.raises(TypeError, match="array of Python objects"):
        store.save(model, "toy", sample=np.array([{"a": 1}], dtype=object))
    assert "toy" not in store.list()["name"].tolist()

    report = evaluate(model, [[0.0], [1.0]], [0, 1])
    report._inputs = np.array([object(), object()], dtype=object)
    with pytest.warns(RuntimeWarning, match="evaluation sample is not stored"):
        ref = store.save(model, "toy", metrics=report)
    assert store.sample(ref) is None
    assert store.info(ref)["provenance"]["evaluation_sample"] is None
    ref = store.save(model, "toy", metrics=evaluate(model, [[0.0], [1.0]], [0, 1]),
                     sample=False)
    assert store.sample(ref) is None


def test_a_list_of_files_is_recorded_by_path_and_digest(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png"):
        (images / name).write_bytes(name.encode())
        ws.fetch((images / name).as_uri(), subdir="imgs", progress=False)
    outside = tmp_path / "c.png"
    outside.write_bytes(b"c")
    inputs = [str(ws.raw / "imgs" / "a.png"), ws.raw / "imgs" / "b.png", str(outside)]
    store = ModelStore(ws)
    ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "imgs", sample=inputs)
    info = store.info(ref)
    assert info["provenance"]["evaluation_sample"]["kind"] == "files"
    stored = json.loads((Path(info["path"]) / "evaluation" / "sample_inputs.json").read_text())
    assert [e["path"] for e in stored["files"]] == ["imgs/a.png", "imgs/b.png",
                                                    outside.as_posix()]
    assert stored["files"][0]["sha256"] == ws.entries()["imgs/a.png"].sha256
    assert store.sample(ref) == [str(p) for p in inputs]


def test_a_tampered_sample_is_not_returned(tmp_path):
    store = ModelStore(tmp_path / "store")
    ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "toy",
                     sample=np.zeros((3, 2)))
    path = Path(store.info(ref)["path"]) / "evaluation" / "sample.npz"
    path.chmod(0o644)
    content = bytearray(path.read_bytes())
    content[-30] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(ChecksumMismatchError, match=r"sample\.npz"):
        store.sample(ref)
    assert not store.verify(ref).ok


# --------------------------------------------------------------------------- datasets


def test_the_training_files_are_grouped_into_one_dataset(trained):
    info = trained.store.info(trained.script_ref)
    data = info["data"]
    assert len(data) == 12 and all(d["path"].startswith("folder/") for d in data)
    (dataset,) = info["datasets"]
    assert dataset["name"] == "folder" and dataset["kind"] == "folder"
    assert dataset["files"] == 12 and dataset["size"] == sum(d["size"] for d in data)
    lines = sorted(f"{e.path}\t{e.sha256}\n" for p, e in trained.ws.entries().items()
                   if p.startswith("folder/"))
    expected = "sha256:" + __import__("hashlib").sha256("".join(lines).encode()).hexdigest()
    assert dataset["digest"] == expected == dataset_digest(data)
    assert dataset["source"].startswith("file://") and dataset["source"].endswith("/exports/")


def test_the_card_shows_datasets_instead_of_many_files(trained):
    info = trained.store.info(trained.script_ref)
    card = (Path(info["path"]) / "MODEL_CARD.md").read_text()
    digest = info["datasets"][0]["digest"].partition(":")[2][:12]
    assert "| folder | folder | 12 | " in card and digest in card
    assert "The 12 files are listed in `version.json`." in card
    assert "station00.csv" not in card
    assert "| Command | `python train.py --epochs 3 --token ***` |" in card
    assert "| Seed | 7 |" in card


def test_sources_of_every_archive_are_grouped():
    def ref(path, source, **extra):
        return {"path": path, "source": source, "size": 1, "sha256": f"sha256:{path}", **extra}

    refs = [
        ref("889513/data.tab", "pangaea://889513/data.tab"),
        ref("889513/meta.xml", "pangaea://889513/meta.xml"),
        ref("pangaea/x.tab", "https://example.org/x.tab", doi="10.1594/PANGAEA.111"),
        ref("eco/export/a.tsv", "ecotaxa://1234/export/a.tsv"),
        ref("eco/export/b.jpg", "ecotaxa://1234/export/b.jpg"),
        ref("o2a/air.tsv", "o2a://vessel:heincke:dwd:air_pressure?start=2024-03-19T00:00:00"),
        ref("cruise/a.nc", "hsm:///hs/projects/ps103/a.nc"),
        ref("cruise/b.nc", "hsm:///hs/projects/ps103/sub/b.nc"),
        ref("ps103/ctd.tab", "https://example.org/ps103/ctd.tab"),
        ref("top.tab", "https://example.org/top.tab"),
        {"name": "local.csv", "source": None, "size": 4, "sha256": "sha256:aa"},
        {"source": "https://example.org/a.csv"},
    ]
    found = {(d["kind"], d["name"]): d for d in group_datasets(refs)}
    assert set(found) == {
        ("pangaea", "10.1594/PANGAEA.889513"), ("pangaea", "10.1594/PANGAEA.111"),
        ("ecotaxa", "ecotaxa://1234"), ("o2a", refs[5]["source"]),
        ("hsm", "/hs/projects/ps103/"), ("folder", "ps103"), ("file", "top.tab"),
        ("file", "local.csv"), ("url", "https://example.org/a.csv"),
    }
    assert found["pangaea", "10.1594/PANGAEA.889513"]["files"] == 2
    assert found["ecotaxa", "ecotaxa://1234"]["digest"] == dataset_digest(refs[3:5])
    assert found["hsm", "/hs/projects/ps103/"]["source"] == "hsm:///hs/projects/ps103/"
    assert found["file", "local.csv"]["size"] == 4
    assert dataset_digest(refs[:2]) == dataset_digest(refs[1::-1])


def test_diff_shows_a_changed_dataset_and_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = Workspace.create(tmp_path / "ws")
    for name in ("a.tab", "b.tab"):
        (tmp_path / name).write_text(name)
        ws.fetch((tmp_path / name).as_uri(), subdir="set", progress=False)
    store = ModelStore(ws)
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    first = store.save(model, "m", data=ws.raw / "set")
    monkeypatch.setattr(sys, "orig_argv", ["python", "-c", "pass", "--more"])
    second = store.save(model, "m", data=ws.raw / "set" / "a.tab")
    rows = {r.field: (r.a, r.b) for r in store.diff(first, second).itertuples()}
    digests = [store.info(r)["datasets"][0]["digest"] for r in (first, second)]
    assert rows["dataset:folder:set"] == tuple(digests) and digests[0] != digests[1]
    assert rows["run.args"] == ("[]", '["--more"]')
    assert not any(k.startswith("environment.distributions") for k in rows)


# --------------------------------------------------------------------------- older versions


def test_versions_of_earlier_releases_still_load_list_diff_and_render(tmp_path):
    target = tmp_path / "store"
    shutil.copytree(OLD_STORE, target)
    store = ModelStore(target)
    old = store.info("plankton@1")
    for key in ("run", "seeds", "evaluation_sample"):
        assert key not in old["provenance"]
    assert "datasets" not in old and "distributions" not in old["provenance"]["environment"]
    assert store.sample("plankton@1") is None
    card = model_card(old)
    assert "## Run\n\nNot recorded.\n" in card and "## Training data" in card
    many = dict(old, data=[{"path": f"d/{i}.tab", "sha256": f"sha256:{i}", "size": 1}
                           for i in range(11)])
    assert "| d | folder | 11 | 11 B |" in model_card(many)  # datasets made from data
    new = store.save(store.load("plankton@1"), "plankton")
    rows = {r.field: (r.a, r.b) for r in store.diff("plankton@1", new).itertuples()}
    assert rows["run.kind"] == (None, "interactive")
    assert not any(k.startswith("environment.distributions") for k in rows)
    assert {"plankton", "calls"} <= set(store.list()["name"])
    assert store.versions("plankton")["version"].tolist() == [1, 2]
    assert store.verify().ok


def test_set_seed_is_a_public_name_without_a_heavy_import():
    code = ("import sys, awiml; assert callable(awiml.set_seed); "
            "assert 'numpy' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE_PARENT,
                   env={**os.environ, "PYTHONPATH": str(PACKAGE_PARENT)})


def test_the_stored_array_loads_without_pickle_in_a_fresh_process(trained):
    folder = Path(trained.store.info(trained.script_ref)["path"])
    code = textwrap.dedent(f"""
        import numpy as np
        with np.load({str(folder / 'evaluation' / 'sample.npz')!r}, allow_pickle=False) as f:
            assert f["X"].shape == ({SAMPLE_ROWS}, 2)
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
