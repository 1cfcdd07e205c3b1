"""The PANGAEA text parser through its public API, on real files and hand-made broken ones."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import pytest

from awiml.archives.pangaea.model import DatasetMetadata, Parameter, normalize_doi
from awiml.archives.pangaea.text import QUALITY_FLAGS, events_frame, read_metadata, read_text
from awiml.errors import InvalidDataError, NotFoundError

PANGAEA = Path(__file__).parent / "data" / "pangaea"
TSG = PANGAEA / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
PIGMENTS = PANGAEA / "PANGAEA_898941_Bracher_2019_PS103_pigments.tab"
RADIOSONDES = PANGAEA / "Polarstern_radiosondes_datawarehouse_noheader.txt"
MALFORMED = PANGAEA / "malformed"

TSG_COLUMNS = ["Date/Time", "Latitude", "Longitude", "Depth water", "Temp", "Sal"]


def tsg_parts() -> tuple[list[bytes], list[bytes]]:
    """The TSG file split into its 19 header-block lines and the table lines (header row first)."""
    lines = TSG.read_bytes().split(b"\n")
    assert lines[18] == b"*/" and lines[-1] == b""
    return lines[:19], lines[19:-1]


def write(tmp_path: Path, name: str, lines: list[bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


# --------------------------------------------------------------------------- #
# Real files
# --------------------------------------------------------------------------- #


def test_tsg_table():
    df = read_text(TSG)
    data_rows = TSG.read_bytes().count(b"\n") - 20  # 19 header-block lines + the header row
    assert df.shape == (data_rows, 6) == (4482, 6)
    assert list(df.columns) == TSG_COLUMNS
    assert str(df["Date/Time"].dtype) == "datetime64[ns, UTC]"
    assert all(df[c].dtype == np.float64 for c in TSG_COLUMNS[1:])
    first = df.iloc[0]
    assert first["Date/Time"] == pd.Timestamp("2016-12-16T18:20", tz="UTC")
    assert (first["Latitude"], first["Longitude"], first["Depth water"]) == (
        -34.046427,
        18.174993,
        11,
    )
    assert (first["Temp"], first["Sal"]) == (14.40, 35.019)
    assert df["Date/Time"].iloc[-1] == pd.Timestamp("2017-01-30T18:10", tz="UTC")
    assert not df.isna().any().any()
    columns = df.attrs["columns"]
    assert set(columns) == set(TSG_COLUMNS)
    assert columns["Temp"] == {
        "unit": "°C",
        "long_name": "Temperature, water",
        "short_name": "Temp",
        "pi": "Rohardt, Gerd (gerd.rohardt@awi.de, "
        "http://www.awi.de/en/about-us/organisation/staff/gerd-rohardt.html)",
        "method": "Thermosalinograph (TSG)",
        "geocode": False,
        "comment": None,
    }
    assert columns["Depth water"]["unit"] == "m" and columns["Depth water"]["geocode"] is True
    assert columns["Sal"]["unit"] is None
    assert df.attrs["pangaea"]["doi"] == "10.1594/PANGAEA.889513"
    assert df.attrs["pangaea"]["license"] == "CC-BY-3.0"
    assert DatasetMetadata.from_dict(json.loads(json.dumps(df.attrs["pangaea"]))) == read_metadata(
        TSG
    )
    pd.concat([df, df])  # attrs must compare cleanly


def test_tsg_metadata():
    meta = read_metadata(TSG)
    assert meta.doi == normalize_doi("https://doi.org/10.1594/PANGAEA.889513")
    assert meta.authors == ("Boebel, Olaf", "Rohardt, Gerd")
    assert meta.year == 2018
    assert meta.title == (
        "Continuous thermosalinograph oceanography along POLARSTERN cruise track PS103 "
        "(ANT-XXXII/2)"
    )
    assert meta.citation.startswith("Boebel, Olaf; Rohardt, Gerd (2018): Continuous")
    assert meta.citation.endswith("PANGAEA, https://doi.org/10.1594/PANGAEA.889513")
    assert len(meta.related) == 3
    assert meta.related[0].startswith("Boebel, Olaf (2017): The Expedition PS103")
    assert "hdl:10013/epic.eb77ee08" in meta.related[2]
    assert meta.projects == (
        "Physical Oceanography @ AWI (AWI_PhyOce) "
        "(URI: http://www.awi.de/en/science/climate-sciences/physical-oceanography.html)",
    )
    assert meta.coverage["DATE/TIME START"] == "2016-12-16T18:20:00"
    assert meta.coverage["MINIMUM DEPTH, water"] == "11 m"
    assert len(meta.coverage) == 10
    assert meta.size == "8964 data points"
    assert meta.license == "CC-BY-3.0"
    (track,) = meta.events
    assert track.label == "PS103-track"
    assert (track.latitude, track.longitude) == (-33.9068, 18.4337)
    assert (track.latitude_end, track.longitude_end) == (-53.1447, -70.9091)
    assert (track.datetime, track.datetime_end) == ("2016-12-16T00:00:00", "2017-02-02T15:00:00")
    assert track.campaign.startswith("PS103 (ANT-XXXII/2)")
    assert track.device == "Underway cruise track measurements (CT)"
    assert [p.label for p in meta.parameters] == [
        "Date/Time", "Latitude", "Longitude", "Depth water [m]", "Temp [°C]", "Sal",
    ]  # fmt: skip
    assert [p.geocode for p in meta.parameters] == [True] * 4 + [False] * 2
    assert meta.parameters[3].name == "DEPTH, water"
    assert meta.parameters[5].method == "Thermosalinograph (TSG)"


def test_pigments_header_mismatch_raises_by_default():
    with pytest.raises(InvalidDataError) as caught:
        read_text(PIGMENTS)
    message = str(caught.value)
    assert PIGMENTS.name in message
    assert "line 72" in message  # the header row after "*/" on line 71
    assert "'Date', metadata 'Date/Time'" in message
    assert "on_mismatch='warn'" in message


def test_pigments_parse_with_warn():
    with pytest.warns(UserWarning, match="line 72 does not match"):
        df = read_text(PIGMENTS, on_mismatch="warn")
    assert df.shape == (433, 34)
    assert list(df.columns[:9]) == [
        "Event", "Station", "Gear", "Date", "Latitude", "Longitude", "SampleID", "Depth", "Chlc3",
    ]  # fmt: skip
    assert str(df["Date"].dtype) == "datetime64[ns, UTC]"
    assert df["Gear"].value_counts().to_dict() == {"Underway": 291, "CTD/Rosette": 142}
    assert not any(c.endswith("_flag") for c in df.columns)
    assert df["Chla"].dtype == np.float64
    assert df.loc[0, "Chla"] == 0.5965884
    # Column descriptions come from Parameter(s) in the same position.
    assert df.attrs["columns"]["Chlc3"]["unit"] == "µg/l"
    assert df.attrs["columns"]["Chlc3"]["short_name"] == "Chl c3"
    assert df.attrs["columns"]["Date"]["comment"] == "UTC"
    assert len(df.attrs["pangaea"]["events"]) == 25


def test_pigments_metadata_and_events():
    meta = read_metadata(PIGMENTS)
    assert meta.doi == "10.1594/PANGAEA.898941"
    assert meta.authors == ("Bracher, Astrid",)
    assert meta.year == 2019
    assert meta.title == (
        "Phytoplankton pigment concentrations in the Southern Ocean during RV POLARSTERN "
        "cruise PS103 in Dec 2016 to Jan 2017"
    )
    assert not meta.citation.endswith(",")
    assert meta.related == (
        "Supplement to: Álvarez, Eva; Thoms, Silke; Bracher, Astrid; Liu, Y; Völker, Christoph "
        "(2019): Modeling Photoprotection at Global Scale: The Relative Role of "
        "Nonphotosynthetic Pigments, Physiological State, and Species Composition. Global "
        "Biogeochemical Cycles, 33(7), 904-926, https://doi.org/10.1029/2018GB006101",
    )
    assert meta.keywords == (
        "HPLC analysis",
        "phytoplankton pigment concentrations",
        "Southern Ocean",
    )
    assert meta.abstract.startswith("Phytoplankton pigment concentrations")
    assert meta.comment.startswith("We thank Sonja Wiegmann")
    assert meta.license == "CC-BY-4.0"
    assert len(meta.parameters) == 34
    date = meta.parameters[3]
    assert (date.short_name, date.geocode, date.comment) == ("Date/Time", True, "UTC")
    assert date.pi.startswith("Bracher, Astrid (https://orcid.org/0000-0003-3025-5517")
    chl = meta.parameters[8]
    assert (chl.name, chl.short_name, chl.unit) == ("Chlorophyll c3", "Chl c3", "µg/l")
    assert chl.method.startswith("High Performance Liquid Chromatography (HPLC) (URI: https://")
    assert len(meta.events) == 25
    station = next(e for e in meta.events if e.label == "PS103_11-1")
    assert (station.latitude, station.longitude, station.elevation) == (-66.5369, 0.00952, -4593.0)
    assert station.location == "Lazarev Sea"
    assert station.device == "CTD-Acoustic Doppler Current Profiler (CTD-ADCP)"
    assert station.latitude_end is None

    events = events_frame(meta)
    assert len(events) == 25
    assert list(events.columns[:3]) == ["label", "latitude", "longitude"]
    assert str(events["datetime"].dtype) == "datetime64[ns, UTC]"
    track = events.set_index("label").loc["PS103-track"]
    assert track["latitude_end"] == -53.1447 and track["longitude_end"] == -70.9091
    assert track["datetime_end"] == pd.Timestamp("2017-02-02T15:00", tz="UTC")
    assert np.isnan(track["elevation"])
    assert events["latitude_end"].notna().sum() == 1
    assert events.loc[events["label"] == "PS103_11-1", "elevation"].item() == -4593.0
    with pytest.warns(UserWarning):
        table = read_text(PIGMENTS, on_mismatch="warn")
    pd.testing.assert_frame_equal(events_frame(table), events)
    pd.testing.assert_frame_equal(events_frame(meta.to_dict()), events)


def test_radiosondes_without_header_block():
    df = read_text(RADIOSONDES)
    assert df.shape == (10765, 6)
    assert list(df.columns) == [
        "Area",
        "Campaign",
        "Event label",
        "Date/Time",
        "Latitude",
        "Longitude",
    ]
    assert str(df["Date/Time"].dtype) == "datetime64[ns, UTC]"
    assert df.loc[0, "Date/Time"] == pd.Timestamp("1984-11-16T17:08", tz="UTC")
    assert df.loc[0, "Event label"] == "PS06/01164"  # a "/" inside a string is no flag
    assert df["Event label"].str.contains("/").all()
    assert (df["Area"] == "???").sum() == 12  # text that starts like a flag stays as it is
    assert (df["Latitude"].dtype, df["Longitude"].dtype) == (np.float64, np.float64)
    assert not any(c.endswith("_flag") for c in df.columns)
    assert df.attrs["columns"]["Latitude"]["geocode"] is True
    meta = read_metadata(RADIOSONDES)
    assert meta.doi is None and meta.events == () and meta.citation is None
    assert [p.short_name for p in meta.parameters] == list(df.columns)


# --------------------------------------------------------------------------- #
# Agreement with pangaeapy, fed offline
# --------------------------------------------------------------------------- #


def panmd(meta: DatasetMetadata, ident: int, types: list[str]) -> bytes:
    """A minimal panmd record with the parameters of ``meta``, as pangaeapy reads them."""
    columns = []
    for col, (p, kind) in enumerate(zip(meta.parameters, types, strict=True)):
        unit = f"<md:unit>{escape(p.unit)}</md:unit>" if p.unit else ""
        columns.append(
            f'<md:matrixColumn col="{col}" id="col{col}.ds{col + 1}" '
            f'source="{"geocode" if p.geocode else "data"}" type="{kind}">'
            f'<md:parameter id="col{col}.ds{col + 1}.param{col + 1}">'
            f"<md:name>{escape(p.name)}</md:name><md:shortName>{escape(p.short_name)}"
            f"</md:shortName>{unit}</md:parameter></md:matrixColumn>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<md:MetaData xmlns:md="http://www.pangaea.de/MetaData">'
        f'<md:citation id="dataset{ident}"><md:title>{escape(meta.title or "extract")}</md:title>'
        f"<md:URI>https://doi.org/10.1594/PANGAEA.{ident}</md:URI></md:citation>"
        + "".join(columns)
        + '<md:technicalInfo><md:entry key="status" value="published"/>'
        '<md:entry key="loginOption" value="unrestricted"/></md:technicalInfo></md:MetaData>'
    ).encode()


def pangaeapy_data(path: Path, types: list[str], monkeypatch, tmp_path: Path) -> pd.DataFrame:
    """pangaeapy's own parsing of ``path``, with its HTTP requests answered from local files."""
    pandataset = pytest.importorskip("pangaeapy.pandataset")
    requests = pytest.importorskip("requests")
    ident = 889513
    text = path.read_bytes()
    record = panmd(read_metadata(path), ident, types)

    def fake_get(url, headers=None, timeout=None, **kwargs):
        assert url == f"https://doi.pangaea.de/10.1594/PANGAEA.{ident}", url
        accept = (headers or {}).get("Accept", "")
        body, kind = {
            "application/vnd.pangaea.metadata+xml": (
                record,
                "application/vnd.pangaea.metadata+xml",
            ),
            "text/tab-separated-values": (text, "text/tab-separated-values;charset=UTF-8"),
        }.get(accept, (b"a citation", "text/plain;charset=UTF-8"))
        response = requests.models.Response()
        response.status_code, response.url, response._content = 200, url, body
        response.headers["Content-Type"] = kind
        response.encoding = "utf-8"
        return response

    monkeypatch.setattr(requests, "get", fake_get)
    dataset = pandataset.PanDataSet(ident, cachedir=tmp_path / "pangaeapy")
    assert not any("ERROR" in entry for entry in dataset.logging), dataset.logging
    return dataset.data


@pytest.mark.parametrize("path", [TSG, PIGMENTS, RADIOSONDES], ids=lambda p: p.name[:20])
def test_agrees_with_pangaeapy(path, monkeypatch, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the pigments' renamed header row
        df = read_text(path, on_mismatch="warn")
    # Column types as PANGAEA's metadata would state them (pangaeapy uses them for its QC step).
    types = [{"M": "datetime", "f": "numeric"}.get(df[c].dtype.kind, "string") for c in df.columns]
    expected = pangaeapy_data(path, types, monkeypatch, tmp_path)
    assert expected.shape == df.shape
    # pangaeapy names columns after the metadata, read_text after the file: compare by position.
    for position, name in enumerate(expected.columns):
        ours, theirs = df.iloc[:, position], expected[name]
        if name == "Date/Time":
            assert theirs.dt.tz is None  # pangaeapy leaves PANGAEA's UTC times naive
            pd.testing.assert_series_equal(
                ours, theirs.dt.tz_localize("UTC").astype(ours.dtype), check_names=False
            )
        elif pd.api.types.is_numeric_dtype(theirs):
            np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(dtype=float), rtol=0)
        else:
            # pangaeapy strips a leading flag character from text too ("???" -> "??");
            # read_text keeps text as it is. Everything else must be equal.
            stripped = [v[1:] if isinstance(v, str) and v[:1] in QUALITY_FLAGS else v for v in ours]
            assert stripped == theirs.tolist(), name


# --------------------------------------------------------------------------- #
# Quality flags
# --------------------------------------------------------------------------- #


def test_quality_flags_table():
    assert list(QUALITY_FLAGS) == ["?", "/", "*", "#", "<", ">"]
    assert QUALITY_FLAGS["?"] == "questionable" and QUALITY_FLAGS["/"] == "not valid"


def test_flags_on_real_tsg_rows(tmp_path):
    header, table = tsg_parts()
    rows = [row.split(b"\t") for row in table[1:8]]
    rows[0][4] = b"?" + rows[0][4]  # 14.40 questionable
    rows[1][4] = b"/" + rows[1][4]  # 12.13 not valid
    rows[2][5] = b"<" + rows[2][5]  # below detection limit
    rows[3][4] = b"-" + rows[3][4]  # a negative number is no flag
    rows[4][4] = b"#"  # a flag without value
    rows[5][1] = b"*" + rows[5][1]  # Latitude, a geocode, flagged unknown
    path = write(tmp_path, "flagged.tab", [*header, table[0], *(b"\t".join(r) for r in rows)])
    df = read_text(path)
    assert list(df.columns) == [
        "Date/Time", "Latitude", "Latitude_flag", "Longitude", "Depth water", "Temp", "Temp_flag",
        "Sal", "Sal_flag",
    ]  # fmt: skip
    assert df["Temp"].tolist()[:4] == [14.40, 12.13, 13.24, -14.83]
    assert np.isnan(df.loc[4, "Temp"])
    assert df["Temp_flag"].tolist()[:5] == ["?", "/", np.nan, np.nan, "#"]
    assert isinstance(df["Temp_flag"].dtype, pd.CategoricalDtype)
    assert list(df["Temp_flag"].cat.categories) == list(QUALITY_FLAGS)
    assert df.loc[2, "Sal"] == 34.776 and df.loc[2, "Sal_flag"] == "<"
    assert df["Sal_flag"].notna().sum() == 1
    assert df.loc[5, "Latitude"] == -34.166348 and df.loc[5, "Latitude_flag"] == "*"
    assert df["Longitude"].dtype == np.float64
    assert set(df.attrs["columns"]) == set(TSG_COLUMNS)  # flag columns have no entry


def test_flags_strings_and_limits():
    df = read_text(MALFORMED / "flags_and_limits.tab")
    assert list(df.columns) == [
        "Event label", "Gear", "Station", "Date/Time", "Depth water", "Chl a", "Chl a_flag",
        "Temp", "Temp_flag",
    ]  # fmt: skip
    assert df["Gear"].tolist() == ["CTD/Rosette"] * 3 + [
        "/dev/null-gear",
        "CTD/Rosette",
        "Underway",
    ]
    # Not all Station values are numbers, so the prefixes there are text, not flags.
    assert df["Station"].tolist() == ["#1", "#2", "*3", "#4", "?", "NA"]
    np.testing.assert_array_equal(df["Chl a"], [0.5965884, 0.001, 0.7205, 10, np.nan, 0.0363499])
    assert df["Chl a_flag"].tolist() == [np.nan, "<", "/", ">", "?", np.nan]
    np.testing.assert_array_equal(df["Temp"], [1.25, -1.80, np.nan, -0.5, 2.0, 1.5])
    assert df["Temp_flag"].tolist() == ["?", np.nan, np.nan, "*", "#", np.nan]
    assert df["Date/Time"].tolist() == [
        pd.Timestamp(t, tz="UTC")
        for t in ["2016-12-20T13:22"] * 3 + ["2016-12-28T07:32", "2016-12-28", "2016-12"]
    ]
    assert df.attrs["columns"]["Chl a"]["unit"] == "µg/l"


def test_flags_across_scan_pieces_of_a_large_file(tmp_path):
    """A file of several MB, read in pieces by several threads: every flag is found."""
    header, table = tsg_parts()
    rows = table[1:]
    lines, expected = [], []
    for repeat in range(40):  # about 9.5 MB
        for row in rows:
            n = len(lines)
            if (n * 7919 + repeat) % 613 == 0:
                fields = row.split(b"\t")
                fields[4] = b">" + fields[4]
                row = b"\t".join(fields)
                expected.append(n)
            lines.append(row)
    path = write(tmp_path, "large.tab", [*header, table[0], *lines])
    assert path.stat().st_size > 9_000_000
    df = read_text(path)
    assert len(df) == len(lines)
    np.testing.assert_array_equal(np.flatnonzero(df["Temp_flag"].notna()), expected)
    reference = read_text(TSG)
    np.testing.assert_array_equal(
        df["Temp"].to_numpy().reshape(40, -1), np.tile(reference["Temp"].to_numpy(), (40, 1))
    )


def test_scan_piece_boundaries_do_not_matter(tmp_path, monkeypatch):
    """The byte scan runs in pieces (in threads for large files): any piece size gives the same."""
    from awiml.archives import _tables

    header, table = tsg_parts()
    rows = [row.split(b"\t") for row in table[1:120]]
    for index, row in enumerate(rows):
        if index % 3 == 0:  # a flag in one of the numeric columns 1 to 5
            column = 1 + index % 5
            row[column] = b"?/*#<>"[index % 6 : index % 6 + 1] + row[column]
    path = write(tmp_path, "flags.tab", [*header, table[0], *(b"\t".join(r) for r in rows)])
    broken = MALFORMED / "PANGAEA_889513_field_count.tab"
    expected = read_text(path)
    assert sum(c.endswith("_flag") for c in expected.columns) == 5  # all but Date/Time
    monkeypatch.setattr(_tables, "PARALLEL_MIN", 0)
    for size in (1, 2, 3, 5, 8, 13, 64, 1000):
        monkeypatch.setattr(_tables, "SCAN_CHUNK", size)
        pd.testing.assert_frame_equal(read_text(path), expected, obj=f"pieces of {size} bytes")
        with pytest.raises(InvalidDataError, match="line 23 has 7 fields"):
            read_text(broken)


# --------------------------------------------------------------------------- #
# Encodings and old keywords
# --------------------------------------------------------------------------- #

OLD_HEADER = """/* DATA DESCRIPTION:
Citation:\tRohardt, Gerd; Müller, Jörg (2008): Thermosalinograph data along the Polarstern track, Weddell Sea (süd). doi:10.1594/PANGAEA.889513
Abstract:\tWater temperature in °C; oxygen would be in µmol/kg.
Parameter(s):\tDATE/TIME (Date/Time) * Geocode
\tLATITUDE (Latitude) * Geocode
\tLONGITUDE (Longitude) * Geocode
\tDEPTH, water [m] (Depth water) * Geocode
\tTemperature, water [°C] (Temp) * PI: Müller, Jörg (http://www.awi.de/en/about-us/organisation/staff/mueller.html, joerg.mueller@awi.de) * METHOD: Thermosalinograph (TSG)
\tSalinity (Sal) * PI: Rohardt, Gerd (gerd.rohardt@awi.de) * METHOD: Thermosalinograph (TSG) * Comment: Größe ohne Einheit
*/
"""  # noqa: E501


def test_iso_8859_1_file_with_old_keywords(tmp_path):
    _, table = tsg_parts()
    latin = OLD_HEADER.encode("iso-8859-1") + b"\n".join(table).decode("utf-8").encode("iso-8859-1")
    with pytest.raises(UnicodeDecodeError):
        latin.decode("utf-8")
    path = tmp_path / "old.tab"
    path.write_bytes(latin + b"\n")
    df = read_text(path)
    pd.testing.assert_frame_equal(df, read_text(TSG), check_like=False, check_exact=True,
                                  check_flags=False, obj="table")  # fmt: skip
    assert df.attrs["columns"]["Temp"]["unit"] == "°C"
    assert df.attrs["columns"]["Temp"]["method"] == "Thermosalinograph (TSG)"
    assert df.attrs["columns"]["Temp"]["pi"] == (
        "Müller, Jörg (http://www.awi.de/en/about-us/organisation/staff/mueller.html, "
        "joerg.mueller@awi.de)"
    )
    assert df.attrs["columns"]["Sal"]["comment"] == "Größe ohne Einheit"
    meta = read_metadata(path)
    assert meta.doi == "10.1594/PANGAEA.889513"
    assert meta.authors == ("Rohardt, Gerd", "Müller, Jörg")
    assert meta.year == 2008
    assert meta.title == "Thermosalinograph data along the Polarstern track, Weddell Sea (süd)"
    assert meta.abstract == "Water temperature in °C; oxygen would be in µmol/kg."
    assert [p.geocode for p in meta.parameters] == [True] * 4 + [False] * 2


def test_iso_8859_1_only_in_data_rows(tmp_path):
    text = "Area\tDepth water [m]\tTemp\nWeddell Sea, Süd\t10\t?1.5\nLazarev Sea\t20\t2.5\n"
    df = read_text(text.encode("iso-8859-1"))
    assert df["Area"].tolist() == ["Weddell Sea, Süd", "Lazarev Sea"]
    assert df["Temp"].tolist() == [1.5, 2.5] and df["Temp_flag"].tolist() == ["?", np.nan]


def test_windows_1252_per_mille():
    text = "Depth water [m]\tδ18O [‰ PDB]\n10\t3.2\n".replace("δ", "d")
    df = read_text(text.encode("cp1252"))
    assert list(df.columns) == ["Depth water", "d18O"]
    assert df.attrs["columns"]["d18O"]["unit"] == "‰ PDB"


def test_sources_bom_and_line_breaks(tmp_path):
    expected = read_text(TSG)
    raw = TSG.read_bytes()
    sources = {
        "str path": str(TSG),
        "bytes": raw,
        "bytes with BOM": b"\xef\xbb\xbf" + raw,
        "bytearray": bytearray(raw),
        "binary file": io.BytesIO(raw),
        "text file": io.StringIO(raw.decode("utf-8")),
        "CRLF": raw.replace(b"\n", b"\r\n"),
        "blank lines at the end": raw + b"\n\n",
    }
    for what, source in sources.items():
        pd.testing.assert_frame_equal(read_text(source), expected, obj=what)
    with pytest.warns(UserWarning, match="no line break"):  # with strict=True, an error
        pd.testing.assert_frame_equal(read_text(raw.rstrip(b"\n"), strict=False), expected)
    with open(TSG, "rb") as handle:
        pd.testing.assert_frame_equal(read_text(handle), expected)
    assert read_metadata(io.BytesIO(raw)) == read_metadata(TSG) == read_metadata(raw)
    with open(TSG, encoding="utf-8") as handle:
        assert read_metadata(handle) == read_metadata(TSG)


def test_caller_buffer_is_not_modified():
    original = (MALFORMED / "flags_and_limits.tab").read_bytes()
    buffer = bytearray(original)
    read_text(buffer)
    assert buffer == original


# --------------------------------------------------------------------------- #
# Columns, types, metadata
# --------------------------------------------------------------------------- #


def test_missing_values_and_literal_text():
    text = (
        'Event\tNote\tDate/Time\tDepth water [m]\tTemp [°C]\n'
        'A\tNA\t2016-12-16T18:20\t1\t2.5\n'
        'B\t5" core, "quoted"\t\t\t\n'
        '\tnan\t1984\t3\t-0.0\n'
    ).encode()  # fmt: skip
    df = read_text(text)
    assert df["Event"].tolist()[:2] == ["A", "B"] and pd.isna(df.loc[2, "Event"])
    assert df["Note"].tolist() == ["NA", '5" core, "quoted"', "nan"]
    assert df["Date/Time"].isna().tolist() == [False, True, False]
    assert df.loc[2, "Date/Time"] == pd.Timestamp("1984-01-01", tz="UTC")
    assert df["Depth water"].tolist()[0] == 1.0 and df["Depth water"].dtype == np.float64
    assert np.isnan(df.loc[1, "Temp"])


def test_repeated_short_names_get_suffixes():
    text = b"Depth [m]\tTemp\tTemp\tTemp [K]\n1\t2\t3\t4\n"
    df = read_text(text)
    assert list(df.columns) == ["Depth", "Temp", "Temp_2", "Temp_3"]
    assert df.attrs["columns"]["Temp_3"]["unit"] == "K"


def test_metadata_argument_sets_types_and_is_cross_checked():
    text = b"Sample ID\tDate/Time\tTemp [\xc2\xb0C]\n0011\t2016-12\t?1.5\n0012\t1984\t2\n"
    plain = read_text(text)
    assert plain["Sample ID"].tolist() == [11.0, 12.0]
    meta = DatasetMetadata(
        doi="10.1594/PANGAEA.1",
        parameters=(
            Parameter("Sample code/label", "Sample ID", type="string"),
            Parameter("DATE/TIME", "Date/Time", geocode=True, type="datetime"),
            Parameter("Temperature, water", "Temp", "°C", type="numeric"),
        ),
    )
    df = read_text(text, metadata=meta)
    assert df["Sample ID"].tolist() == ["0011", "0012"]
    assert df["Date/Time"].tolist() == [
        pd.Timestamp("2016-12-01", tz="UTC"), pd.Timestamp("1984-01-01", tz="UTC"),
    ]  # fmt: skip
    assert df["Temp"].tolist() == [1.5, 2.0] and df["Temp_flag"].tolist() == ["?", np.nan]
    assert df.attrs["pangaea"]["doi"] == "10.1594/PANGAEA.1"
    assert df.attrs["columns"]["Sample ID"]["long_name"] == "Sample code/label"

    swapped = dataclasses.replace(meta, parameters=meta.parameters[::-1])
    with pytest.raises(InvalidDataError, match=r"of the given metadata \(metadata="):
        read_text(text, metadata=swapped)
    with pytest.warns(UserWarning, match="column 1: file 'Sample ID', metadata 'Temp"):
        read_text(text, metadata=swapped, on_mismatch="warn")
    fewer = dataclasses.replace(meta, parameters=meta.parameters[:2])
    with pytest.raises(InvalidDataError, match="the file has 3 columns, the metadata 2"):
        read_text(text, metadata=fewer)


def test_header_label_may_carry_a_comment(tmp_path):
    text = (
        "/* DATA DESCRIPTION:\n"
        "Parameter(s):\tDEPTH, sediment/rock [m] (Depth sed) * Geocode\n"
        "\tAge model [ka] (Age model) * PI: Pälike, Heiko"
        " * COMMENT: consistent with Cande and Kent\n"
        "*/\n"
        "Depth sed [m]\tAge model [ka] (consistent with Cande and Kent (1995))\n"
        "0.1\t12.5\n"
    ).encode()
    df = read_text(text)
    assert list(df.columns) == ["Depth sed", "Age model"]
    assert df.attrs["columns"]["Age model"]["comment"] == "consistent with Cande and Kent"


def test_declared_columns_must_hold_what_they_declare():
    meta = DatasetMetadata(
        parameters=(
            Parameter("DATE/TIME", "Date/Time", geocode=True),
            Parameter("Temperature, water", "Temp", "°C", type="numeric"),
        )
    )
    good = "Date/Time\tTemp [°C]\n2016-12-16T18:20\t1.5\n"
    with pytest.raises(InvalidDataError, match=r"line 3: '2016-13-45T99:00' in column 'Date/Time'"):
        read_text((good + "2016-13-45T99:00\t1.6\n").encode(), metadata=meta)
    with pytest.raises(InvalidDataError, match=r"line 4: 'n.d.' in column 'Temp' is not a number"):
        read_text(
            (good + "2016-12-16T18:30\t?1.6\n2016-12-16T18:40\tn.d.\n").encode(), metadata=meta
        )


def test_dates_with_zone_designators_long_fractions_and_words():
    values = [
        "2016-12-16T18:20Z",
        "2016-12-16T18:20+02:00",
        "2016-12-16T18:20:05.123456789+00:00",  # longer than 32 bytes
        "",
    ]
    df = read_text(("Date/Time\tX\n" + "".join(f"{v}\t1\n" for v in values)).encode())
    assert df["Date/Time"].tolist()[:3] == [
        pd.Timestamp("2016-12-16T18:20", tz="UTC"),
        pd.Timestamp("2016-12-16T16:20", tz="UTC"),
        pd.Timestamp("2016-12-16T18:20:05.123456789", tz="UTC"),
    ]
    assert pd.isna(df.loc[3, "Date/Time"])
    with pytest.raises(InvalidDataError, match="line 3: 'now' in column 'Date/Time'"):
        read_text(b"Date/Time\tX\n2016\t1\nnow\t2\n")
    assert read_text(b"Label\n2016-12\ntoday\n")["Label"].tolist() == ["2016-12", "today"]


def test_text_column_that_starts_numeric_stays_text(tmp_path):
    rows = [b"%d\t%d" % (i, i) for i in range(300_000)] + [b"A1\t7"]
    df = read_text(b"Label\tDepth [m]\n" + b"\n".join(rows) + b"\n")
    assert df["Label"].dtype == "str"
    assert df["Label"].iloc[0] == "0" and df["Label"].iloc[-1] == "A1"
    assert df["Depth"].dtype == np.float64


def test_header_only_table():
    header, table = tsg_parts()
    df = read_text(b"\n".join([*header, table[0]]) + b"\n")
    assert list(df.columns) == TSG_COLUMNS and len(df) == 0
    assert str(df["Date/Time"].dtype) == "datetime64[ns, UTC]"


def test_events_frame_needs_metadata():
    with pytest.raises(InvalidDataError, match="attrs"):
        events_frame(pd.DataFrame({"a": [1]}))
    empty = events_frame(read_metadata(RADIOSONDES))
    assert len(empty) == 0 and "latitude_end" in empty.columns


def test_event_attributes_become_columns():
    text = (
        b"/* DATA DESCRIPTION:\n"
        b"Event(s):\tPS1-1 * LATITUDE: 1.5 * LONGITUDE: -2.5 * ELEVATION: -10.0 m * "
        b"Recovery: 5.9 m * COMMENT: a * b\n"
        b"Parameter(s):\tDEPTH, water [m] (Depth water) * GEOCODE\n"
        b"Status:\tpublished\n"
        b"*/\n"
        b"Depth water [m]\n1\n\n2\n"
    )
    meta = read_metadata(text)
    (event,) = meta.events
    assert event.attributes == {"Recovery": "5.9 m"} and event.comment == "a * b"
    assert meta.extra == {"Status": "published"}
    events = events_frame(meta)
    assert events.loc[0, "Recovery"] == "5.9 m" and events.loc[0, "elevation"] == -10.0
    df = read_text(text)  # one column: an empty line is a missing value
    assert df["Depth water"].isna().tolist() == [False, True, False]


# --------------------------------------------------------------------------- #
# Malformed files
# --------------------------------------------------------------------------- #


def test_truncated_file():
    path = MALFORMED / "PANGAEA_889513_truncated.tab"
    with pytest.raises(InvalidDataError) as caught:
        read_text(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 26 has 2 fields" in message and "header on line 20 has 6" in message
    assert "truncated" in message


def test_truncated_real_file(tmp_path):
    raw = TSG.read_bytes()
    path = tmp_path / "cut.tab"
    path.write_bytes(raw[: len(raw) - 20])  # the last line loses its last 3 fields
    with pytest.raises(InvalidDataError, match=r"line 4502 has 3 fields.*truncated"):
        read_text(path)


def test_wrong_field_counts():
    path = MALFORMED / "PANGAEA_889513_field_count.tab"
    with pytest.raises(InvalidDataError) as caught:
        read_text(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 23 has 7 fields, but the column header on line 20 has 6" in message
    assert "also wrong: line 26" in message


def test_missing_field_in_first_row_and_extra_field_later(tmp_path):
    header, table = tsg_parts()
    rows = list(table[1:6])
    rows[0] = rows[0].rsplit(b"\t", 1)[0]  # line 21: one field short
    rows[3] += b"\t1.0"  # line 24: one field too many, so the tab count adds up
    path = write(tmp_path, "shifted.tab", [*header, table[0], *rows])
    with pytest.raises(InvalidDataError, match=r"line 21 has 5 fields.*also wrong: line 24"):
        read_text(path)
    rows = list(table[1:6])
    rows[0] += b"\t1.0"  # an extra field in the first data row (pandas would make it an index)
    rows[3] = rows[3].rsplit(b"\t", 1)[0]
    with pytest.raises(InvalidDataError, match="line 21 has 7 fields"):
        read_text(write(tmp_path, "shifted2.tab", [*header, table[0], *rows]))


def test_blank_line_inside_the_table(tmp_path):
    header, table = tsg_parts()
    path = write(tmp_path, "blank.tab", [*header, *table[:5], b"", *table[5:9]])
    with pytest.raises(InvalidDataError, match="line 25 has 1 field,"):
        read_text(path)


def test_header_block_without_end():
    path = MALFORMED / "PANGAEA_889513_unclosed_header.tab"
    for reader in (read_text, read_metadata):
        with pytest.raises(InvalidDataError) as caught:
            reader(path)
        message = str(caught.value)
        assert str(path) in message and "line 19" in message and "'*/'" in message


def test_file_ending_inside_the_header_block():
    header, _ = tsg_parts()
    with pytest.raises(InvalidDataError, match="ends on line 10 inside the"):
        read_text(b"\n".join(header[:10]) + b"\n")
    with pytest.raises(InvalidDataError, match=r"no column header row after the '\*/' on line 19"):
        read_text(b"\n".join(header) + b"\n")
    with pytest.raises(InvalidDataError, match="empty"):
        read_text(b"\n\n")


def test_malformed_header_line():
    text = b"/* DATA DESCRIPTION:\nCitation:\tX (2000): Y. PANGAEA\nno key here\n*/\nA\n1\n"
    with pytest.raises(InvalidDataError, match="line 3 of the '/\\* DATA DESCRIPTION:' block"):
        read_metadata(text)


def test_binary_garbage(tmp_path):
    gz = tmp_path / "data.tab.gz"
    gz.write_bytes(gzip.compress(TSG.read_bytes(), mtime=0))
    with pytest.raises(
        InvalidDataError, match=r"data\.tab\.gz: line \d+ contains a NUL byte.*gzip"
    ):
        read_text(gz)
    garbage = bytes(range(11, 256)) * 4 + b"\n\x00\xff"
    with pytest.raises(InvalidDataError, match="line 2 contains a NUL byte"):
        read_text(garbage)
    with pytest.raises(InvalidDataError, match=r"line 1 contains a NUL byte.*UTF-16"):
        read_metadata(TSG.read_text(encoding="utf-8").encode("utf-16"))
    no_nul = bytes(range(1, 256)) * 3
    with pytest.raises(InvalidDataError, match="line"):
        read_text(no_nul)


def test_bad_arguments(tmp_path):
    with pytest.raises(NotFoundError, match=r"no_such\.tab: no such file"):
        read_text(tmp_path / "no_such.tab")
    with pytest.raises(ValueError, match="on_mismatch"):
        read_text(TSG, on_mismatch="ignore")
    with pytest.raises(InvalidDataError, match="line breaks"):
        read_text(TSG.read_text(encoding="utf-8"))
    with pytest.raises(TypeError):
        read_text(12)


# --------------------------------------------------------------------------- #
# Faults found by fuzzing 0.1.0
# --------------------------------------------------------------------------- #


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, so that a crash fails the test instead of pytest."""
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )


@pytest.mark.parametrize(
    ("bad", "rows"),
    [
        ("2016-12-2xT05:00", 1000),  # NumPy 2.4 crashed casting more than 500 bytes values
        ("2016-13-01T05:00", 501),
        ("2016-12-01T05:00+02:00", 2000),  # a zone designator in the middle: NumPy warns
    ],
)
def test_bad_date_among_many_is_an_error_not_a_crash(tmp_path, bad, rows):
    path = tmp_path / "dates.tab"
    lines = [f"2016-12-{1 + i % 28:02d}T05:00\t{i}" for i in range(rows)]
    lines[rows // 2] = f"{bad}\t0"
    path.write_text("Date/Time\tDepth water [m]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    result = run_isolated(
        f"""
        from awiml.archives.pangaea.text import read_text
        from awiml.errors import InvalidDataError
        try:
            df = read_text({str(path)!r})
        except InvalidDataError as error:
            print("InvalidDataError:", error)
        else:
            print("parsed:", df["Date/Time"].iloc[{rows // 2}].isoformat())
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if "+" in bad:  # a valid date with a zone designator: converted to UTC
        assert result.stdout.strip() == "parsed: 2016-12-01T03:00:00+00:00"
    else:
        message = result.stdout
        assert message.startswith("InvalidDataError:"), message
        assert str(path) in message and f"line {rows // 2 + 2}: {bad!r}" in message
        assert "column 'Date/Time'" in message


def test_bytes_that_utf_8_cannot_decode_are_never_a_bare_unicode_error(tmp_path):
    # Not UTF-8 in a date longer than the 32 bytes read at first: read as Windows-1252.
    text = b"Date/Time\tX\n2016-12-01T05:00\t1\n2016-12-01T05:00:00.000000000000\xff\t2\n"
    with pytest.raises(
        InvalidDataError, match=re.escape("line 3: '2016-12-01T05:00:00.000000000000\xff'")
    ):
        read_text(text)
    # A text file object that cannot decode the file: say where, and what to do.
    path = tmp_path / "latin.tab"
    path.write_bytes("Label\tX\na\t1\nb\u00e9\t2\n".encode("iso-8859-1"))
    for reader in (read_text, read_metadata):
        with open(path, encoding="utf-8") as handle, pytest.raises(InvalidDataError) as caught:
            reader(handle)
        message = str(caught.value)
        assert str(path) in message and "line 3" in message and "byte 13" in message
        assert "utf-8" in message and "'rb'" in message
    assert read_text(path)["Label"].tolist() == ["a", "b\u00e9"]
    # A str that no encoding can write (a lone surrogate).
    with pytest.raises(InvalidDataError, match=r"<StringIO>: line 2 .*U\+D800"):
        read_text(io.StringIO("Label\tX\na\ud800\t1\n"))


def test_last_line_cut_inside_its_last_field(tmp_path):
    raw = TSG.read_bytes()
    assert raw.endswith(b"\t33.636\n")
    path = tmp_path / "cut.tab"
    path.write_bytes(raw[:-3])  # "...\t33.6": the right number of fields, a wrong value
    with pytest.raises(InvalidDataError) as caught:
        read_text(path)
    message = str(caught.value)
    assert str(path) in message and "line 4502" in message and "no line break" in message
    assert "strict=False" in message
    with pytest.warns(UserWarning, match=r"line 4502\b.*no line break"):
        df = read_text(path, strict=False)
    assert df["Sal"].iloc[-1] == 33.6 and len(df) == 4482
    assert read_metadata(path).doi == "10.1594/PANGAEA.889513"  # the header is whole
    with pytest.raises(InvalidDataError, match=r"line 1\b.*no line break"):
        read_text(b"Depth water [m]")
    with pytest.raises(ValueError, match="strict"):
        read_text(TSG, strict="no")
