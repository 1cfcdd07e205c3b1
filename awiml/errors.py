"""The errors awiml raises on purpose.

Each derives from :class:`AwimlError`, and from the standard exception that
fits (a missing dataset is also a :class:`FileNotFoundError`). A message says
what happened, to which input and what to do next; it never contains a secret
(see :func:`awiml.errors.redact_url`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ArchiveConflictError",
    "ArchiveUnavailableError",
    "AuthenticationError",
    "AwimlError",
    "ChecksumMismatchError",
    "ExportError",
    "InvalidDataError",
    "ModelStoreError",
    "NotFoundError",
    "RawFileConflictError",
    "TransferError",
    "UntrustedModelError",
    "WorkspaceError",
    "redact_url",
]


class AwimlError(Exception):
    """Base class of every error awiml raises on purpose."""


class NotFoundError(AwimlError, FileNotFoundError):
    """A file, dataset, sensor or model that was asked for does not exist."""


class AuthenticationError(AwimlError, PermissionError):
    """The archive refused the credentials, or needs credentials that were not given."""


class ChecksumMismatchError(AwimlError, ValueError):
    """Data on disk or on the wire does not match its recorded size or checksum."""


class ArchiveUnavailableError(AwimlError, ConnectionError):
    """The archive could not be reached or kept failing after all retries."""


class TransferError(AwimlError, OSError):
    """A transfer failed for a reason that retrying will not fix (disk full, bad reply...)."""


class InvalidDataError(AwimlError, ValueError):
    """A file or a reply is malformed and cannot be parsed."""


class ExportError(AwimlError, RuntimeError):
    """An archive's export job failed, waits for a human, or did not finish in time.

    Parameters
    ----------
    message : str
        What happened and what to do.
    job_id : int or None, default=None
        The archive's job id; kept as the attribute ``job_id``.
    state : str or None, default=None
        The job's last known state (for EcoTaxa: ``"E"`` error, ``"A"``
        asking a question, ``"P"``/``"R"`` still pending or running); kept as
        the attribute ``state``.
    """

    def __init__(self, message: str, job_id: int | None = None, state: str | None = None):
        super().__init__(message)
        self.job_id = job_id
        self.state = state


class WorkspaceError(AwimlError):
    """A workspace folder is missing parts of its layout or is otherwise unusable."""


class RawFileConflictError(WorkspaceError, FileExistsError):
    """A fetch would replace a file in ``raw/`` with different content."""


class ArchiveConflictError(WorkspaceError, FileExistsError):
    """Archiving results would replace a file in the archive (it never does)."""


class ModelStoreError(AwimlError):
    """A model store operation was refused or could not complete (locked, alias in use...)."""


class UntrustedModelError(AwimlError, ValueError):
    """A saved model names types, functions or Keras classes outside the trusted policy.

    Parameters
    ----------
    message : str
        What was refused and what to do.
    names : iterable of str, default=()
        The refused names, fully qualified; kept sorted as the list ``names``.
    path : str or None, default=None
        The file that named them; kept as the attribute ``path``.
    """

    def __init__(self, message: str, names: Iterable[str] = (), path: str | None = None):
        super().__init__(message)
        self.names = sorted(set(names))
        self.path = path


_USERINFO = re.compile(r"//[^/@\s]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:token|access_token|api_key|apikey|key|password|passwd|secret|sig|signature)=)[^&#\s]*"
)


def redact_url(url: str) -> str:
    """Return ``url`` with user name, password and secret query values removed.

    Parameters
    ----------
    url : str
        Any URL or archive path.

    Returns
    -------
    str
        The URL, safe to print, log or store in a manifest.

    Examples
    --------
    >>> redact_url("https://alice:s3cret@example.org/a.tab?token=abc&x=1")
    'https://example.org/a.tab?token=***&x=1'
    >>> redact_url("hsm://alice@/hs/projects/x"), redact_url("hsm:///hs/projects/x")
    ('hsm:///hs/projects/x', 'hsm:///hs/projects/x')
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub("//", url))
    parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])  # user and password go
    text = urlunsplit(parts)
    scheme = f"{parts.scheme}:"
    if parts.scheme and url.startswith(scheme + "//") and not text.startswith(scheme + "//"):
        text = scheme + "//" + text[len(scheme):]  # hsm:///hs/x keeps its empty host
    return _SECRET_QUERY.sub(r"\1***", text)
