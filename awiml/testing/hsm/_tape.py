"""The emulated tape library: files with copies on volumes, drives that stage them.

Everything that changes runs on the server's event loop (stage requests,
drives, readers waiting for a recall); the test's thread only reads and
registers files, under :attr:`Library.lock`.

A drive takes the volume of the oldest waiting request that no other drive
holds, mounts it (``mount_time`` seconds), reads every waiting file of that
volume in order of position (``bytes / read_rate`` seconds each, requests
that arrive meanwhile included) and unloads it when none is left; a file
that spans several volumes is read section by section, and is online when
its last section is read. A volume is never kept mounted idle, as in a busy
library where the next request for the drive comes from another user.
"""

from __future__ import annotations

import asyncio
import posixpath
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Library", "MountRecord", "TapeCopy", "TapeFile"]

_BLOCK = 262144
"""Bytes per tape block, for the positions ``sls -D`` prints."""


@dataclass(frozen=True)
class TapeCopy:
    """One archive copy of a file: its volumes and the bytes on each."""

    number: int
    media: str
    vsns: tuple[str, ...]
    lengths: tuple[int, ...]
    positions: tuple[int, ...]
    written: float


@dataclass
class TapeFile:
    """A file the library knows: its copies and whether its data are on disk."""

    path: str
    size: int
    copies: list[TapeCopy]
    online: bool
    queued: bool = False
    events: list[asyncio.Event] = field(default_factory=list)


@dataclass(frozen=True)
class MountRecord:
    """One mount of a volume, in seconds of the server's clock (:meth:`Library.clock`).

    Attributes
    ----------
    vsn : str
        The volume.
    drive : int
        The drive that held it, from 0.
    mounted : float
        When the mount began.
    ready : float
        When the volume was loaded (``mounted + mount_time``).
    unloaded : float
        When the drive let it go.
    files : tuple of str
        The paths read from it, in order (a spanning file once per section).
    """

    vsn: str
    drive: int
    mounted: float
    ready: float
    unloaded: float
    files: tuple[str, ...]


@dataclass
class _Request:
    seq: int
    vsn: str
    position: int
    path: str
    section: int
    length: int


class Library:
    """Files, volumes and drives; see the module docstring for the model."""

    def __init__(self, drives: int, mount_time: float, read_rate: float) -> None:
        if int(drives) < 1:
            raise ValueError(f"drives must be at least 1, got {drives!r}")
        self.drives = int(drives)
        self.mount_time = float(mount_time)
        self.read_rate = float(read_rate)
        self.lock = threading.Lock()
        self.files: dict[str, TapeFile] = {}
        self.mounts: list[MountRecord] = []
        self._ends: dict[str, int] = {}
        self._pending: list[_Request] = []
        self._held: dict[str, int] = {}
        self._seq = 0
        self._origin = time.monotonic()
        self._changed: asyncio.Condition | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def clock(self) -> float:
        """Seconds since the library was made, on a monotonic clock."""
        return time.monotonic() - self._origin

    # -- files (any thread) ---------------------------------------------------------- #

    def add(self, path: str, size: int, volumes: Sequence[str | Sequence[str]],
            sections: Sequence[int] | None, online: bool) -> TapeFile:
        """Register ``path`` with one copy per item of ``volumes``."""
        copies = []
        with self.lock:
            for number, item in enumerate(volumes, 1):
                vsns = (item,) if isinstance(item, str) else tuple(item)
                if not vsns or not all(isinstance(v, str) and v.strip() == v and v
                                       and " " not in v for v in vsns):
                    raise ValueError(f"copy {number} of {path}: volumes are non-empty names "
                                     f"without spaces, got {item!r}")
                lengths = self._split(path, size, len(vsns), sections)
                positions = []
                for vsn, length in zip(vsns, lengths, strict=True):
                    positions.append(self._ends.get(vsn, 0) + 1)
                    self._ends[vsn] = positions[-1] + -(-length // _BLOCK)
                copies.append(TapeCopy(number, "lt", vsns, lengths, tuple(positions),
                                       time.time()))
            if len(copies) > 4:
                raise ValueError(f"{path}: at most 4 archive copies, got {len(copies)}")
            entry = TapeFile(path, size, copies, online or not copies)
            self.files[path] = entry
        return entry

    @staticmethod
    def _split(path: str, size: int, count: int, sections: Sequence[int] | None
               ) -> tuple[int, ...]:
        if count == 1:
            return (size,)
        if sections is None:
            base, rest = divmod(size, count)
            return tuple(base + (1 if i < rest else 0) for i in range(count))
        lengths = tuple(int(n) for n in sections)
        if len(lengths) != count or sum(lengths) != size or min(lengths) < 0:
            raise ValueError(f"{path}: sections {lengths} must give the bytes on each of the "
                             f"{count} volumes and add up to the size, {size}")
        return lengths

    def forget(self, path: str) -> None:
        """Drop what the library knows of ``path`` (written, removed or renamed)."""
        with self.lock:
            entry = self.files.pop(path, None)
        if entry is not None:
            for event in entry.events:
                event.set()

    def move(self, old: str, new: str) -> None:
        """Carry the entries of ``old`` and everything below it over to ``new``."""
        with self.lock:
            for path in [p for p in self.files if p == old or p.startswith(old + "/")]:
                entry = self.files.pop(path)
                entry.path = new + path[len(old):]
                self.files[entry.path] = entry

    def is_offline(self, path: str) -> bool:
        """Whether ``path`` is a registered file whose data are only on tape."""
        with self.lock:
            entry = self.files.get(path)
            return entry is not None and not entry.online

    def release(self, path: str) -> None:
        """Make an archived file offline again (its disk copy released)."""
        with self.lock:
            entry = self.files.get(path)
            if entry is None or not entry.copies:
                raise ValueError(f"{path} has no archive copy, so it cannot be released")
            if not entry.queued:
                entry.online = False

    # -- on the event loop ----------------------------------------------------------- #

    def start(self) -> None:
        """Start the drives (call on the server's event loop)."""
        self._changed = asyncio.Condition()
        self._tasks = [asyncio.get_running_loop().create_task(self._drive(n))
                       for n in range(self.drives)]

    async def stop(self) -> None:
        """Stop the drives; waiting readers are woken (call on the event loop)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with self.lock:
            self._pending.clear()
            self._held.clear()
            for entry in self.files.values():
                entry.queued = False
                for event in entry.events:
                    event.set()

    async def request(self, paths: Sequence[str]) -> list[str]:
        """Queue the offline files among ``paths`` for staging; return those queued."""
        queued = []
        with self.lock:
            for path in paths:
                entry = self.files.get(path)
                if entry is None or entry.online or entry.queued:
                    continue
                entry.queued = True
                self._queue(entry, 0)
                queued.append(path)
        if queued:
            await self._notify()
        return queued

    async def wait_online(self, path: str) -> bool:
        """Wait until ``path`` is online; ``False`` if it is neither online nor being staged."""
        with self.lock:
            entry = self.files.get(path)
            if entry is None or entry.online:
                return True
            if not entry.queued:
                return False
            event = asyncio.Event()
            entry.events.append(event)
        await event.wait()
        with self.lock:
            entry = self.files.get(path)
            return entry is None or entry.online

    def _queue(self, entry: TapeFile, section: int) -> None:
        copy = entry.copies[0]
        self._seq += 1
        self._pending.append(_Request(self._seq, copy.vsns[section], copy.positions[section],
                                      entry.path, section, copy.lengths[section]))

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _claim(self, drive: int) -> str | None:
        with self.lock:
            for request in sorted(self._pending, key=lambda r: r.seq):
                if request.vsn not in self._held:
                    self._held[request.vsn] = drive
                    return request.vsn
        return None

    async def _drive(self, number: int) -> None:
        assert self._changed is not None
        while True:
            async with self._changed:
                vsn = self._claim(number)
                while vsn is None:
                    await self._changed.wait()
                    vsn = self._claim(number)
            mounted = self.clock()
            await asyncio.sleep(self.mount_time)
            ready, done = self.clock(), []
            while True:
                with self.lock:
                    mine = [r for r in self._pending if r.vsn == vsn]
                    request = min(mine, key=lambda r: (r.position, r.seq)) if mine else None
                    if request is None:
                        del self._held[vsn]
                        self.mounts.append(MountRecord(vsn, number, mounted, ready,
                                                       self.clock(), tuple(done)))
                        break
                    self._pending.remove(request)
                await asyncio.sleep(request.length / self.read_rate if self.read_rate > 0
                                    else 0.0)
                done.append(request.path)
                more = self._section_read(request)
                if more:
                    await self._notify()
            await self._notify()

    def _section_read(self, request: _Request) -> bool:
        """Mark a section read; return whether another section was queued."""
        with self.lock:
            entry = self.files.get(request.path)
            if entry is None or not entry.queued:
                return False
            if request.section + 1 < len(entry.copies[0].vsns):
                self._queue(entry, request.section + 1)
                return True
            entry.online, entry.queued = True, False
            events, entry.events = entry.events, []
        for event in events:
            event.set()
        return False


def hsm_path(path: str) -> str:
    """Normalise an archive path: absolute, no ``.``/``..``, no trailing ``/``."""
    return posixpath.normpath("/" + path.strip().lstrip("/"))
