"""features.extract on a distributed Client of worker processes: files read by path on the
workers, results identical to the local run, a worker killed mid-extraction loses nothing."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import awiml
from awiml.archives.transfer import file_checksum
from awiml.features import ImageFeatures, Spectrogram, extract

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

IMAGES = Path(awiml.__file__).parent / "data" / "ecotaxa_ml_template" / "images"


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, shared by the tests of this module."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def vignettes() -> list[str]:
    """160 of the real EcoTaxa vignettes, in a stable order (all 400 take twice as long)."""
    return sorted(map(os.fspath, IMAGES.glob("*.jpg")), key=lambda p: int(Path(p).stem))[:160]


@pytest.fixture(scope="module")
def reference(vignettes) -> np.ndarray:
    """The features of every vignette, computed here without extract()."""
    return ImageFeatures().fit_transform(vignettes)


class TaskSpecs(distributed.diagnostics.plugin.SchedulerPlugin):
    """Record the pickled task specifications the scheduler receives."""

    def __init__(self):
        self.specs: list[bytes] = []

    def update_graph(self, scheduler, *, tasks, **kwargs):
        for key in tasks:
            state = scheduler.tasks.get(key)
            if state is not None and state.run_spec is not None:
                self.specs.append(cloudpickle.dumps(state.run_spec))


def test_extract_on_workers_equals_local_and_sends_only_paths(cluster, client, vignettes,
                                                              reference, tmp_path, capsys):
    paths = vignettes[80:]  # 120.jpg among them: its moments differ in the last bit
    # when BLAS runs on two threads (as locally) instead of one (as on Dask workers)
    local = extract(ImageFeatures(), paths, cache=tmp_path / "local", progress=False)
    np.testing.assert_array_equal(local, reference[80:])
    recorder = TaskSpecs()
    cluster.scheduler.add_plugin(recorder, name="task-specs")
    try:
        result = extract(ImageFeatures(), paths, backend="dask", chunk_size=10,
                         cache=tmp_path / "dask", progress=True)
    finally:
        cluster.scheduler.remove_plugin("task-specs")
    np.testing.assert_array_equal(result, local)
    assert "80/80" in capsys.readouterr().err  # the progress bar counts files, as locally
    # The scheduler got the paths, never the files: no task holds a run of any file's bytes,
    # and all tasks together weigh a small fraction of the files they read.
    sent = b"".join(recorder.specs)
    assert all(path.encode() in sent for path in paths)
    contents = [Path(path).read_bytes() for path in paths]
    assert not any(data[200:264] in sent for data in contents)
    assert len(sent) < sum(map(len, contents)) / 10, (len(sent), sum(map(len, contents)))
    # The workers wrote the same cache entries as the local run, under the same names.
    local_entries = sorted(p.relative_to(tmp_path / "local") for p in
                           (tmp_path / "local").rglob("*.npy"))
    dask_entries = sorted(p.relative_to(tmp_path / "dask") for p in
                          (tmp_path / "dask").rglob("*.npy"))
    assert dask_entries == local_entries and len(local_entries) == len(set(map(file_checksum,
                                                                               paths)))
    # A second run reads the cache the workers wrote and gives the same features.
    again = extract(ImageFeatures(), paths, backend="dask", cache=tmp_path / "dask",
                    progress=False)
    np.testing.assert_array_equal(again, local)


def test_spectrograms_on_workers_equal_local(client, tmp_path):
    from scipy.io import wavfile

    rng = np.random.default_rng(3)
    paths = []
    for i in range(12):
        path = tmp_path / f"rec{i}.wav"
        wavfile.write(path, 8000, (rng.standard_normal(4000) * 3000).astype(np.int16))
        paths.append(path)
    spec = Spectrogram(sample_rate=8000, mel_bins=16)
    local = extract(spec, paths, progress=False)
    result = extract(spec, paths, backend="dask", chunk_size=3, progress=False)
    assert result.shape == (12, local.shape[1]) and np.isfinite(result).all()
    np.testing.assert_array_equal(result, local)


def test_worker_killed_mid_extraction_loses_and_duplicates_nothing(client, vignettes,
                                                                   reference, tmp_path):
    cache = tmp_path / "cache"
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = extract(ImageFeatures(), vignettes, backend="dask",
                                        chunk_size=1, cache=cache, progress=False)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    pids = client.run(os.getpid)
    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while len(list(cache.rglob("*.npy"))) < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = max(pids.values())
    os.kill(victim, signal.SIGKILL)
    done_at_kill = len(list(cache.rglob("*.npy")))
    worker.join(120)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert 30 <= done_at_kill < len(vignettes)  # the worker died mid-extraction
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()  # it was killed and replaced
    # complete and in order
    np.testing.assert_array_equal(outcome["result"], reference)
    # one whole cache entry per distinct file: none lost, none duplicated, none damaged
    entries = sorted(cache.rglob("*.npy"))
    expected = {file_checksum(p).split(":", 1)[1] for p in vignettes}
    assert sorted(p.stem for p in entries) == sorted(expected)
    by_checksum = {file_checksum(p).split(":", 1)[1]: row for p, row in zip(vignettes, reference,
                                                                             strict=True)}
    for entry in entries:
        np.testing.assert_array_equal(np.load(entry, allow_pickle=False), by_checksum[entry.stem])


def test_extractor_and_chunk_arguments_pickle_small(vignettes):
    # What each task carries besides the paths: the fitted extractor, a few hundred bytes.
    fitted = ImageFeatures().fit(vignettes[:1])
    assert len(pickle.dumps(fitted)) < 2000


def test_a_cluster_of_one_worker_computes_every_chunk(vignettes):
    # joblib would run a single worker's share in this process: extract() submits the
    # chunks to the cluster itself, so a one-worker SLURM job does the work, not the client.
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as one, distributed.Client(one), \
            distributed.get_task_stream() as stream:
        result = extract(ImageFeatures(), vignettes[:12], backend="dask", chunk_size=5,
                         progress=False)
        workers = set(one.scheduler.workers)
    np.testing.assert_array_equal(result, ImageFeatures().fit_transform(vignettes[:12]))
    assert len(workers) == 1
    assert len(stream.data) == 3 and {task["worker"] for task in stream.data} == workers
