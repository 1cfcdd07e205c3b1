"""HSMSource against the loopback HSM (awiml_hsm_server): listing, states, staging, reading."""

from __future__ import annotations

import os
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path

import fsspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import awiml
from awiml.archives.hsm import HSMSource
from awiml.archives.transfer import RetryPolicy
from awiml.errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    InvalidDataError,
    NotFoundError,
    TransferError,
)
from awiml.testing.hsm import HSMFault

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="module")
def hsm_protocol():
    # pyproject.toml registers `hsm` (fsspec.specs); an editable install made
    # before that line was added does not know it yet.
    if "hsm" not in fsspec.available_protocols():
        fsspec.register_implementation("hsm", HSMSource)


def source(server, **options):
    settings = {"password": "secret", "port": server.port, "known_hosts": None, "poll": 0.02,
                "progress": False, "wait_timeout": 20.0, "timeout": 5.0,
                "skip_instance_cache": True, **options}
    return HSMSource(server.host, "alice", **settings)


def commands(server, name):
    return [shlex.split(c.command)[1:] for c in server.commands
            if c.command.split()[:1] == [name]]


def test_hsm_is_a_lazy_public_name_and_an_fsspec_protocol():
    assert awiml.HSMSource is HSMSource
    assert 'hsm = "awiml.archives.hsm:HSMSource"' in (ROOT / "pyproject.toml").read_text()
    assert fsspec.get_filesystem_class("hsm") is HSMSource


def test_ls_lists_a_folder_with_the_tape_state_of_its_files_in_one_query(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/projects/x/a.nc", b"a" * 100, volumes=["VSN001"])
    server.add_file("/hs/projects/x/b.nc", b"b" * 50, volumes=["VSN002"], online=True)
    (server.root / "hs/projects/x/new.txt").write_text("not archived yet")
    (server.root / "hs/projects/x/sub").mkdir()
    hsm = source(server)

    listing = {Path(e["name"]).name: e for e in hsm.ls("hsm:///hs/projects/x")}

    assert sorted(listing) == ["a.nc", "b.nc", "new.txt", "sub"]
    assert listing["sub"]["type"] == "directory" and "state" not in listing["sub"]
    a, b, new = listing["a.nc"], listing["b.nc"], listing["new.txt"]
    assert (a["size"], a["state"], a["vsns"], a["archdone"]) == (100, "offline", ["VSN001"], True)
    assert (b["state"], b["archdone"]) == ("online", True)
    assert (new["state"], new["archdone"], new["vsns"]) == ("online", False, [])
    assert len(commands(server, "sls")) == 1
    assert hsm.ls("/hs/projects/x", detail=False)[0] == "/hs/projects/x/a.nc"


def test_info_gives_size_mtime_state_and_every_volume(awiml_hsm_server):
    server = awiml_hsm_server
    path = server.add_file("/hs/projects/x/big.nc", os.urandom(3000),
                           volumes=[["022000", "022001"], "033000"])
    stamp = datetime(2024, 5, 1, 12, tzinfo=timezone.utc).timestamp()
    os.utime(server.root / path.lstrip("/"), (stamp, stamp))

    info = source(server).info(path)

    assert (info["type"], info["size"], info["state"]) == ("file", 3000, "offline")
    assert info["vsns"] == ["022000", "022001", "033000"]
    assert info["mtime"] == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert source(server).info("/hs/projects/x")["type"] == "directory"


def test_states_of_many_files_take_one_command(awiml_hsm_server):
    server = awiml_hsm_server
    paths = [server.add_file(f"/hs/projects/x/f{n:02d}.nc", b"x" * n, volumes=[f"V{n % 3}"],
                             online=n % 2 == 0) for n in range(1, 31)]

    states = source(server).states(paths)

    assert list(states) == paths
    assert [r.state for r in states.values()] == [
        "online" if n % 2 == 0 else "offline" for n in range(1, 31)]
    assert [r.size for r in states.values()] == list(range(1, 31))
    assert len(commands(server, "sls")) == 1


def test_offline_files_on_several_volumes_are_staged_in_one_ordered_request(awiml_hsm_server):
    server = awiml_hsm_server
    content = {}
    for name, vsn in [("c", "V3"), ("a1", "V1"), ("b", "V2"), ("a2", "V1"), ("d", "V3")]:
        content[f"/hs/projects/x/{name}.nc"] = os.urandom(2000)
        server.add_file(f"/hs/projects/x/{name}.nc", content[f"/hs/projects/x/{name}.nc"],
                        volumes=[vsn])
    server.add_file("/hs/projects/x/on.nc", b"online", volumes=["V1"], online=True)
    hsm = source(server)

    sent = hsm.stage(["/hs/projects/x"])

    by_tape = ["/hs/projects/x/a1.nc", "/hs/projects/x/a2.nc", "/hs/projects/x/b.nc",
               "/hs/projects/x/c.nc", "/hs/projects/x/d.nc"]
    assert sent == by_tape
    assert commands(server, "stage") == [by_tape]
    records = hsm.wait(["/hs/projects/x"], timeout=20)
    assert {r.state for r in records} == {"online"}
    assert sorted(m.vsn for m in server.mounts) == ["V1", "V2", "V3"]  # each volume once
    for path, data in content.items():
        assert hsm.cat_file(path) == data
    assert hsm.stage(by_tape) == []  # all online now: nothing sent
    assert len(commands(server, "stage")) == 1


def test_wait_shows_files_and_bytes_online(awiml_hsm_server, capsys):
    server = awiml_hsm_server
    paths = [server.add_file(f"/hs/p/{n}.nc", b"z" * 1024, volumes=[f"V{n}"]) for n in range(3)]
    hsm = source(server, progress=True)
    hsm.stage(paths)

    hsm.wait(paths)

    err = capsys.readouterr().err
    assert "staging 3 files" in err
    assert "3/3 files online" in err and "3.00k/3.00k" in err


def test_reading_an_offline_file_is_refused_and_recalls_nothing(awiml_hsm_server):
    server = awiml_hsm_server
    path = server.add_file("/hs/projects/x/ctd.nc", b"data", volumes=["022000"])

    with pytest.raises(TransferError, match=r"offline.*022000.*Stage it first") as caught:
        source(server).cat_file(path)

    assert path in str(caught.value) and "allow_recall=True" in str(caught.value)
    assert server.files_online() == []
    assert commands(server, "stage") == []


def test_allow_recall_stages_the_one_file_then_reads_it(awiml_hsm_server):
    server = awiml_hsm_server
    path = server.add_file("/hs/projects/x/ctd.nc", b"data" * 100, volumes=["022000"])

    data = source(server, allow_recall=True).cat_file(path)

    assert data == b"data" * 100
    assert commands(server, "stage") == [[path]]


def test_a_mount_reads_data_locally_and_asks_states_over_ssh(awiml_hsm_server):
    server = awiml_hsm_server
    online = server.add_file("/hs/projects/x/on.nc", b"online data", volumes=["V1"],
                             online=True)
    offline = server.add_file("/hs/projects/x/off.nc", b"offline data", volumes=["V1"])
    server.inject("*", HSMFault.drop_after(0), times=None)  # an SFTP read would fail
    hsm = source(server, mount=server.root / "hs")

    assert hsm.cat_file(online) == b"online data"
    assert [e["state"] for e in hsm.ls("/hs/projects/x")] == ["offline", "online"]
    with pytest.raises(TransferError, match="Stage it first"):
        hsm.cat_file(offline)
    hsm.stage([offline])
    hsm.wait([offline])
    assert hsm.cat_file(offline) == b"offline data"
    assert len(commands(server, "sls")) >= 4


def test_a_mount_that_is_not_a_folder_is_refused(awiml_hsm_server, tmp_path):
    with pytest.raises(InvalidDataError, match="not a readable folder"):
        source(awiml_hsm_server, mount=tmp_path / "nothing")


def test_get_copies_into_a_folder_and_resumes_after_a_dropped_connection(awiml_hsm_server,
                                                                        tmp_path):
    server = awiml_hsm_server
    data = os.urandom(600_000)
    path = server.add_file("/hs/projects/x/run/big.nc", data, volumes=["V1"])
    server.add_file("/hs/projects/x/run/small.nc", b"small", volumes=["V2"])
    server.inject(path, HSMFault.drop_after(200_000))
    hsm = source(server)

    written = hsm.get("/hs/projects/x/run", tmp_path / "out",
                      policy=RetryPolicy(backoff=0.01))

    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "run/big.nc", "run/small.nc"]
    assert written[0].read_bytes() == data and written[1].read_bytes() == b"small"
    assert len([login for login in server.logins if login.accepted]) == 2  # reconnected
    assert not (tmp_path / "out" / ".awiml-partial").exists()
    assert commands(server, "stage") == [["/hs/projects/x/run/big.nc",
                                          "/hs/projects/x/run/small.nc"]]


def test_get_never_replaces_a_different_local_file(awiml_hsm_server, tmp_path):
    server = awiml_hsm_server
    path = server.add_file("/hs/p/a.nc", b"archive", volumes=["V1"], online=True)
    (tmp_path / "a.nc").write_bytes(b"mine")

    with pytest.raises(TransferError, match="exists with other content"):
        source(server).get(path, tmp_path)

    assert (tmp_path / "a.nc").read_bytes() == b"mine"
    assert source(server).get(path, tmp_path / "other")[0].read_bytes() == b"archive"


def test_a_missing_path_is_not_found(awiml_hsm_server):
    server = awiml_hsm_server
    there = server.add_file("/hs/p/a.nc", b"a", volumes=["V1"])
    hsm = source(server)

    with pytest.raises(NotFoundError, match=r"/hs/p/nope\.nc"):
        hsm.info("/hs/p/nope.nc")
    with pytest.raises(NotFoundError, match=r"/hs/p/gone.nc not found on the HSM"):
        hsm.states([there, "/hs/p/gone.nc"])
    with pytest.raises(NotFoundError, match="/hs/q"):
        hsm.stage(["/hs/q"])


def test_a_refused_stage_request_says_nothing_was_staged(awiml_hsm_server):
    server = awiml_hsm_server
    path = server.add_file("/hs/p/a.nc", b"a", volumes=["V1"])
    server.inject(path, HSMFault.refuse())

    with pytest.raises(ArchiveUnavailableError, match=r"refused `stage`.*queue is full.*"
                                                      r"nothing was done") as caught:
        source(server).stage([path])

    assert path in str(caught.value)
    assert server.files_online() == []


def test_wrong_credentials_are_an_authentication_error_without_the_password(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/p/a.nc", b"a", volumes=["V1"])

    with pytest.raises(AuthenticationError, match="refused the login") as caught:
        source(server, password="wrong-password-42").ls("/hs/p")
    assert "wrong-password-42" not in str(caught.value)
    assert f"alice@127.0.0.1:{server.port}" in str(caught.value)

    server.inject("alice", HSMFault.deny_login())
    with pytest.raises(AuthenticationError):
        source(server).ls("/hs/p")
    assert source(server).ls("/hs/p", detail=False) == ["/hs/p/a.nc"]


def test_a_server_that_does_not_answer_in_time_is_unavailable(awiml_hsm_server):
    server = awiml_hsm_server
    path = server.add_file("/hs/p/a.nc", b"a", volumes=["V1"])
    server.inject(path, HSMFault.stall(3.0, command="sls"))
    hsm = source(server, timeout=0.5)

    with pytest.raises(ArchiveUnavailableError, match=r"no answer within 0.5 s.*timeout="):
        hsm.info(path)
    assert hsm.info(path)["state"] == "offline"  # a new connection, the fault used up


def test_a_dead_server_is_unavailable(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/p/a.nc", b"a", volumes=["V1"])
    hsm = source(server)
    assert hsm.info("/hs/p/a.nc")["size"] == 1
    server.stop()

    with pytest.raises(ArchiveUnavailableError, match=rf"127.0.0.1:{server.port}.*network"):
        hsm.info("/hs/p/a.nc")


def test_wait_timeout_names_the_files_still_offline(awiml_hsm_server):
    server = awiml_hsm_server
    server.mount_time = 30.0
    path = server.add_file("/hs/p/slow.nc", b"s", volumes=["SLOW01"])
    hsm = source(server)
    hsm.stage([path])

    with pytest.raises(TransferError, match=r"still offline after 0.3 s.*slow.nc.*SLOW01"):
        hsm.wait([path], timeout=0.3)


def test_urls_carry_host_user_and_port(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/p/a.nc", b"by url", volumes=["V1"], online=True)
    url = f"hsm://alice@{server.host}:{server.port}/hs/p/a.nc"

    with fsspec.open(url, "rb", password="secret", known_hosts=None,
                     skip_instance_cache=True) as handle:
        assert handle.read() == b"by url"
    assert HSMSource._strip_protocol(url) == "/hs/p/a.nc"
    assert HSMSource._strip_protocol("hsm:///hs/p/../p/a.nc") == "/hs/p/a.nc"


def test_no_host_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("AWIML_HSM_HOST", raising=False)
    with pytest.raises(InvalidDataError, match="AWIML_HSM_HOST"):
        HSMSource(skip_instance_cache=True)


def test_the_source_never_shows_its_password(awiml_hsm_server):
    hsm = source(awiml_hsm_server, password="hidden-secret-7")
    assert "hidden-secret-7" not in repr(hsm) + repr(hsm._connection.login)
    assert re.fullmatch(r"HSMSource\('alice@127\.0\.0\.1:\d+'\)", repr(hsm))


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\0"),
               min_size=1, max_size=60))
def test_archive_paths_and_error_lines_round_trip(text):
    from awiml.archives.hsm.source import _hsm_path, _missing

    path = _hsm_path(text)
    assert path.startswith("/") and HSMSource._strip_protocol("hsm://" + path) == path
    assert HSMSource._strip_protocol(path) == path
    if not path.rstrip().endswith(": No such file or directory") and path.strip() == path:
        assert _missing(f"sls: {path}: No such file or directory\nother line\n") == [path]


@given(st.lists(st.text(min_size=1, max_size=3000), max_size=80))
def test_long_path_lists_are_split_into_command_lines_below_the_limit(paths):
    from awiml.archives.hsm._ssh import _MAX_COMMAND, _chunks

    chunks = _chunks(paths)
    assert [p for chunk in chunks for p in chunk] == paths
    for chunk in chunks:
        assert len(" ".join(shlex.quote(p) for p in chunk)) <= _MAX_COMMAND or len(chunk) == 1


def test_an_open_file_seeks_and_reads_across_sftp_blocks(awiml_hsm_server):
    server = awiml_hsm_server
    data = os.urandom(300_000)
    path = server.add_file("/hs/p/a.nc", data, volumes=["V1"], online=True)

    with source(server).open(path, "rb") as handle:
        assert handle.read(10) == data[:10] and handle.tell() == 10
        handle.seek(-70_000, os.SEEK_END)
        assert handle.read() == data[-70_000:]
        handle.seek(100_000)
        handle.seek(5, os.SEEK_CUR)
        assert handle.read(200_000) == data[100_005:]
        with pytest.raises(OSError, match="cannot seek to -1"):
            handle.seek(-1)
    with pytest.raises(PermissionError, match="reads only"):
        source(server).open(path, "wb")


def test_the_host_key_is_checked_and_can_be_pinned(awiml_hsm_server):
    import asyncssh

    server = awiml_hsm_server
    server.add_file("/hs/p/a.nc", b"a", volumes=["V1"])
    pinned = asyncssh.import_known_hosts(f"[{server.host}]:{server.port} {server.host_key}\n")
    assert source(server, known_hosts=pinned).info("/hs/p/a.nc")["state"] == "offline"

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    wrong = asyncssh.import_known_hosts(f"[{server.host}]:{server.port} {other}")
    with pytest.raises(AuthenticationError, match=r"host key.*not one known_hosts trusts"):
        source(server, known_hosts=wrong).info("/hs/p/a.nc")
    assert server.logins == [("alice", "password", True)]  # no password sent to the impostor
