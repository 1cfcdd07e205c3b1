"""The loopback EcoTaxa server; what it answers is described in :mod:`awiml.testing.ecotaxa`."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._http import (
    RefusedRequest,
    conditional_response,
    content_etag,
    int_query_param,
    query_param,
)
from ..server import ArchiveEmulator, RequestRecord, Response
from . import _data as data
from . import _export as export
from . import _query as query

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EcotaxaServer"]

_log = logging.getLogger("awiml.testing")

API = "/api"


@dataclass
class _User:
    ident: int
    name: str
    email: str
    salt: bytes
    digest: bytes


class EcotaxaServer(ArchiveEmulator):
    r"""A loopback emulator of EcoTaxa's REST API, for offline tests.

    Register users with :meth:`add_user`, projects with :meth:`add_project`
    (a table in EcoTaxa's export-column naming plus the images) or awiml's
    bundled real plankton vignettes with :meth:`add_sample_data`; then point
    the client at :attr:`api_url`. The routes, and what is assumed about
    EcoTaxa where its behaviour is not documented, are listed in the module
    documentation (:mod:`awiml.testing.ecotaxa`).

    Parameters
    ----------
    job_steps : int, optional
        Number of ``GET /jobs/{id}/`` polls after which an export job reaches
        its final state (see :attr:`job_steps`).
    range_support : bool, optional
        Whether the vault and job files honour ``Range`` requests.
    host, port : str, int, optional
        Where to listen, as in :class:`FileServer`.

    Notes
    -----
    Like every :class:`FileServer`, it records the requests it receives
    (:attr:`~FileServer.requests`), with one change: the password in the body
    of ``POST /login`` is recorded as ``"***"``. Faults from
    :meth:`~FileServer.inject` apply to every route;
    :meth:`Fault.ignore_range` does not, as the API's routes answer ranges
    themselves.

    Attributes
    ----------
    job_steps : int
        Polls until a job is final: the first poll answers ``P``, the next
        ones ``R``, poll ``job_steps`` the final state; ``0`` or ``1``
        finishes at the first poll, ``0`` already at creation. Read when a
        job is created.

    Examples
    --------
    >>> import requests
    >>> with EcotaxaServer() as ecotaxa:
    ...     alice = ecotaxa.add_user("alice", "secret")
    ...     [projid] = ecotaxa.add_sample_data()
    ...     token = requests.post(
    ...         ecotaxa.api_url + "/login",
    ...         json={"username": "alice", "password": "secret"},
    ...         timeout=5,
    ...     ).json()
    ...     found = requests.post(
    ...         f"{ecotaxa.api_url}/object_set/{projid}/query",
    ...         params={"fields": "obj.orig_id,txo.display_name", "window_size": 2},
    ...         json={"statusfilter": "V"},
    ...         headers={"Authorization": f"Bearer {token}"},
    ...         timeout=5,
    ...     ).json()
    >>> found["total_ids"], found["details"][0]
    (400, ['mltemplate_1', 'Cladocera'])
    """

    def __init__(
        self,
        *,
        job_steps: int = 3,
        range_support: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(range_support=range_support, host=host, port=port)
        self.job_steps = int(job_steps)
        self._et_lock = threading.RLock()
        self._et_users: dict[str, _User] = {}
        self._et_tokens: dict[str, str] = {}
        self._et_projects: dict[int, data.Project] = {}
        self._et_vault: dict[str, data.Image] = {}
        self._et_taxonomy = data.Taxonomy()
        self._et_ids = data.Ids()
        self._et_jobs: dict[int, export.ExportJob] = {}
        self._et_next_job = 0
        self._et_outcomes: list[tuple[str, list[str], dict[str, Any]]] = []
        route = self._et_route
        self._et_routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            route("POST", r"/login", self._et_login),
            route("GET", r"/users/me", self._et_me),
            route("GET", r"/projects/search", self._et_project_search),
            route("GET", r"/projects/(?P<projid>\d+)", self._et_project),
            route("POST", r"/object_set/(?P<projid>\d+)/query", self._et_query),
            route("POST", r"/object_set/export/general", self._et_export),
            route("GET", r"/taxa/search", self._et_taxa_search),
            route("GET", r"/taxon/(?P<taxon>\d+)", self._et_taxon),
            route("GET", r"/vault/(?P<path>\d{4}/\d{4}\.\w+)", self._et_vault_file),
            route("GET", r"/jobs/?", self._et_job_list),
            route("GET", r"/jobs/(?P<job>\d+)/?", self._et_job),
            route("DELETE", r"/jobs/(?P<job>\d+)/?", self._et_job_delete),
            route("POST", r"/jobs/(?P<job>\d+)/answer", self._et_job_answer),
            route("GET", r"/jobs/(?P<job>\d+)/file", self._et_job_file),
        ]

    # -- life cycle ------------------------------------------------------------------- #

    @property
    def api_url(self) -> str:
        """Root of the emulated API, e.g. ``http://127.0.0.1:41234/api``.

        It stands for ``https://ecotaxa.obs-vlfr.fr/api``: pass it as a
        client's ``base_url`` (or set ``AWIML_ECOTAXA_URL`` to it).
        """
        return self.base_url + API

    def __repr__(self) -> str:
        state = super().base_url if self.running else "stopped"
        return f"<EcotaxaServer {state}, {len(self._et_projects)} projects>"

    # -- registration ----------------------------------------------------------------- #

    def add_user(
        self, username: str, password: str, *, name: str | None = None, email: str | None = None
    ) -> int:
        """Register a user who can log in (or change the password of one).

        Parameters
        ----------
        username : str
            Login name, used as ``username`` in ``POST /login``.
        password : str
            Password; only a salted hash is kept, and it is never logged.
        name : str, optional
            Full name shown by ``/users/me``; ``username`` by default.
        email : str, optional
            E-mail shown by ``/users/me``; ``<username>@example.org`` by default.

        Returns
        -------
        int
            The user's id.
        """
        if not isinstance(username, str) or not username:
            raise TypeError("username must be a non-empty str")
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        salt = secrets.token_bytes(16)
        digest = _password_digest(salt, password)
        with self._et_lock:
            old = self._et_users.get(username)
            ident = old.ident if old is not None else len(self._et_users) + 1
            self._et_users[username] = _User(
                ident,
                name or (old.name if old else username),
                email or (old.email if old else f"{username}@example.org"),
                salt,
                digest,
            )
        return ident

    def add_project(
        self,
        projid: int,
        title: str,
        objects: pd.DataFrame,
        images: Mapping[str, bytes | str | Path] | None = None,
        *,
        visible: bool = True,
        members: Iterable[str] = (),
        instrument: str = "?",
        description: str = "",
        license: str = "",
    ) -> int:
        """Register a project (replacing one with the same id).

        Parameters
        ----------
        projid : int
            The project id.
        title : str
            The project title.
        objects : pandas.DataFrame
            One row per object (or per image, with several rows of the same
            ``object_id`` for objects with several images), in the column
            naming of EcoTaxa's export: ``object_id`` (required),
            ``object_lat``, ``object_lon``, ``object_date``
            (``YYYY-MM-DD`` or ``YYYYMMDD``), ``object_time`` (``HH:MM:SS``
            or ``HHMMSS``), ``object_depth_min``, ``object_depth_max``,
            ``object_link``, ``object_annotation_status`` (``validated``,
            ``predicted``, ``dubious``), ``object_annotation_category``
            (display name), ``object_annotation_hierarchy`` (lineage from
            the root, joined with ``>``), ``object_annotation_person_name``,
            ``..._email``, ``..._date``, ``..._time``, ``complement_info``,
            ``img_file_name`` (the original image name: a key of ``images``,
            or a path whose last part is one) and ``img_rank``, any other
            ``object_<name>`` (a free column: numeric columns become
            ``n01``..., others ``t01``...), ``sample_id`` and
            ``sample_<name>``, ``process_id`` and ``process_<name>``,
            ``acq_id``, ``acq_instrument`` and ``acq_<name>`` (sample,
            process and acquisition values are kept as text). Taxa are
            created from the hierarchies; internal object, image, sample and
            acquisition ids and vault paths (``"NNNN/NNNN.jpg"``) are
            assigned here.
        images : mapping of str to bytes or path, optional
            Image bytes or files by original name.
        visible : bool, optional
            Whether anonymous and non-member users may read the project.
        members : iterable of str, optional
            User names with (management) rights on the project.
        instrument : str, optional
            The project's instrument, and the default ``acq_instrument``.
        description : str, optional
            The project's description.
        license : str, optional
            The project's licence, e.g. ``"CC BY 4.0"``.

        Returns
        -------
        int
            ``projid``.

        Raises
        ------
        ValueError
            If a column holds values of the wrong kind, or an image named in
            ``img_file_name`` is missing from ``images``.
        """
        projid = int(projid)
        with self._et_lock:
            project = data.build_project(
                projid,
                str(title),
                objects,
                images or {},
                visible=bool(visible),
                members=[str(m) for m in members],
                instrument=str(instrument),
                description=str(description),
                license=str(license),
                taxonomy=self._et_taxonomy,
                ids=self._et_ids,
            )
            old = self._et_projects.get(projid)
            if old is not None:
                for obj in old.objects:
                    for image in obj.images:
                        self._et_vault.pop(image.vault_path, None)
            self._et_projects[projid] = project
            for obj in project.objects:
                for image in obj.images:
                    self._et_vault[image.vault_path] = image
        _log.debug(
            "EcotaxaServer: project %d %r with %d objects%s",
            projid,
            title,
            len(project.objects),
            "" if visible else " (private)",
        )
        return projid

    def add_sample_data(self) -> list[int]:
        """Register awiml's bundled real plankton vignettes as public project 1.

        The 400 vignettes of EcoTaxa's ML template (``awiml/data/ecotaxa_ml_template``)
        become objects ``mltemplate_<id>`` of project 1, titled
        ``"EcoTaxa ML template: 400 plankton vignettes (Cladocera, Copepoda,
        Siphonophorae, detritus)"``: status validated, category the label,
        hierarchy from EcoTaxa's tree (Copepoda:
        ``living>Eukaryota>Opisthokonta>Holozoa>Metazoa>Arthropoda>Crustacea>Multicrustacea>Hexanauplia>Copepoda``,
        detritus: ``not-living>detritus``), the 48 ZooProcess features as
        free columns (``fre.area``, ``fre.mean``, ...), and one sample and
        acquisition per split (``"training"``: 320 objects, ``"test"``: 80).
        The data hold no position, date or depth, so these stay empty.

        Returns
        -------
        list of int
            The ids of the projects added: ``[1]``.
        """
        table, images = data.ml_template_table()
        projid = self.add_project(
            1,
            data.ML_TEMPLATE_TITLE,
            table,
            images,
            visible=True,
            description=(
                "Real plankton vignettes from EcoTaxa projects, as bundled with "
                "ecotaxa/ecotaxa_ML_template (test_io); cite EcoTaxa when reusing them."
            ),
            license="GPL-3.0 (as ecotaxa/ecotaxa_ML_template)",
        )
        return [projid]

    @property
    def projects(self) -> tuple[int, ...]:
        """Ids of the registered projects, ascending."""
        with self._et_lock:
            return tuple(sorted(self._et_projects))

    def expire_tokens(self) -> int:
        """Invalidate every token issued so far: their next use gets ``401``.

        Returns
        -------
        int
            How many tokens were invalidated.
        """
        with self._et_lock:
            count = len(self._et_tokens)
            self._et_tokens.clear()
        return count

    def next_export_outcome(
        self,
        state: str = "E",
        *,
        errors: Iterable[str] | None = None,
        question: Mapping[str, Any] | None = None,
    ) -> None:
        """Make the next export job end in state ``E`` or ``A`` instead of ``F``.

        Calls queue up: each new job takes the oldest outcome not yet used.

        Parameters
        ----------
        state : {"E", "A", "F"}, optional
            ``"E"``: the job fails with ``errors``; ``"A"``: it stops and asks
            ``question`` (answer it with ``POST /jobs/{id}/answer`` to let it
            finish); ``"F"``: it finishes normally.
        errors : iterable of str, optional
            The job's error messages for ``"E"``.
        question : mapping, optional
            The job's question for ``"A"``.
        """
        if state not in ("E", "A", "F"):
            raise ValueError(f"state must be 'E', 'A' or 'F', got {state!r}")
        messages = list(errors or ([] if state != "E" else ["Export failed (emulated error)"]))
        asked = dict(question or ({} if state != "A" else {"message": "Please answer in the UI"}))
        with self._et_lock:
            self._et_outcomes.append((state, messages, asked))

    def job(self, job_id: int) -> dict[str, Any]:
        """Return the state of a job as ``GET /jobs/{id}/`` would, without advancing it.

        Parameters
        ----------
        job_id : int
            The job id.

        Returns
        -------
        dict
            The job object.

        Raises
        ------
        KeyError
            If there is no such job.
        """
        with self._et_lock:
            job = self._et_jobs[int(job_id)]
        with job.lock:
            return job.as_json()

    # -- dispatch ----------------------------------------------------------------------- #

    @staticmethod
    def _et_route(
        method: str, pattern: str, handler: Callable[..., Any]
    ) -> tuple[str, re.Pattern[str], Callable[..., Any]]:
        return method, re.compile(re.escape(API) + pattern), handler

    def _find_route(
        self, method: str, path: str
    ) -> tuple[Callable[[RequestRecord], Response] | None, set[str]]:
        handler, allowed = super()._find_route(method, path)
        if handler is not None or allowed or not (path == API or path.startswith(API + "/")):
            return handler, allowed
        wanted = "GET" if method == "HEAD" else method
        allowed = set()
        for verb, pattern, func in self._et_routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            allowed.add(verb)
            if verb == wanted:
                return functools.partial(self._et_call, func, match.groupdict()), allowed
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            return None, allowed
        return functools.partial(self._et_call, self._et_not_found, {}), set()

    def _et_call(
        self, func: Callable[..., Any], params: dict[str, str], request: RequestRecord
    ) -> Response:
        try:
            user = self._et_find_user(request)
            reply = func(request, user, **params)
        except RefusedRequest as error:
            return Response.json({"detail": error.detail}, error.status, error.headers)
        except data.QueryError as error:
            return Response.json({"detail": str(error)}, 422)
        if isinstance(reply, Response):
            return reply
        return Response.json(reply)

    def _et_not_found(self, request: RequestRecord, user: str | None) -> Any:
        raise RefusedRequest(404, "Not Found")

    def _append(self, record: RequestRecord) -> None:
        """Record a request; a login's password is replaced by ``***`` first."""
        if record.path == API + "/login" and record.body:
            try:
                body = json.loads(record.body)
            except (UnicodeDecodeError, ValueError):
                body = None
            if isinstance(body, dict) and "password" in body:
                body["password"] = "***"
                record = dataclasses.replace(record, body=json.dumps(body).encode("utf-8"))
            elif body is None or "password" in str(body):
                record = dataclasses.replace(record, body=b"***")
        super()._append(record)

    # -- authentication ----------------------------------------------------------------- #

    def _et_find_user(self, request: RequestRecord) -> str | None:
        """Return the user name of the request's token, ``None`` without one."""
        given = (request.header("authorization") or "").strip()
        if not given:
            return None
        scheme, _, token = given.partition(" ")
        token = token.strip()
        with self._et_lock:
            user = self._et_tokens.get(token) if scheme.lower() == "bearer" and token else None
        if user is None:
            raise _login_needed("Invalid or expired token: log in again (POST /login)")
        return user

    def _et_login(self, request: RequestRecord, user: str | None) -> Any:
        body = _json_body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise RefusedRequest(422, "body must be {'username': str, 'password': str}")
        with self._et_lock:
            known = self._et_users.get(username)
        if known is None or not hmac.compare_digest(
            known.digest, _password_digest(known.salt, password)
        ):
            _log.debug("EcotaxaServer: login refused for user %r", username)
            raise RefusedRequest(403, "Bad login or password")
        token = secrets.token_urlsafe(32)
        with self._et_lock:
            self._et_tokens[token] = username
        _log.debug("EcotaxaServer: user %r logged in", username)
        return token

    def _et_me(self, request: RequestRecord, user: str | None) -> Any:
        if user is None:
            raise _login_needed("Not authenticated")
        with self._et_lock:
            known = self._et_users[user]
        return {
            "id": known.ident,
            "name": known.name,
            "email": known.email,
            "active": True,
            "organisation": None,
            "country": None,
        }

    def _et_find_readable_project(self, projid: int, user: str | None) -> data.Project:
        with self._et_lock:
            project = self._et_projects.get(projid)
        if project is None:
            raise RefusedRequest(404, f"Project {projid} not found")
        if not project.visible and (user is None or user not in project.members):
            raise RefusedRequest(
                403, f"Not authorized: project {projid} is private; log in as a member"
            )
        return project

    # -- projects, taxonomy ------------------------------------------------------------- #

    def _et_project_search(self, request: RequestRecord, user: str | None) -> Any:
        title = (query_param(request, "title_filter") or "").casefold()
        not_granted = (query_param(request, "not_granted") or "false").lower() in ("true", "1")
        with self._et_lock:
            projects = [self._et_projects[k] for k in sorted(self._et_projects)]
        found = []
        for project in projects:
            member = user is not None and user in project.members
            if not_granted and user is not None:
                keep = project.visible and not member
            else:
                keep = project.visible or member
            if keep and title in project.title.casefold():
                found.append(project.as_json(user))
        return found

    def _et_project(self, request: RequestRecord, user: str | None, projid: str) -> Any:
        return self._et_find_readable_project(int(projid), user).as_json(user)

    def _et_taxa_search(self, request: RequestRecord, user: str | None) -> Any:
        text = (query_param(request, "query") or "").strip().casefold()
        if not text:
            return []
        with self._et_lock:
            nodes = list(self._et_taxonomy.by_id.values())
        hits = [n for n in nodes if text in n.display_name.casefold() or text in n.name.casefold()]
        hits.sort(key=lambda n: (not n.name.casefold().startswith(text), n.display_name))
        return [{"id": n.id, "text": n.display_name, "pr": 0} for n in hits]

    def _et_taxon(self, request: RequestRecord, user: str | None, taxon: str) -> Any:
        with self._et_lock:
            chain = self._et_taxonomy.lineage(int(taxon))
            if not chain:
                raise RefusedRequest(404, f"Taxon {taxon} not found")
            children = self._et_taxonomy.children(int(taxon))
            below = self._et_taxonomy.descendants(int(taxon))
            projects = list(self._et_projects.values())
        node = chain[0]
        counts = [o.classif_id for p in projects for o in p.objects]
        return {
            "id": node.id,
            "renm_id": None,
            "name": node.name,
            "type": "P",
            "status": "A",
            "display_name": node.display_name,
            "lineage": [n.name for n in chain],
            "id_lineage": [n.id for n in chain],
            "children": children,
            "nb_objects": sum(1 for c in counts if c == node.id),
            "nb_children_objects": sum(1 for c in counts if c in below and c != node.id),
        }

    # -- queries and images ------------------------------------------------------------- #

    def _et_query(self, request: RequestRecord, user: str | None, projid: str) -> Any:
        project = self._et_find_readable_project(int(projid), user)
        filters = _json_body(request)
        fields = [f.strip() for f in (query_param(request, "fields") or "").split(",") if f.strip()]
        order = (query_param(request, "order_field") or "").strip()
        start = int_query_param(request, "window_start", 0, status=422)
        size = int_query_param(request, "window_size", None, status=422)
        with self._et_lock:
            taxonomy = self._et_taxonomy
            query.check_fields(fields, project, taxonomy)
            found = query.select(project, filters, taxonomy)
            if order:
                name = order.lstrip("-")
                query.check_fields([name], project, taxonomy)
                found.sort(key=query.sort_key(name, project, taxonomy))
                if order.startswith("-"):
                    found.reverse()
            window = found[start:] if size is None else found[start : start + size]
            details = [[query.field_value(o, f, project, taxonomy) for f in fields] for o in window]
        return {
            "object_ids": [o.objid for o in window],
            "acquisition_ids": [o.acquisid for o in window],
            "sample_ids": [o.sampleid for o in window],
            "project_ids": [o.projid for o in window],
            "details": details,
            "total_ids": len(found),
        }

    def _et_vault_file(self, request: RequestRecord, user: str | None, path: str) -> Any:
        with self._et_lock:
            image = self._et_vault.get(path)
        if image is None:
            raise RefusedRequest(404, f"No image at vault path {path}")
        content = image.read()
        kind = "image/png" if path.endswith(".png") else "image/jpeg"
        return conditional_response(
            request,
            Response(body=content, content_type=kind),
            etag=content_etag(content),
            ranges=self.range_support,
        )

    # -- export jobs ------------------------------------------------------------------------ #

    def _et_export(self, request: RequestRecord, user: str | None) -> Any:
        if user is None:
            raise _login_needed("Export needs a logged-in user")
        body = _json_body(request)
        filters = body.get("filters") or {}
        if not isinstance(filters, dict):
            raise RefusedRequest(422, "body.filters must be an object (ProjectFilters)")
        options = export.ExportRequest.parse(body.get("request"))
        project = self._et_find_readable_project(options.project_id, user)
        with self._et_lock:
            objects = query.select(project, filters, self._et_taxonomy)
            self._et_next_job += 1
            outcome = self._et_outcomes.pop(0) if self._et_outcomes else ("F", [], {})
            job = export.ExportJob(
                ident=self._et_next_job,
                owner=user,
                owner_id=self._et_users[user].ident,
                request=options,
                filters=dict(filters),
                objects=objects,
                project=project,
                steps=self.job_steps,
                outcome=outcome,
                created=datetime.now(),
            )
            self._et_jobs[job.ident] = job
        if job.steps <= 0:
            with job.lock:
                job.finish(self._et_taxonomy)
        _log.debug("EcotaxaServer: export job %d of project %d", job.ident, project.projid)
        return {"errors": [], "warnings": [], "job_id": job.ident}

    def _et_find_owned_job(self, user: str | None, job_id: str) -> export.ExportJob:
        if user is None:
            raise _login_needed("Not authenticated")
        with self._et_lock:
            job = self._et_jobs.get(int(job_id))
        if job is None:
            raise RefusedRequest(404, f"Job {job_id} not found")
        if job.owner != user:
            raise RefusedRequest(403, f"Not authorized: job {job_id} belongs to another user")
        return job

    def _et_job(self, request: RequestRecord, user: str | None, job: str) -> Any:
        found = self._et_find_owned_job(user, job)
        with found.lock:
            found.advance(self._et_taxonomy)
            return found.as_json()

    def _et_job_list(self, request: RequestRecord, user: str | None) -> Any:
        if user is None:
            raise _login_needed("Not authenticated")
        with self._et_lock:
            jobs = [j for j in self._et_jobs.values() if j.owner == user]
        listed = []
        for job in jobs:
            with job.lock:
                listed.append(job.as_json())
        return listed

    def _et_job_delete(self, request: RequestRecord, user: str | None, job: str) -> Any:
        found = self._et_find_owned_job(user, job)
        with self._et_lock:
            self._et_jobs.pop(found.ident, None)
        return None

    def _et_job_answer(self, request: RequestRecord, user: str | None, job: str) -> Any:
        found = self._et_find_owned_job(user, job)
        reply = _json_body(request)
        with found.lock:
            if found.state != "A":
                detail = f"Job {found.ident} asks no question (state {found.state})"
                raise RefusedRequest(422, detail)
            found.answer(reply)
        return None

    def _et_job_file(self, request: RequestRecord, user: str | None, job: str) -> Any:
        found = self._et_find_owned_job(user, job)
        with found.lock:
            content, state, name = found.content, found.state, found.result.get("out_file")
            stamp = found.updated
        if state != "F" or content is None:
            raise RefusedRequest(422, f"Job {found.ident} has no file yet (state {state})")
        return conditional_response(
            request,
            Response(
                body=content,
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
                content_type="application/zip",
            ),
            etag=content_etag(content),
            last_modified=stamp.timestamp(),
            ranges=self.range_support,
        )


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _password_digest(salt: bytes, password: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, 1000)


def _login_needed(detail: str) -> RefusedRequest:
    """Return the ``401`` refusal of a route that needs a logged-in user."""
    return RefusedRequest(401, detail, {"WWW-Authenticate": "Bearer"})


def _json_body(request: RequestRecord) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        raise RefusedRequest(422, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RefusedRequest(422, "the request body must be a JSON object")
    return body
