"""Loopback servers for offline tests.

This package holds real HTTP servers (and one SSH server) that listen on ``127.0.0.1`` only, so
awiml's own tests, and the tests of anybody who builds on awiml, can exercise
downloads without a network: streaming, HTTP ``Range`` resumption, retries,
``Retry-After``, size and checksum checks, authentication, and dynamic API
routes.

* :class:`FileServer` serves files and byte strings, records every request and
  misbehaves on demand.
* :class:`Fault` describes one misbehaviour (an error status, a dropped
  connection, a stall, a wrong ``Content-Length``, a corrupted byte, ...).
* :class:`Response` is what a dynamic route handler returns.
* :class:`RequestRecord` is one request as the server saw it.
* :class:`ArchiveEmulator` is the base of the archive emulators: a
  :class:`FileServer` whose ``base_url`` outlives :meth:`~FileServer.stop`.
* :class:`PangaeaServer` emulates PANGAEA's web services (DOI content
  negotiation, search, linked files, and the one Elasticsearch request awiml
  sends) on top of :class:`FileServer`.
* :class:`EcotaxaServer` emulates EcoTaxa's REST API (login, projects,
  object queries, the image vault, export jobs and their zips) on top of
  :class:`FileServer`.
* :class:`O2AServer` emulates AWI's O2A sensor data web service (sensor search,
  aggregated series as tab-separated text or JSON, size and concurrency limits)
  and the O2A registry (items, parameters, events, contacts, ``@uuid``
  back-references) on top of :class:`FileServer`.
* :class:`HSMServer` emulates AWI's HSM tape archive: a real SSH server
  (asyncssh) with SFTP, ``sls -D`` and ``stage``, files offline on tape
  volumes until staged, and :class:`HSMFault` for its misbehaviours.

Installing awiml also registers a pytest plugin (:mod:`awiml.testing.plugin`)
that provides the ``awiml_file_server``, ``awiml_pangaea_server``,
``awiml_ecotaxa_server``, ``awiml_o2a_server`` and ``awiml_hsm_server`` fixtures.

No fetching or modelling code of awiml imports this package (only the offline
demo, :mod:`awiml.demo`, uses it as its stand-in archive). Names resolve
lazily: the file server needs only the standard library and werkzeug, the
archive emulators load what they need when first used (``HSMServer``:
asyncssh).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["ecotaxa", "hsm", "o2a", "pangaea", "plugin", "server"],
    submod_attrs={
        "server": ["ArchiveEmulator", "Fault", "FileServer", "RequestRecord", "Response"],
        "pangaea": ["PangaeaServer"],
        "ecotaxa": ["EcotaxaServer"],
        "o2a": ["O2AServer"],
        "hsm": ["HSMFault", "HSMServer"],
    },
)
