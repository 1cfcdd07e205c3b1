"""An oracle for the fast table readers: plain ``pandas.read_csv`` on every real file.

The fast paths of :func:`~awiml.archives.pangaea.text.read_text` and
:func:`~awiml.archives.ecotaxa.tsv.read_tsv` scan bytes with NumPy, blank
flags in place, cast dates in pieces and fix columns by their distinct
values. Here the table part of every real file in ``tests/data`` is read the
plainest way, ``pandas.read_csv(..., sep="\\t", dtype=str)``, and each value
of the fast result is compared with the text it came from: numbers as
numbers, dates and times after normalising, text as text. A fast path that
shifts, drops, duplicates or alters a value fails here.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from awiml.archives.ecotaxa.tsv import read_tsv
from awiml.archives.pangaea.text import QUALITY_FLAGS, read_text

DATA = Path(__file__).parent / "data"
PANGAEA_FILES = [
    *sorted((DATA / "pangaea").glob("*.tab")),
    *sorted((DATA / "pangaea").glob("*.txt")),
    DATA / "pangaea" / "malformed" / "flags_and_limits.tab",  # quality flags and limits
]
ECOTAXA_FILES = sorted((DATA / "ecotaxa").rglob("*.tsv"))


def plain_pangaea(path: Path) -> pd.DataFrame:
    """The table part of a PANGAEA file as text, every cell a str ("" when empty)."""
    raw = path.read_bytes()
    if raw.startswith(b"/*"):
        raw = raw[raw.index(b"\n*/") + 1 :]
        raw = raw[raw.index(b"\n") + 1 :]
    return pd.read_csv(
        io.BytesIO(raw),
        sep="\t",
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
        encoding="utf-8",
    )


def numbers(text: pd.Series, decimal: str = ".") -> np.ndarray:
    """Text to float64 with Python's float(); "" (and EcoTaxa's nan/na) to NaN."""
    out = []
    for value in text:
        value = value.strip()
        if value.lower() in ("", "nan", "na"):
            out.append(np.nan)
        else:
            out.append(float(value.replace(decimal, ".") if decimal != "." else value))
    return np.array(out, dtype=np.float64)


@pytest.mark.parametrize("path", PANGAEA_FILES, ids=lambda p: p.name)
def test_read_text_agrees_with_plain_read_csv(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the pigments header mismatch
        fast = read_text(path, on_mismatch="warn")
    plain = plain_pangaea(path)
    flag_columns = {c for c in fast.columns if c.endswith("_flag") and c[:-5] in fast.columns}
    data_columns = [c for c in fast.columns if c not in flag_columns]
    assert len(data_columns) == plain.shape[1], "a column was dropped or added"
    assert len(fast) == len(plain) > 0, "a row was dropped or added"
    checked = 0
    for name, label in zip(data_columns, plain.columns, strict=True):
        values, text = fast[name], plain[label]
        short = label.split(" [")[0]
        assert name == short or name.startswith(f"{short}_"), (name, label)
        if values.dtype.kind == "M":
            expected = pd.to_datetime(text.replace("", None), format="ISO8601", utc=True)
            assert (values.isna().to_numpy() == expected.isna().to_numpy()).all(), name
            same = values.dropna().to_numpy() == expected.dropna().to_numpy()
            assert same.all(), (name, values[~values.isna()][~same].head())
        elif values.dtype.kind == "f":
            flags = text.str[:1].where(text.str[:1].isin(list(QUALITY_FLAGS)), "")
            if f"{name}_flag" in flag_columns:
                got = fast[f"{name}_flag"].astype(object).where(fast[f"{name}_flag"].notna(), "")
                assert (got.to_numpy() == flags.to_numpy()).all(), f"flags of {name}"
                text = text.where(flags == "", text.str[1:])
            else:
                assert (flags == "").all(), f"{name} has flags but no flag column"
            np.testing.assert_array_equal(values.to_numpy(), numbers(text), err_msg=name)
        else:
            expected = text.where(text != "", None)
            assert values.isna().tolist() == expected.isna().tolist(), name
            assert values.dropna().tolist() == expected.dropna().tolist(), name
        checked += len(values)
    assert checked == len(fast) * len(data_columns)


def plain_ecotaxa(path: Path, encoding: str, types_row: bool) -> pd.DataFrame:
    """An EcoTaxa file as text as csv reads it (quotes removed), every cell a str."""
    plain = pd.read_csv(
        path,
        sep="\t",
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        skiprows=[1] if types_row else None,
    )
    plain.columns = [c.strip() for c in plain.columns]
    return plain


def normal_time(text: str) -> str:
    """A time as EcoTaxa writes it (``04:20:00``, ``042000``, ``420``) as ``HHMMSS``."""
    digits = text.strip().replace(":", "")
    if ":" in text:
        parts = text.strip().split(":")
        digits = "".join(p.zfill(2) for p in parts).ljust(6, "0")
    elif len(digits) <= 4:
        digits = digits.zfill(4) + "00"
    return digits.zfill(6)


@pytest.mark.parametrize("path", ECOTAXA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_read_tsv_agrees_with_plain_read_csv(path):
    fast = read_tsv(path)
    plain = plain_ecotaxa(path, fast.attrs["encoding"], fast.attrs["types"] is not None)
    assert list(fast.columns) == list(plain.columns)
    assert len(fast) == len(plain) > 0
    decimal = fast.attrs["decimal"]
    for name, kind in fast.attrs["kinds"].items():
        values, text = fast[name], plain[name]
        if kind in ("float", "int"):
            got = values.astype("float64").to_numpy()
            np.testing.assert_array_equal(got, numbers(text, decimal), err_msg=name)
        elif kind == "date":
            expected = text.str.replace("-", "", regex=False)
            got = values.dt.strftime("%Y%m%d").where(values.notna(), "")
            assert got.tolist() == expected.tolist(), name
        elif kind == "time":
            expected = [normal_time(t) if t else "" for t in text]
            got = [v.replace(":", "") if isinstance(v, str) else "" for v in values]
            assert got == expected, name
        elif kind == "bool":
            assert [str(v).lower() for v in values] == [t.lower() for t in text], name
        else:
            expected = text.where(text != "", None)
            assert values.isna().tolist() == expected.isna().tolist(), name
            assert values.dropna().tolist() == expected.dropna().tolist(), name
