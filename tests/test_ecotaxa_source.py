"""EcotaxaSource through its public API against the loopback EcoTaxa emulator."""

from __future__ import annotations

import gc
import io
import json
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import fsspec
import pandas as pd
import pytest
import requests
from conftest import assert_consistent, payload

from awiml import EcotaxaSource, Workspace
from awiml.archives.ecotaxa import read_tsv
from awiml.errors import (
    ArchiveUnavailableError,
    AuthenticationError,
    ExportError,
    InvalidDataError,
    NotFoundError,
)
from awiml.testing import Fault, Response

PASSWORD = "Fr4m-Strait-pw!"
PRIVATE = 7
COPEPODA = ("living>Eukaryota>Opisthokonta>Holozoa>Metazoa>Arthropoda>Crustacea>"
            "Multicrustacea>Hexanauplia>Copepoda")  # as in the sample project
FAST_EXPORT = {"poll_interval": 0.005, "progress": False, "with_images": "none"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real credentials, config or cache of the user leak into the tests."""
    monkeypatch.setenv("AWIML_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for name in ("ECOTAXA_USER", "ECOTAXA_PASSWORD", "ECOTAXA_TOKEN", "AWIML_ECOTAXA_URL"):
        monkeypatch.delenv(name, raising=False)


def _private_objects() -> tuple[pd.DataFrame, dict[str, bytes]]:
    table = pd.DataFrame({
        "object_id": ["net_a", "net_b", "net_c"],
        "object_lat": [78.9, 79.1, 79.2],
        "object_lon": [11.9, 5.4, 4.1],
        "object_date": ["2021-07-01", "2021-07-02", "2021-07-03"],
        "object_time": ["10:00:00", "11:30:00", "12:45:00"],
        "object_depth_min": [0.0, 50.0, 100.0],
        "object_depth_max": [50.0, 100.0, 200.0],
        "object_annotation_status": ["validated", "validated", "predicted"],
        "object_annotation_category": ["Copepoda", "Copepoda", "detritus"],
        "object_annotation_hierarchy": [COPEPODA, COPEPODA, "not-living>detritus"],
        "img_file_name": ["a.jpg", "b.jpg", "c.jpg"],
        "object_area": [120.0, 340.5, 99.0],
        "sample_id": ["haul1", "haul1", "haul2"],
        "acq_id": ["acq1", "acq1", "acq2"],
    })
    images = {name: b"\xff\xd8\xff\xe0" + payload(3000, seed=i)
              for i, name in enumerate(table["img_file_name"])}
    return table, images


@pytest.fixture
def ecotaxa(awiml_ecotaxa_server):
    """The plugin's emulator (public project 1, user alice) plus a private project of alice's."""
    server = awiml_ecotaxa_server
    server.job_steps = 2
    server.add_user("alice", PASSWORD)  # a password that cannot occur by chance
    table, images = _private_objects()
    server.add_project(PRIVATE, "Fram Strait nets (private)", table, images, visible=False,
                       members=["alice"], instrument="Zooscan")
    return server


def make_source(server, tmp_path, *args, **kwargs) -> EcotaxaSource:
    kwargs.setdefault("cache", tmp_path / "cache")
    kwargs.setdefault("export_options", FAST_EXPORT)
    source = EcotaxaSource(*args, base_url=server.api_url, retries=2, skip_instance_cache=True,
                           **kwargs)
    source.retry_backoff = 0.01
    return source


@pytest.fixture
def alice(ecotaxa, tmp_path) -> EcotaxaSource:
    return make_source(ecotaxa, tmp_path, "alice", PASSWORD)


def token_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "config" / "ecotaxa-tokens").glob("*.json"))


@pytest.fixture
def system_tmp(tmp_path, monkeypatch) -> Path:
    """The system's temporary folder, made empty and private to the test."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def scratch_folders(system_tmp: Path) -> list[Path]:
    """The temporary export folders of sources made with ``cache=False``."""
    return sorted(system_tmp.glob("awiml-ecotaxa-*"))


def later_export_zip() -> bytes:
    """What EcoTaxa's next export job gives a minute later: the same table, a new stamp."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"ecotaxa_export_{PRIVATE}_20990101_0001.tsv",
                         '"object_id"\n"[t]"\n"net_a"\n')
    return buffer.getvalue()


def serve_later_export(server, job_id: int = 2) -> None:
    server.route("GET", f"/api/jobs/{job_id}/file",
                 lambda request: Response(body=later_export_zip(), content_type="application/zip"))


# -- authentication -------------------------------------------------------------------------


def test_login_is_lazy_and_the_token_is_cached_privately(ecotaxa, alice, tmp_path):
    assert ecotaxa.hits("/api/login") == 0  # constructing logs in nobody
    assert PRIVATE in alice.projects().index
    assert ecotaxa.hits("/api/login") == 1
    [file] = token_files(tmp_path)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    token = json.loads(file.read_text())["token"]
    assert token and token not in repr(alice) and PASSWORD not in repr(alice)
    # A new source (a new session of the user) reuses the cached token.
    again = make_source(ecotaxa, tmp_path, "alice", PASSWORD)
    assert again.query(PRIVATE)["object_id"].tolist() == ["net_a", "net_b", "net_c"]
    assert ecotaxa.hits("/api/login") == 1


def test_wrong_password_names_the_user_not_the_password(ecotaxa, tmp_path):
    source = make_source(ecotaxa, tmp_path, "alice", "not-the-password")
    with pytest.raises(AuthenticationError, match=r"'alice'.*wrong user name or password") as info:
        source.projects()
    assert "not-the-password" not in str(info.value)
    assert token_files(tmp_path) == []


def test_expired_token_logs_in_again(ecotaxa, alice, tmp_path):
    alice.project(PRIVATE)
    old = json.loads(token_files(tmp_path)[0].read_text())["token"]
    ecotaxa.expire_tokens()
    assert len(alice.query(PRIVATE)) == 3
    assert ecotaxa.hits("/api/login") == 2
    assert json.loads(token_files(tmp_path)[0].read_text())["token"] != old


def test_expired_token_without_credentials_says_what_to_set(ecotaxa, alice, tmp_path):
    alice.project(PRIVATE)
    token = json.loads(token_files(tmp_path)[0].read_text())["token"]
    ecotaxa.expire_tokens()
    only_token = make_source(ecotaxa, tmp_path, token=token)
    with pytest.raises(AuthenticationError, match="ECOTAXA_USER") as info:
        only_token.query(PRIVATE)
    assert token not in str(info.value)


def test_credentials_from_environment_and_netrc(ecotaxa, tmp_path, monkeypatch):
    monkeypatch.setenv("ECOTAXA_USER", "alice")
    monkeypatch.setenv("ECOTAXA_PASSWORD", PASSWORD)
    assert PRIVATE in make_source(ecotaxa, tmp_path, cache=False).projects().index
    monkeypatch.delenv("ECOTAXA_USER")
    monkeypatch.delenv("ECOTAXA_PASSWORD")
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login alice password {PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("AWIML_CONFIG_DIR", str(tmp_path / "other-config"))  # no cached token
    assert PRIVATE in make_source(ecotaxa, tmp_path, cache=False).projects().index


def test_remember_token_false_writes_nothing(ecotaxa, tmp_path):
    source = make_source(ecotaxa, tmp_path, "alice", PASSWORD, remember_token=False)
    assert PRIVATE in source.projects().index
    assert token_files(tmp_path) == []


def test_anonymous_public_works_private_and_unknown_are_clear(ecotaxa, tmp_path):
    anonymous = make_source(ecotaxa, tmp_path)
    assert list(anonymous.projects().index) == [1]
    assert anonymous.count(1) == 400
    with pytest.raises(AuthenticationError, match="private"):
        anonymous.query(PRIVATE)
    with pytest.raises(NotFoundError, match="project 999"):
        anonymous.query(999)
    with pytest.raises(AuthenticationError, match="logged-in EcoTaxa user"):
        anonymous.export(1, **FAST_EXPORT)
    assert ecotaxa.hits("/api/login") == 0


# -- logins: a password at hand is checked; exports in the cache belong to one account ---------

WRONG = "not-alices-password"


def _with_bob(server):
    server.add_user("bob", "bobs-own-password")  # logs in fine, not a member of PRIVATE
    return server


def test_a_wrong_password_after_a_good_login_is_refused(ecotaxa, tmp_path):
    assert PRIVATE in make_source(ecotaxa, tmp_path, "alice", PASSWORD).projects().index
    logins = ecotaxa.hits("/api/login")
    wrong = make_source(ecotaxa, tmp_path, "alice", WRONG)
    with pytest.raises(AuthenticationError, match=r"'alice'.*wrong user name or password") as info:
        wrong.projects()
    assert WRONG not in str(info.value) and PASSWORD not in str(info.value)
    assert ecotaxa.hits("/api/login") == logins + 1  # EcoTaxa was asked, not the cache
    # The good login stays remembered: the right password still needs no new login.
    assert PRIVATE in make_source(ecotaxa, tmp_path, "alice", PASSWORD).projects().index
    assert ecotaxa.hits("/api/login") == logins + 1
    # Neither password is kept on disk, only the token and a salted hash.
    [file] = token_files(tmp_path)
    assert PASSWORD not in file.read_text() and WRONG not in file.read_text()


def test_a_wrong_password_in_the_environment_is_refused_too(ecotaxa, tmp_path, monkeypatch):
    make_source(ecotaxa, tmp_path, "alice", PASSWORD).projects()
    monkeypatch.setenv("ECOTAXA_USER", "alice")
    monkeypatch.setenv("ECOTAXA_PASSWORD", WRONG)
    with pytest.raises(AuthenticationError, match="taken from environment"):
        make_source(ecotaxa, tmp_path).projects()


def test_another_user_cannot_take_a_cached_export_without_a_good_login(ecotaxa, alice, tmp_path):
    _with_bob(ecotaxa)
    folder = alice.export(PRIVATE, **FAST_EXPORT)
    jobs = ecotaxa.hits("/api/object_set/export/general")
    # alice's name with another password: EcoTaxa refuses the login, nothing is handed out.
    with pytest.raises(AuthenticationError, match="wrong user name or password"):
        make_source(ecotaxa, tmp_path, "alice", WRONG).export(PRIVATE, **FAST_EXPORT)
    # bob logs in fine but is not a member: his own export is refused by EcoTaxa.
    with pytest.raises(AuthenticationError, match="not a member"):
        make_source(ecotaxa, tmp_path, "bob", "bobs-own-password").export(PRIVATE, **FAST_EXPORT)
    # no account at all: EcoTaxa does not show the project.
    with pytest.raises(AuthenticationError):
        make_source(ecotaxa, tmp_path).export(PRIVATE, **FAST_EXPORT)
    with pytest.raises(AuthenticationError):
        make_source(ecotaxa, tmp_path).open(f"ecotaxa://{PRIVATE}/export.zip").close()
    assert ecotaxa.hits("/api/object_set/export/general") == jobs
    # alice herself, in a new session, gets her export again without a new job.
    again = make_source(ecotaxa, tmp_path, "alice", PASSWORD)
    assert again.export(PRIVATE, **FAST_EXPORT) == folder
    assert ecotaxa.hits("/api/object_set/export/general") == jobs


def test_the_same_user_gets_the_cached_export_while_ecotaxa_is_unreachable(ecotaxa, alice,
                                                                          tmp_path):
    folder = alice.export(PRIVATE, **FAST_EXPORT)
    ws = Workspace.create(tmp_path / "ws")
    ecotaxa.stop()
    offline = make_source(ecotaxa, tmp_path, "alice", PASSWORD)
    assert offline.export(PRIVATE, **FAST_EXPORT) == folder
    options = {"base_url": ecotaxa.api_url, "username": "alice", "password": PASSWORD,
               "cache": str(tmp_path / "cache"), "export_options": FAST_EXPORT, "retries": 1}
    fetched = ws.fetch(f"ecotaxa://{PRIVATE}", storage_options=options, progress=False)
    assert any(path.endswith(".tsv") for path in fetched["path"])
    # Another password cannot be checked offline: nothing is handed out, and the message
    # says why and what to do, without the password.
    with pytest.raises(ArchiveUnavailableError, match="could not be checked") as info:
        make_source(ecotaxa, tmp_path, "alice", WRONG).export(PRIVATE, **FAST_EXPORT)
    assert WRONG not in str(info.value) and "reachable" in str(info.value)


def test_without_a_remembered_login_a_cached_export_needs_ecotaxa(ecotaxa, tmp_path):
    forgetful = {"remember_token": False}
    make_source(ecotaxa, tmp_path, "alice", PASSWORD, **forgetful).export(PRIVATE, **FAST_EXPORT)
    logins = ecotaxa.hits("/api/login")
    make_source(ecotaxa, tmp_path, "alice", PASSWORD, **forgetful).export(PRIVATE, **FAST_EXPORT)
    assert ecotaxa.hits("/api/login") == logins + 1  # checked by logging in
    ecotaxa.stop()
    with pytest.raises(ArchiveUnavailableError, match="remember_token"):
        make_source(ecotaxa, tmp_path, "alice", PASSWORD, **forgetful).export(PRIVATE,
                                                                             **FAST_EXPORT)


def test_a_token_file_of_an_older_awiml_is_not_trusted(ecotaxa, alice, tmp_path):
    alice.projects()
    [file] = token_files(tmp_path)
    record = json.loads(file.read_text())
    file.write_text(json.dumps({k: record[k] for k in ("api_url", "username", "created",
                                                       "token")}))
    logins = ecotaxa.hits("/api/login")
    with pytest.raises(AuthenticationError):
        make_source(ecotaxa, tmp_path, "alice", WRONG).projects()
    make_source(ecotaxa, tmp_path, "alice", PASSWORD).projects()
    assert ecotaxa.hits("/api/login") == logins + 2


def test_new_credentials_in_the_environment_make_a_new_source(ecotaxa, tmp_path, monkeypatch):
    _with_bob(ecotaxa)
    monkeypatch.setenv("AWIML_ECOTAXA_URL", ecotaxa.api_url)
    monkeypatch.setenv("ECOTAXA_USER", "alice")
    monkeypatch.setenv("ECOTAXA_PASSWORD", PASSWORD)
    first = EcotaxaSource(retries=1)
    assert PRIVATE in first.projects().index
    assert EcotaxaSource(retries=1) is first  # fsspec's instance cache, as documented
    monkeypatch.setenv("ECOTAXA_PASSWORD", WRONG)
    with pytest.raises(AuthenticationError, match="wrong user name or password"):
        EcotaxaSource(retries=1).projects()
    monkeypatch.setenv("ECOTAXA_USER", "bob")
    monkeypatch.setenv("ECOTAXA_PASSWORD", "bobs-own-password")
    with pytest.raises(AuthenticationError, match="not a member"):
        with fsspec.open(f"ecotaxa://{PRIVATE}/objects.tsv", retries=1) as handle:
            handle.read()
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login alice password {WRONG}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.delenv("ECOTAXA_USER")
    monkeypatch.delenv("ECOTAXA_PASSWORD")
    with pytest.raises(AuthenticationError, match=r"taken from ~/\.netrc"):
        EcotaxaSource(retries=1).projects()
    # The server named in the environment counts as well.
    netrc_source = EcotaxaSource(retries=1)
    monkeypatch.setenv("AWIML_ECOTAXA_URL", ecotaxa.api_url + "/")
    assert EcotaxaSource(retries=1) is not netrc_source


# -- projects and queries -------------------------------------------------------------------


def test_public_names_stay_in_the_ecotaxa_module():
    import awiml.archives.ecotaxa as ecotaxa

    assert sorted(ecotaxa.__all__) == ["DEFAULT_API_URL", "DEFAULT_QUERY_FIELDS", "EcotaxaSource",
                                       "FIELD_KINDS", "QUERY_FIELDS", "read_tsv", "source", "tsv"]
    assert ecotaxa.EcotaxaSource is EcotaxaSource and ecotaxa.read_tsv is read_tsv
    assert ecotaxa.QUERY_FIELDS["category"] == "txo.display_name"
    assert set(ecotaxa.DEFAULT_QUERY_FIELDS) <= set(ecotaxa.QUERY_FIELDS)
    assert ecotaxa.DEFAULT_API_URL == "https://ecotaxa.obs-vlfr.fr/api"
    assert fsspec.get_filesystem_class("ecotaxa") is EcotaxaSource



def test_project_listing(alice):
    projects = alice.projects()
    assert list(projects.index) == [1, PRIVATE]
    assert projects.loc[1, "objcount"] == 400
    assert projects.loc[PRIVATE, "visible"] is False or not projects.loc[PRIVATE, "visible"]
    assert list(projects.columns[:3]) == ["title", "instrument", "status"]
    assert list(alice.projects(title="Fram").index) == [PRIVATE]


def test_busy_server_is_retried_then_reported(ecotaxa, alice):
    ecotaxa.inject(f"api/projects/{PRIVATE}", Fault.too_many_requests(retry_after=0))
    assert alice.project(PRIVATE)["title"] == "Fram Strait nets (private)"  # GET: the session
    ecotaxa.inject("api/object_set/*/query", Fault.status(503), times=None)
    with pytest.raises(ArchiveUnavailableError, match=r"503 .*after 2 retries.*try again later"):
        alice.query(PRIVATE)
    assert ecotaxa.hits(f"/api/object_set/{PRIVATE}/query") == 3


def test_query_pages_through_all_objects(ecotaxa, alice):
    ecotaxa.clear_requests()
    table = alice.query(1, page_size=70)
    assert len(table) == table.attrs["ecotaxa"]["total_ids"] == 400
    assert table.attrs["ecotaxa"]["title"].startswith("EcoTaxa ML template")
    assert ecotaxa.hits("/api/object_set/1/query") == math.ceil(400 / 70)
    assert table.index.is_unique and table.index.name == "objid"
    assert table["object_id"].str.startswith("mltemplate_").all()
    assert set(table["category"]) == {"Cladocera", "Copepoda", "Siphonophorae", "detritus"}
    assert (table["status"] == "validated").all()
    assert {"area", "mean"} <= set(table.columns)  # free columns by their names


def test_query_values_filters_and_retry(ecotaxa, alice):
    ecotaxa.inject("api/object_set/*/query", Fault.status(500))  # retried
    table = alice.query(PRIVATE, {"taxa": ["Copepoda"], "depth": (0, 120)})
    assert table["object_id"].tolist() == ["net_a", "net_b"]
    first = table.iloc[0]
    assert first["latitude"] == pytest.approx(78.9) and first["depth_max"] == 50.0
    assert first["date"] == pd.Timestamp("2021-07-01") and first["time"] == "10:00:00"
    assert first["area"] == 120.0 and first["category"] == "Copepoda"
    assert len(alice.query(PRIVATE, {"status": "predicted"})) == 1
    assert len(alice.query(PRIVATE, {"status": ["validated", "P"], "depth": (None, 60)})) == 1
    assert alice.filters({"status": ["predicted", "validated"], "depth": (None, 60)}) == {
        "statusfilter": "PV", "depthmin": "0", "depthmax": "60"}
    with pytest.raises(InvalidDataError, match="cannot filter on the statuses"):
        alice.filters({"status": ["validated", "dubious"]})
    with pytest.raises(NotFoundError, match="no taxon named 'Krakenidae'"):
        alice.query(PRIVATE, {"taxa": "Krakenidae"})
    with pytest.raises(InvalidDataError, match="unknown field"):
        alice.query(PRIVATE, fields=["no_such_column"])


# -- exports --------------------------------------------------------------------------------


def test_export_with_images_is_extracted_and_reused(ecotaxa, alice, tmp_path):
    folder = alice.export(PRIVATE, with_images="first", poll_interval=0.005, progress=False)
    [tsv] = folder.glob("*.tsv")
    table = read_tsv(tsv)
    assert table["object_id"].tolist() == ["net_a", "net_b", "net_c"]
    _, images = _private_objects()
    for name in table["img_file_name"]:
        assert (folder / name).read_bytes() == images[Path(name).name]
    assert alice.export(PRIVATE, with_images="first", progress=False) == folder
    assert ecotaxa.hits("/api/object_set/export/general") == 1  # reused from the cache
    target = alice.export(PRIVATE, with_images="first", progress=False, refresh=True,
                          target=tmp_path / "mine", poll_interval=0.005)
    assert target == tmp_path / "mine" and next(target.glob("*.tsv")).is_file()
    assert ecotaxa.hits("/api/object_set/export/general") == 2


def test_export_error_state_reports_the_servers_messages(ecotaxa, alice):
    ecotaxa.next_export_outcome("E", errors=["No space left on the export disk"])
    with pytest.raises(ExportError, match="No space left on the export disk") as info:
        alice.export(1, **FAST_EXPORT)
    assert info.value.state == "E" and info.value.job_id == 1
    assert "job 1" in str(info.value)
    assert alice.export(1, **FAST_EXPORT).is_dir()  # a new job
    assert ecotaxa.hits("/api/object_set/export/general") == 2


def test_export_question_points_to_the_web_ui_and_resumes_the_job(ecotaxa, alice):
    ecotaxa.next_export_outcome("A", question={"message": "Overwrite the previous export?"})
    with pytest.raises(ExportError, match=r"gui/job/show/1.*same job") as info:
        alice.export(1, **FAST_EXPORT)
    assert info.value.state == "A"
    token = requests.post(f"{ecotaxa.api_url}/login", json={"username": "alice",
                          "password": PASSWORD}, timeout=5).json()
    requests.post(f"{ecotaxa.api_url}/jobs/1/answer", json={"overwrite": True},
                  headers={"Authorization": f"Bearer {token}"}, timeout=5).raise_for_status()
    assert alice.export(1, **FAST_EXPORT).is_dir()
    assert ecotaxa.hits("/api/object_set/export/general") == 1


def test_export_time_limit(ecotaxa, alice):
    ecotaxa.job_steps = 10_000
    with pytest.raises(ExportError, match=r"did not finish within 0\.05 s") as info:
        alice.export(1, timeout=0.05, **FAST_EXPORT)
    assert info.value.state in ("P", "R")


def test_dropped_download_resumes_with_a_range_request(ecotaxa, alice):
    ecotaxa.inject("api/jobs/*/file", Fault.drop_after(2000))
    folder = alice.export(PRIVATE, with_images="all", poll_interval=0.005, progress=False)
    assert len(list(folder.rglob("*.jpg"))) == 3
    asked = [r for r in ecotaxa.requests if r.path == "/api/jobs/1/file"]
    assert len(asked) == 2 and asked[1].header("range") == "bytes=2000-"


def test_corrupt_zip_is_refused(ecotaxa, alice, tmp_path):
    ecotaxa.inject("api/jobs/*/file", Fault.corrupt(offset=200), times=None)
    with pytest.raises(InvalidDataError, match="corrupt"):
        alice.export(PRIVATE, with_images="all", poll_interval=0.005, progress=False)
    assert not list((tmp_path / "cache").rglob("*.tsv"))


def _zip_with(member: zipfile.ZipInfo | str, data: bytes = b"owned\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ecotaxa_export.tsv", '"object_id"\n"a"\n')
        archive.writestr(member, data)
    return buffer.getvalue()


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        ("../escaped.txt", "'..'"),
        ("images/../../escaped.txt", "'..'"),
        ("/tmp/escaped.txt", "absolute path"),
        ("C:/escaped.txt", "drive letter"),
        (_symlink("images/link.jpg"), "symbolic link"),
    ],
)
def test_unsafe_zip_members_are_refused(ecotaxa, alice, tmp_path, member, problem):
    crafted = _zip_with(member, b"/etc/passwd" if isinstance(member, zipfile.ZipInfo) else b"x")
    ecotaxa.route("GET", "/api/jobs/1/file",
                  lambda request: Response(body=crafted, content_type="application/zip"))
    with pytest.raises(InvalidDataError, match=f"unsafe.*{problem}"):
        alice.export(1, **FAST_EXPORT)
    assert not (tmp_path / "escaped.txt").exists()
    assert not list((tmp_path / "cache").rglob("ecotaxa_export.tsv"))  # nothing extracted


def test_failed_download_in_export_says_how_export_resumes(ecotaxa, alice, tmp_path):
    ecotaxa.inject("api/jobs/*/file", Fault.drop_after(2000))
    ecotaxa.inject("api/jobs/*/file", Fault.status(503), times=3)
    with pytest.raises(ArchiveUnavailableError) as info:
        alice.export(PRIVATE, with_images="all", poll_interval=0.005, progress=False)
    message = str(info.value)
    assert "raw/" not in message and "fetch again" not in message
    assert "job 1" in message and "export() again" in message
    assert str(tmp_path / "cache") in message  # where the partial zip is kept
    assert isinstance(info.value.__cause__, ArchiveUnavailableError)  # the transfer engine's
    token = json.loads(token_files(tmp_path)[0].read_text())["token"]
    assert PASSWORD not in message and token not in message
    folder = alice.export(PRIVATE, with_images="all", poll_interval=0.005, progress=False)
    assert len(list(folder.rglob("*.jpg"))) == 3
    assert ecotaxa.hits("/api/object_set/export/general") == 1  # the same job...
    asked = [r for r in ecotaxa.requests if r.path == "/api/jobs/1/file"]
    assert asked[-1].header("range") == "bytes=2000-"  # ...and the same download, resumed


def test_zip_bomb_guard(ecotaxa, alice, tmp_path):
    with pytest.raises(InvalidDataError, match="limit"):
        alice.export(PRIVATE, max_bytes=100, **FAST_EXPORT)
    assert not list((tmp_path / "cache").rglob("*.tsv"))


# -- fsspec and the workspace ---------------------------------------------------------------


def test_fsspec_paths_and_pandas(ecotaxa, tmp_path):
    options = {"base_url": ecotaxa.api_url, "username": "alice", "password": PASSWORD,
               "cache": str(tmp_path / "cache"), "export_options": FAST_EXPORT,
               "skip_instance_cache": True}
    table = pd.read_csv(f"ecotaxa://{PRIVATE}/objects.tsv", sep="\t", storage_options=options)
    assert table["object_id"].tolist() == ["net_a", "net_b", "net_c"]
    fs = fsspec.filesystem("ecotaxa", **options)
    assert fs.ls("", detail=False) == ["1", str(PRIVATE), "vault"]
    assert fs.ls(f"ecotaxa://{PRIVATE}", detail=False) == [
        f"{PRIVATE}/objects.tsv", f"{PRIVATE}/export.zip", f"{PRIVATE}/export"]
    assert fs.info(f"{PRIVATE}")["title"] == "Fram Strait nets (private)"
    with fsspec.open(f"ecotaxa://{PRIVATE}/export.zip", **options) as handle:
        names = zipfile.ZipFile(handle).namelist()
    assert any(name.endswith(".tsv") for name in names)
    image = table["img_file_name"][0]
    with fsspec.open(f"ecotaxa://vault/{image}", **options) as handle:
        assert handle.read() == _private_objects()[1]["a.jpg"]
    assert fs.info(f"vault/{image}")["size"] == len(_private_objects()[1]["a.jpg"])
    with pytest.raises(NotFoundError):
        fs.info("ecotaxa://999")


def test_without_cache_one_export_serves_the_source_and_goes_with_it(ecotaxa, tmp_path,
                                                                     system_tmp):
    source = make_source(ecotaxa, tmp_path, "alice", PASSWORD, cache=False)
    [tsv] = [n for n in source.ls(f"{PRIVATE}/export", detail=False) if n.endswith(".tsv")]
    serve_later_export(ecotaxa)  # a second job would name its table after a later minute
    assert source.info(tsv)["size"] > 0
    with source.open(tsv) as handle:
        assert b"net_c" in handle.read()
    with source.open(f"{PRIVATE}/export.zip") as handle:
        assert tsv.rsplit("/", 1)[-1] in zipfile.ZipFile(handle).namelist()
    folder = source.export(PRIVATE, **FAST_EXPORT)
    assert (folder / tsv.rsplit("/", 1)[-1]).is_file()
    assert ecotaxa.hits("/api/object_set/export/general") == 1
    [scratch] = scratch_folders(system_tmp)
    assert folder.is_relative_to(scratch)
    del source, handle
    gc.collect()
    assert scratch_folders(system_tmp) == []


def test_closing_a_source_without_cache_deletes_its_temporary_folder(ecotaxa, tmp_path,
                                                                     system_tmp):
    source = make_source(ecotaxa, tmp_path, "alice", PASSWORD, cache=False)
    source.ls(f"{PRIVATE}/export")
    assert len(scratch_folders(system_tmp)) == 1
    source.close()
    assert scratch_folders(system_tmp) == []
    source.ls(f"{PRIVATE}/export")  # still usable: a new folder and a new job
    assert len(scratch_folders(system_tmp)) == 1
    assert ecotaxa.hits("/api/object_set/export/general") == 2
    source.close()
    assert scratch_folders(system_tmp) == []


def test_cached_export_serves_a_listing_and_a_later_open(ecotaxa, alice, tmp_path, system_tmp):
    [tsv] = [n for n in alice.ls(f"{PRIVATE}/export", detail=False) if n.endswith(".tsv")]
    serve_later_export(ecotaxa)
    later = make_source(ecotaxa, tmp_path, "alice", PASSWORD)  # another session, same cache
    with later.open(tsv) as handle:
        assert b"net_c" in handle.read()
    with fsspec.open(f"ecotaxa://{tsv}", base_url=ecotaxa.api_url, username="alice",
                     password=PASSWORD, cache=str(tmp_path / "cache"),
                     export_options=FAST_EXPORT, skip_instance_cache=True) as handle:
        assert b"net_c" in handle.read()
    assert ecotaxa.hits("/api/object_set/export/general") == 1
    assert next((tmp_path / "cache" / "ecotaxa" / "exports").rglob("export.zip")).is_file()
    assert scratch_folders(system_tmp) == []


def test_workspace_fetch_without_cache_leaves_no_temporary_folder(ecotaxa, tmp_path,
                                                                  system_tmp):
    ws = Workspace.create(tmp_path / "ws")
    options = {"base_url": ecotaxa.api_url, "username": "alice", "password": PASSWORD,
               "cache": False, "export_options": {**FAST_EXPORT, "with_images": "first"}}
    fetched = ws.fetch([f"ecotaxa://{PRIVATE}", f"ecotaxa://{PRIVATE}/export.zip"],
                       storage_options=options, progress=False)
    assert scratch_folders(system_tmp) == []
    assert len([p for p in fetched["path"] if p.endswith(".jpg")]) == 3
    assert f"ecotaxa/{PRIVATE}/export.zip" in set(fetched["path"])
    assert ecotaxa.hits("/api/object_set/export/general") == 1  # one export for both
    assert_consistent(ws)
    # Without a cache, fetching again runs a new job (and leaves nothing behind either).
    again = ws.fetch(f"ecotaxa://{PRIVATE}", storage_options=options, progress=False)
    assert ecotaxa.hits("/api/object_set/export/general") == 2
    assert again.set_index("path").loc[f"ecotaxa/{PRIVATE}/job_2.log", "status"] == "fetched"
    assert scratch_folders(system_tmp) == []


def test_workspace_fetch_lands_tsv_and_images_with_metadata_and_no_secrets(ecotaxa, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    options = {"base_url": ecotaxa.api_url, "username": "alice", "password": PASSWORD,
               "cache": str(tmp_path / "cache"),
               "export_options": {**FAST_EXPORT, "with_images": "first"}}
    fetched = ws.fetch(f"ecotaxa://{PRIVATE}", storage_options=options, progress=False)
    paths = sorted(fetched["path"])
    tsvs = [p for p in paths if p.endswith(".tsv")]
    assert len(tsvs) == 1 and tsvs[0].startswith(f"ecotaxa/{PRIVATE}/")
    assert len([p for p in paths if p.endswith(".jpg")]) == 3
    assert_consistent(ws)
    entry = ws.manifest().set_index("path").loc[tsvs[0]]
    meta = entry["metadata"]
    assert meta["project_id"] == PRIVATE and meta["job_id"] == 1 and meta["total_ids"] == 3
    assert meta["title"] == "Fram Strait nets (private)"
    assert meta["export"]["with_images"] == "first"
    assert meta["api_url"] == ecotaxa.api_url
    assert entry["source"].startswith(f"ecotaxa://{PRIVATE}/export/")
    raw = (ws.raw / "MANIFEST").read_text()
    token = json.loads(token_files(tmp_path)[0].read_text())["token"]
    assert PASSWORD not in raw and token not in raw and "alice" not in raw
    again = ws.fetch(f"ecotaxa://{PRIVATE}", storage_options=options, progress=False)
    assert set(again["status"]) == {"present"}
    assert ecotaxa.hits("/api/object_set/export/general") == 1
    assert os.environ.get("ECOTAXA_PASSWORD") is None


def test_workspace_fetch_query_table_and_one_image(ecotaxa, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    options = {"base_url": ecotaxa.api_url, "cache": False,
               "export_options": {"filters": {"status": "V"}}}
    image = make_source(ecotaxa, tmp_path).query(1)["img_file_name"].iloc[0]
    ws.fetch(["ecotaxa://1/objects.tsv", f"ecotaxa://vault/{image}"], storage_options=options,
             progress=False)
    table = pd.read_csv(ws.raw / "ecotaxa/1/objects.tsv", sep="\t")
    assert len(table) == 400
    assert (ws.raw / "ecotaxa/vault" / image).read_bytes()[:2] == b"\xff\xd8"
    meta = ws.manifest().set_index("path").loc["ecotaxa/1/objects.tsv", "metadata"]
    assert meta["filters"] == {"statusfilter": "V"} and meta["total_ids"] == 400
    assert ecotaxa.hits("/api/login") == 0


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc"),
                    reason="needs RLIMIT_FSIZE (Linux)")
def test_unwritable_download_in_export_keeps_its_class_and_says_what_to_fix(ecotaxa, tmp_path):
    import subprocess
    import sys

    # A child process that may not write files over 1,000 bytes: the zip download fails
    # locally (a TransferError from the transfer engine), not on the line.
    code = f"""
import resource, signal
from awiml import EcotaxaSource
from awiml.errors import TransferError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
source = EcotaxaSource("alice", {PASSWORD!r}, base_url={ecotaxa.api_url!r},
                       cache={str(tmp_path / "cache")!r}, remember_token=False)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    source.export({PRIVATE}, with_images="all", poll_interval=0.005, progress=False)
except TransferError as exc:
    print(type(exc).__name__, "|", exc, "|", type(exc.__cause__).__name__)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    name, message, cause = proc.stdout.strip().split(" | ")
    assert name == "TransferError" and cause == "TransferError"
    assert "job 1" in message and "export() again" in message
    assert "free disk space" in message and "raw/" not in message
    assert PASSWORD not in message


# -- zips that cannot be extracted as they are ----------------------------------------------


def _zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _serve_zip(server, body: bytes) -> None:
    server.route("GET", "/api/jobs/1/file",
                 lambda request: Response(body=body, content_type="application/zip"))


@pytest.mark.parametrize(
    ("members", "named", "problem"),
    [
        ({"a/x": b"file", "a/x/y": b"below a file"}, "a/x/y", "below 'a/x', which is a file"),
        ({"a/x/y": b"below", "a/x": b"file"}, "a/x/y", "below 'a/x', which is a file"),
        ({"images/" + "v" * 296 + ".jpg": b"\xff\xd8"}, "vvvv", "longer than"),
        ({"d" * 200 + "/" + "e" * 200 + "/" + "f" * 200 + "/" + "g" * 200 + "/" + "h" * 200
          + "/" + "i" * 200 + ".tsv": b"x"}, "dddd", "longer than"),
    ],
    ids=["file-then-below", "below-then-file", "long-component", "long-path"],
)
def test_zip_that_cannot_be_extracted_is_invalid_data_before_anything_is_written(
        ecotaxa, alice, tmp_path, members, named, problem):
    _serve_zip(ecotaxa, _zip_of({"ecotaxa_export.tsv": b'"object_id"\n"a"\n', **members}))
    with pytest.raises(InvalidDataError) as info:
        alice.export(1, **FAST_EXPORT)
    message = str(info.value)
    assert "export of project 1" in message and named in message and problem in message
    assert "not usable as is" in message
    assert not list((tmp_path / "cache").rglob("ecotaxa_export.tsv"))  # nothing extracted
    assert not list((tmp_path / "cache").rglob("export.zip"))  # nor kept as a good export


def test_check_zip_refuses_before_extract_zip_writes(tmp_path):
    from awiml.archives.ecotaxa._export import check_zip, extract_zip

    path = tmp_path / "e.zip"
    path.write_bytes(_zip_of({"a/x": b"1", "a/x/y": b"2"}))
    with pytest.raises(InvalidDataError, match="not usable as is"):
        check_zip(path, what="the export", max_bytes=10**9)
    with pytest.raises(InvalidDataError, match="not usable as is"):
        extract_zip(path, tmp_path / "out", what="the export", max_bytes=10**9)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["e.zip"]  # no temporary folder either


def test_zip_bomb_by_expansion_ratio_is_refused(ecotaxa, alice, tmp_path):
    bomb = _zip_of({"ecotaxa_export.tsv": b'"object_id"\n"a"\n',
                    "images/zeros.jpg": bytes(8 * 1024 * 1024)}, zipfile.ZIP_DEFLATED)
    _serve_zip(ecotaxa, bomb)
    with pytest.raises(InvalidDataError, match=r"images/zeros\.jpg.*times") as info:
        alice.export(1, **FAST_EXPORT)
    assert "zip bomb" in str(info.value) and "export of project 1" in str(info.value)
    assert not list((tmp_path / "cache").rglob("zeros.jpg"))


def test_zip_bomb_by_overall_ratio_is_refused(tmp_path):
    """Many members, each too small to be judged alone, expanding a lot together."""
    from awiml.archives.ecotaxa._export import check_zip

    path = tmp_path / "many.zip"
    path.write_bytes(_zip_of({f"t{i}.tsv": bytes(500_000) for i in range(40)},
                             zipfile.ZIP_DEFLATED))
    with pytest.raises(InvalidDataError, match="overall"):
        check_zip(path, what="the export", max_bytes=10**12)


EXPORTS = Path(__file__).parent / "data" / "ecotaxa"


@pytest.mark.parametrize("folder", sorted(p.name for p in EXPORTS.iterdir() if p.is_dir()))
def test_real_exports_pass_the_ratio_limits_with_a_wide_margin(tmp_path, folder):
    """Real exports zipped as EcoTaxa does (deflate) stay far below the ratio limits."""
    from awiml.archives.ecotaxa._export import MAX_RATIO, check_zip

    path = tmp_path / "real.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted((EXPORTS / folder).rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(EXPORTS / folder).as_posix())
    members = check_zip(path, what="a real export", max_bytes=10**9)
    ratios = [m.file_size / max(m.compress_size, 1) for m in members]
    assert max(ratios) * 10 < MAX_RATIO  # measured: at most 12 (a TSV), JPEGs about 1


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc"),
                    reason="needs RLIMIT_FSIZE (Linux)")
def test_a_token_that_cannot_be_kept_leaves_no_file_with_it(ecotaxa, alice, tmp_path):
    """A real write failure (EFBIG under RLIMIT_FSIZE) while the token cache is rewritten."""
    import subprocess
    import sys

    alice.projects()
    [file] = token_files(tmp_path)
    record = json.loads(file.read_text())
    file.write_text(json.dumps({**record, "created": 0}))  # too old: the child logs in again
    old = file.read_bytes()
    code = f"""
import logging, resource, signal
from awiml import EcotaxaSource
logging.basicConfig(level=logging.WARNING)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
source = EcotaxaSource("alice", {PASSWORD!r}, base_url={ecotaxa.api_url!r},
                       cache={str(tmp_path / "cache")!r})
resource.setrlimit(resource.RLIMIT_FSIZE, (50, 50))
print({PRIVATE} in source.projects().index)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"  # not fatal: only the token was not kept
    assert "could not keep the EcoTaxa token" in proc.stderr
    folder = tmp_path / "config" / "ecotaxa-tokens"
    assert sorted(folder.iterdir()) == [file]  # no temporary file holding the new token
    assert file.read_bytes() == old and stat.S_IMODE(file.stat().st_mode) == 0o600
    assert PASSWORD not in proc.stderr and record["token"] not in proc.stderr
    assert ecotaxa.hits("/api/login") == 2


def test_a_crafted_password_check_is_refused_without_running_it(monkeypatch):
    """A token file whose scrypt cost would take minutes or GiB matches no password."""
    import hashlib

    from awiml.archives.ecotaxa._auth import password_check, password_matches

    check = password_check("secret")
    runs = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: runs.append(k) or real(*a, **k))
    assert password_matches(check, "secret") and len(runs) == 1
    for cost in ({"n": 2**20}, {"r": 32}, {"p": 16}, {"n": "many"}):
        assert not password_matches({**check, **cost}, "secret")
    assert len(runs) == 1, f"scrypt ran with a crafted cost: {runs[1:]}"
