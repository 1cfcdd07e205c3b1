"""``HSMSource``: AWI's tape archive as an fsspec file system, with batched staging."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import (
    ArchiveUnavailableError,
    InvalidDataError,
    NotFoundError,
    TransferError,
)
from ..base import ArchiveFileSystem, RemoteFile
from ..http import CredentialsAround, _remember, netrc_credentials
from ..transfer import RetryPolicy
from ._sls import SlsRecord, parse_sls
from ._ssh import Connection, Login
from ._staging import stage_order, wait_online

if TYPE_CHECKING:
    from ._writer import HSMWriter

__all__ = ["HSMSource"]

#: Environment variables that say where the HSM is and who logs in.
HOST_VARIABLE, USER_VARIABLE, PORT_VARIABLE = "AWIML_HSM_HOST", "AWIML_HSM_USER", "AWIML_HSM_PORT"
#: The archive's namespace; ``mount=`` stands for this folder.
NAMESPACE = "/hs"
_MISSING = "No such file or directory"


def _hsm_path(path: str) -> str:
    """Normalise an archive path: absolute, no ``.``/``..``, no trailing ``/``."""
    return posixpath.normpath("/" + str(path).strip().lstrip("/"))


class HSMSource(ArchiveFileSystem):
    """AWI's HSM tape archive: list, query file states, stage in batches, read, fetch.

    Files on the HSM (Versity ScoutAM, the successor of SAM-QFS) live on
    tape; a file that is only on tape (*offline*) must be recalled
    (*staged*) before it can be read, one tape mount of minutes per volume.
    This source stages every offline file of a request in one ``stage``
    command, ordered by volume and position, waits with a progress bar, and
    only then reads. Reading an offline file without staging it first is
    refused (``allow_recall=True`` permits it, staging that file alone).

    It talks to the HSM over SSH, with fsspec's SSH file system ``sshfs`` on
    asyncssh: fsspec's own SFTP implementation (so ``hsm://`` behaves like
    every fsspec file system), pure Python (no ``ssh`` binary or system
    configuration needed), one connection carrying the SFTP channels and the
    ``sls``/``stage`` commands, and the same SSH stack as the test server
    :class:`awiml.testing.HSMServer`. Reads ask for several SFTP blocks at a
    time; a connection that drops is made again on the next call, and a
    transfer cut off mid-file resumes where it stopped.

    Parameters
    ----------
    host : str, optional
        The HSM's SSH server; ``$AWIML_HSM_HOST`` by default.
    user : str, optional
        The user name; ``$AWIML_HSM_USER``, else the ``~/.netrc`` entry's
        login for ``host``, else the local user name.
    mount : path-like, optional
        A readable local folder that stands for ``/hs`` (AWI's Linux machines
        mount ``/hs`` over NFS: ``mount="/hs"``). Data are then read through
        it; file states and staging still go over SSH.
    key_filename : str, optional
        A private key file to log in with.
    password : str, optional
        The password; the ``~/.netrc`` entry for ``host`` by default (when
        no key file is given). It never appears in messages, logs or the
        manifest.
    port : int, optional
        The SSH port; ``$AWIML_HSM_PORT``, else 22.
    known_hosts : optional
        What the host key is checked against, as asyncssh takes it: ``()``
        (default) reads ``~/.ssh/known_hosts``; a file name; an
        ``asyncssh.import_known_hosts(text)`` object to pin a key; ``None``
        switches the check off (for loopback test servers only). An
        untrusted key raises :class:`~awiml.errors.AuthenticationError`.
    allow_recall : bool, default=False
        Let :meth:`open` read an offline file, staging it alone and waiting.
    timeout : float, default=30.0
        Seconds one connection attempt, command or SFTP request may take.
    wait_timeout : float or None, default=21600.0
        Seconds :meth:`wait` (and so :meth:`get` and ``Workspace.fetch``)
        waits for staged files by default; six hours, as a busy library's
        queue may take that long.
    poll : float, default=5.0
        Seconds before the first state query while waiting; later ones come
        less often (back-off).
    progress : bool, default=True
        Show progress bars while waiting and copying.
    **storage_options
        Passed on to :class:`fsspec.spec.AbstractFileSystem`.

    Notes
    -----
    Paths are the archive's, absolute: ``/hs/projects/<project>/...``. URLs
    ``hsm:///hs/projects/x/a.nc`` (the host from ``$AWIML_HSM_HOST``) and
    ``hsm://user@host:port/hs/projects/x/a.nc`` are read by ``fsspec.open``,
    ``fsspec.filesystem("hsm")`` and ``Workspace.fetch``.

    What the source assumes about AWI's HSM (from its public documentation
    and SAM-QFS's manual pages): there is no login shell, commands run as
    ``ssh <host> <command>``; ``sls -D <paths>`` prints the states
    (:func:`~awiml.archives.hsm.parse_sls`), ``stage <paths>`` queues a
    recall and returns at once; files are read over SFTP with the archive's
    paths. ``sls -D`` prints a checksum only in SAM-QFS's own algorithms,
    which a client cannot recompute, so copies are verified by size, and
    the printed checksum is recorded with the file.

    Examples
    --------
    >>> from awiml.testing import HSMServer
    >>> with HSMServer(mount_time=0.01) as server:
    ...     _ = server.add_file("/hs/projects/x/ctd.nc", b"0123456789", volumes=["022000"])
    ...     hsm = HSMSource(server.host, "alice", password="secret", port=server.port,
    ...                     known_hosts=None, poll=0.02, progress=False)
    ...     before = hsm.info("/hs/projects/x/ctd.nc")["state"]
    ...     hsm.stage(["/hs/projects/x/ctd.nc"])
    ...     _ = hsm.wait(["/hs/projects/x/ctd.nc"], timeout=10)
    ...     data = hsm.cat_file("hsm:///hs/projects/x/ctd.nc")
    ['/hs/projects/x/ctd.nc']
    >>> before, data
    ('offline', b'0123456789')
    """

    protocol = "hsm"
    # A new instance when the variables or ~/.netrc change, not the cached one.
    _credentials_around = CredentialsAround(HOST_VARIABLE, USER_VARIABLE, PORT_VARIABLE)
    _extra_tokenize_attributes = ("_credentials_around",)

    def __init__(
        self,
        host: str | None = None,
        user: str | None = None,
        *,
        mount: str | os.PathLike[str] | None = None,
        key_filename: str | None = None,
        password: str | None = None,
        port: int | None = None,
        known_hosts: Any = (),
        allow_recall: bool = False,
        timeout: float = 30.0,
        wait_timeout: float | None = 21600.0,
        poll: float = 5.0,
        progress: bool = True,
        **storage_options: Any,
    ) -> None:
        super().__init__(timeout=timeout, retries=0, **storage_options)  # type: ignore[arg-type]
        host = (host or os.environ.get(HOST_VARIABLE) or "").strip()
        if not host:
            raise InvalidDataError(
                "no HSM host given: pass HSMSource(host=...), write it into the URL "
                f"(hsm://host/hs/...), or set {HOST_VARIABLE}")
        try:
            port = int(port or os.environ.get(PORT_VARIABLE) or 22)
        except ValueError:
            raise InvalidDataError(f"the HSM port must be a number, got "
                                   f"{os.environ.get(PORT_VARIABLE)!r} from {PORT_VARIABLE}"
                                   ) from None
        user = user or os.environ.get(USER_VARIABLE) or None
        if password is None and key_filename is None:
            found = netrc_credentials(host)
            if found is not None and (user is None or found[0] in ("", user)):
                user = user or found[0] or None
                password = found[1]
        if mount is not None and not Path(mount).is_dir():
            raise InvalidDataError(
                f"mount={os.fspath(mount)!r} is not a readable folder; give the local folder "
                f"that stands for {NAMESPACE} (e.g. '/hs' on AWI's Linux machines), or leave "
                "mount out to read over SFTP")
        _remember(password)  # redacted from awiml's logs, should it ever reach one
        self.host, self.port, self.user = host, port, user
        self.mount = Path(mount) if mount is not None else None
        self.allow_recall = bool(allow_recall)
        self.wait_timeout = wait_timeout
        self.poll = float(poll)
        self.progress = bool(progress)
        self._connection = Connection(
            Login(host, port, user, password, key_filename, known_hosts), float(timeout))

    def __repr__(self) -> str:
        mount = f", mount={str(self.mount)!r}" if self.mount is not None else ""
        return f"HSMSource({self._connection.login.where!r}{mount})"

    @property
    def where(self) -> str:
        """``user@host:port``, as messages name the HSM."""
        return self._connection.login.where

    # -- URLs ----------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, (list, tuple)):
            return [cls._strip_protocol(p) for p in path]
        text = str(path)
        if text.startswith("hsm://"):
            rest = text[len("hsm://"):]
            text = rest[rest.find("/"):] if "/" in rest else "/"
        return _hsm_path(text)

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        from fsspec.utils import infer_storage_options

        if not str(path).startswith("hsm://") or str(path).startswith("hsm:///"):
            return {}
        found = infer_storage_options(str(path))
        options: dict[str, Any] = {"host": found.get("host")}
        if found.get("username"):
            options["user"] = found["username"]
        if found.get("port"):
            options["port"] = int(found["port"])
        return {k: v for k, v in options.items() if v}

    def unstrip_protocol(self, name: str) -> str:
        """Return ``hsm://<path>``: the URL recorded as a file's source (no host, no user)."""
        return "hsm://" + _hsm_path(name)

    # -- states ---------------------------------------------------------------------------------

    def states(self, paths: str | Iterable[str]) -> dict[str, SlsRecord]:
        """Return what ``sls -D`` says about files, asking for all of them at once.

        Parameters
        ----------
        paths : str or iterable of str
            Archive paths of files (``hsm://`` in front is allowed).

        Returns
        -------
        dict of str to SlsRecord
            One record per path (normalised), in the order given; its
            ``state`` is ``"online"``, ``"offline"`` or ``"partial"``.

        Raises
        ------
        NotFoundError
            A path does not exist (all missing paths are named).
        ArchiveUnavailableError
            The HSM refused the command or cannot be reached.
        InvalidDataError
            The output cannot be read, or names no record for a path (a folder).

        Examples
        --------
        >>> from awiml.testing import HSMServer
        >>> with HSMServer() as server:
        ...     _ = server.add_file("/hs/p/a.nc", b"abc", volumes=[["V1", "V2"]])
        ...     hsm = HSMSource(server.host, "alice", password="secret", port=server.port,
        ...                     known_hosts=None)
        ...     record = hsm.states("/hs/p/a.nc")["/hs/p/a.nc"]
        >>> record.state, record.vsns, record.size
        ('offline', ('V1', 'V2'), 3)
        """
        names = list(dict.fromkeys(self._strip_protocol(p) for p in (
            [paths] if isinstance(paths, str) else paths)))
        if not names:
            return {}
        found: dict[str, SlsRecord] = {}
        missing: list[str] = []
        for result in self._connection.run("sls -D", names, "asking for file states"):
            missing += _missing(result.stderr)
            if result.exit_status not in (0, 1) or (result.exit_status == 1 and not missing):
                raise _refused(result.command.split()[0] + " -D", result.exit_status,
                               result.stderr, names, self.where)
            for record in parse_sls(result.stdout, source=f"sls -D on {self.where}"):
                found[_hsm_path(record.path)] = record
        if missing:
            raise NotFoundError(
                f"{_listing(missing)} not found on the HSM at {self.where}; check the "
                "path(s) (fs.ls(folder) lists what is there).")
        lost = [n for n in names if n not in found]
        if lost:
            raise InvalidDataError(
                f"`sls -D` on {self.where} printed no file record for {_listing(lost)}; is it "
                "a folder? Ask for the states of the files in it (fs.find(folder)).")
        return {n: found[n] for n in names}

    # -- fsspec: listing and information -------------------------------------------------------

    def _local(self, path: str) -> Path | None:
        """Return the file under ``mount`` that stands for ``path``, or ``None``."""
        if self.mount is None or not (path == NAMESPACE or path.startswith(NAMESPACE + "/")):
            return None
        return self.mount.joinpath(*path[len(NAMESPACE):].strip("/").split("/")) if \
            path != NAMESPACE else self.mount

    def _stat(self, path: str) -> dict[str, Any]:
        local = self._local(path)
        if local is None:
            return self._connection.stat(path)
        try:
            found = local.stat()
        except FileNotFoundError:
            raise NotFoundError(f"{path} does not exist under the mount {self.mount} (for "
                                f"{NAMESPACE}); check the path.") from None
        return _local_entry(path, found)

    def _listdir(self, path: str) -> list[dict[str, Any]]:
        local = self._local(path)
        if local is None:
            return self._connection.listdir(path)
        return sorted((_local_entry(f"{path.rstrip('/')}/{item.name}", item.stat())
                       for item in local.iterdir()), key=lambda e: e["name"])

    def _with_states(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        files = [e["name"] for e in entries if e["type"] == "file"]
        records = self.states(files) if files else {}
        for entry in entries:
            record = records.get(entry["name"])
            if record is not None:
                entry.update(_state_fields(record))
        return entries

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Describe a file or folder: size, modification time and, for files, the tape state.

        Parameters
        ----------
        path : str
            An archive path (``hsm://`` in front is allowed).
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        dict
            ``name``, ``type`` (``"file"`` or ``"directory"``), ``size``,
            ``mtime`` (UTC :class:`datetime.datetime`); for a file also
            ``state`` (``"online"``, ``"offline"``, ``"partial"``), ``vsns``
            (the tape volumes, text), ``archdone`` (all archive copies
            made), ``damaged`` and ``checksum`` (as ``sls -D`` prints it, or
            ``None``).

        Raises
        ------
        NotFoundError
            The path does not exist.
        """
        name = self._strip_protocol(path)
        return self._with_states([self._stat(name)])[0]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """List a folder, with the tape state of its files (one ``sls -D`` for all of them).

        Parameters
        ----------
        path : str
            An archive folder (or file, which lists itself).
        detail : bool, default=True
            Return :meth:`info` dicts instead of paths.
        **kwargs
            Ignored (fsspec compatibility).

        Returns
        -------
        list
            The entries, sorted by name.
        """
        name = self._strip_protocol(path)
        entry = self._stat(name)
        entries = self._listdir(name) if entry["type"] == "directory" else [entry]
        if not detail:
            return [e["name"] for e in entries]
        return self._with_states(entries)

    # -- staging ------------------------------------------------------------------------------

    def _files(self, paths: Iterable[str]) -> list[tuple[dict[str, Any], str]]:
        """Expand files and folders into ``(entry, name below raw/)`` of every file, in order."""
        found: list[tuple[dict[str, Any], str]] = []
        for given in paths:
            path = self._strip_protocol(given)
            entry = self._stat(path)
            base = path.rstrip("/").rsplit("/", 1)[-1] or "hs"
            if entry["type"] != "directory":
                found.append((entry, base))
                continue
            for child in self._walk(path):
                found.append((child, f"{base}/{child['name'][len(path.rstrip('/')) + 1:]}"))
        return found

    def _walk(self, folder: str) -> list[dict[str, Any]]:
        files = []
        for entry in self._listdir(folder):
            if entry["type"] == "directory":
                files += self._walk(entry["name"])
            elif entry["type"] == "file":
                files.append(entry)
        return files

    def _stage_records(self, records: Sequence[SlsRecord]) -> list[str]:
        order = [r.path for r in stage_order(records)]
        if not order:
            return []
        for result in self._connection.run("stage", order, "staging"):
            missing = _missing(result.stderr)
            if missing:
                raise NotFoundError(f"{_listing(missing)} not found on the HSM at {self.where} "
                                    "when staging; check the path(s).")
            if result.exit_status != 0:
                raise _refused("stage", result.exit_status, result.stderr, order, self.where)
        return order

    def stage(self, paths: str | Iterable[str]) -> list[str]:
        """Ask the HSM to recall every offline file among ``paths``, in one request.

        Folders stand for every file below them. The files already online are
        left out; the others are sent in one ``stage`` command, sorted by
        tape volume and position, so each volume is mounted once. The command
        returns at once; :meth:`wait` waits for the files.

        Parameters
        ----------
        paths : str or iterable of str
            Archive paths of files or folders.

        Returns
        -------
        list of str
            The files asked for, in the order sent (empty when all are online).

        Raises
        ------
        NotFoundError
            A path does not exist.
        ArchiveUnavailableError
            The HSM refused the request (its message quoted; nothing was
            staged) or cannot be reached.
        """
        paths = [paths] if isinstance(paths, str) else list(paths)
        names = [entry["name"] for entry, _ in self._files(paths)]
        return self._stage_records(list(self.states(names).values()))

    def wait(self, paths: str | Iterable[str], timeout: float | None = -1.0,
             poll: float | None = None, *, progress: bool | None = None) -> list[SlsRecord]:
        """Wait until every file among ``paths`` is online, with a progress bar.

        Parameters
        ----------
        paths : str or iterable of str
            Archive paths of files or folders (staged with :meth:`stage`).
        timeout : float or None, optional
            Seconds to wait at most; the source's ``wait_timeout`` by default,
            ``None`` for no limit.
        poll : float, optional
            Seconds before the first state query (the source's ``poll`` by
            default); the wait between queries grows by half each time.
        progress : bool, optional
            Show the bar (files and bytes online); the source's setting by default.

        Returns
        -------
        list of SlsRecord
            The files' records, all online.

        Raises
        ------
        TransferError
            The files are not all online when ``timeout`` passes (those still
            offline are named; their recall goes on).
        """
        paths = [paths] if isinstance(paths, str) else list(paths)
        names = [entry["name"] for entry, _ in self._files(paths)]
        return self._wait(list(self.states(names).values()), timeout, poll, progress)

    def _wait(self, records: Sequence[SlsRecord], timeout: float | None, poll: float | None,
              progress: bool | None) -> list[SlsRecord]:
        return wait_online(
            lambda names: self.states(names), records,
            timeout=self.wait_timeout if timeout == -1.0 else timeout,
            poll=self.poll if poll is None else poll,
            progress=self.progress if progress is None else progress, where=self.where)

    # -- reading ------------------------------------------------------------------------------

    def archive_writer(self) -> HSMWriter:
        """Return the explicit writer that ``Workspace.archive`` uploads results with.

        The source itself stays read-only for fsspec's writing methods; this
        object makes folders, uploads, renames (never over an existing file)
        and removes, each once, over the source's connection. See
        :meth:`awiml.Workspace.archive`.

        Returns
        -------
        HSMWriter
        """
        from ._writer import HSMWriter

        return HSMWriter(self)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """Open a file for reading: through ``mount`` if given, else over SFTP.

        An offline file is refused unless ``allow_recall`` is set, which
        stages it alone and waits before reading.
        """
        if mode != "rb":
            raise PermissionError(f"HSMSource reads only (mode 'rb', not {mode!r}); results "
                                  "go to the HSM with Workspace.archive (awiml archive)")
        name = self._strip_protocol(path)
        record = self.states([name])[name]
        if record.state != "online":
            if not self.allow_recall:
                raise TransferError(
                    f"{name} is {record.state} on the HSM at {self.where} (on tape, volume(s) "
                    f"{', '.join(record.vsns) or 'unknown'}). Stage it first: "
                    f"fs.stage([{name!r}]) then fs.wait([{name!r}]); fs.get(paths, folder) "
                    "and Workspace.fetch stage many files in one request. Or make the source "
                    "with allow_recall=True to recall files one by one (a tape mount each).")
            self._stage_records([record])
            self._wait([record], -1.0, None, None)
        local = self._local(name)
        if local is not None:
            return open(local, "rb")  # the caller closes it
        return self._connection.open(name)

    # -- copying --------------------------------------------------------------------------------

    def _prepare(self, paths: Sequence[str], *, timeout: float | None = -1.0,
                 poll: float | None = None, progress: bool | None = None) -> list[RemoteFile]:
        """Stage every offline file among ``paths`` in one request, wait, describe each."""
        files = self._files(paths)
        before = self.states([entry["name"] for entry, _ in files])
        offline = [r for r in before.values() if r.state != "online"]
        staged = set(self._stage_records(offline))
        after = dict(before)
        if offline:
            after.update({r.path: r for r in self._wait(offline, timeout, poll, progress)})
        remotes = []
        for entry, name in files:
            path = entry["name"]
            record = before[path]
            mtime = entry.get("mtime")
            remotes.append(RemoteFile(
                source=self.unstrip_protocol(path), name=name, size=after[path].size,
                metadata={
                    "hsm_path": path, "hsm_host": self.host, "size": record.size,
                    "mtime": mtime.isoformat().replace("+00:00", "Z") if mtime else None,
                    "state": record.state, "staged": path in staged,
                    "archdone": record.archdone, "vsns": list(record.vsns),
                    "sls_checksum": record.checksum,
                },
                fs=self, path=path))
        return remotes

    def remote_files(self, path: str) -> list[RemoteFile]:
        """Files to copy for ``Workspace.fetch``, staged first (one request for all).

        Parameters
        ----------
        path : str
            An archive path of a file or folder (``hsm:///hs/...``).

        Returns
        -------
        list of RemoteFile
            One per file, online, named by its file name (``<folder>/<path
            below it>`` for a folder), with the manifest's ``source``
            ``hsm:///hs/...`` and metadata ``hsm_path``, ``hsm_host``,
            ``size``, ``mtime``, ``state`` (when the fetch began), ``staged``,
            ``archdone``, ``vsns`` and ``sls_checksum``.

        Raises
        ------
        NotFoundError, ArchiveUnavailableError, TransferError
            A missing path; a refused stage request or an unreachable HSM;
            files still offline after ``wait_timeout``.

        Notes
        -----
        The source does not know the workspace, so an offline file that
        ``raw/`` already holds is staged too before ``Workspace.fetch`` finds
        it present. The wait's progress bar follows the source's ``progress``
        (``storage_options={"progress": False}``), not fetch's.
        """
        return self._prepare([path])

    def get(self, paths: str | Iterable[str], target: Any, *, timeout: float | None = -1.0,
            poll: float | None = None, policy: RetryPolicy | None = None,
            **kwargs: Any) -> Any:
        """Stage, wait and copy files into a workspace's ``raw/`` or a local folder.

        Every offline file among ``paths`` is staged in one request (ordered
        by volume), then all are copied through awiml's transfer engine: a
        copy cut off resumes where its partial file ends, each file is
        verified by size, and only complete files get their final name.

        Parameters
        ----------
        paths : str or iterable of str
            Archive paths of files or folders.
        target : Workspace or path-like
            A workspace (its ``fetch`` lands the files in ``raw/`` and
            records them in the manifest), or a local folder.
        timeout : float or None, optional
            Seconds to wait for staging; the source's ``wait_timeout`` by default.
        poll : float, optional
            Seconds before the first state query while waiting.
        policy : RetryPolicy, optional
            Retries and resumes of the copies.
        **kwargs
            For a workspace: passed on to ``Workspace.fetch`` (``subdir``...).

        Returns
        -------
        pandas.DataFrame or list of pathlib.Path
            ``Workspace.fetch``'s table, or the local files written.

        Raises
        ------
        NotFoundError, ArchiveUnavailableError, TransferError
            As :meth:`stage`, :meth:`wait` and the transfer engine raise them;
            files completed before an error stay, partial ones are resumed by
            the next call.
        """
        paths = [paths] if isinstance(paths, str) else list(paths)
        remotes = self._prepare(paths, timeout=timeout, poll=poll)
        if hasattr(target, "fetch") and hasattr(target, "raw"):
            kwargs.setdefault("progress", self.progress)
            return target.fetch(remotes, policy=policy, **kwargs)
        from ._copy import copy_into

        return copy_into(remotes, Path(target), policy=policy, progress=self.progress)


def _state_fields(record: SlsRecord) -> dict[str, Any]:
    return {"state": record.state, "vsns": list(record.vsns), "archdone": record.archdone,
            "damaged": record.damaged, "checksum": record.checksum}


def _local_entry(path: str, found: os.stat_result) -> dict[str, Any]:
    import stat

    kind = "directory" if stat.S_ISDIR(found.st_mode) else "file" if stat.S_ISREG(
        found.st_mode) else "other"
    return {"name": path, "type": kind, "size": found.st_size,
            "mtime": datetime.fromtimestamp(found.st_mtime, tz=timezone.utc)}


def _missing(stderr: str) -> list[str]:
    """Return the paths a command said do not exist (``<cmd>: <path>: No such file ...``)."""
    found = []
    for line in stderr.replace("\r\n", "\n").split("\n"):
        if line.rstrip().endswith(_MISSING):
            head = line.rstrip()[: -len(_MISSING)].rstrip()
            head = head[:-1] if head.endswith(":") else head
            found.append(_hsm_path(head.split(": ", 1)[1] if ": " in head else head))
    return found


def _listing(paths: Sequence[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def _refused(command: str, status: int, stderr: str, paths: Sequence[str],
             where: str) -> ArchiveUnavailableError:
    said = " ".join(stderr.split()) or "no message"
    if status == 127:
        advice = (f"this host does not run `{command.split()[0]}`: is {where} the HSM's SSH "
                  "server (host=, AWIML_HSM_HOST)?")
    else:
        advice = "nothing was done; try again later, or ask the HSM's administrators"
    return ArchiveUnavailableError(
        f"the HSM at {where} refused `{command}` for {_listing(list(paths))} (exit status "
        f"{status}: {said}); {advice}.")
