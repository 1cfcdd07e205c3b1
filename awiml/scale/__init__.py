"""Dask clusters for awiml's heavy steps: a laptop, a data-centre node, the AWI HPC.

- :func:`local_cluster` (``clusters.py``): worker processes on this machine;
- :func:`hpc_cluster` (``clusters.py``): a ``dask_jobqueue.SLURMCluster`` from a
  profile of ``jobqueue.yaml`` (the AWI HPC's, or a file of your own);
- :func:`load_profile` (``clusters.py``): the settings of such a profile.

The same code runs on either: ``Client(cluster)``, then ``features.extract(...,
backend="dask")``. Dask is imported only when a cluster is made.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
