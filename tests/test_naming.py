"""One way to name things (issue 12): DOIs and file URLs in fetch, one workspace option."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, PANGAEA_TAB, assert_consistent

from awiml import PangaeaSource, Workspace
from awiml.cli import main
from awiml.errors import AwimlError, NotFoundError, WorkspaceError
from awiml.testing import PangaeaServer

TSG = DATA / "pangaea" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"


@pytest.fixture
def pangaea_env(tmp_path, monkeypatch):
    """A loopback PANGAEA that ``pangaea://`` URLs reach, with its own cache."""
    with PangaeaServer() as server:
        server.add_dataset(889513, text=TSG)
        monkeypatch.setenv("AWIML_PANGAEA_URL", server.base_url)
        monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
        PangaeaSource.clear_instance_cache()
        yield server
    PangaeaSource.clear_instance_cache()


# --- 1. PANGAEA DOIs in Workspace.fetch -----------------------------------------------------

DOI_FORMS = [
    "10.1594/PANGAEA.889513",
    "doi:10.1594/PANGAEA.889513",
    "https://doi.org/10.1594/PANGAEA.889513",
    "https://doi.pangaea.de/10.1594/PANGAEA.889513",
    "pangaea://889513",
]


@pytest.mark.parametrize("doi", DOI_FORMS)
def test_fetch_takes_a_pangaea_doi_in_every_form(pangaea_env, tmp_path, monkeypatch, doi):
    monkeypatch.chdir(tmp_path)
    ws = Workspace.create(tmp_path / "ws")
    table = ws.fetch(doi, progress=False)
    assert sorted(table["path"]) == ["pangaea/889513/data.tab", "pangaea/889513/metadata.xml"]
    entry = ws.entries()["pangaea/889513/data.tab"]
    assert entry.source == "pangaea://889513/data.tab"  # one source, whatever the spelling
    assert entry.metadata["doi"] == "10.1594/PANGAEA.889513"
    assert_consistent(ws)
    # a second spelling of the same dataset finds it present
    again = ws.fetch(DOI_FORMS[(DOI_FORMS.index(doi) + 1) % len(DOI_FORMS)], progress=False)
    assert set(again["status"]) == {"present"}


@pytest.mark.parametrize("slip", ["pangaea:889513", "PANGAEA.889513", "889513",
                                  "pangaea:/889513", "doi.org/10.1594/PANGAEA.889513"])
def test_an_almost_pangaea_name_says_which_form_works(tmp_path, monkeypatch, workspace, slip):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFoundError) as info:
        workspace.fetch(slip, progress=False)
    message = str(info.value)
    assert slip in message
    assert "pangaea://889513" in message and "10.1594/PANGAEA.889513" in message
    assert "does not exist; check the path" not in message  # the old, generic answer
    assert workspace.entries() == {}


def test_a_local_file_named_like_a_dataset_id_is_still_a_file(tmp_path, monkeypatch, workspace):
    monkeypatch.chdir(tmp_path)
    Path("889513").write_text("mine")
    table = workspace.fetch("889513", progress=False)
    assert list(table["path"]) == ["889513"]


# --- 2. percent-encoded file:// URLs --------------------------------------------------------


@pytest.mark.parametrize("folder", ["with space", "Übersicht mit Ümlauten", "a%20literal"])
def test_fetch_finds_percent_encoded_file_urls(tmp_path, workspace, folder):
    src = tmp_path / folder / "Größe 1.tab"
    src.parent.mkdir()
    src.write_bytes(PANGAEA_TAB.read_bytes())
    url = src.as_uri()
    assert "%" in url
    table = workspace.fetch(url, progress=False)
    assert list(table["path"]) == ["Größe 1.tab"]
    assert (workspace.raw / "Größe 1.tab").read_bytes() == src.read_bytes()
    # the path and the URL are one source: fetching the path again finds the file present
    assert list(workspace.fetch(str(src), progress=False)["status"]) == ["present"]
    # a folder given as a URL, too
    folder_table = workspace.fetch(src.parent.as_uri(), subdir="again", progress=False)
    assert list(folder_table["path"]) == [f"again/{folder}/Größe 1.tab"]
    assert_consistent(workspace)


def test_a_missing_percent_encoded_file_url_names_the_decoded_path(tmp_path, workspace):
    url = (tmp_path / "no such" / "file.tab").as_uri()
    with pytest.raises(NotFoundError, match="does not exist") as info:
        workspace.fetch(url, progress=False)
    assert str(tmp_path / "no such" / "file.tab") in str(info.value)


# --- 3. the CLI: -w/--workspace everywhere, found by walking up ----------------------------


def run(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


def test_workspace_find_walks_up_like_git(tmp_path):
    ws = Workspace.create(tmp_path / "project")
    deep = ws.raw / "a" / "b"
    deep.mkdir(parents=True)
    assert Workspace.find(deep).root == ws.root
    assert Workspace.find(ws.root).root == ws.root
    with pytest.raises(WorkspaceError, match="not inside an awiml workspace") as info:
        Workspace.find(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_every_workspace_command_takes_w_and_defaults_to_the_enclosing_workspace(
    tmp_path, monkeypatch, server
):
    server.add("a.bin", b"abc")
    ws = Workspace.create(tmp_path / "project")
    (ws.src / "notebooks").mkdir()
    monkeypatch.chdir(ws.src / "notebooks")
    fetched = run("fetch", server.url("a.bin"), "--no-progress")
    assert fetched.exit_code == 0, fetched.output
    assert "a.bin" in ws.entries()
    for args in (["manifest"], ["verify"], ["models", "list"], ["models", "verify"]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
    assert "a.bin" in run("manifest").output
    monkeypatch.chdir(tmp_path)
    for args in (["manifest"], ["verify"], ["models", "list"], ["models", "verify"]):
        named = run(*args, "-w", str(ws.root))
        assert named.exit_code == 0, (args, named.output)
        long = run(*args, "--workspace", str(ws.root))
        assert long.exit_code == 0, (args, long.output)
    assert "a.bin" in run("manifest", "--workspace", str(ws.root)).output


def test_outside_any_workspace_the_cli_says_how_to_name_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["manifest"], ["verify"], ["models", "list"], ["fetch", "x.tab"]):
        result = run(*args)
        assert result.exit_code == 1, args
        assert result.output.startswith("error: ") and "Traceback" not in result.output
        assert "-w" in result.output and str(tmp_path) in result.output
        assert f"awiml init {tmp_path}" not in result.output


def test_the_old_positional_workspace_still_works_with_a_note(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = Workspace.create(tmp_path / "project")
    for command in ("manifest", "verify"):
        result = run(command, str(ws.root))
        assert result.exit_code == 0, result.output
        assert "deprecated" in result.output and f"awiml {command} -w" in result.output
    both = run("manifest", str(ws.root), "-w", str(ws.root))
    assert both.exit_code == 2


@pytest.mark.parametrize("args", [["models", "show", "{ws}"], ["models", "list", "{ws}"],
                                  ["models", "verify", "{ws}"],
                                  ["models", "diff", "{ws}", "a@1"]])
def test_a_workspace_where_a_model_is_expected_says_what_was_expected(tmp_path, monkeypatch,
                                                                      args):
    ws = Workspace.create(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    result = run(*[a.format(ws="project") for a in args])
    assert result.exit_code == 2, result.output
    assert "awiml init" not in result.output
    assert "'project' is a workspace" in result.output and "model" in result.output
    assert "-w project" in result.output
    # inside another workspace too
    other = Workspace.create(tmp_path / "other")
    monkeypatch.chdir(other.root)
    inside = run(*[a.format(ws=str(ws.root)) for a in args])
    assert inside.exit_code == 2 and "is a workspace" in inside.output


def test_a_closed_pipe_ends_quietly(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from awiml import ModelStore

    ws = Workspace.create(tmp_path / "p")
    ModelStore(ws).save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "tiny")
    script = Path(sys.executable).with_name("awiml")
    import awiml  # the console script, running the awiml under test

    env = {**os.environ, "PYTHONPATH": str(Path(awiml.__file__).parents[1])}
    for args in (["models", "show", "tiny"], ["models", "list"], ["manifest"]):
        proc = subprocess.Popen([str(script), *args, "-w", str(ws.root)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.stdout.close()  # like `| head` that has read enough: before awiml writes
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, stderr
        assert stderr == "", stderr


def test_errors_in_the_naming_are_awiml_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AwimlError):
        Workspace.find()
