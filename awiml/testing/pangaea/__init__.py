r"""A loopback PANGAEA: datasets, metadata, search and linked files on one local server.

:class:`PangaeaServer` is a :class:`~awiml.testing.FileServer` that answers the
requests PANGAEA's clients (awiml's ``PangaeaSource``, pangaeapy, your own code)
send to PANGAEA's hosts, with PANGAEA's paths kept and every host mapped onto
the one loopback server:

* ``https://doi.pangaea.de/10.1594/PANGAEA.<id>`` is ``/10.1594/PANGAEA.<id>``
  (content negotiation: text, panmd metadata, citation, landing page, zip);
* ``https://download.pangaea.de/dataset/<id>/files/<name>`` (linked files) is
  ``/dataset/<id>/files/<name>``;
* ``https://www.pangaea.de/advanced/search.php`` is ``/advanced/search.php``;
* ``https://ws.pangaea.de/es/pangaea/panmd/_search`` (Elasticsearch) is
  ``/es/pangaea/panmd/_search``, for the one request awiml sends there.

Because it is a :class:`FileServer`, it records every request
(:attr:`~FileServer.requests`), and :meth:`~FileServer.inject` makes any of
these paths misbehave: ``Fault.too_many_requests(...)`` for PANGAEA's rate
limit, ``Fault.status(503, headers={"Retry-After": "1"})`` for a dataset being
recalled from tape, dropped connections, stalls...

What the emulator assumes about PANGAEA
---------------------------------------
Where PANGAEA's behaviour is not documented, the emulator follows what its
public clients expect (pangaeapy, pangaear) and says so here.

* ``/10.1594/PANGAEA.<id>`` negotiates on ``Accept``:
  ``text/tab-separated-values`` gives the text export (``Content-Type:
  text/tab-separated-values;charset=UTF-8``); ``application/vnd.pangaea.metadata+xml``
  the panmd record; ``text/x-bibliography`` the citation (sent as
  ``text/plain;charset=UTF-8``); anything else, or no ``Accept``, an HTML
  landing page. ``?format=textfile`` gives the text, ``?format=zip`` a zip
  archive (a collection's: one ``<child id>.tab`` per registered child with a
  table; a dataset's: its own ``<id>.tab``), ``?format=citation_text`` the
  citation and ``?format=html`` the landing page; other ``format`` values get
  ``400``. Every reply carries ``Last-Modified`` (the dataset's stamp) and
  honours ``If-Modified-Since`` and, for the text, ``If-None-Match`` with
  ``304``.
* A dataset without a table (metadata only, or a collection) asked for its
  text answers ``406 Not Acceptable``, as pangaeapy expects ("no tabular data
  available"). Unknown ids answer ``404``.
* Restricted datasets (panmd ``loginOption`` other than ``unrestricted``): the
  text, the zip and the linked files need ``Authorization: Bearer <token>``
  with the server's ``token``; without it, or with another token, the answer is
  ``401`` with ``WWW-Authenticate: Bearer realm="PANGAEA"`` (plus
  ``error="invalid_token"`` when a token was sent). Metadata, citation and
  landing page stay public, as on PANGAEA.
* ``search.php`` answers JSON ``{"totalCount": N, "results": [{"URI":
  "doi:10.1594/PANGAEA.<id>", "score": float, "html": "..."}]}``; the
  ``html`` snippet states the size in a table cell, so a collection's reads
  ``>3 datasets<`` (what pangaeapy's ``PanQuery`` looks for). Every term of
  ``q`` must occur (case-insensitively) in the title, citation, abstract,
  keywords or parameter names; ``field:value`` narrows a term to
  ``citation``, ``reference``, ``parameter``, ``event``, ``project``,
  ``campaign``, ``basis``, ``method``/``device`` or ``location`` (the fields
  of PANGAEA's search syntax); quotes keep phrases together; an empty ``q``
  or ``*`` matches every dataset. ``minlat``/``maxlat``/``minlon``/``maxlon``
  keep datasets whose coverage box intersects the box (``minlon > maxlon``
  crosses the date line); ``mindate``/``maxdate`` keep datasets whose time
  coverage overlaps. Order: score, then id. ``count`` defaults to 10 and is
  capped at :attr:`PangaeaServer.max_search_count` (500; pangaeapy documents
  500 as PANGAEA's maximum, and a larger ``count`` is assumed to be capped
  rather than refused, so clients must page by ``totalCount``).
* The Elasticsearch endpoint emulates **only the request awiml sends** (to
  learn which search hits are restricted): ``GET
  /es/pangaea/panmd/_search?q=sf-idDataSet:<id> sf-idDataSet:<id>
  ...&size=<n>&_source=sf-idDataSet,sp-loginOption,nDataPoints`` (``size``
  defaults to 10; ``_source`` may name fewer of those fields). It answers in
  Elasticsearch 7's shape (``hits.total`` is ``{"value": N, "relation":
  "eq"}``), one hit per registered id, ascending, with those ``_source``
  fields under the real index's names: ``sf-idDataSet``, ``sp-loginOption``
  (an **integer**, panmd's ``loginOption_num``: 1 unrestricted, 3 access
  rights needed) and ``nDataPoints`` (when the metadata states the size in
  data points). Any other request (other query syntax, other parameters or
  fields, ``POST`` with the query DSL) gets ``400`` with an Elasticsearch
  error whose ``reason`` and ``supported`` name the one request it answers.
* Linked files are served with ``ETag``, ``Last-Modified``, single ``Range``
  requests, ``If-Range`` and ``304`` (:mod:`awiml.testing._http`); those of
  restricted datasets go through a route that checks the token first.

Examples
--------
>>> import requests
>>> from awiml.testing.pangaea import PangaeaServer
>>> with PangaeaServer(token="s3cret-token") as pangaea:
...     meta = pangaea.add_sample_data()
...     reply = requests.get(
...         pangaea.endpoints["doi"] + "/10.1594/PANGAEA.889513",
...         headers={"Accept": "text/tab-separated-values"},
...         timeout=5,
...     )
...     found = requests.get(pangaea.endpoints["search"], params={"q": "PS103"}, timeout=5)
>>> reply.status_code, reply.text[:20]
(200, '/* DATA DESCRIPTION:')
>>> found.json()["totalCount"], found.json()["results"][0]["URI"]
(1, 'doi:10.1594/PANGAEA.889513')
"""

from .server import PangaeaServer

__all__ = ["PangaeaServer"]
