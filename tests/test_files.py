"""awiml._files: the one atomic write, soft lock and file digest, with real write failures."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from filelock import SoftFileLock

from awiml._files import (
    NO_SPACE,
    atomic_open,
    atomic_write,
    buffer_digest,
    file_digest,
    fsync_dir,
    publish,
    soft_lock,
    tagged,
)

needs_rlimit = pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc"),
                                  reason="needs RLIMIT_FSIZE (Linux)")


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def run_limited(code: str, limit: int) -> str:
    """Run ``code`` in a child that may not write files larger than ``limit`` bytes."""
    prelude = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    """)
    result = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --- atomic writes ----------------------------------------------------------------------------


def test_atomic_write_replaces_bytes_and_text(tmp_path):
    target = tmp_path / "data"
    assert atomic_write(target, b"one") == target
    atomic_write(target, "zwei\n")
    assert target.read_bytes() == b"zwei\n"
    assert names(tmp_path) == ["data"]


def test_new_files_get_the_permissions_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    atomic_write(tmp_path / "atomic", "x")
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == stat.S_IMODE(
        plain.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_mode_is_set_before_the_file_gets_its_name(tmp_path):
    target = tmp_path / "token.json"
    target.write_text("old")
    target.chmod(0o644)
    atomic_write(target, "secret", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "secret"


@pytest.mark.parametrize("error", [ValueError("bad"), KeyboardInterrupt()])
def test_any_error_while_writing_keeps_the_target_and_removes_the_temporary(tmp_path, error):
    target = tmp_path / "data"
    target.write_bytes(b"old")
    with pytest.raises(type(error)), atomic_open(target) as handle:
        handle.write(b"half of the new")
        raise error
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["data"]


def test_the_temporary_file_can_live_in_another_folder(tmp_path):
    (tmp_path / "meta").mkdir()
    seen = []
    with atomic_open(tmp_path / "MANIFEST", tmp_dir=tmp_path / "meta") as handle:
        seen = names(tmp_path / "meta")
        handle.write(b"rows")
    assert len(seen) == 1 and seen[0].startswith(".MANIFEST.") and seen[0].endswith(".tmp")
    assert names(tmp_path) == ["MANIFEST", "meta"] and names(tmp_path / "meta") == []


def test_replace_false_never_replaces_an_existing_file(tmp_path):
    target = tmp_path / ".gitignore"
    atomic_write(target, "first", replace=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, "second", replace=False)
    assert target.read_text() == "first"
    assert names(tmp_path) == [".gitignore"]


def test_publish_moves_a_finished_file(tmp_path):
    (tmp_path / "part").write_bytes(b"verified")
    (tmp_path / "final").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        publish(tmp_path / "part", tmp_path / "final", replace=False)
    publish(tmp_path / "part", tmp_path / "final")
    assert names(tmp_path) == ["final"] and (tmp_path / "final").read_bytes() == b"verified"


def test_concurrent_writers_never_collide(tmp_path):
    """Threads of one process write the same target at once: each write is whole."""
    target = tmp_path / "state.json"
    contents = {bytes([65 + i]) * (10_000 + i) for i in range(8)}
    errors = []
    barrier = threading.Barrier(len(contents))

    def write(content: bytes) -> None:
        barrier.wait()
        try:
            for _ in range(20):
                atomic_write(target, content)
                assert target.read_bytes() in contents
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c,)) for c in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() in contents
    assert names(tmp_path) == ["state.json"]


@needs_rlimit
def test_a_real_write_failure_keeps_the_target_and_leaves_nothing(tmp_path):
    """EFBIG under RLIMIT_FSIZE: the write fails for real, half way through."""
    target = tmp_path / "data"
    target.write_bytes(b"old")
    out = run_limited(f"""
        from awiml._files import atomic_write
        try:
            atomic_write({str(target)!r}, b"x" * 100_000, mode=0o600)
        except OSError as exc:
            print(exc.errno)
    """, limit=4096)
    assert int(out) == errno.EFBIG and int(out) in NO_SPACE
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["data"]


def test_fsync_dir_of_a_missing_folder_does_nothing(tmp_path):
    fsync_dir(tmp_path / "missing")
    fsync_dir(tmp_path)


# --- locks ------------------------------------------------------------------------------------


def test_soft_lock_holds_and_releases(tmp_path):
    path = tmp_path / "sub" / "work.lock"
    with soft_lock(path, 1.0, lambda: AssertionError("never busy")):
        assert path.exists()
    assert not path.exists()


def test_a_taken_lock_raises_the_callers_error(tmp_path):
    path = tmp_path / "work.lock"
    other = SoftFileLock(path)
    other.acquire()
    try:
        with pytest.raises(RuntimeError, match=r"work\.lock is taken") as info, \
                soft_lock(path, 0.05, lambda: RuntimeError(f"{path} is taken")):
            pass
        assert info.value.__cause__ is None
    finally:
        other.release()


@needs_rlimit
def test_a_lock_file_that_cannot_be_written_raises_the_callers_error(tmp_path):
    path = tmp_path / "work.lock"
    out = run_limited(f"""
        from awiml._files import soft_lock
        try:
            with soft_lock({str(path)!r}, 1.0, lambda: RuntimeError("busy"),
                           lambda exc: RuntimeError(f"unwritable {{exc.errno}}")):
                print("held")
        except RuntimeError as exc:
            print(exc)
    """, limit=1)
    assert out == f"unwritable {errno.EFBIG}"
    assert names(tmp_path) == []


# --- digests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "md5", "sha512"])
@pytest.mark.parametrize("chunk_size", [None, 7, 1 << 20])
def test_file_digest_of_a_path_or_handle(tmp_path, algorithm, chunk_size):
    data = os.urandom(300_000)
    path = tmp_path / "x"
    path.write_bytes(data)
    want = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    assert file_digest(path, algorithm, chunk_size=chunk_size) == want
    with open(path, "rb") as handle:
        assert file_digest(handle, algorithm, chunk_size=chunk_size) == want
    assert buffer_digest(data, algorithm) == want
    assert tagged(hashlib.new(algorithm, data)) == want


def test_file_digest_of_an_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    assert file_digest(tmp_path / "empty") == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        file_digest(tmp_path / "missing")
