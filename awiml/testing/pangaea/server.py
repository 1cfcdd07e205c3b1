"""The loopback PANGAEA server; what it answers is described in :mod:`awiml.testing.pangaea`."""

from __future__ import annotations

import dataclasses
import functools
import hmac
import html
import importlib.resources
import io
import logging
import os
import re
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ...archives.pangaea.model import DatasetMetadata, dataset_id, normalize_doi
from ...archives.pangaea.panmd import MEDIA_TYPE, compose_citation, parse_panmd, write_panmd
from ...errors import AwimlError
from .._http import (
    RefusedRequest,
    conditional_response,
    content_etag,
    guess_content_type,
    int_query_param,
    query_param,
)
from ..server import ArchiveEmulator, RequestRecord, Response

__all__ = ["PangaeaServer"]

_log = logging.getLogger("awiml.testing")

SEARCH_PATH = "/advanced/search.php"
ES_PATH = "/es/pangaea/panmd/_search"
_ES_FIELDS = ("sf-idDataSet", "sp-loginOption", "nDataPoints")
ES_REQUEST = (
    f"GET {ES_PATH}?q=sf-idDataSet:<id> sf-idDataSet:<id> ...&size=<n>"
    f"&_source={','.join(_ES_FIELDS)} (size and _source optional; _source a subset of "
    "those fields)"
)
"""The one Elasticsearch request the emulator answers: the one awiml sends."""
_ES_ID_TERM = re.compile(r"sf-idDataSet:\d+")
_TSV = "text/tab-separated-values"
_SAMPLE = "PANGAEA_889513_PS103_surf_oce_tsg.tab"
_SAMPLE_RECORDS = {
    547797: "PANGAEA_547797_child_panmd.xml",
    547942: "PANGAEA_547942_collection_parent_panmd.xml",
    611408: "PANGAEA_611408_linked_files_panmd.xml",
    893044: "PANGAEA_893044_login_required_panmd.xml",
}
"""The real panmd records in ``awiml/testing/pangaea/data/``, by dataset id."""
_FORMATS = {"textfile": "text", "zip": "zip", "citation_text": "citation", "html": "html"}
_LOGIN_NUMBERS = {"unrestricted": 1, "access rights needed": 3}
_QUERY_TOKEN = re.compile(r'([+-]?)(?:([A-Za-z_][\w.-]*):)?(?:"([^"]*)"|(\S+))')
_MOMENT = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_SEARCH_FIELDS = {
    "citation": ("citation", "title", "authors"),
    "reference": ("related",),
    "parameter": ("parameters",),
    "event": ("event",),
    "project": ("projects",),
    "campaign": ("campaign",),
    "basis": ("basis",),
    "method": ("method",),
    "device": ("method",),
    "location": ("location",),
}
_DEFAULT_FIELDS = ("title", "citation", "abstract", "keywords", "parameters")


@dataclass(frozen=True)
class _Dataset:
    """One registered dataset, replaced as a whole when it changes."""

    ident: int
    meta: DatasetMetadata
    xml: bytes
    text: bytes | None
    stamp: float
    files: Mapping[str, bytes | Path] = field(default_factory=dict)

    @property
    def restricted(self) -> bool:
        return self.meta.restricted

    @property
    def doi(self) -> str:
        return normalize_doi(self.ident)


@dataclass(frozen=True)
class _QueryTerm:
    sign: str
    field: str | None
    text: str


class PangaeaServer(ArchiveEmulator):
    r"""A loopback emulator of PANGAEA's web services, for offline tests.

    Register datasets with :meth:`add_dataset` (from a text export, a panmd
    record, or both), collections with :meth:`add_collection`, awiml's
    bundled sample with :meth:`add_sample_data`, and four real metadata
    records (a collection, its child, a dataset of linked files and a
    restricted one) with :meth:`add_sample_metadata`; then point the client at
    :attr:`endpoints`. What each route answers, and what is assumed about
    PANGAEA where its behaviour is undocumented, is listed in the module
    documentation (:mod:`awiml.testing.pangaea`). Of PANGAEA's Elasticsearch
    index it emulates only the one request awiml sends (:data:`ES_REQUEST`);
    any other request there gets ``400``.

    Parameters
    ----------
    token : str, optional
        The token that opens restricted datasets (``Authorization: Bearer
        <token>``). Without one, restricted data can never be downloaded. It
        never appears in logs or in :func:`repr`.
    range_support : bool, optional
        Whether linked files honour ``Range`` requests.
    host, port : str, int, optional
        Where to listen, as in :class:`FileServer`.

    Attributes
    ----------
    max_search_count : int
        Largest ``count`` ``search.php`` answers; larger values are capped.

    See Also
    --------
    awiml.archives.pangaea.panmd.write_panmd : Writes the metadata served for text-only datasets.

    Examples
    --------
    >>> import requests
    >>> from pathlib import Path
    >>> with PangaeaServer() as pangaea:
    ...     meta = pangaea.add_sample_data()
    ...     record = requests.get(
    ...         pangaea.base_url + "/10.1594/PANGAEA.889513",
    ...         headers={"Accept": "application/vnd.pangaea.metadata+xml"},
    ...         timeout=5,
    ...     )
    ...     table = requests.get(
    ...         pangaea.base_url + "/10.1594/PANGAEA.889513?format=textfile", timeout=5
    ...     )
    >>> record.headers["Content-Type"]
    'application/vnd.pangaea.metadata+xml;charset=UTF-8'
    >>> table.headers["Content-Type"], table.content.count(b"\n")
    ('text/tab-separated-values;charset=UTF-8', 4502)
    """

    max_search_count: int = 500

    def __init__(
        self,
        *,
        token: str | None = None,
        range_support: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(range_support=range_support, host=host, port=port)
        if token is not None and (not isinstance(token, str) or not token):
            raise TypeError("token must be a non-empty str or None")
        self._pg_token = token
        self._pg_datasets: dict[int, _Dataset] = {}
        self._pg_collections: dict[int, tuple[str, ...]] = {}
        self._pg_lock = threading.Lock()
        self.route("GET", SEARCH_PATH, self._pg_search)
        self.route("GET", ES_PATH, self._pg_es)
        self.route("POST", ES_PATH, self._pg_es)

    def __repr__(self) -> str:
        state = super().base_url if self.running else "stopped"
        return f"<PangaeaServer {state}, {len(self._pg_datasets)} datasets>"

    # -- registration --------------------------------------------------------------------- #

    @property
    def token(self) -> str | None:
        """The token that opens restricted datasets; settable."""
        return self._pg_token

    @token.setter
    def token(self, value: str | None) -> None:
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError("token must be a non-empty str or None")
        self._pg_token = value

    @property
    def endpoints(self) -> dict[str, str]:
        """Base URLs of PANGAEA's services on this server, for a client's configuration.

        Keys: ``"doi"`` (stands for ``https://doi.pangaea.de``), ``"download"``
        (``https://download.pangaea.de``), ``"search"`` (the full URL of
        ``search.php``) and ``"es"`` (the full URL of the Elasticsearch
        ``_search``).
        """
        base = self.base_url
        return {"doi": base, "download": base, "search": base + SEARCH_PATH, "es": base + ES_PATH}

    @property
    def datasets(self) -> tuple[int, ...]:
        """Ids of the registered datasets and collections, ascending."""
        with self._pg_lock:
            return tuple(sorted(self._pg_datasets))

    def metadata(self, dataset: str | int) -> DatasetMetadata:
        """Return the metadata the server serves for a dataset.

        Parameters
        ----------
        dataset : str or int
            Any identifier form of :func:`~awiml.archives.pangaea.model.dataset_id`.

        Returns
        -------
        DatasetMetadata
            What its panmd record says.

        Raises
        ------
        KeyError
            If the dataset is not registered.
        """
        ident = dataset_id(dataset)
        with self._pg_lock:
            entry = self._pg_datasets.get(ident)
        if entry is None:
            raise KeyError(f"dataset {ident} is not registered with this PangaeaServer")
        return entry.meta

    def add_dataset(
        self,
        dataset: str | int,
        *,
        text: bytes | os.PathLike[str] | None = None,
        xml: bytes | os.PathLike[str] | None = None,
        restricted: bool | None = None,
        files: Mapping[str, bytes | os.PathLike[str]] | None = None,
        last_modified: str | datetime | None = None,
    ) -> DatasetMetadata:
        """Register a dataset (or replace one registered before).

        Parameters
        ----------
        dataset : str or int
            The dataset's id or DOI.
        text : bytes or os.PathLike, optional
            The tab-delimited text export, served as stored. Without ``xml``,
            the metadata is read from its header with
            :func:`awiml.archives.pangaea.text.read_metadata` and served as a
            panmd record written by
            :func:`~awiml.archives.pangaea.panmd.write_panmd`; its DOI is set
            to ``dataset`` (so one file can stand for many datasets), and
            ``status``, ``mimeType`` and ``loginOption`` entries are added
            as PANGAEA's records have them.
        xml : bytes or os.PathLike, optional
            The panmd record, served as stored unless the server must change
            it (``restricted`` or ``last_modified`` disagree with it, it has
            no ``lastModified``/``xmlLastModified`` stamp, or a collection
            adopts it as child); then the record is rewritten with
            ``write_panmd``. Without ``text`` the dataset has no table: its
            text answers ``406``.
        restricted : bool, optional
            Whether the data need the token. By default the metadata's login
            option decides. When it contradicts the metadata, the metadata is
            changed (``loginOption`` "access rights needed" or
            "unrestricted") and the record rewritten with ``write_panmd``.
        files : mapping of str to bytes or os.PathLike, optional
            Linked files, served at ``/dataset/<id>/files/<name>``.
        last_modified : str or datetime.datetime, optional
            The dataset's stamp (ISO 8601, UTC if no zone is given), served
            as ``Last-Modified`` and recorded as the metadata's
            ``last_modified``. By default the record's own stamp, else the
            registration time (strictly later than a previous registration
            of the same id, so clients see the change).

        Returns
        -------
        DatasetMetadata
            The metadata the server now serves for the dataset.

        Raises
        ------
        ValueError
            If neither ``text`` nor ``xml`` is given, if ``xml`` belongs to
            another DOI, or if a file name contains ``/``.
        InvalidDataError
            If ``xml`` or the text header cannot be parsed.
        """
        ident = dataset_id(dataset)
        if text is None and xml is None:
            raise ValueError("add_dataset needs text=, xml= or both")
        text_bytes = None if text is None else _read_bytes(text, "text")
        if xml is not None:
            record = _read_bytes(xml, "xml")
            meta = parse_panmd(record)
            if meta.doi is not None and meta.doi != normalize_doi(ident):
                raise ValueError(f"the panmd record given for dataset {ident} describes {meta.doi}")
        else:
            assert text_bytes is not None
            record = None
            meta = _metadata_from_text(text_bytes, ident)
        checked_files = _check_files(files)
        return self._pg_store(
            ident, meta, record, text_bytes, restricted, checked_files, last_modified
        )

    def add_collection(
        self,
        dataset: str | int,
        children: Iterable[str | int] | None = None,
        *,
        xml: bytes | os.PathLike[str] | None = None,
        title: str | None = None,
        restricted: bool | None = None,
        last_modified: str | datetime | None = None,
    ) -> DatasetMetadata:
        """Register a collection: a parent dataset without a table of its own.

        Registered children whose metadata names no parent get this
        collection as parent (their record is rewritten), and so do children
        registered later.

        Parameters
        ----------
        dataset : str or int
            The collection's id or DOI.
        children : iterable of str or int, optional
            The children's ids or DOIs, in order. Required without ``xml``;
            with ``xml`` it must agree with the record's ``collectionChilds``.
        xml : bytes or os.PathLike, optional
            The collection's panmd record. Without it a record is written:
            ``title`` (default ``"Collection of <n> datasets"``), size
            ``"<n> datasets"`` and the technicalInfo entries ``collectionType``
            ("collection"), ``hierarchyLevel`` ("parent"), ``mimeType``
            ("application/zip"), ``status`` and ``loginOption``.
        title : str, optional
            Title of a generated record.
        restricted : bool, optional
            Whether the children's data in the collection's zip need the
            token; by default the metadata decides.
        last_modified : str or datetime.datetime, optional
            As for :meth:`add_dataset`.

        Returns
        -------
        DatasetMetadata
            The metadata the server now serves for the collection.

        Raises
        ------
        ValueError
            If there are no children, or ``children`` disagrees with ``xml``.
        """
        ident = dataset_id(dataset)
        wanted = None if children is None else tuple(normalize_doi(c) for c in children)
        if xml is not None:
            record = _read_bytes(xml, "xml")
            meta = parse_panmd(record)
            if meta.doi is not None and meta.doi != normalize_doi(ident):
                raise ValueError(
                    f"the panmd record given for collection {ident} describes {meta.doi}"
                )
            if wanted is not None and wanted != meta.children:
                raise ValueError(
                    f"children {list(wanted)} disagree with the record's collectionChilds "
                    f"{list(meta.children)}"
                )
            if not meta.children:
                raise ValueError(f"the panmd record of {ident} lists no collectionChilds")
        else:
            if not wanted:
                raise ValueError("a collection needs at least one child")
            record = None
            doi = normalize_doi(ident)
            title = title or f"Collection of {len(wanted)} datasets"
            meta = DatasetMetadata(
                doi=doi,
                title=title,
                citation=compose_citation((), None, title, None, doi),
                children=wanted,
                size=f"{len(wanted)} datasets",
                login_option="unrestricted",
                extra={
                    "mimeType": "application/zip",
                    "status": "published",
                    "hierarchyLevel": "parent",
                    "collectionType": "collection",
                },
            )
        result = self._pg_store(ident, meta, record, None, restricted, {}, last_modified)
        with self._pg_lock:
            self._pg_collections[ident] = result.children
            orphans = [
                entry
                for entry in self._pg_datasets.values()
                if entry.meta.doi in result.children and entry.meta.parent is None
            ]
        for entry in orphans:
            self._pg_adopt(entry, result.doi)
        return result

    def add_sample_data(self) -> DatasetMetadata:
        """Register the real PANGAEA dataset bundled with awiml.

        It is doi:10.1594/PANGAEA.889513, the Polarstern PS103 thermosalinograph
        track (CC-BY-3.0; cite Boebel and Rohardt, 2018), from ``awiml/data/``.

        Returns
        -------
        DatasetMetadata
            Its metadata, read from the text header.
        """
        data = importlib.resources.files("awiml").joinpath("data", _SAMPLE).read_bytes()
        return self.add_dataset(889513, text=data)

    def add_sample_metadata(self) -> dict[int, DatasetMetadata]:
        """Register four real PANGAEA metadata records bundled with awiml, without data.

        They are PANGAEA's panmd records, as PANGAEA served them, of datasets
        whose shapes the sample table lacks (see ``awiml/testing/pangaea/data/README.md``
        for their sources; cite their DOIs):

        * doi:10.1594/PANGAEA.547942, a collection (Pälike et al., 2006, ODP Site
          199-1218) of three datasets: 547797, 547799 and 771930;
        * doi:10.1594/PANGAEA.547797, the first of them, an age model with 31115
          data points (CC-BY-3.0);
        * doi:10.1594/PANGAEA.611408, "Documentation of IPY Seamount" (Grobe et
          al., 2007, CC-BY-3.0), a dataset of linked files (columns ``File
          name``, ``File format``, ``File size [kByte]``, ``URL file``);
        * doi:10.1594/PANGAEA.893044, a restricted dataset (Pälike et al.,
          2018, IODP Site 342-U1408; ``loginOption`` "access rights needed").

        Only the records are bundled, not the tables, the files, nor the
        records of 547799 and 771930. So metadata, citation, landing page,
        search and Elasticsearch answer for the four as PANGAEA does; asking
        for a table answers ``406``, and for 547799 or 771930 ``404``. Register
        tables or files of your own under these ids with :meth:`add_dataset`
        (``xml=`` the record, ``text=`` your table).

        Returns
        -------
        dict of int to DatasetMetadata
            The metadata the server now serves, by dataset id.

        Examples
        --------
        >>> from awiml.testing import PangaeaServer
        >>> with PangaeaServer() as pangaea:
        ...     records = pangaea.add_sample_metadata()
        >>> sorted(records)
        [547797, 547942, 611408, 893044]
        >>> records[547942].children[0], records[547797].parent
        ('10.1594/PANGAEA.547797', '10.1594/PANGAEA.547942')
        >>> records[893044].restricted, [p.short_name for p in records[611408].parameters][-1]
        (True, 'URL file')
        """
        folder = importlib.resources.files("awiml.testing.pangaea").joinpath("data")
        records = {ident: folder.joinpath(name).read_bytes()
                   for ident, name in _SAMPLE_RECORDS.items()}
        registered = {}
        for ident, record in records.items():
            if ident == 547942:
                registered[ident] = self.add_collection(ident, xml=record)
            else:
                registered[ident] = self.add_dataset(ident, xml=record)
        return registered

    def _pg_store(
        self,
        ident: int,
        meta: DatasetMetadata,
        record: bytes | None,
        text: bytes | None,
        restricted: bool | None,
        files: dict[str, bytes | Path],
        last_modified: str | datetime | None,
    ) -> DatasetMetadata:
        original = meta
        doi = normalize_doi(ident)
        if meta.doi is None:
            meta = dataclasses.replace(meta, doi=doi)
        if restricted is not None and bool(restricted) != meta.restricted:
            option = "access rights needed" if restricted else "unrestricted"
            meta = dataclasses.replace(meta, restricted=bool(restricted), login_option=option)
        with self._pg_lock:
            previous = self._pg_datasets.get(ident)
            parent = next(
                (normalize_doi(c) for c, kids in self._pg_collections.items() if doi in kids), None
            )
        if meta.parent is None and parent is not None and parent != doi:
            meta = dataclasses.replace(meta, parent=parent)
        if last_modified is not None:
            stamp = _epoch(last_modified)
            meta = dataclasses.replace(meta, last_modified=_iso(stamp))
        elif meta.last_modified is not None and _try_epoch(meta.last_modified) is not None:
            stamp = _try_epoch(meta.last_modified)  # type: ignore[assignment]
        else:
            stamp = float(int(time.time()))
            if previous is not None and stamp <= previous.stamp:
                stamp = previous.stamp + 1
            meta = dataclasses.replace(meta, last_modified=_iso(stamp))
        if record is None or meta != original:
            record = write_panmd(meta)
        entry = _Dataset(ident, meta, record, text, float(stamp), files)
        with self._pg_lock:
            self._pg_datasets[ident] = entry
        self.route("GET", f"/{doi}", functools.partial(self._pg_dataset_reply, ident))
        for name, data in files.items():
            path = f"/dataset/{ident}/files/{name}"
            if meta.restricted:
                self.route("GET", path, functools.partial(self._pg_file, ident, name))
            else:
                self.add(path, data, content_type=guess_content_type(name))
        _log.debug(
            "PangaeaServer: registered %s (%s%s%s)",
            doi,
            "table" if text is not None else "no table",
            ", restricted" if meta.restricted else "",
            f", {len(meta.children)} children" if meta.children else "",
        )
        return meta

    def _pg_adopt(self, entry: _Dataset, parent: str) -> None:
        meta = dataclasses.replace(entry.meta, parent=parent)
        updated = dataclasses.replace(entry, meta=meta, xml=write_panmd(meta))
        with self._pg_lock:
            if self._pg_datasets.get(entry.ident) is entry:
                self._pg_datasets[entry.ident] = updated

    def _pg_find(self, ident: int) -> _Dataset | None:
        with self._pg_lock:
            return self._pg_datasets.get(ident)

    def _pg_registered(self) -> list[_Dataset]:
        with self._pg_lock:
            return list(self._pg_datasets.values())

    # -- authorisation -------------------------------------------------------------------- #

    def _pg_denied(self, request: RequestRecord, entry: _Dataset) -> Response | None:
        """Return the 401 reply when ``request`` may not read the data of ``entry``."""
        if not entry.restricted:
            return None
        given = (request.header("authorization") or "").strip()
        scheme, _, credentials = given.partition(" ")
        credentials = credentials.strip()
        token = self._pg_token
        if (
            scheme.lower() == "bearer"
            and token is not None
            and hmac.compare_digest(credentials.encode(), token.encode())
        ):
            return None
        challenge = 'Bearer realm="PANGAEA"'
        if given:
            challenge += ', error="invalid_token"'
            text = (
                f"Access to the data of {entry.doi} was refused: the token is not valid "
                "for this dataset.\n"
            )
        else:
            text = (
                f"The data of {entry.doi} are restricted. Log in at PANGAEA and send "
                "'Authorization: Bearer <token>'.\n"
            )
        return Response(
            401, text, {"WWW-Authenticate": challenge}, content_type="text/plain;charset=UTF-8"
        )

    # -- /10.1594/PANGAEA.<id> ------------------------------------------------------------- #

    def _pg_dataset_reply(self, ident: int, request: RequestRecord) -> Response:
        entry = self._pg_find(ident)
        if entry is None:  # pragma: no cover - routes exist only for registered ids
            return _text_response(404, f"Not Found: {request.path}\n")
        formats = request.query.get("format")
        if formats:
            kind = _FORMATS.get(formats[-1])
            if kind is None:
                known = ", ".join(sorted(_FORMATS))
                return _text_response(
                    400, f"Unknown format {formats[-1]!r}; this server knows: {known}\n"
                )
        else:
            kind = _negotiate_representation(request.header("accept"))
        etag = None
        if kind == "text":
            reply = self._pg_text(entry, request)
        elif kind == "zip":
            reply = self._pg_zip(entry, request)
        elif kind == "xml":
            reply = Response(body=entry.xml, content_type=f"{MEDIA_TYPE};charset=UTF-8")
        elif kind == "citation":
            reply = Response(body=_citation(entry), content_type="text/plain;charset=UTF-8")
        else:
            reply = Response(body=self._pg_landing(entry), content_type="text/html;charset=UTF-8")
        if reply.status != 200:
            return reply
        if kind == "text":
            etag = content_etag(reply.body_bytes())
        reply.headers.setdefault("Vary", "Accept")
        return conditional_response(request, reply, etag=etag, last_modified=entry.stamp)

    def _pg_text(self, entry: _Dataset, request: RequestRecord) -> Response:
        if entry.text is None:
            what = "a collection" if entry.meta.children else "described by metadata only"
            return _text_response(
                406,
                f"{entry.doi} has no tabular data ({what}); ask for "
                f"{MEDIA_TYPE} to read its metadata.\n",
            )
        denied = self._pg_denied(request, entry)
        if denied is not None:
            return denied
        name = entry.meta.extra.get("filename") or f"PANGAEA_{entry.ident}"
        headers = {"Content-Disposition": f'attachment; filename="{name}.tab"'}
        return Response(body=entry.text, headers=headers, content_type=f"{_TSV};charset=UTF-8")

    def _pg_zip(self, entry: _Dataset, request: RequestRecord) -> Response:
        if entry.meta.children:
            members = [self._pg_find(dataset_id(child)) for child in entry.meta.children]
            tables = [m for m in members if m is not None and m.text is not None]
        else:
            tables = [entry] if entry.text is not None else []
        if not tables:
            return _text_response(
                406, f"{entry.doi} has no tabular data to put into a zip archive.\n"
            )
        for table in [entry, *tables]:
            denied = self._pg_denied(request, table)
            if denied is not None:
                return denied
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for table in tables:
                info = zipfile.ZipInfo(f"{table.ident}.tab", _zip_time(table.stamp))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, table.text or b"")
        name = entry.meta.extra.get("filename") or f"PANGAEA_{entry.ident}"
        return Response(
            body=buffer.getvalue(),
            headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
            content_type="application/zip",
        )

    def _pg_landing(self, entry: _Dataset) -> str:
        meta = entry.meta
        title = html.escape(meta.title or entry.doi)
        rows = [
            ("Citation", meta.citation),
            ("DOI", f"https://doi.org/{entry.doi}"),
            ("Abstract", meta.abstract),
            ("License", meta.license),
            ("Size", meta.size),
            ("Access", meta.login_option),
        ]
        cells = "".join(
            f'<tr><td class="key">{k}:</td><td class="content">{html.escape(v)}</td></tr>'
            for k, v in rows
            if v
        )
        links = [f'<li><a href="/{entry.doi}?format=textfile">Download data</a></li>']
        links += [f'<li><a href="/{c}">{html.escape(c)}</a></li>' for c in meta.children]
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title></head><body><h1>{title}</h1>"
            f'<table class="data">{cells}</table><ul>{"".join(links)}</ul></body></html>\n'
        )

    # -- /dataset/<id>/files/<name> ------------------------------------------------------- #

    def _pg_file(self, ident: int, name: str, request: RequestRecord) -> Response:
        entry = self._pg_find(ident)
        data = None if entry is None else entry.files.get(name)
        if entry is None or data is None:
            return _text_response(404, f"Not Found: {request.path}\n")
        denied = self._pg_denied(request, entry)
        if denied is not None:
            return denied
        try:
            content = data if isinstance(data, bytes) else Path(data).read_bytes()
        except OSError:
            return _text_response(404, f"Not Found: {request.path}\n")
        return conditional_response(
            request,
            Response(body=content, content_type=guess_content_type(name)),
            etag=content_etag(content),
            last_modified=entry.stamp,
            ranges=self.range_support,
        )

    # -- search.php ------------------------------------------------------------------------ #

    def _pg_search(self, request: RequestRecord) -> Response:
        try:
            query = query_param(request, "q") or ""
            count = min(int_query_param(request, "count", 10, status=400), self.max_search_count)
            offset = int_query_param(request, "offset", 0, status=400)
            box = _query_box(request)
            period = _query_period(request)
            terms = _parse_query(query)
        except RefusedRequest as error:
            return _text_response(error.status, f"{error.detail}\n")
        hits = []
        for entry in self._pg_registered():
            if box is not None and not _box_intersects(_coverage_box(entry.meta), box):
                continue
            if period is not None and not _periods_overlap(_coverage_period(entry.meta), period):
                continue
            score = _search_score(entry, terms)
            if score is not None:
                hits.append((score, entry))
        hits.sort(key=lambda hit: (-hit[0], hit[1].ident))
        base = self.base_url
        results = [
            {"URI": f"doi:{entry.doi}", "score": score, "html": _result_html(entry, base)}
            for score, entry in hits[offset : offset + count]
        ]
        return Response.json({"totalCount": len(hits), "results": results})

    # -- Elasticsearch ----------------------------------------------------------------------- #

    def _pg_es(self, request: RequestRecord) -> Response:
        """Answer the one Elasticsearch request awiml sends (see :data:`ES_REQUEST`)."""
        try:
            idents, size, fields = _read_es_request(request)
        except RefusedRequest as error:
            return _es_error(error.detail)
        found = [entry for entry in map(self._pg_find, sorted(set(idents))) if entry is not None]
        hits = [
            {
                "_index": "pangaea",
                "_id": str(entry.ident),
                "_search_score": 1.0,
                "_source": {k: v for k, v in _es_document(entry).items() if k in fields},
            }
            for entry in found[:size]
        ]
        total = {"value": len(found), "relation": "eq"}
        body = {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": total, "max_score": 1.0 if found else None, "hits": hits},
        }
        return Response.json(body)


# --------------------------------------------------------------------------- #
# Helpers: registration
# --------------------------------------------------------------------------- #


def _read_bytes(data: bytes | os.PathLike[str], what: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, os.PathLike):
        return Path(data).read_bytes()
    raise TypeError(
        f"{what} must be bytes or a path (pathlib.Path), not {type(data).__name__}; "
        "encode text with .encode()"
    )


def _check_files(files: Mapping[str, bytes | os.PathLike[str]] | None) -> dict[str, bytes | Path]:
    checked: dict[str, bytes | Path] = {}
    for name, data in (files or {}).items():
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ValueError(f"linked file name {name!r} must be a plain file name")
        if isinstance(data, (bytes, bytearray, memoryview)):
            checked[name] = bytes(data)
        elif isinstance(data, os.PathLike):
            path = Path(data)
            if not path.is_file():
                raise FileNotFoundError(f"linked file {name!r}: {path} is not a file")
            checked[name] = path
        else:
            raise TypeError(f"linked file {name!r} must be bytes or a path")
    return checked


def _metadata_from_text(text: bytes, ident: int) -> DatasetMetadata:
    from ...archives.pangaea.text import read_metadata

    meta = _with_column_types(read_metadata(text), text)
    extra = dict(meta.extra)
    extra.setdefault("mimeType", _TSV)
    extra.setdefault("status", "published")
    return dataclasses.replace(
        meta,
        doi=normalize_doi(ident),
        login_option=meta.login_option
        or ("access rights needed" if meta.restricted else "unrestricted"),
        extra=extra,
    )


def _with_column_types(meta: DatasetMetadata, text: bytes) -> DatasetMetadata:
    """Give each parameter the panmd column type its values have, as PANGAEA's records do.

    Assumed spellings of panmd's ``matrixColumn/@type``: ``numeric``, ``string`` and
    ``dateTime``.
    """
    import warnings

    import pandas as pd

    from ...archives.pangaea.text import read_text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = read_text(text, on_mismatch="warn")
        except AwimlError:
            return meta  # a malformed table is served as is; its metadata stays untyped
    data_columns = [c for c in table.columns if not str(c).endswith("_flag")
                    or str(c)[: -len("_flag")] not in table.columns]
    if len(data_columns) != len(meta.parameters):
        return meta
    typed = []
    for parameter, column in zip(meta.parameters, data_columns, strict=True):
        dtype = table[column].dtype
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            kind = "dateTime"
        elif pd.api.types.is_numeric_dtype(dtype):
            kind = "numeric"
        else:
            kind = "string"
        typed.append(dataclasses.replace(parameter, type=parameter.type or kind))
    return dataclasses.replace(meta, parameters=tuple(typed))


# --------------------------------------------------------------------------- #
# Helpers: HTTP
# --------------------------------------------------------------------------- #


def _text_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, text, dict(headers or {}), content_type="text/plain;charset=UTF-8")


def _negotiate_representation(accept: str | None) -> str:
    """Pick the representation for an ``Accept`` header: text, xml, citation or html."""
    kinds = {
        _TSV: "text",
        MEDIA_TYPE: "xml",
        "text/x-bibliography": "citation",
        "text/html": "html",
        "application/xhtml+xml": "html",
        "text/*": "html",
        "*/*": "html",
    }
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((accept or "").split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = kinds.get(media.lower())
        if kind is None or quality <= 0:
            continue
        if best is None or quality > best[0]:
            best = (quality, position, kind)
    return best[2] if best is not None else "html"


def _float_param(request: RequestRecord, name: str) -> float | None:
    value = query_param(request, name)
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise RefusedRequest(400, f"{name}={value!r} is not a number") from None


# --------------------------------------------------------------------------- #
# Helpers: coverage in space and time
# --------------------------------------------------------------------------- #

_Box = tuple[float, float, float, float]  # south, west, north, east


def _coverage_box(meta: DatasetMetadata) -> _Box | None:
    keys = (
        "SOUTH-BOUND LATITUDE",
        "WEST-BOUND LONGITUDE",
        "NORTH-BOUND LATITUDE",
        "EAST-BOUND LONGITUDE",
    )
    try:
        values = [float(str(meta.coverage[key]).split()[0]) for key in keys]
    except (KeyError, ValueError, IndexError):
        values = []
    if len(values) == 4:
        return values[0], values[1], values[2], values[3]
    lats = [v for e in meta.events for v in (e.latitude, e.latitude_end) if v is not None]
    lons = [v for e in meta.events for v in (e.longitude, e.longitude_end) if v is not None]
    if not lats or not lons:
        return None
    return min(lats), min(lons), max(lats), max(lons)


def _query_box(request: RequestRecord) -> _Box | None:
    values = [_float_param(request, n) for n in ("minlat", "minlon", "maxlat", "maxlon")]
    if all(v is None for v in values):
        return None
    south, west, north, east = values
    return (
        -90.0 if south is None else south,
        -180.0 if west is None else west,
        90.0 if north is None else north,
        180.0 if east is None else east,
    )


def _box_intersects(box: _Box | None, query: _Box) -> bool:
    if box is None:
        return False
    south, west, north, east = box
    q_south, q_west, q_north, q_east = query
    if north < q_south or south > q_north:
        return False
    spans = [(q_west, q_east)] if q_west <= q_east else [(q_west, 180.0), (-180.0, q_east)]
    return any(not (east < low or west > high) for low, high in spans)


def _parse_moment(text: str, *, end: bool = False) -> datetime:
    """Parse an ISO 8601 date or time (UTC unless a zone is given); ``end`` rounds up."""
    match = _MOMENT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 date or time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    start = datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "0")[:6].ljust(6, "0")),
        tzinfo=timezone.utc,
    )
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        start -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if not end:
        return start
    if month is None:
        return start.replace(year=start.year + 1) - timedelta(microseconds=1)
    if day is None:
        following = start.replace(day=28) + timedelta(days=4)
        return following.replace(day=1) - timedelta(microseconds=1)
    if hour is None:
        return start + timedelta(days=1, microseconds=-1)
    if second is None:
        return start + timedelta(minutes=1, microseconds=-1)
    return start


def _coverage_period(meta: DatasetMetadata) -> tuple[datetime, datetime] | None:
    """First start and last end of the times the coverage (else the events) states."""
    texts = [meta.coverage.get("DATE/TIME START"), meta.coverage.get("DATE/TIME END")]
    if not all(texts):
        texts = [t for e in meta.events for t in (e.datetime, e.datetime_end) if t]
    moments = []
    for text in texts:
        try:
            moments.append((_parse_moment(str(text)), _parse_moment(str(text), end=True)))
        except ValueError:
            continue
    if not moments:
        return None
    return min(m[0] for m in moments), max(m[1] for m in moments)


def _query_period(request: RequestRecord) -> tuple[datetime, datetime] | None:
    low, high = query_param(request, "mindate"), query_param(request, "maxdate")
    if not low and not high:
        return None
    try:
        first = _parse_moment(low) if low else datetime.min.replace(tzinfo=timezone.utc)
        last = _parse_moment(high, end=True) if high else datetime.max.replace(tzinfo=timezone.utc)
    except ValueError as error:
        raise RefusedRequest(400, str(error)) from None
    return first, last


def _periods_overlap(
    period: tuple[datetime, datetime] | None, query: tuple[datetime, datetime]
) -> bool:
    return period is not None and period[0] <= query[1] and period[1] >= query[0]


def _epoch(value: str | datetime) -> float:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return float(int(moment.timestamp()))
    return float(int(_parse_moment(value).timestamp()))


def _try_epoch(value: str) -> float | None:
    try:
        return _epoch(value)
    except ValueError:
        return None


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zip_time(stamp: float) -> tuple[int, int, int, int, int, int]:
    moment = datetime.fromtimestamp(max(stamp, 315532800.0), timezone.utc)  # zip starts 1980
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


# --------------------------------------------------------------------------- #
# Helpers: matching and documents
# --------------------------------------------------------------------------- #


def _parse_query(query: str) -> list[_QueryTerm]:
    query = query.strip()
    if query in ("", "*", "*:*"):
        return []
    terms = []
    for match in _QUERY_TOKEN.finditer(query):
        sign, name, quoted, bare = match.groups()
        text = quoted if quoted is not None else bare
        if name is not None and text == "" and quoted is None:
            raise RefusedRequest(400, f"empty value after {name}:")
        terms.append(_QueryTerm(sign, name, text))
    return terms


def _field_texts(meta: DatasetMetadata, part: str) -> list[str]:
    """Return the texts of ``meta`` that one search field looks at."""
    events = meta.events
    if part == "parameters":
        return [t for p in meta.parameters for t in (p.name, p.short_name)]
    if part == "authors":
        return list(meta.authors)
    if part in ("keywords", "related", "projects"):
        return list(getattr(meta, part))
    if part == "event":
        return [e.label for e in events]
    if part in ("campaign", "basis", "location"):
        return [str(getattr(e, part)) for e in events if getattr(e, part)]
    if part == "method":
        return [str(e.device) for e in events if e.device] + [
            str(p.method) for p in meta.parameters if p.method
        ]
    value = getattr(meta, part, None)
    return [str(value)] if value else []


def _occurs(needle: str, texts: Iterable[str]) -> bool:
    needle = needle.casefold()
    return any(needle in text.casefold() for text in texts)


def _search_score(entry: _Dataset, terms: Sequence[_QueryTerm]) -> float | None:
    """Score ``entry`` against the terms of a ``search.php`` query; ``None`` when it does not match.

    Every term must match, except terms marked ``-``, which must not; ``AND``
    and ``OR`` between terms are skipped. A term counts 2 when it occurs in
    the title, else 1.
    """
    meta = entry.meta
    score = 0.0
    for term in terms:
        if term.field is None and not term.sign and term.text in ("AND", "OR", "&&", "||"):
            continue
        in_title = False
        if term.field is None:
            texts = [t for part in _DEFAULT_FIELDS for t in _field_texts(meta, part)]
            found = _occurs(term.text, texts)
            in_title = found and _occurs(term.text, _field_texts(meta, "title"))
        else:
            parts = _SEARCH_FIELDS.get(term.field.lower())
            if parts is None:  # not a field of PANGAEA's syntax: search the whole token
                texts = [t for part in _DEFAULT_FIELDS for t in _field_texts(meta, part)]
                found = _occurs(f"{term.field}:{term.text}", texts)
            else:
                found = _occurs(term.text, [t for part in parts for t in _field_texts(meta, part)])
        if term.sign == "-":
            if found:
                return None
            continue
        if not found:
            return None
        score += 2.0 if in_title else 1.0
    return score or 1.0


def _citation(entry: _Dataset) -> str:
    meta = entry.meta
    return (
        meta.citation
        or compose_citation(meta.authors, meta.year, meta.title or entry.doi, None, entry.doi)
        or entry.doi
    )


def _size_text(meta: DatasetMetadata) -> str:
    if meta.children and not (meta.size or "").endswith("datasets"):
        return f"{len(meta.children)} datasets"
    return meta.size or ""


def _result_html(entry: _Dataset, base: str) -> str:
    meta = entry.meta
    rows = [("Size", _size_text(meta))]
    rows += [(r.split(": ", 1)[0], r.split(": ", 1)[1]) for r in meta.related if ": " in r][:2]
    cells = "".join(
        f'<tr><td class="key">{html.escape(k)}:</td><td class="content">{html.escape(v)}</td></tr>'
        for k, v in rows
        if v
    )
    return (
        f'<div class="citation"><a class="dataset-link" href="{base}/{entry.doi}">'
        f"{html.escape(_citation(entry))}</a></div>"
        f'<table class="data">{cells}</table>'
        f'<div class="doi">doi:{entry.doi}</div>'
    )


def _es_document(entry: _Dataset) -> dict[str, Any]:
    """Return the ``_source`` fields of a dataset that awiml asks the index for."""
    meta = entry.meta
    document: dict[str, Any] = {
        "sf-idDataSet": entry.ident,
        "sp-loginOption": _LOGIN_NUMBERS.get(
            (meta.login_option or "unrestricted").lower(), 3 if meta.restricted else 1
        ),
    }
    size = (meta.size or "").split()
    if len(size) >= 2 and size[0].isdigit() and " ".join(size[1:]) == "data points":
        document["nDataPoints"] = int(size[0])
    return document


def _read_es_request(request: RequestRecord) -> tuple[list[int], int, tuple[str, ...]]:
    """Read awiml's Elasticsearch request: (dataset ids, size, ``_source`` fields).

    Raises
    ------
    RefusedRequest
        For any other request, naming the one the emulator answers.
    """
    refused = f"The emulator answers only the request awiml sends: {ES_REQUEST}"
    if request.method not in ("GET", "HEAD") or request.body.strip():
        raise RefusedRequest(
            400,
            f"{refused}; got {request.method} with a body of {len(request.body)} bytes (the "
            "query DSL is not emulated)",
        )
    unknown = sorted(set(request.query) - {"q", "size", "_source"})
    if unknown:
        raise RefusedRequest(400, f"{refused}; got the parameters {', '.join(unknown)}")
    terms = (query_param(request, "q") or "").split()
    if not terms or not all(_ES_ID_TERM.fullmatch(term) for term in terms):
        raise RefusedRequest(400, f"{refused}; got q={query_param(request, 'q')!r}")
    size = query_param(request, "size")
    if size is not None and not size.isdigit():
        raise RefusedRequest(400, f"{refused}; got size={size!r}")
    wanted = query_param(request, "_source")
    fields = _ES_FIELDS if wanted is None else tuple(f.strip() for f in wanted.split(","))
    if not set(fields) <= set(_ES_FIELDS):
        raise RefusedRequest(400, f"{refused}; got _source={wanted!r}")
    idents = [int(term.partition(":")[2]) for term in terms]
    return idents, 10 if size is None else int(size), fields


def _es_error(reason: str) -> Response:
    cause = {"type": "illegal_argument_exception", "reason": reason}
    body = {"error": {"root_cause": [cause], **cause, "supported": ES_REQUEST}, "status": 400}
    return Response.json(body, status=400)
