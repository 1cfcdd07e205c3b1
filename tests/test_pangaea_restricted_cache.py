"""The archive cache never hands a restricted PANGAEA table to a source without its token.

A restricted dataset read once with the right token is cached for that token
only: a source with no token or another token gets the error it would get
without a cache (PANGAEA's refusal online; "not cached" offline), and the
token itself is written nowhere. Public datasets stay shared and readable
offline.
"""

from __future__ import annotations

import socket

import pytest
from conftest import DATA

from awiml import PangaeaSource
from awiml.errors import ArchiveUnavailableError, AuthenticationError
from awiml.testing import PangaeaServer

TSG = DATA / "pangaea" / "PANGAEA_889513_PS103_surf_oce_tsg.tab"
PIGMENTS = DATA / "pangaea" / "PANGAEA_898941_Bracher_2019_PS103_pigments.tab"
TOKEN = "right-t0ken-for-the-cache-tests"
WRONG = "wrong-t0ken-for-the-cache-tests"


@pytest.fixture(autouse=True)
def _no_token_around(monkeypatch, tmp_path):
    monkeypatch.delenv("PANGAEA_TOKEN", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.fixture
def pangaea():
    with PangaeaServer(token=TOKEN) as server:
        server.add_dataset(889513, text=TSG, restricted=True)
        server.add_dataset(898941, text=PIGMENTS)
        yield server


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _source(base_url: str, cache, token: str | None = None, **kwargs) -> PangaeaSource:
    return PangaeaSource(token, base_url=base_url, cache=cache, skip_instance_cache=True,
                         **kwargs)


def test_a_restricted_table_in_the_cache_needs_its_token(pangaea, tmp_path):
    cache = tmp_path / "cache"
    right = _source(pangaea.base_url, cache, TOKEN)
    expected = right.read(889513)
    assert len(expected) > 0
    # a cache of an older awiml kept it as data.tab, for everyone: that copy is not used
    [kept] = (cache / "pangaea" / "889513").rglob("data.*.tab")
    (kept.parent / "data.tab").write_bytes(kept.read_bytes())
    pangaea.clear_requests()
    for token, refused in ((None, "needs a token"), (WRONG, "refused the token")):
        with pytest.raises(AuthenticationError, match=refused) as info:
            _source(pangaea.base_url, cache, token).read(889513)
        assert TOKEN not in str(info.value) and WRONG not in str(info.value)
    # PANGAEA was asked for the table both times, as it is without a cache
    tables = [r for r in pangaea.requests if r.method == "GET" and "889513" in r.path
              and "tab-separated-values" in r.header("accept", "")]
    assert len(tables) == 2
    # offline, the table is not handed out either: it is as good as not cached
    for token in (None, WRONG):
        offline = _source(_closed_port_url(), cache, token, retries=0)
        with pytest.raises(ArchiveUnavailableError, match="not cached") as info:
            offline.read(889513)
        assert TOKEN not in str(info.value)
    # the right token reads it from the cache, online without a new download and offline
    pangaea.clear_requests()
    assert _source(pangaea.base_url, cache, TOKEN).read(889513).equals(expected)
    assert not [r for r in pangaea.requests if "tab-separated-values" in r.header("accept", "")]
    offline = _source(_closed_port_url(), cache, TOKEN, retries=0)
    assert offline.read(889513).equals(expected)
    # the token is written nowhere in the cache, neither in names nor in contents
    for path in cache.rglob("*"):
        assert TOKEN not in str(path.relative_to(cache))
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()


def test_public_tables_stay_shared_and_readable_offline(pangaea, tmp_path):
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning):  # its header differs from its metadata a little
        expected = _source(pangaea.base_url, cache, TOKEN).read(898941, on_mismatch="warn")
    for token in (None, WRONG, TOKEN):
        offline = _source(_closed_port_url(), cache, token, retries=0)
        with pytest.warns(UserWarning):
            assert offline.read(898941, on_mismatch="warn").equals(expected)
    assert [p.name for p in (cache / "pangaea" / "898941").rglob("*.tab")] == ["data.tab"]


def test_a_token_taken_away_from_the_environment_opens_nothing(pangaea, tmp_path, monkeypatch):
    """fsspec reuses a source made with the same arguments; one made after PANGAEA_TOKEN or
    ~/.netrc changed must see the change, as EcoTaxa's does, not keep the old token."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PANGAEA_TOKEN", TOKEN)
    assert len(PangaeaSource(base_url=pangaea.base_url, cache=cache).read(889513)) > 0
    monkeypatch.delenv("PANGAEA_TOKEN")
    anonymous = PangaeaSource(base_url=pangaea.base_url, cache=cache)
    assert "token='none'" in repr(anonymous) or "token=none" in repr(anonymous)
    with pytest.raises(AuthenticationError, match="needs a token"):
        anonymous.read(889513)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine pangaea.de login me password {TOKEN}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert len(PangaeaSource(base_url=pangaea.base_url, cache=cache).read(889513)) > 0
    netrc.write_text(f"machine pangaea.de login me password another-{WRONG}\n")
    with pytest.raises(AuthenticationError, match="refused the token"):
        PangaeaSource(base_url=pangaea.base_url, cache=cache).read(889513)
