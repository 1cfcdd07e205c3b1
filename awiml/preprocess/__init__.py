"""Cleaning archive tables with scikit-learn transformers, and stacking them.

The transformers (``transformers.py``) go from table to table:
:class:`HarmoniseColumns`, :class:`ConvertUnits`, :class:`QualityFilter` and
:class:`DropMissing`; :func:`concat_tables` (``concat.py``) stacks tables and
records where each row came from. Units travel in ``DataFrame.attrs``.
"""
import lazy_loader as _lazy

__getattr__, __dir__, _quoted = _lazy.attach_stub(__name__, __file__)
# Private names in the stub are there for models stored by their dotted path.
__all__ = [name for name in _quoted if not name.startswith("_")]
