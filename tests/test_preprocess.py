"""awiml.preprocess and awiml.units on real PANGAEA files, and the scikit-learn contract."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from awiml.archives.pangaea import read_text
from awiml.errors import InvalidDataError
from awiml.preprocess import (
    ConvertUnits,
    DropMissing,
    HarmoniseColumns,
    QualityFilter,
    concat_tables,
)
from awiml.units import convert, parse_unit, split_label, unit_registry

PANGAEA = Path(__file__).parent / "data" / "pangaea"
TSG = PANGAEA / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
PIGMENTS = PANGAEA / "PANGAEA_898941_Bracher_2019_PS103_pigments.tab"
RADIOSONDES = PANGAEA / "Polarstern_radiosondes_datawarehouse_noheader.txt"
FLAGS = PANGAEA / "malformed" / "flags_and_limits.tab"

#: One mapping for all three files: TSG says "Date/Time" and "Depth water", the
#: pigments file (header renamed by a third party) says "Date" and "Depth".
MAPPING = {
    "time": ["Date/Time", "Date"],
    "depth": ["Depth water", "Depth"],
    "latitude": ["Latitude"],
    "longitude": ["Longitude"],
    "temperature": ["Temp"],
    "salinity": ["Sal"],
}


@pytest.fixture(scope="module")
def tsg() -> pd.DataFrame:
    return read_text(TSG)


@pytest.fixture(scope="module")
def pigments() -> pd.DataFrame:
    with pytest.warns(UserWarning, match="does not match"):
        return read_text(PIGMENTS, on_mismatch="warn")


@pytest.fixture(scope="module")
def radiosondes() -> pd.DataFrame:
    return read_text(RADIOSONDES)


@pytest.fixture(scope="module")
def flagged() -> pd.DataFrame:
    return read_text(FLAGS)


# --------------------------------------------------------------------------- #
# awiml.units
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("°C", "degree_Celsius"),
        ("degC", "degree_Celsius"),
        ("deg C", "degree_Celsius"),
        ("℃", "degree_Celsius"),
        ("K", "kelvin"),
        ("mbar", "millibar"),
        ("dbar", "decibar"),
        ("hPa", "hectopascal"),
        ("Pa", "pascal"),
        ("km", "kilometer"),
        ("µmol/kg", "micromole / kilogram"),  # micro sign
        ("μmol/kg", "micromole / kilogram"),  # Greek mu
        ("µg/l", "microgram / liter"),
        ("PSU", "practical_salinity_unit"),
        ("psu", "practical_salinity_unit"),
        ("PSS-78", "practical_salinity_unit"),
        ("‰", "permille"),
        ("per mil", "permille"),
        ("%", "percent"),
        ("deg", "degree"),
        ("#/l", "count / liter"),
        ("mg m-3", "milligram / meter ** 3"),
    ],
)
def test_parse_unit_reads_archive_spellings(text, expected):
    assert str(parse_unit(text)) == expected


@pytest.mark.parametrize("text", ["Sal", "", "ppt", "10 m", "HPLC"])
def test_parse_unit_error_names_the_text(text):
    with pytest.raises(InvalidDataError, match=f"cannot read '{text}' as a unit"):
        parse_unit(text)


def test_practical_salinity_is_dimensionless_but_not_a_mass_fraction():
    assert parse_unit("PSU").dimensionless
    assert convert(35.0, "PSU", "dimensionless") == 35.0
    with pytest.raises(InvalidDataError, match="TEOS-10"):
        convert(35.0, "PSU", "g/kg")
    assert unit_registry() is unit_registry()


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Temp [°C]", ("Temp", "°C")),
        ("temperature (deg C)", ("temperature", "deg C")),
        ("TEMP", ("TEMP", None)),
        ("Depth water [m]", ("Depth water", "m")),
        ("Chl a [µg/l] (HPLC)", ("Chl a", "µg/l")),
        ("Chl a (HPLC)", ("Chl a (HPLC)", None)),
    ],
)
def test_split_label(label, expected):
    assert split_label(label) == expected


def test_importing_the_modules_does_not_import_pint():
    code = "import sys, awiml.units, awiml.preprocess; print('pint' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --------------------------------------------------------------------------- #
# HarmoniseColumns
# --------------------------------------------------------------------------- #


def test_harmonise_lines_up_two_real_files(tsg, pigments):
    harmonise = HarmoniseColumns(MAPPING, targets=["time", "depth", "latitude", "longitude"])
    out_tsg = harmonise.fit_transform(tsg)
    assert list(out_tsg.columns) == [
        "time", "latitude", "longitude", "depth", "temperature", "salinity"
    ]
    report = harmonise.report_.set_index("label")
    assert report.loc["Depth water", "name"] == "depth"
    assert report.loc["Depth water", "unit"] == "m"
    assert report.loc["Temp", "unit"] == "°C"
    assert set(report["how"]) == {"alias"}

    # Fitted on the TSG file, applied to the pigments file with other labels.
    out_pig = harmonise.transform(pigments)
    for name in ("time", "depth", "latitude", "longitude"):
        assert name in out_pig.columns
    assert "Depth" not in out_pig.columns and "Date" not in out_pig.columns
    assert out_pig.attrs["units"]["depth"] == out_tsg.attrs["units"]["depth"] == "m"
    assert str(out_pig["time"].dtype) == "datetime64[ns, UTC]"
    assert out_pig.attrs["columns"]["depth"]["label"] == "Depth"
    assert out_pig.attrs["columns"]["Chla"]["unit"] == "µg/l"  # kept columns keep their metadata
    assert out_pig.attrs["pangaea"]["doi"] == "10.1594/PANGAEA.898941"
    assert "Depth" in pigments.columns and "units" not in pigments.attrs  # input untouched


def test_harmonise_report_shows_matched_unmatched_and_missing(pigments):
    harmonise = HarmoniseColumns(MAPPING).fit(pigments)
    report = harmonise.report_
    by_label = report.dropna(subset=["label"]).set_index("label")["how"]
    assert by_label["Date"] == "alias" and by_label["Depth"] == "alias"
    assert by_label["Chla"] == "unmatched" and by_label["Event"] == "unmatched"
    missing = report[report["how"] == "missing"]
    assert sorted(missing["name"]) == ["salinity", "temperature"]  # not in the pigments file
    assert list(harmonise.get_feature_names_out()[:4]) == ["Event", "Station", "Gear", "time"]


def test_harmonise_finds_a_renamed_header_through_pangaea_metadata(pigments):
    # "Depth" was "Depth water [m]" (DEPTH, water) before the third party renamed it.
    out = HarmoniseColumns({"water_depth": ["DEPTH, water"]}).fit(pigments)
    row = out.report_.set_index("label").loc["Depth"]
    assert (row["name"], row["how"], row["unit"]) == ("water_depth", "metadata", "m")


def test_harmonise_tolerant_matching_and_units():
    harmonise = HarmoniseColumns({"temperature": ["temp", "temperature"]})
    for label, unit in [("Temp [°C]", "°C"), ("TEMP", None), ("temperature (deg C)", "deg C")]:
        out = harmonise.fit_transform(pd.DataFrame({label: [1.0], "Other": [2.0]}))
        assert list(out.columns) == ["temperature", "Other"]
        assert out.attrs["units"]["temperature"] == unit
        assert harmonise.report_.loc[0, "how"] == "tolerant"
    exact = harmonise.fit(pd.DataFrame({"temperature": [1.0]})).report_
    assert exact.loc[0, "how"] == "exact"


def test_harmonise_alias_to_canonical_form_and_other_labels_at_transform():
    harmonise = HarmoniseColumns({"TEMP": "temperature", "PSAL": "salinity"}).fit(
        pd.DataFrame({"TEMP": [1.0], "PSAL": [34.0]})
    )
    assert list(harmonise.report_["how"][:2]) == ["alias", "alias"]
    other = pd.DataFrame({"psal [PSU]": [35.0], "Temp": [2.0], "extra": [0]})
    out = harmonise.transform(other)
    assert list(out.columns) == ["salinity", "temperature", "extra"]
    assert out.attrs["units"] == {"salinity": "PSU", "temperature": None, "extra": None}
    assert list(harmonise.get_feature_names_out(["Temp [K]", "x"])) == ["temperature", "x"]


def test_harmonise_unknown_columns_keep_drop_error(tsg):
    mapping = {"temperature": ["Temp"], "salinity": ["Sal"]}
    dropped = HarmoniseColumns(mapping, unknown="drop").fit_transform(tsg)
    assert list(dropped.columns) == ["temperature", "salinity"]
    assert set(dropped.attrs["units"]) == {"temperature", "salinity"}
    with pytest.raises(InvalidDataError, match=r"columns 'Date/Time', 'Latitude'.* match no"):
        HarmoniseColumns(mapping, unknown="error").fit(tsg)
    with pytest.raises(ValueError, match="unknown must be"):
        HarmoniseColumns(mapping, unknown="ignore").fit(tsg)


def test_harmonise_missing_target_names_it_and_the_columns_seen(radiosondes):
    harmonise = HarmoniseColumns(MAPPING, targets=["time", "depth"])
    with pytest.raises(InvalidDataError, match=r"no column matches 'depth'.*'Area', 'Campaign'"):
        harmonise.fit(radiosondes)
    fitted = HarmoniseColumns(MAPPING, targets=["time"]).fit(radiosondes)
    fitted_on = r"no column for 'time' \(fitted on the column 'Date/Time'\)"
    with pytest.raises(InvalidDataError, match=fitted_on):
        fitted.transform(pd.DataFrame({"Latitude": [1.0]}))



def test_harmonise_warns_about_a_mapping_name_that_matches_nothing():
    """A slip in the mapping ("Tmp" for "Temp") no longer passes silently."""
    table = pd.DataFrame({"Temp [°C]": [1.0], "Sal": [35.0]})
    harmonise = HarmoniseColumns({"temperature": ["Tmp"], "salinity": ["sal"]})
    with pytest.warns(UserWarning) as caught:
        out = harmonise.fit_transform(table)
    [message] = [str(w.message) for w in caught]
    assert "'temperature' (as 'temperature', 'Tmp')" in message
    assert "matched nothing: 'Temp [°C]'" in message
    assert "Add the column's label to the mapping" in message and "targets=" in message
    assert caught[0].filename == __file__  # points at the caller, not at awiml
    assert list(out.columns) == ["Temp [°C]", "salinity"]  # the behaviour itself is unchanged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"]}).fit(table)
        assert list(harmonise.transform(table).columns) == ["Temp [°C]", "salinity"]  # fit only


def _zones_pipeline() -> Pipeline:
    return Pipeline([
        ("harmonise", HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"]},
                                       targets=["temperature", "salinity"], unknown="drop")),
        ("classify", LogisticRegression()),
    ])


def _check_missing_at_predict(error: InvalidDataError) -> None:
    message = str(error)
    assert "no column for 'temperature' (fitted on the column 'Temp')" in message
    assert "'Sal'" in message and "'temp'" in message  # the columns seen, the labels known
    assert "mapping, e.g." not in message and "Add their labels" not in message


def test_a_fitted_pipeline_names_the_column_it_misses_at_predict(tsg, tmp_path):
    from awiml import ModelStore

    train = tsg.iloc[:40]
    y = (train["Latitude"] > train["Latitude"].median()).to_numpy()
    pipeline = _zones_pipeline().fit(train, y)
    without = tsg.iloc[40:45].drop(columns=["Temp"])
    with pytest.raises(InvalidDataError) as info:
        pipeline.predict(without)
    _check_missing_at_predict(info.value)
    # the same from a stored and reloaded model
    store = ModelStore(tmp_path / "store")
    loaded = store.load(store.save(pipeline, "zones"))
    with pytest.raises(InvalidDataError) as info:
        loaded.predict(without)
    _check_missing_at_predict(info.value)
    # at fit time the advice is still to extend the mapping
    with pytest.raises(InvalidDataError, match=r"Add their labels to the mapping"):
        _zones_pipeline().fit(without, y[:5])


def test_a_model_stored_by_0_1_0_names_the_column_it_misses(tsg, tmp_path):
    import shutil

    from awiml import ModelStore

    fixture = Path(__file__).parent / "data" / "modelstore_0.1.0" / "store"
    shutil.copytree(fixture, tmp_path / "store")
    model = ModelStore(tmp_path / "store").load("zones@production")
    with pytest.raises(InvalidDataError) as info:
        model.predict(tsg.iloc[:5].drop(columns=["Temp"]))
    _check_missing_at_predict(info.value)

def test_harmonise_two_labels_for_one_name_is_an_error():
    table = pd.DataFrame({"Temp [°C]": [1.0], "TEMP": [2.0]})
    with pytest.raises(InvalidDataError, match=r"'Temp \[°C\]' and 'TEMP' both match"):
        HarmoniseColumns({"temperature": ["temp"]}).fit(table)


def test_harmonise_checks_the_mapping_in_fit_not_init():
    bad = HarmoniseColumns({"a": ["Temp"], "b": ["TEMP"]})  # stored without complaint
    with pytest.raises(ValueError, match="'Temp' for 'a' and 'TEMP' for 'b'"):
        bad.fit(pd.DataFrame({"x": [1]}))
    with pytest.raises(TypeError, match="mapping must be a dict"):
        HarmoniseColumns(["temp"]).fit(pd.DataFrame({"x": [1]}))


def test_harmonise_flag_columns_follow_their_column(flagged):
    mapping = {"temperature": ["Temp"], "chlorophyll": ["Chl a"]}
    out = HarmoniseColumns(mapping).fit_transform(flagged)
    assert "temperature_flag" in out.columns and "chlorophyll_flag" in out.columns
    assert out["temperature_flag"].iloc[0] == "?" and pd.isna(out["temperature_flag"].iloc[1])
    assert out["temperature_flag"].dtype == flagged["Temp_flag"].dtype
    assert out.attrs["units"]["chlorophyll"] == "µg/l"
    only_temp = HarmoniseColumns({"temperature": ["Temp"]}, unknown="drop").fit(flagged)
    assert list(only_temp.get_feature_names_out()) == ["temperature", "temperature_flag"]
    assert list(only_temp.transform(flagged).columns) == ["temperature", "temperature_flag"]


# --------------------------------------------------------------------------- #
# ConvertUnits
# --------------------------------------------------------------------------- #


def test_convert_tsg_temperature_to_kelvin(tsg):
    out = ConvertUnits({"Temp": "K"}).fit_transform(tsg)
    assert tsg["Temp"].iloc[0] == 14.40
    # 14.40 + 273.15 is 287.55 up to binary rounding (287.54999999999995 in float64).
    assert out["Temp"].iloc[0] == 14.40 + 273.15
    assert out["Temp"].iloc[0] == pytest.approx(287.55, abs=1e-12)
    assert out.attrs["units"]["Temp"] == "K"
    assert out.attrs["columns"]["Temp"]["unit"] == "K"
    assert tsg.attrs["columns"]["Temp"]["unit"] == "°C"  # input untouched
    np.testing.assert_allclose(out["Temp"] - tsg["Temp"], 273.15)


def test_convert_pressures_concentrations_and_salinity(tsg):
    table = pd.DataFrame(
        {
            "pressure": [10.0, 0.5],
            "air_pressure [mbar]": [1013.25, 990.0],
            "oxygen": [250.0, np.nan],
            "salinity": [35.0, 34.2],
        }
    )
    table.attrs["columns"] = {"oxygen": {"unit": "µmol/kg"}}
    converter = ConvertUnits(
        {"pressure": "Pa", "air_pressure": "hPa", "oxygen": "mmol/kg", "salinity": "dimensionless"},
        source_units={"pressure": "dbar", "salinity": "PSU"},
    )
    out = converter.fit_transform(table)
    assert out["pressure"].tolist() == [100000.0, 5000.0]
    assert out["air_pressure [hPa]"].tolist() == [1013.25, 990.0]
    assert out["oxygen"].iloc[0] == pytest.approx(0.25) and np.isnan(out["oxygen"].iloc[1])
    assert out["salinity"].tolist() == [35.0, 34.2]
    assert converter.source_units_ == {
        "pressure": "dbar", "air_pressure": "mbar", "oxygen": "µmol/kg", "salinity": "PSU"
    }
    assert list(converter.get_feature_names_out()) == [
        "pressure", "air_pressure [hPa]", "oxygen", "salinity"
    ]
    # The TSG salinity has no unit in the file: say which.
    sal = ConvertUnits({"Sal": "1"}, source_units={"Sal": "PSU"}).fit_transform(tsg)
    np.testing.assert_array_equal(sal["Sal"], tsg["Sal"])


def test_convert_one_waveform_per_row():
    rng = np.random.default_rng(0)
    recordings = pd.DataFrame(
        {
            "recording": ["a", "b", "c", "d"],
            "pressure": [
                rng.normal(size=8),
                rng.normal(size=5).astype(np.float32),
                None,
                np.arange(3),
            ],
        }
    )
    recordings.attrs["units"] = {"pressure": "mPa"}
    out = ConvertUnits({"pressure": "Pa"}).fit_transform(recordings)
    for before, after in zip(recordings["pressure"], out["pressure"], strict=True):
        if before is None:
            assert after is None
            continue
        assert isinstance(after, np.ndarray) and after.shape == before.shape
        np.testing.assert_allclose(after, np.asarray(before, dtype=float) / 1000, rtol=1e-6)
    assert out["pressure"].iloc[1].dtype == np.float32
    assert out.attrs["units"]["pressure"] == "Pa"
    assert recordings["pressure"].iloc[0][0] == pytest.approx(out["pressure"].iloc[0][0] * 1000)


def test_convert_error_messages(tsg):
    table = pd.DataFrame({"pressure": [1.0], "time": pd.to_datetime(["2016-12-16"], utc=True)})
    message = "cannot convert column 'pressure' from 'degC' to 'Pa'"
    with pytest.raises(InvalidDataError, match=message):
        ConvertUnits({"pressure": "Pa"}, source_units={"pressure": "degC"}).fit(table)
    with pytest.raises(InvalidDataError, match=r"column 'pressure' is in 'dbarr'.*cannot read"):
        ConvertUnits({"pressure": "Pa"}, source_units={"pressure": "dbarr"}).fit(table)
    with pytest.raises(InvalidDataError, match=r"target unit of column 'pressure'.*'Pascals'"):
        ConvertUnits({"pressure": "Pascals"}, source_units={"pressure": "dbar"}).fit(table)
    with pytest.raises(InvalidDataError, match=r"column 'Sal' has no unit.*source_units"):
        ConvertUnits({"Sal": "1"}).fit(tsg)
    with pytest.raises(InvalidDataError, match="the table has no column 'depth'"):
        ConvertUnits({"depth": "m"}).fit(tsg)
    with pytest.raises(InvalidDataError, match=r"column 'time'.*datetime64"):
        ConvertUnits({"time": "s"}, source_units={"time": "s"}).fit_transform(table)


def test_convert_uses_each_tables_own_unit_and_falls_back_to_fit():
    celsius = pd.DataFrame({"temperature": [0.0]})
    celsius.attrs["units"] = {"temperature": "degC"}
    kelvin = pd.DataFrame({"temperature": [280.0]})
    kelvin.attrs["units"] = {"temperature": "K"}
    converter = ConvertUnits({"temperature": "K"}).fit(celsius)
    assert converter.transform(kelvin)["temperature"].tolist() == [280.0]
    bare = pd.DataFrame({"temperature": [10.0]})  # attrs lost: the unit seen in fit applies
    assert converter.transform(bare)["temperature"].iloc[0] == pytest.approx(283.15)


# --------------------------------------------------------------------------- #
# QualityFilter
# --------------------------------------------------------------------------- #


def test_quality_filter_masks_by_default(flagged):
    out = QualityFilter().fit_transform(flagged)
    assert len(out) == len(flagged)
    assert "Temp_flag" not in out.columns and "Chl a_flag" not in out.columns
    flags = flagged["Temp_flag"].astype(object).where(flagged["Temp_flag"].notna(), "")
    assert out["Temp"].isna().tolist() == ((flags != "") | flagged["Temp"].isna()).tolist()
    assert flagged["Temp"].iloc[0] == 1.25 and np.isnan(out["Temp"].iloc[0])  # "?1.25"
    assert np.isnan(out["Chl a"].iloc[1])  # "<0.001" is below the detection limit


def test_quality_filter_accepts_detection_limits_and_drops_rows(flagged):
    keep = QualityFilter(accept=("", "<"), columns=["Chl a"], action="drop")
    out = keep.fit_transform(flagged)
    # Chl a flags: none, "<", "/", ">", "?", none -> rows 0, 1, 5 pass.
    assert list(out.index) == [0, 1, 5]
    assert out["Chl a"].iloc[1] == 0.001
    assert "Temp_flag" in out.columns and "Chl a_flag" not in out.columns
    assert keep.flag_columns_ == {"Chl a": "Chl a_flag"}
    assert list(keep.get_feature_names_out()) == [
        c for c in flagged.columns if c != "Chl a_flag"
    ]
    kept_flags = QualityFilter(drop_flag_columns=False).fit_transform(flagged)
    assert list(kept_flags.columns) == list(flagged.columns)


def test_quality_filter_checks_parameters_and_columns(flagged):
    with pytest.raises(ValueError, match=r"'!'.*not quality flags"):
        QualityFilter(accept=("", "!")).fit(flagged)
    with pytest.raises(ValueError, match="action must be"):
        QualityFilter(action="delete").fit(flagged)
    with pytest.raises(InvalidDataError, match="no column 'Sal'"):
        QualityFilter(columns=["Sal"]).fit(flagged)


def test_row_dropping_with_y_is_refused(flagged):
    y = np.arange(len(flagged))
    with pytest.raises(ValueError, match=r"dropped 5 of 6 rows.*X and y.*action='mask'"):
        QualityFilter(action="drop").fit_transform(flagged, y)
    assert len(QualityFilter().fit_transform(flagged, y)) == len(flagged)


# --------------------------------------------------------------------------- #
# DropMissing
# --------------------------------------------------------------------------- #


def test_drop_missing_drops_rows_but_ignores_flag_columns(flagged):
    out = DropMissing(columns=None).fit_transform(flagged)
    # Rows 2 (no Temp) and 4 (no Chl a) have missing values; missing flags do not count.
    assert list(out.index) == [0, 1, 3, 5]
    assert list(DropMissing(columns=["Temp", "Chl a"], how="all").fit_transform(flagged).index) == [
        0, 1, 2, 3, 4, 5
    ]


def test_drop_missing_imputes_with_statistics_learned_in_fit():
    train = pd.DataFrame({"temperature": [1.0, 2.0, 6.0, np.nan], "station": ["a", "b", "c", "d"]})
    test = pd.DataFrame({"temperature": [np.nan, 10.0], "station": [None, "e"]})
    mean = DropMissing(strategy="mean").fit(train)
    assert mean.statistics_.to_dict() == {"temperature": 3.0}
    assert mean.transform(test)["temperature"].tolist() == [3.0, 10.0]
    median = DropMissing(strategy="median").fit(train)
    assert median.transform(test)["temperature"].tolist() == [2.0, 10.0]
    assert test["temperature"].isna().iloc[0]  # input untouched
    assert list(DropMissing(strategy="constant").fit(train).statistics_.index) == ["temperature"]
    constant = DropMissing(["station"], strategy="constant", fill_value="unknown").fit(train)
    assert constant.transform(test)["station"].tolist() == ["unknown", "e"]
    with pytest.raises(InvalidDataError, match=r"needs numbers.*'station' \(str\)"):
        DropMissing(["station"], strategy="mean").fit(train)
    with pytest.raises(InvalidDataError, match="'empty' have no values"):
        DropMissing(strategy="median").fit(train.assign(empty=np.nan))
    with pytest.raises(InvalidDataError, match="no column 'temperature'"):
        mean.transform(pd.DataFrame({"salinity": [1.0]}))
    with pytest.raises(ValueError, match="strategy must be"):
        DropMissing(strategy="mode").fit(train)


# --------------------------------------------------------------------------- #
# concat_tables
# --------------------------------------------------------------------------- #


def test_concat_tables_keeps_provenance_and_units(tsg, pigments, radiosondes):
    tables = {
        "10.1594/PANGAEA.889513": tsg,
        "10.1594/PANGAEA.898941": pigments,
        "radiosondes": radiosondes,
    }
    out = concat_tables(tables, harmonise=HarmoniseColumns(MAPPING))
    assert out.columns[0] == "source"
    assert out["source"].value_counts().to_dict() == {
        "10.1594/PANGAEA.889513": len(tsg),
        "10.1594/PANGAEA.898941": len(pigments),
        "radiosondes": len(radiosondes),
    }
    assert {"time", "depth", "latitude", "longitude", "Chla", "Area"} <= set(out.columns)
    assert out["latitude"].notna().all() and out["time"].notna().all()
    assert str(out["time"].dtype) == "datetime64[ns, UTC]"
    assert out.attrs["units"]["depth"] == "m"
    assert out.attrs["sources"]["10.1594/PANGAEA.889513"]["doi"] == "10.1594/PANGAEA.889513"
    first_pigment = out[out["source"] == "10.1594/PANGAEA.898941"].iloc[0]
    assert first_pigment["Chla"] == pigments["Chla"].iloc[0]


def test_concat_tables_refuses_different_units_until_converted():
    ctd = pd.DataFrame({"depth": [5.0]})
    ctd.attrs["units"] = {"depth": "m"}
    glider = pd.DataFrame({"depth": [50.0]})
    glider.attrs["units"] = {"depth": "cm"}
    with pytest.raises(InvalidDataError, match="'depth' is in 'm' in table 'ctd' but in 'cm'"):
        concat_tables([("ctd", ctd), ("glider", glider)])
    glider_m = ConvertUnits({"depth": "m"}).fit_transform(glider)
    out = concat_tables([("ctd", ctd), ("glider", glider_m)])
    assert out["depth"].tolist() == [5.0, 0.5]
    assert out.attrs["units"]["depth"] == "m"
    same = pd.DataFrame({"depth": [1.0]})
    same.attrs["units"] = {"depth": "meter"}  # another spelling of the same unit is fine
    assert len(concat_tables({"ctd": ctd, "same": same})) == 2
    with pytest.warns(UserWarning, match="'depth' .* has no unit in 'bare'"):
        concat_tables({"ctd": ctd, "bare": pd.DataFrame({"depth": [1.0]})})


def test_concat_tables_checks_names_and_flags(flagged):
    out = concat_tables({"a": flagged, "b": flagged.iloc[:2]})
    assert isinstance(out["Temp_flag"].dtype, pd.CategoricalDtype)
    with pytest.raises(ValueError, match="'a' are given more than once"):
        concat_tables([("a", flagged), ("a", flagged)])
    with pytest.raises(InvalidDataError, match="already has a column 'Gear'"):
        concat_tables({"a": flagged}, source="Gear")


def test_concat_tables_to_xarray(tsg, pigments):
    dataset = concat_tables(
        {"tsg": tsg, "pigments": pigments}, harmonise=MAPPING, to="xarray"
    )
    assert dict(dataset.sizes) == {"row": len(tsg) + len(pigments)}
    assert dataset["depth"].attrs["units"] == "m"
    assert dataset["temperature"].attrs["units"] == "°C"
    assert dataset["time"].attrs["timezone"] == "UTC"
    assert set(dataset["source"].values) == {"tsg", "pigments"}
    assert dataset.attrs["sources"] == ["tsg", "pigments"]


# --------------------------------------------------------------------------- #
# The scikit-learn contract
# --------------------------------------------------------------------------- #


def _latitude_band_data(tsg):
    """Every third TSG row, some temperatures missing; y: north or south of 60°S."""
    table = tsg.iloc[::3].copy()
    table.loc[table.index[::40], "Temp"] = np.nan
    y = np.where(table["Latitude"] > -60, "north", "south")
    return table, y


def test_clone_get_params_set_params():
    estimators = [
        HarmoniseColumns(MAPPING, targets=["time"], unknown="drop"),
        ConvertUnits({"temperature": "K"}, source_units={"temperature": "degC"}),
        QualityFilter(accept=("", "<"), columns=["Temp"], action="drop"),
        DropMissing(["a"], how="all", strategy="constant", fill_value=0.0),
    ]
    for estimator in estimators:
        params = estimator.get_params()
        twin = clone(estimator)
        assert twin.get_params() == params and twin is not estimator
        assert twin.set_params(**params) is twin
    assert estimators[3].set_params(strategy="median").strategy == "median"
    assert estimators[1].set_output(transform="pandas") is estimators[1]
    with pytest.raises(ValueError, match="polars"):
        DropMissing().set_output(transform="polars")


def test_grid_search_over_units_and_imputation_on_tsg(tsg):
    X, y = _latitude_band_data(tsg)
    pipeline = Pipeline(
        [
            ("harmonise", HarmoniseColumns(MAPPING, targets=["temperature", "salinity"])),
            ("units", ConvertUnits({"temperature": "K"})),
            ("fill", DropMissing(strategy="mean")),
            ("select", ColumnTransformer([("keep", "passthrough", ["temperature", "salinity"])])),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression()),
        ]
    )
    search = GridSearchCV(
        pipeline,
        {
            "units__target_units": [{"temperature": "K"}, {"temperature": "degF"}],
            "fill__strategy": ["mean", "median"],
        },
        cv=KFold(4, shuffle=True, random_state=0),
    )
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.all(scores > 0.85)
    assert search.best_score_ > 0.85
    fitted = search.best_estimator_
    assert fitted.named_steps["units"].source_units_ == {"temperature": "°C"}
    assert np.isfinite(fitted.named_steps["fill"].statistics_["temperature"])
    predictions = search.predict(X)
    assert len(predictions) == len(X) and set(predictions) == {"north", "south"}
    # Pickles like any estimator.
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), predictions)


def test_column_transformer_with_pandas_output(tsg):
    table = HarmoniseColumns(MAPPING).fit_transform(tsg)
    table.loc[table.index[:3], "salinity"] = np.nan
    columns = ColumnTransformer(
        [
            ("kelvin", ConvertUnits({"temperature": "K"}), ["temperature"]),
            ("fill", DropMissing(strategy="median"), ["salinity"]),
        ],
        remainder="drop",
    ).set_output(transform="pandas")
    out = columns.fit_transform(table)
    assert list(out.columns) == ["kelvin__temperature", "fill__salinity"]
    np.testing.assert_allclose(out["kelvin__temperature"], table["temperature"] + 273.15)
    assert out["fill__salinity"].notna().all()
    assert out["fill__salinity"].iloc[0] == table["salinity"].median()


def test_supervised_pipeline_with_row_dropping_fails_clearly(tsg):
    X, y = _latitude_band_data(tsg)
    pipeline = Pipeline(
        [
            ("harmonise", HarmoniseColumns(MAPPING, targets=["temperature", "salinity"],
                                           unknown="drop")),
            ("drop", DropMissing()),
            ("classify", LogisticRegression()),
        ]
    )
    X = X.drop(columns=["Date/Time", "Latitude", "Longitude", "Depth water"])
    with pytest.raises(ValueError, match=r"DropMissing dropped .* rows, but was given y"):
        pipeline.fit(X, y)
    # Before the pipeline, with the label column still in the table, dropping is fine.
    clean = DropMissing().fit_transform(X.assign(band=y))
    pipeline.set_params(drop=DropMissing(strategy="median"))
    assert pipeline.fit(clean.drop(columns="band"), clean["band"]).score(
        clean.drop(columns="band"), clean["band"]
    ) > 0.85


# The generic checks feed numeric arrays, which these transformers read as tables
# with columns x0, x1, ...; every check applies except the one below.
EXPECTED_FAILED_CHECKS = {
    "check_transformer_preserve_dtypes": (
        "the output is a DataFrame: dtypes are kept per column, there is no single .dtype"
    ),
}


@parametrize_with_checks(
    [
        HarmoniseColumns({"renamed": ["x0"]}),
        ConvertUnits({"x0": "K"}, source_units={"x0": "degC"}),
        QualityFilter(),
        DropMissing(),
        DropMissing(strategy="median"),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "estimator",
    [
        HarmoniseColumns(),
        ConvertUnits({"x0": "K"}, source_units={"x0": "degC"}),
        QualityFilter(),
        DropMissing(strategy="mean"),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
@pytest.mark.parametrize(
    "check",
    ["check_set_output_transform", "check_get_feature_names_out_error", "check_n_features_in"],
)
def test_more_sklearn_checks(estimator, check):
    # Not in parametrize_with_checks' default set. Checks that require transform to reject
    # other column names (check_dataframe_column_names_consistency, ...) do not apply:
    # columns are found by name, so tables from other files may differ.
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)
