"""``PlatformSource``: AWI's sensor data (O2A data web service and registry) as an fsspec source."""

from __future__ import annotations

import copy
import difflib
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fsspec.implementations.memory import MemoryFile

from ...errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    InvalidDataError,
    NotFoundError,
    redact_url,
)
from ..base import DEFAULT_TIMEOUT, ArchiveFileSystem, RemoteFile, http_session
from ..cache import ArchiveCache, default_cache_dir
from ..http import RETRY_STATUSES, CredentialsAround, unreachable_as_unavailable
from ._codes import parse_code
from ._registry import describe
from ._request import QUERY_TIME, ExtractRequest
from ._request import refusal_detail as _detail
from ._url import file_name, format_url, is_extract, parse_url
from ._url import strip_protocol as _strip_o2a

if TYPE_CHECKING:
    import pandas as pd
    import requests
    import xarray as xr

#: The public O2A data web service.
DATA_URL = "https://dashboard.awi.de/data/rest"
#: The public O2A registry.
REGISTRY_URL = "https://registry.o2a-data.de/rest/v2"
#: Environment variables that point awiml at other servers (an emulator, a mirror).
DATA_URL_VARIABLE = "AWIML_O2A_URL"
REGISTRY_URL_VARIABLE = "AWIML_O2A_REGISTRY_URL"
#: Typed columns of :meth:`PlatformSource.sensors`.
_DATE_FIELDS = ("firstDate", "lastDate")


class PlatformSource(ArchiveFileSystem):
    """Sensor data of AWI's platforms: vessels, observatories, moorings, floats.

    Reads the O2A data web service (time series by sensor code) and the O2A
    registry (what each sensor is, where it was deployed, who to ask). Reads
    are anonymous.

    Parameters
    ----------
    base_url : str, optional
        The data web service. Defaults to ``$AWIML_O2A_URL``, else
        ``https://dashboard.awi.de/data/rest``.
    registry_url : str, optional
        The registry. Defaults to ``$AWIML_O2A_REGISTRY_URL``, else
        ``https://registry.o2a-data.de/rest/v2``.
    cache : bool or path-like, optional
        Keep received time chunks for later calls: ``True`` in awiml's cache
        folder (``$AWIML_CACHE_DIR`` or the platform's), a folder, or ``False``.
    max_workers : int, optional
        Requests sent at the same time for a long range. The service's limit
        is not published; 4 is a conservative default.
    max_points : int, optional
        Largest number of values (rows x columns) asked for in one request;
        longer ranges are split into time chunks below it.
    progress : bool, optional
        Show a progress bar while chunks arrive.
    timeout : tuple of float, optional
        Connect and read timeouts in seconds.
    retries : int, optional
        Retries of a failed request (with back-off, honouring ``Retry-After``).
    **storage_options
        Passed on to :class:`fsspec.spec.AbstractFileSystem`.

    Notes
    -----
    Paths, with or without the ``o2a://`` protocol (``fsspec.open``,
    ``Workspace.fetch`` and the methods here take both):

    - ``o2a://<code>``, e.g. ``o2a://vessel:polarstern:tsg:temperature``: a
      sensor. :meth:`info` describes it; it is not a file.
    - ``o2a://<code>[,<code>...]?start=<time>&end=<time>[&aggregate=<step>]``
      ``[&functions=<f>[,<f>...]][&flags=true|false]``: an extract, the one
      tab-separated file the data service answers for those sensors, that
      range (both ends included, UTC, ``YYYY-MM-DDTHH:MM:SS``; a date alone is
      its midnight), that aggregation (``second``, ``minute``, ``hour`` by
      default, ``day``), those functions (``mean`` by default, ``min``,
      ``max``, ``median``, ``std``, ``count``) and with quality flags or not
      (``false`` by default). For example (each URL is one line, broken here
      to fit the page)::

          o2a://vessel:heincke:dwd:air_pressure
            ?start=2024-03-18T20:00:00&end=2024-03-19T09:00:00
          o2a://vessel:polarstern:tsg:temperature,
            vessel:polarstern:tsg:salinity
            ?start=2016-12-16&end=2017-01-30T23:59:59
            &aggregate=day&functions=mean,max&flags=true

      ``fsspec.open`` reads it (servers from ``$AWIML_O2A_URL`` and
      ``$AWIML_O2A_REGISTRY_URL``); ``Workspace.fetch`` lands it as
      ``raw/o2a/<codes>_<start>-<end>_<aggregate>_<functions>_<digest>.tsv`` and
      records its canonical URL (every part written out) as the source, with the
      sensors, range, aggregation, functions and the service's request URL.
      Parts may be percent-encoded; ``+`` stays a plus sign. The path fsspec
      works with (``info(...)["name"]``) writes ``/`` for the ``?``, which
      fsspec would take for a wildcard; both spellings are read. Give that
      spelling to fsspec's ``get`` and ``copy``, which expand wildcards in
      what they are given (``open``, ``cat`` and ``get_file`` take either).

    Examples
    --------
    >>> from awiml.testing import O2AServer
    >>> with O2AServer() as o2a:
    ...     o2a.add_sample_data()
    ...     heincke = PlatformSource(o2a.data_url, registry_url=o2a.registry_url,
    ...                              cache=False, progress=False)
    ...     data = heincke.read("vessel:heincke:dwd:air_pressure",
    ...                         "2024-03-19T00:00", "2024-03-19T02:00")
    >>> pressure = data["air_pressure_mean"]
    >>> pressure.attrs["units"], pressure.values.round(1).tolist()
    ('hPa', [1017.0, 1017.0, 1016.3])
    """

    protocol = "o2a"
    # A new instance when the servers' variables change, not the cached one for the old servers.
    _credentials_around = CredentialsAround(DATA_URL_VARIABLE, REGISTRY_URL_VARIABLE,
                                            "AWIML_CACHE_DIR")
    _extra_tokenize_attributes = ("_credentials_around",)

    def __init__(
        self,
        base_url: str | None = None,
        *,
        registry_url: str | None = None,
        cache: bool | str | os.PathLike[str] = True,
        max_workers: int = 4,
        max_points: int = 500_000,
        progress: bool = True,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 5,
        **storage_options: Any,
    ) -> None:
        super().__init__(timeout=timeout, retries=retries, **storage_options)
        self.base_url = _base(base_url, DATA_URL_VARIABLE, DATA_URL, "base_url")
        self.registry_url = _base(registry_url, REGISTRY_URL_VARIABLE, REGISTRY_URL,
                                  "registry_url")
        if int(max_workers) < 1 or int(max_points) < 1:
            raise InvalidDataError(
                f"max_workers={max_workers!r} and max_points={max_points!r} must be at least 1"
            )
        self.max_workers = int(max_workers)
        self.max_points = int(max_points)
        self.progress = bool(progress)
        self._session = http_session(retries=retries, timeout=timeout,
                                     pool_size=max(16, self.max_workers))
        folder = default_cache_dir() if cache is True else cache
        self._cache: ArchiveCache | None = ArchiveCache(folder, "o2a") if folder else None
        self._entries: dict[str, list[dict[str, Any]]] = {}
        self._entries_lock = threading.Lock()
        self._described: dict[str, dict[str, Any]] = {}  # registry parts by code (info)

    def __repr__(self) -> str:
        return (f"PlatformSource(base_url={self.base_url!r}, "
                f"registry_url={self.registry_url!r})")

    # -- HTTP ------------------------------------------------------------------------------

    def _get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        what: str,
        service: str = "data web service",
        stream: bool = False,
    ) -> requests.Response:
        """GET with the shared session; turn failures into errors that say what to do.

        A ``400`` comes back to the caller (the service explains a refused
        request in its body, which only the caller can put in context); every
        other failure is raised here.
        """
        with unreachable_as_unavailable(
            f"the O2A {service} ({redact_url(url)})", what,
            "Check your network, or point awiml at another server with "
            f"{DATA_URL_VARIABLE} / {REGISTRY_URL_VARIABLE}.",
        ):
            response = self._session.get(url, params=params, stream=stream,
                                         timeout=self.timeout)
        status = response.status_code
        if status < 400 or status == 400:
            return response
        detail = _detail(response)
        response.close()
        if status in (404, 410):
            raise NotFoundError(f"the O2A {service} has no {what} ({status}{detail}).")
        if status == 413:
            raise InvalidDataError(
                f"the O2A {service} refused {what} as too large (413{detail}). Ask for a "
                "shorter range, or pass a smaller max_points to PlatformSource."
            )
        if status in (401, 403, 407):
            raise AuthenticationError(
                f"the O2A {service} refused {what} ({status}{detail}). Its data are public and "
                "read without a login, so a proxy or a login page answered instead: check "
                f"your network (VPN, proxy settings) and the service's address "
                f"({DATA_URL_VARIABLE} / {REGISTRY_URL_VARIABLE})."
            )
        if status == 429 or status >= 500:
            tried = f" after {self.retries} retries" if status in RETRY_STATUSES else ""
            raise ArchiveUnavailableError(
                f"the O2A {service} answered {status} for {what}{tried}{detail}. Try again "
                "later; chunks already received are cached."
            )
        raise InvalidDataError(
            f"the O2A {service} refused the request for {what} ({status}{detail})."
        )

    # -- sensors ---------------------------------------------------------------------------

    def _sensor_entries(self, pattern: str) -> list[dict[str, Any]]:
        """Return the data service's ``/sensors`` answer for ``pattern``, remembered."""
        key = pattern.strip().lower()
        with self._entries_lock:
            if key in self._entries:
                return self._entries[key]
        what = f"the sensors matching {pattern!r}"
        response = self._get(f"{self.base_url}/sensors", params={"pattern": key}, what=what)
        if response.status_code == 400:
            raise InvalidDataError(
                f"the O2A data web service refused the pattern {pattern!r}{_detail(response)}; "
                "write a sensor code with * wildcards, e.g. 'vessel:polarstern:*'."
            )
        try:
            entries = response.json()
        except ValueError:
            entries = None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise InvalidDataError(
                f"the O2A data web service's answer for {what} is not a JSON list of sensors "
                f"({redact_url(response.url)}); is {self.base_url} the data web service?"
            )
        with self._entries_lock:
            self._entries[key] = entries
        return entries

    def sensors(self, pattern: str) -> pd.DataFrame:
        """Find sensors by code, with ``*`` as wildcard.

        Parameters
        ----------
        pattern : str
            A sensor code with ``*`` standing for any characters, e.g.
            ``"vessel:polarstern:tsg:*"`` or ``"*:air_pressure"``; case does not matter.

        Returns
        -------
        pandas.DataFrame
            One row per sensor, sorted by ``code``, with the service's fields
            (``code``, ``id``, ``logicalCode``, ``sensor``, ``unit``,
            ``platformId``, ``firstDate``, ``lastDate`` as UTC timestamps,
            ``lastValue``, ``lastQualityFlag``, ``source``); empty when
            nothing matches.

        Raises
        ------
        InvalidDataError
            When the pattern is empty or the service refuses it.

        Examples
        --------
        >>> from awiml.testing import O2AServer
        >>> with O2AServer() as server:
        ...     server.add_sample_data()
        ...     source = PlatformSource(server.data_url, registry_url=server.registry_url,
        ...                             cache=False)
        ...     table = source.sensors("vessel:polarstern:tsg:*")
        >>> table["code"].tolist(), table["unit"].tolist()
        (['vessel:polarstern:tsg:salinity', 'vessel:polarstern:tsg:temperature'], ['PSU', '°C'])
        """
        import pandas as pd

        if not isinstance(pattern, str) or not pattern.strip():
            raise InvalidDataError(
                f"pattern={pattern!r}: give a sensor code with * wildcards, e.g. "
                "'vessel:polarstern:*'."
            )
        columns = ["code", "id", "logicalCode", "sensor", "unit", "platformId",
                   "firstDate", "lastDate", "lastValue", "lastQualityFlag", "source"]
        rows = self._sensor_entries(pattern)
        table = pd.DataFrame.from_records(rows)
        extra = [name for name in table.columns if name not in columns]
        table = table.reindex(columns=columns + extra)
        for name in _DATE_FIELDS:
            table[name] = pd.to_datetime(table[name], utc=True, errors="coerce",
                                         format="ISO8601")
        for name in ("id", "platformId", "lastQualityFlag"):
            table[name] = pd.to_numeric(table[name], errors="coerce").astype("Int64")
        table["lastValue"] = pd.to_numeric(table["lastValue"], errors="coerce")
        table["code"] = table["code"].astype("string").str.strip()
        return table.sort_values("code", ignore_index=True)

    def read(
        self,
        codes: str | Sequence[str],
        start: Any,
        end: Any,
        *,
        aggregate: str | None = None,
        functions: str | Sequence[str] = ("mean",),
        quality_flags: bool = False,
        as_frame: bool = False,
    ) -> xr.Dataset | pd.DataFrame:
        """Read sensor data: one variable per sensor and aggregate function, by UTC time.

        A long range is split into time chunks of at most ``max_points``
        values, fetched concurrently (``max_workers``) with a progress bar and
        stitched with no duplicate or missing time at the seams. A chunk whose
        answer breaks off is asked for again. Chunks whose data is final (it
        ends before every sensor's ``lastDate``) are kept in the archive cache,
        so a repeated or a failed call fetches only what it does not have yet.

        Parameters
        ----------
        codes : str or sequence of str
            Sensor codes, e.g. ``"vessel:polarstern:tsg:temperature"`` (find
            them with :meth:`sensors`).
        start, end : str, datetime.datetime or pandas.Timestamp
            First and last time, both included; without a zone UTC, with one
            converted to UTC; whole seconds.
        aggregate : {"second", "minute", "hour", "day"}, optional
            The bins the service aggregates into; ``None`` is its default,
            ``"hour"``. A row is labelled with the start of its bin, and a bin
            is read when its start lies in ``[start, end]``.
        functions : str or sequence of str, optional
            Aggregate functions: ``mean``, ``min``, ``max``, ``median``,
            ``std``, ``count``; any case.
        quality_flags : bool, optional
            Read each value's quality flag too (0 not checked, 1 good,
            2 probably good, 3 probably bad, 4 bad).
        as_frame : bool, optional
            Return a :class:`pandas.DataFrame` instead of a Dataset.

        Returns
        -------
        xarray.Dataset or pandas.DataFrame
            The Dataset has the coordinate ``time`` (bin starts, in UTC;
            ``datetime64[ns]`` has no zone, so its attribute ``time_zone`` says
            ``"UTC"``) and one variable per sensor and function, named by the
            shortest suffix of the code that tells the sensors apart plus the
            function (``air_temperature_mean``). Their attributes: ``sensor``
            (the code), ``aggregate_function``, ``aggregate``, ``units``
            (UDUNITS, as :class:`awiml.preprocess.ConvertUnits` reads them;
            ``o2a_unit`` as the service writes it), ``long_name``,
            ``cell_methods``, ``platform``, ``device`` and what the registry
            knows (:meth:`info`; left out, with a warning, when the registry
            cannot be read). Quality flags are the CF ancillary variables
            ``<name>_qc`` (int8, ``flag_values``/``flag_meanings``, ``-1``
            for a missing flag, written as ``_FillValue``). Dataset
            attributes: ``Conventions``, ``request_url`` (the one request
            for the whole extract), ``sensors``, ``aggregate``, time coverage.
            The frame is indexed by UTC time (``time``), has the same column
            names (flags as nullable ``Int8``), ``attrs["units"]`` for
            ConvertUnits and ``attrs["columns"]`` with every attribute.

        Raises
        ------
        InvalidDataError
            A malformed code, time, aggregate or function; start after end; a
            range outside a sensor's ``firstDate``..``lastDate``; a range
            holding no bin ("empty range"); a request the service refuses (its
            reason quoted).
        NotFoundError
            A code the service does not know; close matches are suggested.
        ArchiveUnavailableError
            The service cannot be reached, or a chunk could not be fetched
            after the retries; the message names the sensors and the chunk's
            range, and the chunks received are cached.

        Examples
        --------
        >>> from awiml.testing import O2AServer
        >>> codes = ["vessel:heincke:dwd:air_temperature", "vessel:heincke:dwd:air_pressure"]
        >>> with O2AServer() as o2a:  # a loopback emulator of the O2A services
        ...     o2a.add_sample_data()
        ...     heincke = PlatformSource(o2a.data_url, registry_url=o2a.registry_url,
        ...                              cache=False, progress=False)
        ...     data = heincke.read(codes, "2024-03-18T20:00", "2024-03-19T09:00")
        >>> list(data.data_vars), data.sizes["time"]
        (['air_temperature_mean', 'air_pressure_mean'], 14)
        >>> pressure = data["air_pressure_mean"]
        >>> pressure.attrs["units"], pressure.attrs["sensor"], float(pressure[0])
        ('hPa', 'vessel:heincke:dwd:air_pressure', 1018.0)
        """
        from ._read import read

        return read(self, codes, start, end, aggregate=aggregate, functions=functions,
                    quality_flags=quality_flags, as_frame=as_frame)

    def _sensor_entry(self, code: str) -> dict[str, Any]:
        """Return the ``/sensors`` entry of one code; raise with suggestions when unknown."""
        wanted = str(parse_code(code))
        for entry in self._sensor_entries(wanted):
            if str(entry.get("code", "")).strip().lower() == wanted:
                return entry
        raise self._unknown(wanted)

    def _unknown(self, code: str) -> NotFoundError:
        """Build the error for a code the data service does not know, naming close matches."""
        parsed = parse_code(code)
        candidates: list[str] = []
        for pattern in (f"{parsed.platform_type}:{parsed.platform}:*", f"*:{parsed.parameter}"):
            try:
                entries = self._sensor_entries(pattern)
            except (InvalidDataError, NotFoundError):
                continue
            candidates += [str(e.get("code", "")).lower() for e in entries]
            if candidates:
                break
        close = difflib.get_close_matches(code, sorted(set(candidates)), n=3, cutoff=0.6)
        hint = (f" Did you mean {', '.join(map(repr, close))}?" if close else
                " Find codes with PlatformSource.sensors('<platform type>:<platform>:*').")
        return NotFoundError(f"the O2A data web service has no sensor {code!r}.{hint}")

    # -- sensor metadata and the fsspec side -------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Describe a sensor (data service and registry), or an extract as an fsspec file.

        Parameters
        ----------
        path : str
            A sensor code such as ``"vessel:polarstern:tsg:temperature"``
            (``o2a://`` in front is allowed), or an extract URL or path
            (``o2a://<codes>?start=...&end=...``, see the class description).
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        dict
            For a sensor code, the data service's entry (``code``, ``id``,
            ``logicalCode``, ``sensor``, ``unit``, ``platformId``,
            ``firstDate`` and ``lastDate`` as UTC :class:`pandas.Timestamp`,
            ``lastValue``, ``lastQualityFlag``, ``source``) merged with what
            the registry knows, every ``@uuid`` reference resolved:

            - ``item``: the registry item of the device (``id``, ``code``,
              ``shortName``, ``longName``, ``model``, ``manufacturer``,
              ``serialNumber``, ``citation``, ``type``...);
            - ``parameter``: the item's parameter whose ``shortName`` is the
              code's last part (``name``, ``shortName``, ``unit`` with
              ``code``, ``ucum`` and ``name``, ``type``...);
            - ``platform``: the item at the top of the device's tree (``code``,
              ``shortName``, ``longName``...);
            - ``events``: deployments and other events, oldest first, each with
              ``startDate`` and ``endDate`` (UTC timestamps or None),
              ``latitude``, ``longitude``, ``elevation``, ``label``,
              ``description`` and ``type`` (its name);
            - ``contacts``: ``firstName``, ``lastName``, ``email``, ``orcid``,
              ``companyName`` and ``role`` (its name).

            What the registry cannot say is ``None`` or ``[]``, with a
            :class:`UserWarning` naming it (the registry is unreachable, or has
            no item for the sensor). For fsspec's helpers (``exists``,
            ``isfile``...) it also carries ``name`` (the code), ``type``
            (``"other"``: a sensor is neither file nor folder) and ``size``
            (None).

            For an extract, fsspec's file description: ``name`` (the
            canonical path), ``type`` ``"file"``, ``size`` (None: the service
            does not say before it answers), ``url`` (the canonical
            ``o2a://`` URL) and the extract's ``sensors``, ``units``,
            ``start``, ``end``, ``aggregate``, ``functions``,
            ``quality_flags`` and ``request_url``.

        Raises
        ------
        NotFoundError
            When the data service has no such sensor (close matches named).
        InvalidDataError
            For a malformed code or extract URL.

        Examples
        --------
        >>> from awiml.testing import O2AServer
        >>> with O2AServer() as server:
        ...     server.add_sample_data()
        ...     source = PlatformSource(server.data_url, registry_url=server.registry_url)
        ...     sensor = source.info("vessel:heincke:dwd:air_pressure")
        ...     extract = source.info("o2a://vessel:heincke:dwd:air_pressure"
        ...                           "?start=2024-03-18T20:00:00&end=2024-03-19T09:00:00")
        >>> sensor["unit"], sensor["parameter"]["unit"]["code"], sensor["platform"]["code"]
        ('hPa', 'hPa', 'vessel:heincke')
        >>> extract["type"], extract["aggregate"], extract["functions"]
        ('file', 'hour', ['mean'])
        """
        text = _strip_o2a(path)
        if is_extract(text):
            return self._extract_info(self._extract(text))
        return self._sensor_info(text)

    def _sensor_info(self, code: str) -> dict[str, Any]:
        """Return :meth:`info` of a sensor code: data service entry plus registry parts."""
        import pandas as pd

        parsed = parse_code(code)
        entry = dict(self._sensor_entry(str(parsed)))
        for name in _DATE_FIELDS:
            stamp = pd.to_datetime(entry.get(name), utc=True, errors="coerce", format="ISO8601")
            entry[name] = None if pd.isna(stamp) else stamp
        key = str(parsed).lower()
        with self._entries_lock:
            parts = self._described.get(key)
        if parts is None:
            found = describe(self, parsed)
            parts = found.fields()
            if found.missing:
                warnings.warn(
                    f"PlatformSource.info({key!r}): {'; '.join(found.missing)}. The data "
                    "service's entry is complete; the registry's parts are None or empty. "
                    f"Check {redact_url(self.registry_url)} (or {REGISTRY_URL_VARIABLE}) and ask "
                    "again.",
                    UserWarning, stacklevel=3,
                )
            else:  # only a complete answer is kept, so a missing part is asked for again
                with self._entries_lock:
                    self._described[key] = parts
        return {"name": str(entry.get("code") or key).strip(), "type": "other", "size": None,
                **entry, **copy.deepcopy(parts)}  # the caller may change its copy

    def _extract(self, path: str) -> ExtractRequest:
        """Read an extract path or URL; check its sensors and range as ``read`` does.

        Raises :class:`NotFoundError` (naming close matches) for a sensor the
        service does not know and :class:`InvalidDataError` for a range outside
        a sensor's data, before anything is fetched.
        """
        from ._read import _plan

        request = parse_url(path)
        _plan(self, request)
        return request

    def _extract_metadata(self, request: ExtractRequest) -> dict[str, Any]:
        """Return what the manifest records about an extract."""
        units = {code: self._sensor_entry(code).get("unit") for code in request.codes}
        return {
            "sensors": list(request.codes),
            "units": units,
            "start": request.start.strftime(QUERY_TIME) + "Z",
            "end": request.end.strftime(QUERY_TIME) + "Z",
            "aggregate": request.aggregate,
            "functions": list(request.functions),
            "quality_flags": request.quality_flags,
            "request_url": redact_url(request.url(self.base_url)),
        }

    def _extract_info(self, request: ExtractRequest) -> dict[str, Any]:
        return {"name": format_url(request, protocol=False), "type": "file", "size": None,
                "url": format_url(request), **self._extract_metadata(request)}

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        """Strip ``o2a://``; write a readable code or extract in its canonical form.

        A path that cannot be read stays as given, so the method that uses it
        raises the error that names the problem.
        """
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = _strip_o2a(path)
        try:
            if is_extract(text):
                return format_url(parse_url(text), protocol=False)
            return str(parse_code(text))
        except InvalidDataError:
            return text

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """List an extract or a sensor: each lists itself, as fsspec lists a file.

        Parameters
        ----------
        path : str
            An extract URL or path, or a sensor code.
        detail : bool, optional
            Return :meth:`info` dicts instead of names.
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        list
            One entry.

        Examples
        --------
        >>> from awiml.testing import O2AServer
        >>> import fsspec
        >>> with O2AServer() as server:
        ...     server.add_sample_data()
        ...     fs = fsspec.filesystem("o2a", base_url=server.data_url,
        ...                            registry_url=server.registry_url, cache=False)
        ...     names = fs.ls("o2a://Vessel:Heincke:dwd:air_pressure?start=2024-03-19"
        ...                   "&end=2024-03-19T09:00&functions=max", detail=False)
        >>> names[0].split("&")  # doctest: +NORMALIZE_WHITESPACE
        ['vessel:heincke:dwd:air_pressure/start=2024-03-19T00:00:00', 'end=2024-03-19T09:00:00',
         'aggregate=hour', 'functions=max', 'flags=false']
        """
        entry = self.info(path)
        return [entry] if detail else [entry["name"]]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """Open an extract: the service's tab-separated answer, in memory.

        Long ranges are fetched in time chunks (concurrently, cached) and
        stitched; the bytes equal one request's answer for the whole extract.
        """
        if mode != "rb":
            raise PermissionError("the O2A data service is read-only: open extracts with "
                                  "mode 'rb'")
        text = _strip_o2a(path)
        if not is_extract(text):
            parse_url(text)  # raises, naming the missing time range
        from ._read import fetch_bytes

        request = self._extract(text)
        return MemoryFile(None, format_url(request, protocol=False), fetch_bytes(self, request))

    def remote_files(self, path: str) -> list[RemoteFile]:
        """Files to copy for ``Workspace.fetch``: an extract, as one tab-separated file.

        Parameters
        ----------
        path : str
            An extract URL or path (``o2a://<codes>?start=...&end=...``).

        Returns
        -------
        list of RemoteFile
            One file named ``o2a/<codes>_<start>-<end>_<aggregate>_<functions>_<digest>.tsv``
            whose manifest source is the canonical ``o2a://`` URL and whose
            metadata records ``sensors``, ``units``, ``start``, ``end``,
            ``aggregate``, ``functions``, ``quality_flags`` and ``request_url``.

        Raises
        ------
        InvalidDataError
            For a malformed URL, or a sensor code without a time range.
        NotFoundError
            For a sensor the data service does not know (close matches named).

        Examples
        --------
        >>> from awiml.testing import O2AServer
        >>> server = O2AServer().start()
        >>> server.add_sample_data()
        >>> source = PlatformSource(server.data_url, registry_url=server.registry_url, cache=False)
        >>> [remote] = source.remote_files("o2a://vessel:heincke:dwd:air_pressure"
        ...                                "?start=2024-03-18T20:00:00&end=2024-03-19T09:00:00")
        >>> server.stop()
        >>> remote.name  # doctest: +ELLIPSIS
        'o2a/vessel_heincke_dwd_air_pressure_20240318T200000-20240319T090000_hour_mean_...tsv'
        >>> remote.metadata["sensors"], remote.metadata["units"]
        (['vessel:heincke:dwd:air_pressure'], {'vessel:heincke:dwd:air_pressure': 'hPa'})
        """
        request = self._extract(path)
        return [RemoteFile(source=format_url(request), name=f"o2a/{file_name(request)}",
                           metadata=self._extract_metadata(request), fs=self,
                           path=format_url(request, protocol=False))]


def _base(value: str | None, variable: str, default: str, name: str) -> str:
    url = (value or os.environ.get(variable) or default).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidDataError(
            f"{name}={redact_url(url)!r} is not an http(s) URL; give the service's base, "
            f"e.g. {default!r}."
        )
    return url
