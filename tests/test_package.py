"""Packaging promises: fast, light `import awiml`, lazy public names, entry points, licence."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points, metadata

import awiml

HEAVY = ("keras", "torch", "dask", "tensorflow", "jax", "sklearn", "xarray", "pandas", "h5py")


def test_import_awiml_loads_no_heavy_module():
    code = "import awiml, sys; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert [m for m in HEAVY if m in loaded] == []


def test_public_names_resolve_lazily():
    assert {"Workspace", "archives", "errors", "testing", "__version__"} <= set(dir(awiml))
    assert awiml.Workspace.__module__ == "awiml.workspace.workspace"
    assert issubclass(awiml.errors.NotFoundError, awiml.errors.AwimlError)
    assert awiml.archives.RemoteFile.__module__ == "awiml.archives.base"


def test_every_error_derives_from_awiml_error():
    import inspect

    from awiml import errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, Exception) and c.__module__ == "awiml.errors"]
    assert len(classes) >= 8
    assert all(issubclass(c, errors.AwimlError) for c in classes)


def test_metadata_licence_and_version():
    meta = metadata("awiml")
    assert meta["Version"] == awiml.__version__
    assert meta["License-Expression"] == "GPL-3.0-or-later"
    required = " ".join(meta.get_all("Requires-Dist"))
    for dep in ("requests", "pangaeapy", "fsspec", "xarray", "numpy", "pandas",
                "scikit-learn", "keras", "h5py"):
        assert dep in required


def test_entry_points_registered():
    assert "awiml" in {e.name for e in entry_points(group="console_scripts")}
    plugin = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugin["awiml"] == "awiml.testing.plugin"


def test_plugin_fixture_serves_its_root(awiml_file_server):
    import requests

    (awiml_file_server.root / "hello.txt").write_text("hi")
    assert requests.get(awiml_file_server.url("hello.txt"), timeout=5).text == "hi"


def test_redact_url_strips_secrets():
    from awiml.errors import redact_url

    assert redact_url("https://u:p@h.org:8443/x?token=abc&b=1") == "https://h.org:8443/x?token=***&b=1"
    assert redact_url("pangaea://10.1594/PANGAEA.889513") == "pangaea://10.1594/PANGAEA.889513"


def test_silent_progress_bars_never_load_tqdm_notebook_code(tmp_path):
    # tqdm.auto warns "IProgress not found" on import in Jupyter without ipywidgets,
    # even for a disabled bar: a fetch with progress=False must not import it
    code = (
        "import sys, awiml\n"
        f"ws = awiml.Workspace.create({str(tmp_path / 'w')!r})\n"
        f"open({str(tmp_path / 'a.txt')!r}, 'w').write('a')\n"
        f"ws.fetch({(tmp_path / 'a.txt').as_uri()!r}, progress=False)\n"
        "assert 'tqdm.autonotebook' not in sys.modules, 'tqdm.auto imported'\n"
        "assert 'tqdm.std' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
