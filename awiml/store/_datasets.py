"""The training data of a version grouped into datasets: the ``datasets`` of a ``version.json``.

A version's ``data`` lists every file; :func:`group_datasets` groups them by
where they came from, so that a card and a re-run can name a handful of
datasets instead of thousands of files. The groups, by the first rule that
fits a reference:

``pangaea``
    One PANGAEA dataset: a DOI ``10.1594/PANGAEA.<n>`` (recorded, or in the
    source) or a ``pangaea://<n>/...`` source.
``ecotaxa``
    One EcoTaxa project's export or query: ``ecotaxa://<project>/...``.
``o2a``
    One O2A extract: its ``o2a://`` URL.
``hsm``
    One folder of the HSM tape archive: the ``hsm://`` files that share a
    top folder under ``raw/``, with their common folder as the source.
``folder``
    The other files under one top folder of a workspace's ``raw/``.
``file``
    A file directly in ``raw/``, or a local file outside any workspace (by
    its name).
``url``
    A reference to a URL or DOI without a file.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .provenance import dataset_digest

#: What a dataset's ``kind`` can be.
DATASET_KINDS = ("pangaea", "ecotaxa", "o2a", "hsm", "url", "folder", "file")

_PANGAEA_DOI = re.compile(r"10\.1594/PANGAEA\.\d+", re.IGNORECASE)


def group_datasets(refs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Group data references into datasets.

    Parameters
    ----------
    refs : iterable of mapping
        The ``data`` references of a version.

    Returns
    -------
    list of dict
        Sorted by kind and name; each ``{"name", "kind", "source", "files",
        "size", "digest"}``: ``files`` counts the references, ``size`` sums
        their known sizes in bytes and ``digest`` is
        :func:`awiml.store.provenance.dataset_digest` of them.

    Examples
    --------
    >>> refs = [{"path": "889513/data.tab", "source": "pangaea://889513/data.tab",
    ...          "size": 10, "sha256": "sha256:00"},
    ...         {"path": "ps103/ctd.tab", "source": "https://example.org/ps103/ctd.tab",
    ...          "size": 5, "sha256": "sha256:11"}]
    >>> for d in group_datasets(refs):
    ...     print(d["kind"], d["name"], d["source"], d["files"], d["size"])
    folder ps103 https://example.org/ps103/ 1 5
    pangaea 10.1594/PANGAEA.889513 10.1594/PANGAEA.889513 1 10
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for ref in refs:
        groups.setdefault(_group_of(ref), []).append(ref)
    out = []
    for (kind, name), members in sorted(groups.items()):
        source: str | None = name
        if kind in ("folder", "hsm"):
            source = _common_folder([str(r.get("source") or "") for r in members])
            if kind == "hsm" and source:
                name = source.removeprefix("hsm://")
        elif kind == "file":
            source = members[0].get("source") if len(members) == 1 else None
        out.append({
            "name": name,
            "kind": kind,
            "source": source,
            "files": len(members),
            "size": sum(r["size"] for r in members
                        if isinstance(r.get("size"), int) and not isinstance(r["size"], bool)),
            "digest": dataset_digest(members),
        })
    return out


def _group_of(ref: Mapping[str, Any]) -> tuple[str, str]:
    """Return ``(kind, key)`` of the dataset a reference belongs to."""
    source = str(ref.get("source") or "")
    path = str(ref.get("path") or "")
    doi = _PANGAEA_DOI.search(str(ref.get("doi") or "")) or _PANGAEA_DOI.search(source)
    if doi:
        return "pangaea", "10.1594/PANGAEA." + doi.group().rpartition(".")[2]
    if source.startswith("pangaea://"):
        ident = source[len("pangaea://"):].strip("/").split("/")[0]
        return "pangaea", f"10.1594/PANGAEA.{ident}" if ident.isdigit() else source
    if source.startswith("ecotaxa://"):
        return "ecotaxa", "ecotaxa://" + source[len("ecotaxa://"):].strip("/").split("/")[0]
    if source.startswith("o2a://"):
        return "o2a", source
    top = path.split("/", 1)[0] if "/" in path else ""
    if source.startswith("hsm://"):
        return "hsm", top or posixpath.dirname(source)
    if top:
        return "folder", top
    if path or ref.get("name"):
        return "file", path or str(ref["name"])
    return "url", str(ref.get("doi") or source)


def _common_folder(sources: list[str]) -> str | None:
    """Return the folder (ending in ``/``) all ``sources`` share, or None."""
    if not sources or not all(sources):
        return None
    prefix = posixpath.commonprefix(sources)
    prefix = prefix[:prefix.rfind("/") + 1]
    return prefix if prefix and not prefix.endswith("://") else None
