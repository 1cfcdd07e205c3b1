"""The tests that docs/guide/emulators.md shows pass when a user runs them with pytest (issue 12).

tests/test_docs.py runs the page's blocks as a script, which only defines its test
functions; here they run as the test module a user copies them into, with the
fixtures of awiml's pytest plugin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs import ROOT, page_script

PAGE = ROOT / "docs" / "guide" / "emulators.md"


@pytest.mark.slow
def test_the_tests_shown_in_testing_md_pass_under_pytest(tmp_path: Path) -> None:
    names = re.findall(r"^def (test_\w+)\(", PAGE.read_text("utf-8"), re.M)
    assert len(names) >= 6, names
    module = tmp_path / "test_from_the_page.py"
    module.write_text(page_script(PAGE), "utf-8")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWIML_", "ECOTAXA_", "PANGAEA_"))}
    env.update(HOME=str(tmp_path), MPLBACKEND="Agg", KERAS_BACKEND="torch",
               PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
         "--rootdir", str(tmp_path), str(module)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280,
    )
    report = done.stdout.replace(str(module), "docs/guide/emulators.md") + done.stderr
    assert done.returncode == 0, f"a test shown in docs/guide/emulators.md fails:\n{report[-4000:]}"
    passed = set(re.findall(r"^PASSED \S+::(test_\w+)", done.stdout, re.M))
    assert passed == set(names), f"not every test of the page ran:\n{report[-4000:]}"
