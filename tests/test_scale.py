"""awiml.scale without SLURM: profiles, the SLURM job script they make, local clusters."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awiml.errors import AwimlError, InvalidDataError, NotFoundError
from awiml.scale import PROFILES, hpc_cluster, load_profile, local_cluster


def memory_in_gb(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMGT]i?B)", text).groups()
    return float(number) * {"KB": 1e-6, "MB": 1e-3, "GB": 1, "TB": 1e3}[unit.replace("i", "")]


def test_the_bundled_profiles_load():
    hpc = load_profile("awi-hpc")
    assert hpc["queue"] and hpc["walltime"] and hpc["interface"]
    # One single-threaded worker per core, each with the node's share of memory or less
    # (the profile assumes 256 GB for 128 cores).
    assert hpc["processes"] == hpc["cores"]
    assert memory_in_gb(hpc["memory"]) / hpc["cores"] <= 256 / 128
    local = load_profile("local-slurm")
    assert (local["cores"], local["processes"], local["interface"]) == (1, 1, "lo")
    # A name is a profile of the bundled file, which also reads as a file of one's own.
    assert load_profile(f"{PROFILES}:local-slurm") == local


def test_a_file_of_ones_own(tmp_path):
    file = tmp_path / "mine.yaml"
    file.write_text("big:\n  queue: fat\n  cores: 32\n  job-extra-directives: ['--exclusive']\n")
    # One profile: the file alone names it; setting names may use dashes, as dask's do.
    assert load_profile(str(file)) == {"queue": "fat", "cores": 32,
                                       "job_extra_directives": ["--exclusive"]}
    assert load_profile(f"{file}:big") == load_profile(str(file))


def test_a_file_of_several_profiles_needs_a_name(tmp_path):
    file = tmp_path / "mine.yaml"
    file.write_text("small:\n  cores: 2\nbig:\n  cores: 32\n")
    with pytest.raises(NotFoundError, match=r"several profiles \(small, big\).*:NAME"):
        load_profile(str(file))
    assert load_profile(f"{file}:small") == {"cores": 2}
    with pytest.raises(NotFoundError, match=r"no SLURM profile 'huge'.*small, big"):
        load_profile(f"{file}:huge")


def test_an_unknown_profile_lists_the_bundled_ones():
    with pytest.raises(NotFoundError, match=r"no SLURM profile 'albedo'.*awi-hpc, local-slurm"):
        load_profile("albedo")


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(NotFoundError, match=r"nothere\.yaml does not exist.*awi-hpc"):
        load_profile(str(tmp_path / "nothere.yaml"))


@pytest.mark.parametrize(("text", "message"), [
    ("big: [cores: 2\n", r"is not valid YAML"),
    ("- cores: 2\n", r"holds no profiles"),
    ("", r"holds no profiles"),
    ("big: 32\n", r"profile 'big' .* is not a mapping"),
    ("big:\n  cpus: 32\n", r"profile 'big' .* sets 'cpus', which .*SLURMCluster does not know"),
])
def test_a_malformed_file_names_itself_and_the_fault(tmp_path, text, message):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(InvalidDataError, match=message) as caught:
        load_profile(str(file))
    assert str(file) in str(caught.value)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["a:", "  cores: 2", "- x", "b: {", "  queue: [", "c: null",
                              "  memory: 1GB", "'", "&a x", "*a", "? y", ":"]),
             max_size=8).map("\n".join)))
def test_any_file_gives_settings_or_an_awiml_error(tmp_path, text):
    file = tmp_path / "fuzz.yaml"
    file.write_text(text, "utf-8")
    try:
        result = load_profile(str(file))
    except AwimlError:
        return
    assert isinstance(result, dict) and all(isinstance(key, str) for key in result)


def test_overrides_win_and_make_the_job_script():
    cluster = hpc_cluster("awi-hpc", interface="lo", queue="mpp", memory="4GB", cores=2,
                          processes=2, walltime="00:05:00", python=sys.executable)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p mpp" in script
    assert "#SBATCH --cpus-per-task=2" in script
    assert "#SBATCH -t 00:05:00" in script
    assert "#SBATCH --mem=4G" in script
    assert f"{sys.executable} -m distributed.cli.dask_worker" in script
    assert all(option in script for option in ("--nworkers 2", "--nthreads 1", "--interface lo"))


def test_an_unknown_override_is_refused():
    with pytest.raises(AwimlError, match=r"hpc_cluster\(\) sets 'partition'.*\bqueue\b"):
        hpc_cluster("awi-hpc", partition="smp")


def test_local_cluster_is_single_threaded_worker_processes():
    from dask.distributed import Client

    with local_cluster(n_workers=2) as cluster, Client(cluster) as client:
        workers = client.scheduler_info()["workers"].values()
        pids = set(client.run(__import__("os").getpid).values())
    assert [worker["nthreads"] for worker in workers] == [1, 1]
    assert len(pids) == 2
