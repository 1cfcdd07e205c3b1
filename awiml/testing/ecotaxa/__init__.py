r"""A loopback EcoTaxa: login, projects, object queries, the image vault and export jobs.

:class:`EcotaxaServer` is a :class:`~awiml.testing.FileServer` that answers the
REST API of EcoTaxa (https://ecotaxa.obs-vlfr.fr/api, a FastAPI application,
source ``ecotaxa/ecotaxa_back``) under ``/api`` on a loopback port, so a client
configured with ``base_url=server.api_url`` works offline. Because it is a
:class:`FileServer`, it records every request and
:meth:`~FileServer.inject` makes any path misbehave, e.g.
``server.inject("api/jobs/*/file", Fault.drop_after(1000))``.

Routes (all below ``/api``; errors are JSON ``{"detail": "..."}`` as FastAPI
sends them):

* ``POST /login`` with ``{"username", "password"}`` answers the token as a
  bare JSON string; wrong credentials get ``403``. There is no ``/token``
  route (``404``).
* ``GET /users/me`` describes the logged-in user (``401`` without a token).
* ``GET /projects/search?title_filter=&not_granted=`` lists projects:
  anonymous callers see the visible ones, logged-in users the visible ones
  plus those they are members of (``not_granted=true``: the visible ones they
  are not a member of). ``GET /projects/{projid}`` gives one project
  (``404`` unknown, ``403`` private and not a member).
* ``POST /object_set/{projid}/query?fields=&order_field=&window_start=&window_size=``
  with a JSON body of filters (``statusfilter``, ``taxo``, ``taxochild``,
  ``MapN``/``MapS``/``MapE``/``MapW``, ``depthmin``/``depthmax``,
  ``fromdate``/``todate``, ``month``, ``fromtime``/``totime``/``inverttime``,
  ``samples``, ``instrum``, ``freenum``/``freenumst``/``freenumend``,
  ``freetxt``/``freetxtval``; other keys are ignored) answers
  ``object_ids``, ``acquisition_ids``, ``sample_ids``, ``project_ids``,
  ``details`` (the requested fields, in request order) and ``total_ids``
  (all matches, ignoring the window). Unknown fields get ``422``;
  ``order_field`` may start with ``-`` for descending order.
* ``GET /taxa/search?query=`` and ``GET /taxon/{id}`` answer the taxonomy.
* ``GET /vault/NNNN/NNNN.jpg`` serves image bytes (no login; ranges).
* ``POST /object_set/export/general`` starts an export job (login needed);
  ``GET /jobs/{id}/`` polls it, ``GET /jobs/{id}/file`` downloads the zip
  (ranges, ``If-Range``), ``POST /jobs/{id}/answer`` answers a job waiting in
  state ``A``, ``GET /jobs/`` lists the caller's jobs and
  ``DELETE /jobs/{id}`` forgets one.

What the emulator assumes about EcoTaxa
---------------------------------------
* A job is created in state ``P``. Each ``GET /jobs/{id}/`` advances it: the
  first poll answers ``P`` ("Waiting for a slot"), the following ones ``R``
  with a rising ``progress_pct``, and poll number :attr:`EcotaxaServer.job_steps`
  answers the final state: ``F`` (``progress_pct`` 100, ``result`` with
  ``out_file`` and ``rowcount``), or what :meth:`EcotaxaServer.next_export_outcome`
  asked for: ``E`` with ``errors``, or ``A`` with a ``question``.
  ``job_steps=0`` finishes jobs when they are created.
* ``GET /jobs/{id}/file`` before ``F`` answers ``422``. Jobs belong to the
  user who started them: other users get ``403``, anonymous callers ``401``.
* Any logged-in user who may read a project may export it. The real
  EcoTaxa may ask for annotation or management rights (exports with images
  need management rights there).
* Filters act as in ``ecotaxa_back``'s ``ObjectSetFilter``: all values are
  strings; ``statusfilter`` is one of ``V``, ``P``, ``D``, ``U``
  (unclassified), ``NV`` (not validated), ``PV``, ``UP``, ``PVD`` (any
  status), ``VM``/``NVM`` (validated by / not by me: both keep every
  validated object, as the emulator does not record who validated); the
  bounding box applies only when all four ``Map*`` are given, the depth
  range only with both ``depthmin`` and ``depthmax`` (and then both depths
  of an object must lie in it); ``taxochild=Y`` adds the descendants of the
  ``taxo`` ids; ``freenum`` names a numeric free column as ``on01``,
  ``freetxt`` a text one as ``ot01``, ``st01``, ``at01`` or ``pt01``
  (``ILIKE``, ``^``/``$`` anchor the match).
* An invalid or expired token gets ``401`` on every route, also on routes
  that anonymous callers may use.
* The zip follows ``ecotaxa_back``'s general TSV export, checked against the
  reference exports in awiml's ``tests/data/ecotaxa/``: the zip is named
  ``export_<projid>_<YYYYMMDD_HHMM>.zip``; TSVs are UTF-8 with BOM, tab
  separated, ``csv.QUOTE_NONNUMERIC``, ``\n`` line ends; one
  ``ecotaxa_<group>.tsv`` per sample, acquisition or taxon (``<group>`` for
  taxa has characters other than ``[a-zA-Z0-9 .-()]`` replaced by ``_``), or
  one ``ecotaxa_<zip name without .zip>.tsv``; ``img_file_name`` and
  ``img_rank`` are the first two columns and only exist when images are
  exported; images go to ``<group>/<original name>`` (``<group>/<rank>/<name>``
  if that name is taken); ``complement_info`` is exported only without the
  types row; the zip ends with the job's log ``job_<id>.log``. An export
  that matches no object holds only the log.
"""

from .server import EcotaxaServer

__all__ = ["EcotaxaServer"]
