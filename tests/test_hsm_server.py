"""HSMServer: a real SSH server on the loopback interface, tried with asyncssh and sshfs.

No awiml client code is involved: these tests pin what the emulator answers, so
that the HSMSource written against it later meets the behaviour of AWI's HSM.
Times are taken from the server's own clock (``server.mounts``), never from
the wall clock.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from itertools import pairwise

import asyncssh
import pytest

from awiml.archives.hsm import parse_sls
from awiml.testing import HSMFault, HSMServer

FILES = {f"/hs/projects/ps/{name}.nc": bytes([n]) * (20_000 + n) for n, name in
         enumerate(["a1", "b1", "c1", "a2", "b2", "c2"])}


def connect(server: HSMServer, user: str = "alice", password: str | None = "secret", **kw):
    kw.setdefault("known_hosts", None)        # the host key is new for each server
    kw.setdefault("client_keys", None)        # no keys of the machine's user
    return asyncssh.connect(server.host, server.port, username=user, password=password, **kw)


async def run(server: HSMServer, command: str, **kw) -> asyncssh.SSHCompletedProcess:
    async with connect(server, **kw) as conn:
        return await conn.run(command)


async def states(server: HSMServer, paths) -> dict[str, str]:
    done = await run(server, "sls -D " + " ".join(paths))
    return {record.path: record.state for record in parse_sls(done.stdout)}


async def wait_online(server: HSMServer, paths, poll: float = 0.02) -> int:
    """Poll ``sls -D`` as a client would, until every path is online; return the polls."""
    polls = 0
    while True:
        polls += 1
        if set((await states(server, paths)).values()) == {"online"}:
            return polls
        await asyncio.sleep(poll)


def overlap(mounts) -> int:
    """The most mounts in progress at one moment of the server's clock."""
    events = sorted([(m.mounted, 1) for m in mounts] + [(m.unloaded, -1) for m in mounts],
                    key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


# -- logins --------------------------------------------------------------------------------- #


def test_login_with_password_and_refusal_of_wrong_credentials(awiml_hsm_server):
    server = awiml_hsm_server
    assert asyncio.run(run(server, "sls -D /hs")).exit_status == 0
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(run(server, "sls -D /hs", password="wrong"))
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(run(server, "sls -D /hs", user="mallory"))
    assert [(r.user, r.method, r.accepted) for r in server.logins] == [
        ("alice", "password", True), ("alice", "password", False),
        ("mallory", "password", False)]
    assert "secret" not in repr(server.logins) + repr(server)


def test_login_with_a_public_key(awiml_hsm_server):
    server = awiml_hsm_server
    key, other = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    server.add_user("bob", keys=[key.export_public_key().decode()])
    done = asyncio.run(run(server, "sls -D /hs", user="bob", password=None, client_keys=[key]))
    assert done.exit_status == 0
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(run(server, "sls -D /hs", user="bob", password=None, client_keys=[other]))
    assert server.logins[0].method == "publickey" and server.logins[0].accepted


def test_a_login_fault_refuses_the_right_password_once(awiml_hsm_server):
    server = awiml_hsm_server
    server.inject("alice", HSMFault.deny_login())
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(run(server, "sls -D /hs"))
    assert asyncio.run(run(server, "sls -D /hs")).exit_status == 0


def test_the_host_key_is_new_for_each_server_and_can_be_pinned(tmp_path):
    with HSMServer(tmp_path / "a") as one, HSMServer(tmp_path / "b") as two:
        assert one.host_key != two.host_key and one.host_key.startswith("ssh-ed25519 ")
        known = asyncssh.import_known_hosts(f"[127.0.0.1]:{one.port} {one.host_key}\n")
        assert asyncio.run(run(one, "sls -D /hs", known_hosts=known)).exit_status == 0
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            asyncio.run(run(two, "sls -D /hs", known_hosts=known))


# -- SFTP ------------------------------------------------------------------------------------- #


def test_sftp_lists_and_reads_an_online_file_through_sshfs(awiml_hsm_server):
    from sshfs import SSHFileSystem

    server = awiml_hsm_server
    server.add_file("/hs/projects/ps/online.nc", b"staged data", online=True)
    server.add_file("/hs/projects/ps/tape.nc", b"x" * 5000)
    fs = SSHFileSystem(server.host, port=server.port, username="alice", password="secret",
                       known_hosts=None, client_keys=None, skip_instance_cache=True)
    try:
        assert sorted(fs.ls("/hs/projects/ps", detail=False)) == [
            "/hs/projects/ps/online.nc", "/hs/projects/ps/tape.nc"]
        assert fs.info("/hs/projects/ps/tape.nc")["size"] == 5000   # stat needs no recall
        assert fs.cat("/hs/projects/ps/online.nc") == b"staged data"
    finally:
        fs.client.close()
    assert server.mounts == []


def test_writing_over_sftp_gives_an_online_file_without_archive_copy(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/projects/ps/old.nc", b"old")

    async def upload():
        async with connect(server) as conn, conn.start_sftp_client() as sftp:
            await sftp.makedirs("/hs/projects/ps/out", exist_ok=True)
            async with sftp.open("/hs/projects/ps/out/part.tmp", "wb") as f:
                await f.write(b"model weights")
            await sftp.rename("/hs/projects/ps/out/part.tmp", "/hs/projects/ps/out/model.tar")
            async with sftp.open("/hs/projects/ps/old.nc", "wb") as f:
                await f.write(b"new")
        return await run(server, "sls -D /hs/projects/ps/out/model.tar /hs/projects/ps/old.nc")

    done = asyncio.run(upload())
    model, old = parse_sls(done.stdout)
    assert (model.size, model.state, model.archdone, model.copies) == (13, "online", False, ())
    assert (old.size, old.state, old.archdone) == (3, "online", False)
    assert (server.root / "hs/projects/ps/out/model.tar").read_bytes() == b"model weights"


def test_reading_an_offline_file_waits_for_an_implicit_recall(tmp_path):
    with HSMServer(tmp_path, mount_time=0.05, read_rate=1e6) as server:
        data = bytes(range(256)) * 400
        server.add_file("/hs/x/tape.nc", data, volumes=["VSN007"])

        async def read():
            async with connect(server) as conn, conn.start_sftp_client() as sftp:
                async with sftp.open("/hs/x/tape.nc", "rb") as f:
                    return await f.read()

        assert asyncio.run(read()) == data
        [mount] = server.mounts
        assert (mount.vsn, mount.files) == ("VSN007", ("/hs/x/tape.nc",))
        assert mount.ready - mount.mounted >= 0.049    # asyncio may wake a hair early
        assert server.files_online("/hs/x/tape.nc") == ["/hs/x/tape.nc"]


def test_without_implicit_recall_an_offline_file_cannot_be_opened(tmp_path):
    with HSMServer(tmp_path, implicit_recall=False, mount_time=0.01) as server:
        server.add_file("/hs/x/tape.nc", b"abc", volumes=["VSN007"])

        async def read():
            async with connect(server) as conn, conn.start_sftp_client() as sftp:
                async with sftp.open("/hs/x/tape.nc", "rb") as f:
                    return await f.read()

        with pytest.raises(asyncssh.SFTPFailure, match=r"offline.*stage /hs/x/tape.nc"):
            asyncio.run(read())
        assert asyncio.run(run(server, "stage -w /hs/x/tape.nc")).exit_status == 0
        assert asyncio.run(read()) == b"abc"
        assert server.mounts[0].files == ("/hs/x/tape.nc",)


# -- sls -D and stage ------------------------------------------------------------------------- #


def test_sls_shows_offline_and_online_files_and_names_missing_paths(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/p/tape.nc", b"t" * 300, volumes=["022000", "VSN100"])
    server.add_file("/hs/p/disk.nc", b"d" * 100, online=True)
    server.add_file("/hs/p/big.tar", b"b" * 1000, volumes=[("CFX808", "CFX809")],
                    sections=[600, 400])
    done = asyncio.run(run(server, "sls -D /hs/p/tape.nc /hs/p/missing.nc /hs/p/disk.nc "
                                   "/hs/p/big.tar"))
    assert done.exit_status == 1
    assert done.stderr == "sls: /hs/p/missing.nc: No such file or directory\n"
    tape, disk, big = parse_sls(done.stdout, source="sls on the emulator")
    assert (tape.path, tape.size, tape.state, tape.archdone) == ("/hs/p/tape.nc", 300,
                                                                 "offline", True)
    assert tape.vsns == ("022000", "VSN100") and [c.number for c in tape.copies] == [1, 2]
    assert (disk.state, disk.archdone) == ("online", True)
    assert [(s.vsn, s.length) for s in big.copies[0].sections] == [("CFX808", 600),
                                                                   ("CFX809", 400)]
    assert server.sls(["/hs/p/tape.nc"]).startswith("/hs/p/tape.nc:\n  mode: -rw-")
    folder = parse_sls(asyncio.run(run(server, "sls -D /hs/p")).stdout)
    assert [r.path for r in folder] == ["/hs/p/big.tar", "/hs/p/disk.nc", "/hs/p/tape.nc"]


def test_one_stage_request_mounts_each_volume_once_and_reads_in_position_order(tmp_path):
    with HSMServer(tmp_path, drives=1, mount_time=0.03, read_rate=5e6) as server:
        for name, data in FILES.items():  # a1, b1, c1, a2, b2, c2: interleaved volumes
            server.add_file(name, data, volumes=["VOL" + name.rsplit("/", 1)[1][0].upper()])
        paths = list(FILES)
        assert set(asyncio.run(states(server, paths)).values()) == {"offline"}

        done = asyncio.run(run(server, "stage " + " ".join(reversed(paths))))
        assert (done.exit_status, done.stdout, done.stderr) == (0, "", "")
        assert asyncio.run(wait_online(server, paths)) >= 1
        mounts = server.mounts
        assert [m.vsn for m in mounts] == ["VOLC", "VOLB", "VOLA"]   # first requested first
        assert [m.files for m in mounts] == [
            ("/hs/projects/ps/c1.nc", "/hs/projects/ps/c2.nc"),
            ("/hs/projects/ps/b1.nc", "/hs/projects/ps/b2.nc"),
            ("/hs/projects/ps/a1.nc", "/hs/projects/ps/a2.nc")]
        assert all(m.ready - m.mounted >= 0.029 for m in mounts)
        assert server.files_online() == sorted(paths)
        assert server.commands[1].command.startswith("stage /hs/projects/ps/c2.nc")

        # staged one by one instead: one mount per file
        server.release(paths)
        for path in paths:
            assert asyncio.run(run(server, f"stage -w {path}")).exit_status == 0
        assert len(server.mounts) == 3 + len(paths)


def test_drives_limit_the_volumes_mounted_at_once(tmp_path):
    with HSMServer(tmp_path, drives=2, mount_time=0.05, read_rate=50e6) as server:
        paths = [server.add_file(f"/hs/v/{n}.nc", b"z" * 1000, volumes=[f"V{n}"])
                 for n in range(5)]
        assert asyncio.run(run(server, "stage -w " + " ".join(paths))).exit_status == 0
        mounts = server.mounts
        assert sorted(m.vsn for m in mounts) == [f"V{n}" for n in range(5)]
        assert overlap(mounts) == 2
        assert {m.drive for m in mounts} == {0, 1}
        for drive in (0, 1):   # one drive holds one volume at a time
            own = sorted((m for m in mounts if m.drive == drive), key=lambda m: m.mounted)
            assert all(a.unloaded <= b.mounted for a, b in pairwise(own))


def test_a_file_spanning_volumes_is_read_section_by_section(tmp_path):
    with HSMServer(tmp_path, drives=2, mount_time=0.02) as server:
        server.add_file("/hs/s/big.tar", b"q" * 3000, volumes=[("T1", "T2", "T3")])
        assert asyncio.run(run(server, "stage -w /hs/s/big.tar")).exit_status == 0
        mounts = sorted(server.mounts, key=lambda m: m.mounted)
        assert [m.vsn for m in mounts] == ["T1", "T2", "T3"]
        assert all(a.unloaded <= b.mounted for a, b in pairwise(mounts))


def test_stage_of_folders_missing_paths_and_online_files(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/d/sub/one.nc", b"1")
    server.add_file("/hs/d/two.nc", b"2", online=True)
    done = asyncio.run(run(server, "stage /hs/d"))
    assert done.exit_status == 1 and "Is a directory" in done.stderr
    done = asyncio.run(run(server, "stage -r -w /hs/d /hs/nothing.nc"))
    assert done.exit_status == 1 and "/hs/nothing.nc: No such file" in done.stderr
    assert [m.files for m in server.mounts] == [("/hs/d/sub/one.nc",)]
    assert server.files_online() == ["/hs/d/sub/one.nc", "/hs/d/two.nc"]


# -- faults ------------------------------------------------------------------------------------- #


def test_a_refused_stage_request_stages_nothing(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/f/a.nc", b"a")
    server.inject("/hs/f/*", HSMFault.refuse())
    done = asyncio.run(run(server, "stage /hs/f/a.nc"))
    assert done.exit_status == 1 and "request refused" in done.stderr
    assert server.files_online("/hs/f/a.nc") == [] and server.mounts == []
    assert asyncio.run(run(server, "stage -w /hs/f/a.nc")).exit_status == 0
    assert server.files_online("/hs/f/a.nc") == ["/hs/f/a.nc"]


def test_a_dropped_connection_mid_read_and_a_fresh_one(awiml_hsm_server):
    server = awiml_hsm_server
    data = bytes(range(256)) * 1024
    server.add_file("/hs/f/big.nc", data, online=True)
    server.inject("hs/f/big.nc", HSMFault.drop_after(100_000))

    async def read(offset=0):
        async with connect(server) as conn, conn.start_sftp_client() as sftp:
            async with sftp.open("/hs/f/big.nc", "rb", block_size=16384,
                                 max_requests=1) as f:
                await f.seek(offset)
                return await f.read()

    with pytest.raises(asyncssh.ConnectionLost):
        asyncio.run(read())
    assert asyncio.run(read(100_000)) == data[100_000:]      # the rest, on a new connection


def test_a_stalled_read_and_a_stalled_command_time_out_on_the_client(awiml_hsm_server):
    server = awiml_hsm_server
    server.add_file("/hs/f/a.nc", b"a" * 50_000, online=True)
    server.inject("/hs/f/a.nc", HSMFault.stall(1.0, after_bytes=10_000))
    server.inject("/hs/f/*", HSMFault.stall(1.0, command="sls"))

    async def read():
        async with connect(server) as conn, conn.start_sftp_client() as sftp:
            async with sftp.open("/hs/f/a.nc", "rb", block_size=8192,
                                 max_requests=1) as f:
                return await asyncio.wait_for(f.read(), 0.3)

    async def sls():
        async with connect(server) as conn:
            return await asyncio.wait_for(conn.run("sls -D /hs/f/a.nc"), 0.3)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(read())
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(sls())
    assert asyncio.run(read()) == b"a" * 50_000           # both faults used up
    assert parse_sls(asyncio.run(sls()).stdout)[0].state == "online"


def test_a_full_quota_fails_the_write(awiml_hsm_server):
    server = awiml_hsm_server
    server.inject("/hs/projects/*", HSMFault.quota())

    async def upload():
        async with connect(server) as conn, conn.start_sftp_client() as sftp:
            await sftp.makedirs("/hs/projects/x", exist_ok=True)
            async with sftp.open("/hs/projects/x/a.tar", "wb") as f:
                await f.write(b"data")

    with pytest.raises(asyncssh.SFTPError, match="Disk quota exceeded"):
        asyncio.run(upload())
    asyncio.run(upload())                                 # the fault is used up
    assert (server.root / "hs/projects/x/a.tar").read_bytes() == b"data"


# -- the restricted shell ----------------------------------------------------------------------- #


@pytest.mark.parametrize("command, status, message", [
    ("ls /hs", 127, "ls: command not allowed"),
    ("rm -rf /hs", 127, "rm: command not allowed"),
    ("sls -l /hs", 2, "sls -D <paths>"),
    ("sls -D", 2, "name the paths"),
    ("stage -x /hs/a", 2, "unknown option -x"),
    ("stage 'unbalanced", 2, "cannot read the command line"),
])
def test_other_commands_are_refused(awiml_hsm_server, command, status, message):
    done = asyncio.run(run(awiml_hsm_server, command))
    assert done.exit_status == status and message in done.stderr
    assert awiml_hsm_server.commands[-1].exit_status == status


def test_there_is_no_login_shell(awiml_hsm_server):
    async def shell():
        async with connect(awiml_hsm_server) as conn:
            process = await conn.create_process()
            return await process.wait()

    done = asyncio.run(shell())
    assert done.exit_status == 1 and "no login shell" in done.stderr


# -- life cycle -------------------------------------------------------------------------------- #


def test_stop_ends_threads_and_connections_and_the_port_stays_named(tmp_path):
    before = set(threading.enumerate())
    server = HSMServer(mount_time=0.01).start()
    root = server.root
    server.add_file("/hs/a.nc", b"a")
    assert asyncio.run(run(server, "stage /hs/a.nc")).exit_status == 0
    server.stop()
    server.stop()                                          # twice is harmless
    assert set(threading.enumerate()) <= before
    assert not root.exists()                               # the temporary root is removed
    with pytest.raises(ConnectionRefusedError), socket.create_connection(
            (server.host, server.port), timeout=2):
        pass


def test_bad_arguments_are_refused_when_given(tmp_path):
    server = HSMServer(tmp_path)
    with pytest.raises(ValueError, match="add up to the size"):
        server.add_file("/hs/a.nc", b"abc", volumes=[("T1", "T2")], sections=[1, 1])
    with pytest.raises(ValueError, match="at most 4"):
        server.add_file("/hs/a.nc", b"abc", volumes=["A", "B", "C", "D", "E"])
    with pytest.raises(ValueError, match="cannot be released"):
        server.add_file("/hs/b.nc", b"abc", volumes=())
        server.release("/hs/b.nc")
    with pytest.raises(TypeError, match="HSMFault"):
        server.inject("*", "drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drives"):
        HSMServer(tmp_path, drives=0)
