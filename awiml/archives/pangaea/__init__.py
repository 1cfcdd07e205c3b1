"""PANGAEA: the source (fsspec protocol ``pangaea``), its formats and its metadata model.

- :class:`PangaeaSource` (``source.py``): search, metadata, typed reading, fetch;
- ``text.py``: PANGAEA's tab-delimited text (:func:`read_text`, :func:`read_metadata`);
- ``panmd.py``: panmd XML records (:func:`parse_panmd`, :func:`write_panmd`);
- ``model.py``: :class:`DatasetMetadata`, :class:`Parameter`, :class:`Event`, DOIs.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
