"""Features of plankton images, with scikit-learn's estimator contract.

- :class:`ImageFeatures`: morphological and grey-level features of the object
  in a vignette (EcoTaxa style), from :func:`skimage.measure.regionprops`;
- :class:`ImageTensor`: images resized and padded to one tensor shape for a CNN.

Stored models name both by their public path: their ``__module__`` is pinned
to ``awiml.features``, so keep it when this file moves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InvalidDataError
from ._image_files import _border, _grey, _image_items, _load_image
from ._params import _bad_param, _is_int, _is_number

#: The properties :class:`ImageFeatures` measures by default, in this order.
DEFAULT_PROPERTIES: tuple[str, ...] = (
    "area",
    "perimeter",
    "axis_major_length",
    "axis_minor_length",
    "eccentricity",
    "solidity",
    "extent",
    "equivalent_diameter_area",
    "orientation",
    "feret_diameter_max",
    "circularity",
    "elongation",
    "intensity_mean",
    "intensity_std",
    "intensity_min",
    "intensity_max",
)

# What each property ImageFeatures knows measures: "length" and "area" scale
# with pixel_size, "angle" is in radians, None is dimensionless or grey levels.
_PROPERTY_KINDS: dict[str, str | None] = {
    "area": "area",
    "area_bbox": "area",
    "area_convex": "area",
    "area_filled": "area",
    "perimeter": "length",
    "perimeter_crofton": "length",
    "axis_major_length": "length",
    "axis_minor_length": "length",
    "equivalent_diameter_area": "length",
    "feret_diameter_max": "length",
    "eccentricity": None,
    "solidity": None,
    "extent": None,
    "euler_number": None,
    "orientation": "angle",
    "circularity": None,
    "elongation": None,
    "intensity_mean": None,
    "intensity_std": None,
    "intensity_min": None,
    "intensity_max": None,
    "intensity_median": None,
}

_THRESHOLDS = ("triangle", "otsu", "li", "yen", "isodata", "mean")


class _ImageTransformer(TransformerMixin, BaseEstimator):
    """Base of the image extractors: ``fit`` checks, ``transform`` takes images or paths."""

    def fit(self, X, y=None):
        """Check the parameters; nothing is learned from the images.

        Parameters
        ----------
        X : sequence of images or paths
            Not read; only checked to be a sequence.
        y : None
            Ignored.

        Returns
        -------
        self
            The fitted transformer.
        """
        self._fit_params()
        if not isinstance(X, Iterator):  # an iterator would be consumed
            _image_items(X, type(self).__name__)
        return self

    def transform(self, X):
        """Turn every image into its features, or into its tensor for a CNN.

        Parameters
        ----------
        X : sequence of images or paths, or ndarray of shape (n, height, width[, channels])
            Grey (2-D) or RGB(A) (3-D) arrays, or paths of image files
            (anything Pillow reads, or ``.npy``).

        Returns
        -------
        ndarray
            :class:`ImageFeatures`: shape (n_images, n_properties), the
            features of the largest object of every image, in the order of
            ``get_feature_names_out()``. :class:`ImageTensor`: shape
            (n_images, height, width, channels), float32, every image resized
            to ``output_shape_``.
        """
        from threadpoolctl import threadpool_limits

        check_is_fitted(self)
        items = _image_items(X, type(self).__name__)
        out = self._empty(len(items))
        # One BLAS thread: the image moments are matrix products whose last bits depend on
        # the thread count, which Dask workers (1 thread) and joblib's workers set for
        # themselves; with one thread the features are the same wherever they are computed.
        with threadpool_limits(limits=1, user_api="blas"):
            for i, item in enumerate(items):
                out[i] = self._one(*_load_image(item, i))
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class ImageFeatures(_ImageTransformer):
    """Morphological and grey-level features of the object in each image (EcoTaxa style).

    For every image: convert it to grey (BT.709 luminance, in the image's own
    grey levels, 0-255 for 8-bit files), threshold it, keep the largest
    8-connected object, and measure it with :func:`skimage.measure.regionprops`.
    Vignettes from EcoTaxa (ZooScan, UVP, FlowCam...) show a dark organism on
    a light background with a scale bar below it; the organism is the largest
    object.

    A blank image (all pixels equal, or nothing on the object side of the
    threshold) raises :class:`~awiml.errors.InvalidDataError` naming the image
    (its index, or its path), not a row of NaN. Properties undefined for the
    object found (``circularity`` of a one-pixel object, ``elongation`` of a
    line) are NaN.

    Parameters
    ----------
    threshold : {"triangle", "otsu", "li", "yen", "isodata", "mean"} or float, default="triangle"
        How to separate object from background: a method of
        :mod:`skimage.filters` (``threshold_<name>``) applied to each image,
        or a fixed grey level. The triangle method suits vignettes (one large
        background peak, a faint object); on the EcoTaxa test vignettes Otsu's
        method often returns the dark scale bar as the largest object.
    invert : bool, optional
        ``True``: the object is darker than the background (EcoTaxa
        vignettes), ``False``: lighter (dark-field images). When not given,
        decided per image: the object is dark when the median of the border
        pixels lies above the threshold.
    properties : sequence of str, default=DEFAULT_PROPERTIES
        What to measure, in order. Any of the scalar regionprops properties
        ``area``, ``area_bbox``, ``area_convex``, ``area_filled``,
        ``perimeter``, ``perimeter_crofton``, ``axis_major_length``,
        ``axis_minor_length``, ``equivalent_diameter_area`` (the ESD),
        ``feret_diameter_max``, ``eccentricity``, ``solidity``, ``extent``,
        ``euler_number``, ``orientation`` (radians), ``intensity_mean``,
        ``intensity_std``, ``intensity_min``, ``intensity_max``,
        ``intensity_median`` (grey levels inside the object), and the derived
        ``circularity`` (4π area / perimeter²) and ``elongation`` (major /
        minor axis length).
    pixel_size : float or (float, str), optional
        Size of one pixel: a number in µm, or a pair such as ``(0.0106, "mm")``.
        Lengths are multiplied by it and areas by its square, and the unit
        appears in the feature names. Without it, lengths are in pixels.

    Attributes
    ----------
    properties_ : tuple of str
        The properties measured.
    unit_ : str
        The length unit of the features (``"px"`` without ``pixel_size``).

    See Also
    --------
    ImageTensor : the images themselves, as a tensor for a CNN.
    extract : run an extractor over many files, in parallel and cached.
    awiml.datasets.plankton_images : a labelled folder of vignettes.

    Examples
    --------
    >>> import numpy as np
    >>> rows, cols = np.mgrid[:101, :101]
    >>> disc = np.where((rows - 50) ** 2 + (cols - 50) ** 2 <= 30 ** 2, 40, 230).astype(np.uint8)
    >>> features = ImageFeatures(properties=("area", "equivalent_diameter_area"), pixel_size=10)
    >>> features.fit_transform([disc]).round(-2)          # about pi * 300**2 µm², ESD 600 µm
    array([[282100.,    600.]])
    >>> list(features.get_feature_names_out())
    ['area [µm^2]', 'equivalent_diameter_area [µm]']
    """

    __module__ = "awiml.features"

    def __init__(
        self, *, threshold="triangle", invert=None, properties=DEFAULT_PROPERTIES, pixel_size=None
    ):
        self.threshold = threshold
        self.invert = invert
        self.properties = properties
        self.pixel_size = pixel_size

    def _fit_params(self) -> None:
        if not (self.threshold in _THRESHOLDS or _is_number(self.threshold)):
            raise _bad_param(self, "threshold", self.threshold,
                             f"one of {_THRESHOLDS} or a grey level")
        if self.invert not in (None, True, False):
            raise _bad_param(self, "invert", self.invert, "None, True or False")
        props = self.properties
        if isinstance(props, str) or not isinstance(props, Iterable):
            raise _bad_param(self, "properties", props, "a sequence of property names")
        props = tuple(props)
        unknown = [p for p in props if p not in _PROPERTY_KINDS]
        if not props or unknown:
            raise _bad_param(self, "properties", self.properties,
                             f"a non-empty sequence of {sorted(_PROPERTY_KINDS)}")
        size, unit = (1.0, "px") if self.pixel_size is None else (self.pixel_size, "µm")
        if isinstance(size, (tuple, list)) and len(size) == 2 and isinstance(size[1], str):
            size, unit = size
        if not _is_number(size) or not size > 0 or not math.isfinite(size) or not unit:
            raise _bad_param(self, "pixel_size", self.pixel_size,
                             "None, a positive number of µm, or a pair (number, unit)")
        self.properties_, self._scale, self.unit_ = props, float(size), unit

    def _empty(self, n: int) -> np.ndarray:
        return np.empty((n, len(self.properties_)))

    def _one(self, image: np.ndarray, where: str) -> np.ndarray:
        """Measure the largest object of one image."""
        from skimage import filters, measure

        grey = _grey(image, where)
        if grey.size == 0 or grey.min() == grey.max() or not np.isfinite(grey).all():
            raise InvalidDataError(
                f"{where} is blank (every pixel has the same grey level) or holds NaN; "
                "remove it from the inputs"
            )
        if _is_number(self.threshold):
            level = float(self.threshold)
        else:
            level = float(getattr(filters, f"threshold_{self.threshold}")(grey))
        dark = self.invert if self.invert is not None else np.median(_border(grey)) > level
        mask = grey < level if dark else grey > level
        labels = measure.label(mask, connectivity=2)
        if labels.max() == 0:
            raise InvalidDataError(
                f"{where} shows no object: no pixel is {'darker' if dark else 'lighter'} than "
                f"the threshold {level:g}; remove the image or set threshold= or invert="
            )
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        region = measure.regionprops((labels == sizes.argmax()).astype(np.uint8),
                                     intensity_image=grey)[0]
        return np.array([self._property(region, name) for name in self.properties_])

    def _property(self, region: Any, name: str) -> float:
        if name.startswith("intensity_"):
            inside = region.image_intensity[region.image]
            value = getattr(np, name.removeprefix("intensity_"))(inside)
        elif name == "circularity":
            perimeter = region.perimeter
            value = 4 * math.pi * region.area / perimeter**2 if perimeter > 0 else math.nan
        elif name == "elongation":
            minor = region.axis_minor_length
            value = region.axis_major_length / minor if minor > 0 else math.nan
        else:
            value = getattr(region, name)
        exponent = {"length": 1, "area": 2}.get(_PROPERTY_KINDS[name], 0)  # of pixel_size
        return float(value) * self._scale**exponent

    def get_feature_names_out(self, input_features=None):
        """Names of the features, with their unit: ``"area [µm^2]"``, ``"perimeter [px]"``.

        Parameters
        ----------
        input_features : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        ndarray of str
            One name per property.
        """
        check_is_fitted(self)
        units = {"length": self.unit_, "area": f"{self.unit_}^2", "angle": "rad"}
        kinds = [_PROPERTY_KINDS[name] for name in self.properties_]
        names = [f"{name} [{units[kind]}]" if kind else name
                 for name, kind in zip(self.properties_, kinds, strict=True)]
        return np.asarray(names, dtype=object)


class ImageTensor(_ImageTransformer):
    """Images resized (and padded) to one tensor shape, float32, channels last, for a CNN.

    Parameters
    ----------
    size : (int, int), default=(64, 64)
        Height and width of the output images in pixels.
    keep_aspect : bool, default=True
        Scale each image so that it fits into ``size`` without distortion,
        centre it, and pad the rest with its background level (the median of
        its border pixels, per channel). ``False`` stretches it to ``size``.
    grey : bool, default=True
        One grey channel (BT.709 luminance); ``False`` gives three RGB
        channels (grey images repeated, alpha dropped).
    normalize : {"unit", "standard"} or None, default="unit"
        ``"unit"``: integer images are divided by their type's maximum (255
        for 8-bit) into [0, 1]; float images are taken to be in [0, 1]
        already (scikit-image's convention). ``"standard"``: each image, once
        padded, is shifted and scaled to mean 0 and standard deviation 1
        (per image, so nothing is learned from the training set). ``None``:
        the grey levels as stored.

    Attributes
    ----------
    output_shape_ : tuple of int
        (height, width, channels) of every transformed image.

    See Also
    --------
    ImageFeatures : hand-crafted features of the same images.

    Examples
    --------
    >>> import numpy as np
    >>> wide = np.full((20, 80), 255, dtype=np.uint8)
    >>> wide[5:15, 10:70] = 0
    >>> tensor = ImageTensor(size=(32, 32)).fit_transform([wide])
    >>> tensor.shape, tensor.dtype
    ((1, 32, 32, 1), dtype('float32'))
    >>> float(tensor[0, 0, 0, 0]), float(tensor[0, 16, 16, 0])   # padding, object
    (1.0, 0.0)
    """

    __module__ = "awiml.features"

    def __init__(self, *, size=(64, 64), keep_aspect=True, grey=True, normalize="unit"):
        self.size = size
        self.keep_aspect = keep_aspect
        self.grey = grey
        self.normalize = normalize

    def _fit_params(self) -> None:
        size = self.size
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or not all(_is_int(s) and s >= 1 for s in size)
        ):
            raise _bad_param(self, "size", size, "a pair of positive integers (height, width)")
        for name in ("keep_aspect", "grey"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise _bad_param(self, name, getattr(self, name), "True or False")
        if self.normalize not in ("unit", "standard", None):
            raise _bad_param(self, "normalize", self.normalize, "'unit', 'standard' or None")
        self.output_shape_ = (int(size[0]), int(size[1]), 1 if self.grey else 3)

    def _empty(self, n: int) -> np.ndarray:
        return np.empty((n, *self.output_shape_), dtype=np.float32)

    def _one(self, image: np.ndarray, where: str) -> np.ndarray:
        """Resize one image to ``output_shape_``."""
        from skimage.transform import resize

        if image.size == 0:
            raise InvalidDataError(f"{where} is empty (shape {image.shape})")
        pixels = _grey(image, where, rgb=not self.grey)
        pixels = pixels.reshape(*pixels.shape[:2], -1)  # channels last: one for grey
        if self.normalize == "unit" and image.dtype.kind in "iu":
            pixels /= float(np.iinfo(image.dtype).max)
        height, width, channels = self.output_shape_
        if not self.keep_aspect:
            result = resize(pixels, (height, width, channels), order=1, mode="edge",
                            anti_aliasing=pixels.shape[0] > height or pixels.shape[1] > width,
                            preserve_range=True)
        else:
            scale = min(height / pixels.shape[0], width / pixels.shape[1])
            inner = (max(1, min(height, round(pixels.shape[0] * scale))),
                     max(1, min(width, round(pixels.shape[1] * scale))))
            background = np.median(_border(pixels), axis=0)
            result = np.empty((height, width, channels))
            result[...] = background
            top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
            result[top:top + inner[0], left:left + inner[1]] = resize(
                pixels, (*inner, channels), order=1, mode="edge", anti_aliasing=scale < 1,
                preserve_range=True)
        if self.normalize == "standard":
            result -= result.mean()
            spread = result.std()
            if spread > 0:
                result /= spread
        return result

