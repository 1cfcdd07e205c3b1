"""EcoTaxa: the source (fsspec protocol ``ecotaxa``) and its TSV tables.

- :class:`EcotaxaSource` (``source.py``): login, projects, queries, export jobs;
- ``tsv.py``: EcoTaxa's TSV tables, export and import format (:func:`read_tsv`);
- private helpers: credentials and tokens (``_auth``), queries (``_query``),
  export jobs and zips (``_jobs``, ``_export``).
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
