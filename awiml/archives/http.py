"""One HTTP session, one retry policy, and logs that never show a secret.

:class:`RetryPolicy` decides which failures are transient, how long to wait and
how a retry is logged, for the transfer engine's downloads and for every other
request of an :class:`AwimlSession` (urllib3 itself never retries).
:func:`http_session` makes the session every archive client uses, and
:func:`install_log_redaction` keeps secrets out of every library's logs.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import netrc
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter

from .._version import __version__
from ..errors import ArchiveUnavailableError, redact_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "USER_AGENT",
    "AwimlSession",
    "CredentialsAround",
    "RetryPolicy",
    "http_session",
    "install_log_redaction",
    "netrc_credentials",
    "redact_text",
    "unreachable_as_unavailable",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for a connection and for each read from the socket.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)

#: HTTP statuses worth retrying: rate limiting and transient server errors.
RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Statuses that say the server did not process the request at all, so that even a
#: request that is not idempotent (an EcoTaxa export POST) may be sent again.
UNPROCESSED_STATUSES: frozenset[int] = frozenset({429, 503})

#: Methods whose requests the session retries on any transient failure.
IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS"})

USER_AGENT = f"awiml/{__version__} (+https://awiml.readthedocs.io)"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request or a transfer is retried.

    Parameters
    ----------
    retries : int
        Retries after failed attempts that received nothing.
    backoff : float
        Base wait in seconds; retry ``n`` waits ``backoff * 2**n`` seconds
        (up to 25 % less with jitter), at most ``max_backoff``. A resume
        after an attempt that made progress waits ``backoff``.
    max_backoff : float
        Upper bound of one backoff wait in seconds.
    max_resumes : int
        Attempts that received data before the connection broke count
        against this instead of ``retries`` (the next one resumes), so one
        file takes at most ``retries + max_resumes + 1`` attempts.
    max_retry_after : float
        Longest ``Retry-After`` honoured; a longer one fails at once, saying
        when to try again.
    timeout : tuple of float
        Connect and read timeouts of each HTTP request in seconds.
    connect_retries : int
        Of ``retries``, how many a request (not a file transfer) spends on a
        refused connection, so that offline use falls back to caches quickly.

    Examples
    --------
    >>> RetryPolicy(retries=3, backoff=0.1).wait(2)
    0.4
    >>> RetryPolicy().transient_status(503), RetryPolicy().transient_status(404)
    (True, False)
    """

    retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_resumes: int = 100
    max_retry_after: float = 300.0
    timeout: tuple[float, float] = (10.0, 60.0)
    connect_retries: int = 2

    def wait(self, attempt: int, *, jitter: bool = False) -> float:
        """Return the backoff in seconds before retry number ``attempt`` (from 0).

        Parameters
        ----------
        attempt : int
            How many retries came before this one.
        jitter : bool, optional
            Shorten the wait by up to 25 % at random (parallel workers do not
            retry in lock step).

        Returns
        -------
        float
        """
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (1 - 0.25 * random.random()) if jitter else base

    @staticmethod
    def transient_status(status: int, *, idempotent: bool = True) -> bool:
        """Whether an HTTP status is worth another try.

        Parameters
        ----------
        status : int
            The reply's status code.
        idempotent : bool, optional
            Whether sending the request twice is harmless; if not, only 429
            and 503 (not processed) are transient.

        Returns
        -------
        bool
        """
        return status in (RETRY_STATUSES if idempotent else UNPROCESSED_STATUSES)

    @staticmethod
    def transient_exception(exc: BaseException, *, idempotent: bool = True) -> bool:
        """Whether a failed request is worth another try.

        Parameters
        ----------
        exc : BaseException
            What the request raised.
        idempotent : bool, optional
            If not, only a connection that could not be opened is transient.

        Returns
        -------
        bool
        """
        if not idempotent:
            return isinstance(exc, requests.ConnectTimeout) or _never_connected(exc)
        return isinstance(exc, (requests.ConnectionError, requests.Timeout,
                                requests.exceptions.ChunkedEncodingError,
                                ConnectionError, TimeoutError))

    def retry_after(self, value: str | None, *, source: str, status: int) -> float | None:
        """Seconds a ``Retry-After`` header asks to wait, if any and if acceptable.

        Parameters
        ----------
        value : str or None
            The header: seconds or an HTTP date.
        source : str
            The URL or what was asked, for the message.
        status : int
            The reply's status.

        Returns
        -------
        float or None
            The wait, or ``None`` without a (readable) header.

        Raises
        ------
        ArchiveUnavailableError
            The server asks to wait longer than ``max_retry_after``.
        """
        seconds = parse_retry_after(value)
        if seconds is not None and seconds > self.max_retry_after:
            raise ArchiveUnavailableError(
                f"{redact_url(source)} answered {status} and asks to wait {seconds:.0f} s (more "
                f"than {self.max_retry_after:.0f} s): the archive is busy or recalling the data "
                "from tape. Try again later."
            )
        return seconds

    def log_retry(self, source: str, reason: str, failures: int, wait: float, *,
                  log: logging.Logger | None = None) -> None:
        """Log retry number ``failures`` of ``source`` (redacted) at WARNING, ``wait`` s ahead.

        Parameters
        ----------
        source, reason : str
            The URL or what was asked, and what failed.
        failures : int
            How many tries failed so far (this retry's number).
        wait : float
            Seconds until the retry.
        log : logging.Logger, optional
            The logger to use; this module's by default.
        """
        (log or logger).warning("%s failed (%s); retry %d of %d in %.1f s", redact_url(source),
                                reason, failures, self.retries, wait)


def _never_connected(exc: BaseException) -> bool:
    """Whether a requests error says the connection was never made."""
    import urllib3

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (urllib3.exceptions.NewConnectionError,
                                urllib3.exceptions.ConnectTimeoutError)):
            return True
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def unreachable_as_unavailable(archive: str, what: str, advice: str) -> Iterator[None]:
    """Turn a connection failure or timeout inside the block into awiml's error.

    Every archive client wraps its requests in this, so "could not be reached"
    reads the same for all archives.

    Parameters
    ----------
    archive : str
        The archive as the user knows it, with a redacted URL if that helps.
    what : str
        What was being asked for ("the dataset list", "project 185").
    advice : str
        What the user can do.

    Raises
    ------
    awiml.errors.ArchiveUnavailableError
        On :class:`requests.ConnectionError` or :class:`requests.Timeout`.

    Examples
    --------
    >>> try:
    ...     with unreachable_as_unavailable("PANGAEA", "dataset 1", "Check your network."):
    ...         raise requests.ConnectTimeout("slow")
    ... except ArchiveUnavailableError as error:
    ...     print(error)
    PANGAEA could not be reached for dataset 1 (ConnectTimeout). Check your network.
    """
    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ArchiveUnavailableError(
            f"{archive} could not be reached for {what} ({type(exc).__name__}). {advice}"
        ) from None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date).

    Parameters
    ----------
    value : str or None
        The header's value.

    Returns
    -------
    float or None
        Seconds (never negative), or ``None`` if absent or unreadable.

    Examples
    --------
    >>> parse_retry_after("7"), parse_retry_after(None), parse_retry_after("soon")
    (7.0, None, None)
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds)


class AwimlSession(requests.Session):
    """A :class:`requests.Session` with default timeouts and awiml's retries.

    Every request gets :attr:`default_timeout` unless it gives a timeout, and
    is retried by :attr:`retry_policy`: an idempotent method (GET, HEAD,
    OPTIONS) on any transient failure, others only when the server did not
    process them. The keyword arguments ``idempotent=`` and ``retry_policy=``
    change this for one request.
    """

    default_timeout: tuple[float, float] = DEFAULT_TIMEOUT
    retry_policy: RetryPolicy = RetryPolicy(retries=0)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """Send a request with the default timeout, retrying transient failures."""
        policy: RetryPolicy = kwargs.pop("retry_policy", None) or self.retry_policy
        verb = (method.decode() if isinstance(method, bytes) else method).upper()
        idempotent = kwargs.pop("idempotent", None)
        if idempotent is None:
            idempotent = verb in IDEMPOTENT_METHODS
        kwargs.setdefault("timeout", self.default_timeout)
        text_url = url.decode() if isinstance(url, bytes) else url
        remember_secrets(self, text_url, kwargs.get("headers"), kwargs.get("auth"))
        failures = connect_failures = 0
        while True:
            wait: float | None = None
            try:
                response = super().request(method, url, *args, **kwargs)
            except requests.RequestException as exc:
                never_connected = _never_connected(exc)
                if (failures >= policy.retries
                        or not policy.transient_exception(exc, idempotent=idempotent)
                        or (never_connected and connect_failures >= policy.connect_retries)):
                    raise
                connect_failures += never_connected
                reason = type(exc).__name__
            else:
                status = response.status_code
                if failures >= policy.retries or not policy.transient_status(
                        status, idempotent=idempotent):
                    return response
                response.close()
                reason = f"HTTP {status}"
                wait = policy.retry_after(response.headers.get("Retry-After"), source=text_url,
                                          status=status)
            failures += 1
            if wait is None:
                wait = policy.wait(failures - 1, jitter=True)
            policy.log_retry(text_url, reason, failures, wait)
            time.sleep(wait)


def http_session(
    *,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
    retries: int = 5,
    backoff: float = 0.5,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    pool_size: int = 16,
    max_retry_after: float = 300.0,
) -> requests.Session:
    """Make the HTTP session every awiml archive client uses.

    Parameters
    ----------
    auth : tuple of str, optional
        User name and password for HTTP Basic authentication.
    token : str, optional
        A bearer token, sent as ``Authorization: Bearer <token>``.
    retries : int, optional
        Retries of the session's ``retry_policy``; ``0`` turns retrying off.
    backoff : float, optional
        Backoff factor in seconds.
    timeout : tuple of float, optional
        Default connect and read timeouts of every request.
    pool_size : int, optional
        Connections kept per host, at least the number of parallel workers.
    max_retry_after : float, optional
        Longest ``Retry-After`` in seconds the session waits for; a longer
        one raises :class:`~awiml.errors.ArchiveUnavailableError` at once.

    Returns
    -------
    requests.Session
        A session with the awiml user agent. Without ``auth`` or ``token``,
        requests reads ``~/.netrc`` for the host (``trust_env``). Its
        ``Authorization`` header is dropped on a redirect to another host.

    Examples
    --------
    >>> session = http_session(retries=2)
    >>> session.headers["User-Agent"].startswith("awiml/")
    True
    >>> session.retry_policy.retries
    2
    """
    install_log_redaction()
    session = AwimlSession()
    session.default_timeout = timeout
    session.retry_policy = RetryPolicy(retries=retries, backoff=backoff, timeout=timeout,
                                       max_retry_after=max_retry_after,
                                       connect_retries=min(retries, 2))
    session.headers["User-Agent"] = USER_AGENT
    if auth is not None:
        session.auth = auth
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    remember_secrets(session, None, None, None)
    adapter = HTTPAdapter(max_retries=0, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def netrc_credentials(
    host: str, *, path: str | os.PathLike[str] | None = None
) -> tuple[str, str] | None:
    """Look up the login and password for ``host`` in ``~/.netrc``.

    Parameters
    ----------
    host : str
        The machine name as written in the netrc file.
    path : path-like, optional
        Another netrc file; defaults to ``$NETRC`` or ``~/.netrc``.

    Returns
    -------
    tuple of str or None
        ``(login, password)``, or ``None`` when the file or the host entry is
        missing or the file cannot be parsed (the reason is logged).
    """
    file = path or os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.exists(file):
        return None
    try:
        entry = netrc.netrc(os.fspath(file)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        logger.warning("could not read credentials from %s: %s", file, type(exc).__name__)
        return None
    if entry is None:
        return None
    login, _account, password = entry
    _remember(password)
    return (login or "", password or "")


class CredentialsAround:
    """A digest of the credentials a new source would find outside its arguments.

    Set as a class attribute of a source and named in its
    ``_extra_tokenize_attributes``, it joins the key of fsspec's instance
    cache, so a source made after one of the environment variables or the
    netrc file changed is a new one, which finds the new credentials, instead
    of the cached one holding the old. Only a digest is kept, never a value.

    Parameters
    ----------
    *names : str
        The environment variables the source reads (its token, user,
        password and server variables); ``NETRC`` and the netrc file's
        modification stamp are always included.

    Examples
    --------
    >>> class Source:
    ...     credentials_around = CredentialsAround("PANGAEA_TOKEN")
    >>> len(Source().credentials_around)
    64
    """

    def __init__(self, *names: str) -> None:
        self.names = ("NETRC", *names)

    def __get__(self, instance: object, owner: type | None = None) -> str:
        import hashlib

        netrc_file = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
        try:
            found = os.stat(netrc_file)
            stamp = f"{found.st_mtime_ns}:{found.st_size}:{found.st_ino}"
        except OSError:
            stamp = "none"
        values = [os.environ.get(name, "\0") for name in self.names]
        return hashlib.sha256("\n".join([*values, netrc_file, stamp]).encode()).hexdigest()


# -- no secret in any log ------------------------------------------------------------------

#: Secrets shorter than this are not searched for in log messages (they would hide
#: ordinary words); the patterns below still hide them where they have a known place.
_MIN_SECRET = 4
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_INSTALLED = False

_AUTHORIZATION = re.compile(
    r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?)"
    r"[^\s\"',}]+"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:token|access_token|api_key|apikey|key|password|passwd|secret|sig|signature)=)"
    r"[^&#\s\"']*"
)
_SECRET_FIELD = re.compile(
    r"(?i)([\"']?(?:password|passwd|token|access_token|secret)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',}&]+"
)


def _remember(secret: str | bytes | None) -> None:
    if isinstance(secret, bytes):
        secret = secret.decode("latin-1")
    if secret and len(secret) >= _MIN_SECRET:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def remember_secrets(session: requests.Session, url: str | None, headers: Any,
                     auth: Any) -> None:
    """Note the credentials a request sends, so that no log shows them.

    They are the passwords of the session's and the request's ``auth``, their
    ``Authorization`` headers, and the password and secret query values of ``url``.
    """
    for given in (session.auth, auth):
        if isinstance(given, tuple) and len(given) == 2:
            _remember(given[1])
    for mapping in (session.headers, headers or {}):
        for name, value in dict(mapping).items():
            if str(name).lower() in ("authorization", "proxy-authorization") and value:
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                _remember(text.split(None, 1)[-1])
    if url:
        try:
            parts = urlsplit(url)
        except ValueError:
            return
        _remember(parts.password)
        for key, value in parse_qsl(parts.query, keep_blank_values=False):
            if _SECRET_QUERY.search(f"?{key}=x"):
                _remember(value)


def redact_text(text: str) -> str:
    """Hide every secret in a text: URL credentials, secret query values, tokens, passwords.

    Parameters
    ----------
    text : str
        A log message, a traceback, an error message.

    Returns
    -------
    str
        The text with secrets replaced by ``***``.

    Examples
    --------
    >>> redact_text('GET https://u:pw@h.org/a?token=abc "Authorization: Bearer xyz"')
    'GET https://h.org/a?token=*** "Authorization: Bearer ***"'
    """
    text = _USERINFO.sub(r"\1", text)
    text = _SECRET_QUERY.sub(r"\1***", text)
    text = _AUTHORIZATION.sub(r"\1***", text)
    text = _SECRET_FIELD.sub(r"\1***", text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def install_log_redaction() -> None:
    """Make every log record, of any logger, free of secrets (idempotent).

    Installs a :func:`logging.setLogRecordFactory` factory, chaining the one
    before it, so it covers every logger and level whatever the user configures.
    A message :func:`redact_text` changes is replaced by the redacted text (without
    arguments); the traceback is redacted into ``exc_text``, which handlers print.

    Examples
    --------
    >>> import logging
    >>> install_log_redaction()
    >>> logging.getLogRecordFactory()("x", 10, "f", 1, "GET /a?token=%s", ("abc",), None).msg
    'GET /a?token=***'
    """
    global _INSTALLED

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format is logging's to report, not ours
            return record
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return record

    with _SECRETS_LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
        previous = logging.getLogRecordFactory()
        logging.setLogRecordFactory(factory)
