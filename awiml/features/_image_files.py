"""Read images and check the inputs of the image extractors (Pillow, SciPy imported on use)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidDataError, NotFoundError

_LUMINANCE = np.array([0.2125, 0.7154, 0.0721])  # ITU-R BT.709, as skimage.color.rgb2gray


def _read_image(path: Any) -> np.ndarray:
    """Read an image file (anything Pillow reads, or .npy) into an array."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; check the path")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InvalidDataError(f"{path} could not be read as an image: {exc}") from None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "RGB", "RGBA", "I", "I;16", "F"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            return np.asarray(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidDataError(
            f"{path} could not be read as an image ({exc}); the file may be corrupt or "
            "truncated: fetch it again"
        ) from None


def _image_items(X: Any, owner: str) -> list[Any]:
    """Return the images of X: a stack (n, h, w[, c]), or a sequence of arrays/paths."""
    from scipy import sparse

    if isinstance(X, (str, os.PathLike)):
        raise InvalidDataError(
            f"{owner} takes a list of images or paths; got the single path {X!r}: pass [{X!r}]"
        )
    if sparse.issparse(X):
        raise InvalidDataError(
            f"{owner} takes a list of images or paths; sparse matrices are not supported, "
            "convert them with .toarray() (one dense image each)"
        )
    if isinstance(X, np.ndarray):
        if X.dtype != object and X.ndim not in (3, 4):
            raise InvalidDataError(
                f"{owner} takes a stack of images of shape (n, height, width[, channels]) or "
                f"a list of images; got an array of shape {X.shape}. For a single image pass "
                "[image]."
            )
        return list(X)
    if hasattr(X, "columns"):
        raise InvalidDataError(
            f"{owner} takes a list of images or paths, not a table; pass one column, e.g. "
            "df['path']"
        )
    if hasattr(X, "to_numpy"):
        return list(X.to_numpy())
    try:
        return list(X)
    except TypeError:
        raise InvalidDataError(
            f"{owner} takes a list of images or paths; got {type(X).__name__}"
        ) from None


def _load_image(item: Any, index: int) -> tuple[np.ndarray, str]:
    """Return an image as an array (read, or checked numeric) and its name (path, ``image <i>``)."""
    if isinstance(item, (str, os.PathLike)):
        return _read_image(item), str(item)
    image = np.asarray(item)
    if image.dtype == object or image.dtype.kind not in "biuf":
        raise InvalidDataError(
            f"image {index} is not a numeric array (dtype {image.dtype}); give arrays or paths"
        )
    return image, f"image {index}"


def _grey(image: np.ndarray, where: str, *, rgb: bool = False) -> np.ndarray:
    """Grey levels (or, with ``rgb``, the RGB channels) as float64, in the image's own units.

    The image's own units are 0-255 for 8-bit images; ``rgb`` repeats a grey
    image into three channels and drops alpha.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        grey = image.astype(np.float64)
        return np.repeat(grey[..., np.newaxis], 3, axis=2) if rgb else grey
    if image.ndim == 3 and image.shape[2] in (3, 4):
        pixels = image[..., :3].astype(np.float64)
        return pixels if rgb else pixels @ _LUMINANCE
    raise InvalidDataError(
        f"{where} has shape {image.shape}; expected a grey (height, width) or RGB(A) "
        "(height, width, 3 or 4) image"
    )


def _border(image: np.ndarray) -> np.ndarray:
    """Return the pixels along the four edges, shape (n, ...), channel axis kept."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
