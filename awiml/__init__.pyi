from . import archives as archives
from . import classify as classify
from . import datasets as datasets
from . import errors as errors
from . import features as features
from . import preprocess as preprocess
from . import testing as testing
from . import units as units
from ._version import __version__ as __version__
from .archives.ecotaxa import EcotaxaSource as EcotaxaSource
from .archives.pangaea import PangaeaSource as PangaeaSource
from .store import ModelStore as ModelStore
from .workspace import Workspace as Workspace

__all__ = [
    "EcotaxaSource",
    "ModelStore",
    "PangaeaSource",
    "Workspace",
    "__version__",
    "archives",
    "classify",
    "datasets",
    "errors",
    "features",
    "preprocess",
    "testing",
    "units",
]
