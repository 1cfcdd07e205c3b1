"""awiml on a real SLURM: the single-node cluster of tools/slurm-cluster.sh.

The fixture ``slurm_cluster`` (tests/conftest.py) submits two SLURM jobs, each
running one Dask worker; without a running SLURM these tests skip (fail in CI).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TOOLS, require_slurm, running_slurm_cluster, wait_for_no_jobs

import awiml
from awiml.datasets import plankton_images
from awiml.features import ImageFeatures, extract
from awiml.scale import local_cluster

# The functions sent to the workers are the standard library's: the workers cannot
# import this test module. A broken worker must not hang the suite for 300 s.
pytestmark = [pytest.mark.slurm, pytest.mark.timeout(150)]

TEMPLATE = Path(__file__).resolve().parent.parent / "awiml/data/ecotaxa_ml_template"
VIGNETTES = TEMPLATE / "images"


def job_ids(cluster) -> set[str]:
    return {str(job.job_id) for job in cluster.workers.values()}


def squeue_states(ids) -> dict[str, str]:
    done = subprocess.run(["squeue", "-h", "-j", ",".join(sorted(ids)), "-o", "%i %T"],
                          capture_output=True, text=True, timeout=30, check=True)
    return dict(line.split() for line in done.stdout.splitlines())


def user_code(cluster) -> tuple[list[int], int]:
    """What a user writes, the same for every cluster: results and the workers used."""
    from dask.distributed import Client, wait

    with Client(cluster) as client:
        workers = sorted(client.scheduler_info()["workers"])
        # Half of the tasks on each worker, so both take part, then the gather.
        futures = [client.submit(pow, x, 3, workers=[workers[x % len(workers)]], pure=False)
                   for x in range(20)]
        wait(futures, timeout=60)
        return client.gather(futures), len(workers)


def test_the_cluster_is_two_running_slurm_jobs(slurm_cluster):
    ids = job_ids(slurm_cluster)
    assert len(ids) == 2
    assert squeue_states(ids) == dict.fromkeys(ids, "RUNNING")


def test_a_computation_runs_on_both_workers(slurm_cluster):
    from dask.distributed import Client

    results, workers = user_code(slurm_cluster)
    assert results == [x**3 for x in range(20)]
    assert workers == 2
    with Client(slurm_cluster) as client:
        pids = client.run(os.getpid)
        jobs = client.run(os.getenv, "SLURM_JOB_ID")
    # Each worker is a process of its own, inside one of the two jobs.
    assert len(set(pids.values())) == 2
    assert set(jobs.values()) == job_ids(slurm_cluster)


def test_the_same_code_runs_on_a_local_cluster(slurm_cluster):
    with local_cluster(n_workers=2) as cluster:
        assert user_code(cluster) == user_code(slurm_cluster)


def test_features_extract_on_slurm_equals_the_local_result(slurm_cluster, tmp_path):
    from dask.distributed import Client

    paths = sorted(VIGNETTES.glob("*.jpg"))[:12]
    assert len(paths) == 12
    local = extract(ImageFeatures(), paths, progress=False)
    with Client(slurm_cluster):
        remote = extract(ImageFeatures(), paths, backend="dask", chunk_size=3,
                         cache=tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(remote, local)
    # The workers read the files by path and wrote each file's features to the cache.
    assert len(list((tmp_path / "cache").glob("ImageFeatures-*/*.npy"))) == 12


def test_the_jobs_are_gone_after_close(slurm_cluster, tmp_path):
    name = f"awiml-close-{os.getpid()}"
    with running_slurm_cluster(name, tmp_path, jobs=1) as cluster:
        ids = job_ids(cluster)
        assert len(ids) == 1
        assert squeue_states(ids) == dict.fromkeys(ids, "RUNNING")
    assert wait_for_no_jobs(name) == []


def test_the_script_starts_a_running_cluster_again_without_change(slurm_cluster):
    require_slurm()
    if os.geteuid() != 0:
        pytest.skip("tools/slurm-cluster.sh runs as root only")
    script = [str(TOOLS / "slurm-cluster.sh")]
    before = subprocess.run([*script, "status"], capture_output=True, text=True, timeout=30)
    again = subprocess.run([*script, "start"], capture_output=True, text=True, timeout=90)
    after = subprocess.run([*script, "status"], capture_output=True, text=True, timeout=30)
    assert before.returncode == again.returncode == after.returncode == 0, again.stderr
    daemons = [line for line in before.stdout.splitlines() if "running (" in line]
    assert len(daemons) == 3  # munged, slurmctld, slurmd: the same processes after
    assert daemons == [line for line in after.stdout.splitlines() if "running (" in line]
    assert squeue_states(job_ids(slurm_cluster)) == dict.fromkeys(job_ids(slurm_cluster),
                                                                   "RUNNING")


def image_pipeline():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", ImageFeatures()),
                     ("classify", RandomForestClassifier(n_estimators=10, random_state=0))])


def test_grid_search_on_slurm_equals_the_local_search(slurm_cluster):
    import joblib
    from dask.distributed import Client, get_task_stream
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    train, _ = plankton_images(TEMPLATE)
    picked = train[train["label"].isin(train["label"].value_counts().index[:2])]
    picked = picked.groupby("label").head(8)
    X, y = list(picked["path"]), picked["label"].to_numpy()
    grid = {"features__threshold": ["triangle", "otsu"], "classify__max_depth": [2, None]}
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    local = GridSearchCV(image_pipeline(), grid, cv=cv).fit(X, y)
    with Client(slurm_cluster) as client, joblib.parallel_backend("dask"), \
            get_task_stream() as stream:
        remote = GridSearchCV(image_pipeline(), grid, cv=cv, n_jobs=-1).fit(X, y)
        workers = set(client.scheduler_info()["workers"])
    # the fits ran as tasks on the SLURM jobs' workers (joblib may batch them onto one)
    assert stream.data and {task["worker"] for task in stream.data} <= workers
    for key, value in local.cv_results_.items():
        if "time" not in key:  # timings differ between any two runs
            np.testing.assert_array_equal(np.asarray(remote.cv_results_[key]), np.asarray(value),
                                          err_msg=key)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_predict_on_slurm_equals_the_local_run_and_names_the_jobs(slurm_cluster, tmp_path):
    from dask.distributed import Client

    ws = awiml.Workspace.create(tmp_path / "ws")
    train, test = plankton_images(TEMPLATE)
    picked = train.groupby("label").head(4)
    awiml.ModelStore(ws).save(image_pipeline().fit(list(picked["path"]), picked["label"]),
                              "plankton", alias="production")
    new = ws.interim / "new"
    new.mkdir()
    for path in test.head(14)["path"]:
        (new / Path(path).name).write_bytes(Path(path).read_bytes())
    local = awiml.predict("plankton@production", new, ws, progress=False, client=False,
                          n_jobs=1, chunk_size=3)
    with Client(slurm_cluster) as client:
        remote = awiml.predict("plankton@production", new, ws, progress=False, client=client,
                               chunk_size=3)
    pd.testing.assert_frame_equal(remote, local)
    assert (Path(remote.attrs["path"]) / "predictions.csv").read_bytes() == \
        (Path(local.attrs["path"]) / "predictions.csv").read_bytes()
    compute = remote.attrs["compute"]
    assert compute["scheduler"] == "slurm" and compute["workers"] == 2
    assert set(compute["slurm_job_ids"]) == job_ids(slurm_cluster)
    assert compute["tasks"] == 5 and compute["chunk_size"] == 3
