"""Spectrograms of acoustic recordings, with scikit-learn's estimator contract."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ..errors import InvalidDataError, NotFoundError
from ._params import _bad_param, _is_int, _is_number

#: The smallest power :class:`Spectrogram` takes the logarithm of, in the
#: input's squared unit per hertz: ``1e-12`` Pa²/Hz is (1 µPa)²/Hz, the
#: reference of underwater acoustics, so with input in pascal the "db" scale
#: never goes below 0 dB re 1 µPa²/Hz, i.e. -120 dB re 1 Pa²/Hz.
DB_FLOOR = 1e-12

# Elements of one block of the elementwise spectrogram steps (2 MB of float64).
_BLOCK_ELEMENTS = 1 << 18


def _mel_filter_bank(
    freqs: np.ndarray, n_bands: int, fmin: float, fmax: float
) -> tuple[np.ndarray, np.ndarray]:
    """Triangular filters, equally spaced on the mel scale (HTK formula), peak height 1.

    Returns the filters, shape (n_bands, len(freqs)), and their centre frequencies in Hz.
    """
    mel_min, mel_max = 2595.0 * np.log10(1.0 + np.array([fmin, fmax]) / 700.0)
    edges = 700.0 * (10.0 ** (np.linspace(mel_min, mel_max, n_bands + 2) / 2595.0) - 1.0)
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
    zeros there).

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

    # Stored models name this class by its public path: keep it when the file moves.
    __module__ = "awiml.features"

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
            The spectrograms, in the shape ``output`` gives.
        """
        check_is_fitted(self)
        X = self._signals(X, reset=False)
        power = self._scaled_power(self.stft_.stft(X, axis=-1)[:, self._rows, :])
        if self.output == "flat":
            return power.reshape(power.shape[0], -1)
        if self.output == "pooled":
            return np.concatenate([power.mean(axis=2), power.std(axis=2)], axis=1)
        return power[..., np.newaxis]

    def _scaled_power(self, S: np.ndarray) -> np.ndarray:
        """Return |S|², mel-pooled and scaled, shape (n_signals, n_freq, n_times).

        Runs over blocks of about 2 MB, which stay in the CPU cache, into one output array,
        rather than whole-array passes that each allocate and stream a large batch.
        """
        n_signals, _, n_times = S.shape
        filters = self.mel_filters_
        n_rows = S.shape[1] if filters is None else filters.shape[0]
        out = np.empty((n_signals, n_rows, n_times))
        step = max(1, _BLOCK_ELEMENTS // (S.shape[1] * n_times))
        for start in range(0, n_signals, step):
            block, power = S[start:start + step], out[start:start + step]
            full = np.square(block.real, out=power if filters is None else None)
            full += np.square(block.imag)
            if filters is not None:
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
        _check_feature_names_in(self, input_features, generate_names=False)  # only checks
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
        if suffix not in (".npy", ".wav", ".wave"):
            raise InvalidDataError(
                f"{path}: cannot read {suffix or 'files without suffix'}; give a .wav or .npy file"
            )
        rate = self.sample_rate  # .npy files say no rate
        try:
            if suffix == ".npy":
                data = np.load(path, allow_pickle=False)
            else:
                from scipy.io import wavfile

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", wavfile.WavFileWarning)
                    rate, data = wavfile.read(path)
        except (ValueError, OSError, EOFError) as exc:
            raise InvalidDataError(f"{path} could not be read as a recording: {exc}") from None
        if rate != self.sample_rate:
            raise InvalidDataError(
                f"{path} is sampled at {rate} Hz but the Spectrogram expects "
                f"sample_rate={self.sample_rate} Hz; resample the file (e.g. "
                "scipy.signal.resample_poly) or set sample_rate to match"
            )
        if data.ndim != 1:
            raise InvalidDataError(
                f"{path} holds an array of shape {data.shape}, not one mono recording; split "
                "the channels into separate files"
            )
        if data.dtype.kind not in "iu":
            return data.astype(np.float64)
        half = 2.0 ** (8 * data.dtype.itemsize - 1)  # unsigned samples are offset by half
        return (data.astype(np.float64) - (half if data.dtype.kind == "u" else 0.0)) / half


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
    return np.stack(cells) if cells else np.empty((0, 0))


# doctest looks for a method's examples in the module its class names, which for a class
# pinned to awiml.features is the package (see __module__ above): point it here.
__test__ = {"Spectrogram.read_input": Spectrogram.read_input}
