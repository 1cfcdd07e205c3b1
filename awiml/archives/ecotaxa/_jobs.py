"""EcoTaxa export jobs for :class:`~awiml.archives.ecotaxa.EcotaxaSource`, and their cache.

An export's cache folder (see ``EcotaxaSource``'s ``cache``) holds ``export.zip``,
``export.json`` (the record), ``files/`` (the extracted export), ``job.json`` (a job
not yet downloaded) and ``.partial/`` (a download not yet done); with ``cache=False``
the same layout lives in a temporary folder of the source (:class:`Scratch`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsspec.implementations.local import LocalFileSystem

from ..._files import NO_SPACE, atomic_write, publish, soft_lock
from ...errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    ExportError,
    NotFoundError,
    TransferError,
    redact_url,
)
from ..base import RemoteFile
from ..cache import _safe

if TYPE_CHECKING:
    import requests

    from ._auth import Credentials

__all__ = ["DEFAULT_MAX_BYTES", "ExportJobs", "Scratch", "ScratchFiles"]

# The source's logger: these messages are EcotaxaSource's, as before the split.
logger = logging.getLogger("awiml.archives.ecotaxa")

#: Largest total uncompressed size of an export that :meth:`EcotaxaSource.export` unpacks.
DEFAULT_MAX_BYTES = 100 * 1024**3
#: The advice of errors about a project EcoTaxa does not show.
PROJECTS_HINT = "List the projects you can see with EcotaxaSource(...).projects()."


class ExportJobs:
    """The export jobs of :class:`~awiml.archives.ecotaxa.EcotaxaSource`, and their cache.

    A mixin: ``EcotaxaSource`` sets the attributes annotated below and supplies the
    methods declared under ``TYPE_CHECKING``; the public entry point is its ``export``.
    """

    api_url: str
    retries: int
    retry_backoff: float
    timeout: tuple[float, float]
    _credentials: Credentials
    #: ``<cache>/ecotaxa``, or ``None`` with ``cache=False`` (then :class:`Scratch` is used).
    _cache_root: Path | None
    #: The temporary folder of a source made with ``cache=False`` while it holds it.
    _scratch: Scratch | None
    #: The same folder while a ``Workspace.fetch`` holds it (see :meth:`_release_scratch`).
    _scratch_ref: weakref.ref[Scratch] | None
    _lock: threading.RLock

    if TYPE_CHECKING:  # supplied by EcotaxaSource
        def project(self, project: int | str) -> dict[str, Any]: ...
        def _current_token(self) -> str | None: ...
        def _account(self) -> str: ...
        def _check_account(self, what: str) -> None: ...
        def _forget_token(self, token: str) -> None: ...
        def _new_session(self, *, retries: int, token: str | None = None) -> requests.Session: ...
        def _table_record(self, projid: int, api_filters: Mapping[str, str],
                          total: int | None = None) -> dict[str, Any]: ...
        def _request(self, method: str, route: str, *, what: str,
                     params: Mapping[str, Any] | None = None, payload: Any = None,
                     idempotent: bool = True, hint: str = "") -> Any: ...

    def _exports_root(self, *, create: bool = True) -> Path | None:
        """Return the folder that holds ``exports/``: the cache, or the temporary folder.

        The temporary folder is made on first use, and taken back from a fetch
        holding it (:meth:`_release_scratch`); ``create=False`` only looks.
        """
        if self._cache_root is not None:
            return self._cache_root
        with self._lock:
            scratch = self._scratch or (self._scratch_ref() if self._scratch_ref else None)
            if not create:
                return None if scratch is None else scratch.path
            if scratch is None:
                scratch = Scratch()
                self._scratch_ref = weakref.ref(scratch)
            self._scratch = scratch
            return scratch.path

    def _release_scratch(self) -> Scratch | None:
        """Let go of the temporary folder (``cache=False``) and return it, for a fetch to hold.

        A source in fsspec's instance cache lives until Python exits; the
        :class:`RemoteFile` objects of ``remote_files`` hold the folder instead.
        """
        if self._cache_root is not None:
            return None
        with self._lock:
            scratch, self._scratch = self._scratch, None
        return scratch

    def _remove_scratch(self) -> None:
        """Delete the temporary folder of a source made with ``cache=False``, if any."""
        with self._lock:
            scratch, self._scratch, self._scratch_ref = self._scratch, None, None
        if scratch is not None:
            scratch.remove()

    def _entry(self, settings: Mapping[str, Any], *, create: bool = True) -> Path | None:
        """Return the folder of one export (project, filters, options); ``None`` as above."""
        root = self._exports_root(create=create)
        if root is None:
            return None
        key = json.dumps({"api_url": self.api_url, "account": self._account(), **settings},
                         sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        server = _safe(redact_url(self.api_url).split("://", 1)[-1])
        return root / "exports" / server / str(settings["project_id"]) / digest

    def _export(
        self, settings: Mapping[str, Any], *, target: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> tuple[Path, dict[str, Any]]:
        """Extract the export ``settings`` name into ``target`` or the cache (reused there).

        ``options`` go to :meth:`_export_zip`; return the folder and the export's record.
        """
        from ._export import extract_zip, replace_dir

        entry = self._entry(settings)
        assert entry is not None
        files = entry / "files"
        if (target is None and not options["refresh"] and files.is_dir()
                and (entry / "export.json").is_file()):
            self._check_account(f"the export of project {settings['project_id']}")
            return files, _read_record(entry)
        zip_path, record = self._export_zip(entry, settings, **options)
        what, max_bytes = _what(record), options["max_bytes"]
        if target is not None:
            return extract_zip(zip_path, Path(target), what=what, max_bytes=max_bytes), record
        fresh = entry / f".files.{os.getpid()}.{threading.get_ident()}.new"
        shutil.rmtree(fresh, ignore_errors=True)
        extract_zip(zip_path, fresh, what=what, max_bytes=max_bytes)
        replace_dir(fresh, files)
        return files, record

    def _export_zip(
        self,
        entry: Path,
        settings: Mapping[str, Any],
        *,
        refresh: bool,
        max_bytes: int,
        progress: bool | None,
        poll_interval: float,
        timeout: float,
    ) -> tuple[Path, dict[str, Any]]:
        """Make sure ``entry/export.zip`` holds a checked export; return it and its record."""
        from ._export import check_zip, wait_for_job

        def busy() -> ExportError:
            return ExportError(
                f"another process is exporting project {settings['project_id']} with the same "
                f"options (lock file {entry / '.lock'}); wait for it, or delete the lock file "
                "if no such process runs"
            )

        def unwritable(exc: OSError) -> TransferError:
            advice = ("Free disk space" if exc.errno in NO_SPACE else
                      "Check that the cache folder is writable for you (or pass cache= another "
                      "folder)")
            return TransferError(
                f"could not create the lock file {entry / '.lock'} for exporting project "
                f"{settings['project_id']}: {exc.strerror or exc}. The cache is left as it "
                f"is. {advice}, then run export() again."
            )

        zip_path = entry / "export.zip"
        record_path = entry / "export.json"
        with soft_lock(entry / ".lock", max(timeout, 60.0), busy, unwritable):
            if not refresh and zip_path.is_file() and record_path.is_file():
                self._check_account(f"the export of project {settings['project_id']}")
                return zip_path, _read_record(entry)
            projid = int(settings["project_id"])
            self.project(projid)  # an unknown or private project fails here, before any job
            job_id = None if refresh else self._pending_job(entry)
            if job_id is None:
                shutil.rmtree(entry / ".partial", ignore_errors=True)  # from an older job
                job_id = self._start_export(settings)
                _write_json(entry / "job.json", {"job_id": job_id})
            site = self.api_url.removesuffix("/api")  # the web interface's root
            try:
                wait_for_job(
                    lambda: self._request("GET", f"jobs/{job_id}/", what=f"export job {job_id}"),
                    job_id, what=f"the export of project {projid}",
                    job_page=f"{site}/gui/job/show/{job_id}", poll_interval=poll_interval,
                    timeout=timeout, progress=progress,
                )
            except (ExportError, NotFoundError) as exc:
                if getattr(exc, "state", "E") == "E":  # a failed or vanished job: start anew
                    (entry / "job.json").unlink(missing_ok=True)
                raise
            record = {
                **self._table_record(projid, settings["filters"]),
                "job_id": job_id,
                "export": {k: settings[k] for k in ("split_by", "with_images", "with_types_row")},
            }
            downloaded = self._download_job_file(job_id, projid, entry, progress)
            try:
                check_zip(downloaded, what=_what(record), max_bytes=max_bytes)
                publish(downloaded, zip_path)
            finally:
                downloaded.unlink(missing_ok=True)
            shutil.rmtree(entry / ".partial", ignore_errors=True)
            record["size"] = zip_path.stat().st_size
            _write_json(record_path, record)
            (entry / "job.json").unlink(missing_ok=True)
            return zip_path, record

    def _pending_job(self, entry: Path) -> int | None:
        """Return the job an earlier call started and did not finish, if still usable."""
        try:
            job_id = int(json.loads((entry / "job.json").read_text("utf-8"))["job_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            job = self._request("GET", f"jobs/{job_id}/", what=f"export job {job_id}")
        except (NotFoundError, AuthenticationError):
            job = {}
        if job.get("state") in ("P", "R", "A", "F"):
            logger.info("going on with EcoTaxa export job %s started earlier", job_id)
            return job_id
        (entry / "job.json").unlink(missing_ok=True)
        return None

    def _start_export(self, settings: Mapping[str, Any]) -> int:
        projid = int(settings["project_id"])
        body = {
            "filters": dict(settings["filters"]),
            "request": {
                "project_id": projid,
                "split_by": settings["split_by"],
                "with_images": settings["with_images"],
                "with_types_row": settings["with_types_row"],
                "with_internal_ids": False,
                "only_annotations": False,
                "out_to_ftp": False,
            },
        }
        reply = self._request(
            "POST", "object_set/export/general", payload=body, idempotent=False,
            what=f"the export of project {projid}", hint=PROJECTS_HINT,
        )
        errors = [str(e) for e in reply.get("errors") or []]
        if errors or reply.get("job_id") is None:
            raise ExportError(
                f"EcoTaxa did not start the export of project {projid}: "
                f"{'; '.join(errors) or 'no job id in the reply'}. Check the filters and options."
            )
        for warning in reply.get("warnings") or []:
            logger.warning("EcoTaxa, export of project %s: %s", projid, warning)
        return int(reply["job_id"])

    def _download_job_file(self, job_id: int, projid: int, entry: Path,
                           progress: bool | None) -> Path:
        """Download the job's zip with the transfer engine; return the verified partial file."""
        from ..._progress import progress_bar
        from ..transfer import RetryPolicy, download
        from ._export import show_progress

        url = f"{self.api_url}/jobs/{job_id}/file"
        policy = RetryPolicy(retries=self.retries, backoff=self.retry_backoff,
                             max_backoff=30.0, timeout=self.timeout)
        partial_dir = entry / ".partial"
        with progress_bar(enabled=show_progress(progress), total=0, unit="B", unit_scale=True,
                          unit_divisor=1024, leave=False,
                          desc=f"EcoTaxa export {projid}") as bar:

            def grow(nbytes: int) -> None:
                bar.total = nbytes
                bar.refresh()

            for attempt in (1, 2):
                token = self._current_token()
                remote = RemoteFile(
                    source=url, name=f"ecotaxa/{projid}/export.zip", url=url,
                    session=self._new_session(token=token, retries=0),
                )
                try:
                    result = download(remote, partial_dir, policy=policy, progress=bar.update,
                                      on_size=grow)
                except AuthenticationError:
                    if attempt == 1 and token and self._credentials.can_login:
                        self._forget_token(token)  # expired while the job ran: log in again
                        continue
                    raise
                except NotFoundError:
                    (entry / "job.json").unlink(missing_ok=True)
                    raise NotFoundError(
                        f"EcoTaxa no longer has the file of export job {job_id} (project "
                        f"{projid}); call export() again to run a new job."
                    ) from None
                except (ArchiveUnavailableError, TransferError) as exc:
                    # Say what holds here, unlike the engine's message; keep the class.
                    raise type(exc)(
                        self._download_failed(job_id, projid, partial_dir, exc)
                    ) from exc
                return result.path
        raise AssertionError("unreachable")

    def _download_failed(self, job_id: int, projid: int, partial_dir: Path,
                         cause: Exception) -> str:
        """Say what a failed download of an export's zip leaves and how to go on."""
        from ..._progress import human_size

        received = sum(p.stat().st_size for p in partial_dir.glob("*.part") if p.is_file())
        if self._cache_root is not None:
            kept = f"in the export cache ({partial_dir})"
            again = "calling export() again"
        else:
            kept = f"in this source's temporary folder ({partial_dir}; cache=False)"
            again = "calling export() again on this same source"
        return (
            f"EcoTaxa's export job {job_id} (project {projid}) finished, but its zip could not "
            f"be downloaded from {redact_url(self.api_url)} (the error above says why). The "
            f"{human_size(received)} received so far "
            f"are kept {kept}, and {again} with the same project, filters and options (or "
            "opening or fetching the same ecotaxa:// path with the same export_options) goes "
            f"on with job {job_id} and resumes its download; nothing was unpacked. "
            + ("Check EcoTaxa's status or your network first."
               if isinstance(cause, ArchiveUnavailableError)
               else "First fix what the error above names (free disk space, write permission).")
        )


class Scratch:
    """A temporary folder (``awiml-ecotaxa-*``), deleted once nothing holds this object.

    Deletion runs through :func:`weakref.finalize`: when the last reference
    goes, on :meth:`remove`, or when Python exits, whichever comes first.

    Attributes
    ----------
    path : pathlib.Path
        The folder.
    """

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="awiml-ecotaxa-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path),
                                           ignore_errors=True)

    def remove(self) -> None:
        """Delete the folder now (once; later calls do nothing)."""
        self._finalizer()


class ScratchFiles(LocalFileSystem):
    """The local file system, holding a :class:`Scratch` folder alive while it is used.

    Parameters
    ----------
    scratch : Scratch
        The folder to hold.
    **storage_options
        Passed to :class:`~fsspec.implementations.local.LocalFileSystem`.
    """

    cachable = False  # one per hand-over, never shared through fsspec's instance cache

    def __init__(self, scratch: Scratch, **storage_options: Any) -> None:
        super().__init__(**storage_options)
        self.scratch = scratch


def _what(record: Mapping[str, Any]) -> str:
    return f"the export of project {record.get('project_id')} (EcoTaxa job {record.get('job_id')})"


def _read_record(entry: Path) -> dict[str, Any]:
    try:
        return json.loads((entry / "export.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True))
