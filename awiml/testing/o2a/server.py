"""The loopback O2A server; what it answers is described in :mod:`awiml.testing.o2a`."""

from __future__ import annotations

import calendar
import fnmatch
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._http import RefusedRequest, int_query_param, query_param
from ..server import ArchiveEmulator, Fault, RequestRecord, Response

if TYPE_CHECKING:
    import numpy as np

    from ._registry import Registry
    from ._series import Sensor

__all__ = ["O2AServer"]

DATA = "/data/rest"
REGISTRY = "/registry/rest/v2"
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")
_TSV = "text/tab-separated-values"
_JSON = "application/json"
_DEFAULT_HITS = 10
_MAX_HITS = 10_000


@dataclass
class _RangeFault:
    start: int
    end: int
    fault: Fault
    remaining: int | None


def _seconds(value: str | datetime, name: str) -> int:
    """Seconds since 1970 of an ISO date ``YYYY-MM-DDTHH:MM:SS`` (UTC) or a datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return calendar.timegm(value.timetuple())
    match = _DATE.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"{name}={value!r} is not a date YYYY-MM-DDTHH:MM:SS")
    try:
        stamp = datetime(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a valid date") from None
    return calendar.timegm(stamp.timetuple())


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class O2AServer(ArchiveEmulator):
    r"""A loopback emulator of AWI's O2A data web service and registry, for offline tests.

    The data service answers under :attr:`data_url` (for
    ``https://dashboard.awi.de/data/rest``), the registry under :attr:`registry_url`
    (for ``https://registry.o2a-data.de/rest/v2``). Add awiml's sample sensors with
    :meth:`add_sample_data` (real answers where they were recovered, synthetic series
    elsewhere) or sensors of your own with :meth:`add_sensor`. The routes, the
    limits and what is assumed about O2A are listed in the module documentation
    (:mod:`awiml.testing.o2a`).

    Parameters
    ----------
    max_points : int, optional
        Largest ``rows x value columns`` one data request may ask for; larger
        requests get ``413``.
    max_concurrent : int, optional
        Data requests in progress at once; one more gets ``429`` with
        ``Retry-After: 1``. All loopback clients share the one address.
    latency : float, optional
        Seconds every data request takes (while holding its slot).
    row_time : float, optional
        Seconds added per row answered.
    host, port : str, int, optional
        Where to listen, as in :class:`~awiml.testing.FileServer`.

    Attributes
    ----------
    max_points, max_concurrent : int
        The limits; may be changed while the server runs.
    latency, row_time : float
        The simulated server time; may be changed while the server runs.

    Examples
    --------
    >>> import requests
    >>> with O2AServer() as o2a:
    ...     o2a.add_sample_data()
    ...     reply = requests.get(o2a.data_url + "/data", params={
    ...         "sensors": "vessel:heincke:dwd:air_pressure",
    ...         "beginDate": "2024-03-18T20:00:00", "endDate": "2024-03-18T21:00:00",
    ...     }, timeout=10)
    >>> print(reply.text.replace("\t", " | "), end="")  # tab-separated
    datetime | vessel:heincke:dwd:air_pressure (mean) [hPa]
    2024-03-18 20:00:00 | 1018.000000
    2024-03-18 21:00:00 | 1017.500000
    """

    def __init__(
        self,
        *,
        max_points: int = 1_000_000,
        max_concurrent: int = 4,
        latency: float = 0.0,
        row_time: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        from ._registry import Registry

        self.max_points = int(max_points)
        self.max_concurrent = int(max_concurrent)
        self.latency = float(latency)
        self.row_time = float(row_time)
        self._o2a_lock = threading.Lock()
        self._sensors: dict[str, Sensor] = {}
        self._range_faults: list[_RangeFault] = []
        self._in_progress = 0
        self.registry: Registry = Registry()
        self.route("GET", DATA + "/sensors", self._o2a_call(self._sensors_answer))
        self.route("GET", DATA + "/data", self._o2a_call(self._data_answer))

    # -- addresses ----------------------------------------------------------------- #

    @property
    def data_url(self) -> str:
        """Base of the emulated data service, ``<base_url>/data/rest``.

        It stands for ``https://dashboard.awi.de/data/rest``: give it to a client
        as its base URL, or set ``AWIML_O2A_URL`` to it.
        """
        return self.base_url + DATA

    @property
    def registry_url(self) -> str:
        """Base of the emulated registry, ``<base_url>/registry/rest/v2``.

        It stands for ``https://registry.o2a-data.de/rest/v2`` (``AWIML_O2A_REGISTRY_URL``).
        """
        return self.base_url + REGISTRY

    def __repr__(self) -> str:
        state = super().base_url if self.running else "stopped"
        return f"<O2AServer {state}, {len(self._sensors)} sensors>"

    # -- content -------------------------------------------------------------------- #

    def add_sensor(
        self,
        code: str,
        unit: str = "",
        first: str | datetime = "2015-01-01T00:00:00",
        last: str | datetime = "2024-12-31T23:59:59",
        *,
        level: float = 0.0,
        annual: float = 1.0,
        daily: float = 0.5,
        noise: float = 0.1,
        ident: int | None = None,
        platform_id: int = 0,
    ) -> None:
        """Serve a sensor with a synthetic 1-second series.

        The value at second ``t`` is ``level`` plus a yearly and a daily sinusoid of
        amplitudes ``annual`` and ``daily``, a tide of a third of ``daily`` and
        noise-like short sinusoids of about ``noise``, with phases drawn from the
        code: the same in every run.

        Parameters
        ----------
        code : str
            The sensor's code, e.g. ``"vessel:polarstern:tsg:temperature"``; stored
            lower-cased, matched case-insensitively.
        unit : str, optional
            Its unit as the data service prints it (``"°C"``); empty for none.
        first, last : str or datetime, optional
            The first and last second with data (``YYYY-MM-DDTHH:MM:SS``, UTC).
        level, annual, daily, noise : float, optional
            The signal (see above).
        ident : int, optional
            The sensor's ``id`` in ``/sensors``; the next free one by default.
        platform_id : int, optional
            Its ``platformId``.

        Examples
        --------
        >>> import requests
        >>> with O2AServer() as o2a:
        ...     o2a.add_sensor("vessel:test:ctd:temperature", "°C", level=4.0)
        ...     found = requests.get(o2a.data_url + "/sensors",
        ...                          params={"pattern": "vessel:test:*"}, timeout=5).json()
        >>> found[0]["code"], found[0]["unit"], found[0]["firstDate"]
        ('vessel:test:ctd:temperature', '°C', '2015-01-01T00:00:00')
        """
        from ._series import Signal

        signal = Signal.synthetic(code.lower(), level, annual, daily, noise)
        self._add(code, unit, first, last, signal, (), ident=ident, platform_id=platform_id)

    def _add(
        self,
        code: str,
        unit: str,
        first: str | datetime,
        last: str | datetime,
        signal: Any,
        windows: Sequence[Any],
        *,
        ident: int | None = None,
        platform_id: int = 0,
        entry: dict[str, Any] | None = None,
    ) -> None:
        from ._series import Sensor

        key = code.strip().lower()
        if not re.fullmatch(r"[a-z0-9_.\-]+(?::[a-z0-9_.\-]+)+(?:\$nrt)?", key):
            raise ValueError(
                f"{code!r} is not a sensor code such as vessel:heincke:dwd:air_pressure"
            )
        start, end = _seconds(first, "first"), _seconds(last, "last")
        if end < start:
            raise ValueError(f"last ({last}) lies before first ({first})")
        with self._o2a_lock:
            if ident is None:
                ident = 1 + max((s.entry["id"] for s in self._sensors.values()), default=0)
            base = {"id": ident, "code": key, "logicalCode": key, "sensor": key, "unit": unit,
                    "platformId": platform_id, "firstDate": _iso(start), "lastDate": _iso(end),
                    "lastValue": None, "lastQualityFlag": None, "source": "NRT"}
            base.update(entry or {})
            self._sensors[key] = Sensor(key, unit, start, end, signal, tuple(windows), base)

    def add_sample_data(self) -> None:
        """Serve awiml's sample sensors and registry items.

        Sensors: the Heincke weather station (``vessel:heincke:dwd:air_temperature``
        and ``:air_pressure``, with the real hourly means of 2024-03-18T20:00 to
        2024-03-19T09:00), the nine sensors of the AWIPEV underwater CTD
        ``station:svluwobs:svluw2:ctd_181:*`` (real hourly means of temperature and
        pressure on 2018-10-01 00:00 to 04:00), the Polarstern thermosalinograph
        (``vessel:polarstern:tsg:temperature`` and ``:salinity``, following the
        real PANGAEA series of cruise PS103, doi:10.1594/PANGAEA.889513, from
        2016-12-16T18:20 to 2017-01-30T18:10) and the Mya II optode
        ``vessel:mya_ii:fb_741202:optode_9999a:*`` (real registry item 560).
        Registry: those devices, their platforms, and the real Mya II items.

        Examples
        --------
        >>> with O2AServer() as o2a:
        ...     o2a.add_sample_data()
        ...     len(o2a.sensor_codes())
        18
        """
        from ._registry import sample_registry
        from ._sample import sample_sensors

        registry, _ = sample_registry()
        for code, unit, first, last, signal, windows, entry in sample_sensors():
            self._add(code, unit, first, last, signal, windows, entry=entry)
        with self.registry._lock, registry._lock:
            self.registry.items.update(registry.items)
            self.registry.parts.update(registry.parts)

    def sensor_codes(self) -> list[str]:
        """Return the codes of the sensors served, in the order they were added.

        Returns
        -------
        list of str
        """
        with self._o2a_lock:
            return list(self._sensors)

    # -- faults --------------------------------------------------------------------- #

    def fail_range(
        self,
        start: str | datetime,
        end: str | datetime,
        fault: Fault,
        times: int | None = 1,
    ) -> None:
        """Apply ``fault`` to the next data requests whose time range overlaps ``[start, end]``.

        Parameters
        ----------
        start, end : str or datetime
            The range (``YYYY-MM-DDTHH:MM:SS``, UTC), both ends inclusive.
        fault : Fault
            What to do, as for :meth:`~awiml.testing.FileServer.inject`.
        times : int or None, optional
            How many requests it applies to; ``None``: every one, for good (until
            :meth:`~awiml.testing.FileServer.clear_faults`).

        Examples
        --------
        >>> import requests
        >>> from awiml.testing import Fault
        >>> with O2AServer() as o2a:
        ...     o2a.add_sample_data()
        ...     o2a.fail_range("2024-03-19T00:00:00", "2024-03-19T23:59:59", Fault.status(503))
        ...     url = o2a.data_url + "/data"
        ...     query = {"sensors": "vessel:heincke:dwd:air_pressure",
        ...              "beginDate": "2024-03-18T22:00:00", "endDate": "2024-03-19T01:00:00"}
        ...     first = requests.get(url, params=query, timeout=5).status_code
        ...     again = requests.get(url, params=query, timeout=5).status_code
        >>> first, again
        (503, 200)
        """
        if not isinstance(fault, Fault):
            raise TypeError("fault must be a Fault; build one with Fault.status(...) etc.")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times!r}")
        lo, hi = _seconds(start, "start"), _seconds(end, "end")
        if hi < lo:
            raise ValueError(f"end ({end}) lies before start ({start})")
        with self._o2a_lock:
            self._range_faults.append(_RangeFault(lo, hi, fault, times))

    def clear_faults(self) -> None:
        """Forget every fault not yet used up, those of :meth:`fail_range` too."""
        super().clear_faults()
        with self._o2a_lock:
            self._range_faults.clear()

    def _fault_for(self, record: RequestRecord) -> Fault | None:
        if record.path == DATA + "/data" and self._range_faults:
            try:
                lo = _seconds(query_param(record, "beginDate") or "", "beginDate")
                hi = _seconds(query_param(record, "endDate") or "", "endDate")
            except ValueError:
                lo = hi = None
            if lo is not None and hi is not None:
                with self._o2a_lock:
                    for index, pending in enumerate(self._range_faults):
                        if lo <= pending.end and pending.start <= hi:
                            if pending.remaining is not None:
                                pending.remaining -= 1
                                if pending.remaining <= 0:
                                    del self._range_faults[index]
                            return pending.fault
        return super()._fault_for(record)

    # -- routing -------------------------------------------------------------------- #

    def _o2a_call(
        self, func: Callable[..., Response], **params: str
    ) -> Callable[[RequestRecord], Response]:
        def call(request: RequestRecord) -> Response:
            try:
                return func(request, **params)
            except RefusedRequest as error:
                if request.path.startswith(REGISTRY):
                    return Response.json({"message": error.detail}, error.status, error.headers)
                return Response(
                    error.status,
                    error.detail,
                    error.headers,
                    content_type="text/plain; charset=UTF-8",
                )

        return call

    def _find_route(
        self, method: str, path: str
    ) -> tuple[Callable[[RequestRecord], Response] | None, set[str]]:
        handler, allowed = super()._find_route(method, path)
        if handler is not None or allowed or not path.startswith(REGISTRY + "/"):
            return handler, allowed
        match = re.fullmatch(
            re.escape(REGISTRY) + r"/items(?:/(?P<ident>[^/]+)(?:/(?P<part>[^/]+))?)?/?", path
        )
        if match is None:
            return self._o2a_call(self._registry_not_found), set()
        if method not in ("GET", "HEAD"):
            return None, {"GET", "HEAD"}
        if match.group("ident") is None:
            return self._o2a_call(self._items_answer), {"GET", "HEAD"}
        params = {k: v for k, v in match.groupdict().items() if v is not None}
        return self._o2a_call(self._item_answer, **params), {"GET", "HEAD"}

    # -- the data service ------------------------------------------------------------ #

    def _sensors_answer(self, request: RequestRecord) -> Response:
        pattern = query_param(request, "pattern")
        if pattern is None or not pattern.strip():
            raise RefusedRequest(400, "missing query parameter: pattern")
        regex = re.compile(fnmatch.translate(pattern.strip().lower().replace("[", "[[]")), re.S)
        with self._o2a_lock:
            sensors = [s for s in self._sensors.values() if regex.match(s.code)]
        return Response.json([self._entry(sensor) for sensor in sensors])

    def _entry(self, sensor: Sensor) -> dict[str, Any]:
        import numpy as np

        from ._series import quality_flags

        entry = dict(sensor.entry)
        if entry.get("lastValue") is None:
            last = np.array([sensor.last], dtype=np.int64)
            entry["lastValue"] = round(float(sensor.values(last)[0]), 6)
            entry["lastQualityFlag"] = int(quality_flags(sensor, last, 1)[0])
        return entry

    def _data_answer(self, request: RequestRecord) -> Response:
        import numpy as np

        from ._series import AGGREGATES, FUNCTIONS, aggregate, format_columns, quality_flags

        codes = request.query.get("sensors") or []
        if not codes or not all(code.strip() for code in codes):
            raise RefusedRequest(400, "missing query parameter: sensors")
        with self._o2a_lock:
            sensors = []
            for code in codes:
                sensor = self._sensors.get(code.strip().lower())
                if sensor is None:
                    raise RefusedRequest(400, f"unknown sensor: {code}")
                sensors.append(sensor)
        begin, end = (self._date_param(request, name) for name in ("beginDate", "endDate"))
        if begin > end:
            raise RefusedRequest(400, f"beginDate ({_iso(begin)}) is after endDate ({_iso(end)})")
        name = (query_param(request, "aggregate") or "hour").strip().lower()
        if name not in AGGREGATES:
            raise RefusedRequest(
                400, f"unknown aggregate: {name} (known: {', '.join(AGGREGATES)})"
            )
        width = AGGREGATES[name]
        functions = [f.strip().upper() for f in request.query.get("aggregateFunctions") or []]
        functions = functions or ["MEAN"]
        for function in functions:
            if function not in FUNCTIONS:
                raise RefusedRequest(
                    400, f"unknown aggregate function: {function} (known: {', '.join(FUNCTIONS)})"
                )
        answer_format = (query_param(request, "format") or _TSV).strip().lower()
        if answer_format not in (_TSV, _JSON):
            raise RefusedRequest(400, f"unknown format: {answer_format} (known: {_TSV}, {_JSON})")
        flags_text = (query_param(request, "withQualityFlags") or "false").strip().lower()
        if flags_text not in ("true", "false"):
            raise RefusedRequest(400, f"withQualityFlags must be true or false, not {flags_text}")
        with_flags = flags_text == "true"

        spans = _label_spans(sensors, begin, end, width)
        rows = sum((hi - lo) // width + 1 for lo, hi in spans)
        columns = len(sensors) * len(functions)
        if rows * columns > self.max_points:
            raise RefusedRequest(
                413,
                f"request too large: {rows * columns} rows x columns exceed the limit of "
                f"{self.max_points}",
            )
        with self._o2a_lock:
            if self._in_progress >= self.max_concurrent:
                busy = True
            else:
                busy = False
                self._in_progress += 1
        if busy:
            raise RefusedRequest(
                429,
                f"too many requests: more than {self.max_concurrent} data requests at once",
                {"Retry-After": "1"},
            )
        try:
            labels = (
                np.concatenate([np.arange(lo, hi + 1, width, dtype=np.int64) for lo, hi in spans])
                if spans
                else np.zeros(0, dtype=np.int64)
            )
            header = ["datetime"]
            table: list[tuple[np.ndarray, int]] = []
            for sensor in sensors:
                flags = quality_flags(sensor, labels, width) if with_flags else None
                for function in functions:
                    label = f"{sensor.code} ({function.lower()}) [{sensor.unit}]"
                    header.append(label)
                    decimals = 0 if function == "COUNT" else 6
                    table.append((aggregate(sensor, labels, width, function), decimals))
                    if flags is not None:
                        header.append(f"{label} (quality_flag)")
                        table.append((np.where(flags >= 0, flags, np.nan), 0))
            if answer_format == _JSON:
                body = _json_table(labels, header, table)
            else:
                body = format_columns(labels, table, "\t".join(header))
            wait = self.latency + len(labels) * self.row_time
            if wait > 0:
                self._stop_event.wait(wait)
        finally:
            with self._o2a_lock:
                self._in_progress -= 1
        content_type = f"{answer_format}; charset=UTF-8"
        return Response(200, body, content_type=content_type)

    @staticmethod
    def _date_param(request: RequestRecord, name: str) -> int:
        value = query_param(request, name)
        if value is None or not value.strip():
            raise RefusedRequest(400, f"missing query parameter: {name}")
        try:
            return _seconds(value, name)
        except ValueError as error:
            raise RefusedRequest(400, f"bad date: {error}") from None

    # -- the registry ---------------------------------------------------------------- #

    def _paged(self, request: RequestRecord, records: list[Any]) -> Response:
        from ._registry import serialise

        offset = int_query_param(request, "offset", 0, status=400) or 0
        hits = int_query_param(request, "hits", _DEFAULT_HITS, status=400)
        hits = min(_DEFAULT_HITS if hits is None else hits, _MAX_HITS)
        page = records[offset : offset + hits]
        return Response.json(serialise({"totalRecords": len(records), "records": page}))

    def _items_answer(self, request: RequestRecord) -> Response:
        return self._paged(request, self.registry.find(query_param(request, "where")))

    def _item_answer(self, request: RequestRecord, ident: str, part: str | None = None) -> Response:
        from ._registry import serialise

        if not re.fullmatch(r"\d{1,18}", ident):
            raise RefusedRequest(400, f"item id must be an integer, got {ident!r}")
        item = self.registry.item(int(ident))
        if item is None:
            raise RefusedRequest(404, f"item {ident} not found")
        if part is None:
            return Response.json(serialise(item))
        if part not in ("parameters", "events", "contacts"):
            raise RefusedRequest(404, f"unknown resource /items/{ident}/{part}")
        return self._paged(request, self.registry.part(int(ident), part))

    def _registry_not_found(self, request: RequestRecord) -> Response:
        raise RefusedRequest(404, f"no such resource: {request.path}")


def _label_spans(
    sensors: Iterable[Sensor], begin: int, end: int, width: int
) -> list[tuple[int, int]]:
    """Return the bin labels to answer, as merged inclusive ``(first, last)`` label ranges.

    A label is answered when it lies in ``[begin, end]`` and its bin holds a second of
    at least one sensor's ``first..last``.
    """
    first_label = -(-begin // width) * width
    last_label = end // width * width
    spans = []
    for sensor in sensors:
        lo = max(first_label, sensor.first // width * width)
        hi = min(last_label, sensor.last // width * width)
        if lo <= hi:
            spans.append((lo, hi))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + width:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _json_table(labels: np.ndarray, header: list[str], table: list[tuple[np.ndarray, int]]) -> str:
    """Return the ``format=application/json`` answer ``{"data": [...], "header": [...]}``."""
    import numpy as np

    stamps = np.datetime_as_string(labels.astype("datetime64[s]"), unit="s")
    columns = []
    for values, decimals in table:
        rounded = np.round(values, decimals)
        columns.append(
            [None if v != v else (int(v) if decimals == 0 else v) for v in rounded.tolist()]
        )
    cells = zip(stamps.tolist(), *columns, strict=True)
    rows = [[stamp.replace("T", " "), *values] for stamp, *values in cells]
    return json.dumps({"data": rows, "header": header})

