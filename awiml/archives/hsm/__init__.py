"""HSM: AWI's tape archive (SAM-QFS / Versity ScoutAM), reached over SSH and SFTP.

- ``_sls.py``: :func:`parse_sls` reads the file states that ``sls -D`` prints
  (:class:`SlsRecord`, with its :class:`SlsCopy` and :class:`SlsSection`).
- ``source.py``: :class:`HSMSource`, the fsspec file system (protocol ``hsm``).
- ``_ssh.py``: the SSH connection (sshfs on asyncssh), commands, SFTP reads, errors.
- ``_staging.py``: the order of a stage request; waiting with back-off and progress.
- ``_copy.py``: staged files copied into a local folder with the transfer engine.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
