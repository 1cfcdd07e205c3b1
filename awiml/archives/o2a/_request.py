"""One extract of the O2A data web service: sensors, time range, aggregation, functions.

:class:`ExtractRequest` is what a call of ``PlatformSource.read`` and an
``o2a://`` URL name; it checks its parts once, so everything downstream (time
chunks, cache keys, the manifest, the request URL) works on clean values.

Assumptions about the service (``GET /data``), from its public documentation and
answers: ``beginDate`` and ``endDate`` are written ``YYYY-MM-DDTHH:MM:SS`` in UTC
and both are inclusive; an aggregated row is labelled with the start of its bin;
``aggregate`` is one of ``second``, ``minute``, ``hour``, ``day`` (the service's
default is ``hour``); ``aggregateFunctions`` repeats like ``sensors`` and takes
``MEAN``, ``MIN``, ``MAX``, ``MEDIAN``, ``STD``, ``COUNT``. The service's times
have whole seconds, so a fractional second is refused rather than rounded.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ...errors import InvalidDataError
from ._codes import parse_code

if TYPE_CHECKING:
    import pandas as pd
    import requests

#: Aggregation intervals the data service accepts, shortest first.
AGGREGATES = ("second", "minute", "hour", "day")
#: Their length in seconds.
AGGREGATE_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
#: The service's default aggregation.
DEFAULT_AGGREGATE = "hour"
#: Aggregate functions the data service accepts (sent upper-case).
FUNCTIONS = ("mean", "min", "max", "median", "std", "count")
#: How the service's query writes a time.
QUERY_TIME = "%Y-%m-%dT%H:%M:%S"
#: The media type of the tab-separated answer awiml reads.
TSV = "text/tab-separated-values"


@dataclass(frozen=True)
class ExtractRequest:
    """A checked request for sensor data.

    Build it with :meth:`build`, which accepts what users write; the fields
    hold the normalised values.

    Attributes
    ----------
    codes : tuple of str
        Sensor codes, lower-case, in request order, without repeats.
    start, end : pandas.Timestamp
        First and last time asked for, both included, UTC, whole seconds.
    aggregate : str
        One of :data:`AGGREGATES`.
    functions : tuple of str
        Lower-case names from :data:`FUNCTIONS`, in request order.
    quality_flags : bool
        Whether the quality flag of every value is asked for.
    """

    codes: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    aggregate: str = DEFAULT_AGGREGATE
    functions: tuple[str, ...] = ("mean",)
    quality_flags: bool = False

    @classmethod
    def build(
        cls,
        codes: str | Iterable[str],
        start: Any,
        end: Any,
        *,
        aggregate: str | None = None,
        functions: str | Iterable[str] = ("mean",),
        quality_flags: bool = False,
    ) -> ExtractRequest:
        """Check and normalise a request as users write it.

        Parameters
        ----------
        codes : str or iterable of str
            One sensor code or several.
        start, end : str, datetime.datetime, datetime.date or pandas.Timestamp
            Both included. A time without a zone is taken as UTC; one with a
            zone is converted to UTC. A date alone means its midnight.
        aggregate : str, optional
            ``"second"``, ``"minute"``, ``"hour"`` or ``"day"``; ``None`` means
            the service's default, ``"hour"``, recorded explicitly.
        functions : str or iterable of str, optional
            Aggregate functions, any case.
        quality_flags : bool, optional
            Ask for quality flags too.

        Returns
        -------
        ExtractRequest

        Raises
        ------
        InvalidDataError
            For a malformed code, time, aggregation or function, no codes or no
            functions, or a start after the end.

        Examples
        --------
        >>> request = ExtractRequest.build(
        ...     "vessel:polarstern:tsg:temperature", "2016-12-16", "2016-12-17T12:00",
        ...     functions=["MEAN", "max"])
        >>> request.start, request.aggregate, request.functions
        (Timestamp('2016-12-16 00:00:00+0000', tz='UTC'), 'hour', ('mean', 'max'))
        """
        names = _as_tuple(codes, "codes")
        if not names:
            raise InvalidDataError("no sensor code given: pass at least one, e.g. "
                                   "'vessel:polarstern:tsg:temperature'")
        checked = tuple(dict.fromkeys(str(parse_code(code)) for code in names))
        first = parse_time(start, "start")
        last = parse_time(end, "end")
        if first > last:
            raise InvalidDataError(
                f"start {first:%Y-%m-%dT%H:%M:%S} is after end {last:%Y-%m-%dT%H:%M:%S} "
                "(UTC): swap them."
            )
        step = DEFAULT_AGGREGATE if aggregate is None else str(aggregate).strip().lower()
        if step not in AGGREGATES:
            raise InvalidDataError(
                f"aggregate={aggregate!r} is not offered by the O2A data service: use one of "
                f"{', '.join(AGGREGATES)} (or None for its default, hourly)."
            )
        wanted = tuple(dict.fromkeys(f.strip().lower() for f in _as_tuple(functions, "functions")))
        unknown = [f for f in wanted if f not in FUNCTIONS]
        if unknown or not wanted:
            raise InvalidDataError(
                f"aggregate function(s) {', '.join(map(repr, unknown)) or 'none'} not offered "
                f"by the O2A data service: use one or more of {', '.join(FUNCTIONS)}."
            )
        return cls(checked, first, last, step, wanted, bool(quality_flags))

    def params(
        self, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> list[tuple[str, str]]:
        """Return the query of ``GET /data`` for this request or a time slice of it.

        Parameters
        ----------
        start, end : pandas.Timestamp, optional
            A slice of the request's range; the whole range by default.

        Returns
        -------
        list of (str, str)
            In the service's order; ``sensors`` and ``aggregateFunctions`` repeat.
        """
        first = self.start if start is None else start
        last = self.end if end is None else end
        query = [("sensors", code) for code in self.codes]
        query += [
            ("beginDate", first.strftime(QUERY_TIME)),
            ("endDate", last.strftime(QUERY_TIME)),
            ("aggregate", self.aggregate),
        ]
        query += [("aggregateFunctions", f.upper()) for f in self.functions]
        query += [
            ("format", TSV),
            ("withQualityFlags", "true" if self.quality_flags else "false"),
            ("streamit", "true"),
        ]
        return query

    def url(self, base_url: str) -> str:
        """Return the one ``GET /data`` URL that asks for the whole extract.

        Parameters
        ----------
        base_url : str
            The data service, e.g. ``https://dashboard.awi.de/data/rest``.

        Returns
        -------
        str

        Examples
        --------
        >>> request = ExtractRequest.build("vessel:heincke:dwd:air_pressure",
        ...                                "2024-03-18T20:00", "2024-03-19T09:00")
        >>> print(request.url("https://dashboard.awi.de/data/rest"))  # doctest: +ELLIPSIS
        https://dashboard.awi.de/data/rest/data?sensors=vessel%3Aheincke%3Adwd%3Aair_pressure&...
        """
        return f"{base_url.rstrip('/')}/data?{urlencode(self.params())}"

    @property
    def columns(self) -> int:
        """Value columns of the answer (flag columns not counted)."""
        return len(self.codes) * len(self.functions)

    def describe(self) -> str:
        """Say what is asked for, for messages: codes, range, aggregation, functions."""
        codes = ", ".join(self.codes)
        return (f"{codes} from {self.start:%Y-%m-%dT%H:%M:%S} to {self.end:%Y-%m-%dT%H:%M:%S} "
                f"UTC ({self.aggregate} {'/'.join(self.functions)})")


def _as_tuple(value: str | Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise InvalidDataError(f"{name} must be a str or a list of str, not "
                               f"{type(value).__name__}") from None
    for item in items:
        if not isinstance(item, str):
            raise InvalidDataError(f"{name} must hold str, not {type(item).__name__} ({item!r})")
    return items


def parse_time(value: Any, name: str) -> pd.Timestamp:
    """Turn a user's time into a UTC :class:`pandas.Timestamp` with whole seconds.

    Parameters
    ----------
    value : str, datetime.datetime, datetime.date, numpy.datetime64 or pandas.Timestamp
        Naive times are UTC; aware ones are converted.
    name : str
        The argument's name, for messages.

    Returns
    -------
    pandas.Timestamp

    Raises
    ------
    InvalidDataError
        For an unreadable value, a missing one, or one with a fraction of a second.

    Examples
    --------
    >>> parse_time("2017-01-30T18:10:00+01:00", "end")
    Timestamp('2017-01-30 17:10:00+0000', tz='UTC')
    """
    import pandas as pd

    if isinstance(value, bool) or value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ):
        raise InvalidDataError(
            f"{name}={value!r} is not a time: give an ISO string such as "
            "'2016-12-16T00:00:00', a datetime or a pandas Timestamp (UTC)."
        )
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    try:
        stamp = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidDataError(
            f"{name}={value!r} is not a time ({exc}): give an ISO string such as "
            "'2016-12-16T00:00:00', a datetime or a pandas Timestamp (UTC)."
        ) from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise InvalidDataError(f"{name} is missing (NaT): give a time.")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp != stamp.floor("s"):
        raise InvalidDataError(
            f"{name}={value!r} has a fraction of a second; the O2A data service takes whole "
            f"seconds: use {stamp.floor('s'):%Y-%m-%dT%H:%M:%S} or "
            f"{stamp.ceil('s'):%Y-%m-%dT%H:%M:%S}."
        )
    if not 1 <= stamp.year <= 9999:
        raise InvalidDataError(f"{name}={value!r} is outside the years 1..9999.")
    return stamp


def refusal_detail(response: requests.Response) -> str:
    """Return the first line of a refusal's body, for messages (bounded, no markup)."""
    try:
        text = response.text
    except (ValueError, RuntimeError):
        return ""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if not line or line.startswith("<"):
        return ""
    return f": {line[:200]}"
