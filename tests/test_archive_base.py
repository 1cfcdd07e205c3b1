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


# -- no secret in any log ------------------------------------------------------------------

QUERY_TOKEN = "q-T0ken-4c1d9e"
HEADER_TOKEN = "h-T0ken-77ab02"
PASSWORD = "pa55-w0rd-9f3e"


def _all_logged(caplog) -> str:
    """Everything a handler would print: messages, tracebacks, stacks, as formatted."""
    import logging

    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(r) + " " + r.getMessage() for r in caplog.records)


def test_no_secret_reaches_any_log_at_debug(server, caplog, workspace):
    import logging

    server.add("api.json", b"{}")
    server.add("data.bin", payload(3000))
    server.inject("api.json", Fault.status(503))
    server.inject("data.bin", Fault.status(500))
    caplog.set_level(logging.DEBUG)  # the root logger: every library's DEBUG is on
    for name in ("urllib3", "urllib3.connectionpool", "requests", "fsspec", "awiml"):
        caplog.set_level(logging.DEBUG, logger=name)  # even where a level was set
    session = http_session(retries=2, backoff=0.001)
    reply = session.get(server.url("api.json") + f"?token={QUERY_TOKEN}&x=1",
                        headers={"Authorization": f"Bearer {HEADER_TOKEN}"})
    assert reply.status_code == 200
    http_session(auth=("alice", PASSWORD), retries=0).get(server.url("api.json"))
    # An unreachable host: urllib3 and awiml log the failure and its retries.
    with pytest.raises(requests.ConnectionError):
        http_session(retries=1, backoff=0.001).get(
            f"http://alice:{PASSWORD}@127.0.0.1:9/x?password={PASSWORD}")
    workspace.fetch(server.url("data.bin") + f"?api_key={QUERY_TOKEN}", token=HEADER_TOKEN,
                    policy=_fast(), progress=False)
    # fsspec's own HTTP filesystem (aiohttp) logs the URLs it opens at DEBUG.
    pytest.importorskip("aiohttp")
    http = fsspec.filesystem("http", skip_instance_cache=True)
    assert http.cat(server.url("api.json") + f"?token={QUERY_TOKEN}") == b"{}"
    logging.getLogger("some.library").debug("sent %s", {"Authorization": f"Bearer {HEADER_TOKEN}"})
    try:
        raise RuntimeError(f"GET /x?token={QUERY_TOKEN} failed")
    except RuntimeError:
        logging.getLogger("another.library").exception("request failed")
    text = _all_logged(caplog)
    assert "connectionpool" in text and "api.json" in text  # urllib3 did log the requests
    assert "fsspec.http" in text  # and fsspec
    assert "retry 1 of 2" in text  # and awiml its retries
    for secret in (QUERY_TOKEN, HEADER_TOKEN, PASSWORD):
        assert secret not in text
    assert "token=***" in text


def _fast():
    from awiml.archives.transfer import RetryPolicy

    return RetryPolicy(retries=2, backoff=0.001, max_backoff=0.01, timeout=(2.0, 2.0))


# -- one place for retries -----------------------------------------------------------------


def test_transfer_engine_and_session_share_one_retry_policy():
    import awiml.archives.base as base
    import awiml.archives.transfer as transfer
    from awiml.archives.http import RetryPolicy

    assert transfer.RetryPolicy is RetryPolicy is base.RetryPolicy
    session = http_session(retries=4, backoff=0.25, max_retry_after=9)
    assert isinstance(session.retry_policy, RetryPolicy)
    assert (session.retry_policy.retries, session.retry_policy.backoff,
            session.retry_policy.max_retry_after) == (4, 0.25, 9)
    # urllib3 retries nothing on its own: no second layer under the policy.
    assert session.get_adapter("http://x").max_retries.total == 0


def test_session_gives_up_after_its_retries_and_returns_the_last_reply(server, caplog):
    import logging

    server.add("api.json", b"{}")
    server.inject("api.json", Fault.status(502), times=None)
    with caplog.at_level(logging.WARNING, logger="awiml"):
        reply = http_session(retries=2, backoff=0.001).get(server.url("api.json"))
    assert reply.status_code == 502
    assert server.hits("api.json") == 3
    logged = [r.getMessage() for r in caplog.records]
    assert any("api.json" in m and "retry 2 of 2" in m for m in logged)


def test_session_retries_a_post_only_when_the_server_did_not_process_it(server):
    server.route("POST", "/job", lambda request: __import__("awiml.testing").testing.Response(
        body=b"{}", content_type="application/json"))
    server.inject("job", Fault.status(500))
    session = http_session(retries=3, backoff=0.001)
    assert session.post(server.url("job")).status_code == 500  # may have been processed
    server.inject("job", Fault.status(503))
    assert session.post(server.url("job")).status_code == 200  # 503: not processed, retried
    server.inject("job", Fault.status(500))
    assert session.post(server.url("job"), idempotent=True).status_code == 200
    assert server.hits("job") == 5


def test_connection_refused_is_retried_at_most_twice(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="awiml"), pytest.raises(
            requests.ConnectionError):
        http_session(retries=5, backoff=0.001).get("http://127.0.0.1:9/x")
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2
