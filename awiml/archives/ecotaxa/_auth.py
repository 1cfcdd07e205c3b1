"""EcoTaxa credentials: where they come from and the on-disk token cache (:class:`TokenCache`).

Token values and passwords are never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..._files import atomic_write
from ..base import netrc_credentials

__all__ = [
    "TOKEN_MAX_AGE",
    "Credentials",
    "TokenCache",
    "config_dir",
    "find_credentials",
    "password_check",
    "password_matches",
]

logger = logging.getLogger(__name__)

#: Seconds a cached token is reused: a little under EcoTaxa's 30 days.
TOKEN_MAX_AGE = 29 * 24 * 3600


def config_dir() -> Path:
    """Return awiml's configuration folder (not created): ``$AWIML_CONFIG_DIR`` or the platform's.

    Examples
    --------
    >>> config_dir().is_absolute()
    True
    """
    override = os.environ.get("AWIML_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("awiml", appauthor=False))


@dataclass(repr=False, eq=False, slots=True)
class Credentials:
    """User name, password and token for one EcoTaxa server.

    Parameters
    ----------
    username : str or None
        The EcoTaxa login (an e-mail address on the real server).
    password : str or None
        The password; never shown by ``repr``.
    token : str or None
        A bearer token given by the user; never shown by ``repr``.
    origin : str
        Where the user name and password came from (``"arguments"``,
        ``"environment"``, ``"~/.netrc"`` or ``"none"``), for messages.
    """

    username: str | None
    password: str | None
    token: str | None
    origin: str

    @property
    def can_login(self) -> bool:
        """Whether a user name and a password are at hand."""
        return bool(self.username) and self.password is not None

    def __repr__(self) -> str:
        return (
            f"Credentials(username={self.username!r}, password={'set' if self.password else 'none'}"
            f", token={'set' if self.token else 'none'}, origin={self.origin!r})"
        )


def find_credentials(
    api_url: str,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
) -> Credentials:
    """Find credentials in the arguments, the environment or ``~/.netrc``, in this order.

    Parameters
    ----------
    api_url : str
        The API root; its host names the ``~/.netrc`` entry.
    username, password, token : str, optional
        Explicit values, which win over ``ECOTAXA_USER``, ``ECOTAXA_PASSWORD``
        and ``ECOTAXA_TOKEN``.

    Returns
    -------
    Credentials
        What was found; any part may be ``None``.

    Examples
    --------
    >>> find_credentials("http://127.0.0.1:1/api", "alice", "pw").origin
    'arguments'
    """
    token = token or os.environ.get("ECOTAXA_TOKEN") or None
    env_user = os.environ.get("ECOTAXA_USER") or None
    user = username or env_user
    if password is None and (username is None or env_user in (None, username)):
        password = os.environ.get("ECOTAXA_PASSWORD")
        origin = "environment"
    else:
        origin = "arguments"
    if user and password is not None:
        return Credentials(user, password, token, origin)
    host = urlsplit(api_url).hostname or ""
    found = netrc_credentials(host) if host else None
    if found is not None and found[0] and (user is None or found[0] == user):
        return Credentials(found[0], found[1], token, "~/.netrc")
    return Credentials(user, None, token, "none")


#: scrypt's cost parameters for the password check of a cached token (the "interactive"
#: ones of scrypt's paper: about 0.1 s and 16 MiB); kept in each file, so they can grow.
SCRYPT_COST = {"n": 2**14, "r": 8, "p": 1}


def _scrypt(password: str, salt: bytes, cost: Mapping[str, Any]) -> bytes:
    n, r, p = (int(cost[k]) for k in ("n", "r", "p"))
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * r * (n + p + 2), dklen=32)


def password_check(password: str) -> dict[str, Any]:
    """Return a salted scrypt hash of ``password``, to recognise it later without keeping it.

    Parameters
    ----------
    password : str
        The password of a login that EcoTaxa accepted.

    Returns
    -------
    dict
        ``{"scrypt": <hex>, "salt": <hex>, "n", "r", "p"}``; the salt is random.

    Examples
    --------
    >>> check = password_check("secret")
    >>> password_matches(check, "secret"), password_matches(check, "Secret")
    (True, False)
    >>> "secret" in str(check)
    False
    """
    salt = os.urandom(16)
    return {"scrypt": _scrypt(password, salt, SCRYPT_COST).hex(), "salt": salt.hex(),
            **SCRYPT_COST}


def password_matches(check: Any, password: str) -> bool:
    """Tell whether ``password`` is the one :func:`password_check` made ``check`` from.

    Anything that is not such a check (missing, damaged, of an older awiml)
    matches no password.
    """
    try:
        salt = bytes.fromhex(check["salt"])
        expected = bytes.fromhex(check["scrypt"])
        cost = {k: int(check[k]) for k in ("n", "r", "p")}
        # a damaged or crafted file must not make the check take minutes or GiB
        if not (2 <= cost["n"] <= 2**17 and 1 <= cost["r"] <= 16 and 1 <= cost["p"] <= 4):
            return False
        found = _scrypt(password, salt, cost)
    except (KeyError, TypeError, ValueError, MemoryError):
        return False
    return hmac.compare_digest(found, expected)


class TokenCache:
    """Tokens kept on disk per API URL and user name, readable by the user only.

    One JSON file (mode ``0600`` in a ``0700`` folder) per server and user
    keeps the token and a salted scrypt hash of the password that obtained it
    (:func:`password_check`), never the password; the token is handed out only
    for that password, until :data:`TOKEN_MAX_AGE` seconds old. A wrong
    password thus makes ``EcotaxaSource`` log in, and EcoTaxa refuse it,
    while the good token stays. Files without a hash (awiml 0.1) give no token.

    Parameters
    ----------
    root : path-like, optional
        The configuration folder; :func:`config_dir` by default.
    max_age : float, optional
        Seconds a token is reused.

    Examples
    --------
    >>> import tempfile
    >>> cache = TokenCache(tempfile.mkdtemp())
    >>> cache.put("https://ecotaxa.example/api", "alice", "t0k3n", "pw")
    >>> cache.get("https://ecotaxa.example/api", "alice", "pw")
    't0k3n'
    >>> cache.get("https://ecotaxa.example/api", "alice", "not-the-pw") is None
    True
    >>> oct(cache.path("https://ecotaxa.example/api", "alice").stat().st_mode & 0o777)
    '0o600'
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 max_age: float = TOKEN_MAX_AGE) -> None:
        self.folder = Path(root if root is not None else config_dir()) / "ecotaxa-tokens"
        self.max_age = max_age

    def path(self, api_url: str, username: str) -> Path:
        """Return the file that holds (or would hold) the token of ``username`` at ``api_url``."""
        key = hashlib.sha256(f"{api_url.rstrip('/')}\n{username}".encode()).hexdigest()[:32]
        return self.folder / f"{key}.json"

    def _read(self, api_url: str, username: str) -> dict[str, Any] | None:
        """Return the record of ``username`` at ``api_url``, or ``None``."""
        file = self.path(api_url, username)
        try:
            record = json.loads(file.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring the unreadable EcoTaxa token file %s (%s)", file,
                           type(exc).__name__)
            return None
        if not isinstance(record, dict) or record.get("api_url") != api_url.rstrip("/") or (
            record.get("username") != username
        ):
            return None
        return record

    def knows_password(self, api_url: str, username: str, password: str) -> bool:
        """Tell whether ``password`` is the one of the last login kept for ``username``.

        This is the offline check of an account: the token's age does not matter.
        """
        record = self._read(api_url, username)
        return record is not None and password_matches(record.get("password_check"), password)

    def get(self, api_url: str, username: str, password: str) -> str | None:
        """Return the cached token for this password (``None``: missing, too old, another's)."""
        record = self._read(api_url, username)
        if record is None:
            return None
        created = record.get("created")
        if not isinstance(created, (int, float)) or time.time() - created > self.max_age:
            logger.info("the cached EcoTaxa token of %s is too old; logging in again", username)
            return None
        if not password_matches(record.get("password_check"), password):
            logger.info("the cached EcoTaxa token of %s was not obtained with this password; "
                        "logging in to check it", username)
            return None
        token = record.get("token")
        return token if isinstance(token, str) and token else None

    def put(self, api_url: str, username: str, token: str, password: str) -> None:
        """Store ``token`` and a hash of ``password``, which EcoTaxa has just accepted."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            record = {"api_url": api_url.rstrip("/"), "username": username,
                      "created": time.time(), "token": token,
                      "password_check": password_check(password)}
            atomic_write(self.path(api_url, username), json.dumps(record), mode=0o600)
        except OSError as exc:  # not fatal: the next session logs in again
            logger.warning("could not keep the EcoTaxa token in %s (%s)", self.folder,
                           type(exc).__name__)

    def drop(self, api_url: str, username: str, token: str | None = None) -> None:
        """Forget the token of ``username`` at ``api_url`` (only if it is ``token``, if given)."""
        if token is not None:
            record = self._read(api_url, username)
            if record is None or record.get("token") != token:
                return
        with contextlib.suppress(OSError):
            self.path(api_url, username).unlink()
