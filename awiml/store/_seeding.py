"""One call that seeds every random generator a training run uses, and remembers it.

:func:`awiml.set_seed` seeds Python's :mod:`random`, NumPy's global generator
and Keras (with its backend), and keeps the seed in this process, so that
:meth:`awiml.store.ModelStore.save` records it in the ``seeds`` section of the
provenance without any code in the training script.
"""

from __future__ import annotations

import datetime as _dt
import importlib.abc
import importlib.util
import os
import random
import sys
from typing import Any

from ..errors import InvalidDataError

__all__ = ["set_seed"]

#: The largest seed: NumPy's global generator takes 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1

_SEEDED: dict[str, Any] = {}


def set_seed(seed: int) -> int:
    """Seed Python's ``random``, NumPy's global generator and Keras, and record the seed.

    Keras (``keras.utils.set_random_seed``, which also seeds its backend:
    PyTorch, TensorFlow or JAX) is seeded at once when it is imported, else
    the moment it is first imported (importing it takes seconds, which a
    scikit-learn run should not pay). The seed and
    what it seeded are kept in this process: every later
    :meth:`ModelStore.save <awiml.store.ModelStore.save>` records them as the
    ``seeds`` section of its provenance.

    Parameters
    ----------
    seed : int
        A whole number from 0 to ``2**32 - 1``.

    Returns
    -------
    int
        ``seed``, so that ``seed = awiml.set_seed(7)`` reads well.

    Raises
    ------
    awiml.errors.InvalidDataError
        If ``seed`` is not a whole number in that range (a bool is refused).

    Notes
    -----
    Seeds make a run repeatable, not necessarily bit-identical on other
    hardware: multi-threaded BLAS and GPU kernels may still sum in another
    order. Python's string hashing is seeded only by the ``PYTHONHASHSEED``
    environment variable before the interpreter starts; its value is
    recorded too.

    Examples
    --------
    >>> import random
    >>> set_seed(7)
    7
    >>> first = random.random()
    >>> _ = set_seed(7)
    >>> random.random() == first
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidDataError(
            f"set_seed: {seed!r} is not a valid seed; give a whole number from 0 to "
            f"{MAX_SEED} (2**32 - 1), e.g. awiml.set_seed(42)"
        )
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator is what scripts and libraries use
    keras = sys.modules.get("keras")
    _SEEDED.clear()
    _SEEDED.update({
        "seed": int(seed), "python": True, "numpy": True, "keras": keras is not None,
        "set_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    })
    if keras is not None:
        keras.utils.set_random_seed(seed)
    elif importlib.util.find_spec("keras") is not None:
        _seed_keras_on_import()
    return int(seed)


class _SeedingLoader(importlib.abc.Loader):
    """Run Keras's own loader, then seed Keras with the seed of :func:`set_seed`."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        if _SEEDED.get("seed") is not None:
            module.utils.set_random_seed(_SEEDED["seed"])
            _SEEDED["keras"] = True

    def __getattr__(self, name: str) -> Any:  # resource readers and the like
        return getattr(self._loader, name)


class _SeedKerasOnImport(importlib.abc.MetaPathFinder):
    """Seed Keras when it is first imported (importing it for nothing takes seconds)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "keras":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SeedKerasOnImport)]
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _SeedingLoader(spec.loader)
        return spec


def _seed_keras_on_import() -> None:
    if not any(isinstance(f, _SeedKerasOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _SeedKerasOnImport())


def seeds_section() -> dict[str, Any]:
    """Return the ``seeds`` section of a provenance: what :func:`set_seed` seeded here.

    Returns
    -------
    dict
        ``{"seed": None}`` when :func:`set_seed` was not called in this
        process, else ``seed``, ``python``, ``numpy``, ``keras`` (what was
        seeded) and ``set_at`` (UTC, ISO 8601); with ``PYTHONHASHSEED`` when
        that environment variable is set.

    Examples
    --------
    >>> _ = set_seed(3)
    >>> section = seeds_section()
    >>> section["seed"], section["numpy"]
    (3, True)
    """
    section: dict[str, Any] = dict(_SEEDED) if _SEEDED else {"seed": None}
    hash_seed = os.environ.get("PYTHONHASHSEED")
    if hash_seed is not None:
        section["PYTHONHASHSEED"] = hash_seed
    return section
