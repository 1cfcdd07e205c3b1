"""Dask clusters: worker processes on this machine, or SLURM jobs on the AWI HPC.

The user's code is the same on both: make a cluster, connect a ``Client`` to it,
run awiml's heavy steps (``features.extract(..., backend="dask")``, scikit-learn
searches under joblib's Dask backend). Dask, distributed and dask-jobqueue are
imported inside the functions (``pip install 'awiml[dask]'``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AwimlError, InvalidDataError, NotFoundError

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster
    from distributed import LocalCluster

__all__ = ["PROFILES", "hpc_cluster", "load_profile", "local_cluster"]

#: The bundled profiles, one per top-level key (``awi-hpc``, ``local-slurm``).
PROFILES = Path(__file__).with_name("jobqueue.yaml")

_INSTALL = "pip install 'awiml[dask]'"
# Parameters of SLURMCluster that a profile must not set: awiml or dask-jobqueue sets them.
_RESERVED = {"self", "scheduler", "name", "job_cls", "config_name", "base_class_kwargs",
             "job_kwargs", "loop", "asynchronous"}


def _settings_of_slurm_cluster() -> set[str]:
    """Return the keyword arguments ``dask_jobqueue.SLURMCluster`` accepts."""
    try:
        from dask_jobqueue.core import Job, JobQueueCluster
        from dask_jobqueue.slurm import SLURMJob
    except ImportError:
        raise AwimlError(f"SLURM clusters need dask-jobqueue: {_INSTALL}") from None
    names: set[str] = set()
    for function in (SLURMJob.__init__, Job.__init__, JobQueueCluster.__init__):
        names.update(inspect.signature(function).parameters)
    return names - _RESERVED


def _checked(settings: dict[str, Any], where: str,
             error: type[AwimlError] = AwimlError) -> dict[str, Any]:
    """Return ``settings`` with ``-`` in names turned to ``_``; refuse unknown names."""
    known = _settings_of_slurm_cluster()
    normal = {str(key).replace("-", "_"): value for key, value in settings.items()}
    unknown = sorted(set(normal) - known)
    if unknown:
        raise error(
            f"{where} sets {', '.join(map(repr, unknown))}, which dask_jobqueue.SLURMCluster "
            f"does not know. Use its keyword arguments ({', '.join(sorted(known))}); see "
            "https://jobqueue.dask.org/en/latest/generated/dask_jobqueue.SLURMCluster.html"
        )
    return normal


def _split(profile: str) -> tuple[Path, str | None]:
    """Return the YAML file and the profile name in it that ``profile`` designates."""
    path = Path(profile).expanduser()
    if path.suffix in {".yaml", ".yml"} or path.is_file():
        return path, None
    file, colon, name = profile.rpartition(":")
    if colon and Path(file).suffix in {".yaml", ".yml"}:
        return Path(file).expanduser(), name
    return PROFILES, profile


def load_profile(profile: str = "awi-hpc") -> dict[str, Any]:
    """Return the ``SLURMCluster`` settings of a profile.

    Parameters
    ----------
    profile : str, default="awi-hpc"
        A profile of awiml's bundled ``jobqueue.yaml`` (``"awi-hpc"``, the AWI HPC;
        ``"local-slurm"``, the single-node SLURM of ``tools/slurm-cluster.sh``), a
        YAML file of your own with one profile (``"profiles.yaml"``) or a profile in
        such a file (``"profiles.yaml:big"``). A file holds one mapping per profile,
        of ``dask_jobqueue.SLURMCluster``'s keyword arguments.

    Returns
    -------
    dict
        The keyword arguments for ``dask_jobqueue.SLURMCluster``; ``None`` values
        leave dask-jobqueue's default.

    Raises
    ------
    NotFoundError
        When the file or the profile does not exist; the message lists the profiles.
    InvalidDataError
        When the file is not YAML, a profile is not a mapping or sets an argument
        ``SLURMCluster`` does not know.

    Examples
    --------
    >>> from awiml.scale import load_profile
    >>> settings = load_profile("awi-hpc")
    >>> settings["queue"], settings["cores"], settings["memory"], settings["interface"]
    ('smp', 8, '16GB', 'ib0')
    """
    import yaml

    path, name = _split(profile)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"the SLURM profile file {path} does not exist. Pass the path of a YAML file "
            f"of profiles, or the name of a bundled profile ({', '.join(_names(PROFILES))})"
        ) from None
    try:
        profiles = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidDataError(f"the SLURM profile file {path} is not valid YAML: {exc}. "
                               "Fix the file (see awiml/scale/jobqueue.yaml for the layout)."
                               ) from None
    if not isinstance(profiles, dict) or not profiles:
        raise InvalidDataError(
            f"the SLURM profile file {path} holds no profiles: it must map profile names "
            "to SLURMCluster settings (see awiml/scale/jobqueue.yaml for the layout)"
        )
    if name is None:
        if len(profiles) > 1:
            raise NotFoundError(
                f"the SLURM profile file {path} holds several profiles "
                f"({', '.join(map(str, profiles))}); name one: '{path}:NAME'"
            )
        name = next(iter(profiles))
    if name not in profiles:
        raise NotFoundError(
            f"there is no SLURM profile {name!r} in {path}; it has "
            f"{', '.join(map(str, profiles))}. Pick one of them, or pass a YAML file of "
            "your own ('profiles.yaml' or 'profiles.yaml:NAME')"
        )
    settings = profiles[name]
    if not isinstance(settings, dict):
        raise InvalidDataError(
            f"the SLURM profile {name!r} in {path} is not a mapping of SLURMCluster "
            "settings (queue, cores, memory, walltime, ...); fix the file"
        )
    return _checked(settings, f"the SLURM profile {name!r} in {path}", InvalidDataError)


def _names(path: Path) -> list[str]:
    import yaml

    return [str(name) for name in yaml.safe_load(path.read_text("utf-8"))]


def hpc_cluster(profile: str = "awi-hpc", **overrides: Any) -> SLURMCluster:
    """Return a ``dask_jobqueue.SLURMCluster`` set up by a profile; no job runs yet.

    The scheduler starts in this process (on an HPC's login node, say); each
    ``cluster.scale(jobs=N)`` submits N SLURM jobs whose workers join it. Connect
    with ``Client(cluster)``, as to :func:`local_cluster`'s cluster.

    Parameters
    ----------
    profile : str, default="awi-hpc"
        The profile (see :func:`load_profile`): ``"awi-hpc"``, ``"local-slurm"``, or
        a YAML file of your own.
    **overrides
        ``SLURMCluster`` keyword arguments that replace the profile's, e.g.
        ``cores=16, memory="32GB", walltime="04:00:00", account="myproject"``.

    Returns
    -------
    dask_jobqueue.SLURMCluster
        Close it (``cluster.close()`` or a ``with`` block) to cancel its jobs.

    Raises
    ------
    NotFoundError, InvalidDataError
        For a profile that does not exist or is malformed (see :func:`load_profile`).
    AwimlError
        When dask-jobqueue is not installed, or an override is no argument of
        ``SLURMCluster``.

    Examples
    --------
    The job script the AWI HPC would run (made here, off the HPC, on the loopback
    interface: the profile's ``ib0`` exists on the HPC's nodes only):

    >>> from awiml.scale import hpc_cluster
    >>> cluster = hpc_cluster("awi-hpc", interface="lo")
    >>> script = cluster.job_script()
    >>> "#SBATCH -p smp" in script and "#SBATCH --cpus-per-task=8" in script
    True
    >>> cluster.close()
    """
    settings = {**load_profile(profile), **_checked(overrides, "hpc_cluster()")}
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(**settings)


def local_cluster(n_workers: int | None = None, *, threads_per_worker: int = 1,
                  processes: bool = True, **kwargs: Any) -> LocalCluster:
    """Return a ``distributed.LocalCluster`` of worker processes on this machine.

    The laptop's and the data-centre node's counterpart of :func:`hpc_cluster`:
    the same code then runs on either (``Client(cluster)``).

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; by default one per CPU core.
    threads_per_worker : int, default=1
        One thread per process suits awiml's Python-bound extractors and fits.
    processes : bool, default=True
        Workers in processes of their own (``False``: threads of this process).
    **kwargs
        Further ``distributed.LocalCluster`` arguments (``memory_limit``, ...).

    Returns
    -------
    distributed.LocalCluster
        Close it (``cluster.close()`` or a ``with`` block) to stop its workers.

    Raises
    ------
    AwimlError
        When dask.distributed is not installed.

    Examples
    --------
    >>> from dask.distributed import Client
    >>> from awiml.scale import local_cluster
    >>> with local_cluster(n_workers=1) as cluster, Client(cluster) as client:
    ...     client.submit(sum, [1, 2, 3]).result()
    6
    """
    try:
        from distributed import LocalCluster
    except ImportError:
        raise AwimlError(f"local_cluster() needs dask.distributed: {_INSTALL}") from None
    kwargs.setdefault("dashboard_address", ":0")
    return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                        processes=processes, **kwargs)
