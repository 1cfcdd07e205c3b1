"""Progress bars: tqdm's notebook widget where it can render, its text bar elsewhere."""

from __future__ import annotations

import importlib.util
from typing import Any


def progress_bar(*, enabled: bool = True, **kwargs: Any) -> Any:
    """Return a tqdm progress bar, disabled unless ``enabled``.

    ``tqdm.auto`` picks the Jupyter widget inside a notebook, but merely
    importing it there without ipywidgets prints a ``TqdmWarning`` even when
    the bar is off. This picks the widget only for a visible bar with
    ipywidgets installed, and tqdm's plain text bar otherwise.

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
