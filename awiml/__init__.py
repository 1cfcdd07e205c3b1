"""awiml: from raw archived data to an archived, reproducible classifier.

Public names resolve on first use (SPEC 1 lazy loading through
``lazy_loader``), so ``import awiml`` stays fast and imports no Keras, torch,
dask, scikit-learn or xarray. The names and their types are listed in
``__init__.pyi``. Module paths of 0.1.0 that moved still import
(:mod:`awiml._moved`).
"""

import lazy_loader as _lazy

from . import _moved
from ._version import __version__

_moved.install()

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
__all__ = [*__all__, "__version__"]
