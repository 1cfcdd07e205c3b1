"""Which files rest on a checksum the archive published, and which only on one computed on arrival.

A PANGAEA text export, a plain web server or a local file publishes no
checksum: a body corrupted in transit would be recorded all the same. The
manifest says so per file (``digest_source``), and verify and the CLI show it.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import sha256

from awiml import PangaeaSource, Workspace
from awiml.cli import main
from awiml.testing import PangaeaServer
from awiml.workspace import read_manifest

CHECKED = b"depth\ttemp\n1\t4.2\n"
UNCHECKED = b"depth\tsal\n1\t34.1\n"


def fetched(tmp_path, server) -> Workspace:
    """A workspace with one file fetched with a published checksum and one without."""
    server.add("checked.tab", CHECKED)
    server.add("unchecked.tab", UNCHECKED)
    ws = Workspace.create(tmp_path / "ws")
    ws.fetch(server.url("checked.tab"), checksum=sha256(CHECKED), progress=False)
    ws.fetch(server.url("unchecked.tab"), progress=False)
    return ws


def test_manifest_table_says_which_digest_was_checked(tmp_path, server):
    ws = fetched(tmp_path, server)
    table = ws.manifest().set_index("path")
    assert table.loc["checked.tab", "digest_source"] == "published"
    assert table.loc["unchecked.tab", "digest_source"] == "computed"
    assert ws.entries()["unchecked.tab"].digest_source == "computed"


def test_manifest_file_writes_the_digest_source(tmp_path, server):
    ws = fetched(tmp_path, server)
    lines = {json.loads(line)["path"]: json.loads(line)
             for line in ws.manifest_path.read_text("utf-8").splitlines()}
    assert lines["checked.tab"]["digest_source"] == "published"
    assert lines["checked.tab"]["published_checksum"] == sha256(CHECKED)
    assert lines["unchecked.tab"]["digest_source"] == "computed"
    assert "published_checksum" not in lines["unchecked.tab"]


def test_a_pangaea_text_export_rests_on_a_computed_digest(tmp_path):
    with PangaeaServer() as pangaea:
        pangaea.add_sample_data()
        source = PangaeaSource(base_url=pangaea.base_url, cache=False,
                               skip_instance_cache=True)
        ws = Workspace.create(tmp_path / "ws")
        ws.fetch(source.remote_files("889513"), progress=False)
    sources = set(ws.manifest()["digest_source"])
    assert sources == {"computed"}
    assert ws.verify().computed_only == sorted(ws.entries())


def test_old_manifest_lines_read_the_same(tmp_path):
    # Lines written before digest_source existed: the published checksum decides.
    old = [
        {"path": "a.tab", "source": "https://example.org/a.tab", "size": 3,
         "sha256": sha256(b"abc"), "retrieved": "2026-01-01T00:00:00Z", "awiml_version": "0.1.0",
         "published_checksum": "md5:900150983cd24fb0d6963f7d28e17f72", "metadata": {}},
        {"path": "b.tab", "source": "https://example.org/b.tab", "size": 3,
         "sha256": sha256(b"def"), "retrieved": "2026-01-01T00:00:00Z", "awiml_version": "0.1.0",
         "metadata": {}},
    ]
    manifest = tmp_path / "MANIFEST"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in old), "utf-8")
    entries = read_manifest(manifest)
    assert entries["a.tab"].digest_source == "published"
    assert entries["b.tab"].digest_source == "computed"
    assert entries["a.tab"].published_checksum == old[0]["published_checksum"]
    # written back, each line keeps its keys and values and gains digest_source
    again = json.loads(entries["b.tab"].to_json())
    assert again == {**old[1], "digest_source": "computed"}


def test_verify_report_names_the_files_with_only_a_computed_digest(tmp_path, server):
    ws = fetched(tmp_path, server)
    report = ws.verify()
    assert report.ok and report.checked == 2
    assert report.computed_only == ["unchecked.tab"]
    text = str(report)
    assert "computed on arrival" in text and "unchecked.tab" in text
    assert "checked.tab" not in text.replace("unchecked.tab", "")
    assert "computed on arrival" in report._repr_html_()


def test_verify_report_leaves_changed_files_out_of_computed_only(tmp_path, server):
    ws = fetched(tmp_path, server)
    (ws.raw / "unchecked.tab").chmod(0o644)
    (ws.raw / "unchecked.tab").write_bytes(b"tampered")
    report = ws.verify()
    assert report.changed == ["unchecked.tab"] and report.computed_only == []


def test_cli_manifest_and_verify_show_the_digest_source(tmp_path, server):
    ws = fetched(tmp_path, server)
    run = CliRunner()
    out = run.invoke(main, ["manifest", "-w", str(ws.root)], catch_exceptions=False).output
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:3]}
    assert "digest_source" in out.splitlines()[0]
    assert "published" in rows["checked.tab"] and "computed" in rows["unchecked.tab"]
    assert "1 of 2 files rest only on a digest computed on arrival" in out
    verified = run.invoke(main, ["verify", "-w", str(ws.root)], catch_exceptions=False)
    assert verified.exit_code == 0
    assert "2 files verified" in verified.output
    assert "computed on arrival" in verified.output and "unchecked.tab" in verified.output
