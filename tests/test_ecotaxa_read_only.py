"""An EcoTaxa export meets a folder it may not write: awiml errors naming the folder.

The export cache itself is covered by the fault matrix (``test_read_only_cache``);
here the ``target=`` folder of :meth:`EcotaxaSource.export` is read-only. The
export stays in the cache, so the next call with a writable target runs no new
job.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from awiml import EcotaxaSource
from awiml.errors import AwimlError, TransferError

FAST_EXPORT = {"poll_interval": 0.005, "progress": False, "with_images": "all"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AWIML_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for name in ("ECOTAXA_USER", "ECOTAXA_PASSWORD", "ECOTAXA_TOKEN", "AWIML_ECOTAXA_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def read_only_folder(tmp_path) -> Iterator[Path]:
    """A folder no one may write in: by its mode, or for root by a read-only bind mount."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mount = ["mount", "--bind", str(folder), str(folder)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("running as root, and cannot make a read-only bind mount here")
    try:
        remount = ["mount", "-o", "remount,ro,bind", str(folder), str(folder)]
        if subprocess.run(remount, capture_output=True).returncode != 0:
            pytest.skip("cannot make a read-only bind mount here")
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_an_export_into_a_read_only_target_names_it(awiml_ecotaxa_server, tmp_path,
                                                     read_only_folder):
    server = awiml_ecotaxa_server
    server.job_steps = 1
    source = EcotaxaSource("alice", "secret", base_url=server.api_url,
                           cache=tmp_path / "cache", skip_instance_cache=True)
    for target in (read_only_folder / "mine", read_only_folder / "deeper" / "mine"):
        with pytest.raises(TransferError) as info:
            source.export(1, target=target, **FAST_EXPORT)
        message = str(info.value)
        assert isinstance(info.value, AwimlError) and isinstance(info.value, OSError)
        assert str(target) in message and "target=" in message, message  # what to do
        assert not list(read_only_folder.iterdir())  # nothing left behind
    folder = source.export(1, target=tmp_path / "mine", **FAST_EXPORT)  # writable: fine
    assert next(folder.glob("*.tsv")).is_file()
    assert server.hits("/api/object_set/export/general") == 1  # the cached export reused
