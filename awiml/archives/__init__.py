"""Archive sources: one fsspec filesystem per data archive, and what they share.

Each source derives from :class:`ArchiveFileSystem` and talks to its archive
over real HTTP through the session made by :func:`http_session`; every file
it hands out is copied by the one download engine (:func:`download`).
Subpackages: :mod:`awiml.archives.pangaea`, :mod:`awiml.archives.ecotaxa`.
Names resolve lazily, so importing this package stays cheap.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
