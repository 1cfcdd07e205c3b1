"""The EcoTaxa TSV reader through its public API, on every real file and hand-made broken ones."""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from awiml.archives.ecotaxa.tsv import FIELD_KINDS, read_tsv
from awiml.errors import InvalidDataError, NotFoundError

ECOTAXA = Path(__file__).parent / "data" / "ecotaxa"
BY_TAXON = ECOTAXA / "export_general_split_by_taxon_with_types_row"
BY_ACQ = ECOTAXA / "export_general_split_by_acquisition_all_images"
WITH_IDS = ECOTAXA / "export_general_with_internal_ids"
DOI = ECOTAXA / "export_doi_images_by_category" / "ecotaxa_export_1_20210530_1122.tsv"
SUMMARY = ECOTAXA / "export_summary_per_sample" / "ref.tsv"
IMPORT_N1 = ECOTAXA / "import_bundle_m106" / "m106_mn01_n1_sml" / "ecotaxa_m106_mn01_n1_sml.tsv"
IMPORT_N2 = ECOTAXA / "import_bundle_m106" / "m106_mn01_n2_sml" / "ecotaxa_m106_mn01_n2_sml.tsv"
TARA = ECOTAXA / "ecotaxar_tara_extdata" / "import.tsv"

ALL_TSV = sorted(ECOTAXA.rglob("*.tsv"))
# What each real file is: format, whether it has the types row, its decimal separator.
EXPECTED_LAYOUT = {
    BY_TAXON: ("export", True, "."),
    BY_ACQ: ("export", False, "."),
    WITH_IDS: ("export", False, ","),
    DOI.parent: ("export", False, "."),
    SUMMARY.parent: ("plain", False, "."),
    IMPORT_N1.parent: ("import", True, "."),
    IMPORT_N2.parent: ("import", True, "."),
    TARA.parent: ("import", True, "."),
}
LAT, LON = 18.0, -24.4166666666667  # station m106_mn01 in every M106 file


def data_rows(path: Path) -> int:
    """Data rows of a real file: its lines minus the header and the types row (none span lines)."""
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    return len(lines) - 1 - (b"[t]" in lines[1] or b"[f]" in lines[1])


def write(tmp_path: Path, lines: list[str | bytes], name: str = "table.tsv", *, end=b"\n") -> Path:
    path = tmp_path / name
    encoded = [line.encode() if isinstance(line, str) else line for line in lines]
    path.write_bytes(b"\n".join(encoded) + end)
    return path


def export_lines(rows: int) -> list[str]:
    """An export without types row of ``rows`` objects (quoted text, bare numbers)."""
    header = '"object_id"\t"object_lat"\t"object_area"\t"sample_code"'
    return [header, *(f'"o{i}"\t{i % 90}.5\t{i}.0\t""' for i in range(rows))]


# --------------------------------------------------------------------------- #
# Every real file
# --------------------------------------------------------------------------- #


def test_the_data_folder_has_all_the_expected_files():
    assert len(ALL_TSV) == 18
    assert all(path.parent in EXPECTED_LAYOUT for path in ALL_TSV)


@pytest.mark.parametrize("path", ALL_TSV, ids=lambda p: str(p.relative_to(ECOTAXA)))
def test_every_real_file(path):
    df = read_tsv(path)
    fmt, has_types, decimal = EXPECTED_LAYOUT[path.parent]
    header = path.read_bytes().removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0]
    names = [name.strip('"') for name in header.decode().split("\t")]
    assert list(df.columns) == names
    assert len(df) == data_rows(path) > 0
    attrs = df.attrs
    assert attrs["source"] == str(path)
    assert attrs["ecotaxa_format"] == fmt
    assert (attrs["types"] is not None) == has_types
    if has_types:
        assert set(attrs["types"]) == set(names) and set(attrs["types"].values()) <= {"t", "f"}
    assert attrs["decimal"] == decimal and attrs["encoding"] == "utf-8"
    assert set(attrs["kinds"]) == set(names)
    # Every column got a definite type: no object columns of mixed Python values.
    assert not [c for c in df.columns if df[c].dtype == object]
    for name, kind in FIELD_KINDS.items():
        if name not in df:
            continue
        expected = {
            "text": "str",
            "float": "float64",
            "int": "Int64",
            "date": "datetime64[ns]",
            "time": "str",
        }[kind]
        assert str(df[name].dtype) == expected, name
    if "object_time" in df:
        assert df["object_time"].str.fullmatch(r"\d\d:\d\d:\d\d").all()


# --------------------------------------------------------------------------- #
# The export format
# --------------------------------------------------------------------------- #


def test_export_split_by_taxon_with_types_row():
    df = read_tsv(BY_TAXON / "ecotaxa_detritus.tsv")
    assert df["object_id"].tolist() == [
        "m106_mn01_n2_sml_1",
        "m106_mn01_n2_sml_1081",
        "m106_mn01_n3_sml_1",
        "m106_mn01_n3_sml_1081",
    ]
    first = df.iloc[0]
    assert first["img_file_name"] == "detritus/m106_mn01_n2_sml_1.jpg"
    assert (first["object_lat"], first["object_lon"]) == (LAT, LON)
    assert first["object_date"] == pd.Timestamp("2014-04-20")
    assert first["object_time"] == "04:20:00"
    assert first["object_annotation_category"] == "detritus"
    assert first["object_annotation_hierarchy"] == "not-living>detritus"
    assert first["object_area"] == 413.0 and first["object_mean"] == 175.529998779297
    # A [t] column of quoted numbers stays text; [t] *_date/*_time columns become dates/times.
    assert first["sample_volconc"] == "9.75" and first["process_nb_images"] == "2"
    assert first["process_start_date"] == pd.Timestamp("2015-08-29")
    assert first["process_start_time"] == "22:56:00"  # "2256": HHMM
    # [f] columns written as "" are missing floats.
    assert df["object_esd"].dtype == np.float64 and df["object_esd"].isna().all()
    types = df.attrs["types"]
    assert (types["object_lat"], types["object_id"], types["sample_volconc"]) == ("f", "t", "t")
    # EcoTaxa writes [t] for img_rank, but it is EcoTaxa's integer field.
    assert types["img_rank"] == "t" and df["img_rank"].dtype == "Int64"
    assert df["img_rank"].tolist() == [0, 0, 0, 0]
    kinds = df.attrs["kinds"]
    assert (kinds["object_date"], kinds["object_time"], kinds["object_esd"]) == (
        "date",
        "time",
        "float",
    )


def test_export_values_that_are_only_in_one_taxon():
    df = read_tsv(BY_TAXON / "ecotaxa_small_egg.tsv")
    assert df["object_date"].tolist() == [pd.Timestamp("2014-04-21")] * 2
    assert df["object_esd"].tolist() == [1.86, 1.86]
    assert df["object_extra"].tolist() == ["Extra3", "Extra4"]
    assert df["object_annotation_category"].tolist() == ["small<egg", "small<egg"]


def test_export_with_decimal_commas():
    df = read_tsv(WITH_IDS / "ecotaxa_m106_mn01_n1_sml.tsv")
    assert df.attrs["decimal"] == "," and df.attrs["types"] is None
    assert df["object_lat"].tolist() == [LAT] * 5  # written "18,0"
    assert df["object_lon"].iloc[0] == LON  # "-24,4166666666667"
    assert df["object_mean"].iloc[0] == 241.039993286133  # "241,039993286133"
    assert df["object_depth_max"].tolist() == [1000.0] * 5
    assert df["sample_lat"].dtype == np.float64 and df["sample_long"].iloc[0] == LON
    # Bare integers are integers; quoted text stays text, "13.125" included.
    assert df["objid"].tolist() == [1, 2, 3, 4, 5] and df["objid"].dtype == np.int64
    assert df["classif_id"].tolist() == [85012, 78418, 45072, 85011, 78418]
    assert df["object_random_value"].iloc[0] == 12704241
    assert df["object_sunpos"].tolist() == ["N"] * 5
    assert df["sample_volconc"].iloc[0] == "13.125"
    assert df["classif_auto_name"].tolist() == ["Biota"] * 5
    assert df["classif_auto_score"].isna().all()
    # "20140420" and "042000" in this export.
    assert df["object_date"].iloc[0] == pd.Timestamp("2014-04-20")
    assert df["object_time"].iloc[0] == "04:20:00"


def test_export_split_by_acquisition_all_images():
    df = read_tsv(BY_ACQ / "ecotaxa_generic_m106_mn01_n3_sml.tsv")
    assert df.attrs["types"] is None and df.attrs["ecotaxa_format"] == "export"
    assert df["img_file_name"].iloc[0] == "generic_m106_mn01_n3_sml/m106_mn01_n3_sml_1.png"
    assert df["object_date"].tolist()[-1] == pd.Timestamp("2014-04-21")
    # Without a types row the quoting decides: bare numbers are numbers, quoted text is text.
    assert df["object_area"].dtype == np.float64 and df["object_area"].iloc[0] == 413.0
    assert df["process_nb_images"].tolist() == ["2"] * len(df)
    assert df["acq_id"].iloc[0] == "generic_m106_mn01_n3_sml"


def test_doi_export_has_one_row_per_image():
    df = read_tsv(DOI)
    assert len(df) == 12
    assert df["img_file_name"].iloc[0] == "images/t001/1_0.jpg"
    last_two = df.iloc[-2:]
    assert last_two["object_id"].tolist() == ["m106_mn01_n3_sml_1111"] * 2
    assert last_two["img_file_name"].tolist() == [
        "images/egg_other/13_0.jpg",
        "images/egg_other/13_1.jpg",
    ]
    assert df["objid"].iloc[-1] == 13
    assert df["object_annotation_category"].value_counts()["detritus"] == 4
    assert df["object_date"].iloc[0] == pd.Timestamp("2014-04-20")


def test_summary_per_sample():
    df = read_tsv(SUMMARY)
    assert df.attrs["ecotaxa_format"] == "plain"
    assert df["nbr"].tolist() == [1, 2, 1, 1, 2, 1, 2, 1] and df["nbr"].dtype == np.int64
    assert df["latitude"].iloc[0] == LAT and df["longitude"].iloc[0] == LON
    assert df["date"].tolist()[-1] == pd.Timestamp("2014-04-21")
    assert df["display_name"].tolist()[:2] == ["Cyclopoida", "Oncaeidae"]
    assert df["sample_id"].iloc[0] == "m106_mn01_n1_sml"


# --------------------------------------------------------------------------- #
# The import format
# --------------------------------------------------------------------------- #


def test_import_bundle():
    df = read_tsv(IMPORT_N1)
    assert df.attrs["ecotaxa_format"] == "import" and len(df) == 8
    first = df.iloc[0]
    assert first["object_id"] == "m106_mn01_n1_sml_409"
    assert first["img_file_name"] == "m106_mn01_n1_sml_409.jpg"
    assert (first["object_lat"], first["object_lon"]) == (-44.72543333333333, 145.5351)
    assert first["object_date"] == pd.Timestamp("2014-04-20")
    # "420" is 04:20 for EcoTaxa (a spreadsheet dropped the leading zero of 0420);
    # the exports of the same objects write 04:20:00.
    assert first["object_time"] == "04:20:00"
    assert first["object_annotation_date"] == pd.Timestamp("2015-11-11")
    assert first["object_annotation_time"] == "15:31:00"
    assert first["object_annotation_person_name"] == "Admin4test"
    assert df["object_annotation_category"].tolist()[-3:] == ["Other (Biota)", "other", "ozzeur"]
    assert df["object_annotation_category_id"].tolist() == [
        pd.NA,
        pd.NA,
        45072,
        85011,
        78418,
        pd.NA,
        pd.NA,
        pd.NA,
    ]
    assert df["img_rank"].iloc[0] is pd.NA and df["img_rank"].iloc[1] == 0
    assert df["object_new_field"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert df["process_start_date"].iloc[0] == pd.Timestamp("2015-08-29")
    assert df["sample_volconc"].iloc[0] == "13.125"  # [t]


def test_import_and_export_of_the_same_object_agree():
    imported = read_tsv(IMPORT_N2).set_index("object_id")
    exported = read_tsv(BY_TAXON / "ecotaxa_detritus.tsv").set_index("object_id")
    for object_id in ("m106_mn01_n2_sml_1", "m106_mn01_n2_sml_1081"):
        a, b = imported.loc[object_id], exported.loc[object_id]
        for column in ("object_lat", "object_lon", "object_date", "object_time", "object_area"):
            assert a[column] == b[column], (object_id, column)
        assert b["img_file_name"] == f"detritus/{a['img_file_name']}"
    assert imported["object_annotation_category_id"].tolist() == [84963, 84963, 85078]


def test_tara_import():
    df = read_tsv(TARA)
    assert len(df) == 98 and df["object_id"].nunique() == 49  # colour and grey image
    assert df["img_rank"].value_counts().to_dict() == {0: 49, 1: 49}
    first = df.iloc[0]
    assert first["object_id"] == "tara_med_20140607_n_manta_016_microplastik_1_1"
    assert first["img_file_name"] == "tara_med_20140607_n_manta_016_microplastik_color_1_1.jpg"
    assert (first["object_lat"], first["object_lon"]) == (43.6536, 7.771599999999999)
    assert first["object_date"] == pd.Timestamp("2014-06-07") and first["object_time"] == "23:25:00"
    assert first["acq_scan_time"] == "09:50:00"  # "095000"
    assert first["process_date"] == pd.Timestamp("2015-08-06")
    assert first["object_area"] == 710.0 and first["object_elongation"] == 3.5625
    # An [f] acquisition column with text: EcoTaxa keeps such columns as text, so do we.
    assert df.attrs["types"]["acq_lut_color_balance"] == "f"
    assert first["acq_lut_color_balance"] == "manual"
    # "nan" is missing in an [f] column and text in a [t] column, as for EcoTaxa.
    assert df["process_img_od_grey"].dtype == np.float64 and df["process_img_od_grey"].isna().all()
    assert first["sample_stationid"] == "nan"
    assert first["process_particle_pixel_size_mm"] == 0.0106


# --------------------------------------------------------------------------- #
# Sources
# --------------------------------------------------------------------------- #


def test_paths_bytes_and_file_objects_give_the_same_table(tmp_path):
    expected = read_tsv(str(IMPORT_N2))
    raw = IMPORT_N2.read_bytes()
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ecotaxa_m106_mn01_n2_sml.tsv", raw)
    sources = {
        "path": IMPORT_N2,
        "bytes": raw,
        "bytearray": bytearray(raw),
        "memoryview": memoryview(raw),
        "BytesIO": io.BytesIO(raw),
        "StringIO": io.StringIO(raw.decode()),
    }
    for label, source in sources.items():
        pd.testing.assert_frame_equal(read_tsv(source), expected, obj=label)
    with open(IMPORT_N2, "rb") as handle:
        df = read_tsv(handle)
    assert df.attrs["source"] == str(IMPORT_N2)
    pd.testing.assert_frame_equal(df, expected)
    with zipfile.ZipFile(archive) as zf, zf.open("ecotaxa_m106_mn01_n2_sml.tsv") as member:
        df = read_tsv(member)
    assert df.attrs["source"] == "ecotaxa_m106_mn01_n2_sml.tsv"
    pd.testing.assert_frame_equal(df, expected)
    assert read_tsv(raw).attrs["source"] == "<bytes>"
    assert read_tsv(io.BytesIO(raw)).attrs["source"] == "<BytesIO>"


def test_byte_order_mark_and_windows_line_breaks(tmp_path):
    path = write(
        tmp_path,
        ['"object_id"\t"object_lat"\t"object_time"', '"[t]"\t"[f]"\t"[t]"', '"a"\t1.5\t"0930"'],
        end=b"\r\n",
    )
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes().replace(b"\n", b"\r\n"))
    df = read_tsv(path)
    assert list(df.columns) == ["object_id", "object_lat", "object_time"]
    assert df.iloc[0].tolist() == ["a", 1.5, "09:30:00"]


def test_latin1_file(tmp_path):
    lines = ["object_id\tobject_comment", "[t]\t[t]", "a\tcaf\xe9 \xb0C"]
    path = tmp_path / "latin1.tsv"
    path.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    df = read_tsv(path)
    assert df.attrs["encoding"] == "latin-1" and df["object_comment"].iloc[0] == "café °C"


def test_latin1_bytes_after_the_sample(tmp_path):
    rows = [f"o{i}\t{i}.5\tnote" for i in range(1500)]
    rows[1300] = "o1300\t1.5\tcaf\xe9"
    text = "\n".join(["object_id\tobject_area\tobject_note", "[t]\t[f]\t[t]", *rows]) + "\n"
    path = tmp_path / "late.tsv"
    path.write_bytes(text.encode("latin-1"))
    df = read_tsv(path)
    assert df.attrs["encoding"] == "latin-1" and df["object_note"].iloc[1300] == "café"


# --------------------------------------------------------------------------- #
# Type rules
# --------------------------------------------------------------------------- #


def test_identifiers_keep_their_leading_zeros(tmp_path):
    exported = write(
        tmp_path,
        ['"object_id"\t"sample_code"\t"object_area"', '"0012"\t"0040"\t12', '"0013"\t"0041"\t13'],
    )
    df = read_tsv(exported)
    assert df["object_id"].tolist() == ["0012", "0013"]
    assert df["sample_code"].tolist() == ["0040", "0041"]  # quoted: text
    assert df["object_area"].tolist() == [12, 13]  # bare: a number
    plain = write(
        tmp_path, ["object_id\tacq_sub_id\tobject_area", "0012\t007\t1.5"], name="plain.tsv"
    )
    df = read_tsv(plain)
    assert df.attrs["ecotaxa_format"] == "plain"
    assert (df["object_id"].iloc[0], df["acq_sub_id"].iloc[0]) == ("0012", "007")
    assert df["object_area"].iloc[0] == 1.5


def test_quoted_numbers_after_the_sample_stay_text(tmp_path):
    lines = export_lines(1500)
    # "sample_code" is empty in the first 1000 rows, which are all that is tokenised.
    lines[1401] = '"o1400"\t1.5\t3.0\t"0012"'
    df = read_tsv(write(tmp_path, lines))
    assert df["sample_code"].dtype == "str" and df["sample_code"].iloc[1400] == "0012"
    assert df["sample_code"].isna().sum() == 1499
    lines[1401] = '"o1400"\t1.5\t3.0\t12'  # bare: a number
    df = read_tsv(write(tmp_path, lines))
    assert df["sample_code"].dtype == np.float64 and df["sample_code"].iloc[1400] == 12.0


def test_a_column_with_numbers_then_text_is_text():
    # pandas parses in blocks; a column numeric in one and text in another is read again.
    rows = [f"o{i}\t{i}" for i in range(300_000)]
    rows[-1] = "o_last\tabc"
    df = read_tsv("\n".join(["object_id\tobject_x", *rows, ""]).encode())
    assert df["object_x"].dtype == "str"
    assert (df["object_x"].iloc[0], df["object_x"].iloc[-1]) == ("0", "abc")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("04:20:00", "04:20:00"),
        ("23:25", "23:25:00"),
        ("232500", "23:25:00"),
        ("042500", "04:25:00"),
        ("42500", "04:25:00"),  # HHMMSS that lost its leading zero
        ("2243", "22:43:00"),  # HHMM
        ("420", "04:20:00"),  # HHMM that lost its leading zero, as EcoTaxa reads it
        ("5", "00:05:00"),
        ("000000", "00:00:00"),
    ],
)
def test_times(written, expected):
    df = read_tsv(f"object_id\tobject_time\n[t]\t[t]\na\t{written}\n".encode())
    assert df["object_time"].iloc[0] == expected


@pytest.mark.parametrize("written", ["2014-04-20", "20140420"])
def test_dates(written):
    df = read_tsv(f"object_id\tobject_date\nfirst\t{written}\nsecond\t\n".encode())
    assert df["object_date"].iloc[0] == pd.Timestamp("2014-04-20")
    assert df["object_date"].isna().tolist() == [False, True]


def test_free_date_and_time_columns_that_are_not_dates_stay_as_they_are():
    df = read_tsv(
        b"object_id\tsample_date\tsample_time\tacq_exposure_time\tprocess_date\n"
        b"[t]\t[t]\t[t]\t[f]\t[t]\n"
        b"a\tspring 2014\tmorning\t0.5\t2015-08-29\n"
        b"b\t\t2014\t\t\n"
    )
    assert df["sample_date"].iloc[0] == "spring 2014"
    assert df["sample_time"].tolist() == ["morning", "2014"]  # not all times: text
    assert df["acq_exposure_time"].iloc[0] == 0.5  # [f]: a float, whatever the name
    assert df["process_date"].iloc[0] == pd.Timestamp("2015-08-29")
    kinds = df.attrs["kinds"]
    assert (kinds["sample_date"], kinds["acq_exposure_time"], kinds["process_date"]) == (
        "text",
        "float",
        "date",
    )


def test_missing_values():
    df = read_tsv(
        b"object_id\tobject_area\tobject_comment\timg_rank\n"
        b"[t]\t[f]\t[t]\t[t]\n"
        b"a\t\t\t\n"
        b"b\tnan\tNA\t1\n"
        b"c\tNA\tnan\t2\n"
    )
    assert df["object_area"].isna().all() and df["object_area"].dtype == np.float64
    assert df["object_comment"].tolist()[1:] == ["NA", "nan"]  # text in a [t] column
    assert pd.isna(df["object_comment"].iloc[0])
    assert df["img_rank"].tolist() == [pd.NA, 1, 2]


def test_decimal_commas_in_an_import_file():
    df = read_tsv(b"object_id\tobject_area\tobject_lat\n[t]\t[f]\t[f]\na\t1,5\t-44,7\nb\t2\t3.25\n")
    assert df["object_area"].tolist() == [1.5, 2.0]
    assert df["object_lat"].tolist() == [-44.7, 3.25]


def test_types_override():
    df = read_tsv(
        IMPORT_N1,
        types={"process_start_date": "text", "object_lat": "t", "sample_volconc": "f", "x": "f"},
    )
    assert df["process_start_date"].iloc[0] == "20150829"
    assert df["object_lat"].iloc[0] == "-44.72543333333333"
    assert df["sample_volconc"].iloc[0] == 13.125
    assert df.attrs["kinds"]["sample_volconc"] == "float"
    with pytest.raises(InvalidDataError, match=r"'object_annotation_category'.*types= asks"):
        read_tsv(IMPORT_N1, types={"object_annotation_category": "float"})
    with pytest.raises(ValueError, match="use 'text'"):
        read_tsv(IMPORT_N1, types={"object_lat": "double"})
    with pytest.raises(TypeError, match="mapping"):
        read_tsv(IMPORT_N1, types=["object_lat"])


def test_usecols():
    df = read_tsv(WITH_IDS / "ecotaxa_m106_mn01_n1_sml.tsv", usecols=["sample_lat", "object_id"])
    assert list(df.columns) == ["sample_lat", "object_id"]
    assert df["sample_lat"].tolist() == [LAT] * 5
    assert set(df.attrs["kinds"]) == {"sample_lat", "object_id"}
    with pytest.raises(ValueError, match="has no column 'nope'; its columns are 'sample_id'"):
        read_tsv(SUMMARY, usecols=["nope"])


def test_header_and_types_row_only():
    df = read_tsv(
        b'"object_id"\t"object_lat"\t"object_date"\t"img_rank"\t"object_x"\n'
        b'"[t]"\t"[f]"\t"[t]"\t"[t]"\t"[f]"\n'
    )
    assert df.empty and df.attrs["types"]["object_x"] == "f"
    dtypes = {name: str(dtype) for name, dtype in df.dtypes.items()}
    assert dtypes == {
        "object_id": "str",
        "object_lat": "float64",
        "object_date": "datetime64[ns]",
        "img_rank": "Int64",
        "object_x": "float64",
    }


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


def error(source, **kwargs) -> str:
    with pytest.raises(InvalidDataError) as caught:
        read_tsv(source, **kwargs)
    return str(caught.value)


def test_empty_files(tmp_path):
    for content in (b"", codecs.BOM_UTF8 + b"\n\n"):
        path = tmp_path / "empty.tsv"
        path.write_bytes(content)
        message = error(path)
        assert message.startswith(f"{path} is empty") and "header row" in message


def test_not_an_ecotaxa_tsv(tmp_path):
    message = error(write(tmp_path, ["object_id,object_lat", "a,1"]))
    assert "table.tsv" in message and "comma-separated" in message and "sep=','" in message
    message = error(write(tmp_path, ["object_id;object_lat", "a;1"]))
    assert "semicolon-separated" in message
    message = error(write(tmp_path, ["<!DOCTYPE html>", "<html><body>Error</body></html>"]))
    assert "is not an EcoTaxa TSV" in message and "'<!DOCTYPE html>'" in message


def test_binary_and_compressed_files(tmp_path):
    raw = IMPORT_N2.read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.tsv", raw)
    assert "ZIP archive" in error(archive.getvalue())
    assert "gzip.open" in error(gzip.compress(raw))
    assert "UTF-16" in error(raw.decode().encode("utf-16"))
    assert "line 2 contains a NUL byte" in error(b"object_id\nab\x00c\n")


def test_bad_paths(tmp_path):
    with pytest.raises(NotFoundError, match="no such file") as caught:
        read_tsv(tmp_path / "missing.tsv")
    assert isinstance(caught.value, FileNotFoundError)
    assert "is a directory" in error(tmp_path)
    assert "taken as a path" in error("object_id\tobject_lat\na\t1\n")
    with pytest.raises(TypeError, match="not int"):
        read_tsv(42)


def test_header_problems(tmp_path):
    message = error(write(tmp_path, ["object_id\tObject_ID", "a\tb"]))
    assert "columns 1 and 2" in message and "'Object_ID'" in message
    message = error(write(tmp_path, ["object_id\t\tobject_lat", "a\t\t1"]))
    assert "column 2 of the header row (line 1) has no name" in message


def test_malformed_types_row(tmp_path):
    message = error(
        write(tmp_path, ["object_id\tobject_lat\tobject_x", "[t]\t[f]\tfloat", "a\t1\t2"])
    )
    assert "table.tsv: line 2 is a types row" in message and "'object_x' has 'float'" in message
    message = error(write(tmp_path, ["object_id\tobject_lat\tobject_x", "[t]\t[f]", "a\t1\t2"]))
    assert "the types row (line 2) has 2 fields" in message


def test_a_non_number_in_a_float_column(tmp_path):
    message = error(write(tmp_path, ["object_id\tobject_area", "[t]\t[f]", "a\t1.5", "b\tbig"]))
    assert message.startswith(str(tmp_path / "table.tsv") + ": line 4 (data row 2): 'big'")
    assert "column 'object_area'" in message and "types row says [f]" in message
    assert "types={'object_area': 'text'}" in message
    message = error(b'"object_id"\t"object_lat"\n"a"\t"12N"\n"b"\t"13N"\n')
    assert "line 2 (data row 1): '12N' in column 'object_lat' is not a number" in message
    assert "EcoTaxa defines this column as one (2 such values)" in message


def test_a_non_number_after_the_sample(tmp_path):
    rows = ["a\t1", *(["b\t2"] * 1100), "c\tbig"]  # past the 1000 rows tokenised in Python
    message = error(write(tmp_path, ["object_id\tobject_area", "[t]\t[f]", *rows]))
    assert "line 1104 (data row 1102): 'big' in column 'object_area'" in message


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("object_date", "20140231", "is not a date (YYYY-MM-DD or YYYYMMDD)"),
        ("object_date", "2014/04/20", "is not a date"),
        ("object_date", "2014-0420", "is not a date"),
        ("object_time", "2561", "is not a time"),
        ("object_time", "12:61:00", "is not a time"),
        ("object_time", "1234567", "is not a time"),
        ("img_rank", "1.5", "is not a whole number"),
        ("object_annotation_category_id", "x", "is not a number"),
    ],
)
def test_values_that_do_not_fit_an_ecotaxa_field(column, value, what):
    message = error(f"object_id\t{column}\n[t]\t[t]\nok\t\nbad\t{value}\n".encode())
    assert f"line 4 (data row 2): '{value}' in column '{column}' {what}" in message
    assert "EcoTaxa defines this column as one" in message


def test_rows_with_the_wrong_number_of_fields(tmp_path):
    header = ["object_id\tobject_lat\tobject_lon", "[t]\t[f]\t[f]", "a\t1\t2"]
    message = error(write(tmp_path, [*header, "b\t1\t2\t3"]))
    assert "table.tsv: line 4 has 4 fields, but the header row has 3" in message
    message = error(write(tmp_path, [*header, "b\t1"]))
    assert "line 4 has 2 fields, but the header row has 3" in message
    # After the tokenised sample, pandas finds rows that are too long...
    rows = ["b\t1\t2"] * 1200
    rows[1100] = "b\t1\t2\t3"
    message = error(write(tmp_path, header + rows))
    assert "line 1104 has more fields than the header row has columns (3)" in message
    # ... the last row of a truncated file is checked ...
    rows[1100] = "b\t1\t2"
    message = error(write(tmp_path, [*header, *rows, "c\t1"], end=b""))
    assert "the last row (line 1204) has 2 fields, but the header row has 3" in message
    assert "truncated" in message
    message = error(write(tmp_path, [*header, *rows, "c\t1", "", ""]))
    assert "the last row (line 1204) has 2 fields" in message
    # ... and so is every row in between, which pandas would fill with missing values.
    rows[1100] = "b\t1"
    message = error(write(tmp_path, header + rows))
    assert "line 1104 has 2 fields, but the header row has 3" in message
    assert "truncated" not in message


def test_values_spanning_lines_are_one_row_when_counting_fields(tmp_path):
    header = ['"object_id"\t"object_lat"\t"object_comment"', '"[t]"\t"[f]"\t"[t]"']
    rows = [f'"o{i}"\t1.0\t"fine"' for i in range(1200)]
    rows[1100] = '"o1100"\t1.0\t"two\nlines, one\twith a TAB and ""quotes"""'
    frame = read_tsv(write(tmp_path, header + rows))
    assert len(frame) == 1200
    assert frame["object_comment"].iloc[1100] == 'two\nlines, one\twith a TAB and "quotes"'
    rows[1150] = '"o1150"\t"short\nbut on two lines"'
    message = error(write(tmp_path, header + rows))
    assert "line 1154 has 2 fields, but the header row has 3" in message


def test_malformed_quoting(tmp_path):
    message = error(
        write(tmp_path, ['"object_id"\t"object_lat"', '"a\t1.0', '"b"\t2.0', '"c"\t3.0'])
    )
    assert "table.tsv: line 2, field 1: the value '\"a' opens a double quote" in message
    rows = [f'"o{i}"\t1.0' for i in range(1200)]
    message = error(write(tmp_path, ['"object_id"\t"object_lat"', *rows, '"end\t1.0']))
    assert "a quoted value that starts on line 1202 is never closed" in message
    # Quoted values may hold TABs, line breaks and doubled quotes.
    df = read_tsv(
        write(tmp_path, ['"object_id"\t"object_comment"', '"a"\t"x\ty\nz ""q"""', '"b"\t""'])
    )
    assert df["object_comment"].tolist()[0] == 'x\ty\nz "q"' and len(df) == 2


def test_blank_lines_and_crlf_when_counting_fields(tmp_path):
    header = ["object_id\tobject_lat\tobject_lon", "[t]\t[f]\t[f]"]
    rows = [f"o{i}\t1\t2" for i in range(1200)]
    rows[600] = ""  # pandas skips blank lines, and so does the count
    frame = read_tsv(write(tmp_path, [line + "\r" for line in header + rows]))
    assert len(frame) == 1199
    rows[1150] = "o1150\t1"
    message = error(write(tmp_path, [line + "\r" for line in header + rows]))
    assert "line 1153 has 2 fields, but the header row has 3" in message


def test_bytes_that_utf_8_cannot_decode_are_never_a_bare_unicode_error(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes("object_id\tobject_lat\na\t1\nb\u00e9\t2\n".encode("iso-8859-1"))
    with open(path, encoding="utf-8") as handle, pytest.raises(InvalidDataError) as caught:
        read_tsv(handle)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message and "byte 26" in message
    assert "utf-8" in message and "'rb'" in message
    assert read_tsv(path)["object_id"].tolist() == ["a", "b\u00e9"]
    with pytest.raises(InvalidDataError, match=r"<StringIO>: line 2 .*U\+D800"):
        read_tsv(io.StringIO("object_id\tobject_lat\na\ud800\t1\n"))


@pytest.mark.parametrize("path", [DOI, IMPORT_N1], ids=["export", "import"])
def test_last_line_cut_inside_its_last_field(tmp_path, path):
    raw = path.read_bytes()
    assert raw.endswith((b"\t13\n", b"\t1\n"))
    cut = tmp_path / "cut.tsv"
    cut.write_bytes(raw[:-2])  # "13" becomes "1", "1" becomes ""
    lines = raw.count(b"\n")
    for source in (cut, cut.read_bytes()):
        with pytest.raises(InvalidDataError) as caught:
            read_tsv(source)
        message = str(caught.value)
        assert f"(line {lines})" in message and "no line break" in message
        assert "strict=False" in message
        assert (str(cut) if isinstance(source, Path) else "<bytes>") in message
    with pytest.warns(UserWarning, match=rf"line {lines}\b.*no line break"):
        df = read_tsv(cut, strict=False)
    assert len(df) == len(read_tsv(path))
    with pytest.raises(ValueError, match="strict"):
        read_tsv(path, strict=None)
