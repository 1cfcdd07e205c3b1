"""Labelled collections, ready for :mod:`awiml.features` and a classifier.

- :func:`synthetic_calls` (``calls.py``): acoustic recordings of four call types;
- :class:`ImageDataset` and :func:`plankton_images` (``images.py``): labelled
  plankton images from an EcoTaxa export, any table, or a folder in the layout
  of EcoTaxa's machine-learning template.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
