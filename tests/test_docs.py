"""The documentation builds without warnings and its table of contents is complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def toctree_entries(page: Path) -> list[str]:
    """Return the documents listed in the MyST ``{toctree}`` blocks of ``page``."""
    entries = []
    blocks = re.findall(r"^```\{toctree\}[^\n]*\n(.*?)^```", page.read_text("utf-8"), re.M | re.S)
    for block in blocks:
        for line in block.splitlines():
            line = line.strip()
            if not line or line.startswith(":"):
                continue
            # "Title <target>" entries name their document in angle brackets.
            match = re.fullmatch(r".*<(.+)>", line)
            entries.append(match.group(1) if match else line)
    return entries


def test_every_toctree_entry_exists():
    entries = toctree_entries(DOCS / "index.md")
    assert entries, "docs/index.md has no toctree entries"
    missing = [
        entry
        for entry in entries
        if not any((DOCS / f"{entry}{suffix}").is_file() for suffix in (".md", ".rst"))
    ]
    assert not missing, f"pages listed in docs/index.md but missing in docs/: {missing}"


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path):
    out = tmp_path / "html"
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        str(DOCS),
        str(out),
    ]
    # The output folder is new, so no cached environment can hide a warning.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = f"$ {' '.join(command)}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"sphinx-build failed:\n{output}"
    assert (out / "index.html").is_file(), f"no index.html was written:\n{output}"
