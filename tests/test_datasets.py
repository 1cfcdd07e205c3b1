"""Labelled collections: synthetic acoustic calls and the EcoTaxa ML-template images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import ShortTimeFFT, get_window

import awiml
from awiml.datasets import CALL_CLASSES, plankton_images, synthetic_calls
from awiml.errors import InvalidDataError, NotFoundError

TEMPLATE = Path(awiml.__file__).parent / "data" / "ecotaxa_ml_template"


def peak_track(wave: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Peak frequency (Hz) of every frame that lies fully inside the recording, and its time."""
    sft = ShortTimeFFT(get_window("hann", 256), 64, fs)
    power = sft.spectrogram(wave)
    first, last = sft.lower_border_end[1], sft.upper_border_begin(len(wave))[1]
    return sft.f[power[:, first:last].argmax(axis=0)], sft.t(len(wave))[first:last]


def test_shape_columns_and_labels():
    calls = synthetic_calls(7)
    assert calls.shape == (28, 3)
    assert list(calls.columns) == ["recording", "label", "Pressure [Pa]"]
    assert calls["recording"].is_unique
    assert calls["label"].value_counts().to_dict() == dict.fromkeys(CALL_CLASSES, 7)
    assert calls["Pressure [Pa]"].dtype == object
    waves = calls["Pressure [Pa]"]
    assert all(w.shape == (4000,) and w.dtype == np.float64 for w in waves)
    assert calls.attrs == {"sample_rate": 8000, "instrument": "A", "unit": "Pa",
                           "waveform_column": "Pressure [Pa]"}
    assert list(calls["label"][:8]) != sorted(calls["label"][:8])  # rows are shuffled


def test_instrument_b_is_the_same_signal_in_millipascal():
    a = synthetic_calls(3, instrument="A", seed=5)
    b = synthetic_calls(3, instrument="B", seed=5)
    assert list(b.columns) == ["recording", "label", "p (mPa)"]
    assert b.attrs["unit"] == "mPa" and b.attrs["waveform_column"] == "p (mPa)"
    assert (a["label"] == b["label"]).all()
    np.testing.assert_allclose(np.stack(b["p (mPa)"]), 1000 * np.stack(a["Pressure [Pa]"]))
    with pytest.raises(InvalidDataError, match=r"instrument='C'.*\['A', 'B'\]"):
        synthetic_calls(instrument="C")


def test_same_seed_same_recordings_other_seed_other_recordings():
    one, two, other = (synthetic_calls(2, seed=s) for s in (11, 11, 12))
    np.testing.assert_array_equal(np.stack(one["Pressure [Pa]"]), np.stack(two["Pressure [Pa]"]))
    assert (one["label"] == two["label"]).all()
    assert not np.allclose(np.stack(one["Pressure [Pa]"]), np.stack(other["Pressure [Pa]"]))


def test_the_physics_of_each_call():
    fs = 16000
    calls = synthetic_calls(3, sample_rate=fs, duration=1.0, snr_db=20, seed=1)
    bin_width = fs / 256
    for label, wave in zip(calls["label"], calls["Pressure [Pa]"], strict=True):
        peaks, times = peak_track(wave, fs)
        if label == "tone":  # 1000 Hz +- 20 Hz
            assert np.all(np.abs(peaks - 1000) <= 20 + bin_width)
        elif label in ("upsweep", "downsweep"):  # linear 500 <-> 2500 Hz over the recording
            rising = 500 + 2000 * times / 1.0
            expected = rising if label == "upsweep" else 3000 - rising
            assert np.all(np.abs(peaks - expected) <= 2 * bin_width)
        else:  # band-limited noise: the peaks wander inside 500-2500 Hz
            assert peaks.min() >= 500 - bin_width and peaks.max() <= 2500 + bin_width
            assert np.ptp(peaks) > 500


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 30.0])
def test_signal_to_noise_ratio(snr_db):
    from scipy.signal import welch

    calls = synthetic_calls(4, snr_db=snr_db, classes=("tone",), seed=3)
    # White noise has a flat PSD; above the calls (3-3.8 kHz) it is alone, and its level
    # times the full band (fs / 2) is its mean square. The signal's is 0.5 Pa² (1 Pa sine).
    freqs, psd = welch(np.stack(calls["Pressure [Pa]"]), fs=8000, nperseg=256)
    noise = psd[:, (freqs > 3000) & (freqs < 3800)].mean() * 8000 / 2
    assert 10 * np.log10(0.5 / noise) == pytest.approx(snr_db, abs=0.5)


def test_noise_class_has_the_power_of_the_others():
    calls = synthetic_calls(5, snr_db=60, seed=2)
    power = {label: np.mean([np.mean(w**2) for w in group["Pressure [Pa]"]])
             for label, group in calls.groupby("label")}
    assert all(p == pytest.approx(0.5, rel=0.02) for p in power.values())


def test_arguments_are_checked():
    with pytest.raises(InvalidDataError, match="n_per_class"):
        synthetic_calls(0)
    with pytest.raises(InvalidDataError, match="sample_rate"):
        synthetic_calls(sample_rate=4000)
    with pytest.raises(InvalidDataError, match="classes"):
        synthetic_calls(classes=("tone", "whistle"))
    assert set(synthetic_calls(2, classes=("noise",))["label"]) == {"noise"}


def test_plankton_images_loads_the_template():
    train, test = plankton_images(TEMPLATE)
    assert train.shape == (320, 3) and test.shape == (80, 3)
    assert list(train.columns) == ["id", "path", "label"]
    classes = {"Cladocera", "Copepoda", "Siphonophorae", "detritus"}
    assert train["label"].value_counts().to_dict() == dict.fromkeys(classes, 80)
    assert test["label"].value_counts().to_dict() == dict.fromkeys(classes, 20)
    for path in [*train["path"], *test["path"]]:
        assert os.path.isabs(path) and os.path.isfile(path) and "/io/" not in path
    assert train["path"].iloc[0].endswith(f"images/{train['id'].iloc[0]}.jpg")
    assert set(train["id"]).isdisjoint(test["id"])


def test_plankton_images_errors_name_what_is_missing(tmp_path):
    with pytest.raises(NotFoundError, match="nowhere"):
        plankton_images(tmp_path / "nowhere")
    root = tmp_path / "copy"
    (root / "images").mkdir(parents=True)
    shutil.copy(TEMPLATE / "training_labels.csv", root)
    with pytest.raises(NotFoundError, match=r"test_labels.csv do\(es\) not exist"):
        plankton_images(root)
    (root / "test_labels.csv").write_text("id,img_path,label\n1,io/images/1.jpg,a\n")
    with pytest.raises(NotFoundError, match=r"320 image\(s\) listed in .*training_labels.csv"):
        plankton_images(root)
    (root / "training_labels.csv").write_text("id,name\n1,a\n")
    with pytest.raises(InvalidDataError, match=r"training_labels.csv lacks .*\['label'\]"):
        plankton_images(root)
