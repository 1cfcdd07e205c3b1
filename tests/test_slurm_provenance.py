"""The ``compute`` section of a model saved under a real ``SLURMCluster``: two SLURM jobs.

Uses the ``slurm_cluster`` fixture of ``tests/conftest.py`` (two workers, each
its own SLURM job, on the single-node SLURM of ``tools/slurm-cluster.sh``);
without a running SLURM it skips (fails in CI).
"""

from __future__ import annotations

import subprocess

import pytest
from sklearn.linear_model import LogisticRegression

from awiml.store import ModelStore
from awiml.store.provenance import compute_resources

try:
    slurm = pytest.mark.slurm
except pytest.fail.Exception:  # --strict-markers: a tree without the marker lacks the fixture too
    slurm = pytest.mark.skip(reason="the `slurm` marker and the slurm_cluster fixture of "
                             "tests/conftest.py are not in this tree")

pytestmark = [slurm, pytest.mark.timeout(150)]


def squeue_states(ids: list[str]) -> dict[str, str]:
    done = subprocess.run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i %T"],
                          capture_output=True, text=True, timeout=30, check=True)
    return dict(line.split() for line in done.stdout.splitlines())


def test_a_save_under_a_slurm_cluster_records_its_jobs(slurm_cluster, tmp_path, monkeypatch):
    from distributed import Client

    monkeypatch.chdir(tmp_path)
    store = ModelStore(tmp_path / "store")
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    jobs = {str(job.job_id) for job in slurm_cluster.workers.values()}
    with Client(slurm_cluster) as client:
        client.wait_for_workers(2, timeout=120)
        section = compute_resources(client)
        ref = store.save(model, "toy")
    assert len(jobs) == 2
    assert section["scheduler"] == "slurm" and section["workers"] == 2
    assert set(section["slurm_job_ids"]) == jobs
    assert squeue_states(section["slurm_job_ids"]) == dict.fromkeys(jobs, "RUNNING")
    job = next(iter(slurm_cluster.workers.values()))
    assert section["threads_per_worker"] == job.worker_process_threads
    # the job script passes the memory rounded to two decimals (dask's format_bytes)
    asked = job.worker_memory / job.worker_processes
    assert abs(section["memory_per_worker"] - asked) < 0.01 * asked
    assert "problem" not in section

    compute = store.info(ref)["provenance"]["compute"]
    assert compute == section
    card = (store.path / "toy" / "versions" / "1" / "MODEL_CARD.md").read_text()
    assert f"| Slurm jobs | {', '.join(section['slurm_job_ids'])} |" in card
