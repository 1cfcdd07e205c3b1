"""The fault matrix: every kind of fault against every archive source, through Workspace.fetch.

Each case injects one fault into the transfer of one source's file (or into the
local disk), fetches, and checks the same invariants:

- the fetch either succeeds with the complete, verified file (transient faults), or
  raises an :class:`awiml.errors.AwimlError` whose message names the input and says
  what to do;
- after a failure, ``raw/`` (with ``raw/MANIFEST``) holds exactly what it held before;
  after a success, that plus the new files with their rows;
- no temporary file is left behind, except the resumable partial download where
  awiml documents one (``.awiml/downloads``, an export's ``.partial`` folder);
- once the fault is removed, the next fetch succeeds.

Sources are small adapters (:class:`Source`) in one list, :data:`SOURCES`; an
archive joins the matrix (O2A, HSM) by adding one. Fault kinds are the list
:data:`FAULTS`. ``ModelStore.save`` meets the local faults in
:func:`test_store_local_fault`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import DATA, payload

from awiml import Workspace
from awiml.archives.transfer import RetryPolicy
from awiml.errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    AwimlError,
    InvalidDataError,
    NotFoundError,
    TransferError,
)
from awiml.testing import Fault, FileServer

#: Short waits everywhere: a retry after milliseconds, a read timeout after half a second.
POLICY = RetryPolicy(retries=2, backoff=0.005, max_backoff=0.02, max_resumes=5,
                     timeout=(2.0, 0.5))
#: What an error message says to do: one of these verbs or phrases.
ADVICE = re.compile(
    r"(?i)\b(check|try again|retry|fetch again|give|free|run the export|export\(\) again|wait|"
    r"delete|report|copy a fresh)\b"
)
#: Names of temporary files and folders that must never stay behind.
TEMPORARY = re.compile(r"(\.tmp|\.new|\.old|\.lock)$|^\.files\.")
FILE_SIZE = 60_000


# -- the sources: one small adapter each ------------------------------------------------


@dataclass
class Source:
    """How one archive is set up, fetched and checked in the matrix.

    Subclasses set :attr:`name` and implement :meth:`start`; :attr:`server`
    is where faults go, :attr:`pattern` the path of the transferred file,
    :attr:`url` and :attr:`options` what ``Workspace.fetch`` gets, and
    :attr:`inputs` the words an error message may use to name the input.
    """

    name: str = ""
    server: Any = None
    pattern: str = ""
    url: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    #: Folders besides the workspace where the source keeps files (its cache).
    caches: tuple[Path, ...] = ()
    #: Whether the partial file of a failed transfer may be kept (for a resume).
    keeps_partials: bool = True

    def start(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.server.stop()

    def fetch(self, ws: Workspace, **kwargs: Any) -> pd.DataFrame:
        return ws.fetch(self.url, storage_options=self.options or None, policy=POLICY,
                        progress=False, **self.fetch_kwargs(), **kwargs)

    def fetch_kwargs(self) -> dict[str, Any]:
        return {}

    def check_fetched(self, ws: Workspace, table: pd.DataFrame) -> None:
        """Assert that the fetched files are complete and right."""
        raise NotImplementedError

    def partial_globs(self, ws: Workspace) -> list[Path]:
        """Folders where a resumable partial download may stay."""
        return [ws.root / ".awiml" / "downloads"]


class HttpSource(Source):
    """A plain file over HTTP from a FileServer, with its published checksum."""

    def start(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.data = payload(FILE_SIZE, seed=1)
        self.server = FileServer().start()
        self.server.add("data/cast01.bin", self.data)
        self.pattern = "data/cast01.bin"
        self.url = self.server.url(self.pattern)
        self.inputs = (self.url,)

    def fetch_kwargs(self) -> dict[str, Any]:
        return {"checksum": "sha256:" + hashlib.sha256(self.data).hexdigest()}

    def check_fetched(self, ws: Workspace, table: pd.DataFrame) -> None:
        assert (ws.raw / "cast01.bin").read_bytes() == self.data


class PangaeaFiles(Source):
    """``pangaea://611408/files/<name>``: a dataset's linked file (real panmd record)."""

    def start(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from awiml.testing import PangaeaServer

        self.data = payload(FILE_SIZE, seed=2)
        self.server = PangaeaServer().start()
        url = f"{self.server.base_url}/dataset/611408/files/seamount.jpg"
        listing = ("File name\tFile format\tFile size [kByte]\tURL file\n"
                   f"seamount.jpg\tJPEG\t{len(self.data) / 1024:.2f}\t{url}\n")
        self.server.add_dataset(
            611408, xml=DATA / "pangaea" / "metadata_xml" / "PANGAEA_611408_linked_files_panmd.xml",
            text=listing.encode(), files={"seamount.jpg": self.data})
        self.pattern = "dataset/611408/files/seamount.jpg"
        self.url = "pangaea://611408/files/seamount.jpg"
        self.cache = tmp_path / "pangaea-cache"
        self.caches = (self.cache,)
        self.options = {"base_url": self.server.base_url, "cache": str(self.cache),
                        "retries": 1, "timeout": POLICY.timeout}
        self.inputs = (self.url, "611408")

    def check_fetched(self, ws: Workspace, table: pd.DataFrame) -> None:
        assert (ws.raw / "pangaea/611408/files/seamount.jpg").read_bytes() == self.data


PRIVATE = 7
ECOTAXA_PASSWORD = "Fr4m-Strait-pw!"


class EcotaxaExport(Source):
    """``ecotaxa://7``: an export job whose zip is downloaded, checked and extracted."""

    keeps_partials = True

    def start(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from awiml import EcotaxaSource
        from awiml.testing import EcotaxaServer

        for name in ("ECOTAXA_USER", "ECOTAXA_PASSWORD", "ECOTAXA_TOKEN", "AWIML_ECOTAXA_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWIML_CONFIG_DIR", str(tmp_path / "config"))
        monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
        monkeypatch.setattr(EcotaxaSource, "retry_backoff", 0.005)
        self.images = {f"{c}.jpg": b"\xff\xd8\xff\xe0" + payload(FILE_SIZE // 3, seed=i)
                       for i, c in enumerate("abc")}
        table = pd.DataFrame({
            "object_id": ["net_a", "net_b", "net_c"],
            "object_lat": [78.9, 79.1, 79.2], "object_lon": [11.9, 5.4, 4.1],
            "object_date": ["2021-07-01", "2021-07-02", "2021-07-03"],
            "object_time": ["10:00:00", "11:30:00", "12:45:00"],
            "object_depth_min": [0.0, 50.0, 100.0], "object_depth_max": [50.0, 100.0, 200.0],
            "object_annotation_status": ["validated", "validated", "predicted"],
            "object_annotation_category": ["Copepoda", "Copepoda", "detritus"],
            "object_annotation_hierarchy": ["living>Copepoda", "living>Copepoda",
                                            "not-living>detritus"],
            "img_file_name": list(self.images), "object_area": [120.0, 340.5, 99.0],
            "sample_id": ["haul1", "haul1", "haul2"], "acq_id": ["acq1", "acq1", "acq2"],
        })
        self.server = EcotaxaServer().start()
        self.server.job_steps = 1
        self.server.add_user("alice", ECOTAXA_PASSWORD)
        self.server.add_project(PRIVATE, "Fram Strait nets", table, self.images,
                                visible=False, members=["alice"], instrument="Zooscan")
        self.pattern = "api/jobs/*/file"
        self.url = f"ecotaxa://{PRIVATE}"
        self.cache = tmp_path / "ecotaxa-cache"
        self.caches = (self.cache,)
        self.options = {
            "base_url": self.server.api_url, "username": "alice", "password": ECOTAXA_PASSWORD,
            "cache": str(self.cache), "retries": 2, "timeout": POLICY.timeout,
            "remember_token": False,
            "export_options": {"poll_interval": 0.005, "progress": False, "with_images": "all"},
        }
        self.inputs = (f"project {PRIVATE}", self.url, self.server.api_url)

    def check_fetched(self, ws: Workspace, table: pd.DataFrame) -> None:
        fetched = sorted(ws.raw.rglob("*.jpg"))
        assert sorted(p.read_bytes() for p in fetched) == sorted(self.images.values())
        assert list(ws.raw.rglob("*.tsv"))

    def partial_globs(self, ws: Workspace) -> list[Path]:
        return [ws.root / ".awiml" / "downloads", *self.cache.rglob(".partial")]


O2A_URL = ("o2a://vessel:polarstern:tsg:temperature?start=2016-12-20T00:00:00"
           "&end=2017-01-08T23:59:59&aggregate=hour&functions=mean")


class O2AExtract(Source):
    """``o2a://<code>?start=...``: a sensor extract, fetched in chunks from the data service.

    20 days of hourly means in chunks of 200 hours (about 7 kB each): every fault hits
    every chunk. A damaged or short answer is read, found wrong and asked for again.
    """

    def start(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from awiml.testing import O2AServer

        self.server = O2AServer().start()
        self.server.add_sample_data()
        self.pattern = "data/rest/data"
        self.url = O2A_URL
        self.cache = tmp_path / "o2a-cache"
        self.caches = (self.cache,)
        self.options = {"base_url": self.server.data_url,
                        "registry_url": self.server.registry_url, "cache": str(self.cache),
                        "retries": 2, "timeout": POLICY.timeout, "max_points": 200,
                        "max_workers": 2, "progress": False}
        self.inputs = ("vessel:polarstern:tsg:temperature", self.url)

    def check_fetched(self, ws: Workspace, table: pd.DataFrame) -> None:
        import requests

        from awiml.archives.o2a._url import parse_url

        one = requests.get(parse_url(self.url).url(self.server.data_url), timeout=30).content
        assert (ws.raw / table["path"].iloc[0]).read_bytes() == one


#: The sources of the matrix. HSM joins by adding its adapter here.
SOURCES: list[type[Source]] = [HttpSource, PangaeaFiles, EcotaxaExport, O2AExtract]
SOURCE_NAMES = {HttpSource: "http", PangaeaFiles: "pangaea", EcotaxaExport: "ecotaxa",
                O2AExtract: "o2a"}


# -- the faults --------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of fault and what the fetch must come to."""

    name: str
    #: Faults to inject on the source's file, in order: (fault, times).
    faults: tuple[tuple[Fault, int | None], ...]
    #: ``None``: the fetch succeeds; else the AwimlError subclass it raises.
    error: type[AwimlError] | None = None
    #: The message must match this too.
    says: str = ""
    slow: bool = False
    #: Sources for which the case is a known failure: (source, reason) pairs.
    xfail: tuple[tuple[str, str], ...] = ()
    #: Sources that come to another outcome by design: (source, error or None) pairs.
    outcome: tuple[tuple[str, type[AwimlError] | None], ...] = ()

    def error_for(self, source: str) -> type[AwimlError] | None:
        return dict(self.outcome).get(source, self.error)


UNDETECTABLE = (
    "PANGAEA publishes no checksum (and only a rounded size) for linked files: a "
    "body damaged on the way but complete by its Content-Length cannot be told from the "
    "real file"
)

FAULTS: list[Kind] = [
    # transient: the fetch gets there
    Kind("500-once", ((Fault.status(500), 1),)),
    Kind("502-once", ((Fault.status(502), 1),)),
    Kind("503-twice", ((Fault.status(503), 2),)),
    Kind("504-once", ((Fault.status(504), 1),)),
    Kind("429-retry-after", ((Fault.too_many_requests(retry_after=0), 2),)),
    Kind("drop-after", ((Fault.drop_after(5_000), 1),)),
    Kind("drop-then-ignore-range", ((Fault.drop_after(5_000), 1), (Fault.ignore_range(), 1))),
    Kind("slow-headers", ((Fault.slow(0.1), 1),)),
    Kind("stall-mid-body", ((Fault.stall(after_bytes=5_000, delay=1.5), 1),), slow=True),
    Kind("wrong-length-up", ((Fault.wrong_length(+100), 1),)),
    # A body cut short or damaged on the way: the published checksum (plain HTTP) makes
    # the engine download again; an EcoTaxa export's zip fails its check (InvalidDataError,
    # "run the export again") and the next fetch runs a new export.
    Kind("wrong-length-down", ((Fault.wrong_length(-100), 1),),
         xfail=(("pangaea", UNDETECTABLE),), outcome=(("ecotaxa", InvalidDataError),)),
    Kind("corrupt", ((Fault.corrupt(offset=4_000), 1),),
         xfail=(("pangaea", UNDETECTABLE),), outcome=(("ecotaxa", InvalidDataError),)),
    # permanent: the fetch fails, saying what to do
    Kind("404", ((Fault.status(404), None),), NotFoundError),
    Kind("410", ((Fault.status(410), None),), NotFoundError),
    Kind("401", ((Fault.status(401), None),), AuthenticationError),
    Kind("403", ((Fault.status(403), None),), AuthenticationError),
    Kind("500-always", ((Fault.status(500), None),), ArchiveUnavailableError),
    Kind("503-always", ((Fault.status(503), None),), ArchiveUnavailableError),
    Kind("429-wait-an-hour", ((Fault.too_many_requests(retry_after=3600), None),),
         ArchiveUnavailableError, "3600 s"),
    # Every attempt breaks off after 5 kB. With the matrix's policy (max_resumes=5) the file
    # never completes; EcoTaxa's export zip is downloaded with the source's own policy
    # (retries=, and the default max_resumes=100), so each drop is resumed and it completes.
    Kind("drop-always", ((Fault.drop_after(5_000), None),), ArchiveUnavailableError,
         outcome=(("ecotaxa", None),)),
]


def _case_params() -> Iterator[Any]:
    for kind in FAULTS:
        for source in SOURCES:
            label = SOURCE_NAMES[source]
            marks = [pytest.mark.slow] if kind.slow else []
            reason = dict(kind.xfail).get(label)
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            yield pytest.param(kind, source, id=f"{kind.name}-{label}", marks=marks)


# -- invariants ----------------------------------------------------------------------------


def snapshot(ws: Workspace) -> dict[str, str]:
    """Every file below raw/ (MANIFEST included) with its digest."""
    return {
        p.relative_to(ws.raw).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(ws.raw.rglob("*")) if p.is_file()
    }


def leftovers(ws: Workspace, source: Source, *, allow_partials: bool) -> list[str]:
    """Temporary files and folders that should not be there."""
    found = []
    partial_dirs = source.partial_globs(ws)
    for root in (ws.root, *source.caches):
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if TEMPORARY.search(path.name):
                found.append(str(path))
    for folder in partial_dirs:
        for path in folder.glob("*") if folder.is_dir() else []:
            if not allow_partials or path.suffix not in (".part", ".json"):
                found.append(str(path))
    return found


def assert_consistent(ws: Workspace) -> None:
    report = ws.verify()
    assert report.ok, str(report)


def assert_actionable(exc: BaseException, source: Source, kind: Kind) -> None:
    """The error is awiml's, names the input and says what to do (its causes may add detail)."""
    message = str(exc)
    assert isinstance(exc, AwimlError), f"{type(exc).__name__}: {message}"
    assert any(name in message for name in source.inputs), message
    assert ADVICE.search(message), message
    if kind.says:
        chain, cause = [message], exc.__cause__
        while cause is not None:
            chain.append(str(cause))
            cause = cause.__cause__
        assert any(kind.says in m for m in chain), chain


@pytest.fixture
def source(request, tmp_path, monkeypatch) -> Iterator[Source]:
    adapter: Source = request.param(name=SOURCE_NAMES[request.param])
    adapter.start(tmp_path, monkeypatch)
    try:
        yield adapter
    finally:
        adapter.stop()


def _workspace(tmp_path: Path) -> Workspace:
    """A workspace that already holds one file, so 'unchanged' means something."""
    ws = Workspace.create(tmp_path / "ws")
    earlier = tmp_path / "earlier.txt"
    earlier.write_text("fetched before the fault\n")
    ws.fetch(str(earlier), progress=False)
    return ws


@pytest.mark.parametrize(("kind", "source"), list(_case_params()), indirect=["source"])
def test_fault(kind: Kind, source: Source, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    before = snapshot(ws)
    for fault, times in kind.faults:
        source.server.inject(source.pattern, fault, times=times)
    expected_error = kind.error_for(source.name)
    if expected_error is None:
        table = source.fetch(ws)
        assert set(table["status"]) == {"fetched"}
        source.check_fetched(ws, table)
        after = snapshot(ws)
        assert {k: v for k, v in after.items() if k in before and k != "MANIFEST"} == {
            k: v for k, v in before.items() if k != "MANIFEST"}
        assert_consistent(ws)
        assert leftovers(ws, source, allow_partials=False) == []
        return
    with pytest.raises(AwimlError) as info:
        source.fetch(ws)
    assert isinstance(info.value, expected_error), f"{type(info.value).__name__}: {info.value}"
    assert_actionable(info.value, source, kind)
    assert snapshot(ws) == before
    assert leftovers(ws, source, allow_partials=source.keeps_partials) == []
    # Once the archive behaves again, the next fetch succeeds.
    source.server.clear_faults()
    table = source.fetch(ws)
    source.check_fetched(ws, table)
    assert_consistent(ws)
    assert leftovers(ws, source, allow_partials=False) == []


# -- local faults: the disk, read-only folders, a killed process ----------------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs); skipped where mounting is not allowed."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until ``leave`` bytes stay free."""
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(bytes(max(0, free - leave)))


class _ReadOnly:
    """Make folders read-only for root too (a read-only bind mount), and writable again."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def __call__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if not (_mount("--bind", str(folder), str(folder))
                and _mount("-o", "remount,ro,bind", str(folder))):
            pytest.skip("cannot make a read-only bind mount here")
        self.mounted.append(folder)

    def undo(self) -> None:
        while self.mounted:
            subprocess.run(["umount", "-l", str(self.mounted.pop())], check=False)


@pytest.fixture
def read_only() -> Iterator[_ReadOnly]:
    made = _ReadOnly()
    try:
        yield made
    finally:
        made.undo()


LOCAL_SOURCES = [pytest.param(s, id=SOURCE_NAMES[s]) for s in SOURCES]
#: Sources whose downloads go through a partial file first. An O2A extract is made
#: of chunks kept in the archive cache instead, so a killed fetch resumes from the
#: cached chunks (tests/test_o2a_fetch.py), and a cache that cannot be written only
#: costs the cache (a warning, test_read_only_cache_costs_an_o2a_fetch_only_the_cache).
STREAMED_SOURCES = [p for p in LOCAL_SOURCES if p.id != "o2a"]


def _local(xfail: dict[str, str]) -> list[Any]:
    """The sources, with the known failures of one local fault marked."""
    params = []
    for source in SOURCES:
        label = SOURCE_NAMES[source]
        marks = [pytest.mark.xfail(strict=True, reason=xfail[label])] if label in xfail else []
        params.append(pytest.param(source, id=label, marks=marks))
    return params


def assert_unchanged_or_complete(ws: Workspace, before: dict[str, str]) -> None:
    """raw/ holds what it held, or that plus complete new files with their rows."""
    after = snapshot(ws)
    assert {k: after.get(k) for k in before if k != "MANIFEST"} == {
        k: v for k, v in before.items() if k != "MANIFEST"}
    assert_consistent(ws)


@pytest.mark.parametrize("source", LOCAL_SOURCES, indirect=True)
def test_disk_full_mid_transfer(source: Source, tiny_disk: Path) -> None:
    """One page free on the workspace's disk: room for the lock file, not for the data."""
    ws = _workspace(tiny_disk)
    before = snapshot(ws)
    _fill(tiny_disk, leave=4096 + 2048)
    with pytest.raises(AwimlError) as info:
        source.fetch(ws, workers=1)  # one lock file at a time
    assert_actionable(info.value, source, Kind("disk-full", ()))
    assert re.search(r"(?i)disk full|not enough space|free some space", str(info.value))
    assert snapshot(ws) == before
    assert leftovers(ws, source, allow_partials=False) == []
    (tiny_disk / "filler").unlink()
    source.check_fetched(ws, source.fetch(ws))
    assert_consistent(ws)


@pytest.mark.parametrize("source", LOCAL_SOURCES, indirect=True)
def test_disk_full_from_the_start(source: Source, tiny_disk: Path) -> None:
    """Not a page free: not even the lock file of the transfer fits."""
    ws = _workspace(tiny_disk)
    before = snapshot(ws)
    _fill(tiny_disk, leave=2048)
    with pytest.raises(AwimlError) as info:
        source.fetch(ws)
    assert_actionable(info.value, source, Kind("disk-full", ()))
    assert snapshot(ws) == before
    (tiny_disk / "filler").unlink()
    source.check_fetched(ws, source.fetch(ws))
    assert_consistent(ws)


@pytest.mark.parametrize("source", [pytest.param(HttpSource, id="http")], indirect=True)
def test_disk_full_during_manifest_rewrite(source: Source, tiny_disk: Path) -> None:
    """The download fits; the rewritten MANIFEST (made large on purpose) does not."""
    from awiml.testing import Response

    ws = Workspace.create(tiny_disk / "ws")
    many = tiny_disk / "many"
    many.mkdir()
    for i in range(60):
        (many / f"note{i:02d}.txt").write_text(f"note {i}\n")
    ws.fetch(str(many), progress=False)  # a MANIFEST of several pages
    before = snapshot(ws)
    page = 4096
    room = -(-FILE_SIZE // page) * page + page  # the download and its partial record

    def fill_then_send(request: Any) -> Response:
        _fill(tiny_disk, leave=room)  # at request time: the lock file is already there
        return Response(body=source.data, content_type="application/octet-stream")

    source.server.route("GET", "/" + source.pattern, fill_then_send)
    with pytest.raises(AwimlError) as info:
        source.fetch(ws)
    assert_actionable(info.value, source, Kind("disk-full-manifest", ()))
    assert_unchanged_or_complete(ws, before)


@pytest.mark.parametrize("source", LOCAL_SOURCES, indirect=True)
def test_read_only_raw(source: Source, tmp_path: Path, read_only: _ReadOnly) -> None:
    ws = _workspace(tmp_path)
    before = snapshot(ws)
    read_only(ws.raw)
    with pytest.raises(AwimlError) as info:
        source.fetch(ws)
    assert_actionable(info.value, source, Kind("read-only-raw", ()))
    assert "raw/" in str(info.value) or str(ws.raw) in str(info.value)
    assert snapshot(ws) == before
    assert leftovers(ws, source, allow_partials=True) == []
    read_only.undo()
    source.check_fetched(ws, source.fetch(ws))
    assert_consistent(ws)
    assert leftovers(ws, source, allow_partials=False) == []


@pytest.mark.parametrize("source", STREAMED_SOURCES, indirect=True)
def test_read_only_cache(source: Source, tmp_path: Path, read_only: _ReadOnly) -> None:
    """The folder the source downloads into first: its cache, or the workspace's downloads."""
    ws = _workspace(tmp_path)
    before = snapshot(ws)
    folders = list(source.caches) or [ws.root / ".awiml" / "downloads"]
    for folder in folders:
        read_only(folder)
    with pytest.raises(AwimlError) as info:
        source.fetch(ws)
    assert_actionable(info.value, source, Kind("read-only-cache", ()))
    assert any(str(f) in str(info.value) for f in folders), str(info.value)
    assert snapshot(ws) == before
    read_only.undo()
    source.check_fetched(ws, source.fetch(ws))
    assert_consistent(ws)
    assert leftovers(ws, source, allow_partials=False) == []


@pytest.mark.parametrize("source", [pytest.param(O2AExtract, id="o2a")], indirect=True)
def test_read_only_cache_costs_an_o2a_fetch_only_the_cache(source: Source, tmp_path: Path,
                                                           read_only: _ReadOnly) -> None:
    ws = _workspace(tmp_path)
    for folder in source.caches:
        read_only(folder)
    with pytest.warns(RuntimeWarning, match="could not be cached.*Read-only file system"):
        table = source.fetch(ws)
    source.check_fetched(ws, table)
    assert_consistent(ws)
    assert leftovers(ws, source, allow_partials=False) == []


@pytest.mark.parametrize("source", [pytest.param(EcotaxaExport, id="ecotaxa")], indirect=True)
def test_read_only_export_target(source: Source, tmp_path: Path, read_only: _ReadOnly) -> None:
    """``EcotaxaSource.export(target=...)`` into a read-only folder: an awiml error naming
    it, nothing left there, and the export kept in the cache for the next call."""
    from awiml import EcotaxaSource

    exporter = EcotaxaSource(**source.options, skip_instance_cache=True)
    folder = tmp_path / "read-only"
    read_only(folder)
    for target in (folder / "mine", folder / "deeper" / "mine"):
        with pytest.raises(TransferError) as info:
            exporter.export(PRIVATE, target=target)
        message = str(info.value)
        assert str(target) in message and "target=" in message, message
        assert ADVICE.search(message), message
        assert not list(folder.iterdir())  # nothing left behind
    read_only.undo()
    assert next(exporter.export(PRIVATE, target=folder / "mine").glob("*.tsv")).is_file()
    assert source.server.hits("/api/object_set/export/general") == 1  # the cached export


KILLED_CHILD = """
import pickle, sys
from awiml import Workspace
from awiml.archives.transfer import RetryPolicy
url, options, kwargs, root = pickle.loads(bytes.fromhex(sys.argv[1]))
Workspace(root).fetch(url, storage_options=options, progress=False,
                      policy=RetryPolicy(timeout=(5.0, 30.0)), **kwargs)
"""


@pytest.mark.slow
@pytest.mark.parametrize("source", STREAMED_SOURCES, indirect=True)
def test_killed_process_mid_transfer_then_resume(source: Source, tmp_path: Path) -> None:
    """SIGKILL (no clean-up at all) while the body streams; the next fetch resumes."""
    import pickle

    ws = _workspace(tmp_path)
    before = snapshot(ws)
    source.server.inject(source.pattern, Fault.stall(after_bytes=20_000, delay=30.0))
    argument = pickle.dumps((source.url, source.options or None, source.fetch_kwargs(),
                             str(ws.root))).hex()
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, argument],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    places = source.partial_globs(ws) + [s / "**" for s in source.caches]
    deadline = time.monotonic() + 60
    while not _partial_bytes(ws, source) >= 20_000:
        assert child.poll() is None, child.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, f"the transfer never started ({places})"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert snapshot(ws) == before
    source.server.clear_faults()
    source.server.clear_requests()
    table = source.fetch(ws)
    source.check_fetched(ws, table)
    assert_consistent(ws)
    asked = [r for r in source.server.requests if r.method == "GET"
             and re.fullmatch(source.pattern.replace("*", "[^/]+"), r.path.lstrip("/"))]
    assert asked and asked[-1].header("range", "").startswith("bytes=20000-")  # resumed
    assert leftovers(ws, source, allow_partials=False) == []


def _partial_bytes(ws: Workspace, source: Source) -> int:
    sizes = [p.stat().st_size for folder in source.partial_globs(ws) if folder.is_dir()
             for p in folder.glob("*.part")]
    for cache in source.caches:
        sizes += [p.stat().st_size for p in cache.rglob(".partial/*.part")]
    return max(sizes, default=0)


# -- ModelStore.save meets the local faults -------------------------------------------------


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    x = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]
    return LogisticRegression().fit(x, [0, 1, 0, 1])


def _store_snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file() and not TEMPORARY.search(p.name)
    }


@pytest.mark.parametrize("fault", [
    pytest.param("disk-full", marks=pytest.mark.xfail(
        strict=True, reason="ModelStore.save lets an OSError (with good advice) escape on a "
                            "full disk instead of an AwimlError subclass (awiml/serialize.py)")),
    "read-only",
])
def test_store_local_fault(fault: str, tmp_path: Path, read_only: _ReadOnly) -> None:
    from awiml import ModelStore

    if fault == "disk-full":
        disk = tmp_path / "tiny"
        disk.mkdir()
        if not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)):
            pytest.skip("cannot mount a tmpfs here")
        read_only.mounted.append(disk)  # unmounted at the end like the others
        root = disk / "store"
    else:
        root = tmp_path / "store"
    store = ModelStore(root)
    store.save(_model(), "first")
    before = _store_snapshot(root)
    if fault == "disk-full":
        _fill(root.parent, leave=0)
    else:
        read_only(root)
    with pytest.raises(AwimlError) as info:
        store.save(_model(), "second", params={"padding": "x" * 200_000})
    message = str(info.value)
    assert str(root) in message or "second" in message, message
    assert ADVICE.search(message), message
    assert _store_snapshot(root) == before
    assert not [p for p in root.rglob("*") if TEMPORARY.search(p.name)]
    if fault == "disk-full":
        (root.parent / "filler").unlink()
    else:
        read_only.undo()
    store.save(_model(), "second")
    assert {"first", "second"} <= set(store.list()["name"])


def test_matrix_counts_are_documented() -> None:
    """docs/contributing/testing.md lists the matrix with the counts the code has."""
    text = (Path(__file__).parents[1] / "docs" / "contributing" / "testing.md").read_text("utf-8")
    section = text.split("## Fault matrix", 1)[1]
    assert f"{len(FAULTS)} kinds of fault" in section
    assert f"{len(SOURCES)} sources" in section
    assert f"{len(FAULTS) * len(SOURCES)} cases" in section
    for kind in FAULTS:
        assert f"`{kind.name}`" in section, kind.name

