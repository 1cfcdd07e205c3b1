"""`ModelStore.reproduce` and `awiml models reproduce`: a stored model trained again.

A plain training script in a temporary git repository reads CSV files from a
workspace's raw/ (fetched there from file:// URLs, so missing ones can be fetched
again), trains a scikit-learn pipeline of awiml pieces and saves it. Each test
reproduces that version, or breaks one part (an input, the tree, the commit, the
script) and checks that the report says so and the command fails.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from awiml import ModelStore, Workspace
from awiml.cli import main

TRAIN = textwrap.dedent('''\
    """Train the zone classifier on the CSV files of a workspace's raw/stations/."""
    import sys

    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    import awiml
    from awiml.classify import evaluate
    from awiml.preprocess import DropMissing

    workspace, trees = sys.argv[1], int(sys.argv[2])
    awiml.set_seed(3)
    ws = awiml.Workspace(workspace)
    table = pd.concat([pd.read_csv(path) for path in sorted((ws.raw / "stations").glob("*.csv"))])
    X, y = table[["temperature", "salinity"]], table["zone"]
    model = Pipeline([("gaps", DropMissing(strategy="median")),
                      ("forest", RandomForestClassifier(n_estimators=trees,
                                                        random_state=np.random.randint(1000)))])
    model.fit(X, y)
    print(awiml.ModelStore(ws).save(model, "zones", data=ws.raw / "stations",
                                    metrics=evaluate(model, X, y)))
''')


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, env={**os.environ, "GIT_AUTHOR_NAME": "t",
                                           "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                                           "GIT_COMMITTER_EMAIL": "t@x"})
    return done.stdout.strip()


def train(repo: Path, ws: Workspace, *extra: str) -> str:
    done = subprocess.run([sys.executable, "train.py", str(ws.root), "7", *extra], cwd=repo,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "KERAS_BACKEND": "torch"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def make_project(root: Path) -> tuple[Path, Workspace, Path, str]:
    """A committed repository with train.py, a workspace of 4 station files, one model."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text(TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "train")
    exports = root / "exports"
    exports.mkdir()
    ws = Workspace.create(root / "ws")
    rng = np.random.default_rng(0)
    for index in range(4):
        temperature = rng.normal(3, 3, 40)
        salinity = rng.normal(34.5, 0.4, 40)
        temperature[index] = np.nan
        zone = np.where(temperature > 3, "Atlantic", "Arctic")
        rows = [f"{t},{s:.3f},{z}" for t, s, z in zip(temperature, salinity, zone, strict=True)]
        path = exports / f"station{index}.csv"
        path.write_text("temperature,salinity,zone\n" + "\n".join(rows) + "\n")
        ws.fetch(path.as_uri(), subdir="stations", progress=False)
    return repo, ws, exports, train(repo, ws)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One project for the tests that change nothing of it."""
    return make_project(tmp_path_factory.mktemp("shared"))


@pytest.fixture
def copied(shared, tmp_path):
    """A copy of the shared workspace (its records still name the shared repository)."""
    repo, ws, exports, ref = shared
    copy = Workspace(shutil.copytree(ws.root, tmp_path / "ws"))
    return repo, copy, exports, ref


@pytest.fixture
def project(tmp_path):
    """A project of its own, for the tests that change its repository or its sources."""
    return make_project(tmp_path)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_a_script_in_git_reproduces_exactly_and_touches_nothing(shared):
    repo, ws, _, ref = shared
    raw, model = snapshot(ws.raw), snapshot(ws.model)
    report = ModelStore(ws).reproduce(ref)
    assert report.reproduced, report.to_text()
    assert report.compared and report.differences == []
    assert report.predictions is not None and report.predictions.ok
    assert report.predictions.rows == 160  # the evaluation sample of 160 rows
    assert [o.how for o in report.data] == ["workspace"] * 4
    assert report.run["ok"] and report.run["command"][-2:] != [str(ws.root), "7"]
    assert report.recorded_metrics["accuracy"] == report.new_metrics["accuracy"]
    assert "Verdict: REPRODUCED" in report.to_text()
    assert snapshot(ws.raw) == raw and snapshot(ws.model) == model
    assert git(repo, "worktree", "list").count("\n") == 0  # the checkout was removed
    assert not list((ws.root / ".awiml" / "reproduce").iterdir())
    assert report.scratch is None  # removed


def test_the_cli_exits_0_keeps_the_scratch_folder_where_told_and_prints_json(copied,
                                                                            tmp_path):
    _, ws, _, ref = copied
    elsewhere = tmp_path / "elsewhere"
    result = CliRunner().invoke(main, ["models", "reproduce", "-w", str(ws.root), "--keep",
                                       "--scratch", str(elsewhere), "--json", ref])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["reproduced"] is True and printed["ref"] == ref
    kept = Path(printed["scratch"])
    assert kept.parent == elsewhere
    # the kept workspace holds the checked inputs and the new model
    scratch = Workspace(kept / "ws")
    assert sorted(scratch.entries()) == sorted(ws.entries())
    assert ModelStore(scratch).info("zones")["ref"] == "zones@1"
    default = ws.root / ".awiml" / "reproduce"  # (the copied workspace may hold it, empty)
    assert not default.exists() or not any(default.iterdir())


def test_an_input_missing_from_raw_is_fetched_again_and_checked(copied):
    _, ws, _, ref = copied
    lost = ws.raw / "stations" / "station2.csv"
    lost.parent.chmod(lost.parent.stat().st_mode | stat.S_IWUSR)
    lost.unlink()
    report = ModelStore(ws).reproduce(ref)
    assert report.reproduced, report.to_text()
    assert sorted(o.how for o in report.data) == ["fetched", "workspace", "workspace",
                                                  "workspace"]
    assert not lost.exists()  # raw/ is left as it was


def test_a_changed_input_is_refused_naming_it_and_both_checksums(project):
    _, ws, exports, ref = project
    changed = ws.raw / "stations" / "station1.csv"
    changed.parent.chmod(changed.parent.stat().st_mode | stat.S_IWUSR)
    changed.unlink()
    (exports / "station1.csv").write_text("temperature,salinity,zone\n1,34,Arctic\n")
    report = ModelStore(ws).reproduce(ref)
    assert not report.reproduced and not report.compared and report.run is None
    bad = [o for o in report.data if not o.ok]
    assert [o.path for o in bad] == ["stations/station1.csv"]
    assert bad[0].recorded_sha256 in bad[0].message and bad[0].found_sha256 in bad[0].message
    assert "station1.csv" in report.to_text()
    result = CliRunner().invoke(main, ["models", "reproduce", "-w", str(ws.root), ref])
    assert result.exit_code == 1 and "NOT REPRODUCED" in result.output


def test_a_model_trained_from_a_dirty_tree_is_not_reproducible(project):
    repo, ws, _, _ = project
    (repo / "train.py").write_text(TRAIN.replace("awiml.set_seed(3)", "awiml.set_seed(4)"))
    ref = train(repo, ws)
    report = ModelStore(ws).reproduce(ref)
    assert not report.reproduced and report.run is None
    assert "dirty" in report.code["reason"] or "differ" in report.code["reason"]
    assert "train.py" in report.to_text()


def test_a_commit_that_is_gone_is_not_reproducible(project, tmp_path):
    repo, ws, _, ref = project
    shutil.move(repo, tmp_path / "elsewhere")
    report = ModelStore(ws).reproduce(ref)
    assert not report.reproduced and not report.code["ok"]
    assert report.code["commit"][:7] in report.to_text()


def test_a_changed_training_is_reported_attribute_by_attribute(shared):
    _, ws, _, ref = shared
    # the same code and data, but 5 trees instead of the recorded 7
    report = ModelStore(ws).reproduce(ref, args=[str(ws.root), "5"])
    assert not report.reproduced and report.compared
    assert any("n_estimators" in d.path for d in report.differences), report.differences
    assert "Verdict: NOT REPRODUCED" in report.to_text()


def test_a_hidden_argument_must_be_given(copied):
    repo, ws, _, _ = copied
    ref = train(repo, ws, "--token=s3cret")
    report = ModelStore(ws).reproduce(ref)
    assert not report.reproduced and "--token=***" in report.run["reason"]
    given = ModelStore(ws).reproduce(ref, args=[str(ws.root), "7", "--token=s3cret"])
    assert given.reproduced, given.to_text()
    for shown in (report, given):  # the report never shows the secret, even when given
        assert "s3cret" not in json.dumps(shown.to_dict()) and "s3cret" not in shown.to_text()
    assert "--token=***" in " ".join(given.run["command"])


def test_an_interactive_save_has_no_entry_point(copied, tmp_path, monkeypatch):
    _, ws, _, _ = copied
    from sklearn.linear_model import LogisticRegression

    monkeypatch.chdir(tmp_path)
    store = ModelStore(ws)
    ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "toy")
    report = store.reproduce(ref)
    # saved under pytest in a folder outside git: no code to check out, nothing run
    assert not report.reproduced and not report.code["ok"] and report.run is None
    assert "Verdict: NOT REPRODUCED" in report.to_text()


def test_a_session_without_an_entry_point_is_named():
    from awiml.store.reproduce.run import run_training

    outcome = run_training({"kind": "interactive"}, Path("."), Path("."))
    assert not outcome.ok and "interactive session" in outcome.reason
    assert "earlier awiml release" in run_training(None, Path("."), Path(".")).reason


KERAS_TRAIN = textwrap.dedent('''\
    """Train a small Keras classifier on the station tables."""
    import sys

    import pandas as pd
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    import awiml
    from awiml.classify import KerasClassifier, evaluate

    awiml.set_seed(5)
    ws = awiml.Workspace(sys.argv[1])
    table = pd.concat([pd.read_csv(path) for path in sorted((ws.raw / "stations").glob("*.csv"))])
    table = table.dropna()
    X, y = table[["temperature", "salinity"]].to_numpy(), table["zone"].to_numpy()
    model = Pipeline([("scale", StandardScaler()),
                      ("net", KerasClassifier(model_params={"hidden_units": (8,)}, epochs=3,
                                              batch_size=16, random_state=0))]).fit(X, y)
    print(awiml.ModelStore(ws).save(model, "zones-net", data=ws.raw / "stations",
                                    metrics=evaluate(model, X, y)))
''')


@pytest.mark.slow  # Keras and PyTorch load in the training run and in its re-run
def test_a_keras_classifier_reproduces_within_tolerance(copied):
    repo, ws, _, _ = copied
    clone = ws.root.parent / "keras-repo"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    (clone / "train.py").write_text(KERAS_TRAIN)
    git(clone, "commit", "-qam", "a network")
    ref = train(clone, ws)
    report = ModelStore(ws).reproduce(ref)
    assert report.reproduced, report.to_text()
    assert report.predictions is not None and report.predictions.rows == 156
    stored = ModelStore(ws).info(ref)["provenance"]
    assert stored["environment"]["keras_backend"] == "torch" and stored["seeds"]["keras"]


def test_a_package_version_that_differs_is_reported_but_does_not_decide(copied, tmp_path):
    repo, ws, _, _ = copied
    # a distribution installed while training (a .dist-info folder on the path), gone now
    site = tmp_path / "site"
    (site / "awiml_probe-1.2.3.dist-info").mkdir(parents=True)
    (site / "awiml_probe-1.2.3.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: awiml-probe\nVersion: 1.2.3\n")
    done = subprocess.run([sys.executable, "train.py", str(ws.root), "7"], cwd=repo,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    ref = done.stdout.strip().splitlines()[-1]
    assert ModelStore(ws).info(ref)["provenance"]["environment"]["distributions"][
        "awiml-probe"] == "1.2.3"
    report = ModelStore(ws).reproduce(ref)
    assert report.reproduced, report.to_text()
    assert ("awiml-probe", "1.2.3", None) in report.environment
    text = report.to_text()
    assert "Environment: 1 distribution differs" in text and "awiml-probe" in text
    assert "not installed" in text


@pytest.mark.slow  # two Jupyter kernels: the training and its re-run
def test_a_notebook_reproduces(copied):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    repo, ws, _, _ = copied
    clone = ws.root.parent / "notebook-repo"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    body = TRAIN.replace("workspace, trees = sys.argv[1], int(sys.argv[2])",
                         f"workspace, trees = {str(ws.root)!r}, 7")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(body)])
    nbformat.write(notebook, clone / "train.ipynb")
    git(clone, "add", "train.ipynb")
    git(clone, "commit", "-qm", "the training as a notebook")
    # Jupyter's server tells the kernel which notebook it runs (JPY_SESSION_NAME)
    runner = ("import sys, nbformat, nbclient\n"
              "nb = nbformat.read(sys.argv[1], as_version=4)\n"
              "nbclient.NotebookClient(nb, kernel_name='python3', timeout=300,\n"
              "    resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
              "print(nb.cells[0].outputs[-1]['text'])\n")
    done = subprocess.run([sys.executable, "-c", runner, str(clone / "train.ipynb"), str(clone)],
                          capture_output=True, text=True, check=False, timeout=300,
                          env={**os.environ, "JPY_SESSION_NAME": str(clone / "train.ipynb")})
    assert done.returncode == 0, done.stderr[-3000:]
    ref = done.stdout.strip().splitlines()[-1]
    run = ModelStore(ws).info(ref)["provenance"]["run"]
    assert run["kind"] == "notebook" and run["notebook"] == "train.ipynb"
    report = ModelStore(ws).reproduce(ref)
    assert report.reproduced, report.to_text()


def test_a_script_in_the_workspace_src_finds_its_workspace_from_its_place(copied):
    _, ws, _, _ = copied
    body = TRAIN.replace("workspace, trees = sys.argv[1], int(sys.argv[2])",
                         "import pathlib\n"
                         "workspace, trees = pathlib.Path(__file__).resolve().parents[1], 7")
    (ws.src / "train.py").write_text(body)
    git(ws.src, "init", "-q")
    git(ws.src, "add", "train.py")
    git(ws.src, "commit", "-qm", "train in src/")
    done = subprocess.run([sys.executable, "train.py"], cwd=ws.src, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    ref = done.stdout.strip().splitlines()[-1]
    report = ModelStore(ws).reproduce(ref)
    assert report.reproduced, report.to_text()
    # the checkout took src/'s place in the scratch workspace
    assert Path(report.code["where"]).name == "src"
    assert Path(report.code["where"]).parent.name == "ws"


def test_a_module_run_reproduces(copied):
    repo, ws, _, _ = copied
    clone = ws.root.parent / "module-repo"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    (clone / "zones").mkdir()
    (clone / "zones" / "__init__.py").write_text("")
    (clone / "zones" / "train.py").write_text(TRAIN)
    git(clone, "add", "zones")
    git(clone, "commit", "-qm", "the training as a module")
    done = subprocess.run([sys.executable, "-m", "zones.train", str(ws.root), "7"], cwd=clone,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    ref = done.stdout.strip().splitlines()[-1]
    assert ModelStore(ws).info(ref)["provenance"]["run"]["module"] == "zones.train"
    report = ModelStore(ws).reproduce(ref)
    assert report.reproduced, report.to_text()
    assert report.run["command"][1:3] == ["-m", "zones.train"]
