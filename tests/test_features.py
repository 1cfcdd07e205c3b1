"""Feature extractors: physics, real EcoTaxa vignettes, extract() and the scikit-learn contract."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile
from scipy.signal import ShortTimeFFT, get_window
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    estimator_checks_generator,
    parametrize_with_checks,
)

import awiml
from awiml.archives.transfer import file_checksum
from awiml.datasets import plankton_images, synthetic_calls
from awiml.errors import AwimlError, InvalidDataError, NotFoundError
from awiml.features import (
    DB_FLOOR,
    DEFAULT_PROPERTIES,
    ImageFeatures,
    ImageTensor,
    Spectrogram,
    extract,
)

FS = 8000
TEMPLATE = Path(awiml.__file__).parent / "data" / "ecotaxa_ml_template"


@pytest.fixture(scope="module")
def calls() -> pd.DataFrame:
    return synthetic_calls(20, sample_rate=FS)


@pytest.fixture(scope="module")
def vignettes() -> pd.DataFrame:
    train, _ = plankton_images(TEMPLATE)
    return train


def tone(freq: float = 1000.0, n: int = 4000, amplitude: float = 1.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(n) / FS)[None, :]


def chirp_up(n: int = 4000) -> np.ndarray:
    t = np.arange(n) / FS
    duration = n / FS
    # instantaneous frequency 500 + (2000 / duration) t Hz
    return np.sin(2 * np.pi * (500 * t + 1000 / duration * t**2))[None, :]


def disc(radius: float, size: int = 128, dark: bool = True) -> np.ndarray:
    rows, cols = np.mgrid[:size, :size]
    inside = (rows - size / 2) ** 2 + (cols - size / 2 + 3) ** 2 <= radius**2
    obj, background = (30, 220) if dark else (220, 30)
    return np.where(inside, obj, background).astype(np.uint8)


# --- Spectrogram: physics ---------------------------------------------------------------


def test_tone_peak_is_within_one_bin_of_its_frequency():
    spec = Spectrogram(sample_rate=FS, output="image").fit(tone())
    image = spec.transform(tone())[0, :, :, 0]
    peak_rows = image.argmax(axis=0)
    bin_width = FS / 256
    assert np.all(np.abs(spec.frequencies_[peak_rows] - 1000.0) <= bin_width)
    assert spec.frequencies_[0] == 0 and spec.frequencies_[-1] == FS / 2
    assert np.allclose(np.diff(spec.times_), 64 / FS)


@pytest.mark.parametrize("frequency", [437.0, 1000.0, 3210.0])
def test_tone_peak_follows_frequency(frequency):
    spec = Spectrogram(sample_rate=FS, output="pooled", scale="power").fit(tone(frequency))
    mean_power = spec.transform(tone(frequency))[0, : len(spec.frequencies_)]
    assert abs(spec.frequencies_[mean_power.argmax()] - frequency) <= FS / 256


def test_upsweep_peak_frequency_increases_over_time():
    x = chirp_up()
    spec = Spectrogram(sample_rate=FS, output="image").fit(x)
    image = spec.transform(x)[0, :, :, 0]
    inside = (spec.times_ >= 0.02) & (spec.times_ <= 0.48)  # frames fully inside the call
    peaks = spec.frequencies_[image[:, inside].argmax(axis=0)]
    assert np.all(np.diff(peaks) >= 0)
    expected = 500 + 4000 * spec.times_[inside]  # 500 -> 2500 Hz over 0.5 s
    assert np.all(np.abs(peaks - expected) <= 2 * FS / 256)


def test_power_is_a_one_sided_psd():
    # Parseval: over a frame inside the signal, sum(P) * df is the mean square, A²/2 for a sine.
    spec = Spectrogram(sample_rate=FS, scale="power", output="image").fit(tone(amplitude=2.0))
    power = spec.transform(tone(amplitude=2.0))[0, :, 5:-5, 0]
    mean_square = power.sum(axis=0) * spec.stft_.delta_f
    np.testing.assert_allclose(mean_square, 2.0**2 / 2, rtol=1e-3)


def test_mel_scale_keeps_the_peak_near_the_tone():
    spec = Spectrogram(sample_rate=FS, mel_bins=40, output="image").fit(tone())
    image = spec.transform(tone())[0, :, :, 0]
    assert image.shape[0] == 40 == len(spec.frequencies_) == spec.mel_filters_.shape[0]
    assert np.all(np.diff(spec.frequencies_) > 0)
    near = np.argmin(np.abs(spec.frequencies_ - 1000))
    band_spacing = spec.frequencies_[near + 1] - spec.frequencies_[near - 1]
    peaks = spec.frequencies_[image[:, 5:-5].argmax(axis=0)]
    assert np.all(np.abs(peaks - 1000) <= band_spacing / 2)


def test_mel_bands_span_fmin_to_fmax_and_warn_when_empty():
    spec = Spectrogram(sample_rate=FS, mel_bins=10, fmin=300, fmax=3000).fit(tone())
    assert 300 < spec.frequencies_[0] < spec.frequencies_[-1] < 3000
    with pytest.warns(UserWarning, match="mel bands contain no frequency row"):
        Spectrogram(sample_rate=FS, n_fft=16, mel_bins=64).fit(tone())


def test_fmin_fmax_band_limit_the_rows():
    full = Spectrogram(sample_rate=FS, output="image").fit(tone())
    band = Spectrogram(sample_rate=FS, output="image", fmin=500, fmax=2000).fit(tone())
    assert band.frequencies_.min() >= 500 and band.frequencies_.max() <= 2000
    assert band.frequencies_[0] - 500 < full.stft_.delta_f
    keep = (full.frequencies_ >= 500) & (full.frequencies_ <= 2000)
    np.testing.assert_array_equal(band.transform(tone()), full.transform(tone())[:, keep])


def test_db_log_and_power_scales_are_consistent(calls):
    X = np.stack(calls["Pressure [Pa]"][:4])
    power = Spectrogram(sample_rate=FS, scale="power").fit_transform(X)
    db = Spectrogram(sample_rate=FS, scale="db").fit_transform(X)
    natural = Spectrogram(sample_rate=FS, scale="log").fit_transform(X)
    np.testing.assert_allclose(db, 10 * np.log10(np.maximum(power, DB_FLOOR)))
    np.testing.assert_allclose(natural, db * np.log(10) / 10)
    silent = Spectrogram(sample_rate=FS).fit_transform(np.zeros((1, 1000)))
    assert np.all(silent == 10 * np.log10(DB_FLOOR))  # the floor, not -inf


@pytest.mark.parametrize(
    ("n_fft", "hop", "window"), [(256, None, "hann"), (128, 100, "hamming"), (512, 64, "blackman")]
)
def test_power_equals_plain_shorttimefft(calls, n_fft, hop, window):
    X = np.stack(calls["Pressure [Pa]"][:8])
    spec = Spectrogram(sample_rate=FS, n_fft=n_fft, hop=hop, window=window, scale="power")
    ours = spec.fit_transform(X)
    sft = ShortTimeFFT(get_window(window, n_fft), hop or n_fft // 4, FS,
                       fft_mode="onesided2X", scale_to="psd")
    plain = sft.spectrogram(X, axis=-1)
    np.testing.assert_allclose(ours, plain.reshape(len(X), -1), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(spec.frequencies_, sft.f)
    np.testing.assert_array_equal(spec.times_, sft.t(X.shape[1]))


def test_output_shapes_and_feature_names(calls):
    X = np.stack(calls["Pressure [Pa]"][:3])
    image = Spectrogram(sample_rate=FS, output="image").fit_transform(X)
    n_freq, n_times = image.shape[1:3]
    assert image.shape == (3, 129, n_times, 1)
    flat = Spectrogram(sample_rate=FS).fit(X)
    assert flat.transform(X).shape == (3, n_freq * n_times)
    np.testing.assert_array_equal(flat.transform(X), image.reshape(3, -1))
    names = flat.get_feature_names_out()
    assert len(names) == n_freq * n_times and len(set(names)) == len(names)
    assert names[0] == f"db_0Hz_{flat.times_[0]:g}s"
    pooled = Spectrogram(sample_rate=FS, output="pooled").fit(X)
    values = pooled.transform(X)
    assert values.shape == (3, 2 * n_freq)
    np.testing.assert_allclose(values[:, :n_freq], image[..., 0].mean(axis=2))
    np.testing.assert_allclose(values[:, n_freq:], image[..., 0].std(axis=2))
    assert list(pooled.get_feature_names_out()[[0, n_freq]]) == ["db_mean_0Hz", "db_std_0Hz"]
    assert not hasattr(Spectrogram(sample_rate=FS, output="image"), "get_feature_names_out")


def test_dataframe_with_a_waveform_column(calls):
    X = np.stack(calls["Pressure [Pa]"])
    expected = Spectrogram(sample_rate=FS).fit_transform(X)
    named = Spectrogram(sample_rate=FS, column="Pressure [Pa]").fit(calls)
    np.testing.assert_array_equal(named.transform(calls), expected)
    assert named.n_features_in_ == X.shape[1]
    found = Spectrogram(sample_rate=FS).fit(calls)  # the one array column is found
    np.testing.assert_array_equal(found.transform(calls), expected)
    with pytest.raises(InvalidDataError, match=r"no column 'pressure'.*Pressure \[Pa\]"):
        Spectrogram(sample_rate=FS, column="pressure").fit(calls)


def test_waveforms_of_different_lengths_are_named():
    frame = pd.DataFrame(
        {"wave": pd.Series([np.zeros(500), np.zeros(500), np.zeros(499), np.zeros(500)],
                           index=["a", "b", "c", "d"], dtype=object)}
    )
    with pytest.raises(InvalidDataError, match=r"most have 500 samples, but rows 'c' \(499\)"):
        Spectrogram(sample_rate=FS, column="wave").fit(frame)


def test_recordings_of_another_length_are_refused():
    spec = Spectrogram(sample_rate=FS).fit(tone(n=4000))
    with pytest.raises(ValueError, match=r"expecting 4000 features.*every feature is one sample"):
        spec.transform(tone(n=3999))
    with pytest.raises(InvalidDataError, match="fewer than half a frame"):
        Spectrogram(sample_rate=FS, n_fft=256).fit(tone(n=100))


def test_parameters_are_checked_in_fit_not_init():
    spec = Spectrogram(sample_rate=-1, scale="dB", output="table")
    assert spec.get_params()["scale"] == "dB"
    with pytest.raises(InvalidDataError, match="sample_rate"):
        spec.fit(tone())
    for bad in [{"scale": "dB"}, {"output": "table"}, {"n_fft": 1}, {"hop": 0}, {"fmin": 5000},
                {"fmin": 2000, "fmax": 1000}, {"mel_bins": 0}, {"window": "nonsense"}]:
        with pytest.raises(InvalidDataError, match=next(iter(bad))):
            Spectrogram(sample_rate=FS, **bad).fit(tone())


def test_read_input_round_trips_a_wav(tmp_path):
    x = tone()[0] * 0.5
    wavfile.write(tmp_path / "float.wav", FS, x)
    spec = Spectrogram(sample_rate=FS)
    np.testing.assert_array_equal(spec.read_input(tmp_path / "float.wav"), x)
    wavfile.write(tmp_path / "int16.wav", FS, (x * 32767).astype(np.int16))
    np.testing.assert_allclose(spec.read_input(tmp_path / "int16.wav"), x, atol=2 / 32768)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(spec.read_input(tmp_path / "x.npy"), x)


def test_read_input_errors_name_the_file(tmp_path):
    path = tmp_path / "fast.wav"
    wavfile.write(path, 16000, np.zeros(100))
    with pytest.raises(InvalidDataError, match=rf"{path}.*16000 Hz.*sample_rate=8000 Hz"):
        Spectrogram(sample_rate=FS).read_input(path)
    wavfile.write(tmp_path / "stereo.wav", FS, np.zeros((100, 2)))
    with pytest.raises(InvalidDataError, match=r"stereo\.wav.*mono"):
        Spectrogram(sample_rate=FS).read_input(tmp_path / "stereo.wav")
    with pytest.raises(NotFoundError, match=r"missing\.wav"):
        Spectrogram(sample_rate=FS).read_input(tmp_path / "missing.wav")


# --- ImageFeatures ----------------------------------------------------------------------


@pytest.mark.parametrize("dark", [True, False])
def test_disc_of_known_radius(dark):
    r = 25.0
    features = ImageFeatures(properties=("area", "eccentricity", "equivalent_diameter_area",
                                         "intensity_mean", "circularity"))
    area, eccentricity, esd, mean, circularity = features.fit_transform([disc(r, dark=dark)])[0]
    assert area == pytest.approx(np.pi * r**2, rel=0.02)
    assert eccentricity < 0.1
    assert esd == pytest.approx(2 * r, rel=0.02)
    assert mean == (30 if dark else 220)  # the object's grey level, found either way round
    assert 0.85 < circularity <= 1.05


def test_pixel_size_scales_lengths_and_areas_and_names_the_unit():
    image = [disc(20)]
    plain = ImageFeatures().fit(image)
    scaled = ImageFeatures(pixel_size=10.6).fit(image)
    in_mm = ImageFeatures(pixel_size=(0.0106, "mm")).fit(image)
    names = list(plain.get_feature_names_out())
    assert names[:3] == ["area [px^2]", "perimeter [px]", "axis_major_length [px]"]
    assert "orientation [rad]" in names and "eccentricity" in names
    assert list(scaled.get_feature_names_out())[:2] == ["area [µm^2]", "perimeter [µm]"]
    assert list(in_mm.get_feature_names_out())[:2] == ["area [mm^2]", "perimeter [mm]"]
    factor = np.array([{"area": 10.6**2, "length": 10.6}.get(kind, 1.0) for kind in (
        "area", "length", "length", "length", None, None, None, "length", "angle", "length",
        None, None, None, None, None, None)])
    np.testing.assert_allclose(scaled.transform(image), plain.transform(image) * factor)
    np.testing.assert_allclose(in_mm.transform(image), scaled.transform(image)
                               * np.where(factor == 10.6**2, 1e-6, np.where(factor == 10.6,
                                                                            1e-3, 1)))


def test_real_vignettes_agree_with_zooprocess(vignettes):
    # The 320 training vignettes come with ZooProcess's own measurements of the same objects.
    reference = pd.read_csv(TEMPLATE / "training_features.csv.gz").set_index("id")
    subset = vignettes.iloc[::8]
    names = list(ImageFeatures().fit([]).get_feature_names_out())
    ours = pd.DataFrame(ImageFeatures().fit_transform(subset["path"]), columns=names,
                        index=subset["id"])
    assert np.isfinite(ours.to_numpy()).all()
    theirs = reference.loc[subset["id"]]
    # regionprops' area counts the object's pixels without its holes, as ZooProcess's area_exc
    area_ratio = ours["area [px^2]"] / theirs["area_exc"]
    assert abs(area_ratio.median() - 1) < 0.01 and area_ratio.between(0.95, 1.01).all()
    grey_ratio = ours["intensity_mean"] / theirs["mean"]
    assert abs(grey_ratio.median() - 1) < 0.01 and grey_ratio.between(0.9, 1.01).all()
    assert (ours["intensity_max"] <= 255).all() and (ours["eccentricity"] < 1).all()


def test_paths_arrays_and_rgb_give_the_same_features(vignettes):
    from PIL import Image

    paths = list(vignettes["path"][:3])
    rgb = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    grey = [np.asarray(Image.open(p).convert("L")) for p in paths]
    features = ImageFeatures().fit(paths)
    from_paths = features.transform(paths)
    np.testing.assert_array_equal(features.transform(rgb), from_paths)
    np.testing.assert_allclose(features.transform(grey), from_paths, rtol=0.05)
    stack = np.stack([disc(10), disc(20)])
    np.testing.assert_array_equal(features.transform(stack),
                                  features.transform([disc(10), disc(20)]))


def test_blank_images_raise_an_error_naming_them(tmp_path):
    blank = np.full((40, 40), 200, dtype=np.uint8)
    with pytest.raises(InvalidDataError, match="image 1 is blank"):
        ImageFeatures().fit_transform([disc(10), blank])
    np.save(tmp_path / "blank.npy", blank)
    with pytest.raises(InvalidDataError, match=r"blank\.npy is blank"):
        ImageFeatures().fit_transform([tmp_path / "blank.npy"])
    with pytest.raises(InvalidDataError, match="image 0 shows no object"):
        ImageFeatures(threshold=10, invert=True).fit_transform([disc(10)])


def test_image_features_parameters_are_checked():
    for bad in [{"threshold": "magic"}, {"properties": ("area", "volume")}, {"properties": ()},
                {"pixel_size": -1}, {"invert": "yes"}]:
        with pytest.raises(InvalidDataError, match=next(iter(bad))):
            ImageFeatures(**bad).fit([])
    with pytest.raises(InvalidDataError, match="single path"):
        ImageFeatures().fit("one.jpg")
    with pytest.raises(InvalidDataError, match=r"not a table; pass one column, e.g. df\['path'\]"):
        ImageFeatures().fit(pd.DataFrame({"path": ["a.jpg"]}))
    images = (disc(r) for r in (5, 10))  # a generator is read once, by transform
    assert ImageFeatures().fit_transform(images).shape == (2, len(DEFAULT_PROPERTIES))
    assert ImageFeatures(threshold="otsu").fit_transform([disc(10)]).shape == (
        1, len(DEFAULT_PROPERTIES))


# --- ImageTensor ------------------------------------------------------------------------


def test_image_tensor_shapes_and_ranges(vignettes):
    paths = list(vignettes["path"][:6])
    unit = ImageTensor().fit_transform(paths)
    assert unit.shape == (6, 64, 64, 1) and unit.dtype == np.float32
    assert unit.min() >= 0 and unit.max() <= 1 and unit.max() == 1.0
    rgb = ImageTensor(size=(32, 48), grey=False, normalize="standard").fit_transform(paths)
    assert rgb.shape == (6, 32, 48, 3)
    np.testing.assert_allclose(rgb.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(rgb.std(axis=(1, 2, 3)), 1, atol=1e-4)
    raw = ImageTensor(normalize=None).fit_transform([disc(10)])
    assert raw.max() == 220 and raw.min() == 30
    deep = disc(10).astype(np.uint16) * 257  # 255 * 257 = 65535
    np.testing.assert_allclose(ImageTensor().fit_transform([deep]),
                               ImageTensor().fit_transform([disc(10)]), atol=1e-4)


def test_image_tensor_keeps_the_aspect_ratio_by_padding_with_background():
    wide = np.full((20, 80), 200, dtype=np.uint8)
    wide[8:12, 5:75] = 10
    padded = ImageTensor(size=(40, 40)).fit_transform([wide])[0, :, :, 0]
    # 80 px wide -> 40 px, so 20 px tall -> 10 px, centred: rows 15-24 hold the image
    assert np.all(padded[:15] == np.float32(200 / 255))
    assert np.all(padded[25:] == np.float32(200 / 255))
    assert padded[15:25].min() < 0.2
    stretched = ImageTensor(size=(40, 40), keep_aspect=False).fit_transform([wide])[0, :, :, 0]
    assert stretched[:, 20].min() < 0.2 and (stretched[:, 20] < 0.5).sum() >= 6


# --- extract ----------------------------------------------------------------------------


class CountingFeatures(ImageFeatures):
    """ImageFeatures that counts the images it measures (only meaningful with n_jobs=1)."""

    measured = 0

    def transform(self, X):
        items = list(X)
        type(self).measured += len(items)
        return super().transform(items)


def test_parallel_extraction_equals_serial(vignettes):
    paths = list(vignettes["path"][:24])
    serial = extract(ImageFeatures(), paths, progress=False)
    parallel = extract(ImageFeatures(), paths, n_jobs=2, chunk_size=5, progress=False)
    assert serial.shape == (24, len(DEFAULT_PROPERTIES))
    # equal up to the last bit of the inertia-tensor eigenvalues, which worker processes
    # may compute along another code path
    np.testing.assert_allclose(parallel, serial, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(serial, ImageFeatures().fit_transform(paths))


def test_cache_hit_needs_no_recomputation(vignettes, workspace):
    paths = list(vignettes["path"][:10])
    CountingFeatures.measured = 0
    first = extract(CountingFeatures(), paths, cache=workspace, progress=False)
    assert CountingFeatures.measured == 10
    files = sorted(workspace.features.glob("CountingFeatures-*/*.npy"))
    assert {f.stem for f in files} == {file_checksum(p).split(":")[1] for p in paths}
    np.testing.assert_array_equal(np.load(files[0], allow_pickle=False).shape,
                                  (len(DEFAULT_PROPERTIES),))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert not list(workspace.features.rglob("*.tmp"))

    CountingFeatures.measured = 0
    second = extract(CountingFeatures(), paths, cache=workspace, progress=False)
    assert CountingFeatures.measured == 0
    np.testing.assert_array_equal(second, first)
    assert {f: f.stat().st_mtime_ns for f in files} == stamps

    CountingFeatures.measured = 0
    changed = extract(CountingFeatures(threshold="otsu"), paths, cache=workspace, progress=False)
    assert CountingFeatures.measured == 10
    assert len(list(workspace.features.glob("CountingFeatures-*"))) == 2
    assert not np.array_equal(changed, first)


def test_an_upgrade_computes_the_features_again(vignettes, workspace, monkeypatch):
    import json

    import awiml.features.extraction

    paths = list(vignettes["path"][:4])
    CountingFeatures.measured = 0
    extract(CountingFeatures(), paths, cache=workspace, progress=False)
    (folder,) = workspace.features.glob("CountingFeatures-*")
    versions = json.loads((folder / "params.json").read_text())["versions"]
    assert set(versions) >= {"awiml", "numpy", "scipy", "scikit-image"}
    real = awiml.features.extraction._computing_versions
    monkeypatch.setattr(awiml.features.extraction, "_computing_versions",
                        lambda: {**real(), "scikit-image": "99.0"})
    CountingFeatures.measured = 0
    extract(CountingFeatures(), paths, cache=workspace, progress=False)
    assert CountingFeatures.measured == 4  # not taken from the old folder
    assert len(list(workspace.features.glob("CountingFeatures-*"))) == 2


def test_cache_in_a_plain_folder_and_parallel_writers(vignettes, tmp_path):
    paths = list(vignettes["path"][:12])
    once = extract(ImageFeatures(), paths, cache=tmp_path / "c", n_jobs=2, chunk_size=3,
                   progress=False)
    (folder,) = (tmp_path / "c").iterdir()
    assert len(list(folder.glob("*.npy"))) == 12 and (folder / "params.json").is_file()
    again = extract(ImageFeatures(), paths, cache=tmp_path / "c", progress=False)
    np.testing.assert_array_equal(again, once)


def test_progress_bar_can_be_turned_off(vignettes, capsys):
    paths = list(vignettes["path"][:3])
    extract(ImageFeatures(), paths, progress=False)
    assert "ImageFeatures" not in capsys.readouterr().err
    extract(ImageFeatures(), paths, progress=True)
    assert "ImageFeatures" in capsys.readouterr().err


def test_a_corrupt_file_is_named(vignettes, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(Path(vignettes["path"][0]).read_bytes()[:300])
    paths = [*vignettes["path"][:3], bad]
    with pytest.raises(InvalidDataError, match=r"corrupt\.jpg"):
        extract(ImageFeatures(), paths, n_jobs=2, chunk_size=2, progress=False)
    with pytest.raises(NotFoundError, match=r"1 input file\(s\) do not exist: .*gone\.jpg"):
        extract(ImageFeatures(), [*paths[:2], tmp_path / "gone.jpg"], progress=False)


def test_extract_fits_a_spectrogram_on_the_first_file(calls, tmp_path):
    paths = []
    for name, wave in zip(calls["recording"][:6], calls["Pressure [Pa]"][:6], strict=True):
        wavfile.write(tmp_path / f"{name}.wav", FS, wave)
        paths.append(tmp_path / f"{name}.wav")
    spec = Spectrogram(sample_rate=FS, output="image")
    images = extract(spec, paths, cache=tmp_path / "cache", progress=False)
    assert spec.n_features_in_ == 4000  # fitted in place on the first file
    np.testing.assert_allclose(images, spec.transform(np.stack(calls["Pressure [Pa]"][:6])))
    short = tmp_path / "short.wav"
    wavfile.write(short, FS, np.zeros(3000))
    with pytest.raises(InvalidDataError, match=r"short\.wav.*expecting 4000"):
        extract(spec, [*paths[:2], short], progress=False)


def test_extract_image_tensors(vignettes):
    tensors = extract(ImageTensor(size=(16, 16)), vignettes["path"][:5], progress=False)
    assert tensors.shape == (5, 16, 16, 1) and tensors.dtype == np.float32


def test_dask_backend_equals_loky(vignettes):
    distributed = pytest.importorskip("dask.distributed")
    paths = list(vignettes["path"][:12])
    expected = extract(ImageFeatures(), paths, progress=False)
    # an in-process LocalCluster: this test takes about 0.5 s, so it is not marked slow
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None):
        result = extract(ImageFeatures(), paths, backend="dask", chunk_size=3, progress=False)
    np.testing.assert_array_equal(result, expected)
    with pytest.raises(AwimlError, match=r"no running dask\.distributed Client.*SLURMCluster"):
        extract(ImageFeatures(), paths, backend="dask", progress=False)


# --- the scikit-learn contract ----------------------------------------------------------


def test_clone_and_get_params():
    spec = Spectrogram(sample_rate=FS, n_fft=128, mel_bins=20, column="p")
    copy = clone(spec)
    assert copy.get_params() == spec.get_params() and copy is not spec
    assert set(spec.get_params()) == {"sample_rate", "n_fft", "hop", "window", "fmin", "fmax",
                                      "mel_bins", "scale", "output", "column"}
    fitted = clone(spec).fit(tone())
    assert not hasattr(clone(fitted), "frequencies_")
    assert clone(ImageFeatures(pixel_size=(1, "mm"))).pixel_size == (1, "mm")
    assert clone(ImageTensor(size=(8, 8))).get_params()["size"] == (8, 8)


def test_pipeline_classifies_synthetic_calls(calls):
    # The four classes differ strongly in time-frequency structure at 10 dB SNR: a constant
    # line at 1 kHz, a rising and a falling line from 0.5 to 2.5 kHz, and a 0.5-2.5 kHz band
    # filled uniformly. Every (frequency, time) cell of the flat dB spectrogram tells them
    # apart, so a linear model must reach near-perfect accuracy on unseen recordings.
    # 32 mel bands from 300 Hz to 3 kHz keep the fits fast (about 2000 features, not 8600).
    train, test = train_test_split(calls, test_size=0.5, stratify=calls["label"], random_state=0)
    spectrogram = Spectrogram(sample_rate=FS, column="Pressure [Pa]", mel_bins=32, fmin=300,
                              fmax=3000)
    model = Pipeline([
        ("spectrogram", spectrogram),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=1000)),
    ])
    model.fit(train, train["label"])
    assert model.score(test, test["label"]) >= 0.9
    search = GridSearchCV(model, {"spectrogram__n_fft": [128, 256]}, cv=3)
    search.fit(train, train["label"])
    assert search.best_params_["spectrogram__n_fft"] in (128, 256)
    assert search.score(test, test["label"]) >= 0.9


@parametrize_with_checks(
    [
        Spectrogram(sample_rate=100, n_fft=2),
        Spectrogram(sample_rate=1000, n_fft=2, hop=1, scale="power", output="pooled"),
    ],
    xfail_strict=True,
)
def test_spectrogram_passes_sklearn_checks(estimator, check):
    # Spectrogram reads 2-D arrays (one recording per row), so every check applies and none
    # is expected to fail. n_fft=2 lets the checks' tiny tables (1 to 10 columns) be recordings.
    check(estimator)


# ImageFeatures and ImageTensor read images (a list of 2-D/3-D arrays or file paths) and
# say so in their tags (input_tags.two_d_array=False, three_d_array=True). For such
# estimators scikit-learn's generator yields no checks, so this test runs the checks it
# runs for a 2-D transformer itself; those that feed a numeric table cannot apply and are
# expected to fail, each for the reason given.
_TABLE = "feeds a 2-D numeric table, which is not a sequence of images"
_NOT_APPLICABLE = {
    "check_fit_score_takes_y": _TABLE,
    "check_estimators_overwrite_params": _TABLE,
    "check_dont_overwrite_parameters": _TABLE,
    "check_estimators_fit_returns_self": _TABLE,
    "check_readonly_memmap_input": _TABLE,
    "check_positive_only_tag_during_fit": _TABLE,
    "check_estimators_dtypes": _TABLE,
    "check_complex_data": "expects sklearn's complex-table message; images are real grey levels",
    "check_dtype_object": "feeds an object table; images must be numeric arrays or paths",
    "check_estimators_empty_data_messages": "expects sklearn's n_features message for a table",
    "check_pipeline_consistency": _TABLE,
    "check_estimators_nan_inf": "fit does not read images (nothing learned), so cannot see NaN",
    "check_estimators_pickle": _TABLE,
    "check_f_contiguous_array_estimator": _TABLE,
    "check_transformer_data_not_an_array": _TABLE,
    "check_transformer_general": _TABLE,
    "check_transformer_preserve_dtypes": _TABLE,
    "check_methods_sample_order_invariance": _TABLE,
    "check_methods_subset_invariance": _TABLE,
    "check_fit2d_1sample": "expects sklearn's 1-sample message for a table",
    "check_fit2d_1feature": "expects sklearn's 1-feature message for a table",
    "check_dict_unchanged": _TABLE,
    "check_fit_idempotent": _TABLE,
    "check_fit_check_is_fitted": _TABLE,
    "check_n_features_in": "images have no n_features_in_; their sizes differ",
    "check_fit2d_predict1d": _TABLE,
}


def _check_name(check) -> str:
    func = check.func if isinstance(check, functools.partial) else check
    return func.__name__


def _image_extractor_checks():
    generated = estimator_checks_generator(Spectrogram(sample_rate=100, n_fft=2))
    checks = [check for _, check in generated]
    for estimator in (ImageFeatures(), ImageTensor()):
        name = type(estimator).__name__
        for check in checks:
            bound = functools.partial(check.func, name, *check.args[1:], **check.keywords)
            check_name = _check_name(check)
            marks = ()
            if check_name in _NOT_APPLICABLE:
                marks = pytest.mark.xfail(reason=_NOT_APPLICABLE[check_name], strict=True)
            yield pytest.param(estimator, bound, marks=marks, id=f"{name}-{check_name}-"
                               f"{'-'.join(f'{k}={v}' for k, v in check.keywords.items())}")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("estimator", "check"), list(_image_extractor_checks()))
def test_image_extractors_pass_the_sklearn_checks_that_apply(estimator, check):
    check(estimator)


def test_image_extractors_fit_idempotent_and_pickle(vignettes):
    import pickle

    images = list(vignettes["path"][:3])
    for estimator in (ImageFeatures(), ImageTensor()):
        once = estimator.fit(images).transform(images)
        twice = clone(estimator).fit(images).fit(images).transform(images)
        np.testing.assert_array_equal(once, twice)
        restored = pickle.loads(pickle.dumps(estimator))
        np.testing.assert_array_equal(restored.transform(images), once)
        assert estimator.fit(images) is estimator


def test_no_pickle_in_cache_files(vignettes, tmp_path):
    extract(ImageFeatures(), vignettes["path"][:2], cache=tmp_path, progress=False)
    for path in tmp_path.rglob("*.npy"):
        assert np.load(path, allow_pickle=False).dtype == np.float64
        assert os.stat(path).st_size < 1024
