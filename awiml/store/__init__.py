"""The ModelStore: versioned models with their provenance, in a plain folder.

- :class:`ModelStore` (``modelstore.py``): save, load, versions, aliases, verify;
- ``serialize.py``: models to files and back without pickle, under a trust
  policy (``_trust_policy.py``);
- ``provenance.py``: the code, environment, machine and time of a training run,
  how it was started (``_run``) and its seeds (``_seeding``: :func:`set_seed`);
- ``_predict.py``: :func:`predict`, a stored model applied to many files, locally or
  on a Dask cluster;
- ``reproduce/``: the building blocks of reproducing a stored version (its
  inputs, its code at the recorded commit, the comparisons and the report);
- ``card.py``: the Markdown model card; private helpers: a version's record
  (``_record``), sealing its files (``_seal``), post-load checks
  (``_model_checks``), a Keras work-around (``_keras_skipsets``).
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
