"""The xarray backend ``engine="pangaea"``: PANGAEA datasets and text exports as Datasets.

xarray finds :class:`PangaeaBackendEntrypoint` through the ``xarray.backends``
entry point in awiml's ``pyproject.toml`` and imports this module whenever it
lists its engines, so the module imports nothing heavy: the source, the text
reader and the conversion are imported when a dataset is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from xarray.backends import BackendEntrypoint

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["PangaeaBackendEntrypoint"]

#: The first line of a PANGAEA text export with its metadata block.
HEADER = b"/* DATA DESCRIPTION:"
_BOM = b"\xef\xbb\xbf"
_DOI_URL = re.compile(
    r"(?i)^(?:https?://(?:dx\.)?doi\.org/|https?://doi\.pangaea\.de/)10\.1594/PANGAEA\.\d+/?$"
)
_PANGAEA_DOI = re.compile(r"(?i)10\.1594/PANGAEA\.(\d+)")
_SOURCE_OPTIONS = ("token", "base_url", "timeout", "retries")


class PangaeaBackendEntrypoint(BackendEntrypoint):
    """Open PANGAEA datasets with :func:`xarray.open_dataset` (``engine="pangaea"``).

    The Dataset is the one :meth:`PangaeaSource.to_xarray
    <awiml.PangaeaSource.to_xarray>` gives: CF-1.10 attributes, geocodes as
    coordinates, units, quality flags as ancillary variables.

    ``filename_or_obj`` is one of:

    - ``"pangaea://<id>"`` or ``"pangaea://10.1594/PANGAEA.<id>"`` (also with
      ``/data.tab`` after it), or a DOI URL such as
      ``"https://doi.org/10.1594/PANGAEA.<id>"``: the dataset, read through
      :class:`~awiml.PangaeaSource` (its cache and token apply);
    - a path or binary file object of a PANGAEA text export (``.tab``), read
      with :func:`~awiml.archives.pangaea.read_text` and its own metadata
      block.

    Keyword arguments of :func:`xarray.open_dataset` that the engine takes:

    - ``drop_variables``: names of variables (or PANGAEA short names) to
      leave out;
    - ``token``, ``base_url``, ``timeout``, ``retries``: as for
      :class:`~awiml.PangaeaSource`;
    - ``storage_options``: other keywords of :class:`~awiml.PangaeaSource`,
      as a dict, e.g. ``{"cache": False}`` or ``{"cache": "path/to/folder"}``
      (``cache=`` given to :func:`xarray.open_dataset` itself is xarray's own
      in-memory cache, not awiml's download cache);
    - ``on_mismatch``: ``"raise"`` (default) or ``"warn"`` when a table's
      header disagrees with its metadata (see
      :func:`~awiml.archives.pangaea.read_text`).

    :meth:`guess_can_open` claims ``pangaea://`` URLs and files that start
    with PANGAEA's ``/* DATA DESCRIPTION:`` block, so ``engine="pangaea"``
    may be left out for such files. Name it for ``pangaea://`` URLs: xarray
    asks its netCDF4 engine first, which takes any URL for OPeNDAP.

    Examples
    --------
    Against the loopback emulator that ships with awiml:

    >>> import xarray as xr
    >>> from awiml.testing import PangaeaServer
    >>> with PangaeaServer() as server:
    ...     _ = server.add_sample_data()
    ...     ds = xr.open_dataset("pangaea://889513", engine="pangaea",
    ...                          base_url=server.base_url, storage_options={"cache": False})
    >>> ds["Temp"].attrs["units"], ds.attrs["featureType"]
    ('degC', 'trajectory')

    A text export on disk (the same dataset):

    >>> from importlib.resources import files
    >>> path = files("awiml") / "data" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
    >>> xr.open_dataset(path, engine="pangaea").sizes["obs"]
    4482
    """

    description = "PANGAEA datasets (pangaea://<id>) and PANGAEA text exports, read by awiml"
    url = "https://awiml.readthedocs.io/en/latest/pangaea.html#xarray"
    open_dataset_parameters = (
        "filename_or_obj",
        "drop_variables",
        *_SOURCE_OPTIONS,
        "storage_options",
        "on_mismatch",
    )

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        token: str | None = None,
        base_url: str | None = None,
        timeout: tuple[float, float] | None = None,
        retries: int | None = None,
        storage_options: Mapping[str, Any] | None = None,
        on_mismatch: str = "raise",
    ) -> xr.Dataset:
        """Read a PANGAEA dataset or text export into an :class:`xarray.Dataset`.

        Parameters
        ----------
        filename_or_obj : str, os.PathLike or file-like
            A ``pangaea://`` URL, a PANGAEA DOI URL, or a PANGAEA text export.
        drop_variables : str or iterable of str, optional
            Variables to leave out, by Dataset name (``"Date_Time"``) or
            PANGAEA short name (``"Date/Time"``). Unknown names are ignored.
        token, base_url, timeout, retries : optional
            As for :class:`~awiml.PangaeaSource` (``pangaea://`` only).
        storage_options : dict, optional
            Further :class:`~awiml.PangaeaSource` keywords, e.g. ``cache``.
        on_mismatch : {"raise", "warn"}, optional
            As for :func:`~awiml.archives.pangaea.read_text`.

        Returns
        -------
        xarray.Dataset
            As :meth:`PangaeaSource.to_xarray <awiml.PangaeaSource.to_xarray>`
            returns it.

        Raises
        ------
        NotFoundError
            A local file that does not exist, or an unknown dataset.
        InvalidDataError
            A ``pangaea://`` path that is not a dataset's table, a collection,
            a file that is not a PANGAEA text export, or an option given twice.
        """
        options = {
            key: value
            for key, value in zip(_SOURCE_OPTIONS, (token, base_url, timeout, retries), strict=True)
            if value is not None
        }
        target = os.fspath(filename_or_obj) if isinstance(filename_or_obj, os.PathLike) else (
            filename_or_obj
        )
        if isinstance(target, str) and _is_remote(target):
            dataset = _open_remote(target, options, dict(storage_options or {}), on_mismatch)
        else:
            if options or storage_options:
                given = ", ".join(sorted([*options, *(storage_options or {})]))
                _invalid(
                    f"{_describe(target)} is a local file: the options {given} are for "
                    "pangaea:// datasets and have no effect here; leave them out"
                )
            dataset = _open_local(target, on_mismatch)
        return _drop(dataset, drop_variables)

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """Say whether ``filename_or_obj`` is a ``pangaea://`` URL or a PANGAEA text export.

        Parameters
        ----------
        filename_or_obj : str, os.PathLike or file-like
            What :func:`xarray.open_dataset` was given.

        Returns
        -------
        bool
            True for ``pangaea://...`` and for files (or seekable binary file
            objects) that start with ``/* DATA DESCRIPTION:``; never raises.
        """
        try:
            if isinstance(filename_or_obj, str) and filename_or_obj.startswith("pangaea://"):
                return True
            if isinstance(filename_or_obj, (str, os.PathLike)):
                path = os.fspath(filename_or_obj)
                if not isinstance(path, str) or not os.path.isfile(path):
                    return False
                with open(path, "rb") as handle:
                    start = handle.read(len(_BOM) + len(HEADER))
            elif hasattr(filename_or_obj, "read") and hasattr(filename_or_obj, "seek"):
                position = filename_or_obj.tell()
                start = filename_or_obj.read(len(_BOM) + len(HEADER))
                filename_or_obj.seek(position)
            else:
                return False
            return isinstance(start, bytes) and start.removeprefix(_BOM).startswith(HEADER)
        except (OSError, ValueError):
            return False


def _is_remote(target: str) -> bool:
    return target.startswith("pangaea://") or bool(_DOI_URL.match(target))


def _describe(target: Any) -> str:
    if isinstance(target, (str, bytes)):
        return repr(target)
    return repr(getattr(target, "name", None) or type(target).__name__)


def _invalid(message: str) -> NoReturn:
    from ...errors import InvalidDataError

    raise InvalidDataError(message)


def _open_remote(
    target: str, options: dict[str, Any], storage_options: dict[str, Any], on_mismatch: str
) -> xr.Dataset:
    from ...errors import InvalidDataError
    from .model import dataset_id
    from .source import PangaeaSource

    both = sorted(set(options) & set(storage_options))
    if both:
        _invalid(
            f"opening {target!r}: {', '.join(both)} given both as a keyword and in "
            "storage_options; give each once"
        )
    if target.startswith("pangaea://"):
        path = PangaeaSource._strip_protocol(target)
        head, _, rest = path.partition("/")
        if rest not in ("", "data.tab"):
            _invalid(
                f"{target!r}: the pangaea engine opens a dataset's table; pass "
                f"'pangaea://{head}' (or 'pangaea://{head}/data.tab'), and read "
                "metadata.xml, citation.txt or linked files with fsspec.open"
            )
        try:
            ident = dataset_id(head)
        except InvalidDataError:
            _invalid(
                f"{target!r} names no PANGAEA dataset: write pangaea://<id> or "
                "pangaea://10.1594/PANGAEA.<id>, e.g. 'pangaea://889513'"
            )
    else:
        ident = dataset_id(target)
    source = PangaeaSource(**{**storage_options, **options})
    return source.to_xarray(ident, on_mismatch=on_mismatch)


def _open_local(target: Any, on_mismatch: str) -> xr.Dataset:
    from ...errors import NotFoundError
    from ._xarray import frame_to_xarray
    from .text import read_text

    if isinstance(target, str) and not os.path.isfile(target):
        doi = _PANGAEA_DOI.search(target)
        if doi:
            raise NotFoundError(
                f"{target!r} is not a file: xarray reads a DOI without a URL scheme as a path; "
                f"write 'pangaea://{doi.group(1)}' (or 'https://doi.org/{doi.group(0)}')"
            )
        raise NotFoundError(
            f"{target!r} does not exist: the pangaea engine opens a PANGAEA text export "
            "(.tab) on disk, or a dataset as 'pangaea://<id>'"
        )
    if not isinstance(target, (str, bytes, bytearray, memoryview)) and not hasattr(target, "read"):
        _invalid(
            f"the pangaea engine cannot open {type(target).__name__} objects: give a path, "
            "a binary file object of a PANGAEA text export, or a 'pangaea://<id>' URL"
        )
    return frame_to_xarray(read_text(target, on_mismatch=on_mismatch))  # type: ignore[arg-type]


def _drop(dataset: xr.Dataset, drop_variables: str | Iterable[str] | None) -> xr.Dataset:
    """Leave out variables named by Dataset name or PANGAEA short name; fix the links to them."""
    if drop_variables is None:
        return dataset
    wanted = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables)
    names = [
        name
        for name, variable in dataset.variables.items()
        if name in wanted or variable.attrs.get("pangaea_short_name") in wanted
    ]
    dataset = dataset.drop_vars(names)
    for variable in dataset.variables.values():
        linked = variable.attrs.get("ancillary_variables")
        if linked:
            kept = [name for name in linked.split() if name not in names]
            if kept:
                variable.attrs["ancillary_variables"] = " ".join(kept)
            else:
                del variable.attrs["ancillary_variables"]
    return dataset
