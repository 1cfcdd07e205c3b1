"""The version of awiml (single source for packaging and ``awiml --version``)."""

__version__ = "0.1.0"
