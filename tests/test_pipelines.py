"""awiml's pieces composed in plain scikit-learn pipelines, end to end.

Fit on one instrument's recordings, predict on another's with other column labels
and units: HarmoniseColumns and ConvertUnits make the second look like the first,
Spectrogram turns waveforms into time-frequency features, and any classifier
(scikit-learn's or awiml's KerasClassifier) learns from them.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from awiml.classify import KerasClassifier, build_cnn, evaluate
from awiml.datasets import synthetic_calls
from awiml.features import Spectrogram
from awiml.preprocess import ConvertUnits, HarmoniseColumns

SAMPLE_RATE = 8000
CANONICAL = {"pressure": ["pressure", "p"]}


def cleaning() -> list[tuple[str, object]]:
    return [
        ("harmonise", HarmoniseColumns(CANONICAL, targets=["pressure"], unknown="drop")),
        ("units", ConvertUnits({"pressure": "Pa"})),
    ]


@pytest.fixture(scope="module")
def calls():
    train = synthetic_calls(25, sample_rate=SAMPLE_RATE, instrument="A", seed=1)
    test = synthetic_calls(15, sample_rate=SAMPLE_RATE, instrument="B", seed=2)
    return train, test


def test_labels_and_units_differ_between_instruments(calls):
    train, test = calls
    assert "Pressure [Pa]" in train.columns and "p (mPa)" in test.columns
    cleaned = Pipeline(cleaning()).fit(train).transform(test)
    assert list(cleaned.columns) == ["pressure"]
    # mPa became Pa: the same physics at the same scale as the training instrument
    scale_train = np.mean([np.std(w) for w in train["Pressure [Pa]"]])
    scale_test = np.mean([np.std(w) for w in cleaned["pressure"]])
    assert scale_test == pytest.approx(scale_train, rel=0.5)


def test_pipeline_with_a_scikit_learn_classifier(calls):
    train, test = calls
    pipeline = Pipeline([
        *cleaning(),
        ("spectrogram", Spectrogram(sample_rate=SAMPLE_RATE, n_fft=256, column="pressure",
                                    output="pooled")),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=2000)),
    ])
    pipeline.fit(train, train["label"])
    report = evaluate(pipeline, test, test["label"])
    # Tones, up- and down-sweeps and band-limited noise differ strongly in their
    # time-frequency structure at 10 dB SNR; pooled spectra separate them almost
    # perfectly, so 0.9 on another instrument's recordings leaves a wide margin.
    assert report.accuracy >= 0.9
    assert set(report.confusion.index) == {"tone", "upsweep", "downsweep", "noise"}


def test_grid_search_over_feature_and_classifier_parameters(calls):
    train, _ = calls
    pipeline = Pipeline([
        *cleaning(),
        ("spectrogram", Spectrogram(sample_rate=SAMPLE_RATE, column="pressure",
                                    output="pooled")),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=2000)),
    ])
    search = GridSearchCV(pipeline, {"spectrogram__n_fft": [128, 256],
                                     "classify__C": [0.1, 1.0]}, cv=3)
    search.fit(train, train["label"])
    assert search.best_params_["spectrogram__n_fft"] in (128, 256)
    assert search.best_score_ >= 0.85


@pytest.mark.slow
def test_pipeline_with_a_keras_cnn_on_spectrograms(calls):
    train, test = calls
    pipeline = Pipeline([
        *cleaning(),
        ("spectrogram", Spectrogram(sample_rate=SAMPLE_RATE, n_fft=128, column="pressure",
                                    output="image", mel_bins=32, fmax=4000)),
        # build_cnn normalises its input (spectrograms arrive in dB, all negative)
        ("classify", KerasClassifier(build_cnn, epochs=30, batch_size=16, learning_rate=0.003,
                                     random_state=0)),
    ])
    pipeline.fit(train, train["label"])
    report = evaluate(pipeline, test, test["label"])
    # The four call types are distinct shapes in a mel spectrogram image (a line, a
    # rising or falling diagonal, a broad smear); a small CNN learns them from 100
    # examples. 0.8 leaves margin for the CPU run's randomness in a 30-epoch fit.
    assert report.accuracy >= 0.8
    assert report.learning_curves() is not None
