"""The documentation builds without warnings, its contents are complete, its code runs."""

from __future__ import annotations

import os
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


# The site's build, with its no-warnings check, is in tests/test_site.py.


ROOT = DOCS.parent
SKIP_MARK = "# Not run offline:"
PAGES_WITH_CODE = sorted(
    path.relative_to(ROOT).as_posix()
    for path in [ROOT / "README.md", *DOCS.rglob("*.md")]
    if (path.parent == ROOT or not path.relative_to(DOCS).parts[0].startswith(("_", "api")))
    and "```python" in path.read_text("utf-8")
)


def page_script(page: Path) -> str:
    """Return the page's Python blocks as one script, each line at its line in the page.

    Blocks that start with ``# Not run offline:`` (the real archives, files of your own,
    signatures) are left out; the others run in order as one session, as a reader
    copying them would. Keeping the line numbers makes a traceback point into the page.
    """
    lines = page.read_text("utf-8").splitlines()
    script = [""] * len(lines)
    inside = False
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        if not inside and line.strip() == "```python":
            inside, block = True, []
        elif inside and line.strip() == "```":
            inside = False
            if block and not block[0][1].startswith(SKIP_MARK):
                for at, text in block:
                    script[at] = text
        elif inside:
            block.append((number, line))
    return "\n".join(script) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES_WITH_CODE)
def test_code_blocks_of_the_page_run(name, tmp_path):
    """Every Python block of README.md and docs/ runs against the emulators, offline."""
    page = ROOT / name
    script = tmp_path / (page.stem + ".py")
    script.write_text(page_script(page), "utf-8")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWIML_", "ECOTAXA_", "PANGAEA_"))}
    env.update(HOME=str(tmp_path), MPLBACKEND="Agg", KERAS_BACKEND="torch",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, (
        f"a code block of {name} failed (line numbers are the page's):\n"
        + done.stderr.replace(str(script), name)[-4000:])
