"""Gathering the recorded training inputs again (awiml.store.reproduce.inputs)."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from awiml import Workspace
from awiml.store.reproduce.inputs import gather_inputs

DOI = "10.1594/PANGAEA.889513"
TAB = "pangaea/889513/data.tab"


@pytest.fixture
def pangaea(awiml_pangaea_server, monkeypatch, tmp_path):
    monkeypatch.setenv("AWIML_PANGAEA_URL", awiml_pangaea_server.base_url)
    monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
    return awiml_pangaea_server


@pytest.fixture
def trained(pangaea, tmp_path):
    """A workspace that fetched the PANGAEA sample, and the data references of its model."""
    ws = Workspace.create(tmp_path / "project")
    ws.fetch(DOI, progress=False)
    refs = [{"path": e.path, "source": e.source, "size": e.size, "sha256": e.sha256,
             "retrieved": e.retrieved, "doi": DOI} for e in ws.entries().values()]
    return ws, refs


def snapshot(ws: Workspace) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(ws.root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in ws.raw.rglob("*") if p.is_file()}


def writable_copy(ws: Workspace, where) -> Workspace:
    shutil.copytree(ws.root, where)
    for folder, _, files in os.walk(where):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return Workspace(where)


def test_files_in_the_workspace_are_linked_and_recorded(trained, tmp_path):
    ws, refs = trained
    before = snapshot(ws)
    scratch = Workspace.create(tmp_path / "scratch")
    outcomes = gather_inputs(refs, ws, scratch)
    assert [(o.how, o.ok) for o in outcomes] == [("workspace", True)] * 2
    assert all(o.found_sha256 == o.recorded_sha256 for o in outcomes)
    assert scratch.verify().ok
    assert scratch.entries() == ws.entries()
    linked = scratch.raw / TAB
    assert os.path.samefile(linked, ws.raw / TAB)
    assert not linked.stat().st_mode & stat.S_IWUSR
    assert snapshot(ws) == before  # bytes and mtimes of raw/ and MANIFEST unchanged


def test_deleted_file_is_fetched_again_from_the_archive(trained, tmp_path):
    ws, refs = trained
    copy = writable_copy(ws, tmp_path / "copy")
    (copy.raw / TAB).unlink()
    before = snapshot(copy)
    scratch = Workspace.create(tmp_path / "scratch")
    outcomes = {o.path: o for o in gather_inputs(refs, copy, scratch, progress=False)}
    assert outcomes[TAB].how == "fetched" and outcomes[TAB].ok
    assert outcomes[TAB].source == "pangaea://889513/data.tab"
    assert outcomes["pangaea/889513/metadata.xml"].how == "workspace"
    assert scratch.verify().ok
    assert (scratch.raw / TAB).read_bytes() == (ws.raw / TAB).read_bytes()
    assert scratch.entries()[TAB].sha256 == refs[0]["sha256"]
    assert snapshot(copy) == before
    assert [p.name for p in (scratch.root / ".awiml").iterdir()
            if p.name.startswith("refetch-")] == []  # the staging workspace is gone


def test_file_changed_at_the_archive_is_refused_with_both_checksums(trained, pangaea, tmp_path):
    ws, refs = trained
    text = (ws.raw / TAB).read_bytes()
    pangaea.add_dataset(889513, text=text.replace(b"\n", b"\r\n", 1),
                        last_modified="2030-01-01T00:00:00Z")
    copy = writable_copy(ws, tmp_path / "copy")
    (copy.raw / TAB).unlink()
    scratch = Workspace.create(tmp_path / "scratch")
    [outcome] = gather_inputs([r for r in refs if r["path"] == TAB], copy, scratch)
    assert (outcome.how, outcome.ok) == ("changed", False)
    assert outcome.found_sha256 != outcome.recorded_sha256
    for part in (f"raw/{TAB}", "pangaea://889513/data.tab", outcome.recorded_sha256,
                 outcome.found_sha256):
        assert part in outcome.message
    assert not (scratch.raw / TAB).exists()
    assert TAB not in scratch.entries()


def test_changed_local_file_is_replaced_by_the_archive_copy(trained, tmp_path):
    ws, refs = trained
    copy = writable_copy(ws, tmp_path / "copy")
    (copy.raw / TAB).write_bytes(b"edited by hand\n")
    scratch = Workspace.create(tmp_path / "scratch")
    outcomes = {o.path: o for o in gather_inputs(refs, copy, scratch)}
    assert outcomes[TAB].how == "fetched"
    assert scratch.verify().ok


def test_a_file_changed_in_place_at_the_same_size_is_not_trusted(trained, tmp_path):
    # the manifest still lists the recorded size and checksum: only hashing tells
    ws, refs = trained
    copy = writable_copy(ws, tmp_path / "copy")
    data = bytearray((copy.raw / TAB).read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    (copy.raw / TAB).write_bytes(bytes(data))
    assert copy.entries()[TAB].size == len(data)
    scratch = Workspace.create(tmp_path / "scratch")
    outcomes = {o.path: o for o in gather_inputs(refs, copy, scratch)}
    assert outcomes[TAB].how == "fetched" and outcomes[TAB].ok
    assert (scratch.raw / TAB).read_bytes() == (ws.raw / TAB).read_bytes()


def test_missing_without_source_unfetched_and_unchecked_references(trained, tmp_path):
    ws, refs = trained
    copy = writable_copy(ws, tmp_path / "copy")
    (copy.raw / TAB).unlink()
    scratch = Workspace.create(tmp_path / "scratch")
    tab = next(r for r in refs if r["path"] == TAB)
    outcomes = gather_inputs(
        [{**tab, "source": None}, tab, {"source": f"https://doi.org/{DOI}", "doi": DOI},
         {"path": "../outside.csv", "sha256": tab["sha256"]}],
        copy, scratch, fetch=False)
    assert [(o.how, o.ok) for o in outcomes] == [
        ("missing", False), ("missing", False), ("unchecked", True), ("unchecked", False)]
    assert outcomes[0].message == f"raw/{TAB}: missing, no source recorded"
    assert "switched off" in outcomes[1].message
    assert outcomes[2].message.endswith("not a file reference: cannot be checked")
    assert not (scratch.raw / TAB).exists()


def test_file_outside_the_manifest_is_hashed(trained, tmp_path):
    ws, _ = trained
    copy = writable_copy(ws, tmp_path / "copy")
    (copy.raw / "extra.csv").write_text("a,b\n1,2\n")
    from awiml._files import file_digest

    ref = {"path": "extra.csv", "source": None, "sha256": file_digest(copy.raw / "extra.csv")}
    scratch = Workspace.create(tmp_path / "scratch")
    [outcome] = gather_inputs([ref], copy, scratch)
    assert outcome.how == "workspace" and outcome.ok
    assert scratch.verify().ok and scratch.entries()["extra.csv"].sha256 == ref["sha256"]
