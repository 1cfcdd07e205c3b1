"""Feature extractors that follow scikit-learn's estimator contract, and cached extraction.

Three extractors turn raw recordings and images into arrays a classifier can
learn from. Each one only stores its arguments in ``__init__``, checks them in
``fit``, keeps what ``fit`` learns in attributes ending in ``_``, and so works
with :func:`sklearn.base.clone`, :class:`~sklearn.pipeline.Pipeline` and
:class:`~sklearn.model_selection.GridSearchCV`:

- :class:`Spectrogram`: (mel) spectrograms of acoustic recordings, computed
  with :class:`scipy.signal.ShortTimeFFT` on the whole batch at once;
- :class:`ImageFeatures`: morphological and grey-level features of the object
  in a plankton vignette (EcoTaxa style), from :func:`skimage.measure.regionprops`;
- :class:`ImageTensor`: images resized and padded to one tensor shape for a CNN.

:func:`extract` runs an extractor over many files: in parallel (joblib, or a
dask cluster), with a progress bar, and with a cache in a workspace's
``features/`` folder keyed by each file's SHA-256 and the extractor's
parameters, so a second run reads the features instead of computing them.
It is defined in :mod:`awiml._extract` and the image readers the image
extractors share in :mod:`awiml._images`; the extractor classes stay here,
because fitted models name them by this module.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._extract import _is_int, extract
from ._images import _border, _check_image_container, _describe, _grey, _image_items, _load_image
from .errors import AwimlError, InvalidDataError, NotFoundError

__all__ = [
    "DB_FLOOR",
    "DEFAULT_PROPERTIES",
    "ImageFeatures",
    "ImageTensor",
    "Spectrogram",
    "extract",
]

#: The smallest power :class:`Spectrogram` takes the logarithm of, in the
#: input's squared unit per hertz: ``1e-12`` Pa²/Hz is (1 µPa)²/Hz, the
#: reference of underwater acoustics, so with input in pascal the "db" scale
#: never goes below 0 dB re 1 µPa²/Hz, i.e. -120 dB re 1 Pa²/Hz.
DB_FLOOR = 1e-12

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


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bad_param(estimator: BaseEstimator, name: str, value: Any, expected: str) -> InvalidDataError:
    return InvalidDataError(
        f"{type(estimator).__name__}({name}={value!r}) is invalid: {name} must be {expected}."
    )


def _check_input_features(estimator: BaseEstimator, input_features: Any) -> None:
    """Check ``input_features`` of ``get_feature_names_out`` as scikit-learn does."""
    if input_features is None:
        return
    given = np.asarray(input_features, dtype=object)
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None and not np.array_equal(names_in, given):
        raise ValueError("input_features is not equal to feature_names_in_")
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and len(given) != n_in:
        raise ValueError(
            f"input_features should have length equal to number of features ({n_in}), "
            f"got {len(given)}"
        )


# ---------------------------------------------------------------------------
# Spectrogram
# ---------------------------------------------------------------------------


# Elements of one block of the elementwise spectrogram steps (2 MB of float64).
_BLOCK_ELEMENTS = 1 << 18


def _hz_to_mel(f: Any) -> Any:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=float) / 700.0)


def _mel_to_hz(m: Any) -> Any:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=float) / 2595.0) - 1.0)


def _mel_filter_bank(
    freqs: np.ndarray, n_bands: int, fmin: float, fmax: float
) -> tuple[np.ndarray, np.ndarray]:
    """Triangular filters, equally spaced on the mel scale (HTK formula), peak height 1.

    Returns the filters, shape (n_bands, len(freqs)), and their centre frequencies in Hz.
    """
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_bands + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)), edges[1:-1]


class Spectrogram(TransformerMixin, BaseEstimator):
    """Spectrograms of acoustic recordings, as features or as images.

    Each recording becomes the one-sided power spectral density of its
    windowed frames, ``|STFT|²`` as :class:`scipy.signal.ShortTimeFFT` computes
    it with ``fft_mode="onesided2X", scale_to="psd"``, in the input's squared
    unit per hertz (Pa²/Hz for pressure in Pa). Summed over the frequency rows
    and multiplied by the bin width, a frame gives the mean square of the
    signal in it. Frames are centred on ``times_`` (``ShortTimeFFT``'s
    default: the first and last frames stick out of the recording and see
    zeros there). All recordings are transformed in one vectorised call.

    Parameters
    ----------
    sample_rate : float
        Samples per second of every recording, in Hz.
    n_fft : int, default=256
        Frame length in samples; the frequency resolution is
        ``sample_rate / n_fft``.
    hop : int, optional
        Samples between the starts of successive frames; ``n_fft // 4`` (75 %
        overlap) when not given.
    window : str or tuple, default="hann"
        A window for :func:`scipy.signal.get_window` (periodic), e.g.
        ``"hamming"`` or ``("kaiser", 8.0)``.
    fmin, fmax : float, optional
        Keep only frequencies from ``fmin`` to ``fmax`` Hz (inclusive); with
        ``mel_bins``, the range the mel bands span. Default: 0 and
        ``sample_rate / 2``.
    mel_bins : int, optional
        Pool the power into this many triangular bands, equally spaced on the
        mel scale (``2595 log10(1 + f / 700 Hz)``) between ``fmin`` and
        ``fmax``, each of peak weight 1.
    scale : {"db", "log", "power"}, default="db"
        ``"db"``: ``10 log10(max(P, DB_FLOOR))``; ``"log"``: the natural
        logarithm ``ln(max(P, DB_FLOOR))``; ``"power"``: ``P`` itself.
    output : {"flat", "pooled", "image"}, default="flat"
        ``"flat"``: shape (n_recordings, n_freq * n_times), frequency-major,
        for scikit-learn; ``"pooled"``: the mean over time of each frequency
        row, then its standard deviation, shape (n_recordings, 2 * n_freq);
        ``"image"``: shape (n_recordings, n_freq, n_times, 1), channels last
        for Keras.
    column : str, optional
        With a DataFrame input, the column that holds one 1-D waveform array
        per row. When not given, the one column holding arrays is used.

    Attributes
    ----------
    n_features_in_ : int
        Samples per recording seen in ``fit``; every recording must have this many.
    feature_names_in_ : ndarray of str
        Column names, when ``fit`` got a DataFrame of one sample per column.
    stft_ : scipy.signal.ShortTimeFFT
        The transform used.
    frequencies_ : ndarray of shape (n_freq,)
        Centre frequency of every row in Hz (the mel band centres with ``mel_bins``).
    times_ : ndarray of shape (n_times,)
        Centre time of every frame in seconds, relative to the first sample.
    mel_filters_ : ndarray of shape (mel_bins, n_rows) or None
        The mel filter bank, over the STFT rows ``stft_.f`` between ``fmin``
        and ``fmax``.

    See Also
    --------
    extract : run an extractor over many files, in parallel and cached.
    awiml.datasets.synthetic_calls : labelled recordings to try it on.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(8000) / 8000
    >>> x = np.sin(2 * np.pi * 1000 * t)[None, :]          # 1 s of a 1 kHz tone
    >>> spec = Spectrogram(sample_rate=8000, output="image").fit(x)
    >>> image = spec.transform(x)
    >>> image.shape
    (1, 129, 128, 1)
    >>> float(spec.frequencies_[image[0, :, 60, 0].argmax()])
    1000.0
    >>> Spectrogram(sample_rate=8000, mel_bins=40, output="pooled").fit_transform(x).shape
    (1, 80)
    """

    def __init__(
        self,
        *,
        sample_rate,
        n_fft=256,
        hop=None,
        window="hann",
        fmin=None,
        fmax=None,
        mel_bins=None,
        scale="db",
        output="flat",
        column=None,
    ):
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop = hop
        self.window = window
        self.fmin = fmin
        self.fmax = fmax
        self.mel_bins = mel_bins
        self.scale = scale
        self.output = output
        self.column = column

    def _check_params(self) -> tuple[int, float, float]:
        """Check the parameters; return the hop and the frequency range."""
        if not _is_number(self.sample_rate) or not self.sample_rate > 0:
            raise _bad_param(self, "sample_rate", self.sample_rate, "a positive number of Hz")
        if not _is_int(self.n_fft) or self.n_fft < 2:
            raise _bad_param(self, "n_fft", self.n_fft, "an integer >= 2")
        hop = max(1, self.n_fft // 4) if self.hop is None else self.hop
        if not _is_int(hop) or hop < 1:
            raise _bad_param(self, "hop", self.hop, "a positive integer or None")
        nyquist = self.sample_rate / 2
        fmin = 0.0 if self.fmin is None else self.fmin
        fmax = nyquist if self.fmax is None else self.fmax
        if not _is_number(fmin) or not 0 <= fmin < nyquist:
            raise _bad_param(self, "fmin", self.fmin, f"None or from 0 to below {nyquist:g} Hz")
        if not _is_number(fmax) or not fmin < fmax <= nyquist:
            raise _bad_param(
                self, "fmax", self.fmax, f"None or above fmin={fmin:g} up to {nyquist:g} Hz"
            )
        if self.mel_bins is not None and (not _is_int(self.mel_bins) or self.mel_bins < 1):
            raise _bad_param(self, "mel_bins", self.mel_bins, "a positive integer or None")
        if self.scale not in ("db", "log", "power"):
            raise _bad_param(self, "scale", self.scale, "'db', 'log' or 'power'")
        if self.output not in ("flat", "pooled", "image"):
            raise _bad_param(self, "output", self.output, "'flat', 'pooled' or 'image'")
        return int(hop), float(fmin), float(fmax)

    def _signals(self, X: Any, *, reset: bool) -> np.ndarray:
        """Validate the input and return it as a 2-D float array (n_signals, n_samples)."""
        if hasattr(X, "columns") and hasattr(X, "iloc"):
            name = self._waveform_column(X)
            if name is not None:
                X = _stack_waveforms(X, name)
        try:
            return validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))
        except ValueError as exc:
            if "features, but" in str(exc) and "is expecting" in str(exc):
                raise ValueError(
                    f"{exc} Here every feature is one sample: each recording must have the "
                    f"{self.n_features_in_} samples the Spectrogram was fitted on; resample, "
                    "trim or pad the recordings to one length."
                ) from None
            raise

    def _waveform_column(self, frame: Any) -> Any:
        """Return the DataFrame column that holds waveforms, or None for a numeric table."""
        if self.column is not None:
            if self.column not in frame.columns:
                raise InvalidDataError(
                    f"the DataFrame has no column {self.column!r} (Spectrogram(column=...)); "
                    f"its columns are {list(frame.columns)}"
                )
            return self.column
        holding = [
            name
            for name in frame.columns
            if frame[name].dtype == object
            and len(frame)
            and isinstance(frame[name].iloc[0], (np.ndarray, list, tuple))
        ]
        if len(holding) > 1:
            raise InvalidDataError(
                f"the DataFrame has several waveform columns {holding}; choose one with "
                "Spectrogram(column=...)"
            )
        return holding[0] if holding else None

    def fit(self, X, y=None):
        """Check the parameters and learn the frequency and time axes.

        Parameters
        ----------
        X : array-like of shape (n_recordings, n_samples) or DataFrame
            The recordings, one per row, all of the same length; or a
            DataFrame with one recording per row in an object column of 1-D
            arrays (see ``column``).
        y : None
            Ignored.

        Returns
        -------
        self : Spectrogram
            The fitted extractor.
        """
        from scipy.signal import ShortTimeFFT, get_window

        hop, fmin, fmax = self._check_params()
        X = self._signals(X, reset=True)
        n_samples = X.shape[1]
        needed = self.n_fft - self.n_fft // 2
        if n_samples < needed:
            raise InvalidDataError(
                f"the recordings have {n_samples} samples, fewer than half a frame "
                f"(n_fft={self.n_fft} needs at least {needed}); use n_fft <= {2 * n_samples}"
            )
        try:
            win = get_window(self.window, self.n_fft)
        except (ValueError, TypeError) as exc:
            raise _bad_param(
                self, "window", self.window, f"a window scipy.signal.get_window knows ({exc})"
            ) from None
        self.stft_ = ShortTimeFFT(
            win, hop, float(self.sample_rate), fft_mode="onesided2X", scale_to="psd"
        )
        freqs = self.stft_.f
        rows = np.flatnonzero((freqs >= fmin) & (freqs <= fmax))
        if rows.size == 0:
            raise InvalidDataError(
                f"no frequency row of the spectrogram lies between fmin={fmin:g} and "
                f"fmax={fmax:g} Hz (rows are {self.stft_.delta_f:g} Hz apart); widen the band "
                "or increase n_fft"
            )
        self._rows = slice(int(rows[0]), int(rows[-1]) + 1)
        if self.mel_bins is None:
            self.mel_filters_ = None
            self.frequencies_ = freqs[self._rows].copy()
        else:
            filters, centres = _mel_filter_bank(freqs[self._rows], self.mel_bins, fmin, fmax)
            empty = np.flatnonzero(filters.sum(axis=1) == 0)
            if empty.size:
                warnings.warn(
                    f"{empty.size} of {self.mel_bins} mel bands contain no frequency row of "
                    f"the STFT (the first centred at {centres[empty[0]]:.1f} Hz) and stay at "
                    f"zero power; use fewer mel_bins or a larger n_fft than {self.n_fft}",
                    UserWarning,
                    stacklevel=2,
                )
            self.mel_filters_ = filters
            self.frequencies_ = centres
        self.times_ = self.stft_.t(n_samples)
        return self

    def transform(self, X):
        """Compute the spectrograms.

        Parameters
        ----------
        X : array-like of shape (n_recordings, n_samples) or DataFrame
            Recordings of the length seen in ``fit``.

        Returns
        -------
        ndarray
            Shape (n_recordings, n_freq * n_times) for ``output="flat"``,
            (n_recordings, 2 * n_freq) for ``"pooled"``, and
            (n_recordings, n_freq, n_times, 1) for ``"image"``.
        """
        check_is_fitted(self)
        X = self._signals(X, reset=False)
        S = self.stft_.stft(X, axis=-1)[:, self._rows, :]
        power = self._scaled_power(S)
        del S
        if self.output == "flat":
            return power.reshape(power.shape[0], -1)
        if self.output == "pooled":
            return np.concatenate([power.mean(axis=2), power.std(axis=2)], axis=1)
        return power[..., np.newaxis]

    def _scaled_power(self, S: np.ndarray) -> np.ndarray:
        """Return |S|², mel-pooled and scaled, shape (n_signals, n_freq, n_times).

        The STFT is computed for the whole batch at once; these elementwise steps run over
        blocks of signals of about 2 MB, which stay in the CPU cache, and write into one
        output array, instead of making whole-array passes that each stream (and first
        allocate) hundreds of megabytes on a large batch.
        """
        n_signals, _, n_times = S.shape
        filters = self.mel_filters_
        n_rows = S.shape[1] if filters is None else filters.shape[0]
        out = np.empty((n_signals, n_rows, n_times))
        step = max(1, _BLOCK_ELEMENTS // (S.shape[1] * n_times))
        for start in range(0, n_signals, step):
            block = S[start:start + step]
            if filters is None:
                power = np.square(block.real, out=out[start:start + step])
                power += np.square(block.imag)
            else:
                full = np.square(block.real)
                full += np.square(block.imag)
                power = out[start:start + step]
                np.matmul(filters, full, out=power)
            if self.scale != "power":
                np.maximum(power, DB_FLOOR, out=power)
                if self.scale == "db":
                    np.log10(power, out=power)
                    power *= 10.0
                else:
                    np.log(power, out=power)
        return out

    @available_if(lambda self: self.output != "image")
    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, with their frequency and time.

        ``"db_1000Hz_0.256s"`` is the value at 1000 Hz in the frame centred at
        0.256 s; with ``output="pooled"``, ``"db_mean_1000Hz"`` and
        ``"db_std_1000Hz"``. Not available for ``output="image"``.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against ``feature_names_in_`` like scikit-learn does; not used.

        Returns
        -------
        ndarray of str
            One name per output column.
        """
        check_is_fitted(self)
        _check_input_features(self, input_features)
        prefix = self.scale
        freqs = [f"{f:g}Hz" for f in self.frequencies_]
        if self.output == "pooled":
            names = [f"{prefix}_{stat}_{f}" for stat in ("mean", "std") for f in freqs]
        else:
            times = [f"{t:g}s" for t in self.times_]
            names = [f"{prefix}_{f}_{t}" for f in freqs for t in times]
        return np.asarray(names, dtype=object)

    def read_input(self, path):
        """Read one recording from a WAV or ``.npy`` file.

        Integer WAV samples are scaled to full scale ±1 (int16 / 32768...);
        float WAV and ``.npy`` values are returned as stored (e.g. pascal).

        Parameters
        ----------
        path : path-like
            A mono ``.wav`` file with the sample rate ``sample_rate``, or a
            ``.npy`` file holding a 1-D array.

        Returns
        -------
        ndarray of shape (n_samples,)
            The recording as float64.

        Raises
        ------
        NotFoundError
            If the file does not exist.
        InvalidDataError
            If it cannot be read, is not mono, or its sample rate differs
            from ``sample_rate``; the message names the file.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np
        >>> from scipy.io import wavfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "call.wav"
        >>> wavfile.write(path, 8000, np.zeros(4000))
        >>> Spectrogram(sample_rate=8000).read_input(path).shape
        (4000,)
        """
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"{path} does not exist; check the path")
        suffix = path.suffix.lower()
        try:
            if suffix == ".npy":
                data = np.load(path, allow_pickle=False)
            elif suffix in (".wav", ".wave"):
                from scipy.io import wavfile

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", wavfile.WavFileWarning)
                    rate, data = wavfile.read(path)
                if rate != self.sample_rate:
                    raise InvalidDataError(
                        f"{path} is sampled at {rate} Hz but the Spectrogram expects "
                        f"sample_rate={self.sample_rate} Hz; resample the file (e.g. "
                        "scipy.signal.resample_poly) or set sample_rate to match"
                    )
            else:
                raise InvalidDataError(
                    f"{path}: cannot read {suffix or 'files without suffix'}; give a .wav or "
                    ".npy file"
                )
        except AwimlError:
            raise
        except (ValueError, OSError, EOFError) as exc:
            raise InvalidDataError(f"{path} could not be read as a recording: {exc}") from None
        if data.ndim != 1:
            raise InvalidDataError(
                f"{path} holds an array of shape {data.shape}, not one mono recording; split "
                "the channels into separate files"
            )
        if data.dtype.kind == "u":
            half = 2.0 ** (8 * data.dtype.itemsize - 1)
            return (data.astype(np.float64) - half) / half
        if data.dtype.kind == "i":
            return data.astype(np.float64) / 2.0 ** (8 * data.dtype.itemsize - 1)
        return data.astype(np.float64)


def _stack_waveforms(frame: Any, column: Any) -> np.ndarray:
    """Stack a DataFrame column of 1-D arrays into (n_rows, n_samples), naming bad rows."""
    cells = [np.asarray(cell) for cell in frame[column]]
    not_1d = [label for label, cell in zip(frame.index, cells, strict=True) if cell.ndim != 1]
    if not_1d:
        raise InvalidDataError(
            f"column {column!r} must hold one 1-D waveform per row; rows {not_1d[:10]} "
            "hold something else"
        )
    lengths = np.array([cell.size for cell in cells])
    if lengths.size and (lengths != lengths[0]).any():
        values, counts = np.unique(lengths, return_counts=True)
        common = values[counts.argmax()]
        odd = [(label, n) for label, n in zip(frame.index, lengths, strict=True) if n != common]
        shown = ", ".join(f"{label!r} ({n})" for label, n in odd[:10])
        raise InvalidDataError(
            f"the waveforms in column {column!r} differ in length: most have {common} samples, "
            f"but rows {shown}{' ...' if len(odd) > 10 else ''} do not; trim or pad them to "
            "one length"
        )
    if not cells:
        return np.empty((0, 0))
    return np.stack(cells)


class ImageFeatures(TransformerMixin, BaseEstimator):
    """Morphological and grey-level features of the object in each image (EcoTaxa style).

    For every image: convert it to grey (BT.709 luminance, in the image's own
    grey levels, 0-255 for 8-bit files), threshold it, keep the largest
    8-connected object, and measure it with :func:`skimage.measure.regionprops`.
    Vignettes from EcoTaxa (ZooScan, UVP, FlowCam...) show a dark organism on
    a light background with a scale bar below it; the organism is the largest
    object.

    A blank image (all pixels equal, or nothing on the object side of the
    threshold) raises :class:`~awiml.errors.InvalidDataError` naming the image
    (its index, or its path), rather than giving a row of NaN that a
    classifier would choke on later. Properties undefined for the object
    found (``circularity`` of a one-pixel object, ``elongation`` of a line)
    are NaN.

    Parameters
    ----------
    threshold : {"triangle", "otsu", "li", "yen", "isodata", "mean"} or float, default="triangle"
        How to separate object from background: a method of
        :mod:`skimage.filters` (``threshold_<name>``) applied to each image,
        or a fixed grey level. The triangle method suits vignettes, whose
        histogram is one large background peak with a faint object; on the
        EcoTaxa test vignettes Otsu's method splits the dark scale bar from
        everything else and, in a third of them, returns the bar as the
        largest object.
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

    def __init__(
        self, *, threshold="triangle", invert=None, properties=DEFAULT_PROPERTIES, pixel_size=None
    ):
        self.threshold = threshold
        self.invert = invert
        self.properties = properties
        self.pixel_size = pixel_size

    def _check_params(self) -> tuple[tuple[str, ...], float, str]:
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
        size = self.pixel_size
        if size is None:
            return props, 1.0, "px"
        if isinstance(size, (tuple, list)) and len(size) == 2 and isinstance(size[1], str):
            size, unit = size
        else:
            unit = "µm"
        if not _is_number(size) or not size > 0 or not math.isfinite(size) or not unit:
            raise _bad_param(self, "pixel_size", self.pixel_size,
                             "None, a positive number of µm, or a pair (number, unit)")
        return props, float(size), unit

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
        self : ImageFeatures
            The fitted extractor.
        """
        self.properties_, self._scale, self.unit_ = self._check_params()
        _check_image_container(X, type(self).__name__)
        return self

    def transform(self, X):
        """Measure the largest object of every image.

        Parameters
        ----------
        X : sequence of images or paths, or ndarray of shape (n, height, width[, channels])
            Grey (2-D) or RGB(A) (3-D) arrays, or paths of image files
            (anything Pillow reads, or ``.npy``).

        Returns
        -------
        ndarray of shape (n_images, n_properties)
            The features, in the order of ``get_feature_names_out()``.
        """
        check_is_fitted(self)
        items = _image_items(X, type(self).__name__)
        out = np.empty((len(items), len(self.properties_)))
        for i, item in enumerate(items):
            where = _describe(item, i)
            out[i] = self._measure(_grey(_load_image(item, i), where), where)
        return out

    def _measure(self, grey: np.ndarray, where: str) -> np.ndarray:
        from skimage import filters, measure

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
        values = np.empty(len(self.properties_))
        for j, name in enumerate(self.properties_):
            values[j] = self._property(region, name)
        return values

    def _property(self, region: Any, name: str) -> float:
        kind = _PROPERTY_KINDS[name]
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
        if kind == "length":
            value *= self._scale
        elif kind == "area":
            value *= self._scale**2
        return float(value)

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
        return np.asarray(
            [
                f"{p} [{units[_PROPERTY_KINDS[p]]}]" if _PROPERTY_KINDS[p] else p
                for p in self.properties_
            ],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class ImageTensor(TransformerMixin, BaseEstimator):
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

    def __init__(self, *, size=(64, 64), keep_aspect=True, grey=True, normalize="unit"):
        self.size = size
        self.keep_aspect = keep_aspect
        self.grey = grey
        self.normalize = normalize

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
        self : ImageTensor
            The fitted transformer.
        """
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
        _check_image_container(X, type(self).__name__)
        self.output_shape_ = (int(size[0]), int(size[1]), 1 if self.grey else 3)
        return self

    def transform(self, X):
        """Resize every image to ``output_shape_``.

        Parameters
        ----------
        X : sequence of images or paths, or ndarray of shape (n, height, width[, channels])
            Grey (2-D) or RGB(A) (3-D) arrays, or paths of image files.

        Returns
        -------
        ndarray of shape (n_images, height, width, channels), float32
            The images.
        """
        check_is_fitted(self)
        items = _image_items(X, type(self).__name__)
        out = np.empty((len(items), *self.output_shape_), dtype=np.float32)
        for i, item in enumerate(items):
            out[i] = self._tensor(_load_image(item, i), _describe(item, i))
        return out

    def _tensor(self, image: np.ndarray, where: str) -> np.ndarray:
        from skimage.transform import resize

        if image.size == 0:
            raise InvalidDataError(f"{where} is empty (shape {image.shape})")
        factor = 1.0
        if self.normalize == "unit" and image.dtype.kind in "iu":
            factor = float(np.iinfo(image.dtype).max)
        if self.grey:
            pixels = _grey(image, where)[..., np.newaxis]
        else:
            if image.ndim == 3 and image.shape[2] == 1:
                image = image[..., 0]
            if image.ndim == 2:
                image = np.repeat(image[..., np.newaxis], 3, axis=2)
            elif not (image.ndim == 3 and image.shape[2] in (3, 4)):
                raise InvalidDataError(
                    f"{where} has shape {image.shape}; expected a grey or RGB(A) image"
                )
            pixels = image[..., :3].astype(np.float64)
        if factor != 1.0:
            pixels /= factor
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
