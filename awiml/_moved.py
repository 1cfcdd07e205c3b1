"""Module paths of awiml 0.1.0 that moved when the package was laid out by concern.

Code written for 0.1.0 keeps working: ``import awiml.transfer`` gives the
module at its new path (the same module object, not a copy), with a
:class:`DeprecationWarning` that names the new path. ``import awiml`` installs
the finder on :data:`sys.meta_path`; it acts only on the names in :data:`MOVED`.
Classes that stored models name were pinned to their public paths, which did
not change.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec
from types import ModuleType

#: Old module path -> new module path.
MOVED: dict[str, str] = {
    "awiml.transfer": "awiml.archives.transfer",
    "awiml.manifest": "awiml.workspace.manifest",
    "awiml.provenance": "awiml.store.provenance",
    "awiml.serialize": "awiml.store.serialize",
    "awiml.image_dataset": "awiml.datasets.images",
    "awiml.archives.pangaea_text": "awiml.archives.pangaea.text",
    "awiml.archives.pangaea_panmd": "awiml.archives.pangaea.panmd",
    "awiml.archives.pangaea_model": "awiml.archives.pangaea.model",
    "awiml.archives.ecotaxa_tsv": "awiml.archives.ecotaxa.tsv",
}


class MovedModuleFinder:
    """Import a module's old path as the module at its new path (see :data:`MOVED`).

    Examples
    --------
    >>> import sys, warnings
    >>> _ = sys.modules.pop("awiml.archives.pangaea_text", None)  # warn even if imported before
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     from awiml.archives.pangaea_text import read_text
    >>> read_text.__module__
    'awiml.archives.pangaea.text'
    >>> "awiml.archives.pangaea.text" in str(caught[0].message)
    True
    """

    def __init__(self) -> None:
        self._specs: dict[str, ModuleSpec | None] = {}

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> ModuleSpec | None:
        """Claim the old paths of :data:`MOVED`, and nothing else."""
        return ModuleSpec(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        """Import the module at its new path and hand it out under the old one."""
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new} in awiml 0.2.0; import it from there (or its "
            "names from the package above it). The old path will go in a later release.",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Give the module back its own spec, which the import system overwrote."""
        alias = module.__spec__.name if module.__spec__ is not None else None
        if alias in self._specs:
            module.__spec__ = self._specs.pop(alias)


def install() -> None:
    """Put one :class:`MovedModuleFinder` on :data:`sys.meta_path` (idempotent)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
