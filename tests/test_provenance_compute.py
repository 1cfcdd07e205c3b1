"""The ``compute`` section of a version's provenance: which Dask cluster a model came from.

Real clusters on loopback: a ``LocalCluster`` of two worker processes, an
in-process ``SpecCluster`` of unlike workers, a scheduler in its own process
(stopped with SIGSTOP to make it unresponsive) and a ``dask_jobqueue.SLURMCluster``
that is constructed but submits no job (its jobs need SLURM: see
``tests/test_slurm_provenance.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from awiml.errors import InvalidDataError
from awiml.store import ModelStore, model_card, provenance
from awiml.store.provenance import collect_provenance, compute_resources

distributed = pytest.importorskip("distributed")
Client = distributed.Client

GIB = 2**30
OLD_STORE = Path(__file__).parent / "data" / "modelstore_0.1.0" / "store"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  memory_limit="1GiB", host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def model():
    return LogisticRegression().fit([[0.0], [1.0]], [0, 1])


@pytest.fixture
def store(tmp_path, monkeypatch) -> ModelStore:
    monkeypatch.chdir(tmp_path)  # the saves' code_dir: no repository to ask git about
    return ModelStore(tmp_path / "store")


def card_of(store: ModelStore, ref: str) -> str:
    name, _, number = ref.partition("@")
    return (store.path / name / "versions" / number / "MODEL_CARD.md").read_text()


def test_without_a_client_the_work_is_local(store, model):
    assert compute_resources() == {"scheduler": "local"}
    ref = store.save(model, "toy")
    assert store.info(ref)["provenance"]["compute"] == {"scheduler": "local"}
    assert "## Compute\n\nLocal: no Dask cluster" in card_of(store, ref)


@pytest.mark.slow
def test_looking_for_a_client_imports_no_dask(tmp_path):
    def dask_modules() -> str:
        return ("sorted(m for m in sys.modules\n"
                "       if m.partition('.')[0] in ('dask', 'distributed', 'dask_jobqueue'))")

    code = (
        "import json, sys\n"
        "from awiml.store.provenance import collect_provenance\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from awiml.store import ModelStore\n"
        f"compute = collect_provenance(code_dir={str(tmp_path)!r})['compute']\n"
        f"before = {dask_modules()}\n"
        f"store = ModelStore({str(tmp_path / 'store')!r})\n"
        "ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), 'toy')\n"
        f"after = {dask_modules()}\n"
        "print(json.dumps({'before': before, 'compute': compute,\n"
        "                  'distributed': [m for m in after if not m.startswith('dask')],\n"
        "                  'saved': store.info(ref)['provenance']['compute']}))\n"
    )
    root = Path(provenance.__file__).parents[2]  # this awiml, wherever the test runs from
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get(
        "PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=240)
    assert result.returncode == 0, result.stderr
    # (skops imports dask.array while it lists scikit-learn's estimators; never distributed)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "before": [], "compute": {"scheduler": "local"}, "distributed": [],
        "saved": {"scheduler": "local"}}


def test_a_local_cluster_of_two_worker_processes(cluster):
    with Client(cluster) as client:
        section = compute_resources(client)
        assert compute_resources() == section  # the active client is found by itself
    assert section == {
        "scheduler": "distributed",
        "cluster": "LocalCluster",
        "address": cluster.scheduler_address,
        "workers": 2,
        "threads_per_worker": 1,
        "memory_per_worker": GIB,
    }
    assert section["address"].startswith("tcp://127.0.0.1:")
    assert json.loads(json.dumps(section)) == section


def test_a_save_under_a_client_records_its_cluster(cluster, store, model):
    local = store.save(model, "toy")
    with Client(cluster) as client:
        ref = store.save(model, "toy", params={"workers": len(client.nthreads())})
    compute = store.info(ref)["provenance"]["compute"]
    assert (compute["scheduler"], compute["workers"], compute["threads_per_worker"],
            compute["memory_per_worker"]) == ("distributed", 2, 1, GIB)
    card = card_of(store, ref)
    for text in ("## Compute", "| Scheduler | distributed (LocalCluster) |",
                 f"| Scheduler address | `{cluster.scheduler_address}` |", "| Workers | 2 |",
                 "| Threads per worker | 1 |", "| Memory per worker | 1.0 GiB |"):
        assert text in card, text
    assert card.index("## Hardware") < card.index("## Compute") < card.index("## Training time")
    rows = {r.field: (r.a, r.b) for r in store.diff(local, ref).itertuples()}
    assert rows["compute.scheduler"] == ("local", "distributed")
    assert rows["compute.workers"] == (None, 2)
    assert rows["compute.memory_per_worker"] == (None, GIB)
    assert "compute.address" not in rows  # a new port on every run
    fields = list(store.diff(local, ref)["field"])
    assert fields.index("compute.scheduler") > max(i for i, f in enumerate(fields)
                                                   if f.startswith("params."))


def test_the_client_current_in_the_callers_context_is_found(cluster, store, model):
    # not the default client: only `as_current` in this thread makes it the active one,
    # and the provenance is collected in a thread of the save's own
    client = Client(cluster, set_as_default=False)  # `with` would make it current
    try:
        assert compute_resources() == {"scheduler": "local"}
        with client.as_current():
            ref = store.save(model, "toy")
    finally:
        client.close()
    assert store.info(ref)["provenance"]["compute"]["workers"] == 2


def test_an_explicit_client_or_a_section_kept_from_training(cluster, store, model):
    with Client(cluster, set_as_default=False) as client:
        first = store.save(model, "toy", compute=client)
        kept = compute_resources(client)
    # trained under the client, saved after it closed
    second = store.save(model, "toy", compute=kept)
    assert store.info(first)["provenance"]["compute"] == kept
    assert store.info(second)["provenance"]["compute"] == kept
    assert store.diff(first, second).query("field.str.startswith('compute')").empty


@pytest.mark.parametrize(("compute", "match"), [
    ("tcp://127.0.0.1:8786", "not str"),
    ({"scheduler": "kubernetes"}, "must be one of 'local', 'distributed', 'slurm'"),
    ({"scheduler": "local", "gpus": 2}, "unknown key"),
    ({"scheduler": "distributed", "workers": -1}, "whole number"),
    ({"scheduler": "distributed", "threads_per_worker": [1, "two"]}, "whole number"),
    ({"scheduler": "slurm", "slurm_job_ids": "4711"}, "list of job ids"),
])
def test_an_invalid_compute_argument_saves_nothing(store, model, compute, match):
    with pytest.raises(InvalidDataError, match=match):
        store.save(model, "toy", compute=compute)
    assert store.list().empty
    assert not (store.path / "toy").exists()


def test_a_given_section_is_redacted(tmp_path):
    section = collect_provenance(code_dir=tmp_path, compute={
        "scheduler": "distributed", "address": "tls://alice:pw-1234@dask.awi.de:8786",
        "workers": 3, "problem": "no answer from\n https://bob:pw-5678@dask.awi.de/status"})
    section = section["compute"]
    assert section["address"] == "tls://dask.awi.de:8786"
    assert section["problem"] == "no answer from https://dask.awi.de/status"
    assert section["workers"] == 3 and "pw-" not in json.dumps(section)


def test_workers_that_differ_are_listed(store, model):
    from distributed import Scheduler, SpecCluster, Worker

    workers = {
        "small": {"cls": Worker, "options": {"nthreads": 1, "memory_limit": GIB}},
        "large": {"cls": Worker, "options": {"nthreads": 3, "memory_limit": 2 * GIB}},
        "free": {"cls": Worker, "options": {"nthreads": 1, "memory_limit": 0}},
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0",
                                               "host": "127.0.0.1"}}
    with SpecCluster(workers=workers, scheduler=scheduler) as cluster, Client(cluster):
        ref = store.save(model, "toy")
    compute = store.info(ref)["provenance"]["compute"]
    assert compute["cluster"] == "SpecCluster" and compute["workers"] == 3
    assert compute["threads_per_worker"] == [1, 3]
    assert compute["memory_per_worker"] == [GIB, 2 * GIB]  # one has no limit
    assert "| Memory per worker | 1.0 GiB, 2.0 GiB |" in card_of(store, ref)


def test_a_closed_client_gives_a_warning_and_a_partial_section(store, model):
    cluster = distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0")
    client = Client(cluster, set_as_default=False)
    cluster.close()
    client.close()
    with pytest.warns(RuntimeWarning, match="client is closed"):
        ref = store.save(model, "toy", compute=client)
    compute = store.info(ref)["provenance"]["compute"]
    assert compute == {"scheduler": "distributed", "cluster": "LocalCluster", "address": None,
                       "problem": "the client is closed"}
    assert "| Problem | the client is closed |" in card_of(store, ref)
    assert compute_resources() == {"scheduler": "local"}  # a closed client is no one's


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="no SIGSTOP here")
def test_an_unresponsive_scheduler_delays_a_save_by_the_timeout_only(tmp_path, store, model,
                                                                      monkeypatch):
    monkeypatch.setattr(provenance, "COMPUTE_TIMEOUT", 1.0)
    scheduler_file = tmp_path / "scheduler.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--dashboard-address", ":0", "--scheduler-file", str(scheduler_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
            address = client.scheduler.address
            started = time.monotonic()
            answered = store.save(model, "toy")  # also imports what a first save needs
            usual = time.monotonic() - started
            os.kill(process.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.warns(RuntimeWarning, match="scheduler did not answer"):
                    ref = store.save(model, "toy")
                took = time.monotonic() - started
            finally:
                os.kill(process.pid, signal.SIGCONT)
    finally:
        process.terminate()
        process.wait(timeout=30)
    compute = store.info(ref)["provenance"]["compute"]
    assert took < usual + 1.0 + 3.0  # the timeout, not distributed's 30 s of reconnecting
    assert store.info(answered)["provenance"]["compute"]["workers"] == 0
    assert compute["scheduler"] == "distributed" and compute["cluster"] is None
    assert compute["address"] == address
    assert compute["problem"].startswith("the scheduler did not answer: TimeoutError")
    assert "workers" not in compute
    assert store.load(ref).predict([[1.0]]).tolist() == [1]


def test_a_slurm_cluster_without_jobs_records_what_its_jobs_ask_for(tmp_path, monkeypatch,
                                                                     store, model):
    jobqueue = pytest.importorskip("dask_jobqueue")
    # constructing a SLURMCluster submits nothing: it needs no SLURM command
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    with jobqueue.SLURMCluster(cores=4, processes=2, memory="8GiB", walltime="00:10:00",
                               log_directory=str(tmp_path / "logs"),
                               scheduler_options={"host": "127.0.0.1",
                                                  "dashboard_address": ":0"}) as cluster, \
            Client(cluster) as client:
        ref = store.save(model, "toy")
    assert not list((tmp_path / "logs").iterdir())  # no job ran
    with pytest.warns(RuntimeWarning, match="client is closed"):
        closed = compute_resources(client)
    assert closed["scheduler"] == "slurm" and closed["problem"] == "the client is closed"
    compute = store.info(ref)["provenance"]["compute"]
    assert compute == {"scheduler": "slurm", "cluster": "SLURMCluster",
                       "address": compute["address"], "workers": 0,
                       "threads_per_worker": 2, "memory_per_worker": 4 * GIB}
    assert compute["address"].startswith("tcp://127.0.0.1:")
    card = card_of(store, ref)
    assert "| Scheduler | slurm (SLURMCluster) |" in card and "Slurm jobs" not in card


def test_a_version_stored_before_the_compute_section_loads_renders_and_diffs(tmp_path):
    target = tmp_path / "store"
    shutil.copytree(OLD_STORE, target)
    store = ModelStore(target)
    old = store.info("zones@production")
    assert "compute" not in old["provenance"]
    card = model_card(old)
    assert "## Compute\n\nNot recorded.\n" in card
    assert "## Training time" in card
    model = store.load("zones@production")
    new = store.save(model, "zones")
    rows = {r.field: (r.a, r.b) for r in store.diff(old["ref"], new).itertuples()}
    assert rows["compute.scheduler"] == (None, "local")
    assert store.verify().ok


def test_an_asynchronous_client_gives_its_worker_count_without_blocking():
    import asyncio

    async def describe() -> dict:
        async with distributed.LocalCluster(n_workers=2, processes=False, asynchronous=True,
                                            dashboard_address=":0") as cluster, \
                Client(cluster, asynchronous=True) as client:
            await client.wait_for_workers(2)
            with pytest.warns(RuntimeWarning, match="asynchronous client"):
                return compute_resources(client)

    section = asyncio.run(describe())
    assert section["scheduler"] == "distributed" and section["workers"] == 2
    assert "threads_per_worker" not in section
