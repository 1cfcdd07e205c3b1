"""awiml.predict and `awiml predict`: a stored model over many files, locally and on Dask.

Two real models are stored once per module: an image pipeline (ImageFeatures and a
small random forest) trained on 20 bundled plankton vignettes, and a table pipeline
on the bundled PANGAEA PS103 thermosalinograph table. Each run is checked against
the model loaded in this process and against the files on disk; a LocalCluster of
two worker processes must give exactly the local results.
"""

from __future__ import annotations

import json
import shutil
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import awiml
from awiml._files import file_digest
from awiml.archives.pangaea import read_text
from awiml.cli import main
from awiml.datasets import plankton_images
from awiml.demo import water_mass_zones
from awiml.errors import InvalidDataError, NotFoundError, WorkspaceError
from awiml.store import _predict

DATA = Path(str(files("awiml") / "data"))
TAB = DATA / "PANGAEA_889513_PS103_surf_oce_tsg.tab"


def image_pipeline():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from awiml.features import ImageFeatures

    return Pipeline([("features", ImageFeatures()),
                     ("classify", RandomForestClassifier(n_estimators=20, random_state=0))])


def table_pipeline():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from awiml.preprocess import DropMissing, HarmoniseColumns

    return Pipeline([
        ("harmonise", HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"]},
                                       targets=["temperature", "salinity"], unknown="drop")),
        ("fill", DropMissing(strategy="median")),
        ("classify", RandomForestClassifier(n_estimators=10, random_state=0)),
    ])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A workspace with plankton@production (images) and zones@production (tables) stored,
    12 new vignettes in interim/new/ and three tables (.tab, .csv, .tsv) in interim/tables/."""
    ws = awiml.Workspace.create(tmp_path_factory.mktemp("predict") / "ws")
    train, test = plankton_images(DATA / "ecotaxa_ml_template")
    picked = train.groupby("label").head(5)
    store = awiml.ModelStore(ws)
    store.save(image_pipeline().fit(list(picked["path"]), picked["label"]), "plankton",
               alias="production")
    new = ws.interim / "new"
    new.mkdir()
    for path in test.groupby("label").head(3)["path"]:
        shutil.copy(path, new / Path(path).name)
    table = read_text(TAB)
    store.save(table_pipeline().fit(table.iloc[::3], water_mass_zones(table["Latitude"])[::3]),
               "zones", alias="production")
    tables = ws.interim / "tables"
    tables.mkdir()
    shutil.copy(TAB, tables / "ps103.tab")
    table.iloc[:40].to_csv(tables / "first.csv", index=False)
    table.iloc[-25:].to_csv(tables / "last.tsv", sep="\t", index=False)
    return ws


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as connected:
        yield connected


def run_files(table: pd.DataFrame) -> tuple[Path, dict]:
    folder = Path(table.attrs["path"])
    return folder, json.loads((folder / "run.json").read_text("utf-8"))


def test_image_model_predicts_each_image_as_the_loaded_model_does(project):
    images = sorted(str(p) for p in (project.interim / "new").iterdir())
    table = awiml.predict("plankton@production", project.interim / "new", project,
                          progress=False, client=False, n_jobs=1)
    model = awiml.ModelStore(project).load("plankton@1")
    assert table["input"].tolist() == [f"interim/new/{Path(p).name}" for p in images]
    assert table["prediction"].tolist() == list(model.predict(images))
    assert "row" not in table.columns
    proba = table[[f"proba_{c}" for c in model.classes_]].to_numpy()
    np.testing.assert_array_equal(proba, model.predict_proba(images))
    folder, record = run_files(table)
    assert folder.parent == project.root / "predictions" / "plankton@1"
    assert record["model"]["ref"] == "plankton@1"
    assert record["model"]["given"] == "plankton@production"
    info = awiml.ModelStore(project).info("plankton@1")
    assert record["model"]["files"] == {p: e["sha256"] for p, e in info["files"].items()}
    assert record["awiml_version"] == awiml.__version__ and record["takes"] == "images"
    assert [(i["path"], i["sha256"]) for i in record["inputs"]] == [
        (f"interim/new/{Path(p).name}", file_digest(p)) for p in images]
    assert table["sha256"].tolist() == [file_digest(p) for p in images]
    on_disk = pd.read_csv(folder / "predictions.csv")
    pd.testing.assert_frame_equal(on_disk, table, check_dtype=False)
    assert record["predictions"]["sha256"] == file_digest(folder / "predictions.csv")
    counts = table["prediction"].value_counts()
    assert record["predictions"]["counts"] == {k: int(counts[k]) for k in sorted(counts.index)}


def test_table_model_predicts_every_row_of_each_table(project):
    tables = project.interim / "tables"
    inputs = [tables / "ps103.tab", tables / "first.csv", tables / "last.tsv"]
    result = awiml.predict("zones", inputs, project, progress=False, client=False,
                           chunk_size=2, n_jobs=1)
    model = awiml.ModelStore(project).load("zones@production")
    read = [read_text(inputs[0]), pd.read_csv(inputs[1]), pd.read_csv(inputs[2], sep="\t")]
    assert len(result) == sum(map(len, read))
    for path, table in zip(inputs, read, strict=True):
        mine = result[result["input"] == f"interim/tables/{path.name}"]
        assert mine["row"].tolist() == list(range(len(table)))
        assert (mine["sha256"] == file_digest(path)).all()
        assert mine["prediction"].tolist() == list(model.predict(table))
        np.testing.assert_array_equal(mine[[f"proba_{c}" for c in model.classes_]],
                                      model.predict_proba(table))
    _, record = run_files(result)
    assert record["compute"] == {"scheduler": "local", "workers": 1, "tasks": 2,
                                 "chunk_size": 2}
    assert [i["predictions"] for i in record["inputs"]] == [len(t) for t in read]


# Worker processes start and import scikit-learn and skops (which imports torch) before
# their first model: 10 to 40 s on two shared cores, hence `slow` (CI runs them).
@pytest.mark.slow
def test_a_cluster_gives_exactly_the_local_results(project, client):
    local_images = awiml.predict("plankton@production", [project.interim / "new"], project,
                                 progress=False, client=False, n_jobs=1)
    on_cluster = awiml.predict("plankton@production", [project.interim / "new"], project,
                               progress=False, chunk_size=None)  # the active client
    pd.testing.assert_frame_equal(on_cluster, local_images)
    assert (Path(on_cluster.attrs["path"]) / "predictions.csv").read_bytes() == \
        (Path(local_images.attrs["path"]) / "predictions.csv").read_bytes()
    assert on_cluster.attrs["compute"]["scheduler"] == "distributed"
    assert on_cluster.attrs["compute"]["workers"] == 2
    tables = project.interim / "tables"
    local_rows = awiml.predict("zones@production", tables, project, progress=False,
                               client=False, chunk_size=1)
    cluster_rows = awiml.predict("zones@production", tables, project, progress=False,
                                 client=client, chunk_size=1)
    pd.testing.assert_frame_equal(cluster_rows, local_rows)
    assert cluster_rows["input"].tolist()[0] == "interim/tables/first.csv"  # sorted in a folder
    # each worker loaded each model once (it kept it for all its tasks), from the shared store
    loads = client.run(lambda: list(_predict._LOADS))
    assert len(loads) == 2
    assert all(w.count("zones@1") <= 1 and w.count("plankton@1") <= 1 for w in loads.values())
    assert any("zones@1" in w for w in loads.values())
    assert any("plankton@1" in w for w in loads.values())


@pytest.mark.slow  # joblib's worker processes: as the cluster's, above
def test_local_worker_processes_give_exactly_the_in_process_results(project):
    tables = project.interim / "tables"
    one = awiml.predict("zones", tables, project, progress=False, client=False, n_jobs=1,
                        chunk_size=1)
    two = awiml.predict("zones", tables, project, progress=False, client=False, n_jobs=2,
                        chunk_size=1)
    pd.testing.assert_frame_equal(two, one)
    assert two.attrs["compute"] == {"scheduler": "local", "workers": 2, "tasks": 3,
                                    "chunk_size": 1}


@pytest.mark.slow
def test_a_file_the_model_cannot_read_fails_the_run_on_a_cluster_too(project, client):
    broken = project.interim / "broken"
    broken.mkdir()
    for path in sorted((project.interim / "new").iterdir())[:3]:
        shutil.copy(path, broken / path.name)
    (broken / "zz-truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    before = sorted((project.root / "predictions").rglob("*"))
    for where in (False, client):
        with pytest.raises(InvalidDataError, match=r"plankton@1 could not .*zz-truncated\.jpg"):
            awiml.predict("plankton@production", broken, project, progress=False,
                          client=where, n_jobs=1)
    assert sorted((project.root / "predictions").rglob("*")) == before  # nothing, no .tmp-


def test_runs_never_overwrite_one_another(project, tmp_path):
    image = sorted((project.interim / "new").iterdir())[0]
    first = awiml.predict("plankton", image, project, progress=False, client=False, n_jobs=1)
    second = awiml.predict("plankton", image, project, progress=False, client=False, n_jobs=1)
    assert first.attrs["path"] != second.attrs["path"]
    assert Path(first.attrs["path"]).parent == Path(second.attrs["path"]).parent
    target = tmp_path / "mine"
    third = awiml.predict("plankton", image, project, output=target, progress=False,
                          client=False)
    assert third.attrs["path"] == str(target) and (target / "run.json").is_file()
    kept = (target / "predictions.csv").read_bytes()
    with pytest.raises(WorkspaceError, match=r"mine exists and holds files.*never overwrites"):
        awiml.predict("plankton", image, project, output=target, progress=False, client=False)
    assert (target / "predictions.csv").read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_errors_name_the_input_and_write_nothing(project, tmp_path, monkeypatch):
    predictions = project.root / "predictions"
    before = sorted(predictions.rglob("*")) if predictions.exists() else []
    with pytest.raises(NotFoundError, match=r"no model named 'plankon'.*plankton, zones"):
        awiml.predict("plankon@production", project.interim / "new", project, progress=False)
    with pytest.raises(NotFoundError, match=r"plankton has no alias 'staging'"):
        awiml.predict("plankton@staging", project.interim / "new", project, progress=False)
    with pytest.raises(NotFoundError, match=r"1 input\(s\) do not exist: .*nowhere\.jpg"):
        awiml.predict("plankton", [project.interim / "new", tmp_path / "nowhere.jpg"], project,
                      progress=False)
    with pytest.raises(InvalidDataError, match=r"ps103\.tab is not a image file.*table file"):
        awiml.predict("plankton", project.interim / "tables" / "ps103.tab", project,
                      progress=False)
    with pytest.raises(InvalidDataError, match=r"folder .*new holds no table files"):
        awiml.predict("zones", project.interim / "new", project, progress=False)
    garbage = tmp_path / "garbage.tab"
    garbage.write_bytes(b"\x00\x01binary\x00" * 50)
    with pytest.raises(InvalidDataError, match=r"zones@1 could not read .*garbage\.tab"):
        awiml.predict("zones", garbage, project, progress=False, client=False)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("depth,oxygen\n1,2\n")
    with pytest.raises(InvalidDataError, match=r"zones@1 could not predict for .*wrong\.csv"):
        awiml.predict("zones", wrong, project, progress=False, client=False)
    with pytest.raises(InvalidDataError, match=r"chunk_size=0"):
        awiml.predict("zones", wrong, project, chunk_size=0)
    with pytest.raises(InvalidDataError, match=r"n_jobs=0"):
        awiml.predict("zones", wrong, project, n_jobs=0)
    assert (sorted(predictions.rglob("*")) if predictions.exists() else []) == before
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceError, match=r"not inside an awiml workspace") as caught:
        awiml.predict("zones", wrong, progress=False)
    assert "awiml predict -w PATH" in " ".join(caught.value.__notes__)


def test_a_reader_of_ones_own_reads_any_file(project, tmp_path):
    odd = tmp_path / "ps103.txt"
    shutil.copy(TAB, odd)
    table = awiml.predict("zones", odd, project, reader=read_text, progress=False,
                          client=False)
    assert len(table) == len(read_text(TAB)) and table.attrs["reader"].endswith("read_text")


def test_a_store_outside_a_workspace_with_an_output_folder(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no workspace here or above
    store = tmp_path / "models"
    shutil.copytree(project.model / "zones", store / "zones")
    csv = project.interim / "tables" / "first.csv"
    table = awiml.predict("zones@production", csv, store=store, output=tmp_path / "run",
                          progress=False, client=False)
    assert table["input"].unique().tolist() == [str(csv)]  # outside a workspace: absolute
    _, record = run_files(table)
    assert record["model"]["store"] == str(store) and record["inputs"][0]["path"] == str(csv)
    with pytest.raises(WorkspaceError, match=r"not inside an awiml workspace"):
        awiml.predict("zones@production", csv, store=store, progress=False)


def test_cli_predict_prints_where_and_counts(project):
    result = CliRunner().invoke(main, ["predict", "plankton@production",
                                       str(project.interim / "new"), "-w", str(project.root),
                                       "--chunk-size", "5", "--no-progress"])
    assert result.exit_code == 0, result.output
    head, *lines = result.output.splitlines()
    folder = Path(head.rpartition(" in ")[2])
    record = json.loads((folder / "run.json").read_text("utf-8"))
    assert head.startswith("12 predictions for 12 files by plankton@1 (plankton@production)")
    assert record["compute"] == {"scheduler": "local", "workers": 1, "tasks": 3,
                                 "chunk_size": 5}  # 12 files: no worker processes
    shown = {line.split()[1]: int(line.split()[0]) for line in lines}
    assert shown == record["predictions"]["counts"] and sum(shown.values()) == 12
    missing = CliRunner().invoke(main, ["predict", "nope@1", str(project.interim / "new"),
                                        "-w", str(project.root), "--no-progress"])
    assert missing.exit_code == 1 and missing.output.startswith("error: no model named 'nope'")
