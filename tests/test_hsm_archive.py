"""Workspace.archive to the loopback HSM: tar parts over SFTP, verified, never overwritten."""

from __future__ import annotations

import tarfile

import pytest

from awiml import ModelStore, Workspace
from awiml.errors import ArchiveConflictError, TransferError
from awiml.testing.hsm import HSMFault

OPTIONS = {"known_hosts": None, "poll": 0.02, "wait_timeout": 20.0, "timeout": 5.0,
           "progress": False}
DEST = "hsm:///hs/projects/x/results"


@pytest.fixture
def hsm(hsm_env):
    return hsm_env


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace.create(tmp_path / "ws")
    for number in range(30):
        folder = workspace.model / f"run{number // 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"part{number:02d}.txt").write_text(f"{number}\n" * (200 * number + 1))
    return workspace


def _in_archive(server, name):
    return server.root / "hs" / "projects" / "x" / "results" / name


def test_a_folder_goes_to_tape_in_parts_and_comes_back_bit_identical(hsm, ws):
    table = ws.archive("model", DEST, part_size=40 * 1024, storage_options=OPTIONS,
                       progress=False)
    assert len(table) >= 2 and set(table["status"]) == {"archived"}
    for row in table.itertuples():
        assert _in_archive(hsm, row.part).stat().st_size == row.size
    folder = _in_archive(hsm, "")
    assert sorted(p.name for p in folder.iterdir()) == sorted(table["part"])  # no leftovers
    fetched = ws.fetch(DEST, subdir="restore", storage_options=OPTIONS, progress=False)
    assert dict(zip(fetched["path"].str.split("/").str[-1], fetched["sha256"], strict=True)) \
        == dict(zip(table["part"], table["sha256"], strict=True))
    restored = {}
    for path in sorted((ws.raw / "restore").rglob("*.tar")):
        with tarfile.open(path) as tar:
            restored.update({m.name: tar.extractfile(m).read() for m in tar if m.isfile()})
    originals = {p.relative_to(ws.root).as_posix(): p.read_bytes()
                 for p in ws.model.rglob("*.txt")}
    assert restored == originals


def test_archiving_again_skips_and_an_existing_tape_file_is_never_replaced(hsm, ws):
    ws.archive("model", DEST, storage_options=OPTIONS, progress=False)
    again = ws.archive("model", DEST, storage_options=OPTIONS, progress=False)
    assert again["status"].tolist() == ["present"]
    hsm.add_file("/hs/projects/x/results/other-000.tar", b"not ours", volumes=["VSN001"])
    with pytest.raises(ArchiveConflictError, match=r"other-000\.tar"):
        ws.archive("model/run0", DEST, name="other", storage_options=OPTIONS, progress=False)
    assert _in_archive(hsm, "other-000.tar").read_bytes() == b"not ours"


def test_a_full_quota_fails_clearly_and_leaves_nothing_half_written(hsm, ws):
    hsm.inject("/hs/projects/x/results/*", HSMFault.quota())
    with pytest.raises(TransferError, match=r"model-000\.tar") as caught:
        ws.archive("model", DEST, storage_options=OPTIONS, progress=False)
    assert "secret" not in str(caught.value)
    folder = _in_archive(hsm, "")
    assert not folder.exists() or not list(folder.iterdir())
    assert ws.archived().empty
    table = ws.archive("model", DEST, storage_options=OPTIONS, progress=False)
    assert table["status"].tolist() == ["archived"]


def test_the_model_record_names_its_copy_on_tape(hsm, ws):
    from sklearn.dummy import DummyClassifier

    store = ModelStore(ws)
    ref = store.save(DummyClassifier().fit([[0], [1]], [0, 1]), "dummy")
    ws.archive("model/dummy", DEST, storage_options=OPTIONS, progress=False)
    (copy,) = store.info(ref)["archived"]
    assert copy["url"] == DEST + "/dummy-000.tar"
