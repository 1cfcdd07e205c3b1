"""The workspace manifest: what is in ``raw/`` and where it came from.

``raw/MANIFEST`` is a JSON Lines file: one JSON object per file in ``raw/``
with the fields of :class:`ManifestEntry`, sorted by path, keys in a fixed
order, so it diffs well under git. It is always replaced whole, atomically.

Each line says how far its ``sha256`` can be trusted: ``digest_source`` is
``"published"`` when the file was checked against a checksum the archive
published (or the caller gave), and ``"computed"`` when the digest was only
computed on arrival, so a body corrupted in transit would have been recorded
all the same. It follows from ``published_checksum``, which lines written
before the key existed already carry, so old manifests read the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import atomic_write
from ..errors import InvalidDataError

__all__ = [
    "DIGEST_SOURCES",
    "MANIFEST_COLUMNS",
    "ManifestEntry",
    "read_manifest",
    "utc_stamp",
    "write_manifest",
]

#: The values of :attr:`ManifestEntry.digest_source`: checked against a
#: checksum the archive published, or only computed when the file arrived.
DIGEST_SOURCES = ("published", "computed")

#: Column order of the manifest, as written and as returned by ``Workspace.manifest()``.
MANIFEST_COLUMNS = (
    "path",
    "source",
    "size",
    "sha256",
    "retrieved",
    "awiml_version",
    "published_checksum",
    "digest_source",
    "metadata",
)


@dataclass(frozen=True)
class ManifestEntry:
    """One file recorded in ``raw/MANIFEST``.

    Parameters
    ----------
    path : str
        Path relative to ``raw/`` with ``/`` separators.
    source : str
        Where the file came from (URL, DOI, archive path), without credentials.
    size : int
        Size in bytes.
    sha256 : str
        ``"sha256:<hex>"`` of the content.
    retrieved : str
        UTC retrieval time, ISO 8601.
    awiml_version : str
        Version of awiml that wrote the entry.
    published_checksum : str or None
        The archive's checksum that was verified, if any.
    metadata : Mapping
        Source-specific metadata (DOI, licence, citation, job id...).

    Attributes
    ----------
    digest_source : str
        ``"published"`` or ``"computed"`` (see :data:`DIGEST_SOURCES`).

    Examples
    --------
    >>> e = ManifestEntry("a.tab", "https://example.org/a.tab", 4, "sha256:00",
    ...                   "2026-01-01T00:00:00Z", "0.1.0")
    >>> ManifestEntry.from_json(e.to_json()) == e
    True
    >>> e.digest_source
    'computed'
    """

    path: str
    source: str
    size: int
    sha256: str
    retrieved: str
    awiml_version: str
    published_checksum: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def digest_source(self) -> str:
        """Whether ``sha256`` rests on a checksum the archive published or was only computed.

        ``"published"``: the file was checked on arrival against
        ``published_checksum``. ``"computed"``: the archive published none
        (PANGAEA's text exports, plain web servers, local files), so the
        digest was computed from the bytes as they arrived; :meth:`Workspace.verify
        <awiml.workspace.Workspace.verify>` can show that the file has not
        changed since, not that it arrived intact.
        """
        return DIGEST_SOURCES[0] if self.published_checksum else DIGEST_SOURCES[1]

    def to_json(self) -> str:
        """Return the entry as one line of JSON, keys in :data:`MANIFEST_COLUMNS` order.

        ``digest_source`` is written for people and other tools to read; it
        is derived from ``published_checksum`` and not read back.
        """
        record = {name: getattr(self, name) for name in MANIFEST_COLUMNS}
        if record["published_checksum"] is None:
            del record["published_checksum"]
        record["metadata"] = dict(sorted(self.metadata.items()))
        return json.dumps(record, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, line: str) -> ManifestEntry:
        """Parse one manifest line.

        Parameters
        ----------
        line : str
            A JSON object as written by :meth:`to_json`.

        Returns
        -------
        ManifestEntry
            The entry.

        Raises
        ------
        ValueError
            If the line is not JSON or lacks a required key.

        Notes
        -----
        A line without ``digest_source`` (written before awiml recorded it)
        reads the same: the value follows from ``published_checksum``.
        """
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("a manifest line must be a JSON object")
        missing = [k for k in MANIFEST_COLUMNS[:6] if k not in record]
        if missing:
            raise ValueError(f"missing keys {missing}")
        values: dict[str, Any] = {name: str(record[name]) for name in MANIFEST_COLUMNS[:6]}
        values["size"] = int(record["size"])
        return cls(
            **values,
            published_checksum=record.get("published_checksum"),
            metadata=dict(record.get("metadata") or {}),
        )


def read_manifest(path: str | os.PathLike[str]) -> dict[str, ManifestEntry]:
    """Read a manifest file into a mapping from relative path to entry.

    Parameters
    ----------
    path : path-like
        The ``MANIFEST`` file. A missing file is an empty manifest.

    Returns
    -------
    dict of str to ManifestEntry
        Entries keyed by their ``path``.

    Raises
    ------
    InvalidDataError
        If a line cannot be parsed; the message names the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    entries: dict[str, ManifestEntry] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = ManifestEntry.from_json(line)
        except (ValueError, TypeError) as exc:
            raise InvalidDataError(
                f"{path}, line {number}: not a valid manifest entry ({exc}). Repair or remove "
                "that line (the files in raw/ are untouched), then run Workspace.verify()."
            ) from None
        entries[entry.path] = entry
    return entries


def write_manifest(
    path: str | os.PathLike[str],
    entries: Iterable[ManifestEntry],
    *,
    tmp_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Write entries sorted by path, replacing the file atomically.

    Parameters
    ----------
    path : path-like
        The ``MANIFEST`` file to write.
    entries : iterable of ManifestEntry
        All entries; the file holds exactly these afterwards.
    tmp_dir : path-like, optional
        Where to write the new version before the rename (same file system).

    Raises
    ------
    OSError
        The new version could not be written; the file is as before.
    """
    lines = [entry.to_json() for entry in sorted(entries, key=lambda e: e.path)]
    atomic_write(path, "".join(line + "\n" for line in lines), tmp_dir=tmp_dir)


def utc_stamp() -> str:
    """Return the time now in UTC as ``YYYY-MM-DDTHH:MM:SSZ``, as the manifest writes times.

    Examples
    --------
    >>> len(utc_stamp()), utc_stamp()[-1]
    (20, 'Z')
    """
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
