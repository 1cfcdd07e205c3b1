"""A real SSH server on the loopback interface: SFTP, ``sls -D`` and ``stage``, on tape.

:class:`HSMServer` runs asyncssh's server on its own event loop in a daemon
thread of the test process. See :mod:`awiml.testing.hsm` for what it answers
and what it assumes about AWI's HSM.
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import hmac
import logging
import os
import shlex
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import asyncssh

from ...archives.hsm import SlsCopy, SlsRecord, SlsSection
from ..server import _PendingFault, _take_pending
from ._format import format_sls
from ._tape import Library, MountRecord, TapeCopy, hsm_path

__all__ = ["CommandRecord", "HSMFault", "HSMServer", "LoginRecord", "MountRecord"]

_log = logging.getLogger("awiml.testing")
_log.addHandler(logging.NullHandler())

_START_TIMEOUT = 10.0
"""Seconds :meth:`HSMServer.start` and :meth:`HSMServer.stop` wait for the event loop."""

FaultKind = Literal["drop_after", "stall", "refuse", "quota", "deny_login"]


@dataclass(frozen=True)
class HSMFault:
    """One misbehaviour of :class:`HSMServer`, used up by one operation.

    Build faults with the class methods and hand them to
    :meth:`HSMServer.inject`, with a pattern that chooses the paths (or, for
    :meth:`deny_login`, the user names) they apply to.

    Attributes
    ----------
    kind : str
        Which misbehaviour; one of the class method names.
    nbytes : int
        Bytes of a file read before a ``drop_after`` or ``stall`` fault acts.
    delay : float
        Seconds a ``stall`` waits.
    message : str
        What a refused command prints on standard error.
    command : str or None
        ``"sls"`` or ``"stage"`` for faults on a command; ``None`` for SFTP reads.

    Examples
    --------
    >>> HSMFault.drop_after(1000).operation
    'read'
    >>> HSMFault.refuse().operation
    'stage'
    """

    kind: FaultKind
    nbytes: int = 0
    delay: float = 0.0
    message: str = ""
    command: str | None = None

    @property
    def operation(self) -> str:
        """What the fault acts on: ``read``, ``write``, ``login``, ``sls`` or ``stage``."""
        if self.kind == "quota":
            return "write"
        if self.kind == "deny_login":
            return "login"
        return self.command or "read"

    @classmethod
    def drop_after(cls, nbytes: int) -> HSMFault:
        """Close the connection once an SFTP read of the file would pass ``nbytes``.

        Reads are counted per open file; the request that would pass
        ``nbytes`` gets no answer, the connection is closed instead.

        Parameters
        ----------
        nbytes : int
            Bytes served before the connection drops (``>= 0``).

        Returns
        -------
        HSMFault
        """
        if int(nbytes) < 0:
            raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
        return cls("drop_after", nbytes=int(nbytes))

    @classmethod
    def stall(cls, delay: float, after_bytes: int = 0, *,
              command: Literal["sls", "stage"] | None = None) -> HSMFault:
        """Pause ``delay`` seconds in an SFTP read, or before a command's answer.

        Parameters
        ----------
        delay : float
            Seconds of silence (cut short by :meth:`HSMServer.stop`).
        after_bytes : int, default=0
            For reads: the bytes of the file served before the pause.
        command : {"sls", "stage"}, optional
            Stall this command instead of a read.

        Returns
        -------
        HSMFault
        """
        if float(delay) < 0 or int(after_bytes) < 0:
            raise ValueError("delay and after_bytes must be >= 0")
        if command not in (None, "sls", "stage"):
            raise ValueError(f"command must be 'sls', 'stage' or None, got {command!r}")
        return cls("stall", nbytes=int(after_bytes), delay=float(delay), command=command)

    @classmethod
    def refuse(cls, message: str | None = None, *,
               command: Literal["sls", "stage"] = "stage") -> HSMFault:
        """Refuse a command: ``message`` on standard error, exit status 1, nothing done.

        Parameters
        ----------
        message : str, optional
            What the command prints; a stager's refusal by default.
        command : {"stage", "sls"}, default="stage"
            The command refused.

        Returns
        -------
        HSMFault
        """
        if command not in ("sls", "stage"):
            raise ValueError(f"command must be 'sls' or 'stage', got {command!r}")
        text = message or (f"{command}: request refused: the stager's queue is full; "
                           "try again later")
        return cls("refuse", message=text, command=command)

    @classmethod
    def quota(cls) -> HSMFault:
        """Fail the first SFTP write to the file with "Disk quota exceeded".

        The client gets ``SSH_FX_FAILURE`` (SFTP version 3, as from OpenSSH)
        or ``SSH_FX_QUOTA_EXCEEDED`` (version 5 and later) with that text; the
        bytes written before stay on the server, as they would.

        Returns
        -------
        HSMFault
        """
        return cls("quota")

    @classmethod
    def deny_login(cls) -> HSMFault:
        """Refuse the next login of a matching user, even with the right credentials.

        Returns
        -------
        HSMFault
        """
        return cls("deny_login")


@dataclass(frozen=True)
class CommandRecord:
    """One command received over SSH.

    Attributes
    ----------
    user : str
        Who sent it.
    command : str
        The command line as received (``None`` for a login shell: ``""``).
    exit_status : int
        What the server answered: ``0`` done, ``1`` an error, ``127`` not allowed.
    started, finished : float
        Seconds of the server's clock (:meth:`HSMServer.clock`).
    """

    user: str
    command: str
    exit_status: int
    started: float
    finished: float


class LoginRecord(NamedTuple):
    """One authentication attempt.

    Attributes
    ----------
    user : str
        The user name given.
    method : str
        ``"password"`` or ``"publickey"``.
    accepted : bool
        Whether the server let the user in.
    """

    user: str
    method: str
    accepted: bool


@dataclass
class _User:
    password: str | None
    keys: list[bytes]


@dataclass
class _Handle:
    path: str
    fault: HSMFault | None
    served: int = 0
    stalled: bool = False
    quota: bool = False
    written: bool = False


def _match(pattern: str, name: str) -> bool:
    pattern, name = pattern.lstrip("/"), name.lstrip("/")
    return pattern == name or fnmatch.fnmatchcase(name, pattern)


def _date(seconds: float) -> str:
    when = datetime.fromtimestamp(seconds)
    return f"{when:%b} {when.day:2d} {when:%H:%M}"


class _LibrarySetting:
    """A setting of the tape library, read and set through the server."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, server: HSMServer | None, owner: type | None = None) -> Any:
        return self if server is None else getattr(server._library, self.name)

    def __set__(self, server: HSMServer, value: float) -> None:
        setattr(server._library, self.name, float(value))


class HSMServer:
    """A loopback SSH server that behaves like AWI's HSM: SFTP, ``sls -D`` and ``stage``.

    The folder ``root`` stands for the archive's ``/``: ``/hs/projects/x/a.nc``
    is ``root/hs/projects/x/a.nc``. Files added with :meth:`add_file` have
    archive copies on tape volumes and are offline until staged; files that
    appear otherwise (written over SFTP, or put into ``root``) are online and
    not yet archived. Use it as a context manager, or call :meth:`start` and
    :meth:`stop`.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The folder served; a temporary folder (removed by :meth:`stop`) by default.
    users : mapping of str to str, optional
        User names and their passwords; ``{"alice": "secret"}`` by default.
        More users, and public keys, with :meth:`add_user`.
    drives : int, default=2
        How many volumes can be mounted at once (fixed once started).
    mount_time : float, default=0.2
        Seconds to mount a volume: minutes on a real library, scaled down.
    read_rate : float, default=50e6
        Bytes per second read from a mounted volume.
    implicit_recall : bool, default=True
        Whether opening an offline file over SFTP starts its recall, reads
        then waiting for it, as the real system does; with ``False`` the open
        fails with a message to stage the file first.
    host : str, default="127.0.0.1"
        Address to listen on; keep the loopback default.
    port : int, default=0
        Port to listen on; ``0`` picks a free one, and :attr:`port` then tells it.

    Attributes
    ----------
    root : pathlib.Path
        The served folder.
    mount_time, read_rate, implicit_recall
        As the parameters; may be changed while the server runs.
    host, port : str, int
        Where the server listens (``port`` is the real one once started, and
        keeps naming it after :meth:`stop`, where connections are refused).
    host_key : str
        The server's public host key in OpenSSH format, new for each server.

    Examples
    --------
    >>> import asyncio, asyncssh
    >>> from awiml.archives.hsm import parse_sls
    >>> async def state(server, path):
    ...     async with asyncssh.connect(server.host, server.port, username="alice",
    ...                                 password="secret", known_hosts=None,
    ...                                 client_keys=None) as conn:
    ...         done = await conn.run(f"sls -D {path}", check=True)
    ...         return parse_sls(done.stdout)[0].state
    >>> with HSMServer(mount_time=0.01) as server:
    ...     path = server.add_file("/hs/projects/x/ctd.nc", b"0" * 1000, volumes=["022000"])
    ...     before = asyncio.run(state(server, path))
    ...     server.files_online(), before
    ([], 'offline')
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        users: Mapping[str, str] | None = None,
        drives: int = 2,
        mount_time: float = 0.2,
        read_rate: float = 50e6,
        implicit_recall: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="awiml-hsm-")) if root is None else Path(root)
        (self.root / "hs").mkdir(parents=True, exist_ok=True)  # the archive's namespace
        self._library = Library(drives, mount_time, read_rate)
        self.implicit_recall = implicit_recall
        self.host = host
        self.port = port
        self._requested_port = port
        self._users: dict[str, _User] = {}
        for name, password in ({"alice": "secret"} if users is None else users).items():
            self.add_user(name, password)
        self._key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = self._key.export_public_key().decode("ascii").strip()
        self._lock = threading.Lock()
        self._faults: list[_PendingFault] = []
        self._commands: list[CommandRecord] = []
        self._logins: list[LoginRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: Any = None
        self._connections: set[Any] = set()
        self._life_lock = threading.Lock()

    # -- settings ------------------------------------------------------------------ #

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._loop is not None

    @property
    def drives(self) -> int:
        """How many volumes can be mounted at once."""
        return self._library.drives

    mount_time = _LibrarySetting("Seconds to mount a volume; settable.")
    read_rate = _LibrarySetting("Bytes per second read from a mounted volume; settable.")

    # -- life cycle ------------------------------------------------------------------ #

    def start(self) -> HSMServer:
        """Start listening, on an event loop in a daemon thread.

        Calling it on a running server does nothing; after :meth:`stop` it
        starts again, on the same port unless ``port`` was ``0``.

        Returns
        -------
        HSMServer
            This server: ``server = HSMServer().start()`` in a notebook.
        """
        with self._life_lock:
            if self._loop is None:
                self._launch()
        _log.debug("HSMServer listening on %s:%s", self.host, self.port)
        return self

    def _launch(self) -> None:
        (self.root / "hs").mkdir(parents=True, exist_ok=True)  # again after a stop()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="awiml-HSMServer", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(_START_TIMEOUT)
        except BaseException:
            self._halt_loop()
            raise

    async def _open(self) -> None:
        self._acceptor = await asyncssh.create_server(
            lambda: _SSHServer(self), self.host, self._requested_port,
            server_host_keys=[self._key], process_factory=self._run_command,
            sftp_factory=lambda channel: _SFTPServer(channel, self), allow_scp=False,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]
        self._library.start()

    def stop(self) -> None:
        """Close every connection, stop the drives and the event loop.

        Waits of :meth:`HSMFault.stall` and readers waiting for a recall are
        cut short. A temporary ``root`` is removed. Calling it again, or on a
        server never started, does nothing.
        """
        with self._life_lock:
            loop = self._loop
            if loop is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(_START_TIMEOUT)
            finally:
                self._halt_loop()
            if self._own_root:
                shutil.rmtree(self.root, ignore_errors=True)
        _log.debug("HSMServer on port %s stopped", self.port)

    async def _close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in list(self._connections):
            conn.abort()
        await self._library.stop()
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_default_executor()

    def _halt_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(_START_TIMEOUT)
        loop.close()

    def __enter__(self) -> HSMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.host}:{self.port}" if self.running else "stopped"
        return f"<HSMServer {state} root={str(self.root)!r} drives={self.drives}>"

    # -- users ------------------------------------------------------------------------ #

    def add_user(self, name: str, password: str | None = None, *,
                 keys: Iterable[str | asyncssh.SSHKey] = ()) -> None:
        """Let ``name`` log in with ``password`` and/or one of the public ``keys``.

        Parameters
        ----------
        name : str
            The user name.
        password : str, optional
            The password; ``None`` allows no password login.
        keys : iterable of str or asyncssh.SSHKey
            Authorised public keys, as OpenSSH text (``ssh-ed25519 AAAA...``)
            or keys; a private key stands for its public half.
        """
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"a user name has no spaces and is not empty, got {name!r}")
        public = []
        for key in keys:
            parsed = asyncssh.import_public_key(key) if isinstance(key, str) else key
            public.append(parsed.public_data)
        self._users[name] = _User(password, public)

    # -- files -------------------------------------------------------------------------- #

    def add_file(self, path: str, data: bytes | os.PathLike[str], *, online: bool = False,
                 volumes: Sequence[str | Sequence[str]] = ("VSN001",),
                 sections: Sequence[int] | None = None) -> str:
        """Put a file into the archive, archived on tape.

        Parameters
        ----------
        path : str
            Its archive path, such as ``/hs/projects/x/a.nc``.
        data : bytes or os.PathLike
            Its content, or a local file to copy.
        online : bool, default=False
            Whether its data are also on disk (staged already).
        volumes : sequence of str or of sequences of str, default=("VSN001",)
            One item per archive copy (at most 4): the copy's volume (VSN), or
            the volumes a copy spans, in order. ``()`` makes an online file
            with no archive copy. Staging reads copy 1.
        sections : sequence of int, optional
            For copies that span volumes: the bytes on each volume, adding up
            to the file's size; an even split by default.

        Returns
        -------
        str
            The normalised archive path.
        """
        name = hsm_path(path)
        if name == "/":
            raise ValueError("path must name a file, not the archive's root")
        content = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) \
            else Path(data).read_bytes()
        if isinstance(volumes, str):
            volumes = (volumes,)
        local = self._local(name)
        local.parent.mkdir(parents=True, exist_ok=True)
        self._library.forget(name)
        local.write_bytes(content)
        self._library.add(name, len(content), volumes, sections, online)
        return name

    def release(self, paths: str | Iterable[str]) -> None:
        """Make archived files offline again, as the releaser does.

        Parameters
        ----------
        paths : str or iterable of str
            Archive paths of files added with :meth:`add_file`.
        """
        for path in [paths] if isinstance(paths, str) else paths:
            self._library.release(hsm_path(path))

    def files_online(self, paths: str | Iterable[str] | None = None) -> list[str]:
        """Return the online files among ``paths`` (all the archive's files by default), sorted.

        Parameters
        ----------
        paths : str or iterable of str, optional
            Archive paths to look at.

        Returns
        -------
        list of str
        """
        if paths is None:
            names = sorted(self._all_files())
        else:
            names = sorted(hsm_path(p) for p in ([paths] if isinstance(paths, str) else paths))
        return [n for n in names if self._local(n).is_file() and not self._library.is_offline(n)]

    def _all_files(self) -> list[str]:
        found = []
        for folder, _, names in os.walk(self.root):
            for name in names:
                found.append(hsm_path(os.path.relpath(os.path.join(folder, name), self.root)))
        return found

    def sls(self, paths: str | Iterable[str]) -> str:
        """Return what ``sls -D <paths>`` prints for existing files, without a connection.

        The owner shown is the first user; over SSH it is the user logged in.

        Parameters
        ----------
        paths : str or iterable of str
            Archive paths of files.

        Returns
        -------
        str
        """
        names = [paths] if isinstance(paths, str) else list(paths)
        owner = next(iter(self._users), "hsm")
        return format_sls(self._record(hsm_path(p), p, owner) for p in names)

    def _local(self, name: str) -> Path:
        return self.root / name.lstrip("/")

    def _record(self, name: str, shown: str, user: str) -> SlsRecord:
        info = self._local(name).stat()
        with self._library.lock:
            entry = self._library.files.get(name)
            copies = list(entry.copies) if entry is not None else []
            offline = entry is not None and not entry.online
        flags = (("offline",) if offline else ()) + (("archdone",) if copies else ())
        return SlsRecord(
            path=shown, size=info.st_size, flags=flags, copies=tuple(_copies(copies)),
            mode=stat.filemode(info.st_mode), links=str(info.st_nlink), owner=user,
            group="hsm", admin_id="0", inode=f"{info.st_ino}.1",
            times=(("access", _date(info.st_atime)), ("modification", _date(info.st_mtime)),
                   ("changed", _date(info.st_ctime)), ("attributes", _date(info.st_ctime)),
                   ("creation", _date(info.st_ctime)), ("residence", _date(info.st_ctime))),
        )

    # -- faults and logs ----------------------------------------------------------------- #

    def inject(self, pattern: str, fault: HSMFault, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` operations on names matching ``pattern``.

        Parameters
        ----------
        pattern : str
            An archive path or :func:`fnmatch.fnmatchcase` pattern (``*`` also
            matches ``/``; a leading ``/`` is optional) for faults on files and
            commands (a command matches when one of its paths does); a user
            name pattern for :meth:`HSMFault.deny_login`.
        fault : HSMFault
            What to do.
        times : int or None, default=1
            How many operations it applies to; ``None``: every one until
            :meth:`clear_faults`.
        """
        if not isinstance(fault, HSMFault):
            raise TypeError("fault must be an HSMFault; build one with HSMFault.refuse() etc.")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times!r}")
        with self._lock:
            self._faults.append(_PendingFault(pattern, fault, times))

    def clear_faults(self) -> None:
        """Forget every fault not yet used up."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, operation: str, names: Iterable[str]) -> HSMFault | None:
        names = list(names)

        def matches(pending: _PendingFault) -> bool:
            return pending.fault.operation == operation and any(
                _match(pending.pattern, name) for name in names)

        with self._lock:
            return _take_pending(self._faults, matches)

    @property
    def commands(self) -> list[CommandRecord]:
        """Every command received so far, oldest first."""
        with self._lock:
            return list(self._commands)

    @property
    def logins(self) -> list[LoginRecord]:
        """Every authentication attempt so far, oldest first (no passwords)."""
        with self._lock:
            return list(self._logins)

    @property
    def mounts(self) -> list[MountRecord]:
        """Every finished volume mount, in the order the drives let them go."""
        with self._library.lock:
            return list(self._library.mounts)

    def clock(self) -> float:
        """Return the server's clock: seconds on a monotonic clock, as in :attr:`mounts`."""
        return self._library.clock()

    # -- authentication (event loop) -------------------------------------------------------- #

    def _check_login(self, user: str, method: str, secret: str | bytes) -> bool:
        account = self._users.get(user)
        if account is None:
            accepted = False
        elif method == "password":
            accepted = account.password is not None and hmac.compare_digest(
                str(secret).encode(), account.password.encode())
        else:
            accepted = any(hmac.compare_digest(bytes(secret), key) for key in account.keys)
        if accepted and self._take_fault("login", [user]) is not None:
            accepted = False
        with self._lock:
            self._logins.append(LoginRecord(user, method, accepted))
        return accepted

    # -- commands (event loop) -------------------------------------------------------------- #

    async def _run_command(self, process: asyncssh.SSHServerProcess) -> None:
        user = process.get_extra_info("username") or ""
        line = process.command
        started = self.clock()
        try:
            status = await self._command(process, user, line)
        except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, OSError,
                asyncssh.Error):
            status = 1
        with self._lock:
            self._commands.append(CommandRecord(user, line or "", status, started, self.clock()))
        process.exit(status)

    async def _command(self, process: asyncssh.SSHServerProcess, user: str,
                       line: str | None) -> int:
        if line is None:
            process.stderr.write("This host has no login shell. Run one command per "
                                 "connection: sls -D <paths>, or stage [-r] <paths>.\n")
            return 1
        try:
            argv = shlex.split(line)
        except ValueError as error:
            process.stderr.write(f"hsm: cannot read the command line: {error}\n")
            return 2
        if not argv or argv[0] not in ("sls", "stage"):
            name = argv[0] if argv else ""
            process.stderr.write(f"hsm: {name}: command not allowed (restricted shell: only "
                                 "sls and stage run here)\n")
            return 127
        options = [a for a in argv[1:] if a.startswith("-") and a != "-"]
        paths = [a for a in argv[1:] if a not in options]
        if not paths:
            usage = "sls -D <paths>" if argv[0] == "sls" else "stage [-r] [-w] <paths>"
            process.stderr.write(f"{argv[0]}: name the paths: {usage}\n")
            return 2
        names = [hsm_path(p) for p in paths]
        fault = self._take_fault(argv[0], names)
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.delay)
        elif fault is not None:
            process.stderr.write(fault.message.rstrip("\n") + "\n")
            return 1
        if argv[0] == "sls":
            return self._sls(process, user, options, paths)
        return await self._stage(process, options, paths)

    def _existing(self, process: asyncssh.SSHServerProcess, command: str,
                  paths: list[str]) -> tuple[int, list[tuple[str, str, Path]]]:
        """Resolve ``paths``: (exit status, [(as given, archive path, local path)])."""
        status, found = 0, []
        for path in paths:
            name = hsm_path(path)
            local = self._local(name)
            if local.exists():
                found.append((path, name, local))
            else:
                process.stderr.write(f"{command}: {path}: No such file or directory\n")
                status = 1
        return status, found

    def _sls(self, process: asyncssh.SSHServerProcess, user: str, options: list[str],
             paths: list[str]) -> int:
        if set(options) != {"-D"}:
            process.stderr.write("sls: this server answers `sls -D <paths>` only\n")
            return 2
        status, found = self._existing(process, "sls", paths)
        records: list[SlsRecord] = []
        for path, name, local in found:
            if not local.is_dir():
                records.append(self._record(name, path, user))
                continue
            if records or len(paths) > 1:  # a heading line before a folder's files
                process.stdout.write(format_sls(records) + f"{path}:\n")
                records = []
            for child in sorted(local.iterdir()):
                shown = path.rstrip("/") + "/" + child.name
                records.append(self._record(hsm_path(shown), shown, user))
        process.stdout.write(format_sls(records))
        return status

    async def _stage(self, process: asyncssh.SSHServerProcess, options: list[str],
                     paths: list[str]) -> int:
        unknown = [o for o in options if o not in ("-r", "-w")]
        if unknown:
            process.stderr.write(f"stage: unknown option {unknown[0]}; this server answers "
                                 "`stage [-r] [-w] <paths>`\n")
            return 2
        status, found = self._existing(process, "stage", paths)
        wanted = []
        for path, name, local in found:
            if not local.is_dir():
                wanted.append(name)
            elif "-r" in options:
                below = name.rstrip("/") + "/"
                wanted.extend(n for n in self._all_files() if n.startswith(below))
            else:
                process.stderr.write(f"stage: {path}: Is a directory (stage -r stages "
                                     "the files below it)\n")
                status = 1
        await self._library.request(wanted)
        if "-w" in options:
            for name in wanted:
                await self._library.wait_online(name)
        return status


def _copies(copies: list[TapeCopy]) -> Iterable[SlsCopy]:
    for copy in copies:
        position = [f"{p:x}.1" for p in copy.positions]
        if len(copy.vsns) == 1:
            yield SlsCopy(copy.number, "----", _date(copy.written), copy.media, copy.vsns[0],
                          position[0])
        else:
            sections = tuple(SlsSection(i, length, position[i], vsn) for i, (vsn, length)
                             in enumerate(zip(copy.vsns, copy.lengths, strict=True)))
            yield SlsCopy(copy.number, "----", _date(copy.written), copy.media,
                          sections=sections)


class _SSHServer(asyncssh.SSHServer):
    """Authentication and the connection register of one :class:`HSMServer`."""

    def __init__(self, owner: HSMServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return self._owner._check_login(username, "password", password)

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._owner._check_login(username, "publickey", key.public_data)


class _SFTPServer(asyncssh.SFTPServer):
    """SFTP rooted at the server's folder, with offline files and faults."""

    def __init__(self, channel: asyncssh.SSHServerChannel, owner: HSMServer) -> None:
        super().__init__(channel, chroot=os.fsencode(owner.root))
        self._owner = owner
        self._handles: dict[int, _Handle] = {}

    def _name(self, path: bytes) -> str:
        return hsm_path(os.fsdecode(path))

    async def _opened(self, path: bytes, writing: bool, opener: Any) -> object:
        owner, name = self._owner, self._name(path)
        library = owner._library
        if not writing and library.is_offline(name):
            if not owner.implicit_recall:
                raise asyncssh.SFTPFailure(
                    f"{name} is offline (only on tape); stage it first: stage {name}")
            await library.request([name])
        if writing:
            library.forget(name)
        file_obj = opener()
        handle = _Handle(name, None)
        if writing:
            handle.quota = owner._take_fault("write", [name]) is not None
        else:
            handle.fault = owner._take_fault("read", [name])
        self._handles[id(file_obj)] = handle
        return file_obj

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        writing = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND))
        return await self._opened(path, writing, lambda: super(_SFTPServer, self).open(
            path, pflags, attrs))

    async def open56(self, path: bytes, desired_access: int, flags: int,
                     attrs: asyncssh.SFTPAttrs) -> object:
        writing = bool(desired_access & (asyncssh.ACE4_WRITE_DATA | asyncssh.ACE4_APPEND_DATA))
        return await self._opened(path, writing, lambda: super(_SFTPServer, self).open56(
            path, desired_access, flags, attrs))

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        handle = self._handles.get(id(file_obj))
        if handle is not None:
            await self._wait_online(handle.path)
            fault = handle.fault
            if fault is not None and fault.kind == "drop_after" \
                    and handle.served + size > fault.nbytes:
                self.connection.abort()
                raise asyncssh.SFTPConnectionLost("connection dropped (HSMFault.drop_after)")
            if fault is not None and fault.kind == "stall" and not handle.stalled \
                    and handle.served + size > fault.nbytes:
                handle.stalled = True
                await asyncio.sleep(fault.delay)
        data = super().read(file_obj, offset, size)
        if handle is not None:
            handle.served += len(data)  # type: ignore[arg-type]
        return data  # type: ignore[return-value]

    async def _wait_online(self, name: str) -> None:
        if not await self._owner._library.wait_online(name):
            raise asyncssh.SFTPFailure(f"{name} went offline before it was read; stage it "
                                       "again")

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        handle = self._handles.get(id(file_obj))
        if handle is not None and handle.quota:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        return super().write(file_obj, offset, data)  # type: ignore[return-value]

    def close(self, file_obj: object) -> None:
        self._handles.pop(id(file_obj), None)
        super().close(file_obj)

    def remove(self, path: bytes) -> None:
        super().remove(path)
        self._owner._library.forget(self._name(path))

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().rename(oldpath, newpath)
        self._owner._library.move(self._name(oldpath), self._name(newpath))

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().posix_rename(oldpath, newpath)
        self._owner._library.move(self._name(oldpath), self._name(newpath))

