"""One SSH connection to the HSM: SFTP and the ``sls``/``stage`` commands, on sshfs.

:class:`Connection` opens fsspec's SSH file system (``sshfs``, on asyncssh)
on first use, runs every call on that file system's event loop with a time
limit, reconnects after a dropped connection, and turns what asyncssh and
sshfs raise into awiml's errors, each naming the host, the path and what to
do. No password ever appears in a message: messages name ``user@host:port``.
"""

from __future__ import annotations

import asyncio
import errno
import io
import shlex
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from ...errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    AwimlError,
    NotFoundError,
    TransferError,
)

__all__ = ["CommandResult", "Connection", "Login"]

T = TypeVar("T")

#: Bytes asked for in one SFTP read request (OpenSSH answers at most 64 KiB).
_READ_BLOCK = 65536
#: SFTP read requests in flight at once for one ``read`` call.
_READ_AHEAD = 16
#: Longest command line sent at once; longer lists of paths are split.
_MAX_COMMAND = 60_000


@dataclass(frozen=True)
class Login:
    """Where and as whom to log in; ``password`` is never shown.

    Attributes
    ----------
    host, port, user : str, int, str or None
        The SSH server, its port and the user (``None``: the local user).
    password : str or None
        The password, if one was given or found in ``~/.netrc``.
    key_filename : str or None
        A private key file.
    known_hosts : Any
        What asyncssh checks the host key against (``()``: ``~/.ssh/known_hosts``).
    """

    host: str
    port: int
    user: str | None
    password: str | None
    key_filename: str | None
    known_hosts: Any

    def __repr__(self) -> str:
        return f"Login({self.where!r})"

    @property
    def where(self) -> str:
        """``user@host:port`` for messages."""
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"

    def connect_options(self, timeout: float) -> dict[str, Any]:
        """Return the keyword arguments of ``asyncssh.connect``."""
        options: dict[str, Any] = {
            "port": self.port, "known_hosts": self.known_hosts,
            "connect_timeout": timeout, "login_timeout": timeout,
        }
        if self.user:
            options["username"] = self.user
        if self.key_filename:
            options["client_keys"] = [self.key_filename]
        elif self.password is not None:
            options["client_keys"] = None  # only the password: no agent or key files tried
            options["agent_path"] = None
        if self.password is not None:
            options["password"] = self.password
        return options


@dataclass(frozen=True)
class CommandResult:
    """What a command printed and its exit status."""

    command: str
    exit_status: int
    stdout: str
    stderr: str


def _dropped(exc: BaseException) -> bool:
    """Whether ``exc`` says the SSH connection is gone (worth a new connection)."""
    import asyncssh

    return isinstance(exc, (asyncssh.ConnectionLost, asyncssh.DisconnectError,
                            asyncssh.sftp.SFTPConnectionLost, asyncssh.sftp.SFTPNoConnection,
                            asyncssh.ChannelOpenError, ConnectionError, EOFError,
                            BrokenPipeError))


class Connection:
    """The SSH connection of one :class:`~awiml.archives.hsm.HSMSource`, made on first use.

    Parameters
    ----------
    login : Login
        Where to connect.
    timeout : float
        Seconds any one connection, command or SFTP call may take.
    """

    def __init__(self, login: Login, timeout: float) -> None:
        self.login = login
        self.timeout = float(timeout)
        self._fs: Any = None
        self._lock = threading.Lock()

    # -- connecting ----------------------------------------------------------------------

    def filesystem(self) -> Any:
        """Return the connected ``sshfs.SSHFileSystem``, connecting if needed."""
        with self._lock:
            if self._fs is None:
                self._fs = self._connect()
            return self._fs

    def _connect(self) -> Any:
        import asyncssh
        import sshfs

        where = self.login.where
        try:
            return sshfs.SSHFileSystem(
                self.login.host, skip_instance_cache=True, timeout=self.timeout,
                **self.login.connect_options(self.timeout),
            )
        except PermissionError:
            raise AuthenticationError(
                f"the HSM at {where} refused the login. Check the user name and the password "
                "or key (password=, key_filename=, AWIML_HSM_USER, or a 'machine "
                f"{self.login.host} login <user> password <password>' line in ~/.netrc); "
                "a refused login can also mean the account is not yet allowed on the HSM."
            ) from None
        except asyncssh.HostKeyNotVerifiable as exc:
            raise AuthenticationError(
                f"the host key of the HSM at {where} is not one known_hosts trusts "
                f"({exc.reason}), so awiml did not log in. If this is the right host, connect "
                f"once with `ssh -p {self.login.port} {self.login.host}` to check and store its "
                "key in ~/.ssh/known_hosts, or pass known_hosts= (a file, or "
                "asyncssh.import_known_hosts(text)); a changed key can also mean another "
                "machine answers in its place: ask the HSM's administrators."
            ) from None
        except Exception as exc:
            if isinstance(exc, AwimlError):
                raise
            raise self._unavailable(exc, "while connecting") from None

    def close(self, fs: Any = None) -> None:
        """Close the connection (only if it is still ``fs``, when given); the next call opens one.

        Threads that saw the same connection drop each close it; naming it
        keeps them from closing the new one another thread made meanwhile.
        """
        with self._lock:
            if fs is not None and fs is not self._fs:
                return
            fs, self._fs = self._fs, None
        if fs is not None:
            client = getattr(fs, "_client", None)
            if client is not None:
                fs.loop.call_soon_threadsafe(client.abort)

    def _unavailable(self, exc: BaseException, doing: str,
                     limit: float | None = None) -> ArchiveUnavailableError:
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "Timeout" in type(
                exc).__name__:
            reason = f"no answer within {self.timeout if limit is None else limit:g} s"
        else:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return ArchiveUnavailableError(
            f"the HSM at {self.login.where} could not be reached {doing} ({reason}). Check "
            "your network (VPN) and the host name and port (host=, port=, AWIML_HSM_HOST, "
            "AWIML_HSM_PORT), or give a longer timeout=, then try again."
        )

    # -- running calls on the file system's loop --------------------------------------------

    def call(self, make: Callable[[Any], Awaitable[T]], doing: str, *,
             timeout: float | None = -1.0, reconnect: bool = True) -> T:
        """Run ``make(fs)`` on the file system's loop within the time limit.

        A dropped connection is closed; with ``reconnect`` a new one is made
        and the call made again once (every call made through here is a read
        or an idempotent command; an open file's reads cannot move over).
        """
        from fsspec.asyn import sync

        limit = self.timeout if timeout == -1.0 else timeout
        for attempt in range(2 if reconnect else 1):
            fs = self.filesystem()

            async def run(fs: Any = fs) -> T:
                return await asyncio.wait_for(make(fs), limit)

            try:
                return sync(fs.loop, run)
            except AwimlError:
                raise
            except Exception as exc:
                if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                    self.close(fs)
                    raise self._unavailable(exc, doing, limit) from None
                if _dropped(exc):
                    self.close(fs)
                    if reconnect and attempt == 0:
                        continue
                    raise self._unavailable(exc, doing) from None
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- commands ------------------------------------------------------------------------------

    def run(self, command: str, paths: Sequence[str], doing: str) -> list[CommandResult]:
        """Run ``command <paths>``, in as few command lines as the length limit allows."""
        results = []
        for chunk in _chunks(paths):
            line = f"{command} {' '.join(shlex.quote(p) for p in chunk)}"

            async def execute(fs: Any, line: str = line) -> Any:
                return await fs._execute(line, check=False)

            done = self.call(execute, doing)
            status = done.exit_status if done.exit_status is not None else 255
            results.append(CommandResult(line, status, _text(done.stdout), _text(done.stderr)))
        return results

    # -- SFTP ----------------------------------------------------------------------------------

    def stat(self, path: str) -> dict[str, Any]:
        """Return ``{"name", "type", "size", "mtime"}`` of ``path`` over SFTP."""

        async def stat(fs: Any) -> Any:
            async with fs._pool.get() as channel:
                return await channel.stat(path)

        return _entry(path, self._sftp(stat, path, "while reading the state of"))

    def listdir(self, path: str) -> list[dict[str, Any]]:
        """Return the entries of the folder ``path`` over SFTP, sorted by name."""

        async def listdir(fs: Any) -> Any:
            async with fs._pool.get() as channel:
                return await channel.readdir(path)

        found = self._sftp(listdir, path, "while listing")
        return sorted((_entry(f"{path.rstrip('/')}/{item.filename}", item.attrs)
                       for item in found if item.filename not in ("", ".", "..")),
                      key=lambda e: e["name"])

    def open(self, path: str) -> SFTPReader:
        """Open ``path`` for reading over SFTP."""

        async def open_file(fs: Any) -> Any:
            async with fs._pool.get() as channel:
                handle = await channel.open(path, "rb")
                attrs = await handle.stat()
                return handle, attrs, fs

        handle, attrs, fs = self._sftp(open_file, path, "while opening")
        return SFTPReader(self, path, handle, int(attrs.size or 0), fs)

    def write(self, doing: str, path: str, make: Callable[[Any], Awaitable[T]]) -> T:
        """Run the SFTP write ``make(channel)`` on ``path`` once (a write is not repeated).

        A full quota becomes a :class:`~awiml.errors.TransferError` that says so.
        """

        async def on_channel(fs: Any) -> T:
            async with fs._pool.get() as channel:
                return await make(channel)

        try:
            return self._sftp(on_channel, path, doing, reconnect=False)
        except TransferError as exc:
            if "quota" not in str(exc).lower():
                raise
            raise TransferError(
                f"{str(exc).rstrip('.')}. The project's quota on the HSM at "
                f"{self.login.where} is full: remove files you no longer need there, or ask "
                "the HSM's administrators for more quota, then archive again.") from None

    def _sftp(self, make: Callable[[Any], Awaitable[T]], path: str, doing: str, *,
              reconnect: bool = True) -> T:
        import asyncssh

        try:
            return self.call(make, f"{doing} {path}", reconnect=reconnect)
        except AwimlError:
            raise
        except asyncssh.SFTPNoSuchFile:
            raise NotFoundError(f"{path} does not exist on the HSM at {self.login.where}; "
                                "check the path (sls -D on the server lists what is "
                                "there).") from None
        except (asyncssh.SFTPPermissionDenied, PermissionError):
            raise AuthenticationError(
                f"the HSM at {self.login.where} does not let {self.login.user or 'you'} read "
                f"{path}; ask the project's data steward for access.") from None
        except asyncssh.SFTPError as exc:
            raise TransferError(f"the HSM at {self.login.where} refused {doing} {path}: "
                                f"{exc.reason}") from None


class SFTPReader(io.RawIOBase):
    """A file on the HSM read over SFTP: ``read``, ``seek``, ``tell``, ``close``.

    Reads ask for several blocks at once (all answers collected, none left
    behind when the connection drops). A dropped connection raises
    :class:`~awiml.errors.ArchiveUnavailableError` (a :class:`ConnectionError`),
    which the transfer engine retries, resuming where the partial file ends.
    """

    def __init__(self, connection: Connection, path: str, handle: Any, size: int,
                 fs: Any) -> None:
        super().__init__()
        self._connection = connection
        self._fs = fs  # the connection the handle belongs to
        self._handle = handle
        self.path = path
        self.size = size
        self._position = 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self.size
        elif whence != io.SEEK_SET:
            raise ValueError(f"whence must be 0, 1 or 2, not {whence!r}")
        if offset < 0:
            raise OSError(errno.EINVAL, f"cannot seek to {offset} in {self.path}")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.closed:
            raise ValueError(f"{self.path} is closed")
        want = self.size - self._position if size is None or size < 0 else size
        want = max(0, min(want, self.size - self._position))
        data = bytearray()
        while want > 0:
            try:
                piece = self._read_blocks(self._position, min(want, _READ_BLOCK * _READ_AHEAD))
            except (AwimlError, OSError):
                if data:  # hand over what arrived; the next read raises
                    break
                raise
            if not piece:
                break
            data += piece
            self._position += len(piece)
            want -= len(piece)
        return bytes(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _read_blocks(self, offset: int, size: int) -> bytes:
        """Read up to ``size`` bytes at ``offset`` with several requests in flight.

        When the connection drops, the blocks that arrived before the first
        failed one are returned (the transfer engine keeps them); only a read
        that received nothing raises.
        """
        handle = self._handle
        if handle is None:
            raise ArchiveUnavailableError(
                f"the connection to the HSM at {self._connection.login.where} was lost while "
                f"reading {self.path}; open the file again to read on.")

        async def read(fs: Any) -> list[Any]:
            starts = range(offset, offset + size, _READ_BLOCK)
            return await asyncio.gather(
                *(handle.read(min(_READ_BLOCK, offset + size - start), start)
                  for start in starts), return_exceptions=True)

        parts = self._connection.call(read, f"while reading {self.path}", reconnect=False)
        data = b""
        for part in parts:  # the contiguous blocks before a failure or a short block
            if isinstance(part, BaseException):
                if data:
                    break
                self._handle = None
                self._connection.close(self._fs)
                raise self._failed(part)
            data += part
            if len(part) < _READ_BLOCK:
                break
        return data

    def _failed(self, exc: BaseException) -> BaseException:
        """Return awiml's error for a read that failed with ``exc``."""
        import asyncssh

        where = self._connection.login.where
        if _dropped(exc):
            return self._connection._unavailable(exc, f"while reading {self.path}")
        if isinstance(exc, asyncssh.SFTPError):
            return TransferError(f"the HSM at {where} stopped the read of {self.path} at byte "
                                 f"{self._position}: {exc.reason}")
        return exc

    def close(self) -> None:
        if self.closed:
            return
        handle, self._handle = self._handle, None
        super().close()
        if handle is None:
            return

        async def close(fs: Any) -> None:
            await handle.close()

        try:
            self._connection.call(close, f"while closing {self.path}", timeout=5.0,
                                  reconnect=False)
        except (AwimlError, OSError) as exc:  # the data read are complete; nothing to keep
            del exc


def _entry(path: str, attrs: Any) -> dict[str, Any]:
    import stat

    mode = attrs.permissions or 0
    kind = "directory" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"
    mtime = (datetime.fromtimestamp(attrs.mtime, tz=timezone.utc)
             if attrs.mtime is not None else None)
    return {"name": path, "type": kind, "size": int(attrs.size or 0), "mtime": mtime}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _chunks(paths: Sequence[str]) -> list[list[str]]:
    """Split ``paths`` into lists whose command line stays below :data:`_MAX_COMMAND`."""
    chunks: list[list[str]] = [[]]
    length = 0
    for path in paths:
        quoted = len(shlex.quote(path)) + 1
        if chunks[-1] and length + quoted > _MAX_COMMAND:
            chunks.append([])
            length = 0
        chunks[-1].append(path)
        length += quoted
    return chunks if chunks[-1] else []
