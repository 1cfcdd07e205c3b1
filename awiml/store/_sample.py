"""The evaluation sample of a stored version: the first rows of the test inputs, safely stored.

A re-run can check that the reproduced model predicts what the stored one
does on these rows. They are kept in the version folder in formats that run
no code when read (never pickle), beside the model:

``evaluation/sample.npz``
    An array (``np.savez``, one array ``X``; read with ``allow_pickle=False``).
``evaluation/sample.json``
    A pandas DataFrame: per column its name, dtype and values, so numeric,
    bool, str and datetime columns (with their time zone) come back exactly.
``evaluation/sample_inputs.json``
    A list of input files: each one's path (relative to the workspace's
    ``raw/`` when inside it, else absolute) and its ``sha256``; the files are
    not copied.

At most :data:`SAMPLE_ROWS` rows are kept, the first ones.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import buffer_digest, file_digest

#: At most this many rows (the first ones) of an evaluation's inputs are stored.
SAMPLE_ROWS = 200

#: What the ``kind`` of a sample can be, and its file in the version folder.
SAMPLE_FILES = {"array": "evaluation/sample.npz", "table": "evaluation/sample.json",
                "files": "evaluation/sample_inputs.json"}


@dataclass(frozen=True)
class SamplePayload:
    """A sample ready to be written: its file in the version folder, content and record."""

    file: str
    content: bytes
    section: dict[str, Any]


def sample_payload(sample: Any, raw: Path | None = None) -> SamplePayload:
    """Encode the first :data:`SAMPLE_ROWS` rows of ``sample`` for the version folder.

    Parameters
    ----------
    sample : array-like, pandas.DataFrame or list of paths
        The inputs an evaluation was made on.
    raw : pathlib.Path, optional
        The ``raw/`` folder of the store's workspace: file paths inside it are
        recorded relative to it.

    Returns
    -------
    SamplePayload
        With ``section`` the ``evaluation_sample`` of the provenance:
        ``{"kind", "file", "rows", "sha256"}``.

    Raises
    ------
    TypeError
        If the sample cannot be stored without pickle (an array of Python
        objects, a DataFrame column of objects that are not all str), or a
        listed file does not exist.

    Examples
    --------
    >>> import numpy as np
    >>> payload = sample_payload(np.arange(1000).reshape(500, 2))
    >>> payload.section["kind"], payload.section["rows"], payload.file
    ('array', 200, 'evaluation/sample.npz')
    """
    pandas = sys.modules.get("pandas")  # a DataFrame exists only once pandas is imported
    if pandas is not None and isinstance(sample, pandas.DataFrame):
        kind, content, rows = "table", *_table_bytes(sample.iloc[:SAMPLE_ROWS])
    elif _is_file_list(sample):
        kind, content, rows = "files", *_files_bytes(list(sample)[:SAMPLE_ROWS], raw)
    else:
        kind, content, rows = "array", *_array_bytes(sample)
    file = SAMPLE_FILES[kind]
    return SamplePayload(file, content, {"kind": kind, "file": file, "rows": rows,
                                         "sha256": buffer_digest(content)})


def read_sample(path: Path, kind: str, raw: Path | None = None) -> Any:
    """Read a stored sample back: an array, a DataFrame, or a list of absolute paths.

    Parameters
    ----------
    path : pathlib.Path
        The sample's file (already checked against the version's record).
    kind : str
        ``"array"``, ``"table"`` or ``"files"``.
    raw : pathlib.Path, optional
        The ``raw/`` folder that relative file paths are relative to.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> payload = sample_payload([[1.5, 2.0], [3.0, 4.0]])
    >>> path = Path(tempfile.mkdtemp()) / "sample.npz"
    >>> _ = path.write_bytes(payload.content)
    >>> read_sample(path, "array").tolist()
    [[1.5, 2.0], [3.0, 4.0]]
    """
    if kind == "array":
        import numpy as np

        with np.load(path, allow_pickle=False) as stored:
            return stored["X"]
    document = json.loads(path.read_text(encoding="utf-8"))
    if kind == "files":
        paths = [Path(entry["path"]) for entry in document["files"]]
        return [str(p if p.is_absolute() or raw is None else raw / p) for p in paths]
    if kind == "table":
        return _table_from(document)
    raise ValueError(f"unknown evaluation sample kind {kind!r}; this awiml reads "
                     f"{', '.join(SAMPLE_FILES)}")


def _is_file_list(sample: Any) -> bool:
    """Whether ``sample`` is a list (or 1-D array) of paths of existing files."""
    if isinstance(sample, (str, bytes)) or not hasattr(sample, "__len__"):
        return False
    if getattr(sample, "ndim", 1) != 1 or len(sample) == 0:
        return False
    items = list(sample[:SAMPLE_ROWS])
    return all(isinstance(i, (str, os.PathLike)) for i in items) and Path(items[0]).is_file()


def _array_bytes(sample: Any) -> tuple[bytes, int]:
    import numpy as np

    array = np.asarray(sample)
    if array.dtype.hasobject:
        raise TypeError(
            f"the evaluation sample is an array of Python objects ({type(sample).__name__}), "
            "which cannot be stored without pickle; give sample= a numeric or str array, a "
            "DataFrame or a list of file paths, or sample=False to store none"
        )
    if array.ndim == 0:
        raise TypeError("the evaluation sample is a single value, not rows of inputs; give "
                        "sample= the test inputs, or sample=False to store none")
    array = array[:SAMPLE_ROWS]
    buffer = io.BytesIO()
    np.savez(buffer, X=array)
    return buffer.getvalue(), int(array.shape[0])


def _files_bytes(paths: list[Any], raw: Path | None) -> tuple[bytes, int]:
    entries = []
    for item in paths:
        path = Path(os.path.normpath(Path(item).expanduser().absolute()))
        if not path.is_file():
            raise TypeError(f"the evaluation sample lists {item}, which is not a file; give "
                            "existing files, or sample=False to store none")
        shown = path.as_posix()
        if raw is not None and raw.absolute() in path.parents:
            shown = path.relative_to(raw.absolute()).as_posix()
        entries.append({"path": shown, "sha256": file_digest(path)})
    text = json.dumps({"files": entries}, indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8"), len(entries)


def _table_bytes(frame: Any) -> tuple[bytes, int]:
    import pandas as pd

    if not isinstance(frame.index, pd.RangeIndex):
        index: Any = _column("the index", frame.index.name, pd.Series(frame.index))
    else:
        index = {"range": [frame.index.start, frame.index.stop, frame.index.step]}
    columns = [_column(f"column {name!r}", name, frame[name]) if frame.columns.is_unique
               else _column(f"column {name!r}", name, frame.iloc[:, i])
               for i, name in enumerate(frame.columns)]
    document = {"index": index, "columns": columns}
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return text.encode("utf-8"), len(frame)


def _column(where: str, name: Any, series: Any) -> dict[str, Any]:
    """Encode one column (or the index) as ``{"name", "dtype", "values"}``, exactly."""
    import numpy as np
    import pandas as pd

    if name is not None and not isinstance(name, (str, int, float, bool)):
        raise TypeError(f"the evaluation sample's {where} has a name of type "
                        f"{type(name).__name__}; name it with a str or a number")
    dtype = series.dtype
    kind = dtype.kind
    if kind == "M":  # datetimes (with their time zone): integers in the dtype's unit
        tz = getattr(dtype, "tz", None)
        naive = series.dt.tz_convert(None) if tz is not None else series
        moments = naive.to_numpy()
        ticks = moments.view("int64")
        values: list[Any] = [None if nat else int(t)
                             for t, nat in zip(ticks, np.isnat(moments), strict=True)]
    elif kind in "iub":
        values = [None if v is pd.NA else (bool(v) if kind == "b" else int(v))
                  for v in series.tolist()]
    elif kind == "f":
        values = [None if v is pd.NA or v is None else _float(v) for v in series.tolist()]
    elif kind in "OU" or isinstance(dtype, pd.StringDtype):
        items = series.tolist()
        odd = next((v for v in items if not (isinstance(v, str) or v is None or v is pd.NA
                                             or (isinstance(dtype, pd.StringDtype)
                                                 and isinstance(v, float) and math.isnan(v)))),
                   None)
        if odd is not None:
            raise TypeError(
                f"the evaluation sample's {where} holds {type(odd).__name__} values, which "
                "cannot be stored without pickle; convert it to str or numbers, or give "
                "sample=False to store none"
            )
        values = [v if isinstance(v, str) else None for v in items]
    else:
        raise TypeError(
            f"the evaluation sample's {where} has the dtype {dtype}, which awiml does not "
            "store; convert it to numbers, bool, str or datetime, or give sample=False"
        )
    return {"name": name, "dtype": str(dtype), "values": values}


def _float(value: Any) -> Any:
    """Return a float as JSON: NaN as None, infinities as the strings "inf" and "-inf"."""
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return number


def _table_from(document: dict[str, Any]) -> Any:
    import pandas as pd

    data = {}
    columns = []
    for position, column in enumerate(document["columns"]):
        data[position] = _series_from(column)
        columns.append(column["name"])
    frame = pd.DataFrame(data)
    frame.columns = pd.Index(columns)
    index = document["index"]
    if "range" in index:
        frame.index = pd.RangeIndex(*index["range"])
    else:
        frame.index = pd.Index(_series_from(index), name=index["name"])
    return frame


def _series_from(column: dict[str, Any]) -> Any:
    import numpy as np
    import pandas as pd

    dtype = pd.api.types.pandas_dtype(column["dtype"])
    values = column["values"]
    if dtype.kind == "M":
        unit = dtype.unit if hasattr(dtype, "unit") else np.datetime_data(dtype)[0]
        ticks = np.array([0 if v is None else v for v in values], dtype="int64")
        moments = ticks.view(f"datetime64[{unit}]")
        moments[[v is None for v in values]] = np.datetime64("NaT")
        series = pd.Series(moments)
        tz = getattr(dtype, "tz", None)
        return series.dt.tz_localize("UTC").dt.tz_convert(tz) if tz is not None else series
    if dtype.kind == "f":
        values = [math.nan if v is None else float(v) for v in values]
    if isinstance(dtype, np.dtype) and dtype.kind in "iub" and None in values:
        raise ValueError(f"the stored sample column {column['name']!r} of dtype {dtype} "
                         "holds a missing value; the file was not written by awiml")
    return pd.Series(pd.array(values, dtype=dtype))
