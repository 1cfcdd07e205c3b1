"""Synthetic acoustic calls: labelled recordings generated on the spot.

:func:`synthetic_calls` makes recordings of four physically defined call
types, in the units and column labels of two different instruments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidDataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CALL_CLASSES", "INSTRUMENTS", "synthetic_calls"]

#: The call types :func:`synthetic_calls` knows.
CALL_CLASSES: tuple[str, ...] = ("tone", "upsweep", "downsweep", "noise")

#: Waveform column label and factor from pascal, per instrument.
INSTRUMENTS: dict[str, tuple[str, float]] = {
    "A": ("Pressure [Pa]", 1.0),
    "B": ("p (mPa)", 1000.0),
}

_TONE_HZ = 1000.0
_TONE_JITTER_HZ = 20.0
_SWEEP_LOW_HZ = 500.0
_SWEEP_HIGH_HZ = 2500.0
_AMPLITUDE_PA = 1.0


def synthetic_calls(
    n_per_class: int = 20,
    *,
    sample_rate: float = 8000,
    duration: float = 0.5,
    instrument: str = "A",
    snr_db: float = 10.0,
    seed: int | None = 0,
    classes: Sequence[str] = CALL_CLASSES,
) -> pd.DataFrame:
    """Generate labelled acoustic recordings of four call types in white noise.

    Every recording lasts ``duration`` seconds and holds one call of peak
    amplitude 1 Pa, with a random phase, plus white Gaussian noise:

    - ``"tone"``: a sine at 1000 Hz ± 20 Hz (uniform jitter per recording);
    - ``"upsweep"``: a linear chirp from 500 Hz at the first sample to
      2500 Hz at the end (instantaneous frequency ``500 + 4000 t`` Hz for
      0.5 s);
    - ``"downsweep"``: the same chirp from 2500 Hz down to 500 Hz;
    - ``"noise"``: Gaussian noise band-limited to 500-2500 Hz (4th-order
      Butterworth band-pass, applied forwards and backwards), scaled to the
      mean square of the other calls, 0.5 Pa².

    The white noise has the mean square ``0.5 Pa² / 10**(snr_db / 10)``, so
    the signal-to-noise ratio of every recording is ``snr_db`` over the full
    band. The rows come in random order.

    Parameters
    ----------
    n_per_class : int, default=20
        Recordings per call type.
    sample_rate : float, default=8000
        Samples per second, in Hz; at least 6000 Hz, so that 2500 Hz lies
        below the Nyquist frequency with room for the band-pass.
    duration : float, default=0.5
        Length of every recording in seconds.
    instrument : {"A", "B"}, default="A"
        Which instrument of :data:`INSTRUMENTS` "recorded" them: ``"A"`` in pascal
        (column ``"Pressure [Pa]"``), ``"B"`` in millipascal (column ``"p (mPa)"``).
        With the same seed both hold the same signals.
    snr_db : float, default=10.0
        Signal-to-noise ratio in dB.
    seed : int or None, default=0
        Seed of :func:`numpy.random.default_rng`; the same seed gives the
        same recordings.
    classes : sequence of str, default=CALL_CLASSES
        Which call types to generate, from ``CALL_CLASSES``.

    Returns
    -------
    pandas.DataFrame
        One row per recording: ``recording`` (id such as ``"rec0007"``),
        ``label`` (the call type) and the waveform column, an object column
        of 1-D float64 arrays. ``attrs`` holds ``sample_rate`` (Hz),
        ``instrument``, ``unit`` and ``waveform_column``.

    Raises
    ------
    InvalidDataError
        If an argument is out of range; the message says which.

    See Also
    --------
    awiml.features.Spectrogram : turn the recordings into features.

    Examples
    --------
    >>> calls = synthetic_calls(5, instrument="B")
    >>> calls.shape, list(calls.columns), calls.attrs["sample_rate"]
    ((20, 3), ['recording', 'label', 'p (mPa)'], 8000)
    >>> sorted(calls["label"].value_counts().items())
    [('downsweep', 5), ('noise', 5), ('tone', 5), ('upsweep', 5)]
    >>> calls["p (mPa)"].iloc[0].shape
    (4000,)
    """
    import pandas as pd
    from scipy.signal import butter, chirp, sosfiltfilt

    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or (
        n_per_class < 1
    ):
        raise InvalidDataError(f"n_per_class={n_per_class!r} is invalid: give an integer >= 1")
    if not sample_rate >= 6000:
        raise InvalidDataError(
            f"sample_rate={sample_rate!r} is invalid: the calls reach {_SWEEP_HIGH_HZ:g} Hz, "
            "so give at least 6000 Hz"
        )
    n_samples = round(duration * sample_rate)
    if not n_samples >= 64:
        raise InvalidDataError(
            f"duration={duration!r} is invalid: give at least 64 samples ({64 / sample_rate:g} s)"
        )
    if instrument not in INSTRUMENTS:
        raise InvalidDataError(
            f"instrument={instrument!r} is unknown: use one of {sorted(INSTRUMENTS)}"
        )
    classes = [classes] if isinstance(classes, str) else list(classes)
    if not classes or not set(classes) <= set(CALL_CLASSES):
        raise InvalidDataError(f"classes={classes!r} is invalid: choose from {list(CALL_CLASSES)}")
    column, factor = INSTRUMENTS[instrument]
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    mean_square = _AMPLITUDE_PA**2 / 2
    noise_rms = np.sqrt(mean_square / 10 ** (snr_db / 10))
    band = butter(4, [_SWEEP_LOW_HZ, _SWEEP_HIGH_HZ], btype="bandpass", fs=sample_rate,
                  output="sos")
    end = t[-1] if n_samples > 1 else 1.0
    labels, waves = [], []
    for label in classes:
        for _ in range(n_per_class):
            phase = rng.uniform(0, 360)
            if label == "tone":
                f0 = _TONE_HZ + rng.uniform(-_TONE_JITTER_HZ, _TONE_JITTER_HZ)
                call = _AMPLITUDE_PA * np.sin(2 * np.pi * f0 * t + np.deg2rad(phase))
            elif label == "upsweep":
                call = _AMPLITUDE_PA * chirp(t, _SWEEP_LOW_HZ, end, _SWEEP_HIGH_HZ, phi=phase)
            elif label == "downsweep":
                call = _AMPLITUDE_PA * chirp(t, _SWEEP_HIGH_HZ, end, _SWEEP_LOW_HZ, phi=phase)
            else:
                call = sosfiltfilt(band, rng.standard_normal(n_samples))
                call *= np.sqrt(mean_square / np.mean(call**2))
            labels.append(label)
            waves.append((call + rng.normal(0.0, noise_rms, n_samples)) * factor)
    order = rng.permutation(len(labels))
    table = pd.DataFrame(
        {
            "recording": [f"rec{i:04d}" for i in range(len(labels))],
            "label": [labels[i] for i in order],
            column: pd.Series([waves[i] for i in order], dtype=object),
        }
    )
    table.attrs.update(
        sample_rate=sample_rate,
        instrument=instrument,
        unit="Pa" if factor == 1.0 else "mPa",
        waveform_column=column,
    )
    return table
