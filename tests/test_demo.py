"""The main job (`make demo`) runs end to end offline and leaves a verified workspace."""

from __future__ import annotations

import subprocess
import sys

from awiml import ModelStore, Workspace
from awiml.demo import run


def test_demo_fills_and_verifies_a_workspace(tmp_path, capsys):
    workspace = run(tmp_path / "demo", progress=False)
    out = capsys.readouterr().out
    assert "raw/ matches its manifest (3 files verified)" in out
    assert "\nDone in " in out
    assert (workspace.root / "figures" / "ps103_tsg_o2a_pangaea.png").is_file()
    assert "stage requests: 1; tape mounts: 2 (022000, 022001, 2 drives)" in out
    assert "the copy from tape and the PANGAEA export are byte-identical: True" in out
    assert ModelStore(workspace).info("tsg-zones@production")["archived"]
    assert "tsg-zones@production predicts exactly as the trained model: True" in out
    accuracy = float(out.split("    accuracy")[1].split()[0])
    # T/S separate the zones well; the Polar Frontal Zone blurs into Antarctic water,
    # so a day-wise split scores about 0.98: 0.9 is a margin, not the target.
    assert accuracy >= 0.9
    assert "bytes=100000-" in out  # the flaky line was resumed, not restarted
    assert "Temp         [  °C]  Temperature, water" in out  # parameters with units
    entries = Workspace(workspace.root).entries()
    assert entries["pangaea/889513/data.tab"].metadata["doi"] == "10.1594/PANGAEA.889513"
    assert entries["pangaea/889513/data.tab"].metadata["license"] == "CC-BY-3.0"
    stored = ModelStore(workspace).info("tsg-zones@production")
    assert {d["path"] for d in stored["data"]} >= {"pangaea/889513/data.tab"}
    # It ends by reproducing the model a committed script in src/ stored.
    assert "saved tsg-zones-script@1 from commit" in out
    assert "Verdict: REPRODUCED" in out and "Model: identical to the stored one" in out
    script = ModelStore(workspace).info("tsg-zones-script@1")["provenance"]
    assert script["run"]["script"] == "train_zones.py" and script["seeds"]["seed"] == 103


def test_reproduce_fetches_an_input_missing_from_raw_from_the_archive(tmp_path, monkeypatch,
                                                                     capsys):
    # An input missing from raw/ is fetched again from the archive (the PANGAEA emulator)
    # and checked against the recorded SHA-256 before the script runs again.
    import stat

    from awiml.demo import reproduction
    from awiml.testing.pangaea import PangaeaServer

    workspace = Workspace.create(tmp_path / "w")
    with PangaeaServer() as pangaea:
        pangaea.add_sample_data()
        workspace.fetch("pangaea://889513", progress=False,
                        storage_options={"base_url": pangaea.base_url, "cache": False})
        table = workspace.raw / "pangaea" / "889513" / "data.tab"
        ref = reproduction(workspace)  # trains, and reproduces from raw/
        monkeypatch.setenv("AWIML_PANGAEA_URL", pangaea.base_url)
        monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
        table.parent.chmod(table.parent.stat().st_mode | stat.S_IWUSR)
        table.unlink()
        served = len(pangaea.requests)
        report = ModelStore(workspace).reproduce(ref)
    assert "Verdict: REPRODUCED" in capsys.readouterr().out
    assert report.reproduced, report.to_text()
    assert [(o.path, o.how) for o in report.data] == [("pangaea/889513/data.tab", "fetched")]
    assert len(pangaea.requests) > served
    assert not table.exists()  # the copy went to the scratch workspace, not to raw/


def test_demo_draws_the_o2a_series_beside_the_pangaea_table(tmp_path, capsys):
    from importlib.resources import as_file, files

    from awiml.archives.pangaea import read_text
    from awiml.demo import DATA_FILE, TSG_CODES, sensor_series

    workspace = Workspace.create(tmp_path / "w")
    with as_file(files("awiml") / "data" / DATA_FILE) as path:
        pangaea = read_text(path)
    figure = sensor_series(workspace, pangaea, progress=False)
    out = capsys.readouterr().out
    assert figure == workspace.root / "figures" / "ps103_tsg_o2a_pangaea.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (entry,) = [e for e in workspace.entries().values() if e.path.startswith("o2a/")]
    assert entry.metadata["sensors"] == list(TSG_CODES)
    assert entry.metadata["aggregate"] == "hour"
    assert entry.metadata["start"] == "2016-12-16T19:00:00Z"
    assert "Research vessel Polarstern" in out
    # The emulator serves PS103's own 10-minute values, interpolated and with noise of
    # 0.02 degC / 0.005: hourly means agree with PANGAEA's to a few hundredths.
    temperature = float(out.split("temperature [degC]: O2A minus PANGAEA, median |difference| ")[1]
                        .split(",")[0])
    assert temperature < 0.05
    assert workspace.verify().ok


def test_demo_stages_from_tape_and_archives_the_models_back(tmp_path, capsys):
    from sklearn.dummy import DummyClassifier

    from awiml.demo import DATA_FILE, tape_archive

    workspace = Workspace.create(tmp_path / "w")
    ref = ModelStore(workspace).save(DummyClassifier().fit([[0], [1]], [0, 1]), "dummy")
    url = tape_archive(workspace, progress=False)
    out = capsys.readouterr().out
    assert url == "hsm:///hs/projects/awiml-demo/models"
    assert "reading it now is refused" in out and "Stage it first" in out
    assert "stage requests: 1; tape mounts: 1 (022000, 2 drives)" in out
    entry = workspace.entries()[f"hsm/ps103/{DATA_FILE}"]
    assert entry.metadata["state"] == "offline" and entry.metadata["vsns"] == ["022000"]
    assert "archiving again: present (never overwritten)" in out
    (copy,) = ModelStore(workspace).info(ref)["archived"]
    assert copy["url"] == url + "/awiml-demo-models-000.tar"
    assert "not-a-real-password" not in workspace.manifest_path.read_text()


def test_demo_trains_and_stores_a_plankton_classifier_from_ecotaxa(tmp_path, capsys):
    from awiml.demo import plankton

    workspace = Workspace.create(tmp_path / "w")
    ref = plankton(workspace, progress=False)
    out = capsys.readouterr().out
    assert ref == "plankton@1"
    assert "bytes=1000000-" in out  # the export zip was resumed after the drop
    assert "reloaded predictions identical: True" in out
    assert "400 images of 4 classes (Cladocera 100, Copepoda 100" in out
    # scikit-image features + random forest on 4 balanced classes (chance 0.25): this
    # split scores 0.74 and other seeds 0.7-0.85; 0.6 is a margin, not the target
    accuracy = float(out.split("    accuracy")[1].split()[0])
    assert accuracy >= 0.6
    entries = [e for e in workspace.entries().values() if e.path.startswith("ecotaxa/1/")]
    assert len(entries) == 402  # the TSV, 400 vignettes and the export job's log
    tsv = next(e for e in entries if e.path.endswith(".tsv"))
    assert tsv.metadata["total_ids"] == 400 and tsv.metadata["project_id"] == 1
    assert "not-a-real-password" not in workspace.manifest_path.read_text()
    info = ModelStore(workspace).info("plankton@production")
    assert any(d["path"] == tsv.path and d["sha256"] == tsv.sha256 for d in info["data"])


def test_demo_runs_as_a_module(tmp_path):
    # The whole run is test_demo_fills_and_verifies_a_workspace, in this process; here
    # `python -m awiml.demo` must start, parse its options and say what it does.
    proc = subprocess.run([sys.executable, "-m", "awiml.demo", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--workspace" in proc.stdout and "--no-progress" in proc.stdout
    assert "loopback PANGAEA" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "awiml.demo", "--no-such-option"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unrecognized arguments" in bad.stderr
