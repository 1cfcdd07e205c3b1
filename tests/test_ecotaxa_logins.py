"""EcoTaxa logins: a password at hand is checked, and exports in the cache belong to one account.

Issue 12 ("Logins"): after one good login a wrong password was accepted from the token cache,
and an export in the export cache was handed to any source, whatever its account.
"""

from __future__ import annotations

import json

import fsspec
import pandas as pd
import pytest

from awiml import EcotaxaSource, Workspace
from awiml.errors import ArchiveUnavailableError, AuthenticationError

GOOD = "Ny-Alesund-2024!"
WRONG = "not-alices-password"
MEMBERS_ONLY = 11
QUICK = {"poll_interval": 0.005, "progress": False, "with_images": "none"}


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    """One machine account: one config folder (tokens) and one cache folder for every user."""
    monkeypatch.setenv("AWIML_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AWIML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for name in ("ECOTAXA_USER", "ECOTAXA_PASSWORD", "ECOTAXA_TOKEN", "AWIML_ECOTAXA_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(awiml_ecotaxa_server):
    """The emulator with alice (a member of a private project) and bob (not a member)."""
    ecotaxa = awiml_ecotaxa_server
    ecotaxa.job_steps = 1
    ecotaxa.add_user("alice", GOOD)
    ecotaxa.add_user("bob", "bobs-own-password")
    table = pd.DataFrame({"object_id": ["haul_1", "haul_2"], "object_area": [12.5, 30.0],
                          "object_annotation_category": ["Copepoda", "detritus"],
                          "object_annotation_status": ["validated", "validated"]})
    ecotaxa.add_project(MEMBERS_ONLY, "Alice's nets (private)", table, visible=False,
                        members=["alice"])
    return ecotaxa


def source_for(server, *args, **kwargs) -> EcotaxaSource:
    """A new source (a new session) on the emulator, sharing the machine account's cache."""
    kwargs.setdefault("export_options", QUICK)
    found = EcotaxaSource(*args, base_url=server.api_url, retries=1, skip_instance_cache=True,
                          **kwargs)
    found.retry_backoff = 0.01
    return found


def test_a_wrong_password_after_a_good_login_is_refused(server, tmp_path):
    assert MEMBERS_ONLY in source_for(server, "alice", GOOD).projects().index
    logins = server.hits("/api/login")
    wrong = source_for(server, "alice", WRONG)
    with pytest.raises(AuthenticationError, match=r"'alice'.*wrong user name or password") as info:
        wrong.projects()
    assert WRONG not in str(info.value) and GOOD not in str(info.value)
    assert server.hits("/api/login") == logins + 1  # EcoTaxa was asked, not the cache
    # The good login stays remembered: the right password still needs no new login.
    assert MEMBERS_ONLY in source_for(server, "alice", GOOD).projects().index
    assert server.hits("/api/login") == logins + 1
    # Neither password is kept on disk, only the token and a salted hash.
    [file] = (tmp_path / "config" / "ecotaxa-tokens").glob("*.json")
    assert GOOD not in file.read_text() and WRONG not in file.read_text()


def test_a_wrong_password_in_the_environment_is_refused_too(server, monkeypatch):
    source_for(server, "alice", GOOD).projects()
    monkeypatch.setenv("ECOTAXA_USER", "alice")
    monkeypatch.setenv("ECOTAXA_PASSWORD", WRONG)
    with pytest.raises(AuthenticationError, match="taken from environment"):
        source_for(server).projects()


def test_another_user_cannot_take_a_cached_export_without_a_good_login(server):
    folder = source_for(server, "alice", GOOD).export(MEMBERS_ONLY, **QUICK)
    assert any(folder.glob("*.tsv"))
    jobs = server.hits("/api/object_set/export/general")
    # alice's name with another password: EcoTaxa refuses the login, nothing is handed out.
    with pytest.raises(AuthenticationError, match="wrong user name or password"):
        source_for(server, "alice", WRONG).export(MEMBERS_ONLY, **QUICK)
    # bob logs in fine but is not a member: his own export is refused by EcoTaxa.
    with pytest.raises(AuthenticationError, match="not a member"):
        source_for(server, "bob", "bobs-own-password").export(MEMBERS_ONLY, **QUICK)
    # no account at all: EcoTaxa does not show the project.
    with pytest.raises(AuthenticationError):
        source_for(server).export(MEMBERS_ONLY, **QUICK)
    with pytest.raises(AuthenticationError):
        source_for(server).open(f"ecotaxa://{MEMBERS_ONLY}/export.zip").close()
    assert server.hits("/api/object_set/export/general") == jobs
    # alice herself, in a new session, gets her export again without a new job.
    assert source_for(server, "alice", GOOD).export(MEMBERS_ONLY, **QUICK) == folder
    assert server.hits("/api/object_set/export/general") == jobs


def test_the_same_user_gets_the_cached_export_while_ecotaxa_is_unreachable(server, tmp_path):
    folder = source_for(server, "alice", GOOD).export(MEMBERS_ONLY, **QUICK)
    ws = Workspace.create(tmp_path / "ws")
    server.stop()
    offline = source_for(server, "alice", GOOD)
    assert offline.export(MEMBERS_ONLY, **QUICK) == folder
    options = {"base_url": server.api_url, "username": "alice", "password": GOOD,
               "export_options": QUICK, "retries": 1}
    fetched = ws.fetch(f"ecotaxa://{MEMBERS_ONLY}", storage_options=options, progress=False)
    assert any(path.endswith(".tsv") for path in fetched["path"])
    # Another password cannot be checked offline: nothing is handed out, and the message
    # says why and what to do, without the password.
    with pytest.raises(ArchiveUnavailableError, match="could not be checked") as info:
        source_for(server, "alice", WRONG).export(MEMBERS_ONLY, **QUICK)
    assert WRONG not in str(info.value) and "reachable" in str(info.value)


def test_without_a_remembered_login_a_cached_export_needs_ecotaxa(server):
    source_for(server, "alice", GOOD, remember_token=False).export(MEMBERS_ONLY, **QUICK)
    logins = server.hits("/api/login")
    again = source_for(server, "alice", GOOD, remember_token=False)
    again.export(MEMBERS_ONLY, **QUICK)
    assert server.hits("/api/login") == logins + 1  # checked by logging in
    server.stop()
    with pytest.raises(ArchiveUnavailableError, match="remember_token"):
        source_for(server, "alice", GOOD, remember_token=False).export(MEMBERS_ONLY, **QUICK)


def test_a_token_file_of_an_older_awiml_is_not_trusted(server, tmp_path):
    source_for(server, "alice", GOOD).projects()
    [file] = (tmp_path / "config" / "ecotaxa-tokens").glob("*.json")
    record = json.loads(file.read_text())
    file.write_text(json.dumps({k: record[k] for k in ("api_url", "username", "created",
                                                       "token")}))
    logins = server.hits("/api/login")
    with pytest.raises(AuthenticationError):
        source_for(server, "alice", WRONG).projects()
    source_for(server, "alice", GOOD).projects()
    assert server.hits("/api/login") == logins + 2


def test_new_credentials_in_the_environment_are_not_hidden_by_fsspecs_instance_cache(
        server, tmp_path, monkeypatch):
    monkeypatch.setenv("AWIML_ECOTAXA_URL", server.api_url)
    monkeypatch.setenv("ECOTAXA_USER", "alice")
    monkeypatch.setenv("ECOTAXA_PASSWORD", GOOD)
    first = EcotaxaSource(retries=1)
    assert MEMBERS_ONLY in first.projects().index
    assert EcotaxaSource(retries=1) is first  # fsspec's instance cache, as documented
    monkeypatch.setenv("ECOTAXA_PASSWORD", WRONG)
    with pytest.raises(AuthenticationError, match="wrong user name or password"):
        EcotaxaSource(retries=1).projects()
    monkeypatch.setenv("ECOTAXA_USER", "bob")
    monkeypatch.setenv("ECOTAXA_PASSWORD", "bobs-own-password")
    with pytest.raises(AuthenticationError, match="not a member"):
        with fsspec.open(f"ecotaxa://{MEMBERS_ONLY}/objects.tsv", retries=1) as handle:
            handle.read()
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login alice password {WRONG}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.delenv("ECOTAXA_USER")
    monkeypatch.delenv("ECOTAXA_PASSWORD")
    with pytest.raises(AuthenticationError, match=r"taken from ~/\.netrc"):
        EcotaxaSource(retries=1).projects()
