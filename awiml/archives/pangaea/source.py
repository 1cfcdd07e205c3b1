"""PANGAEA as an fsspec filesystem, plus search, metadata and typed reading.

:class:`PangaeaSource` talks to PANGAEA's public web services
(:data:`DEFAULT_ENDPOINTS`): the DOI URL by content negotiation for the table
(``text/tab-separated-values``; ``?format=textfile`` for downloads), the panmd
record and the citation; ``download.pangaea.de`` for linked files; ``search.php``
and PANGAEA's Elasticsearch index for search. What awiml assumes about these
services (status codes, tokens, rate limits, tape recalls) is listed in the
user guide (docs/guide/pangaea.md, "What awiml assumes about PANGAEA").
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fsspec.implementations.memory import MemoryFile

from ...errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    InvalidDataError,
    NotFoundError,
    redact_url,
)
from ..base import DEFAULT_TIMEOUT, ArchiveFileSystem, RemoteFile, http_session, netrc_credentials
from ..cache import ArchiveCache, default_cache_dir
from ..http import CredentialsAround, unreachable_as_unavailable
from ._search import search as _search
from .model import DatasetMetadata, Parameter, dataset_id, normalize_doi
from .panmd import MEDIA_TYPE as PANMD
from .panmd import parse_panmd
from .text import events_frame, read_text

if TYPE_CHECKING:
    import pandas as pd
    import requests
    import xarray as xr

__all__ = ["DEFAULT_ENDPOINTS", "PangaeaSource", "read_text"]

logger = logging.getLogger(__name__)

#: PANGAEA's public services. ``PangaeaSource(base_url=...)`` or the
#: ``AWIML_PANGAEA_URL`` environment variable put all four on one other server
#: (e.g. the loopback emulator :class:`awiml.testing.PangaeaServer`).
DEFAULT_ENDPOINTS: Mapping[str, str] = {
    "doi": "https://doi.pangaea.de",
    "download": "https://download.pangaea.de",
    "search": "https://www.pangaea.de/advanced/search.php",
    "es": "https://ws.pangaea.de/es/pangaea/panmd/_search",
}

TSV = "text/tab-separated-values"
BIBLIOGRAPHY = "text/x-bibliography"
TOKEN_PAGE = "https://www.pangaea.de/user/"

#: The files each dataset folder offers through fsspec.
DATASET_FILES = ("data.tab", "metadata.xml", "citation.txt")


def endpoints_for(base_url: str | None) -> dict[str, str]:
    """Return the four service URLs, all below ``base_url`` when given.

    Parameters
    ----------
    base_url : str or None
        One server that serves PANGAEA's paths (an emulator or a proxy), or
        ``None`` for PANGAEA itself.

    Returns
    -------
    dict of str to str
        Keys ``doi``, ``download``, ``search`` and ``es``.

    Examples
    --------
    >>> endpoints_for("http://127.0.0.1:8000")["search"]
    'http://127.0.0.1:8000/advanced/search.php'
    """
    if not base_url:
        return dict(DEFAULT_ENDPOINTS)
    base = base_url.rstrip("/")
    return {key: base + urlsplit(url).path for key, url in DEFAULT_ENDPOINTS.items()}


class PangaeaSource(ArchiveFileSystem):
    """PANGAEA datasets as a read-only filesystem, with search and typed reading.

    Parameters
    ----------
    token : str, optional
        PANGAEA bearer token for restricted datasets. Without it, the
        ``PANGAEA_TOKEN`` environment variable, then the password of the
        ``pangaea.de`` entry in ``~/.netrc``. Get yours from your account page
        at https://www.pangaea.de/user/. It is only sent to PANGAEA's own
        hosts and never logged, recorded or shown in errors.
    cache : bool or path-like, optional
        Where to keep downloaded tables and metadata as plain files, keyed by
        dataset and version: ``True`` for awiml's user cache folder
        (``$AWIML_CACHE_DIR`` or the platform's), a folder (e.g. inside a
        workspace), or ``False`` for none. With a cache, datasets read before
        can be read again while PANGAEA cannot be reached.
    base_url : str, optional
        Serve all four services from one other server, e.g. the loopback
        emulator. Defaults to ``$AWIML_PANGAEA_URL``, else PANGAEA itself.
    timeout : tuple of float, optional
        Connect and read timeouts in seconds.
    retries : int, optional
        Retries of failed requests (429 and 5xx honour ``Retry-After``).
    **storage_options
        Passed to :class:`fsspec.spec.AbstractFileSystem`.

    Notes
    -----
    Paths name datasets by id or DOI, with the protocol or without:

    - ``pangaea://889513`` (or ``pangaea://10.1594/PANGAEA.889513``): the
      dataset folder; for a collection, its children are sub-folders;
    - ``pangaea://889513/data.tab``: the tab-delimited text export;
    - ``pangaea://889513/metadata.xml``: the panmd record;
    - ``pangaea://889513/citation.txt``: the citation;
    - ``pangaea://611408/files/<name>``: a linked binary file.

    ``Workspace.fetch`` copies what :meth:`remote_files` lists.

    Examples
    --------
    Against the loopback emulator that ships with awiml:

    >>> from awiml.testing import PangaeaServer
    >>> with PangaeaServer() as server:
    ...     _ = server.add_sample_data()
    ...     source = PangaeaSource(base_url=server.base_url, cache=False)
    ...     table = source.read("10.1594/PANGAEA.889513")
    >>> table.attrs["columns"]["Temp"]["unit"]
    '°C'
    """

    protocol = "pangaea"
    root_marker = ""
    # A new source when PANGAEA_TOKEN or ~/.netrc change, not the cached one's old token.
    _credentials_around = CredentialsAround("PANGAEA_TOKEN", "AWIML_PANGAEA_URL")
    _extra_tokenize_attributes = ("_credentials_around",)

    def __init__(
        self,
        token: str | None = None,
        *,
        cache: bool | str | os.PathLike[str] = True,
        base_url: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 5,
        **storage_options: Any,
    ) -> None:
        super().__init__(timeout=timeout, retries=retries, **storage_options)
        self.endpoints = endpoints_for(base_url or os.environ.get("AWIML_PANGAEA_URL"))
        netrc = map(netrc_credentials, ("pangaea.de", "www.pangaea.de", "doi.pangaea.de"))
        self._token = token or os.environ.get("PANGAEA_TOKEN") or next(
            (entry[1] for entry in netrc if entry and entry[1]), None
        )
        self._session = http_session(retries=retries, timeout=timeout)
        folder = default_cache_dir() if cache is True else cache
        self._cache: ArchiveCache | None = ArchiveCache(folder, "pangaea") if folder else None
        self._own_hosts = {urlsplit(url).netloc for url in self.endpoints.values()}
        self._metadata_memo: dict[int, tuple[DatasetMetadata, str, bool, bytes]] = {}
        self._memo_lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.endpoints["doi"]
        return f"PangaeaSource(base_url={where!r}, token={'set' if self._token else 'none'})"

    # -- HTTP ------------------------------------------------------------------------------

    def _is_own(self, url: str) -> bool:
        host = urlsplit(url).netloc
        return host in self._own_hosts or host == "pangaea.de" or host.endswith(".pangaea.de")

    def _headers(self, url: str, accept: str | None) -> dict[str, str]:
        headers = {"Accept": accept} if accept else {}
        if self._token and self._is_own(url):
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _get(
        self,
        url: str,
        *,
        accept: str | None = None,
        params: Mapping[str, Any] | None = None,
        what: str,
        stream: bool = False,
    ) -> requests.Response:
        """GET with the shared session; turn failures into errors that say what to do."""
        with unreachable_as_unavailable(
            f"PANGAEA ({redact_url(url)})", what,
            "Check your network; cached datasets are still served.",
        ):
            response = self._session.get(
                url,
                headers=self._headers(url, accept),
                params=params,
                stream=stream,
                timeout=self.timeout,
            )
        status = response.status_code
        if status < 400 or status == 406:  # 406: no table, which the caller explains
            return response
        response.close()
        if status in (401, 403) and self._token:
            raise AuthenticationError(
                f"PANGAEA refused the token for {what} ({status}). It may have expired or "
                f"not grant access to this dataset: copy a fresh one from {TOKEN_PAGE}."
            )
        if status in (401, 403):
            raise AuthenticationError(
                f"{what} is restricted: PANGAEA needs a token ({status}). Copy yours from "
                f"{TOKEN_PAGE} and pass PangaeaSource(token=...), set PANGAEA_TOKEN, or put it "
                "as the password of 'machine pangaea.de' in ~/.netrc."
            )
        if status in (404, 410):
            raise NotFoundError(f"{what} does not exist at PANGAEA ({status}); check the DOI or id")
        if status == 429 or status >= 500:
            hint = " PANGAEA may be recalling the data from tape." if status == 503 else ""
            raise ArchiveUnavailableError(
                f"PANGAEA answered {status} for {what} after {self.retries} retries.{hint} "
                "Try again later."
            )
        raise InvalidDataError(
            f"PANGAEA refused the request for {what} ({status} {response.reason}); "
            "check the identifier and arguments."
        )

    # -- metadata --------------------------------------------------------------------------

    def _dataset_url(self, ident: int) -> str:
        return f"{self.endpoints['doi']}/{normalize_doi(ident)}"

    def _ask(self, ident: int, accept: str, what: str | None = None) -> requests.Response:
        """GET the dataset's DOI URL as ``accept`` (content negotiation)."""
        what = what or f"dataset doi:{normalize_doi(ident)}"
        return self._get(self._dataset_url(ident), accept=accept, what=what)

    def _metadata_and_version(self, ident: int) -> tuple[DatasetMetadata, str, bool, bytes]:
        """Return (metadata, version stamp, online?, panmd record), cached ones when offline."""
        with self._memo_lock:
            if ident in self._metadata_memo:
                return self._metadata_memo[ident]
        try:
            with self._ask(ident, PANMD) as response:
                xml = response.content
        except ArchiveUnavailableError:
            cache = self._cache
            cached = cache.latest(str(ident), "metadata.xml") if cache is not None else None
            if cache is None or cached is None:
                raise
            logger.warning(
                "PANGAEA unreachable; using the cached metadata of dataset doi:%s from %s",
                normalize_doi(ident),
                cached.parent,
            )
            xml = cache.read(cached)
            found = (parse_panmd(xml), cached.parent.name, False, xml)
        else:
            meta = parse_panmd(xml)
            version = (
                meta.last_modified
                or response.headers.get("Last-Modified")
                or ("sha256-" + hashlib.sha256(xml).hexdigest()[:16])
            )
            if self._cache is not None:  # once per version: a read-only cache still serves
                self._cache.put(str(ident), version, "metadata.xml", xml, replace=False)
            found = (meta, version, True, xml)
        with self._memo_lock:  # remembered, so one read does not wait twice
            self._metadata_memo[ident] = found
        return found

    def metadata(self, doi: str | int) -> DatasetMetadata:
        """Return the metadata of a dataset, from its panmd record.

        Parameters
        ----------
        doi : str or int
            Any identifier form (see :func:`~awiml.archives.pangaea.model.dataset_id`).

        Returns
        -------
        DatasetMetadata
            Title, citation, licence, parameters, events, restriction, children...
        """
        return self._metadata_and_version(dataset_id(doi))[0]

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget metadata remembered in memory (the file cache keeps its versions).

        Parameters
        ----------
        path : str, optional
            Ignored; all remembered metadata is dropped.
        """
        with self._memo_lock:
            self._metadata_memo.clear()
        super().invalidate_cache(path)

    def children(self, doi: str | int) -> list[str]:
        """Return the DOIs of the datasets in a collection (empty for a plain dataset).

        Parameters
        ----------
        doi : str or int
            The collection.

        Returns
        -------
        list of str
            Canonical DOIs of the children.
        """
        return list(self.metadata(doi).children)

    def citation(self, doi: str | int) -> str:
        """Return the citation of a dataset as PANGAEA formats it.

        Parameters
        ----------
        doi : str or int
            The dataset to cite.

        Returns
        -------
        str
            The citation text.
        """
        ident = dataset_id(doi)
        what = f"the citation of doi:{normalize_doi(ident)}"
        with self._ask(ident, BIBLIOGRAPHY, what) as response:
            return response.text.strip()

    # -- data ------------------------------------------------------------------------------

    def _table_name(self, meta: DatasetMetadata) -> str | None:
        """Return the cache's file name for a dataset's table, ``None`` for no caching.

        A public table is ``data.tab``, shared by every source of the cache. A
        restricted one is kept per token, under a digest of the token (never
        the token itself), so only a source with the token that downloaded it
        gets it back; without a token it is not cached at all.
        """
        if not meta.restricted:
            return "data.tab"
        if not self._token:
            return None
        key = f"awiml pangaea table cache\n{self._token}"
        return f"data.{hashlib.sha256(key.encode()).hexdigest()[:32]}.tab"

    def _text(self, ident: int) -> bytes:
        """Return the tab-delimited export, from the cache when this version is there."""
        meta, version, online, _xml = self._metadata_and_version(ident)
        doi = normalize_doi(ident)
        if meta.is_collection:
            raise InvalidDataError(
                f"doi:{doi} is a collection of {len(meta.children)} datasets and has no table "
                "of its own; read its children (PangaeaSource.children) or read() it to get "
                "one table per child."
            )
        name = self._table_name(meta)
        cache = self._cache if name is not None else None
        if cache is not None and name is not None:
            cached = cache.get(str(ident), version, name)
            if cached is None and not online:
                cached = cache.latest(str(ident), name)
            if cached is not None:
                return cache.read(cached)
        if not online:
            restricted = (
                " for this token (restricted data are cached per token)" if meta.restricted
                else ""
            )
            raise ArchiveUnavailableError(
                f"PANGAEA cannot be reached and the table of doi:{doi} is not cached"
                f"{restricted}; read it once while online."
            )
        with self._ask(ident, TSV) as response:
            if response.status_code == 406:
                raise InvalidDataError(
                    f"doi:{doi} has no data table (PANGAEA answered 406): it holds metadata "
                    "or binary files only. List them with PangaeaSource.files()."
                )
            data = response.content
        if cache is not None and name is not None:
            cache.put(str(ident), version, name, data)
        return data

    def read(
        self, doi: str | int, *, on_mismatch: str = "raise"
    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """Read a dataset's table into a typed DataFrame.

        Parameters
        ----------
        doi : str or int
            The dataset (any identifier form).
        on_mismatch : {"raise", "warn"}, optional
            What to do when the table's header disagrees with the metadata
            (see :func:`read_text`).

        Returns
        -------
        pandas.DataFrame or dict of str to pandas.DataFrame
            Columns named by PANGAEA's short names, dates as UTC timestamps,
            quality flags in ``<column>_flag`` columns, per-column metadata in
            ``df.attrs["columns"]`` and dataset metadata in
            ``df.attrs["pangaea"]``. For a collection, a dict from each
            child's DOI to its table.

        Raises
        ------
        AuthenticationError
            The dataset is restricted and no valid token was given.
        InvalidDataError
            The dataset has no table, or its table is malformed (the message
            names the line).
        NotFoundError
            No such dataset.
        """
        ident = dataset_id(doi)
        meta = self.metadata(ident)
        if meta.is_collection:
            return {child: self.read(child, on_mismatch=on_mismatch) for child in meta.children}
        buffer = io.BytesIO(self._text(ident))
        buffer.name = f"doi:{normalize_doi(ident)}"  # named in parse errors and warnings
        return read_text(buffer, metadata=meta, on_mismatch=on_mismatch)

    def events(self, doi: str | int) -> pd.DataFrame:
        """Return a dataset's events (stations, casts, tracks) as a table.

        Parameters
        ----------
        doi : str or int
            The dataset whose events to list.

        Returns
        -------
        pandas.DataFrame
            One row per event.
        """
        return events_frame(self.metadata(doi))

    def to_xarray(self, doi: str | int, *, on_mismatch: str = "raise") -> xr.Dataset:
        """Read a dataset into a CF-1.10 :class:`xarray.Dataset`.

        ``xarray.open_dataset("pangaea://<id>", engine="pangaea")`` gives the
        same Dataset, and so does a PANGAEA text export on disk with
        ``engine="pangaea"``.

        Parameters
        ----------
        doi : str or int
            The dataset.
        on_mismatch : {"raise", "warn"}, optional
            As for :meth:`read`.

        Returns
        -------
        xarray.Dataset
            One variable per column along the dimension ``obs``, named by the
            short name made netCDF-safe (``Date/Time`` as ``Date_Time``).

            *Coordinates.* ``Date/Time`` (``standard_name`` ``time``, axis
            ``T``; times in UTC, written to netCDF as ``seconds since
            1970-01-01``), ``Latitude`` and ``Longitude`` (``latitude``,
            ``longitude``, axes ``Y`` and ``X``, ``degrees_north`` and
            ``degrees_east``) and the vertical geocode (``Depth water``:
            ``depth``, ``positive: down``; ``Depth sed`` and ``Depth
            ice/snow``: ``positive: down``; ``Elevation`` and ``Altitude``:
            ``altitude``, ``positive: up``; the first one has axis ``Z``).
            A table without position or time columns gets them from its one
            event in the metadata, as scalar coordinates.

            *featureType*, from which geocodes vary over the rows: no
            latitude or longitude, none; several events in an event column,
            ``point``; a position that varies, ``trajectory`` if the time
            varies too, else ``point``; a fixed position with varying depth
            and a fixed (or no) time, ``profile``; with varying time and a
            fixed (or no) depth, ``timeSeries``; otherwise ``point``. A
            profile's position and time and a time series' position and
            depth become scalar coordinates, and a scalar coordinate
            ``trajectory``, ``profile`` or ``station`` with ``cf_role`` names
            the feature (the event label, else the DOI).

            *Variables* carry ``pangaea_short_name``, ``long_name``,
            ``pangaea_unit`` (the unit as PANGAEA writes it) and, where given,
            ``comment``, ``method`` and ``pi``. ``units`` is the UDUNITS
            spelling where PANGAEA's unit maps cleanly (``°C`` as ``degC``);
            where it does not (``‰ PDB``), ``units`` is left out and only
            ``pangaea_unit`` says it. A quality-flag column ``<name>_flag``
            holds codes (0 no flag, 1-6 ``? / * # < >``) with
            ``flag_values`` and ``flag_meanings``, named in its column's
            ``ancillary_variables``.

            *Global attributes*: ``title``, ``references`` (the DOI URL),
            ``citation``, ``license``, ``source``, ``Conventions``
            (``CF-1.10``) and ``featureType``.

        Raises
        ------
        InvalidDataError
            The dataset is a collection (call ``to_xarray`` on each child) or
            its table is malformed.
        """
        from ._xarray import frame_to_xarray

        meta = self.metadata(doi)
        if meta.is_collection:  # said before any child's table is downloaded
            raise InvalidDataError(
                f"doi:{normalize_doi(doi)} is a collection; call to_xarray on each child "
                f"({', '.join(meta.children)})."
            )
        table = self.read(doi, on_mismatch=on_mismatch)
        assert not isinstance(table, dict)  # not a collection: one table
        return frame_to_xarray(table)

    def files(self, doi: str | int) -> pd.DataFrame:
        """List the binary files linked from a dataset's table.

        Parameters
        ----------
        doi : str or int
            A dataset whose table has a URL column (type ``uri``, e.g. ``URL file``).

        Returns
        -------
        pandas.DataFrame
            Columns ``name``, ``url``, ``size`` (approximate bytes: PANGAEA lists
            sizes rounded, e.g. in kByte, so fetching never checks against them),
            ``format`` and ``path`` (the ``pangaea://<id>/files/<name>`` path that
            ``Workspace.fetch`` and ``fsspec.open`` take). Empty when the dataset
            links no files.
        """
        import pandas as pd

        ident = dataset_id(doi)
        meta = self.metadata(ident)
        columns = ["name", "url", "size", "format", "path"]
        url_params = _url_parameters(meta)
        if not url_params or meta.is_collection:
            return pd.DataFrame(columns=columns)
        table = self.read(ident, on_mismatch="warn")
        wanted = url_params[0].short_name
        lowered = {c.lower(): c for c in table.columns}
        url_column = wanted if wanted in table.columns else lowered.get(wanted.lower())
        if url_column is None:
            raise InvalidDataError(f"the table has no column {wanted!r} (columns: {list(table)})")
        name_column = next((c for c in table.columns if c.lower() in ("file name", "file")), None)
        size_column = next((c for c in table.columns if c.lower().startswith("file size")), None)
        format_column = next((c for c in table.columns if c.lower() == "file format"), None)
        unit = table.attrs["columns"].get(size_column, {}).get("unit") or ""
        factor = {"kByte": 1024, "kB": 1000, "MByte": 1024**2, "Byte": 1}.get(unit, 1)
        rows = []
        for _, row in table.iterrows():
            url = row[url_column]
            if not isinstance(url, str) or not url:
                continue
            name = str(row[name_column]) if name_column else url.rstrip("/").rsplit("/", 1)[-1]
            size = None
            if size_column is not None and row[size_column] == row[size_column]:
                size = round(float(row[size_column]) * factor)
            file_format = row[format_column] if format_column else None
            rows.append((name, url, size, file_format, f"pangaea://{ident}/files/{name}"))
        return pd.DataFrame(rows, columns=columns)

    search = _search

    def to_pandataset(self, doi: str | int) -> Any:
        """Return a :class:`pangaeapy.PanDataSet` for a dataset, loaded through this source.

        For the time of the call, pangaeapy's requests to PANGAEA's fixed URLs
        go through this source's endpoints, session and token (so it works
        against the emulator, with the same retries). Its term database is kept
        in a ``pangaeapy`` folder beside awiml's archive caches.

        Parameters
        ----------
        doi : str or int
            The dataset to load.

        Returns
        -------
        pangaeapy.PanDataSet
            pangaeapy's object for the dataset.
        """
        from pangaeapy import PanDataSet

        ident = dataset_id(doi)
        cachedir = (self._cache.root.parent if self._cache else default_cache_dir()) / "pangaeapy"
        with self._route_pangaeapy():
            return PanDataSet(ident, cachedir=cachedir, auth_token=self._token)

    @contextmanager
    def _route_pangaeapy(self) -> Iterator[None]:
        import pangaeapy.pandataset as pandataset

        prefixes = {DEFAULT_ENDPOINTS[k]: self.endpoints[k] for k in ("doi", "download", "es")}
        original = pandataset.get_request

        def routed(
            url: str,
            accepted_type: str | None = None,
            auth_token: str | None = None,
            timeout: float = 10,
            num_retries: int = 1,
        ) -> Any:
            for prefix, target in prefixes.items():
                if url.startswith(prefix):
                    url = target + url[len(prefix) :]
                    break
            headers = self._headers(url, accepted_type)
            return self._session.get(url, headers=headers, timeout=(self.timeout[0], timeout))

        with _PANGAEAPY_LOCK:
            pandataset.get_request = routed
            try:
                yield
            finally:
                pandataset.get_request = original

    # -- fsspec ----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        """Strip ``pangaea://`` as fsspec does, then turn a DOI into its dataset id."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = super()._strip_protocol(str(path)).strip("/")  # str: dataset ids may be ints
        match = re.match(r"(?i)^(?:doi:)?10\.1594/PANGAEA\.(\d+)(/.*)?$", path)
        return match.group(1) + (match.group(2) or "") if match else path

    def _split(self, path: str) -> tuple[int, str]:
        path = self._strip_protocol(path)
        head, _, rest = path.partition("/")
        try:
            ident = dataset_id(head)
        except InvalidDataError:
            raise NotFoundError(
                f"pangaea://{path}: paths start with a dataset id or DOI, e.g. "
                "pangaea://889513/data.tab"
            ) from None
        return ident, rest

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """List a dataset folder (or a collection's children, or linked files).

        Parameters
        ----------
        path : str
            ``<id>``, ``<id>/files``, or a file path (listed as itself).
        detail : bool, optional
            Return info dicts (``name``, ``type``, ``size``) instead of names.
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        list
            Entries as dicts or names.
        """
        ident, rest = self._split(path)
        if rest:
            entries = self._ls_files(ident) if rest == "files" else [self._file_info(ident, rest)]
        else:
            meta = self.metadata(ident)
            if meta.is_collection:
                entries = [_folder(str(dataset_id(c))) for c in meta.children]
                entries.append(self._file_info(ident, "metadata.xml"))
            else:
                entries = [self._file_info(ident, name) for name in DATASET_FILES]
                if _url_parameters(meta):
                    entries.append(_folder(f"{ident}/files"))
        return entries if detail else [e["name"] for e in entries]

    def _ls_files(self, ident: int) -> list[dict[str, Any]]:
        """List linked files; ``size`` is PANGAEA's rounded listing, so only approximate."""
        return [
            {"name": f"{ident}/files/{row.name}", "type": "file", "size": row.size, "url": row.url}
            for row in self.files(ident).itertuples()
        ]

    def _file_info(self, ident: int, rest: str) -> dict[str, Any]:
        if rest in DATASET_FILES:
            return {"name": f"{ident}/{rest}", "type": "file", "size": None}
        if rest.startswith("files/"):
            for entry in self._ls_files(ident):
                if entry["name"] == f"{ident}/{rest}":
                    return entry
            raise NotFoundError(
                f"doi:{normalize_doi(ident)} links no file named {rest.removeprefix('files/')!r}; "
                "list them with PangaeaSource.files()"
            )
        raise NotFoundError(
            f"pangaea://{ident}/{rest} does not exist: a dataset folder holds "
            f"{', '.join(DATASET_FILES)} and files/<name>"
        )

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Describe a dataset (its metadata) or one of its files.

        Parameters
        ----------
        path : str
            A dataset id or DOI, or a file path below it.
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        dict
            fsspec's ``name``, ``type`` and ``size``; for a dataset also
            ``doi``, ``title``, ``citation``, ``license``, ``restricted``,
            ``collection``, ``children``, ``parameters`` (short name, unit)
            and ``metadata`` (the full :class:`DatasetMetadata`).
        """
        ident, rest = self._split(path)
        if rest == "files":
            return _folder(f"{ident}/files")
        if rest:
            return self._file_info(ident, rest)
        meta = self.metadata(ident)
        return {
            **_folder(str(ident)),
            "doi": meta.doi,
            "title": meta.title,
            "citation": meta.citation,
            "license": meta.license,
            "restricted": meta.restricted,
            "collection": meta.is_collection,
            "children": list(meta.children),
            "parameters": [(p.short_name, p.unit) for p in meta.parameters],
            "metadata": meta,
        }

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise PermissionError("PANGAEA is read-only: open files with mode 'rb'")
        ident, rest = self._split(path)
        entry = self._file_info(ident, rest)  # raises NotFoundError naming the valid paths
        if rest == "data.tab":
            data = self._text(ident)
        elif rest == "metadata.xml":
            data = self._metadata_and_version(ident)[3]
        elif rest == "citation.txt":
            data = (self.citation(ident) + "\n").encode()
        else:  # files/<name>: streamed instead of held in memory
            response = self._get(
                entry["url"], what=f"file {rest} of doi:{normalize_doi(ident)}", stream=True
            )
            response.raw.decode_content = True
            return response.raw
        return MemoryFile(None, path, data)

    def remote_files(self, path: str) -> list[RemoteFile]:
        """Files to copy for ``Workspace.fetch``: table and metadata, or linked files.

        ``pangaea://<id>`` gives ``pangaea/<id>/data.tab`` and
        ``pangaea/<id>/metadata.xml``; a collection gives those of each child
        below ``pangaea/<collection id>/<child id>/``; ``pangaea://<id>/files``
        gives every linked file; a single file path gives that file. Each
        entry carries the DOI, citation and licence for the manifest.

        Parameters
        ----------
        path : str
            A dataset, its ``files`` folder, or one file.

        Returns
        -------
        list of RemoteFile
            The files, each with an HTTP URL the transfer engine streams.
        """
        ident, rest = self._split(path)
        return self._remote_files(ident, rest, prefix=f"pangaea/{ident}")

    def _remote_files(self, ident: int, rest: str, *, prefix: str) -> list[RemoteFile]:
        meta = self.metadata(ident)
        if meta.is_collection and not rest:
            found = []
            for child in meta.children:
                child_id = dataset_id(child)
                found += self._remote_files(child_id, "", prefix=f"{prefix}/{child_id}")
            return found
        record = {
            "doi": meta.doi or normalize_doi(ident),
            "citation": meta.citation,
            "license": meta.license,
            "title": meta.title,
        }
        record = {k: v for k, v in record.items() if v}
        doi_url = self._dataset_url(ident)
        session = self._transfer_session(doi_url)
        requests_for = {
            "data.tab": (f"{doi_url}?format=textfile", {}),
            "metadata.xml": (doi_url, {"Accept": PANMD}),
            "citation.txt": (doi_url, {"Accept": BIBLIOGRAPHY}),
        }
        if meta.is_collection:  # a collection has no table of its own
            del requests_for["data.tab"]
        wanted = [rest] if rest else ["data.tab", "metadata.xml"]
        # (name below the dataset, URL, headers, manifest metadata, session) of each file
        plan = [(w, *requests_for[w], record, session) for w in wanted if w in requests_for]
        if rest == "files" or rest.startswith("files/"):
            listing = self._ls_files(ident) if rest == "files" else [self._file_info(ident, rest)]
            if not listing:
                raise NotFoundError(
                    f"doi:{normalize_doi(ident)} links no files; fetch pangaea://{ident} for "
                    "its table and metadata instead"
                )
            plan += [
                (
                    "files/" + entry["name"].split("/files/", 1)[1],
                    entry["url"],
                    {},
                    {**record, "listed_size": entry.get("size")},
                    self._transfer_session(entry["url"]),
                )
                for entry in listing
            ]
        files = [
            RemoteFile(
                source=f"pangaea://{ident}/{name}",
                name=f"{prefix}/{name}",
                metadata=metadata,
                url=url,
                headers=headers,
                session=session,
            )
            for name, url, headers, metadata, session in plan
        ]
        if not files:
            self._file_info(ident, rest)  # raises NotFoundError naming the valid paths
            raise NotFoundError(
                f"pangaea://{ident}/{rest}: nothing to fetch, doi:{normalize_doi(ident)} is a "
                f"collection without a table of its own; fetch pangaea://{ident} for its children"
            )
        return files

    def _transfer_session(self, url: str) -> requests.Session:
        """Make a session for the transfer engine: no adapter retries, token for own hosts."""
        token = self._token if self._is_own(url) else None
        return http_session(token=token, retries=0, timeout=self.timeout)


_PANGAEAPY_LOCK = threading.Lock()


def _folder(name: str) -> dict[str, Any]:
    return {"name": name, "type": "directory", "size": 0}


def _url_parameters(meta: DatasetMetadata) -> list[Parameter]:
    """Return the columns that link files: type ``uri``, or named URL file, URL, URL image."""
    urls = ("url file", "url", "url image")
    return [p for p in meta.parameters if p.type == "uri" or p.short_name.lower() in urls]
