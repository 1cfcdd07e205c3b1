"""Workspace.archive packs results into tar parts, verifies them and never overwrites."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awiml import Workspace
from awiml.cli import main
from awiml.errors import ArchiveConflictError, NotFoundError, TransferError
from awiml.workspace.archive import LOG_NAME, plan_parts


def _results(tmp_path: Path) -> Workspace:
    workspace = Workspace.create(tmp_path / "ws")
    folder = workspace.model / "zones" / "1"
    folder.mkdir(parents=True)
    for number in range(12):
        (folder / f"small-{number:02d}.txt").write_text(f"value {number}\n" * (number + 1))
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 400)  # 102400 bytes
    return workspace


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _unpack(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_a_folder_is_packed_uploaded_verified_and_logged(tmp_path):
    workspace = _results(tmp_path)
    shelf = tmp_path / "shelf"
    table = workspace.archive("model/zones", shelf.as_uri() + "/run1", progress=False)
    assert table["part"].tolist() == ["zones-000.tar"]
    assert table["status"].tolist() == ["archived"]
    assert table.loc[0, "files"] == 13
    part = shelf / "run1" / "zones-000.tar"
    assert table.loc[0, "sha256"] == _sha(part.read_bytes())
    assert table.loc[0, "size"] == part.stat().st_size
    members = _unpack(part)
    originals = {p.relative_to(workspace.root).as_posix(): p.read_bytes()
                 for p in (workspace.model / "zones").rglob("*") if p.is_file()}
    assert members == originals  # named by their place in the workspace, bit-identical
    assert sorted(p.name for p in (shelf / "run1").iterdir()) == ["zones-000.tar"]
    log = workspace.archived()
    assert sorted(log["path"]) == sorted(originals)
    assert set(log["part"]) == {shelf.as_uri() + "/run1/zones-000.tar"}
    weights = log.set_index("path").loc["model/zones/1/weights.bin"]
    assert weights["sha256"] == _sha(originals["model/zones/1/weights.bin"])
    assert str(log["archived"].dt.tz) == "UTC"
    # the staging copy is gone; only the log stays in the workspace's bookkeeping
    assert not list((workspace.root / ".awiml" / "archive-staging").iterdir())


def test_parts_stay_under_the_cap_and_a_larger_file_gets_its_own(tmp_path):
    workspace = _results(tmp_path)
    shelf = tmp_path / "shelf"
    cap = 30 * 1024
    table = workspace.archive(["model"], shelf.as_uri(), name="cap", part_size=cap,
                              progress=False)
    assert table["part"].tolist() == ["cap-000.tar", "cap-001.tar"]
    sizes = {row.part: row.size for row in table.itertuples()}
    small, large = (_unpack(shelf / name) for name in sizes)
    assert len(small) == 12 and sizes["cap-000.tar"] <= cap
    assert list(large) == ["model/zones/1/weights.bin"]  # 100 kB: alone, over the cap
    assert len(workspace.archived()) == 13


def test_the_same_files_make_byte_identical_parts(tmp_path):
    workspace = _results(tmp_path)
    first = workspace.archive("model", (tmp_path / "a").as_uri(), progress=False)
    second = workspace.archive("model", (tmp_path / "b").as_uri(), progress=False)
    assert first["sha256"].tolist() == second["sha256"].tolist()


def test_running_again_skips_what_is_archived_and_logs_it_once(tmp_path):
    workspace = _results(tmp_path)
    url = (tmp_path / "shelf").as_uri()
    workspace.archive("model", url, part_size=30 * 1024, progress=False)
    again = workspace.archive("model", url, part_size=30 * 1024, progress=False)
    assert again["status"].tolist() == ["present", "present"]
    assert len(workspace.archived()) == 13


def test_an_existing_file_at_the_destination_is_never_replaced(tmp_path):
    workspace = _results(tmp_path)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "model-000.tar").write_bytes(b"someone else's archive")
    with pytest.raises(ArchiveConflictError, match=r"model-000\.tar.*another name="):
        workspace.archive("model", shelf.as_uri(), progress=False)
    assert (shelf / "model-000.tar").read_bytes() == b"someone else's archive"
    assert workspace.archived().empty
    table = workspace.archive("model", shelf.as_uri(), name="model-v2", progress=False)
    assert table["part"].tolist() == ["model-v2-000.tar"]


def test_changed_files_under_an_archived_name_are_refused(tmp_path):
    workspace = _results(tmp_path)
    url = (tmp_path / "shelf").as_uri()
    workspace.archive("model", url, progress=False)
    (workspace.model / "zones" / "1" / "small-00.txt").write_text("changed\n")
    with pytest.raises(ArchiveConflictError, match="before with other content"):
        workspace.archive("model", url, progress=False)
    assert len(workspace.archived()) == 13
    assert sorted(p.name for p in (tmp_path / "shelf").iterdir()) == ["model-000.tar"]


@pytest.mark.parametrize(("paths", "message"), [
    ("model/nothing-here", "does not exist in the workspace"),
    ("../elsewhere", "is not inside the workspace"),
    (".awiml", "bookkeeping"),
    ("features", "the folders are empty"),
])
def test_bad_paths_are_named_and_nothing_is_uploaded(tmp_path, paths, message):
    workspace = _results(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(NotFoundError, match=message):
        workspace.archive(paths, (tmp_path / "shelf").as_uri(), progress=False)
    assert not (tmp_path / "shelf").exists()
    assert not (workspace.root / LOG_NAME).exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"part_size": 100}, "part_size=100 is too small"),
    ({"name": "a/b"}, "cannot name archive parts"),
])
def test_bad_options_are_named(tmp_path, options, message):
    workspace = _results(tmp_path)
    with pytest.raises(ValueError, match=message):
        workspace.archive("model", (tmp_path / "shelf").as_uri(), progress=False, **options)


def test_an_archived_part_fetched_back_is_bit_identical(tmp_path):
    workspace = _results(tmp_path)
    table = workspace.archive("model", (tmp_path / "shelf").as_uri(), progress=False)
    fetched = workspace.fetch(table.loc[0, "url"], subdir="restore", progress=False)
    assert fetched.loc[0, "sha256"] == table.loc[0, "sha256"]
    members = _unpack(workspace.raw / fetched.loc[0, "path"])
    assert members["model/zones/1/weights.bin"] == bytes(range(256)) * 400


def test_plan_parts_keeps_the_order_and_numbers_the_parts():
    files = [(f"f{number:03d}", 10_000) for number in range(1001)]
    parts = plan_parts(files, "many", 30_000)
    assert [m for part in parts for m in part.members] == [name for name, _ in files]
    assert parts[0].name == "many-0000.tar" and parts[-1].name.endswith(f"{len(parts) - 1}.tar")
    assert all(part.estimate <= 30_000 for part in parts)


def test_the_command_line_archives_and_shows_the_log(tmp_path):
    workspace = _results(tmp_path)
    runner = CliRunner()
    url = (tmp_path / "shelf").as_uri()
    done = runner.invoke(main, ["archive", "model", url, "-w", str(workspace.root),
                                "--part-size", "30K", "--no-progress"])
    assert done.exit_code == 0, done.output
    assert done.output.count("archived ") == 2 and "model-001.tar" in done.output
    shown = runner.invoke(main, ["archived", "-w", str(workspace.root)])
    assert "model/zones/1/weights.bin" in shown.output
    refused = runner.invoke(main, ["archive", "nothing", url, "-w", str(workspace.root)])
    assert refused.exit_code == 1 and "does not exist" in refused.output
    bad = runner.invoke(main, ["archive", "model", url, "-w", str(workspace.root),
                               "--part-size", "lots"])
    assert bad.exit_code == 2 and "is no size" in bad.output


def test_the_tar_holds_no_owner_names(tmp_path):
    workspace = _results(tmp_path)
    workspace.archive("model", (tmp_path / "shelf").as_uri(), progress=False)
    data = (tmp_path / "shelf" / "model-000.tar").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {(m.uname, m.gname, m.uid, m.gid) for m in tar.getmembers()} == {("", "", 0, 0)}


def test_a_models_record_says_where_its_archived_copy_lives(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from awiml import ModelStore

    workspace = Workspace.create(tmp_path / "ws")
    store = ModelStore(workspace)
    ref = store.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "toy")
    assert store.info(ref)["archived"] == []
    url = (tmp_path / "shelf").as_uri()
    workspace.archive("model/toy", url, progress=False)
    (copy,) = store.info(ref)["archived"]
    assert copy["url"] == url + "/toy-000.tar"
    assert sorted(copy["files"]) == sorted(store.info(ref)["files"])
    shown = CliRunner().invoke(main, ["models", "show", ref, "-w", str(workspace.root)])
    assert f"Archived copy: {url}/toy-000.tar (2 files" in shown.output
    # a second version saved later is not in that part
    second = store.save(LogisticRegression(C=0.5).fit([[0.0], [1.0]], [0, 1]), "toy")
    assert store.info(second)["archived"] == []


def test_a_damaged_log_line_is_named(tmp_path):
    workspace = _results(tmp_path)
    workspace.archive("model", (tmp_path / "shelf").as_uri(), progress=False)
    log = workspace.root / LOG_NAME
    log.write_text(log.read_text() + '{"url": "x"}\n')
    with pytest.raises(TransferError, match="line 2 of the archive log"):
        workspace.archived()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(
    lambda b: b.decode("latin-1")))
def test_any_log_text_reads_or_is_refused_clearly(tmp_path, text):
    workspace = Workspace.create(tmp_path / "fuzz")
    (workspace.root / LOG_NAME).parent.mkdir(exist_ok=True)
    (workspace.root / LOG_NAME).write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        table = workspace.archived()
    except TransferError as exc:
        assert "archive log" in str(exc)
    else:
        assert list(table.columns)[:3] == ["path", "size", "sha256"]
