"""Tests of awiml.testing.FileServer: a real loopback HTTP server with faults."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import json
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest
import requests

from awiml.testing import Fault, FileServer, RequestRecord, Response

DATA = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable
TIMEOUT = 5


@pytest.fixture
def server():
    with FileServer() as srv:
        srv.add("data/a.tab", DATA)
        yield srv


def get(url: str, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    with requests.Session() as session:
        return session.get(url, **kwargs)


def port_of(srv: FileServer) -> int:
    return int(srv.base_url.rsplit(":", 1)[1])


def connect(srv: FileServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port_of(srv), timeout=TIMEOUT)


def raw_request(
    srv: FileServer, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a raw socket and read until the server closes it.

    Returns the status, the headers (lower-cased names) and every byte that
    followed the header block, so short or over-long bodies are visible.
    """
    port = port_of(srv)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), parsed, body


# --------------------------------------------------------------------------- #
# Static serving
# --------------------------------------------------------------------------- #


def test_serves_bytes_with_http_headers(server):
    reply = get(server.url("data/a.tab"))
    assert reply.status_code == 200
    assert reply.content == DATA
    assert reply.headers["Content-Length"] == str(len(DATA))
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["Accept-Ranges"] == "bytes"
    etag = reply.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    assert email.utils.parsedate_to_datetime(reply.headers["Last-Modified"]) is not None
    assert server.base_url.startswith("http://127.0.0.1:")
    assert not server.base_url.endswith("/")


def test_content_type_is_guessed_and_overridable(server):
    server.add("x/table.csv", b"a,b\n1,2\n")
    server.add("x/blob.csv", b"a,b\n", content_type="text/x-custom")
    assert get(server.url("x/table.csv")).headers["Content-Type"] == "text/csv"
    assert get(server.url("x/blob.csv")).headers["Content-Type"] == "text/x-custom"


def test_serves_path_file_and_follows_changes(server, tmp_path):
    file = tmp_path / "big.bin"
    file.write_bytes(DATA * 3)
    server.add("files/big.bin", file)
    reply = get(server.url("files/big.bin"))
    assert reply.content == DATA * 3
    assert reply.headers["Content-Length"] == str(3 * len(DATA))
    first_etag = reply.headers["ETag"]
    file.write_bytes(b"changed")
    os.utime(file, ns=(1_000_000_000, 1_000_000_000))
    reply = get(server.url("files/big.bin"))
    assert reply.content == b"changed"
    assert reply.headers["ETag"] != first_etag


def test_add_rejects_bad_input(server, tmp_path):
    with pytest.raises(TypeError):
        server.add("a.txt", "text is ambiguous")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        server.add("a.txt", tmp_path / "missing")
    with pytest.raises(ValueError):
        server.add("/", b"x")


def test_url_quotes_path(server):
    server.add("dir with space/ä+b.tab", b"quoted")
    url = server.url("dir with space/ä+b.tab")
    assert url == server.base_url + "/dir%20with%20space/%C3%A4%2Bb.tab"
    assert get(url).content == b"quoted"
    assert server.hits("dir with space/ä+b.tab") == 1


def test_head_sends_headers_only(server):
    with closing(connect(server)) as c:
        c.request("HEAD", "/data/a.tab")
        reply = c.getresponse()
        assert reply.status == 200
        assert reply.getheader("Content-Length") == str(len(DATA))
        assert reply.read() == b""
        # keep-alive: the same connection serves the next request
        c.request("GET", "/data/a.tab")
        assert c.getresponse().read() == DATA


def test_keep_alive_reuses_one_connection(server):
    conn = connect(server)
    try:
        conn.request("GET", "/data/a.tab")
        first = conn.getresponse()
        assert first.read() == DATA
        sock = conn.sock
        for _ in range(3):
            conn.request("GET", "/nope")
            reply = conn.getresponse()
            assert reply.status == 404
            reply.read()
            assert conn.sock is sock
    finally:
        conn.close()


def test_unknown_path_is_404_and_other_methods_405(server):
    reply = get(server.url("data/missing.tab"))
    assert reply.status_code == 404
    assert b"Not Found" in reply.content
    reply = requests.post(server.url("data/a.tab"), data=b"x", timeout=TIMEOUT)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "GET, HEAD"
    assert get(server.base_url + "/").status_code == 404


def test_root_directory_is_looked_up_at_request_time(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "one.txt").write_bytes(b"one")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    with FileServer(root) as srv:
        assert get(srv.url("sub/one.txt")).content == b"one"
        (root / "later.txt").write_bytes(b"later")
        assert get(srv.url("later.txt")).content == b"later"
        srv.add("sub/one.txt", b"added wins")
        assert get(srv.url("sub/one.txt")).content == b"added wins"
        assert get(srv.url("sub")).status_code == 404  # no directory listings
        status, _, _ = raw_request(srv, "/../secret.txt")
        assert status == 404
        status, _, _ = raw_request(srv, "/sub/%2E%2E/%2E%2E/secret.txt")
        assert status == 404


# --------------------------------------------------------------------------- #
# Ranges
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=2-5", 2, 5),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1020-5000", 1020, 1023),
        ("bytes=0-0", 0, 0),
        ("bytes=-5000", 0, 1023),
    ],
)
def test_single_range_gives_206(server, tmp_path, header, first, last):
    file = tmp_path / "f.bin"
    file.write_bytes(DATA)
    server.add("f.bin", file)
    for name in ("data/a.tab", "f.bin"):
        reply = get(server.url(name), headers={"Range": header})
        assert reply.status_code == 206
        assert reply.headers["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
        assert reply.headers["Content-Length"] == str(last - first + 1)
        assert reply.content == DATA[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range_gives_416(server, header):
    reply = get(server.url("data/a.tab"), headers={"Range": header})
    assert reply.status_code == 416
    assert reply.headers["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=0-1,4-5", "bytes=5-2", "items=0-1", "bytes=x-y"])
def test_multi_or_invalid_range_gives_full_body(server, header):
    reply = get(server.url("data/a.tab"), headers={"Range": header})
    assert reply.status_code == 200
    assert reply.content == DATA


def test_if_range(server):
    etag = get(server.url("data/a.tab")).headers["ETag"]
    reply = get(server.url("data/a.tab"), headers={"Range": "bytes=10-", "If-Range": etag})
    assert reply.status_code == 206
    reply = get(server.url("data/a.tab"), headers={"Range": "bytes=10-", "If-Range": '"old"'})
    assert reply.status_code == 200
    assert reply.content == DATA


def test_range_support_off_globally_and_toggled_while_running(server):
    server.range_support = False
    reply = get(server.url("data/a.tab"), headers={"Range": "bytes=2-5"})
    assert reply.status_code == 200
    assert reply.content == DATA
    assert "Accept-Ranges" not in reply.headers
    server.range_support = True
    reply = get(server.url("data/a.tab"), headers={"Range": "bytes=2-5"})
    assert reply.status_code == 206
    assert reply.headers["Accept-Ranges"] == "bytes"


def test_range_support_per_file(tmp_path):
    with FileServer(range_support=False) as srv:
        srv.add("on.bin", DATA, range_support=True)
        srv.add("off.bin", DATA)
        assert get(srv.url("on.bin"), headers={"Range": "bytes=0-1"}).status_code == 206
        assert get(srv.url("off.bin"), headers={"Range": "bytes=0-1"}).status_code == 200
    with FileServer() as srv:
        srv.add("off.bin", DATA, range_support=False)
        reply = get(srv.url("off.bin"), headers={"Range": "bytes=0-1"})
        assert reply.status_code == 200
        assert "Accept-Ranges" not in reply.headers


# --------------------------------------------------------------------------- #
# One HTTP layer: the file server and both emulators answer ranges and
# conditions alike (awiml.testing._http)
# --------------------------------------------------------------------------- #

SAMPLE_TABLE = Path(__file__).parent / "data" / "pangaea" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"


@pytest.fixture(params=["static file", "PANGAEA restricted file", "EcoTaxa vault image"])
def served_body(request):
    """Yield (url, headers every request needs, the whole body) of one way to serve a body."""
    if request.param == "static file":
        with FileServer() as srv:
            srv.add("a.bin", DATA)
            yield srv.url("a.bin"), {}, DATA
    elif request.param == "PANGAEA restricted file":
        from awiml.testing import PangaeaServer

        with PangaeaServer(token="t0ken") as srv:
            srv.add_dataset(4242, text=SAMPLE_TABLE, restricted=True, files={"a.bin": DATA})
            url = srv.base_url + "/dataset/4242/files/a.bin"
            yield url, {"Authorization": "Bearer t0ken"}, DATA
    else:
        from awiml.testing import EcotaxaServer

        with EcotaxaServer() as srv:
            (projid,) = srv.add_sample_data()[:1]
            found = requests.post(f"{srv.api_url}/object_set/{projid}/query",
                                  params={"fields": "img.file_name", "window_size": 1},
                                  json={}, timeout=TIMEOUT).json()
            url = f"{srv.api_url}/vault/{found['details'][0][0]}"
            yield url, {}, get(url).content


def test_ranges_and_conditions_are_answered_alike(served_body):
    url, needed, body = served_body
    size = len(body)
    whole = get(url, headers=needed)
    assert whole.status_code == 200 and whole.content == body
    assert whole.headers["Accept-Ranges"] == "bytes"
    etag = whole.headers["ETag"]
    everything = (0, size)
    cases = [  # (headers, status, span of the body sent: None for none)
        ({"Range": "bytes=2-5"}, 206, (2, 6)),
        ({"Range": f"bytes=-{size + 10}"}, 206, everything),  # a suffix longer than the body
        ({"Range": "bytes=-10"}, 206, (size - 10, size)),
        ({"Range": "bytes=-0"}, 416, None),
        ({"Range": f"bytes={size}-"}, 416, None),
        ({"Range": "bytes=0-1,4-5"}, 200, everything),  # several ranges: the whole body
        ({"Range": "bytes=5-2"}, 200, everything),  # malformed: the whole body
        ({"Range": "bytes=10-", "If-Range": etag}, 206, (10, size)),
        ({"Range": "bytes=10-", "If-Range": '"old"'}, 200, everything),
        ({"If-None-Match": etag}, 304, None),
        ({"If-None-Match": '"old"'}, 200, everything),
    ]
    modified = whole.headers.get("Last-Modified")
    if modified is not None:
        old = "Mon, 01 Jan 2001 00:00:00 GMT"
        cases += [
            ({"If-Modified-Since": modified}, 304, None),
            ({"If-Modified-Since": old}, 200, everything),
            ({"Range": "bytes=10-", "If-Range": modified}, 206, (10, size)),
            ({"Range": "bytes=10-", "If-Range": old}, 200, everything),
        ]
    for headers, status, span in cases:
        reply = get(url, headers={**needed, **headers})
        assert reply.status_code == status, headers
        if status == 416:
            assert reply.headers["Content-Range"] == f"bytes */{size}"
            continue
        start, stop = span or (0, 0)
        assert reply.content == body[start:stop], headers
        if status == 206:
            assert reply.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}"


def test_conditions_apply_to_get_and_head_only(server):
    etag = get(server.url("data/a.tab")).headers["ETag"]
    reply = requests.head(server.url("data/a.tab"), headers={"If-None-Match": etag},
                          timeout=TIMEOUT)
    assert reply.status_code == 304
    server.route("POST", "/data/a.tab", lambda r: Response(body=b"posted"))
    reply = requests.post(server.url("data/a.tab"), headers={"If-None-Match": etag},
                          timeout=TIMEOUT)
    assert reply.status_code == 200 and reply.content == b"posted"


# --------------------------------------------------------------------------- #
# Faults
# --------------------------------------------------------------------------- #


def test_status_fault_then_normal(server):
    server.inject("data/a.tab", Fault.status(500, "boom", {"X-Why": "test"}))
    reply = get(server.url("data/a.tab"))
    assert reply.status_code == 500
    assert reply.content == b"boom"
    assert reply.headers["X-Why"] == "test"
    assert get(server.url("data/a.tab")).content == DATA


def test_status_fault_on_missing_path(server):
    server.inject("nothing/here", Fault.status(503))
    assert get(server.url("nothing/here")).status_code == 503
    assert get(server.url("nothing/here")).status_code == 404


def test_too_many_requests_sets_retry_after(server):
    date = email.utils.formatdate(0, usegmt=True)
    server.inject("data/a.tab", Fault.too_many_requests(retry_after=3))
    server.inject("data/a.tab", Fault.too_many_requests(retry_after=date))
    first = get(server.url("data/a.tab"))
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "3"
    second = get(server.url("data/a.tab"))
    assert second.headers["Retry-After"] == date
    assert get(server.url("data/a.tab")).status_code == 200


def test_drop_after_breaks_a_streamed_read(server):
    server.inject("data/a.tab", Fault.drop_after(100))
    with get(server.url("data/a.tab"), stream=True) as reply:
        assert reply.status_code == 200
        assert reply.headers["Content-Length"] == str(len(DATA))
        received = bytearray()
        with pytest.raises(requests.exceptions.RequestException):
            for chunk in reply.iter_content(16):
                received += chunk
        # the chunk in flight when the connection broke is lost inside urllib3
        assert len(received) <= 100 and DATA.startswith(received)
    assert get(server.url("data/a.tab")).content == DATA


def test_drop_after_on_a_range_request_sends_206_headers(server):
    server.inject("data/a.tab", Fault.drop_after(10))
    status, headers, body = raw_request(server, "/data/a.tab", {"Range": "bytes=100-199"})
    assert status == 206
    assert headers["content-range"] == "bytes 100-199/1024"
    assert headers["content-length"] == "100"
    assert body == DATA[100:110]


def test_slow_triggers_client_timeout(server):
    server.inject("data/a.tab", Fault.slow(10))
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(server.url("data/a.tab"), timeout=0.2)
    assert time.monotonic() - start < 2
    assert get(server.url("data/a.tab")).content == DATA
    assert server.hits("data/a.tab") == 2


def test_slow_with_patience_serves_normally(server):
    server.inject("data/a.tab", Fault.slow(0.2))
    start = time.monotonic()
    assert get(server.url("data/a.tab")).content == DATA
    assert time.monotonic() - start >= 0.2


def test_stall_times_out_mid_body(server):
    server.inject("data/a.tab", Fault.stall(after_bytes=100, delay=10))
    with get(server.url("data/a.tab"), stream=True, timeout=0.2) as reply:
        assert reply.status_code == 200
        received = bytearray()
        with pytest.raises(requests.exceptions.ConnectionError):
            for chunk in reply.iter_content(10):
                received += chunk
        assert bytes(received) == DATA[:100]


def test_stall_then_continues(server):
    server.inject("data/a.tab", Fault.stall(after_bytes=500, delay=0.2))
    start = time.monotonic()
    assert get(server.url("data/a.tab")).content == DATA
    assert time.monotonic() - start >= 0.2


def test_wrong_length_longer_gives_short_read(server):
    server.inject("data/a.tab", Fault.wrong_length(5))
    with get(server.url("data/a.tab"), stream=True) as reply:
        assert reply.headers["Content-Length"] == str(len(DATA) + 5)
        with pytest.raises(requests.exceptions.RequestException):
            reply.content  # noqa: B018
    server.inject("data/a.tab", Fault.wrong_length(5))
    _, headers, body = raw_request(server, "/data/a.tab")
    assert headers["content-length"] == str(len(DATA) + 5)
    assert body == DATA


def test_wrong_length_shorter_truncates_silently(server):
    server.inject("data/a.tab", Fault.wrong_length(-24))
    reply = get(server.url("data/a.tab"))
    assert reply.status_code == 200
    assert reply.headers["Content-Length"] == "1000"
    assert reply.content == DATA[:1000]
    server.inject("data/a.tab", Fault.wrong_length(-24))
    _, _, body = raw_request(server, "/data/a.tab")
    assert body == DATA[:1000]  # nothing more, then the connection closes


def test_corrupt_flips_one_byte(server, tmp_path):
    file = tmp_path / "f.bin"
    file.write_bytes(DATA)
    server.add("f.bin", file)
    for name in ("data/a.tab", "f.bin"):
        server.inject(name, Fault.corrupt(offset=7))
        body = get(server.url(name)).content
        assert len(body) == len(DATA)
        assert [i for i in range(len(DATA)) if body[i] != DATA[i]] == [7]
        assert hashlib.sha256(body).digest() != hashlib.sha256(DATA).digest()
    server.inject("data/a.tab", Fault.corrupt(offset=10**9))
    body = get(server.url("data/a.tab")).content
    assert body[:-1] == DATA[:-1] and body[-1] != DATA[-1]
    server.inject("data/a.tab", Fault.corrupt(offset=0))
    body = get(server.url("data/a.tab"), headers={"Range": "bytes=50-59"}).content
    assert body[0] != DATA[50] and body[1:] == DATA[51:60]


def test_ignore_range_answers_full_body(server):
    server.inject("data/a.tab", Fault.ignore_range())
    reply = get(server.url("data/a.tab"), headers={"Range": "bytes=10-"})
    assert reply.status_code == 200
    assert reply.content == DATA
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert get(server.url("data/a.tab"), headers={"Range": "bytes=10-"}).status_code == 206


def test_times_counts_and_none_means_forever(server):
    server.inject("data/a.tab", Fault.status(503), times=2)
    assert [get(server.url("data/a.tab")).status_code for _ in range(3)] == [503, 503, 200]
    server.inject("data/a.tab", Fault.status(502), times=None)
    assert [get(server.url("data/a.tab")).status_code for _ in range(4)] == [502] * 4
    server.clear_faults()
    assert get(server.url("data/a.tab")).status_code == 200


def test_patterns_and_injection_order(server):
    server.add("x/b.tab", b"b")
    server.add("c.csv", b"c")
    server.inject("*.tab", Fault.status(500), times=2)
    server.inject("data/a.tab", Fault.status(404))
    assert get(server.url("c.csv")).status_code == 200
    assert get(server.url("data/a.tab")).status_code == 500
    assert get(server.url("x/b.tab")).status_code == 500
    assert get(server.url("x/b.tab")).status_code == 200
    assert get(server.url("data/a.tab")).status_code == 404
    assert get(server.url("data/a.tab")).status_code == 200
    server.inject("/data/?.tab", Fault.status(418))  # a leading "/" is ignored
    assert get(server.url("data/a.tab")).status_code == 418


def test_fault_consumption_is_thread_safe(server):
    server.inject("data/a.tab", Fault.status(503), times=5)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: get(server.url("data/a.tab")).status_code, range(24)))
    assert codes.count(503) == 5
    assert codes.count(200) == 19
    assert server.hits("data/a.tab") == 24


def test_fault_validation():
    with pytest.raises(ValueError):
        Fault.status(42)
    with pytest.raises(ValueError):
        Fault.drop_after(-1)
    with pytest.raises(ValueError):
        Fault.wrong_length(0)
    with pytest.raises(TypeError):
        Fault.too_many_requests(1.5)  # type: ignore[arg-type]
    assert Fault.slow(1) == Fault.slow(1.0)
    assert hash(Fault.status(500, headers={"a": "b"}))
    with FileServer() as srv:
        with pytest.raises(ValueError):
            srv.inject("x", Fault.slow(0), times=0)
        with pytest.raises(TypeError):
            srv.inject("x", "500")  # type: ignore[arg-type]


def test_faults_write_nothing_to_stderr(server, capfd):
    server.inject("data/a.tab", Fault.drop_after(0))
    server.inject("data/a.tab", Fault.wrong_length(3))
    server.inject("data/a.tab", Fault.slow(10))
    for _ in range(2):
        with pytest.raises(requests.exceptions.RequestException):
            get(server.url("data/a.tab")).content  # noqa: B018
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(server.url("data/a.tab"), timeout=0.1)
    server.stop()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# --------------------------------------------------------------------------- #
# Request log
# --------------------------------------------------------------------------- #


def test_request_log_and_hits(server):
    get(server.url("data/a.tab") + "?x=1&x=2&empty=", headers={"X-Test": "yes"})
    get(server.url("nope"))
    requests.post(server.url("data/a.tab"), data=b"payload", timeout=TIMEOUT)
    records = server.requests
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/data/a.tab", 200),
        ("GET", "/nope", 404),
        ("POST", "/data/a.tab", 405),
    ]
    first = records[0]
    assert isinstance(first, RequestRecord)
    assert first.query == {"x": ["1", "2"], "empty": [""]}
    assert first.headers["x-test"] == "yes"
    assert first.header("X-TEST") == "yes"
    assert first.header("missing", "d") == "d"
    assert records[2].body == b"payload"
    assert server.hits("data/a.tab") == 2
    assert server.hits("/data/a.tab") == 2
    assert server.hits("nope") == 1
    records.clear()  # a snapshot: the server's log is unaffected
    assert len(server.requests) == 3
    server.clear_requests()
    assert server.requests == []


# --------------------------------------------------------------------------- #
# Authentication
# --------------------------------------------------------------------------- #


def test_basic_auth(caplog):
    caplog.set_level(logging.DEBUG, logger="awiml.testing")
    password = "pa55-w0rd-XYZ"
    with FileServer(auth=("alice", password)) as srv:
        srv.add("a.bin", b"secret data")
        srv.inject("a.bin", Fault.status(503))
        reply = get(srv.url("a.bin"))
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"].startswith('Basic realm="awiml-test"')
        assert get(srv.url("a.bin"), auth=("alice", "wrong")).status_code == 401
        assert get(srv.url("a.bin"), auth=("bob", password)).status_code == 401
        # the fault was not used up by refused requests
        assert get(srv.url("a.bin"), auth=("alice", password)).status_code == 503
        reply = get(srv.url("a.bin"), auth=("alice", password))
        assert reply.status_code == 200
        assert reply.content == b"secret data"
        records = srv.requests
        assert [r.status for r in records] == [401, 401, 401, 503, 200]
        assert password not in repr(records[-1])
        assert "FileServer" in repr(srv) and password not in repr(srv)
    encoded = base64.b64encode(f"alice:{password}".encode()).decode()
    assert caplog.records, "the server should log at DEBUG"
    assert password not in caplog.text and encoded not in caplog.text


def test_bearer_auth(caplog):
    caplog.set_level(logging.DEBUG, logger="awiml.testing")
    token = "tok-1234567890-abcdef"
    with FileServer(auth=token) as srv:
        srv.add("a.bin", b"x")
        reply = get(srv.url("a.bin"))
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        bad = get(srv.url("a.bin"), headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        ok = get(srv.url("a.bin"), headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert srv.requests[-1].header("Authorization") == f"Bearer {token}"
        srv.auth = None
        assert get(srv.url("a.bin")).status_code == 200
    assert caplog.records
    assert token not in caplog.text
    with pytest.raises(TypeError) as info:
        FileServer(auth=("only-user",))  # type: ignore[arg-type]
    assert "only-user" not in str(info.value)


# --------------------------------------------------------------------------- #
# Dynamic routes
# --------------------------------------------------------------------------- #


def test_route_with_query_and_post_body(server):
    def search(request: RequestRecord) -> Response:
        return Response.json({"q": request.query.get("q"), "n": 2})

    def upload(request: RequestRecord) -> Response:
        return Response(
            status=201,
            body=f"got {len(request.body)} bytes: {request.body.decode()}",
            content_type="text/plain; charset=utf-8",
            headers={"X-Id": "7"},
        )

    server.route("GET", "/api/search", search)
    server.route("post", "api/upload", upload)
    reply = get(server.url("api/search") + "?q=krill&q=salp")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"q": ["krill", "salp"], "n": 2}
    reply = requests.post(server.url("api/upload"), data=b"hello", timeout=TIMEOUT)
    assert (reply.status_code, reply.text, reply.headers["X-Id"]) == (
        201,
        "got 5 bytes: hello",
        "7",
    )
    # chunked request bodies are read too
    reply = requests.post(server.url("api/upload"), data=iter([b"ab", b"cd"]), timeout=TIMEOUT)
    assert reply.text == "got 4 bytes: abcd"
    assert server.requests[-1].body == b"abcd"
    # wrong method on a routed path, HEAD falls back to GET
    assert get(server.url("api/upload")).status_code == 405
    head = requests.head(server.url("api/search"), timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    # faults apply to routes, and body faults act on the routed body
    server.inject("api/search", Fault.status(503))
    assert get(server.url("api/search")).status_code == 503
    server.inject("api/*", Fault.wrong_length(-3))
    assert get(server.url("api/search")).content == json.dumps({"q": None, "n": 2})[:-3].encode()


def test_route_handler_error_gives_500(server, caplog):
    def broken(request: RequestRecord) -> Response:
        raise RuntimeError("handler bug")

    server.route("GET", "/api/broken", broken)
    with caplog.at_level(logging.DEBUG, logger="awiml.testing"):
        assert get(server.url("api/broken")).status_code == 500
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)
    assert get(server.url("data/a.tab")).status_code == 200


# --------------------------------------------------------------------------- #
# Life cycle
# --------------------------------------------------------------------------- #


def test_start_stop_idempotent_and_port_freed():
    srv = FileServer()
    srv.stop()  # never started: nothing happens
    with pytest.raises(RuntimeError):
        srv.base_url  # noqa: B018
    assert srv.start() is srv
    assert srv.start() is srv
    assert srv.running
    srv.add("a", b"a")
    base = srv.base_url
    port = port_of(srv)
    assert get(srv.url("a")).content == b"a"
    srv.stop()
    srv.stop()
    assert not srv.running
    with pytest.raises(requests.exceptions.ConnectionError):
        get(base + "/a", timeout=1)
    with FileServer(port=port) as again:  # the port can be bound again
        again.add("b", b"b")
        assert again.base_url == base
        assert get(again.url("b")).content == b"b"
    srv.start()  # a stopped server can start again
    try:
        assert get(srv.url("a")).content == b"a"
    finally:
        srv.stop()


def test_stop_ends_idle_keep_alive_connections_quickly():
    srv = FileServer().start()
    srv.add("a", b"a")
    conn = connect(srv)
    try:
        conn.request("GET", "/a")
        assert conn.getresponse().read() == b"a"
        start = time.monotonic()
        srv.stop()
        assert time.monotonic() - start < 1.5
        assert conn.sock is not None and conn.sock.recv(1) == b""  # server closed it
    finally:
        conn.close()


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        srv = FileServer(host="::1").start()
    except OSError:
        pytest.skip("::1 not available")
    try:
        srv.add("a", b"six")
        assert srv.base_url.startswith("http://[::1]:")
        assert get(srv.url("a")).content == b"six"
    finally:
        srv.stop()


# --------------------------------------------------------------------------- #
# pytest plugin
# --------------------------------------------------------------------------- #


def test_plugin_fixture(awiml_file_server, tmp_path):
    assert awiml_file_server.running
    assert awiml_file_server.root == tmp_path / "served"
    (tmp_path / "served" / "x.csv").write_text("a,b\n")
    reply = get(awiml_file_server.url("x.csv"))
    assert reply.text == "a,b\n"


# --------------------------------------------------------------------------- #
# Large files
# --------------------------------------------------------------------------- #


def test_large_path_file_downloads_intact(server, tmp_path: Path):
    block = os.urandom(1 << 20)
    file = tmp_path / "large.bin"
    digest = hashlib.sha256()
    with open(file, "wb") as out:
        for i in range(50):
            piece = bytes([i]) + block[1:]
            out.write(piece)
            digest.update(piece)
    server.add("large.bin", file)
    received = hashlib.sha256()
    size = 0
    with get(server.url("large.bin"), stream=True) as reply:
        assert reply.headers["Content-Length"] == str(50 << 20)
        for chunk in reply.iter_content(1 << 20):
            received.update(chunk)
            size += len(chunk)
    assert size == 50 << 20
    assert received.hexdigest() == digest.hexdigest()
    # resume the second half with a range request
    tail = get(server.url("large.bin"), headers={"Range": f"bytes={25 << 20}-"})
    assert tail.status_code == 206
    assert len(tail.content) == 25 << 20


def test_status_without_body(server):
    server.inject("data/a.tab", Fault.status(204, b"ignored"))
    server.inject("data/a.tab", Fault.status(304))
    with closing(connect(server)) as conn:
        for code in (204, 304, 200):
            conn.request("GET", "/data/a.tab")
            reply = conn.getresponse()
            assert reply.status == code
            assert reply.read() == (DATA if code == 200 else b"")


def test_leading_double_slash_is_a_path_not_a_host(server):
    status, _, body = raw_request(server, "//data/a.tab?x=1")
    assert (status, body) == (200, DATA)  # leading slashes merge, as in common servers
    assert server.requests[-1].path == "/data/a.tab"
    assert server.requests[-1].query == {"x": ["1"]}
