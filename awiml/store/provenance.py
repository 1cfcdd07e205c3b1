"""Provenance: which code, environment and machine produced a model, and when.

:func:`collect_provenance` returns a JSON-ready dict that the
:class:`~awiml.store.ModelStore` writes into every version's ``version.json``
and model card. It has eight parts:

``run``
    How the training process was started, for a re-run: ``kind``
    (``"script"``, ``"module"``, ``"notebook"`` or ``"interactive"``), the
    ``script``, ``module`` or ``notebook``, its ``args`` (secrets as ``***``),
    ``cwd``, the git ``repository`` the paths are relative to, the store's
    ``workspace``, the ``python`` version and the interpreter's own options
    (``executable_args``); read from the command line, nothing asked of the
    training script (the assumptions are listed in
    :func:`awiml.store._run.run_section`).
``seeds``
    The seed :func:`awiml.set_seed` set in this process and what it seeded,
    or ``{"seed": None}``; ``PYTHONHASHSEED`` when set.

``code``
    What :func:`git_state` returns; ``git`` runs without a shell, hooks or
    optional locks, with a timeout and a lower priority (:data:`GIT_NICENESS`).
    No git, no repository, or one git refuses is never an error.
``environment``
    Python version and implementation, platform, the installed versions of key
    packages (``packages``) and of every installed distribution
    (``distributions``, names normalised as in PEP 503), read from
    :mod:`importlib.metadata` (nothing heavy is imported), and the Keras
    backend.
``hardware``
    Host name, CPU model, logical and usable CPUs, total memory, CUDA GPUs when
    PyTorch is already imported (never imported for this), and on a Slurm
    cluster the job id, cluster and partition.
``timing``
    Start, end (UTC, ISO 8601) and duration in seconds of the training run,
    when known.
``user``
    The login name, when the system knows one.
``compute``
    The Dask cluster the work ran on (:func:`compute_resources`): ``scheduler``
    is ``"local"`` when no ``dask.distributed`` client is active,
    ``"distributed"`` for a client of a ``LocalCluster`` or of a scheduler
    started elsewhere, ``"slurm"`` for a ``dask_jobqueue.SLURMCluster``; then
    also the number of ``workers``, ``threads_per_worker``,
    ``memory_per_worker`` (bytes), the ``slurm_job_ids`` of the cluster's jobs
    and the scheduler's ``address`` (credentials removed). Dask is never
    imported to look.

Environment variables are never copied wholesale (they may hold tokens or
passwords). Only these are read, by name: ``KERAS_BACKEND``,
``PYTHONHASHSEED``, ``SLURM_JOB_ID``, ``SLURM_CLUSTER_NAME``,
``SLURM_JOB_PARTITION`` and, in a Jupyter kernel, ``JPY_SESSION_NAME``.

:func:`dataset_digest` is the one definition of the digest of a group of
training files that a version's ``datasets`` record carries.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import getpass
import hashlib
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import InvalidDataError, redact_url
from ._run import run_section
from ._seeding import seeds_section

__all__ = ["COMPUTE_TIMEOUT", "GIT_NICENESS", "GIT_TIMEOUT", "KEY_PACKAGES", "MAX_LISTED_FILES",
           "SCHEDULERS", "collect_provenance", "compute_resources", "dataset_digest",
           "git_state", "installed_distributions"]

#: Distributions whose installed versions are recorded (those not installed are left out).
KEY_PACKAGES = (
    "awiml",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "keras",
    "torch",
    "tensorflow",
    "jax",
    "h5py",
    "skops",
    "xarray",
)

#: At most this many changed or untracked files are listed; the rest are counted.
MAX_LISTED_FILES = 50

#: Seconds one ``git`` call may take before the code is recorded as unknown.
GIT_TIMEOUT = 10.0

#: How much lower than awiml's own the scheduling priority of ``git`` is (``nice``).
GIT_NICENESS = 10

#: Seconds the Dask scheduler may take to describe its workers before the section is partial.
COMPUTE_TIMEOUT = 10.0

#: What the ``scheduler`` of a ``compute`` section can be.
SCHEDULERS = ("local", "distributed", "slurm")

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_COMPUTE_FIELDS = ("scheduler", "cluster", "address", "workers", "threads_per_worker",
                   "memory_per_worker", "slurm_job_ids", "problem")

_SLURM = {
    "SLURM_JOB_ID": "slurm_job_id",
    "SLURM_CLUSTER_NAME": "slurm_cluster",
    "SLURM_JOB_PARTITION": "slurm_partition",
}


def collect_provenance(
    *,
    code_dir: str | os.PathLike[str] | None = None,
    started: _dt.datetime | float | str | None = None,
    ended: _dt.datetime | float | str | None = None,
    compute: Any = None,
    workspace: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Record the run, seeds, code, environment, machine, compute, user and timing of training.

    Parameters
    ----------
    code_dir : path-like, optional
        A folder inside the git working tree of the training code. Defaults to
        the current working directory.
    started, ended : datetime, float or str, optional
        When training started and ended: a :class:`~datetime.datetime` (naive
        means local time), seconds since the epoch, or an ISO 8601 string.
    compute : distributed.Client or mapping, optional
        The Dask client whose cluster did the work, or a section that
        :func:`compute_resources` returned earlier (kept as given, after
        checking). By default, the client active in the calling context.
    workspace : path-like, optional
        The root of the workspace the model is stored in, recorded in ``run``.

    Returns
    -------
    dict
        JSON-ready, with the keys ``run``, ``seeds``, ``code``,
        ``environment``, ``hardware``, ``compute``, ``timing``, ``user`` and
        ``awiml_version`` (see :mod:`awiml.store.provenance`).

    Raises
    ------
    ValueError
        If ``started`` or ``ended`` cannot be read as a time, or ``ended`` is
        before ``started``.
    awiml.errors.InvalidDataError
        If ``compute`` is neither a client nor a valid section.

    Examples
    --------
    >>> import json, tempfile
    >>> prov = collect_provenance(code_dir=tempfile.mkdtemp(), started=0.0, ended=90.5)
    >>> prov["code"]["status"], prov["timing"]["duration_seconds"]
    ('unknown', 90.5)
    >>> prov["environment"]["distributions"]["numpy"] == __import__("numpy").__version__
    True
    >>> _ = json.dumps(prov)  # JSON-ready
    """
    compute = _compute_argument(compute)
    start = _as_utc(started, "started")
    end = _as_utc(ended, "ended")
    if start is not None and end is not None and end < start:
        raise ValueError(f"ended ({_iso(end)}) is before started ({_iso(start)})")
    timing = {
        "started": _iso(start),
        "ended": _iso(end),
        "duration_seconds": (
            round((end - start).total_seconds(), 6) if start is not None and end is not None
            else None
        ),
    }
    return {
        "awiml_version": __version__,
        "run": run_section(workspace),
        "seeds": seeds_section(),
        "code": git_state(code_dir if code_dir is not None else os.getcwd()),
        "environment": _environment(),
        "hardware": _hardware(),
        "compute": compute if isinstance(compute, dict) else compute_resources(compute),
        "timing": timing,
        "user": _user(),
    }


def git_state(code_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the git commit, branch, remote and dirty state of the tree holding ``code_dir``.

    Parameters
    ----------
    code_dir : path-like
        Any folder inside the working tree.

    Returns
    -------
    dict
        ``status`` is ``"git"`` with ``commit``, ``branch`` (``None`` when
        detached), ``remote`` (credentials removed with
        :func:`~awiml.errors.redact_url`), ``dirty`` (tracked files differ from
        the commit), ``changed`` and ``untracked`` (both truncated to
        :data:`MAX_LISTED_FILES`, with ``*_count``); or ``"unknown"`` with
        ``commit: None`` and a ``reason``. When ``git status`` times out,
        ``dirty`` is ``None`` and ``reason`` says why.
    """
    folder = Path(code_dir)
    if not folder.is_dir():
        return _unknown(f"{folder.name or folder} is not a folder")
    # the remotes are read beside `git status`: two short processes at once, not in turn
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        remotes = pool.submit(_remote_urls, folder)
        try:
            status = _git(folder, "status", "--porcelain=v2", "--branch", "-z",
                          "--untracked-files=normal")
        except FileNotFoundError:
            return _unknown("git is not installed")
        except subprocess.TimeoutExpired:
            return _commit_only(folder)
        except OSError as exc:
            return _unknown(f"git could not run ({exc.strerror or exc})")
        urls = remotes.result()
    if status.returncode != 0:
        message = status.stderr.strip().splitlines()
        reason = "not a git repository"
        if message and "not a git repository" not in message[0].lower():
            reason = "git refused: " + message[0].removeprefix("fatal: ")[:200]
        return _unknown(reason)

    # porcelain v2: "# branch.<key> <value>" headers, then one record per changed path,
    # whose path is the field after this many spaces (ordinary, renamed/copied, unmerged)
    path_field = {"1": 8, "2": 9, "u": 10}
    headers: dict[str, str] = {}
    changed: list[str] = []
    untracked: list[str] = []
    records = iter(status.stdout.split("\0"))
    for record in records:
        kind = record[:1]
        if record.startswith("# branch."):
            key, _, value = record[len("# branch."):].partition(" ")
            headers[key] = value
        elif kind in path_field and record[1:2] == " ":
            fields = record.split(" ", path_field[kind])
            changed.append(f"{fields[1]} {fields[-1]}")
            if kind == "2":
                next(records, None)  # the original path of a rename or copy: its own record
        elif record.startswith("? "):
            untracked.append(record[2:])
    commit = headers.get("oid") if headers.get("oid") != "(initial)" else None
    branch = headers.get("head") if headers.get("head") != "(detached)" else None
    upstream = headers.get("upstream")

    state: dict[str, Any] = {
        "status": "git",
        "commit": commit,
        "branch": branch,
        "remote": _preferred_remote(urls, upstream),
        "dirty": bool(changed),
        "changed": changed[:MAX_LISTED_FILES],
        "changed_count": len(changed),
        "untracked": untracked[:MAX_LISTED_FILES],
        "untracked_count": len(untracked),
    }
    if commit is None:
        state["reason"] = "the repository has no commit yet"
    return state


def installed_distributions() -> dict[str, str]:
    """Return every installed distribution's version, by its PEP 503 normalised name.

    The first of a name on ``sys.path`` counts, as for
    :func:`importlib.metadata.version`. Names and versions are read from the
    ``*.dist-info`` folder names (no metadata file is opened, which keeps this
    at about a millisecond), else from the metadata. The answer is kept until
    a folder on ``sys.path`` changes (an install does).

    Returns
    -------
    dict of str to str
        Sorted by name, e.g. ``{"numpy": "1.26.4", "scikit-learn": "1.5.2"}``.

    Examples
    --------
    >>> import numpy
    >>> installed_distributions()["numpy"] == numpy.__version__
    True
    """
    stamps = []
    for entry in sys.path:
        try:
            stamps.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return dict(_distributions(tuple(stamps)))


@functools.lru_cache(maxsize=4)
def _distributions(_stamps: tuple[tuple[str, int], ...]) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        folder = getattr(dist, "_path", None)  # PathDistribution's *.dist-info folder
        name, _, version = (folder.name.removesuffix(".dist-info").partition("-")
                            if folder is not None and folder.name.endswith(".dist-info")
                            else ("", "", ""))
        if not (name and version):
            name, version = dist.metadata["Name"] or "", dist.version
        if name:
            found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), str(version))
    return tuple(sorted(found.items()))


def dataset_digest(refs: Iterable[Mapping[str, Any]]) -> str:
    r"""Return the digest of a group of training files, as a version's ``datasets`` record it.

    The SHA-256 of the lines ``f"{path}\t{sha256}\n"``, one per file, sorted,
    joined and encoded as UTF-8; ``path`` is the file's ``path`` (relative to
    the workspace's ``raw/``) or else its ``name`` or ``source``, and
    ``sha256`` the recorded ``"sha256:<hex>"`` as it is (empty when unknown).
    The same files give the same digest in any order, wherever the workspace
    lies.

    Parameters
    ----------
    refs : iterable of mapping
        Data references, as in the ``data`` list of a ``version.json``.

    Returns
    -------
    str
        ``"sha256:<hex>"``.

    Examples
    --------
    >>> a = {"path": "ps103/a.tab", "sha256": "sha256:00"}
    >>> b = {"path": "ps103/b.tab", "sha256": "sha256:11"}
    >>> dataset_digest([a, b]) == dataset_digest([b, a])
    True
    >>> dataset_digest([a])[:7]
    'sha256:'
    """
    lines = sorted(
        f"{ref.get('path') or ref.get('name') or ref.get('source') or ''}\t"
        f"{ref.get('sha256') or ''}\n"
        for ref in refs
    )
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def compute_resources(client: Any = None) -> dict[str, Any]:
    """Describe the Dask cluster that a ``dask.distributed`` client is connected to.

    The description is the ``compute`` section of a stored version's
    provenance. Nothing is imported to look: without ``dask.distributed``
    already imported there can be no client, and the work ran locally.
    Asking the scheduler never raises; when it fails or takes longer than
    :data:`COMPUTE_TIMEOUT`, a :class:`RuntimeWarning` says so and the
    section keeps what is known, with the reason under ``problem``.

    Parameters
    ----------
    client : distributed.Client, optional
        The client to describe. By default, the client active in the calling
        context (``distributed.default_client()``; inside ``with Client(...)``,
        that one).

    Returns
    -------
    dict
        ``{"scheduler": "local"}`` without a client. Otherwise ``scheduler``
        (``"distributed"``, or ``"slurm"`` for a ``dask_jobqueue.SLURMCluster``),
        ``cluster`` (the cluster's class name, None for a scheduler started
        elsewhere), ``address`` (the scheduler's, credentials removed),
        ``workers`` (how many are connected), ``threads_per_worker`` and
        ``memory_per_worker`` (bytes; None without a limit; a sorted list of
        the distinct values when workers differ; for a SLURM cluster without
        workers, what its jobs ask for), ``slurm_job_ids`` (the SLURM jobs
        whose workers are connected, when there are any) and ``problem`` (when
        something could not be read).

    Raises
    ------
    awiml.errors.InvalidDataError
        If ``client`` is not a ``distributed.Client``.

    Examples
    --------
    >>> compute_resources()  # no Dask client in this session
    {'scheduler': 'local'}

    On a cluster (not run here)::

        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1) as cluster:
            with Client(cluster) as client:
                section = compute_resources(client)
        # {'scheduler': 'distributed', 'cluster': 'LocalCluster', 'workers': 2,
        #  'threads_per_worker': 1, 'memory_per_worker': 4294967296, ...}
    """
    if client is None:
        client = _active_client()
        if client is None:
            return {"scheduler": "local"}
    elif not _is_client(client):
        raise InvalidDataError(
            f"client must be a dask.distributed Client, not {type(client).__name__}; leave "
            "it out to describe the active client"
        )
    section: dict[str, Any] = {"scheduler": "distributed"}
    try:
        _describe_cluster(client, section)
    except Exception as exc:  # provenance never fails a save
        section.setdefault("problem", _reason(exc))  # the first problem is the cause
    if section.get("problem"):
        warnings.warn(
            f"the Dask cluster could not be described fully ({section['problem']}); the "
            "provenance records only what is known of it",
            RuntimeWarning, stacklevel=2,
        )
    return {key: section[key] for key in _COMPUTE_FIELDS if key in section}


def _commit_only(folder: Path) -> dict[str, Any]:
    """Return commit, branch and remote when ``git status`` is too slow (a huge work tree)."""
    reason = f"git status took longer than {GIT_TIMEOUT:g} s; the dirty state is unknown"
    try:
        head = _git(folder, "rev-parse", "--verify", "-q", "HEAD")
        branch = _git(folder, "symbolic-ref", "--short", "-q", "HEAD")
    except (OSError, subprocess.TimeoutExpired):
        return _unknown(reason)
    if head.returncode != 0:
        return _unknown(reason)
    return {
        "status": "git",
        "commit": head.stdout.strip() or None,
        "branch": branch.stdout.strip() or None,
        "remote": _preferred_remote(_remote_urls(folder), None),
        "dirty": None,
        "reason": reason,
    }


def _remote_urls(folder: Path) -> dict[str, str]:
    """Return the URL of each remote by name, in configuration order (empty on failure)."""
    try:
        result = _git(folder, "config", "--get-regexp", r"^remote\..*\.url$")
    except (OSError, subprocess.TimeoutExpired):
        return {}
    urls: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, url = line.partition(" ")
        name = key[len("remote."):-len(".url")]
        urls.setdefault(name, url.strip())
    return urls


def _preferred_remote(urls: dict[str, str], upstream: str | None) -> str | None:
    """Return the redacted URL of the upstream's remote, else ``origin``, else the first."""
    if not urls:
        return None
    preferred = upstream.split("/", 1)[0] if upstream else None
    for name in (preferred, "origin"):
        if name in urls:
            return redact_url(urls[name])
    return redact_url(next(iter(urls.values())))


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        # Only what git needs to find itself and its configuration; never the caller's secrets.
        key: os.environ[key]
        for key in ("PATH", "HOME", "USER", "SYSTEMROOT", "XDG_CONFIG_HOME")
        if key in os.environ
    }
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    with subprocess.Popen(
        ["git", "-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
    ) as process:
        _lower_priority(process.pid)
        try:
            out, err = process.communicate(timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _lower_priority(pid: int) -> None:
    """Renice a git process by :data:`GIT_NICENESS`, so it does not slow the serialisation."""
    # no such call here (Windows), or the process already ended: git runs as it is
    with contextlib.suppress(AttributeError, OSError):
        current = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, min(current + GIT_NICENESS, 19))


def _unknown(reason: str) -> dict[str, Any]:
    return {"status": "unknown", "commit": None, "reason": reason}


@functools.lru_cache(maxsize=1)
def _static_environment() -> dict[str, Any]:
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
    }


def _environment() -> dict[str, Any]:
    env = dict(_static_environment())
    env["packages"] = dict(env["packages"])
    env["distributions"] = installed_distributions()
    backend = os.environ.get("KERAS_BACKEND") or None
    keras = sys.modules.get("keras")
    if keras is not None:  # once Keras is imported, its own answer is the truth
        with contextlib.suppress(Exception):  # provenance never fails a save
            backend = str(keras.backend.backend())
    env["keras_backend"] = backend
    return env


@functools.lru_cache(maxsize=1)
def _static_hardware() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "memory_total_bytes": _memory_total(),
    }


def _hardware() -> dict[str, Any]:
    hardware = dict(_static_hardware())
    hardware["gpus"] = _gpus()
    for variable, key in _SLURM.items():
        value = os.environ.get(variable)
        if value:
            hardware[key] = value
    return hardware


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError), \
            open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Processor", "cpu model") and value.strip():
                return value.strip()
    if sys.platform == "darwin":
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            result = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True, text=True, timeout=5, check=False,
                stdin=subprocess.DEVNULL,
            )
            if result.returncode == 0 and result.stdout.strip():
                return result.stdout.strip()
    return platform.processor() or None


def _memory_total() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError), \
            open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _gpus() -> list[dict[str, Any]]:
    torch = sys.modules.get("torch")  # never import torch just to look
    if torch is None:
        return []
    try:
        if not torch.cuda.is_available():
            return []
        gpus = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append({"name": str(props.name), "memory_bytes": int(props.total_memory)})
        return gpus
    except Exception:  # provenance never fails a save
        return []


def _user() -> str | None:
    try:
        return getpass.getuser() or None
    except Exception:  # no passwd entry in some containers
        return None


def _active_client() -> Any:
    """Return the ``dask.distributed`` client of the calling context, or None."""
    distributed = sys.modules.get("distributed")  # never import dask just to look
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:  # "No clients found"
        return None
    except Exception as exc:  # provenance never fails a save
        warnings.warn(f"could not look for a Dask client ({_reason(exc)}); the provenance "
                      "records the work as local", RuntimeWarning, stacklevel=3)
        return None


def _describe_cluster(client: Any, section: dict[str, Any]) -> None:
    """Fill ``section`` with what ``client``'s cluster and scheduler tell, in that order."""
    cluster = getattr(client, "cluster", None)
    jobqueue = sys.modules.get("dask_jobqueue")
    slurm = jobqueue is not None and isinstance(cluster, jobqueue.SLURMCluster)
    if slurm:
        section["scheduler"] = "slurm"
    section["cluster"] = type(cluster).__name__ if cluster is not None else None
    scheduler = getattr(client, "scheduler", None)
    address = getattr(scheduler, "address", None)
    section["address"] = redact_url(str(address)) if address else None

    names: list[str] | None = None
    if client.status != "running":
        section["problem"] = f"the client is {client.status}"
    elif client.asynchronous:  # its cached totals only: a coroutine cannot be awaited here
        section["workers"] = client.scheduler_info().get("n_workers")
        section["problem"] = ("an asynchronous client knows only the number of workers; "
                              "pass compute=compute_resources(client) from a synchronous one")
    else:
        try:
            try:
                identity = client.sync(scheduler.identity, n_workers=-1,
                                       callback_timeout=COMPUTE_TIMEOUT)
            except TypeError:  # a scheduler older than n_workers=: it tells of every worker
                identity = client.sync(scheduler.identity, callback_timeout=COMPUTE_TIMEOUT)
        except Exception as exc:
            section["problem"] = f"the scheduler did not answer: {_reason(exc)}"
        else:
            workers = list((identity.get("workers") or {}).values())
            names = [str(w.get("name")) for w in workers]
            section["workers"] = int(identity.get("n_workers", len(workers)))
            section["threads_per_worker"] = _per_worker(w.get("nthreads") for w in workers)
            section["memory_per_worker"] = _per_worker(w.get("memory_limit") or None
                                                       for w in workers)
    if slurm:
        _slurm_jobs(cluster, names, section)


def _slurm_jobs(cluster: Any, names: list[str] | None, section: dict[str, Any]) -> None:
    """Add the job ids of a ``SLURMCluster`` and, without workers, what its jobs ask for."""
    jobs = dict(cluster.workers)  # job name -> Job (a job's workers are "name" or "name-i")
    if names is not None:
        jobs = {name: job for name, job in jobs.items()
                if any(w == name or w.startswith(f"{name}-") for w in names)}
    ids = sorted({str(job.job_id) for job in jobs.values() if getattr(job, "job_id", None)},
                 key=lambda i: (len(i), i))
    if ids:
        section["slurm_job_ids"] = ids
    if not section.get("workers"):  # scaled to zero: record what a worker gets
        job = cluster._dummy_job  # dask-jobqueue's model of the jobs it submits
        processes = job.worker_processes or 1
        section["threads_per_worker"] = int(job.worker_cores // processes)
        section["memory_per_worker"] = (int(job.worker_memory // processes)
                                        if job.worker_memory else None)


def _per_worker(values: Iterable[Any]) -> int | list[int] | None:
    """Return the one value all workers share, or their distinct values sorted."""
    distinct = sorted({int(v) for v in values if isinstance(v, (int, float)) and v})
    if not distinct:
        return None
    return distinct[0] if len(distinct) == 1 else distinct


def _is_client(value: Any) -> bool:
    distributed = sys.modules.get("distributed")  # without it imported, no client exists
    return distributed is not None and isinstance(value, distributed.Client)


def _compute_argument(compute: Any) -> Any:
    """Check the ``compute=`` of a save: a client, a section (returned as plain JSON) or None."""
    if compute is None or _is_client(compute):
        return compute
    if isinstance(compute, Mapping):
        return _given_compute(compute)
    raise InvalidDataError(
        f"compute must be a dask.distributed Client or a section that compute_resources() "
        f"returned, not {type(compute).__name__}; leave it out to describe the active client"
    )


def _given_compute(section: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``compute`` section given to a save and return it as plain JSON data."""
    unknown = sorted(set(map(str, section)) - set(_COMPUTE_FIELDS))
    if unknown:
        raise InvalidDataError(
            f"compute has the unknown key(s) {', '.join(map(repr, unknown))}; it takes only "
            f"{', '.join(_COMPUTE_FIELDS)} (what compute_resources() returns)"
        )
    if section.get("scheduler") not in SCHEDULERS:
        raise InvalidDataError(
            f"compute['scheduler'] is {section.get('scheduler')!r}; it must be one of "
            f"{', '.join(map(repr, SCHEDULERS))}"
        )
    for key in ("workers", "threads_per_worker", "memory_per_worker"):
        value = section.get(key)
        values = value if isinstance(value, list) else [value]
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
                   for v in values):
            raise InvalidDataError(
                f"compute[{key!r}] is {value!r}; it must be a whole number (or a list of them, "
                "or None)"
            )
    out = {key: section[key] for key in _COMPUTE_FIELDS if key in section}
    for key in ("cluster", "problem"):
        if out.get(key) is not None:
            out[key] = _redacted(str(out[key]))
    if out.get("address") is not None:
        out["address"] = redact_url(str(out["address"]))
    if "slurm_job_ids" in out:
        ids = out["slurm_job_ids"]
        if not isinstance(ids, (list, tuple)):
            raise InvalidDataError(
                f"compute['slurm_job_ids'] is {ids!r}; it must be a list of job ids")
        out["slurm_job_ids"] = [str(i) for i in ids]
    return out


def _reason(exc: BaseException) -> str:
    """Return ``exc`` as a short line that names its type and holds no credentials."""
    text = _redacted(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _redacted(text: str) -> str:
    """Return ``text`` on one line, at most 200 characters, its URLs without credentials."""
    return _URL.sub(lambda url: redact_url(url.group()), " ".join(text.split()))[:200]


def _as_utc(value: _dt.datetime | float | str | None, label: str) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = _dt.datetime.fromtimestamp(float(value), tz=_dt.timezone.utc)
    elif isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{label}={value!r} is not an ISO 8601 time (e.g. '2026-01-31T12:00:00Z')"
            ) from None
    else:
        raise ValueError(
            f"{label} must be a datetime, seconds since the epoch or an ISO 8601 string, "
            f"not {type(value).__name__}"
        )
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive means local time
    return moment.astimezone(_dt.timezone.utc)


def _iso(moment: _dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
