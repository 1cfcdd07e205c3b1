r"""A loopback O2A: AWI's sensor data web service and the O2A registry on one local server.

:class:`O2AServer` is a :class:`~awiml.testing.FileServer` that answers the
requests a client of AWI's O2A services sends, with each service under its own
path on the one loopback server:

* the data web service ``https://dashboard.awi.de/data/rest`` is
  ``/data/rest`` (:attr:`O2AServer.data_url`, for ``AWIML_O2A_URL``);
* the registry ``https://registry.o2a-data.de/rest/v2`` is
  ``/registry/rest/v2`` (:attr:`O2AServer.registry_url`, for
  ``AWIML_O2A_REGISTRY_URL``).

Because it is a :class:`FileServer`, it records every request
(:attr:`~FileServer.requests`) and :meth:`~FileServer.inject` makes any path
misbehave, e.g. ``server.inject("data/rest/data", Fault.drop_after(100))``;
:meth:`O2AServer.fail_range` makes the data requests that overlap a time range
fail (a chunk of a long read).

Data service routes
-------------------
* ``GET /sensors?pattern=<code with * wildcards>`` answers a JSON list of
  ``{id, code, logicalCode, sensor, unit, platformId, firstDate, lastDate,
  lastValue, lastQualityFlag, source}`` (dates ``YYYY-MM-DDTHH:MM:SS``, UTC,
  without a zone). Matching is case-insensitive and ``*`` matches any run of
  characters, ``:`` included; no match answers ``[]``; a missing or blank
  ``pattern`` answers ``400``.
* ``GET /data?sensors=<code>&sensors=<code2>&beginDate=&endDate=&aggregate=
  &aggregateFunctions=MEAN&aggregateFunctions=MAX...&format=&withQualityFlags=
  &streamit=true`` answers the sensors' aggregated series:

  - ``beginDate`` and ``endDate`` (``YYYY-MM-DDTHH:MM:SS``, UTC) are both
    required and both inclusive. Bins are labelled with their start (the hour
    bin ``13:00:00`` covers ``[13:00:00, 14:00:00)``); a bin is answered when
    its label lies in ``[beginDate, endDate]`` and it holds a second of at
    least one requested sensor's ``firstDate..lastDate``. Its value covers the
    whole bin, also when ``endDate`` cuts it.
  - ``aggregate``: ``second``, ``minute``, ``hour`` (the default) or ``day``
    (bins start at midnight UTC); ``aggregateFunctions``: ``MEAN`` (the
    default), ``MIN``, ``MAX``, ``MEDIAN``, ``STD`` (the sample standard
    deviation, empty for one second), ``COUNT`` (seconds with a value, printed
    as an integer); both case-insensitive; ``withQualityFlags``: ``true`` or
    ``false`` (the default); ``format``: ``text/tab-separated-values`` (the
    default) or ``application/json``; ``streamit`` and ``withLogicalCode``
    are accepted and ignored.
  - The tab-separated answer (``Content-Type: text/tab-separated-values;
    charset=UTF-8``, LF line ends, a final LF) has the header
    ``datetime<TAB><code> (<function>) [<unit>]...``: one column per sensor
    and function in request order (sensor-major), the function in lower case,
    ``[]`` for a sensor without a unit. With ``withQualityFlags=true`` each
    value column is followed by its flag column ``<code> (<function>)
    [<unit>] (quality_flag)`` holding an integer 0..4 (0 not checked, 1 good,
    2 probably good, 3 probably bad, 4 bad; AWI's ingest format labels such a
    column ``<code> (quality_flag)``: clients should accept both). Rows are
    ``YYYY-MM-DD HH:MM:SS<TAB>value...`` in UTC, values with 6 decimals, a
    missing value an empty field. A range without rows answers the header only.
  - The JSON answer is ``{"data": [["YYYY-MM-DD HH:MM:SS", v1, ...], ...],
    "header": ["datetime", <labels>...]}`` with ``null`` for missing values.
  - Refusals are one line of plain text, as a Java web service sends them:
    ``400`` for a missing or unknown sensor (``unknown sensor: <code>``), a
    missing or malformed date, ``beginDate`` after ``endDate``, an unknown
    aggregate, function or format, a ``withQualityFlags`` that is neither
    ``true`` nor ``false``; ``413`` (``request too large: <n> rows x columns
    exceed the limit of <max_points>``) when rows times value columns exceed
    :attr:`O2AServer.max_points`; ``429`` with ``Retry-After: 1`` when
    :attr:`O2AServer.max_concurrent` data requests are already in progress.

Registry routes
---------------
* ``GET /items?where=<RSQL>&offset=&hits=`` answers ``{"totalRecords": n,
  "records": [...]}``, items ordered by id. The RSQL subset: ``code=LIKE=<pattern>``
  (``*`` wildcards, case-insensitive), ``code==<code>``, ``id==<n>``,
  ``parent.id==<n>``, joined with ``;`` (and); any other ``where`` answers
  ``400``. ``offset`` defaults to 0, ``hits`` to 10 (at most 10000).
* ``GET /items/{id}`` answers the item; ``GET /items/{id}/parameters``,
  ``/events`` and ``/contacts`` its parameters (name, shortName, unit with
  ``code`` and ``ucum``, type), deployments (startDate, endDate, latitude,
  longitude, label, type) and contacts (contact and role), paged like
  ``/items``. Unknown items and paths answer ``404`` with JSON
  ``{"message": "..."}``, as do refusals (``400``).
* Within one answer an object that occurs again (same ``@uuid``: a unit, a
  type, a status shared by several records) is sent whole the first time and
  afterwards as its uuid string only (Jackson's object identity); resolve them
  with ``awiml.archives.o2a._references.resolve_references``.

Settings
--------
:class:`O2AServer` takes, and lets you change while it runs,
``max_points`` (default 1,000,000), ``max_concurrent`` (default 4),
``latency`` (seconds per data request, default 0) and ``row_time`` (seconds
per answered row, default 0): a data request holds its concurrency slot for
``latency + rows * row_time`` seconds, so chunked concurrent clients can be
measured against serial ones.

The series
----------
Every sensor has one value per second in ``firstDate..lastDate``, a pure
function of (sensor, second): a synthetic signal (seasons, a day, a tide and
noise-like short sinusoids, with phases drawn from the code) except where real
data were recovered, so any sub-range of one request equals the same rows of a
longer one, byte for byte. Aggregates are computed from that 1-second series:
means in closed form (a few sines per bin, so a year of minute means of four
sensors takes about a second), the other functions from the seconds of each
bin (some 50 ns per second: a year of hourly maxima of one sensor takes one or
two seconds, a decade of daily ones some tens). The sample data
(:meth:`O2AServer.add_sample_data`):

* ``vessel:heincke:dwd:air_temperature`` [°C] and ``:air_pressure`` [hPa]: the
  real hourly means of 2024-03-18T20:00 to 2024-03-19T09:00 (held to
  ``lastDate``, 10:02:22); the real ``/sensors`` entry of ``air_pressure``;
* the nine ``station:svluwobs:svluw2:ctd_181:*`` sensors of the AWIPEV
  underwater observatory (ids, units and ``sensor`` fields of the 2018 sensor
  list), with the real hourly means of ``temperature`` and ``pressure`` on
  2018-10-01 00:00 to 04:00;
* ``vessel:polarstern:tsg:temperature`` [°C] and ``:salinity`` [PSU]
  (2015-01-01 to 2024-12-31), which follow the real PANGAEA series of cruise
  PS103 (doi:10.1594/PANGAEA.889513, bundled in ``awiml/data``) from
  2016-12-16T18:20 to 2017-01-30T18:10, interpolated to seconds with a little
  deterministic noise;
* ``vessel:mya_ii:fb_741202:optode_9999a:o2``, ``:saturation``, ``:o2_corr``,
  ``:saturation_qf`` and ``:temperature``: the parameters of the real registry
  item 560 (three recovered, ``o2`` and ``temperature`` plausible).

In the registry: the real item 560 with its real parameters and events, the
real sub-items of the vessel Mya II (item 456) and the real contact records;
plausible items (ids 9100 and up) for the Heincke station, the Polarstern
thermosalinograph, the AWIPEV CTD and their platforms, whose parameters share
their unit and type objects, so the answers carry uuid back-references.

What the emulator assumes about O2A
-----------------------------------
The services' limits and some of their behaviour are not published; the
emulator chooses, and says so here:

* the limits above (size, concurrency) and their answers (``413`` with a text
  line, ``429`` with ``Retry-After``); the real service's may differ. The real
  service counts concurrent requests per client address; on the loopback
  interface every client has the same address, so the emulator counts them all;
* every sensor has a value every second of its ``firstDate..lastDate`` (real
  sensors have gaps and other sampling rates: ``COUNT`` is the emulator's);
* a bin's value covers the whole bin even when ``endDate`` ends inside it;
* the flag of a bin is one deterministic draw per sensor and bin (mostly 1),
  0 in bins of recorded real rows; the registry's paging defaults (``hits``
  10) are assumed;
* the items the real answers do not show (platforms, the Heincke, Polarstern
  and AWIPEV devices, the objects that the real slices refer to by uuid only)
  are plausible inventions; uuids of invented objects are stable (uuid5).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submod_attrs={"server": ["O2AServer"]})
