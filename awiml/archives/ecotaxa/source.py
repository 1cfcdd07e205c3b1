"""EcoTaxa as an fsspec filesystem: projects, object queries, exports and images.

:class:`EcotaxaSource` talks to EcoTaxa's REST API (FastAPI, documented at
https://ecotaxa.obs-vlfr.fr/api/docs) with the shared awiml session:

- ``POST /login`` (JSON user name and password) answers a bearer token, sent
  as ``Authorization: Bearer <token>`` on later calls;
- ``GET /projects/search`` and ``GET /projects/{id}`` describe projects;
- ``POST /object_set/{id}/query`` pages through objects;
- ``GET /taxa/search`` resolves taxon names to ids;
- ``POST /object_set/export/general`` starts an export job, ``GET
  /jobs/{id}/`` reports its state (``P`` pending, ``R`` running, ``A`` asking
  a question, ``E`` error, ``F`` finished) and ``GET /jobs/{id}/file`` serves
  the zip (byte ranges honoured);
- ``GET /vault/<file>`` serves one image, without login.

The work without HTTP lives in the private modules named in :mod:`awiml.archives.ecotaxa`.

Assumptions (from EcoTaxa's OpenAPI text and its source, ecotaxa/ecotaxa_back):
tokens live about 30 days; an unknown or expired token answers ``401``, a
project the user may not read ``403``, an unknown project ``404``; public
("visible") projects can be listed and queried anonymously, while an export
needs a logged-in user.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFile

from ...errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    AwimlError,
    InvalidDataError,
    NotFoundError,
    redact_url,
)
from ..base import (
    DEFAULT_TIMEOUT,
    ArchiveFileSystem,
    RemoteFile,
    http_session,
)
from ..cache import default_cache_dir
from ..http import CredentialsAround
from . import _query
from ._auth import TokenCache, find_credentials
from ._jobs import DEFAULT_MAX_BYTES, PROJECTS_HINT, ExportJobs, Scratch, ScratchFiles
from .tsv import read_tsv

if TYPE_CHECKING:
    import pandas as pd
    import requests

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_QUERY_FIELDS",
    "QUERY_FIELDS",
    "EcotaxaSource",
    "read_tsv",
]

logger = logging.getLogger(__name__)

#: EcoTaxa's public API root. ``EcotaxaSource(base_url=...)`` or the
#: ``AWIML_ECOTAXA_URL`` environment variable point awiml at another server
#: (e.g. the loopback emulator :class:`awiml.testing.EcotaxaServer`).
DEFAULT_API_URL = "https://ecotaxa.obs-vlfr.fr/api"

#: Friendly column names of :meth:`EcotaxaSource.query` and the EcoTaxa fields behind them.
QUERY_FIELDS: Mapping[str, str] = _query.QUERY_FIELDS

#: The columns :meth:`EcotaxaSource.query` returns by default (plus the project's free columns).
DEFAULT_QUERY_FIELDS: tuple[str, ...] = _query.DEFAULT_QUERY_FIELDS

_SPLIT_BY = ("none", "sample", "acquisition", "taxon")
_WITH_IMAGES = ("none", "first", "all")
#: The arguments of :meth:`EcotaxaSource.export` that name one export (and its cache folder).
_SETTINGS = ("filters", "split_by", "with_images", "with_types_row")
_EXPORT_KEYWORDS = frozenset({*_SETTINGS, "max_bytes", "poll_interval", "timeout", "progress"})


def _detail(response: requests.Response) -> str:
    """EcoTaxa's ``detail`` message of an error reply, short."""
    try:
        body = response.json()
        text = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        text = response.text
    text = " ".join(str(text).split())
    return text if len(text) <= 300 else text[:297] + "..."


def project_id(project: int | str) -> int:
    """Return the numeric id of a project given as an int, a string or an ``ecotaxa://`` URL.

    Parameters
    ----------
    project : int or str
        ``1234``, ``"1234"`` or ``"ecotaxa://1234"``.

    Returns
    -------
    int
        The project id.

    Raises
    ------
    InvalidDataError
        If no id can be read from ``project``.

    Examples
    --------
    >>> project_id("ecotaxa://1234/export.zip")
    1234
    """
    if isinstance(project, bool):
        raise InvalidDataError(f"{project!r} is not an EcoTaxa project id")
    if isinstance(project, int):
        return project
    head = str(project).strip().removeprefix("ecotaxa://").strip("/").split("/", 1)[0]
    if head.isdigit():
        return int(head)
    raise InvalidDataError(
        f"{project!r} is not an EcoTaxa project id: give the number shown in the project's "
        "URL (e.g. 1234 for https://ecotaxa.obs-vlfr.fr/prj/1234)"
    )


class EcotaxaSource(ExportJobs, ArchiveFileSystem):
    r"""EcoTaxa projects as a read-only filesystem, with queries and exports.

    Parameters
    ----------
    username, password : str, optional
        An EcoTaxa account. Without them, ``ECOTAXA_USER`` and
        ``ECOTAXA_PASSWORD``, then the ``~/.netrc`` entry of the API host
        (``machine ecotaxa.obs-vlfr.fr login ... password ...``). awiml logs
        in when a call first needs it and keeps the token (see Notes).
    token : str, optional
        A bearer token instead of a password (also ``ECOTAXA_TOKEN``). With a
        user name and password at hand as well, an expired token is replaced
        by logging in again.
    base_url : str, optional
        The API root; defaults to ``$AWIML_ECOTAXA_URL``, else
        :data:`DEFAULT_API_URL`.
    cache : bool or path-like, optional
        Where exports are kept and reused: ``True`` for
        ``<awiml cache folder>/ecotaxa/exports/`` (``$AWIML_CACHE_DIR`` or the
        user cache folder), a folder for
        ``<folder>/ecotaxa/exports/<server>/<project>/<hash of the account,
        filters and options>/`` (see Notes). ``False``: one temporary folder
        of this source (``awiml-ecotaxa-*``), deleted by :meth:`close`, when
        the source is garbage-collected, or when Python exits;
        ``Workspace.fetch`` takes it over and deletes it once the files are
        in ``raw/``.
    export_options : mapping, optional
        Keyword arguments of :meth:`export` except ``target`` and
        ``refresh``, used for ``ecotaxa://`` paths and by
        ``Workspace.fetch``; ``filters`` also applies to ``objects.tsv``.
    remember_token : bool, optional
        Keep the token from logging in on disk for later sessions (see
        Notes); ``False`` logs in once per source and writes nothing (and
        exports in the cache then need EcoTaxa to check the password).
    timeout : tuple of float, optional
        Connect and read timeouts of each HTTP request in seconds.
    retries : int, optional
        Retries of failed requests (429 and 5xx, honouring ``Retry-After``).
    **storage_options
        Passed to :class:`fsspec.spec.AbstractFileSystem`.

    Attributes
    ----------
    api_url : str
        The API root in use.
    export_options : dict
        The ``export_options`` given.
    remember_token : bool
        Whether tokens are kept on disk.
    retry_backoff : float
        Base wait in seconds between retries (doubling each time).

    Notes
    -----
    Paths, with or without the ``ecotaxa://`` protocol:

    - ``ecotaxa://`` lists the projects you can see, as folders;
    - ``ecotaxa://1234`` is project 1234's folder;
    - ``ecotaxa://1234/objects.tsv``: the result of :meth:`query` with the
      default columns, as tab-separated text (no export job needed);
    - ``ecotaxa://1234/export.zip``: the export zip (see :meth:`export`);
    - ``ecotaxa://1234/export/<member>``: one file of the extracted export,
      e.g. ``export/ecotaxa_export_1234_....tsv`` or an image;
    - ``ecotaxa://vault/0000/0123.jpg``: one image of EcoTaxa's vault, as
      named by the ``img_file_name`` column of :meth:`query`.

    ``Workspace.fetch("ecotaxa://1234", storage_options={...})`` copies the
    files of :meth:`remote_files` into ``raw/ecotaxa/1234/``.

    Tokens from logging in are kept, one per API URL and user name, in files
    readable by the user only in ``ecotaxa-tokens/`` of awiml's configuration
    folder (``$AWIML_CONFIG_DIR``, else ``platformdirs.user_config_dir("awiml")``),
    and reused for 29 days or until EcoTaxa refuses them, but only with the
    password that obtained them (the file keeps a salted scrypt hash of it):
    a wrong password raises :class:`~awiml.errors.AuthenticationError` even
    after a good login. Passwords and tokens are never logged, shown, or
    written to error messages or manifests.

    Exports in the cache belong to one account: a user name, a token given
    alone, or none. An export made with a user name is handed out again once
    the password at hand is checked, against that user's remembered login on
    this computer (so also while EcoTaxa is unreachable) or else by logging in.

    Examples
    --------
    Against the loopback emulator that ships with awiml:

    >>> from awiml.testing import EcotaxaServer
    >>> with EcotaxaServer() as server:
    ...     [projid] = server.add_sample_data()
    ...     source = EcotaxaSource(base_url=server.api_url, cache=False)
    ...     copepods = source.query(projid, {"taxa": ["Copepoda"]})
    ...     with source.open(f"vault/{copepods['img_file_name'].iloc[0]}") as image:
    ...         head = image.read(2)
    >>> len(copepods), head
    (100, b'\xff\xd8')
    """

    protocol = "ecotaxa"
    root_marker = ""
    retry_backoff: float = 0.5
    # A new source when the credentials around change (see CredentialsAround).
    _credentials_around = CredentialsAround(
        "ECOTAXA_USER", "ECOTAXA_PASSWORD", "ECOTAXA_TOKEN", "AWIML_ECOTAXA_URL"
    )
    _extra_tokenize_attributes = ("_credentials_around",)

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        *,
        base_url: str | None = None,
        cache: bool | str | os.PathLike[str] = True,
        export_options: Mapping[str, Any] | None = None,
        remember_token: bool = True,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 5,
        **storage_options: Any,
    ) -> None:
        super().__init__(timeout=timeout, retries=retries, **storage_options)
        self.api_url = (base_url or os.environ.get("AWIML_ECOTAXA_URL") or DEFAULT_API_URL)
        self.api_url = self.api_url.rstrip("/")
        self._credentials = find_credentials(self.api_url, username, password, token)
        self._token: str | None = self._credentials.token
        #: Whether this source's password was checked (see :meth:`_check_account`).
        self._account_checked = False
        self.remember_token = bool(remember_token)
        self._session = self._new_session(retries=retries)
        self._cache_root: Path | None = None
        if cache:
            folder = default_cache_dir() if cache is True else Path(cache).expanduser()
            self._cache_root = folder / "ecotaxa"
        self._scratch: Scratch | None = None
        self._scratch_ref: weakref.ref[Scratch] | None = None
        unknown = set(export_options or {}) - _EXPORT_KEYWORDS
        if unknown:
            raise TypeError(
                f"export_options has unknown keys {sorted(unknown)}; use "
                f"{sorted(_EXPORT_KEYWORDS)}"
            )
        self.export_options = dict(export_options or {})
        self._lock = threading.RLock()
        self._projects: dict[int, dict[str, Any]] = {}

    def __repr__(self) -> str:
        user = self._credentials.username
        return (
            f"EcotaxaSource(api_url={redact_url(self.api_url)!r}, user={user!r}, "
            f"token={'set' if self._token else 'none'})"
        )

    # -- HTTP and authentication -----------------------------------------------------------

    def _how_to_log_in(self) -> str:
        host = urlsplit(self.api_url).hostname or self.api_url
        return (
            "Give an EcoTaxa account: EcotaxaSource(username=..., password=...), the "
            "ECOTAXA_USER and ECOTAXA_PASSWORD environment variables, or "
            f"'machine {host} login <user> password <password>' in ~/.netrc "
            "(or a fresh token in ECOTAXA_TOKEN)."
        )

    def _new_session(self, *, retries: int, token: str | None = None) -> requests.Session:
        """Make an awiml session that never sends ``~/.netrc`` passwords as Basic auth.

        requests does so for a session without ``auth``; EcoTaxa wants the
        password only in ``POST /login``.
        """
        session = http_session(token=token, retries=retries, timeout=self.timeout)
        session.auth = _no_auth
        return session

    def _token_cache(self) -> TokenCache | None:
        return TokenCache() if self.remember_token else None

    def _current_token(self) -> str | None:
        """Return the token to send, logging in first when needed and possible."""
        with self._lock:
            if self._token:
                return self._token
            creds = self._credentials
            if not creds.can_login:
                return None
            assert creds.username is not None and creds.password is not None
            tokens = self._token_cache()
            cached = tokens.get(self.api_url, creds.username, creds.password) if tokens else None
            if cached:
                logger.debug("reusing the cached EcoTaxa token of %s", creds.username)
                self._account_checked = True  # the token was obtained with this password
            self._token = cached or self._login()
            return self._token

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None
            user, cache = self._credentials.username, self._token_cache()
            if user and cache is not None:
                cache.drop(self.api_url, user, token)

    def _account(self) -> str:
        """Name the account whose exports this source may take from the export cache.

        A user name (its password checked by :meth:`_check_account`), else a
        hash of the token alone, else nobody (EcoTaxa exports nothing then).
        """
        creds = self._credentials
        if creds.can_login:
            return f"user:{creds.username}"
        if creds.token:
            return "token:" + hashlib.sha256(creds.token.encode()).hexdigest()
        return "anonymous"

    def _check_account(self, what: str) -> None:
        """Make sure this source's password is right before ``what`` leaves the export cache.

        Checked against the remembered login of this account (offline), else
        by logging in; a token alone, or no account, needs no check.

        Raises
        ------
        AuthenticationError
            EcoTaxa refused the login.
        ArchiveUnavailableError
            EcoTaxa could not be reached and no login of this account with
            this password is remembered here.
        """
        creds = self._credentials
        if not creds.can_login or self._account_checked:
            return
        assert creds.username is not None and creds.password is not None
        with self._lock:
            if self._account_checked:
                return
            tokens = self._token_cache()
            if tokens is not None and tokens.knows_password(self.api_url, creds.username,
                                                            creds.password):
                self._account_checked = True
                return
            try:
                token = self._login()
            except ArchiveUnavailableError as exc:
                remembered = (
                    "no login of this account with this password is remembered on this "
                    "computer" if self.remember_token else
                    "this source does not remember logins (remember_token=False)"
                )
                raise ArchiveUnavailableError(
                    f"{what} is in the export cache, but the password of {creds.username!r} "
                    f"(taken from {creds.origin}) could not be checked: EcoTaxa at "
                    f"{redact_url(self.api_url)} could not be reached, and {remembered}. "
                    "Try again when EcoTaxa is reachable; once a login with "
                    "remember_token=True (the default) has succeeded, the export is handed "
                    "out offline to the same account."
                ) from exc
            self._token = self._token or token

    def _login(self) -> str:
        creds = self._credentials
        assert creds.username is not None and creds.password is not None
        logger.info("logging in to EcoTaxa at %s as %s", redact_url(self.api_url),
                    creds.username)
        response = self._send("POST", f"{self.api_url}/login", headers={},
                              payload={"username": creds.username, "password": creds.password},
                              what="logging in")
        with response:
            if response.status_code in (401, 403):
                raise AuthenticationError(
                    f"EcoTaxa at {redact_url(self.api_url)} refused the login of "
                    f"{creds.username!r} ({response.status_code}): wrong user name or password. "
                    f"Check the credentials (taken from {creds.origin}). "
                    + self._how_to_log_in()
                )
            self._raise_for_status(response, "logging in", token_sent=False)
            try:
                token = response.json()
            except ValueError:
                token = None
        if isinstance(token, dict):
            token = token.get("token") or token.get("access_token")
        if not isinstance(token, str) or not token:
            raise InvalidDataError(
                f"EcoTaxa at {redact_url(self.api_url)} answered the login without a token; "
                "is base_url the API root (ending in /api)?"
            )
        self._account_checked = True
        tokens = self._token_cache()
        if tokens is not None:
            tokens.put(self.api_url, creds.username, token, creds.password)
        return token

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        what: str,
        params: Mapping[str, Any] | None = None,
        payload: Any = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """Send one request, retried by the session's one retry policy.

        GETs, and POSTs that only read (``idempotent=True``), are retried on
        every transient failure; a POST that starts something only when
        EcoTaxa did not process it (429, 503, no connection).
        """
        from ..http import RetryPolicy, unreachable_as_unavailable

        policy = RetryPolicy(retries=self.retries, backoff=self.retry_backoff, max_backoff=30.0,
                             timeout=self.timeout, connect_retries=min(self.retries, 2))
        with unreachable_as_unavailable(
            f"EcoTaxa at {redact_url(self.api_url)}", what,
            "Check your network and base_url; exports made before are reused from the cache.",
        ):
            return self._session.request(
                method, url, headers=dict(headers), params=params, json=payload,
                timeout=self.timeout, idempotent=idempotent, retry_policy=policy,
            )

    def _raise_for_status(
        self, response: requests.Response, what: str, *, token_sent: bool, hint: str = ""
    ) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _detail(response)
        response.close()
        where = redact_url(self.api_url)
        if status == 401:
            if token_sent:
                again = (
                    "awiml logged in again and the new token was refused too; check the account."
                    if self._credentials.can_login
                    else self._how_to_log_in()
                )
                raise AuthenticationError(
                    f"EcoTaxa at {where} refused the token for {what} (401: {detail}): it "
                    f"expired or is invalid. {again}"
                )
            raise AuthenticationError(
                f"{what} needs a logged-in EcoTaxa user (401: {detail}). " + self._how_to_log_in()
            )
        if status == 403:
            user = self._credentials.username
            if token_sent:
                raise AuthenticationError(
                    f"EcoTaxa refuses {what} to {user or 'this token'!s} (403: {detail}): the "
                    "project is private and the account is not a member. Ask a project manager "
                    "for access, or use an account that has it."
                )
            raise AuthenticationError(
                f"EcoTaxa refuses {what} to anonymous users (403: {detail}): the project is "
                "private. Log in as a member. " + self._how_to_log_in()
            )
        if status in (404, 410):
            raise NotFoundError(
                f"{what}: EcoTaxa at {where} has no such item ({status}: {detail}). {hint}".rstrip()
            )
        if status == 429 or status >= 500:
            raise ArchiveUnavailableError(
                f"EcoTaxa at {where} answered {status} for {what} after {self.retries} retries "
                f"({detail}). The server is busy or failing; try again later."
            )
        raise InvalidDataError(
            f"EcoTaxa refused {what} ({status}: {detail}); check the arguments."
        )

    def _request(
        self,
        method: str,
        route: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        payload: Any = None,
        idempotent: bool = True,
        hint: str = "",
    ) -> Any:
        """Call the API with the current token (logging in again once on 401); return JSON."""
        url = f"{self.api_url}/{route.lstrip('/')}"
        relogged = False
        while True:
            token = self._current_token()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = self._send(method, url, headers=headers, params=params, payload=payload,
                                  what=what, idempotent=idempotent)
            if (response.status_code == 401 and token and not relogged
                    and self._credentials.can_login):
                response.close()
                logger.info("EcoTaxa refused the token for %s; logging in again", what)
                self._forget_token(token)
                relogged = True
                continue
            with response:
                self._raise_for_status(response, what, token_sent=bool(token), hint=hint)
                try:
                    return response.json()
                except ValueError:
                    raise InvalidDataError(
                        f"EcoTaxa answered {what} with something other than JSON; is "
                        f"base_url ({redact_url(self.api_url)}) the API root?"
                    ) from None

    # -- projects --------------------------------------------------------------------------

    def project(self, project: int | str) -> dict[str, Any]:
        """Return EcoTaxa's description of one project.

        Parameters
        ----------
        project : int or str
            The project id (see :func:`project_id`).

        Returns
        -------
        dict
            EcoTaxa's project object: ``projid``, ``title``, ``instrument``,
            ``visible``, ``objcount``, ``pctvalidated``, ``obj_free_cols``...
        """
        projid = project_id(project)
        with self._lock:
            if projid in self._projects:
                return self._projects[projid]
        found = self._request(
            "GET", f"projects/{projid}", what=f"project {projid}", hint=PROJECTS_HINT
        )
        with self._lock:
            self._projects[projid] = found
        return found

    def projects(self, title: str | None = None) -> pd.DataFrame:
        """List the projects you can see: public ones, and those you are a member of.

        Parameters
        ----------
        title : str, optional
            Keep projects whose title contains this text.

        Returns
        -------
        pandas.DataFrame
            One row per project, indexed by ``projid``, with ``title``,
            ``instrument``, ``status``, ``visible``, ``objcount``,
            ``pctvalidated``, ``pctclassified`` first and EcoTaxa's other
            fields after them.

        Examples
        --------
        >>> from awiml.testing import EcotaxaServer
        >>> with EcotaxaServer() as server:
        ...     _ = server.add_sample_data()
        ...     projects = EcotaxaSource(base_url=server.api_url, cache=False).projects()
        >>> list(projects.index), int(projects.loc[1, "objcount"])
        ([1], 400)
        """
        import pandas as pd

        params: dict[str, Any] = {"not_granted": "false"}
        if title:
            params["title_filter"] = title
        found = self._request("GET", "projects/search", params=params, what="the project list")
        if not isinstance(found, list):
            raise InvalidDataError("EcoTaxa's project list is not a list; is base_url right?")
        first = ["projid", "title", "instrument", "status", "visible", "objcount",
                 "pctvalidated", "pctclassified"]
        frame = pd.DataFrame(found)
        if frame.empty:
            frame = pd.DataFrame(columns=first)
        columns = [c for c in first if c in frame] + [c for c in frame if c not in first]
        frame = frame[columns].set_index("projid").sort_index()
        with self._lock:
            for row in found:
                if isinstance(row, dict) and "projid" in row:
                    self._projects.setdefault(int(row["projid"]), row)
        return frame

    # -- filters ---------------------------------------------------------------------------

    def _taxon_id(self, taxon: int | str) -> int:
        if isinstance(taxon, int) and not isinstance(taxon, bool):
            return taxon
        name = str(taxon).strip()
        if name.isdigit():
            return int(name)
        found = self._request("GET", "taxa/search", params={"query": name},
                              what=f"the taxon {name!r}")
        return _query.pick_taxon(name, found)

    def filters(self, filters: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Translate filters into EcoTaxa's ``ProjectFilters`` (all values are strings).

        Parameters
        ----------
        filters : mapping, optional
            EcoTaxa's own keys (``statusfilter``, ``taxo``, ``taxochild``,
            ``MapN``/``MapS``/``MapE``/``MapW``, ``depthmin``, ``depthmax``,
            ``fromdate``, ``todate``, ``samples``...), passed on as text (lists
            joined by commas, booleans as ``"Y"``/``"N"``), and these friendlier
            keys:

            ``taxa``
                Taxon names or ids (a list, or a comma-separated string); names
                are resolved through ``/taxa/search``; descendants are
                included unless ``taxochild="N"`` is given.
            ``status``
                ``"V"``/``"validated"``, ``"P"``/``"predicted"``,
                ``"D"``/``"dubious"``, ``"U"``/``"unclassified"``,
                ``"NV"``/``"not_validated"``, or a list of them that
                EcoTaxa can combine (validated and predicted; unclassified
                and predicted; validated, predicted and dubious).
            ``bbox``
                ``(min_lat, min_lon, max_lat, max_lon)`` in degrees (EcoTaxa
                does not handle boxes across the date line).
            ``depth``
                ``(min, max)`` in metres (either may be ``None``); EcoTaxa
                keeps objects whose minimum and maximum depth both lie in
                the range.
            ``dates``
                ``(from, to)`` as ``"YYYY-MM-DD"`` (either may be ``None``).

        Returns
        -------
        dict of str to str
            The filters as EcoTaxa expects them.

        Examples
        --------
        >>> EcotaxaSource(cache=False).filters({"status": "validated",
        ...                                     "depth": (0, 200)})
        {'statusfilter': 'V', 'depthmin': '0', 'depthmax': '200'}
        """
        return _query.translate_filters(filters, self._taxon_id)

    # -- query -----------------------------------------------------------------------------

    def _page(self, projid: int, fields: Sequence[str], api_filters: Mapping[str, str],
              start: int, size: int) -> Mapping[str, Any]:
        params = {"fields": ",".join(fields), "order_field": "obj.objid",
                  "window_start": start, "window_size": size}
        reply = self._request(
            "POST", f"object_set/{projid}/query", params=params, payload=dict(api_filters),
            what=f"the objects of project {projid}", hint=PROJECTS_HINT,
        )
        return _query.check_page(reply, projid)

    def count(self, project: int | str, filters: Mapping[str, Any] | None = None) -> int:
        """Return how many objects of a project match the filters (EcoTaxa's ``total_ids``).

        Parameters
        ----------
        project : int or str
            The project id.
        filters : mapping, optional
            As for :meth:`filters`.

        Returns
        -------
        int
            The number of matching objects.
        """
        return self._count(project_id(project), self.filters(filters))

    def _count(self, projid: int, api_filters: Mapping[str, str]) -> int:
        reply = self._page(projid, ["obj.objid"], api_filters, 0, 1)
        return int(reply.get("total_ids", len(reply["object_ids"])))

    def query(
        self,
        project: int | str,
        filters: Mapping[str, Any] | None = None,
        fields: Sequence[str] | None = None,
        *,
        page_size: int = 5000,
    ) -> pd.DataFrame:
        """Return the objects of a project (metadata, classification, image names).

        No export job is needed, and public projects need no login.

        Parameters
        ----------
        project : int or str
            The project id.
        filters : mapping, optional
            Which objects; see :meth:`filters` (e.g. ``{"status": "V",
            "taxa": ["Copepoda"]}``).
        fields : sequence of str, optional
            Columns, by friendly name (the keys of :data:`QUERY_FIELDS`), free
            column name, or EcoTaxa field (``"obj.depth_min"``, ``"fre.area"``).
            By default :data:`DEFAULT_QUERY_FIELDS` and every free column.
        page_size : int, optional
            Objects per request.

        Returns
        -------
        pandas.DataFrame
            One row per object, indexed by EcoTaxa's internal ``objid``, with
            friendly column names: ``object_id`` (the original id),
            ``latitude``, ``longitude``, ``date`` (datetime), ``time``,
            ``depth_min``, ``depth_max``, ``status`` (``"validated"``,
            ``"predicted"``, ``"dubious"`` or missing), ``category`` (display
            name), ``img_file_name`` (vault path, see ``ecotaxa://vault/...``)
            and the free columns by their names (``free_<name>`` if a name
            clashes). ``attrs["ecotaxa"]`` holds ``project_id``, ``title``,
            ``filters`` (as sent), ``total_ids`` (EcoTaxa's count) and ``api_url``.

        Examples
        --------
        >>> from awiml.testing import EcotaxaServer
        >>> with EcotaxaServer() as server:
        ...     [projid] = server.add_sample_data()
        ...     source = EcotaxaSource(base_url=server.api_url, cache=False)
        ...     table = source.query(projid, {"status": "V"}, ["object_id", "category", "area"])
        >>> len(table), list(table.columns)
        (400, ['object_id', 'category', 'area'])
        >>> table.loc[1, "object_id"], table.loc[1, "category"], float(table.loc[1, "area"])
        ('mltemplate_1', 'Cladocera', 1983.0)
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        projid = project_id(project)
        columns = _query.query_columns(self.project(projid), fields)
        api_filters = self.filters(filters)
        wanted = [field for _, field in columns]
        frame, total = _query.read_objects(
            lambda start, size: self._page(projid, wanted, api_filters, start, size),
            projid, columns, page_size,
        )
        frame.attrs["ecotaxa"] = self._table_record(projid, api_filters, total)
        return frame

    # -- export ----------------------------------------------------------------------------

    def export(
        self,
        project: int | str,
        filters: Mapping[str, Any] | None = None,
        *,
        split_by: str = "none",
        with_images: str = "first",
        with_types_row: bool = True,
        target: str | os.PathLike[str] | None = None,
        refresh: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        progress: bool | None = None,
        poll_interval: float = 1.0,
        timeout: float = 3600.0,
    ) -> Path:
        """Export a project (TSV and images), extract it safely and return its folder.

        EcoTaxa makes the export in a background job: this method starts it,
        polls it (with a progress bar), downloads the zip (resuming with HTTP
        Range), checks every member's CRC and extracts it, all or nothing.
        Unsafe members (``..``, absolute paths, links) and archives unpacking
        to more than ``max_bytes`` or the free disk space are refused.

        An export with the same project, filters and options already in the
        cache, made by the same account, is reused without a new job (see
        Notes of :class:`EcotaxaSource`). A job that timed out or waits for an
        answer is remembered, and the next call goes on with it; so is a
        failed download, whose partial zip is resumed.

        Parameters
        ----------
        project : int or str
            The project id. Exports need a logged-in user.
        filters : mapping, optional
            Which objects; see :meth:`filters`.
        split_by : {"none", "sample", "acquisition", "taxon"}, optional
            One TSV for all objects, or one per group (EcoTaxa's ``split_by``).
        with_images : {"first", "none", "all"}, optional
            Include no image, the first image of each object, or all of them.
        with_types_row : bool, optional
            Whether the TSV has EcoTaxa's second row of ``[t]``/``[f]`` types.
        target : path-like, optional
            Extract here (a folder that does not exist yet, or is empty)
            instead of the cache.
        refresh : bool, optional
            Run a new export job even if the cache holds a matching one.
        max_bytes : int, optional
            Refuse archives unpacking to more than this many bytes (default
            100 GiB), a guard against zip bombs.
        progress : bool, optional
            Show progress bars; by default only when standard error is a
            terminal.
        poll_interval : float, optional
            Seconds between two looks at the job.
        timeout : float, optional
            Seconds to wait for the job before giving up (it keeps running on
            the server, and the next call waits for it again).

        Returns
        -------
        pathlib.Path
            The folder holding the extracted export: the TSV file(s)
            (``ecotaxa_export_<project>_....tsv``, read them with
            :func:`read_tsv`) and the images at the paths its
            ``img_file_name`` column names. With ``cache=False`` (and no
            ``target``) it is deleted with the source's temporary folder;
            pass ``target`` to keep the files.

        Raises
        ------
        ExportError
            The job failed (state ``E``, with EcoTaxa's messages), waits for
            an answer in the web interface (state ``A``), or did not finish in
            ``timeout`` seconds.
        AuthenticationError
            No account was given, or EcoTaxa refused it (a wrong password,
            also for an export in the cache) or the project.
        InvalidDataError
            The zip is corrupt or unsafe; nothing was extracted.
        ArchiveUnavailableError
            EcoTaxa could not be reached (for an export in the cache: and the
            password could not be checked against a remembered login), or the
            zip's download failed through all retries; calling again resumes it.
        TransferError
            The cache folder or ``target`` cannot be written (read-only, no
            permission, disk full); the message names it. A downloaded export
            stays in the cache, so calling again runs no new job.

        Examples
        --------
        >>> import tempfile
        >>> from awiml.testing import EcotaxaServer
        >>> with EcotaxaServer(job_steps=0) as server:
        ...     [projid] = server.add_sample_data()
        ...     _ = server.add_user("alice", "secret")
        ...     source = EcotaxaSource("alice", "secret", base_url=server.api_url,
        ...                            cache=tempfile.mkdtemp(), remember_token=False)
        ...     folder = source.export(projid, {"taxa": "Siphonophorae"}, progress=False)
        >>> sorted(p.suffix for p in folder.iterdir())
        ['', '.log', '.tsv']
        >>> len(list(folder.rglob("*.jpg")))
        100
        """
        settings = self._export_settings(project, filters, split_by, with_images, with_types_row)
        folder, _record = self._export(
            settings, target=target, refresh=refresh, max_bytes=max_bytes, progress=progress,
            poll_interval=poll_interval, timeout=timeout,
        )
        return folder

    def _export_settings(self, project: int | str, filters: Mapping[str, Any] | None,
                         split_by: str, with_images: str, with_types_row: bool) -> dict[str, Any]:
        """Check export options; return the settings naming one export (and its cache folder)."""
        if split_by not in _SPLIT_BY:
            raise ValueError(f"split_by must be one of {_SPLIT_BY}, got {split_by!r}")
        if with_images not in _WITH_IMAGES:
            raise ValueError(f"with_images must be one of {_WITH_IMAGES}, got {with_images!r}")
        return {
            "project_id": project_id(project),
            "filters": self.filters(filters),
            "split_by": split_by,
            "with_images": with_images,
            "with_types_row": bool(with_types_row),
        }

    def _configured_export(self, projid: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the settings and job options of ``ecotaxa://`` paths (:attr:`export_options`)."""
        options = {
            name: parameter.default
            for name, parameter in inspect.signature(self.export).parameters.items()
            if parameter.default is not parameter.empty
        }
        options.update(self.export_options)
        settings = self._export_settings(projid, *(options.pop(key) for key in _SETTINGS))
        return settings, options

    def close(self) -> None:
        """Delete the temporary folder of a source made with ``cache=False``, and its exports.

        The source stays usable and makes a new folder when it needs one.
        """
        self._remove_scratch()

    # -- fsspec ----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        path = super()._strip_protocol(path)  # "ecotaxa://" (and "ecotaxa::")
        return path if isinstance(path, list) else path.removeprefix("ecotaxa:").strip("/")

    def _split(self, path: str) -> tuple[int | None, str]:
        """Return ``(project id, rest)``; ``(None, "vault/...")`` for images, ``(None, "")``."""
        path = self._strip_protocol(path)
        if not path or path == "vault" or path.startswith("vault/"):
            return None, path
        head, _, rest = path.partition("/")
        if not head.isdigit():
            raise NotFoundError(
                f"ecotaxa://{path}: paths start with a project id or 'vault', e.g. "
                "ecotaxa://1234/objects.tsv or ecotaxa://vault/0000/0123.jpg"
            )
        return int(head), rest

    def _ensure_zip(self, projid: int) -> tuple[Path, dict[str, Any]]:
        settings, options = self._configured_export(projid)
        del options["target"]
        entry = self._entry(settings)
        assert entry is not None
        return self._export_zip(entry, settings, **options)

    def _local_files(self) -> LocalFileSystem:
        """Return the file system for the exported files (see :meth:`_release_scratch`)."""
        scratch = self._release_scratch()
        return LocalFileSystem() if scratch is None else ScratchFiles(scratch)

    def _in_export(self, projid: int, rest: str) -> tuple[Path, Path, dict[str, Any]]:
        """Return the extracted export's folder, what ``rest`` names in it, and the record."""
        settings, options = self._configured_export(projid)
        folder, record = self._export(settings, **options)
        local = folder / rest.removeprefix("export").lstrip("/")
        if not local.exists():
            raise NotFoundError(f"ecotaxa://{projid}/{rest} is not part of the export")
        return folder, local, record

    def _table_record(self, projid: int, api_filters: Mapping[str, str],
                      total: int | None = None) -> dict[str, Any]:
        """Describe a table or export: project, title, filters, object count, API URL."""
        return {
            "project_id": projid,
            "title": self.project(projid).get("title"),
            "filters": dict(api_filters),
            "total_ids": self._count(projid, api_filters) if total is None else total,
            "api_url": redact_url(self.api_url),
        }

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """List projects, a project's folder, or its extracted export.

        Parameters
        ----------
        path : str
            ``""`` (the projects you can see, and ``vault``), ``<id>``
            (``objects.tsv``, ``export.zip``, ``export``), ``<id>/export``
            (the extracted export; runs or reuses it), or a file (listed as
            itself). The vault cannot be listed: its listing is empty.
        detail : bool, optional
            Return info dicts instead of names.
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        list
            Entries as dicts (``name``, ``type``, ``size``...) or names.
        """
        projid, rest = self._split(path)
        if projid is None and rest == "":
            entries = [
                {"name": str(pid), "type": "directory", "size": 0, "title": row["title"]}
                for pid, row in self.projects().iterrows()
            ]
            entries.append({"name": "vault", "type": "directory", "size": 0})
        elif projid is None and rest == "vault":
            entries = []
        elif projid is not None and rest == "":
            entries = [
                self.info(f"{projid}/objects.tsv"),  # NotFoundError for unknown projects
                self.info(f"{projid}/export.zip"),
                {"name": f"{projid}/export", "type": "directory", "size": 0},
            ]
        elif projid is not None and (rest == "export" or rest.startswith("export/")):
            _folder, local, _record = self._in_export(projid, rest)
            if local.is_dir():
                entries = [_local_entry(f"{projid}/{rest}/{child.name}", child)
                           for child in sorted(local.iterdir())]
            else:
                entries = [_local_entry(f"{projid}/{rest}", local)]
        else:
            entries = [self.info(path)]
        return entries if detail else [e["name"] for e in entries]

    def _cached_zip_size(self, projid: int) -> int | None:
        try:
            settings, _options = self._configured_export(projid)
        except AwimlError:
            return None
        entry = self._entry(settings, create=False)
        if entry is not None and (entry / "export.zip").is_file():
            return (entry / "export.zip").stat().st_size
        return None

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Describe a project (EcoTaxa's fields) or one of its files, or an image.

        Parameters
        ----------
        path : str
            A path as listed by :meth:`ls`.
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        dict
            fsspec's ``name``, ``type`` and ``size``; for a project also its
            ``title``, ``instrument``, ``visible``, ``objcount``, ``pctvalidated``
            and ``project`` (EcoTaxa's whole project object).
        """
        projid, rest = self._split(path)
        if projid is None:
            if rest in ("", "vault"):
                return {"name": rest, "type": "directory", "size": 0}
            with self._vault("HEAD", rest) as response:
                length = response.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
            return {"name": rest, "type": "file", "size": size}
        if rest == "":
            meta = self.project(projid)
            return {
                "name": str(projid), "type": "directory", "size": 0,
                **{k: meta.get(k) for k in ("title", "instrument", "visible", "objcount",
                                            "pctvalidated")},
                "project": meta,
            }
        if rest in ("objects.tsv", "export.zip"):
            self.project(projid)
            size = self._cached_zip_size(projid) if rest == "export.zip" else None
            return {"name": f"{projid}/{rest}", "type": "file", "size": size}
        if rest == "export" or rest.startswith("export/"):
            _folder, local, _record = self._in_export(projid, rest)
            return _local_entry(f"{projid}/{rest}", local)
        raise NotFoundError(
            f"ecotaxa://{projid}/{rest} does not exist: a project folder holds objects.tsv, "
            "export.zip and export/<file>"
        )

    def _vault_url(self, name: str) -> str:
        return f"{self.api_url}/vault/{quote(name.removeprefix('vault/'), safe='/')}"

    def _vault(self, method: str, name: str) -> requests.Response:
        """Ask the vault for one image (no login); return the checked response."""
        what = f"the image {name}"
        response = self._send(method, self._vault_url(name), headers={}, what=what)
        self._raise_for_status(response, what, token_sent=False,
                               hint="Image names come from the img_file_name column.")
        return response

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise PermissionError("EcoTaxa is read-only: open files with mode 'rb'")
        projid, rest = self._split(path)
        if projid is None:
            if not rest.startswith("vault/"):
                raise IsADirectoryError(f"ecotaxa://{rest} is a folder, not a file")
            with self._vault("GET", rest) as response:
                return MemoryFile(None, path, response.content)
        if rest == "objects.tsv":
            table = self.query(projid, self.export_options.get("filters"))
            text = table.to_csv(sep="\t", date_format="%Y-%m-%d")
            return MemoryFile(None, path, text.encode("utf-8"))
        if rest == "export.zip":
            zip_path, _record = self._ensure_zip(projid)
            return open(zip_path, "rb")  # fsspec closes it
        if rest.startswith("export/"):
            _folder, local, _record = self._in_export(projid, rest)
            if not local.is_file():
                raise NotFoundError(f"ecotaxa://{projid}/{rest} is not a file of the export")
            return open(local, "rb")  # fsspec closes it
        self.info(path)  # raises NotFoundError naming the valid paths
        raise IsADirectoryError(f"ecotaxa://{projid}/{rest} is a folder, not a file")

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget project descriptions remembered in memory (exports stay cached on disk).

        Parameters
        ----------
        path : str, optional
            Ignored; everything remembered is dropped.
        """
        with self._lock:
            self._projects.clear()
        super().invalidate_cache(path)

    def remote_files(self, path: str) -> list[RemoteFile]:
        """Files to copy for ``Workspace.fetch``: the extracted export, or one file.

        ``ecotaxa://<id>`` (or ``ecotaxa://<id>/export``) runs or reuses the
        export (with :attr:`export_options`) and gives each TSV and image as
        ``ecotaxa/<id>/<path in the zip>``; the other paths (see Notes of
        :class:`EcotaxaSource`) give their one file. Each file carries the
        project id and title, the filters, the job id, EcoTaxa's object count
        (``total_ids``), the export options and the API URL (never
        credentials) for the manifest.

        With ``cache=False`` the returned objects take over the source's
        temporary folder (see ``cache``); until they are dropped the source
        still reuses the export.

        Parameters
        ----------
        path : str
            A project, its export, or one file.

        Returns
        -------
        list of RemoteFile
            The files, in a stable order.
        """
        projid, rest = self._split(path)
        if projid is None:
            if not rest.startswith("vault/"):
                raise NotFoundError(
                    f"ecotaxa://{rest}: fetch a project (ecotaxa://1234) or an image "
                    "(ecotaxa://vault/<img_file_name>)"
                )
            url = self._vault_url(rest)
            return [RemoteFile(
                source=redact_url(url), name=f"ecotaxa/{rest}", url=url,
                session=self._new_session(retries=0),
                metadata={"api_url": redact_url(self.api_url)},
            )]
        if rest == "objects.tsv":
            record = self._table_record(projid, self.filters(self.export_options.get("filters")))
            return [RemoteFile(source=f"ecotaxa://{projid}/objects.tsv",
                               name=f"ecotaxa/{projid}/objects.tsv", metadata=record,
                               fs=self, path=f"{projid}/objects.tsv")]
        if rest == "export.zip":
            zip_path, record = self._ensure_zip(projid)
            local = self._local_files()
            return [RemoteFile(source=f"ecotaxa://{projid}/export.zip",
                               name=f"ecotaxa/{projid}/export.zip", size=zip_path.stat().st_size,
                               metadata=_manifest_record(record), fs=local, path=str(zip_path))]
        if rest not in ("", "export") and not rest.startswith("export/"):
            self.info(path)
        folder, base, record = self._in_export(projid, rest)
        found = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        metadata = _manifest_record(record)
        local = self._local_files()
        files = []
        for file in found:
            member = file.relative_to(folder).as_posix()
            files.append(RemoteFile(
                source=f"ecotaxa://{projid}/export/{member}",
                name=f"ecotaxa/{projid}/{member}",
                size=file.stat().st_size,
                metadata=metadata,
                fs=local,
                path=str(file),
            ))
        return files


def _no_auth(request: Any) -> Any:
    """Add no credentials (keeps requests from sending ``~/.netrc`` passwords)."""
    return request


def _local_entry(name: str, local: Path) -> dict[str, Any]:
    """Describe a file or folder of an extracted export as fsspec does."""
    if local.is_dir():
        return {"name": name, "type": "directory", "size": 0}
    return {"name": name, "type": "file", "size": local.stat().st_size}


def _manifest_record(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("project_id", "title", "filters", "job_id", "total_ids", "export", "api_url")
    return {k: record[k] for k in keys if k in record}
