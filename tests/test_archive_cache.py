"""The archive cache meets local file-system problems: awiml errors that name the folder.

A cache folder the user cannot read (copied from a colleague, made by another
account, restricted by hand) must give an awiml error naming the folder and
what to do, not a bare ``PermissionError``, and must lose nothing in it.

Root reads every folder, so when the tests run as root the reading part runs
in a child process without the capabilities that let root ignore permissions
(``setpriv --bounding-set``); where that is not possible the test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA

from awiml import PangaeaSource
from awiml.errors import AwimlError, TransferError
from awiml.testing import PangaeaServer

ROOT = Path(__file__).parents[1]
TSG = DATA / "pangaea" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"

CHILD = """
import json, sys
from awiml import PangaeaSource
from awiml.errors import AwimlError, TransferError

base_url, offline_url, cache = sys.argv[1:4]
out = []
for url, retries in ((base_url, 2), (offline_url, 0)):  # online: get(); offline: latest()
    source = PangaeaSource(base_url=url, cache=cache, retries=retries, skip_instance_cache=True)
    try:
        source.read(889513)
        out.append({"ok": True})
    except Exception as exc:
        out.append({"mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)})
print(json.dumps(out))
"""


def _as_a_plain_user(args: list[str]) -> list[str]:
    """Prefix ``args`` so that file permissions apply to it, even when we are root."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    drop = "--bounding-set=-dac_override,-dac_read_search"
    if setpriv is None or subprocess.run([setpriv, drop, "true"],
                                         capture_output=True).returncode != 0:
        pytest.skip("running as root, and cannot drop the capability to ignore permissions")
    return [setpriv, drop, *args]


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("what", ["folder", "file"])
def test_an_unreadable_archive_cache_is_an_awiml_error_naming_the_folder(tmp_path, what):
    cache = tmp_path / "cache"
    with PangaeaServer() as server:
        server.add_dataset(889513, text=TSG)
        PangaeaSource(base_url=server.base_url, cache=cache,
                      skip_instance_cache=True).read(889513)  # fills the cache
        folder = cache / "pangaea"
        before = sorted((p.relative_to(cache), p.read_bytes()) for p in cache.rglob("*")
                        if p.is_file())
        assert before
        locked = [folder] if what == "folder" else list(folder.rglob("data.tab"))
        for path in locked:
            path.chmod(0o000)
        try:
            env = {**os.environ, "KERAS_BACKEND": "torch"}
            result = subprocess.run(
                _as_a_plain_user([sys.executable, "-c", CHILD, server.base_url,
                                  _closed_port_url(), str(cache)]),
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        finally:
            for path in locked:
                path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr[-3000:]
    online, offline = json.loads(result.stdout.strip().splitlines()[-1])
    for outcome in (online, offline):
        assert "AwimlError" in outcome.get("mro", []), outcome
        assert "TransferError" in outcome["mro"] and "OSError" in outcome["mro"]
        message = outcome["message"]
        assert str(locked[0]) in message, message               # names the folder or file
        assert "AWIML_CACHE_DIR" in message and "cache=False" in message  # and what to do
    assert "could not read the archive cache" in offline["message"]  # latest(), get()
    if what == "file":
        assert "could not read the archive cache" in online["message"]
    after = sorted((p.relative_to(cache), p.read_bytes()) for p in cache.rglob("*")
                   if p.is_file())
    assert after == before  # nothing in the cache was lost or changed


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux's /proc")
@pytest.mark.parametrize("which", ["data.tab", "metadata.xml"])
def test_a_cached_file_that_cannot_be_read_is_an_awiml_error_naming_it(tmp_path, which):
    """A cached file whose reading fails (an I/O error of a failing disk or share, here the
    unreadable ``/proc/self/mem`` behind a link) names itself and says what to do."""
    cache = tmp_path / "cache"
    with PangaeaServer() as server:
        server.add_dataset(889513, text=TSG)
        PangaeaSource(base_url=server.base_url, cache=cache,
                      skip_instance_cache=True).read(889513)  # fills the cache
        [cached] = (cache / "pangaea").rglob(which)
        cached.unlink()
        cached.symlink_to("/proc/self/mem")  # os.access says readable; read() gives EIO
        before = sorted(str(p) for p in cache.rglob("*"))
        online = PangaeaSource(base_url=server.base_url, cache=cache,
                               skip_instance_cache=True)
        offline = PangaeaSource(base_url=_closed_port_url(), cache=cache, retries=0,
                                skip_instance_cache=True)
        # the table is taken from the cache online too; the metadata only offline
        sources = [online, offline] if which == "data.tab" else [offline]
        for source in sources:
            with pytest.raises(TransferError) as info:
                source.read(889513)
            message = str(info.value)
            assert isinstance(info.value, AwimlError) and isinstance(info.value, OSError)
            assert str(cached) in message, message             # names the file
            assert "delete it" in message and "AWIML_CACHE_DIR" in message  # what to do
        assert sorted(str(p) for p in cache.rglob("*")) == before  # nothing was lost
        cached.unlink()  # as the message says: the next read online fills it again
        assert len(online.read(889513)) > 0
        assert cached.is_file() and not cached.is_symlink()


READ_ONLY_CHILD = """
import json, sys
from awiml import PangaeaSource

base_url, cache = sys.argv[1:3]
out = []
for ident in (889513, 898941):  # cached before; never read
    source = PangaeaSource(base_url=base_url, cache=cache, skip_instance_cache=True)
    try:
        out.append({"rows": len(source.read(ident, on_mismatch="warn"))})
    except Exception as exc:
        out.append({"mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)})
print(json.dumps(out))
"""


def test_a_read_only_archive_cache_still_serves_what_it_holds(tmp_path):
    """A cache on a read-only share (a colleague's, a project's) serves the datasets in it
    online too; one not in it gives an awiml error naming the folder, not a bare OSError."""
    cache = tmp_path / "cache"
    with PangaeaServer() as server:
        server.add_dataset(889513, text=TSG)
        server.add_dataset(898941, text=DATA / "pangaea" /
                           "PANGAEA_898941_Bracher_2019_PS103_pigments.tab")
        rows = len(PangaeaSource(base_url=server.base_url, cache=cache,
                                 skip_instance_cache=True).read(889513))
        before = sorted((p.relative_to(cache), p.read_bytes()) for p in cache.rglob("*")
                        if p.is_file())
        paths = [cache, *cache.rglob("*")]
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            result = subprocess.run(
                _as_a_plain_user([sys.executable, "-c", READ_ONLY_CHILD, server.base_url,
                                  str(cache)]),
                cwd=ROOT, env={**os.environ, "KERAS_BACKEND": "torch"}, capture_output=True,
                text=True, timeout=120)
        finally:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr[-3000:]
    cached, fresh = json.loads(result.stdout.strip().splitlines()[-1])
    assert cached == {"rows": rows}
    assert "TransferError" in fresh.get("mro", []), fresh
    assert str(cache) in fresh["message"] and "cache=False" in fresh["message"]
    after = sorted((p.relative_to(cache), p.read_bytes()) for p in cache.rglob("*")
                   if p.is_file())
    assert after == before
