"""The transfer engine's building blocks, through its public functions."""

from __future__ import annotations

import hashlib

import fsspec
import pytest
from conftest import payload, sha256

from awiml.archives import RemoteFile
from awiml.archives.transfer import RetryPolicy, download, file_checksum, parse_checksum
from awiml.errors import NotFoundError


def test_parse_checksum_forms():
    assert parse_checksum("sha256:ABC123") == ("sha256", "abc123")
    assert parse_checksum("MD5:ff") == ("md5", "ff")
    assert parse_checksum("SHA-1:00") == ("sha1", "00")
    assert parse_checksum("a" * 64) == ("sha256", "a" * 64)
    with pytest.raises(ValueError, match="unknown checksum algorithm"):
        parse_checksum("crc99:00")
    with pytest.raises(ValueError, match="hexadecimal"):
        parse_checksum("sha256:xyz")


def test_file_checksum(tmp_path):
    data = payload(3 * 1024 * 1024 + 7)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert file_checksum(path) == sha256(data)
    assert file_checksum(path, "md5") == "md5:" + hashlib.md5(data).hexdigest()


def test_backoff_grows_exponentially_and_is_capped():
    policy = RetryPolicy(backoff=0.5, max_backoff=3)
    assert [policy.wait(n) for n in range(5)] == [0.5, 1.0, 2.0, 3, 3]
    assert all(0.375 <= policy.wait(0, jitter=True) <= 0.5 for _ in range(20))


def test_download_from_any_fsspec_filesystem(tmp_path):
    memory = fsspec.filesystem("memory")
    data = payload(2_500_000)
    memory.pipe("/bucket/obs.nc", data)
    remote = RemoteFile(source="memory://bucket/obs.nc", name="obs.nc", size=len(data),
                        checksum=sha256(data), fs=memory, path="/bucket/obs.nc")
    seen = []
    result = download(remote, tmp_path / "partial", progress=seen.append)
    assert result.path.read_bytes() == data
    assert result.sha256 == sha256(data)
    assert result.verified_checksum == sha256(data)
    assert sum(seen) == len(data)


def test_download_resumes_a_partial_file_on_fsspec(tmp_path):
    memory = fsspec.filesystem("memory")
    data = payload(100_000, 3)
    memory.pipe("/bucket/r.bin", data)
    remote = RemoteFile(source="memory://bucket/r.bin", name="r.bin", size=len(data),
                        fs=memory, path="/bucket/r.bin")
    partial_dir = tmp_path / "partial"
    partial_dir.mkdir()
    # what an interrupted run leaves behind
    first = download(remote, partial_dir)
    first.path.write_bytes(data[:40_000])
    seen = []
    result = download(remote, partial_dir, progress=seen.append)
    assert result.resumed
    assert seen[0] == 40_000 and sum(seen) == len(data)  # the bytes kept on disk count
    assert result.path.read_bytes() == data
    first.path.write_bytes(data[:40_000])
    seen.clear()
    download(remote, partial_dir, progress=seen.append, counted=40_000)  # counted already
    assert sum(seen) == 60_000


def test_download_missing_path_is_not_found(tmp_path):
    memory = fsspec.filesystem("memory")
    remote = RemoteFile(source="memory://nope", name="nope", fs=memory, path="/nope")
    with pytest.raises(NotFoundError, match="memory://nope"):
        download(remote, tmp_path)


def test_http_download_directly(server, tmp_path):
    data = payload(10_000)
    server.add("x.bin", data)
    remote = RemoteFile(source=server.url("x.bin"), name="x.bin", url=server.url("x.bin"),
                        headers={"Accept": "application/x-test"})
    sizes = []
    result = download(remote, tmp_path, on_size=sizes.append)
    assert sizes == [len(data)]  # announced once, from Content-Length
    assert result.path.read_bytes() == data
    assert result.attempts == 1 and not result.resumed
    assert server.requests[-1].header("accept") == "application/x-test"


def test_a_verified_http_download_leaves_only_its_file(tmp_path, server):
    """The resume record (ETag, Last-Modified) goes once the file is verified."""
    from awiml.archives import http_session
    from awiml.testing import Fault

    data = payload(50_000, 4)
    server.add("a.bin", data)
    server.inject("a.bin", Fault.drop_after(20_000))  # a resume, so the record was used
    remote = RemoteFile(source=server.url("a.bin"), name="a.bin", url=server.url("a.bin"),
                        checksum=sha256(data), session=http_session(retries=0))
    result = download(remote, tmp_path / "partial", policy=RetryPolicy(backoff=0.001))
    assert result.resumed and result.path.read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "partial").iterdir()) == [result.path.name]


def test_retry_policy_classifies_statuses_and_exceptions():
    import requests

    policy = RetryPolicy()
    assert [s for s in (200, 404, 408, 429, 500, 502, 503, 504) if policy.transient_status(s)] \
        == [408, 429, 500, 502, 503, 504]
    # A request that must not be sent twice is retried only when it was not processed.
    assert [s for s in (429, 500, 503) if policy.transient_status(s, idempotent=False)] \
        == [429, 503]
    assert policy.transient_exception(requests.ReadTimeout())
    assert not policy.transient_exception(requests.ReadTimeout(), idempotent=False)
    assert policy.transient_exception(requests.ConnectTimeout(), idempotent=False)
    assert not policy.transient_exception(ValueError())


def test_retry_policy_bounds_retry_after():
    from awiml.errors import ArchiveUnavailableError

    policy = RetryPolicy(max_retry_after=60)
    assert policy.retry_after("7", source="https://x.org/a", status=429) == 7.0
    assert policy.retry_after(None, source="https://x.org/a", status=429) is None
    with pytest.raises(ArchiveUnavailableError, match=r"x\.org/a\?token=\*\*\*.*7200 s"):
        policy.retry_after("7200", source="https://x.org/a?token=abc", status=503)
