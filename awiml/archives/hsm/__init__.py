"""HSM: AWI's tape archive (SAM-QFS / Versity ScoutAM), reached over SSH and SFTP.

- ``_sls.py``: :func:`parse_sls` reads the file states that ``sls -D`` prints
  (:class:`SlsRecord`, with its :class:`SlsCopy` and :class:`SlsSection`).
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
