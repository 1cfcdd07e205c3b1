"""The package's layout: one-way data flow, no import cycles, every public name importable.

Data flow one way: archives -> workspace -> preprocess/features/datasets ->
classify -> store. A package may import from the ones to its left and from
the foundation modules (errors, units, the shared helpers), never from one to
its right; nothing but the demo imports ``testing``. See docs/architecture.md.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import awiml
from awiml._moved import MOVED

PACKAGE = Path(awiml.__file__).parent

# Rank of each top-level part of awiml: a part may import parts of lower rank (and itself).
FOUNDATION = ("errors", "units", "_files", "_progress", "_html", "_version", "_moved",
              "__init__")
RANKS = {
    **dict.fromkeys(FOUNDATION, 0),
    "archives": 1,
    "scale": 1,
    "workspace": 2,
    "preprocess": 3,
    "features": 3,
    "datasets": 3,
    "classify": 4,
    "store": 5,
    "cli": 6,
    "demo": 6,
    "testing": 7,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "data" not in p.parts}


def imports_of(name: str, path: Path) -> set[str]:
    """The awiml modules ``name`` imports anywhere, TYPE_CHECKING blocks aside."""
    tree = ast.parse(path.read_text("utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = node.module
            if node.level:
                module = f"{base}.{node.module}" if node.module else base
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("awiml"):
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def test_the_walk_sees_the_package():
    assert len(MODULES) > 40
    assert "awiml.archives.pangaea.text" in GRAPH["awiml.archives.pangaea.source"]


def test_no_import_cycles():
    # Tarjan's strongly connected components; a package's __init__ importing its own
    # submodules (lazily, through its stub) is no cycle.
    def edges(module):
        return {t for t in GRAPH[module]
                if not (MODULES[module].name == "__init__.py" and t.startswith(module + "."))
                and not module.startswith(t + ".")}

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_data_flows_one_way():
    wrong = []
    for module, targets in GRAPH.items():
        here = part(module)
        for target in targets:
            there = part(target)
            if there == here or RANKS[there] == 0:
                continue
            if there == "testing":
                if here != "demo":
                    wrong.append(f"{module} imports {target} (only the demo uses awiml.testing)")
            elif RANKS[there] >= RANKS[here] and here != "testing":
                wrong.append(f"{module} imports {target}, which lies downstream or beside it")
    assert not wrong, "\n".join(wrong)


def test_every_part_has_a_rank():
    assert {part(module) for module in MODULES} <= set(RANKS)


def stub_names(package: str) -> list[str]:
    module = importlib.import_module(package)
    return [name for name in dir(module) if not name.startswith("__")]


@pytest.mark.parametrize("package", sorted(
    name for name, path in MODULES.items()
    if path.name == "__init__.py" and (path.parent / "__init__.pyi").exists()
))
def test_every_name_in_a_stub_resolves(package):
    module = importlib.import_module(package)
    for name in stub_names(package):
        assert getattr(module, name) is not None, f"{package}.{name}"


PUBLIC = [
    "awiml.Workspace", "awiml.ModelStore", "awiml.PangaeaSource", "awiml.EcotaxaSource",
    "awiml.preprocess.HarmoniseColumns", "awiml.preprocess.ConvertUnits",
    "awiml.preprocess.QualityFilter", "awiml.preprocess.DropMissing",
    "awiml.preprocess.concat_tables", "awiml.features.Spectrogram",
    "awiml.features.ImageFeatures", "awiml.features.ImageTensor", "awiml.features.extract",
    "awiml.classify.KerasClassifier", "awiml.classify.build_mlp", "awiml.classify.evaluate",
    "awiml.datasets.ImageDataset", "awiml.datasets.synthetic_calls",
    "awiml.archives.pangaea.read_text", "awiml.archives.pangaea.PangaeaSource",
    "awiml.archives.ecotaxa.read_tsv", "awiml.archives.ecotaxa.EcotaxaSource",
    "awiml.archives.RemoteFile", "awiml.archives.download", "awiml.archives.RetryPolicy",
    "awiml.workspace.ManifestEntry", "awiml.store.model_card", "awiml.store.ModelStoreError",
    "awiml.testing.FileServer", "awiml.testing.Fault", "awiml.testing.PangaeaServer",
    "awiml.testing.EcotaxaServer", "awiml.testing.pangaea.PangaeaServer",
    "awiml.testing.ecotaxa.EcotaxaServer",
]


@pytest.mark.parametrize("dotted", PUBLIC)
def test_public_names_import(dotted):
    module, _, name = dotted.rpartition(".")
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize("old", sorted(MOVED))
def test_module_paths_of_0_1_0_still_import(old, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)  # an earlier import warned already
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])
    assert module.__spec__.name == MOVED[old]
    assert any(MOVED[old] in str(w.message) and w.category is DeprecationWarning for w in caught)


def test_persisted_classes_keep_their_public_path():
    from awiml.store._trust_policy import TRUSTED_TYPES

    for dotted in (t for t in TRUSTED_TYPES if t.startswith("awiml.")):
        module, _, name = dotted.rpartition(".")
        obj = getattr(importlib.import_module(module), name)
        assert obj.__module__ == module, dotted


def test_old_paths_in_a_fresh_interpreter():
    code = ("import warnings; warnings.simplefilter('error');"
            "from awiml.preprocess import HarmoniseColumns;"
            "import awiml.archives.ecotaxa as e; assert e.read_tsv;"
            "warnings.simplefilter('ignore');"
            "from awiml.transfer import RetryPolicy; from awiml.manifest import ManifestEntry;"
            "import awiml.archives.pangaea_text as t; import awiml.archives.pangaea.text as u;"
            "assert t is u and RetryPolicy.__module__ == 'awiml.archives.http'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_a_broken_awiml_import_fails_the_test_instead_of_skipping(tmp_path):
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\n"
        "def test_needs_a_module():\n"
        "    pytest.importorskip('awiml.no_such_module')\n"
        "def test_needs_an_optional_library():\n"
        "    pytest.importorskip('no_such_library_anywhere')\n"
    )
    tests = Path(__file__).parent
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q",
         str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tests)},
    )
    assert "1 failed, 1 skipped" in result.stdout, result.stdout
