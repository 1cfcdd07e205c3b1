"""Archive sources: one fsspec filesystem per data archive.

Each source derives from :class:`ArchiveFileSystem` and talks to its archive
over real HTTP or SFTP through the shared session made by :func:`http_session`.
Names resolve lazily, so importing this package stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=[
        "base",
        "cache",
        "ecotaxa",
        "http",
        "pangaea",
        "pangaea_model",
        "pangaea_panmd",
        "pangaea_text",
    ],
    submod_attrs={
        "base": [
            "DEFAULT_TIMEOUT",
            "RETRY_STATUSES",
            "ArchiveFileSystem",
            "AwimlSession",
            "RemoteFile",
            "expand_fsspec_path",
            "http_session",
            "netrc_credentials",
        ],
        "cache": ["ArchiveCache", "default_cache_dir"],
        "ecotaxa": ["EcotaxaSource", "read_tsv"],
        "pangaea": ["PangaeaSource", "read_text"],
        "pangaea_model": ["DatasetMetadata", "Event", "Parameter", "dataset_id", "normalize_doi"],
    },
)
