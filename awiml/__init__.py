"""awiml: from raw archived data to an archived, reproducible classifier.

Public names resolve on first use (SPEC 1 lazy loading through
``lazy_loader``), so ``import awiml`` stays fast and imports no Keras, torch,
dask, scikit-learn or xarray. The names and their types are listed in
``__init__.pyi``.
"""

import lazy_loader as _lazy

from ._version import __version__

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
__all__ = [*__all__, "__version__"]
