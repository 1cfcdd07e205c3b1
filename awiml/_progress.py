"""Progress bars (tqdm's notebook widget where it can render, its text bar elsewhere) and sizes."""

from __future__ import annotations

import importlib.util
from typing import Any


def progress_bar(*, enabled: bool = True, **kwargs: Any) -> Any:
    """Return a tqdm progress bar, disabled unless ``enabled``.

    The Jupyter widget only for a visible bar with ipywidgets installed
    (importing ``tqdm.auto`` without them warns even when the bar is off),
    tqdm's plain text bar otherwise.

    Parameters
    ----------
    enabled : bool, optional
        Show the bar; ``False`` makes a silent, disabled bar.
    **kwargs
        Passed to :class:`tqdm.tqdm` (``total``, ``unit``, ``desc``...).

    Returns
    -------
    tqdm.tqdm
        The bar; use it as a context manager or call ``close()``.

    Examples
    --------
    >>> with progress_bar(enabled=False, total=3) as bar:
    ...     bar.update(3)
    """
    if enabled and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(disable=not enabled or kwargs.pop("disable", False), **kwargs)


def human_size(nbytes: int) -> str:
    """Write a number of bytes for people, in binary units.

    Parameters
    ----------
    nbytes : int
        The size in bytes.

    Returns
    -------
    str
        E.g. ``"512 B"`` or ``"1.5 MiB"``.

    Examples
    --------
    >>> human_size(512), human_size(3 * 1024**2 // 2)
    ('512 B', '1.5 MiB')
    """
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
