# Public names of awiml.archives.o2a, loaded on first use (SPEC 1).
from .source import PlatformSource as PlatformSource

__all__ = ["PlatformSource"]
