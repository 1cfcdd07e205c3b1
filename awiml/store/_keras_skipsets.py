"""Work around Keras 3 rebuilding its attribute skip sets on every save and load.

Keras finds the attributes to skip when saving weights by building throw-away
objects (``Layer()``, ``Optimizer(1.0)``...), about 2 ms per call, and means to
cache them, but ``get_attr_skipset`` looks the cache up under
``saving_attr_skiplist_<kind>`` and stores it under ``saving_attr_skipset_<kind>``
(Keras 3.x internals), so the cache never hits. :func:`lend_skipsets` builds
each set once per process with Keras' own function and puts it where Keras
looks, only during awiml's own save or load; where the internals differ, it
does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: The kinds of saveable objects Keras builds skip sets for (``Cross`` and
#: ``Feature`` of the feature space are rare and left to Keras).
KINDS = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")

_LOOKUP_KEY = "saving_attr_skiplist_{}"
_built: dict[str, Any] = {}
_usable: bool | None = None


def _internals() -> tuple[Any, Any] | None:
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib
    except ImportError:
        return None
    if not (hasattr(saving_lib, "get_attr_skipset")
            and hasattr(global_state, "get_global_attribute")
            and hasattr(global_state, "set_global_attribute")):
        return None
    return saving_lib, global_state


def _build() -> bool:
    """Build the skip sets once; return whether lending them helps this Keras."""
    global _usable
    if _usable is not None:
        return _usable
    _usable = False
    internals = _internals()
    if internals is None:
        return False
    saving_lib, global_state = internals
    key = _LOOKUP_KEY.format("Layer")
    if global_state.get_global_attribute(key) is not None:
        return False  # someone already put it there: leave Keras alone
    try:
        built = {kind: saving_lib.get_attr_skipset(kind) for kind in KINDS}
    except Exception:  # any surprise inside Keras: do nothing
        return False
    if global_state.get_global_attribute(key) is not None:
        return False  # Keras cached it where it looks: the cache works, nothing to do
    if not all(isinstance(value, (set, frozenset)) for value in built.values()):
        return False
    _built.update(built)
    _usable = True
    return True


@contextlib.contextmanager
def lend_skipsets() -> Iterator[None]:
    """Let Keras find its attribute skip sets while the body runs (in this thread).

    Keras keeps its global state per thread; the sets are taken back afterwards,
    unless someone else set them meanwhile.
    """
    if not _build():
        yield
        return
    _, global_state = _internals()  # type: ignore[misc]
    lent = []
    for kind, skipset in _built.items():
        key = _LOOKUP_KEY.format(kind)
        if global_state.get_global_attribute(key) is None:
            global_state.set_global_attribute(key, skipset)
            lent.append((key, skipset))
    try:
        yield
    finally:
        for key, skipset in lent:
            if global_state.get_global_attribute(key) is skipset:
                global_state.set_global_attribute(key, None)
