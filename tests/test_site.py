"""The documentation site: it builds without warnings and a reader finds what it promises.

The site is built once per session, with the tutorial notebooks executed, into a
temporary folder. The tests then read the built pages: the tutorials hold their
outputs and figures, every how-to and guide page holds a picture, no code line is
wider than the page, and a headless Chromium opens the pages and fails on a
JavaScript error, a broken link, an empty sidebar, a code block wider than its
column or an image that did not load.

Chromium and graphviz come from Debian (``tools/system-packages.sh``, which
``make test`` runs); Playwright drives the installed ``chromium`` and never
downloads a browser of its own.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MAX_CODE_WIDTH = 88

# Building the site with its notebooks takes a minute or two on two cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@dataclass
class Site:
    """A built site: its folder, sphinx-build's exit status and its log."""

    html: Path
    returncode: int
    log: str

    def page(self, name: str) -> str:
        """Return the HTML text of the built page ``name`` (``"guide/pangaea.html"``)."""
        return (self.html / name).read_text("utf-8")


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    """Build the site once, notebooks executed, into a fresh folder."""
    out = tmp_path_factory.mktemp("site") / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               str(DOCS), str(out)]
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWIML_", "ECOTAXA_", "PANGAEA_", "MPLBACKEND"))}
    env.update(KERAS_BACKEND="torch")
    started = time.monotonic()
    # The output folder is new, so no cached environment can hide a warning.
    done = subprocess.run(command, capture_output=True, text=True, timeout=1100,
                          cwd=ROOT, env=env)
    log = (f"$ {' '.join(command)}\n(took {time.monotonic() - started:.0f} s)\n"
           f"{done.stdout}\n{done.stderr}")
    return Site(out, done.returncode, log)


def built(site: Site) -> Site:
    """Return ``site`` if its pages were written, or fail with the build's log."""
    if not (site.html / "index.html").is_file():
        pytest.fail(f"the site was not built:\n{site.log[-6000:]}")
    return site


def test_build_has_no_warnings(site):
    assert site.returncode == 0, f"sphinx-build warned or failed:\n{site.log[-8000:]}"
    assert (site.html / "index.html").is_file(), f"no index.html was written:\n{site.log}"


# -- What the pages hold ----------------------------------------------------

NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))


def article(html: str) -> str:
    """Return the page's main article, without the header, sidebars and footer."""
    start = html.find("<article")
    end = html.rfind("</article>")
    assert start >= 0 and end > start, "the page has no <article>"
    return html[start:end]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no tutorial notebooks"


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_tutorial_shows_its_outputs_and_figures(site, stem):
    name = f"tutorials/{stem}.html"
    path = built(site).html / name
    assert path.is_file(), f"{name} is not on the site; list it in docs/tutorials/index.md"
    text = article(path.read_text("utf-8"))
    assert "cell_output" in text, f"{name} shows no cell outputs: were the notebooks run?"
    assert text.count("<img") > 0, f"{name} shows no figure"
    assert "Traceback" not in text, f"{name} shows a Traceback"


def narrative_pages(html: Path, section: str) -> list[str]:
    """Return the built pages of one section (``"guide"``), its index page excepted."""
    return sorted(path.relative_to(html).as_posix()
                  for path in (html / section).glob("*.html") if path.name != "index.html")


def picture_count(text: str) -> int:
    """Count the pictures in an article: images, and graphviz diagrams in any format."""
    return len(re.findall(r"<img\b|<svg\b|<object\b[^>]*image/svg", text))


@pytest.mark.parametrize("section", ["how-to", "guide"])
def test_every_how_to_and_guide_page_holds_a_picture(site, section):
    pages = narrative_pages(built(site).html, section)
    assert pages, f"docs/{section}/ has no pages besides its index"
    bare = [name for name in pages if picture_count(article(site.page(name))) == 0]
    assert not bare, (
        f"pages without a picture: {bare}. Add a ```{{plot}}``` block that draws from "
        "the bundled data, or a ```{graphviz}``` diagram.")


# -- Code that fits the page -------------------------------------------------

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\S*)")
# Directives whose body is text, not code; the fences inside them are looked at.
NOT_CODE = re.compile(r"^\{(toctree|note|warning|tip|important|caution|admonition|"
                      r"seealso|attention|danger|error|hint|topic|sidebar|dropdown|"
                      r"tab-set|tab-item|grid|grid-item|grid-item-card|card|"
                      r"list-table|table|figure|eval-rst|glossary|rubric)\}")


def too_wide_code_lines(text: str) -> list[tuple[int, int]]:
    """Return ``(line number, width)`` of each code line wider than 88 characters.

    A fenced block is code unless it is a MyST directive whose body is prose
    (admonitions, toctrees, ...); fences nested in those are looked at in turn.
    """
    found = []
    stack: list[tuple[str, bool]] = []  # (fence, is code) of each open block
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if stack and stack[-1][1]:  # inside code: only its own fence closes it
            fence = stack[-1][0]
            if match and match.group(2)[0] == fence[0] and len(match.group(2)) >= len(fence) \
                    and not match.group(3):
                stack.pop()
            elif len(line) > MAX_CODE_WIDTH:
                found.append((number, len(line)))
            continue
        if match and stack and not match.group(3) and match.group(2)[0] == stack[-1][0][0] \
                and len(match.group(2)) >= len(stack[-1][0]):
            stack.pop()
        elif match and match.group(3):
            stack.append((match.group(2), not NOT_CODE.match(match.group(3))))
        elif match:  # a bare fence opens a code block without a language
            stack.append((match.group(2), True))
    return found


def markdown_sources() -> list[Path]:
    pages = [ROOT / "README.md"]
    for path in sorted(DOCS.rglob("*.md")):
        parts = path.relative_to(DOCS).parts
        if parts[0] in {"_build", "api"} and parts[:2] != ("api", "index.md"):
            continue
        pages.append(path)
    return pages


def test_width_check_finds_wide_lines():
    text = "```python\n" + "x" * 89 + "\n```\n````{note}\n```text\n" + "y" * 90 + "\n```\n````\n"
    text += ":::{tip}\n" + "z" * 100 + "\n:::\n"
    assert too_wide_code_lines(text) == [(2, 89), (6, 90)]


def test_no_code_line_is_wider_than_88_characters():
    wide = []
    for path in markdown_sources():
        for number, width in too_wide_code_lines(path.read_text("utf-8")):
            wide.append(f"{path.relative_to(ROOT)}:{number}: {width} characters")
    assert not wide, "code lines wider than 88 characters:\n" + "\n".join(wide)


def test_readme_points_to_the_quick_start():
    readme = (ROOT / "README.md").read_text("utf-8")
    targets = re.findall(r"\]\(([^)\s]*quickstart[^)\s]*)\)", readme)
    assert targets, "README.md has no link to the site's quick start (docs/quickstart.md)"
    for target in targets:
        if "://" not in target:  # a path in the repository must exist
            assert (ROOT / target.split("#")[0]).is_file(), f"README.md links to {target}"
    assert (DOCS / "quickstart.md").is_file()


# -- In a browser ------------------------------------------------------------

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Generated API pages beyond the module pages that the browser visits.
API_SAMPLE = 24
# Pages with no section of their own, where the sidebar may be empty.
NO_SIDEBAR = {"index.html", "search.html", "genindex.html", "py-modindex.html"}

INSPECT = """() => {
  const main = document.querySelector('.bd-main') || document.body;
  const wide = [...main.querySelectorAll('pre')]
    .filter(pre => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => `${pre.scrollWidth} > ${pre.clientWidth} px: `
                + (pre.textContent.split('\\n').find(l => l.length > 60) || '').slice(0, 100));
  const unloaded = [...document.images]
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute('src'));
  const sidebar = document.querySelectorAll('#pst-primary-sidebar nav.bd-links a').length;
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  return {wide, unloaded, sidebar, links};
}"""


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.fail("chromium is not installed: run `tools/system-packages.sh` "
                    "(or `make system`, or `apt-get install chromium` as root)")
    return path


def pages_to_visit(html: Path) -> list[str]:
    """Return every built page, the generated API pages sampled (module pages all)."""
    pages, generated = [], []
    for path in sorted(html.rglob("*.html")):
        name = path.relative_to(html).as_posix()
        if name.startswith(("_static/", "_sources/", "_images/")):
            continue
        (generated if name.startswith("api/generated/") else pages).append(name)
    modules = [name for name in generated
               if 'class="py module"' in (html / name).read_text("utf-8")
               or re.search(r'id="module-awiml', (html / name).read_text("utf-8"))]
    others = [name for name in generated if name not in modules]
    step = max(1, len(others) // API_SAMPLE)
    return pages + modules + others[::step]


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    """Return the ids and anchor names that a built page defines."""
    text = path.read_text("utf-8")
    return frozenset(unquote(name) for name in
                     re.findall(r'\b(?:id|name)="([^"]+)"', text))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def test_pages_in_a_browser(site):
    html = built(site).html
    from playwright.sync_api import sync_playwright

    executable = chromium()
    handler = functools.partial(QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems: list[str] = []
    visited = pages_to_visit(html)
    started = time.monotonic()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable,
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            current = {"name": ""}
            page.on("pageerror", lambda error: problems.append(
                f"{current['name']}: JavaScript error: {error}"))

            def on_console(message):
                # Chromium asks every site for a favicon; the site has none.
                if message.type == "error" and not message.location.get(
                        "url", "").endswith("/favicon.ico"):
                    problems.append(f"{current['name']}: console error: {message.text}")

            page.on("console", on_console)
            for name in visited:
                current["name"] = name
                response = page.goto(base + name, wait_until="load")
                if response is None or not response.ok:
                    problems.append(f"{name}: HTTP {response and response.status}")
                    continue
                found = page.evaluate(INSPECT)
                problems += [f"{name}: code block wider than its column: {line}"
                             for line in found["wide"]]
                problems += [f"{name}: image did not load: {src}"
                             for src in found["unloaded"]]
                if found["sidebar"] == 0 and name not in NO_SIDEBAR:
                    problems.append(f"{name}: the left sidebar is empty")
                problems += [f"{name}: {problem}"
                             for problem in broken_links(html, base, found["links"])]
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    took = time.monotonic() - started
    assert not problems, (f"{len(problems)} problems on {len(visited)} pages "
                          f"({took:.0f} s):\n" + "\n".join(sorted(set(problems))[:80]))


def broken_links(html: Path, base: str, links: list[str]) -> list[str]:
    """Return the internal links that point to no built page, or to a missing anchor."""
    broken = []
    for link in sorted(set(links)):
        if not link.startswith(base):
            continue  # another site, or mailto:/javascript:
        parts = urlsplit(link)
        target = unquote(parts.path[len(urlsplit(base).path):]) or "index.html"
        if target.endswith("/"):
            target += "index.html"
        path = html / target
        if not path.is_file():
            broken.append(f"link to a page not in the build: {target}")
        elif parts.fragment and path.suffix == ".html" \
                and unquote(parts.fragment) not in anchors(path):
            broken.append(f"link to a missing anchor: {target}#{parts.fragment}")
    return broken
