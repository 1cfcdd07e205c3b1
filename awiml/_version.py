"""The version of awiml (single source for packaging and ``awiml --version``)."""

__version__ = "0.2.0.dev0"
