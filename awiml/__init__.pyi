from . import archives as archives
from . import errors as errors
from . import testing as testing
from ._version import __version__ as __version__
from .archives.pangaea import PangaeaSource as PangaeaSource
from .workspace import Workspace as Workspace

__all__ = ["PangaeaSource", "Workspace", "__version__", "archives", "errors", "testing"]
