r"""pytest plugin with awiml's test fixtures.

Installing awiml registers this module with pytest through the ``pytest11``
entry point, so its fixtures are available in every test suite of an
environment where awiml is installed: no ``conftest.py`` and no
``pytest_plugins`` line are needed. ``pytest --fixtures`` lists them;
``pytest -p no:awiml`` switches the plugin off.

The fixture ``awiml_file_server`` yields a started
:class:`awiml.testing.FileServer` serving the test's own
``tmp_path / "served"`` directory, and stops it after the test.
``awiml_pangaea_server`` yields a started :class:`awiml.testing.PangaeaServer`
holding awiml's real sample dataset (doi:10.1594/PANGAEA.889513).
``awiml_ecotaxa_server`` yields a started :class:`awiml.testing.EcotaxaServer`
holding awiml's real plankton vignettes as project 1 and the user
``alice`` (password ``secret``).
``awiml_o2a_server`` yields a started :class:`awiml.testing.O2AServer` serving
awiml's sample sensors and registry items.
``awiml_hsm_server`` yields a started :class:`awiml.testing.HSMServer` (SSH,
SFTP, ``sls -D`` and ``stage``) serving ``tmp_path / "hsm"``, with the user
``alice`` (password ``secret``), two drives and scaled-down mounts.

Examples
--------
A test in any project that has awiml installed::

    import requests

    def test_download(awiml_file_server):
        (awiml_file_server.root / "a.csv").write_text("x,y\\n1,2\\n")
        reply = requests.get(awiml_file_server.url("a.csv"), timeout=5)
        assert reply.text == "x,y\\n1,2\\n"
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import FileServer

__all__ = [
    "awiml_ecotaxa_server",
    "awiml_file_server",
    "awiml_hsm_server",
    "awiml_o2a_server",
    "awiml_pangaea_server",
]


@pytest.fixture
def awiml_file_server(tmp_path: Path) -> Iterator[FileServer]:
    """Yield a running :class:`~awiml.testing.FileServer` for one test.

    Its ``root`` is ``tmp_path / "served"`` (created empty): files written
    there are served under their relative paths. :meth:`FileServer.add`,
    :meth:`FileServer.inject` and :meth:`FileServer.route` work as usual.
    The server is stopped after the test.

    Parameters
    ----------
    tmp_path : pathlib.Path
        pytest's per-test temporary directory.

    Yields
    ------
    FileServer
        The started server.
    """
    root = tmp_path / "served"
    root.mkdir(parents=True, exist_ok=True)
    with FileServer(root) as server:
        yield server


@pytest.fixture
def awiml_pangaea_server() -> Iterator[Any]:
    """Yield a running :class:`~awiml.testing.PangaeaServer` with awiml's sample data.

    The sample is the real PANGAEA dataset doi:10.1594/PANGAEA.889513 bundled
    with awiml. Point a source at it with
    ``PangaeaSource(base_url=server.base_url, cache=False)``, or set
    ``AWIML_PANGAEA_URL`` to ``server.base_url`` for code that builds its own
    sources. Add more datasets with :meth:`PangaeaServer.add_dataset`.

    Yields
    ------
    PangaeaServer
        The started emulator.
    """
    yield from _with_sample_data("pangaea", "PangaeaServer")


@pytest.fixture
def awiml_ecotaxa_server() -> Iterator[Any]:
    """Yield a running :class:`~awiml.testing.EcotaxaServer` with awiml's sample data.

    Project 1 holds the 400 real plankton vignettes bundled with awiml (see
    :meth:`EcotaxaServer.add_sample_data`); the user ``alice`` with password
    ``secret`` can log in. Point a client at ``server.api_url``, or set
    ``AWIML_ECOTAXA_URL`` to it for code that builds its own clients. Add
    users, projects and job outcomes with :meth:`EcotaxaServer.add_user`,
    :meth:`EcotaxaServer.add_project` and
    :meth:`EcotaxaServer.next_export_outcome`. The server is stopped after
    the test.

    Yields
    ------
    EcotaxaServer
        The started emulator.
    """
    from .ecotaxa import EcotaxaServer

    with EcotaxaServer() as server:
        server.add_sample_data()
        server.add_user("alice", "secret")
        yield server


@pytest.fixture
def awiml_o2a_server() -> Iterator[Any]:
    """Yield a running :class:`~awiml.testing.O2AServer` with awiml's sample sensors.

    The data service answers at ``server.data_url``, the registry at
    ``server.registry_url``; set ``AWIML_O2A_URL`` and ``AWIML_O2A_REGISTRY_URL``
    to them for code that builds its own clients. The sample data are described
    in :meth:`O2AServer.add_sample_data`; add sensors with
    :meth:`O2AServer.add_sensor`, make chunks fail with :meth:`O2AServer.fail_range`.
    The server is stopped after the test.

    Yields
    ------
    O2AServer
        The started emulator.
    """
    yield from _with_sample_data("o2a", "O2AServer")


def _with_sample_data(module: str, name: str) -> Iterator[Any]:
    """Run emulator ``name`` of ``awiml.testing.<module>`` with its sample data."""
    emulator = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    with emulator() as server:
        server.add_sample_data()
        yield server


@pytest.fixture
def awiml_hsm_server(tmp_path: Path) -> Iterator[Any]:
    """Yield a running :class:`~awiml.testing.HSMServer`, the tape archive, for one test.

    The archive's ``/`` is the folder ``tmp_path / "hsm"`` (made empty); the
    user ``alice`` logs in with password ``secret``; two drives mount a volume
    in 0.05 seconds and read 50 MB a second. Add files with
    :meth:`HSMServer.add_file` and users with :meth:`HSMServer.add_user`;
    clients connect to ``server.host`` and ``server.port`` with
    ``known_hosts=None``, since the host key is new for each server. After
    the test the server, its event loop and its thread are stopped.

    Parameters
    ----------
    tmp_path : pathlib.Path
        Where the archive's folder is made: pytest's directory for the test.

    Yields
    ------
    HSMServer
        The emulator, listening on the loopback interface.
    """
    from .hsm import HSMServer

    with HSMServer(tmp_path / "hsm", users={"alice": "secret"}, drives=2, mount_time=0.05,
                   read_rate=50e6) as server:
        yield server
