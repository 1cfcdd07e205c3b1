"""The archive base: an ArchiveFileSystem subclass and the shared HTTP session."""

from __future__ import annotations

import fsspec
import pytest
import requests
from conftest import assert_consistent, payload, sha256

from awiml.archives import ArchiveFileSystem, RemoteFile, http_session, netrc_credentials
from awiml.testing import Fault, FileServer


class LoopbackArchive(ArchiveFileSystem):
    """A minimal archive source over a FileServer: datasets are folders of files."""

    protocol = "loopbackarchive"
    base_url = ""
    files: dict[str, bytes] = {}

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path).strip("/")
        entries = [
            {"name": name, "size": len(data), "type": "file"}
            for name, data in sorted(self.files.items())
            if name.startswith(path + "/") or name == path
        ]
        if not entries:
            raise FileNotFoundError(path)
        return entries if detail else [e["name"] for e in entries]

    def _open(self, path, mode="rb", **kwargs):
        from fsspec.implementations.memory import MemoryFile

        return MemoryFile(self, path, self.files[self._strip_protocol(path)])

    def remote_files(self, path):
        path = self._strip_protocol(path).strip("/")
        return [
            RemoteFile(
                source=f"loopbackarchive://{entry['name']}",
                name=entry["name"],
                size=entry["size"],
                checksum=sha256(self.files[entry["name"]]),
                metadata={"dataset": path, "licence": "CC-BY-4.0"},
                url=f"{self.base_url}/{entry['name']}",
            )
            for entry in self.ls(path)
        ]


@pytest.fixture
def archive(server):
    files = {"ds1/a.tab": payload(1000), "ds1/b.tab": payload(2000, 1)}
    for name, data in files.items():
        server.add(name, data)
    # what a real source reads from its arguments (base URL, credentials), set here for the test
    LoopbackArchive.base_url = server.base_url
    LoopbackArchive.files = files
    LoopbackArchive.clear_instance_cache()
    fsspec.register_implementation("loopbackarchive", LoopbackArchive, clobber=True)
    return LoopbackArchive()


def test_archive_is_a_read_only_fsspec_filesystem(archive):
    assert archive.ls("loopbackarchive://ds1", detail=False) == ["ds1/a.tab", "ds1/b.tab"]
    with archive.open("ds1/a.tab") as handle:
        assert handle.read() == archive.files["ds1/a.tab"]
    with pytest.raises(PermissionError, match="read-only"):
        archive.rm("ds1/a.tab")
    with pytest.raises(PermissionError):
        archive.mkdir("x")


def test_fetch_uses_the_archive_remote_files(archive, workspace, server):
    table = workspace.fetch(["loopbackarchive://ds1"], progress=False)
    assert sorted(table["path"]) == ["ds1/a.tab", "ds1/b.tab"]
    entry = workspace.entries()["ds1/b.tab"]
    assert entry.source == "loopbackarchive://ds1/b.tab"
    assert entry.metadata == {"dataset": "ds1", "licence": "CC-BY-4.0"}
    assert entry.published_checksum == sha256(archive.files["ds1/b.tab"])
    # the transfer went over HTTP through the shared engine
    assert server.hits("ds1/a.tab") == 1
    assert_consistent(workspace)


def test_remote_file_needs_a_url_or_an_fs_path():
    with pytest.raises(ValueError, match="url or an fs"):
        RemoteFile(source="x", name="x")


def test_default_remote_files_expands_directories(tmp_path):
    class LocalArchive(ArchiveFileSystem):
        protocol = "localarchive"

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.local = fsspec.filesystem("file")

        def ls(self, path, detail=True, **kwargs):
            return self.local.ls(path, detail=detail)

        def info(self, path, **kwargs):
            return self.local.info(path)

        def _open(self, path, mode="rb", **kwargs):
            return self.local.open(path, mode)

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "x.txt").write_text("x")
    files = LocalArchive(skip_instance_cache=True).remote_files(str(tmp_path / "d"))
    assert [f.name for f in files] == ["d/sub/x.txt"]
    assert files[0].size == 1


def test_session_retries_api_calls_and_honours_retry_after(server):
    server.add("api.json", b"{}")
    server.inject("api.json", Fault.status(503))
    server.inject("api.json", Fault.too_many_requests(retry_after=0))
    session = http_session(retries=3, backoff=0.01)
    reply = session.get(server.url("api.json"))
    assert reply.status_code == 200
    assert server.hits("api.json") == 3
    assert session.headers["User-Agent"].startswith("awiml/")


def test_session_has_a_default_timeout(server):
    server.add("slow", b"x")
    server.inject("slow", Fault.slow(2.0))
    session = http_session(retries=0, timeout=(1.0, 0.2))
    with pytest.raises(requests.Timeout):
        session.get(server.url("slow"))


def test_session_auth_and_token():
    with FileServer(auth=("u", "pw")) as server:
        server.add("a", b"ok")
        assert http_session(auth=("u", "pw")).get(server.url("a")).status_code == 200
        assert http_session(retries=0).get(server.url("a")).status_code == 401
    with FileServer(auth="tok") as server:
        server.add("a", b"ok")
        assert http_session(token="tok").get(server.url("a")).text == "ok"


def test_netrc_credentials(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine ecotaxa.example login me@awi.de password s3cret\n")
    netrc.chmod(0o600)
    assert netrc_credentials("ecotaxa.example", path=netrc) == ("me@awi.de", "s3cret")
    assert netrc_credentials("other.example", path=netrc) is None
    assert netrc_credentials("x", path=tmp_path / "missing") is None
    broken = tmp_path / "broken"
    broken.write_text("machine\n")
    assert netrc_credentials("x", path=broken) is None


def test_session_refuses_to_wait_for_a_very_long_retry_after(server):
    from awiml.errors import ArchiveUnavailableError

    server.add("busy", b"x")
    server.inject("busy", Fault.status(503, headers={"Retry-After": "7200"}))
    session = http_session(retries=3, backoff=0.01, max_retry_after=60)
    with pytest.raises(ArchiveUnavailableError, match="asks to wait 7200 s"):
        session.get(server.url("busy"))
