"""The one HTML rendering of awiml's objects in Jupyter (their ``_repr_html_``).

Every value shown passes through :func:`escape` here, so a file, model or
label name that holds markup (``<script>``) is shown as text, never run.
Tables and lists are bounded (:data:`MAX_ROWS`, then "... and N more"), and
images become a few small inline thumbnails, so a large workspace or dataset
renders as fast as a small one. Only the standard library is imported at
module level; Pillow and matplotlib are used when a picture is drawn.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "MAX_ROWS",
    "MAX_THUMBNAILS",
    "block",
    "escape",
    "fields",
    "figure_img",
    "listing",
    "table",
    "thumbnails",
]

#: Rows of a table or items of a list shown before "... and N more".
MAX_ROWS = 20
#: Images shown as thumbnails, at the most.
MAX_THUMBNAILS = 8
#: The longer side of a thumbnail, in pixels.
THUMBNAIL_PIXELS = 96
#: Image files larger than this are not opened for a thumbnail.
_MAX_IMAGE_BYTES = 32 * 1024**2

_STYLE = ("<style>.awiml-repr table{border-collapse:collapse;margin:0.2em 0}"
          ".awiml-repr th,.awiml-repr td{text-align:left;padding:0.1em 0.6em;"
          "vertical-align:top}.awiml-repr .awiml-more{font-style:italic}"
          ".awiml-repr figure{display:inline-block;margin:0.2em;text-align:center}"
          ".awiml-repr figcaption{font-size:smaller;max-width:8em;overflow-wrap:anywhere}"
          "</style>")


def escape(value: Any) -> str:
    """Return ``str(value)`` with ``&``, ``<``, ``>`` and quotes escaped for HTML.

    Parameters
    ----------
    value : object
        Anything; ``None`` becomes an empty string.

    Returns
    -------
    str
        Text safe inside an element or a quoted attribute.

    Examples
    --------
    >>> escape("<script>alert('x')</script>")
    '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;'
    """
    return "" if value is None else html.escape(str(value), quote=True)


def block(kind: str, title: str, *parts: str) -> str:
    """Wrap already-rendered ``parts`` under an escaped ``title`` in one ``<div>``.

    Parameters
    ----------
    kind : str
        A CSS class suffix naming the object, e.g. ``"workspace"``.
    title : str
        The heading (escaped here).
    *parts : str
        HTML made by the other functions of this module; empty ones are left out.

    Returns
    -------
    str
        ``<div class='awiml-repr awiml-<kind>'>...</div>``.

    Examples
    --------
    >>> block("demo", "a < b", "<p>x</p>")[:45]
    "<div class='awiml-repr awiml-demo'><style>.aw"
    """
    body = "\n".join(part for part in parts if part)
    return (f"<div class='awiml-repr awiml-{escape(kind)}'>{_STYLE}"
            f"<h4>{escape(title)}</h4>\n{body}\n</div>")


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """Render name-value pairs as a two-column table, both escaped.

    Parameters
    ----------
    pairs : iterable of (str, object)
        The names and their values; a pair whose value is ``None`` is left out.

    Returns
    -------
    str
        A ``<table>``, one ``<th>`` name and one ``<td>`` value a row.

    Examples
    --------
    >>> fields([("files", 3), ("skipped", None)])
    '<table><tr><th>files</th><td>3</td></tr></table>'
    """
    rows = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>"
                   for name, value in pairs if value is not None)
    return f"<table>{rows}</table>"


def _more(shown: int, total: int) -> str:
    return f"... and {total - shown} more" if total > shown else ""


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
          total: int | None = None, max_rows: int = MAX_ROWS) -> str:
    """Render rows under a header, at most ``max_rows`` of them, every cell escaped.

    Parameters
    ----------
    columns : sequence of str
        The column names.
    rows : iterable of sequences
        The cells of each row; only the first ``max_rows`` are read.
    total : int, optional
        How many rows there are in all, when ``rows`` holds only some; a last
        row then says how many more there are.
    max_rows : int, optional
        Rows shown at the most.

    Returns
    -------
    str
        A ``<table>`` with a ``<thead>`` and a ``<tbody>``.

    Examples
    --------
    >>> "... and 8 more" in table(["n"], ([i] for i in range(10)), total=10, max_rows=2)
    True
    """
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    shown = []
    for row in rows:
        if len(shown) == max_rows:
            break
        shown.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
    total = len(shown) if total is None else total
    more = _more(len(shown), total)
    if more:
        shown.append(f"<tr><td class='awiml-more' colspan='{len(columns)}'>{more}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(shown)}</tbody></table>"


def listing(title: str, items: Sequence[Any], *, max_items: int = MAX_ROWS) -> str:
    """Render a titled list of at most ``max_items`` items; nothing when ``items`` is empty.

    Parameters
    ----------
    title : str
        What the items are (escaped), e.g. ``"missing"``; the count is added.
    items : sequence
        The items (escaped).
    max_items : int, optional
        Items shown at the most; a last one says how many more there are.

    Returns
    -------
    str
        A ``<h5>`` and a ``<ul>``, or ``""``.

    Examples
    --------
    >>> listing("missing", ["a.tab"])
    '<h5>missing (1)</h5><ul><li>a.tab</li></ul>'
    """
    if not items:
        return ""
    lines = [f"<li>{escape(item)}</li>" for item in items[:max_items]]
    more = _more(min(len(items), max_items), len(items))
    if more:
        lines.append(f"<li class='awiml-more'>{more}</li>")
    return f"<h5>{escape(title)} ({len(items)})</h5><ul>{''.join(lines)}</ul>"


def _img(data: bytes, mime: str, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f"<img src='data:{mime};base64,{encoded}' alt='{escape(alt)}'/>"


def figure_img(fig: Figure, alt: str) -> str:
    """Return a matplotlib figure as an ``<img>`` holding a base64 PNG.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, drawn at 80 dpi.
    alt : str
        Its alternative text (escaped).

    Returns
    -------
    str
        ``<img src='data:image/png;base64,...' alt='...'/>``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> figure_img(Figure(figsize=(1, 1)), "empty").startswith("<img src='data:image/png")
    True
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return _img(buffer.getvalue(), "image/png", alt)


def _thumbnail(path: str) -> tuple[bytes, str] | str:
    """Return a small PNG or JPEG of the image at ``path``, or why there is none."""
    try:
        if os.path.getsize(path) > _MAX_IMAGE_BYTES:
            return "too large to preview"
        from PIL import Image

        if path.lower().endswith(".npy"):
            import numpy as np

            array = np.load(path, allow_pickle=False)
            array = np.nan_to_num(array.astype(np.float64))
            low, high = float(array.min()), float(array.max())
            scaled = (array - low) / (high - low or 1.0) * 255
            image = Image.fromarray(scaled.astype(np.uint8).squeeze())
        else:
            image = Image.open(path)
            image.draft("RGB", (THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))  # JPEG: decode small
        with image:
            image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
            if image.mode not in ("L", "RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            buffer = io.BytesIO()
            if image.mode == "RGBA":
                image.save(buffer, format="PNG", optimize=True)
                return buffer.getvalue(), "image/png"
            image.save(buffer, format="JPEG", quality=80)
            return buffer.getvalue(), "image/jpeg"
    except FileNotFoundError:
        return "missing"
    except Exception:  # a preview never fails the repr (corrupt, bomb, no Pillow)
        return "not readable"


def thumbnails(images: Iterable[tuple[str | os.PathLike[str], str]], *,
               max_images: int = MAX_THUMBNAILS) -> str:
    """Render a few images as small inline thumbnails with captions.

    Parameters
    ----------
    images : iterable of (path-like, str)
        Image files (anything Pillow reads, or ``.npy``) and their captions;
        only the first ``max_images`` are read.
    max_images : int, optional
        Thumbnails at the most.

    Returns
    -------
    str
        One ``<figure>`` per image; an image that cannot be read is named
        with the reason instead. Never raises for a missing or corrupt file.

    Examples
    --------
    >>> "missing" in thumbnails([("/no/such.png", "a label")])
    True
    """
    parts = []
    for path, caption in images:
        if len(parts) == max_images:
            break
        name = os.path.basename(os.fspath(path))
        made = _thumbnail(os.fspath(path))
        picture = (_img(made[0], made[1], f"{caption}: {name}") if isinstance(made, tuple)
                   else f"<div>({escape(made)})</div>")
        parts.append(f"<figure title='{escape(name)}'>{picture}"
                     f"<figcaption>{escape(caption)}</figcaption></figure>")
    return f"<div>{''.join(parts)}</div>" if parts else ""
