"""The project workspace: its folder layout, fetching into ``raw/``, and the manifest.

- :class:`Workspace` (``workspace.py``): layout, :meth:`~Workspace.fetch`,
  :meth:`~Workspace.verify`;
- ``manifest.py``: the format of ``raw/MANIFEST`` (:class:`ManifestEntry`).
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
