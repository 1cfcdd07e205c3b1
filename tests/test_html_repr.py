"""Workspace, VerifyReport, ModelStore, its reports and ImageDataset show themselves as HTML.

Through ``_repr_html_`` as Jupyter calls it: what is in them, bounded for large
ones, never raising for empty or half-made ones, and every name escaped.
"""

from __future__ import annotations

import base64
import io
import os
import time
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import sha256
from PIL import Image
from sklearn.linear_model import LogisticRegression

from awiml import ModelStore, Workspace
from awiml.classify import EvaluationReport
from awiml.datasets import ImageDataset
from awiml.workspace import ManifestEntry, write_manifest

EVIL = "<script>alert(1)</script>"
EVIL_FILE = "<script>alert(1)<.tab"  # '/' cannot be in a file name


class Page(HTMLParser):
    """The tags, text and images of a rendered repr."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def render(obj) -> Page:
    markup = obj._repr_html_()
    assert isinstance(markup, str)
    page = Page(markup)
    assert "script" not in page.tags, "markup from a name was not escaped"
    return page


def clf() -> LogisticRegression:
    return LogisticRegression().fit([[0.0], [1.0]], [0, 1])


# ----------------------------------------------------------------------------- Workspace


def test_workspace_html_lists_raw_newest_first_and_escapes_names(tmp_path, server):
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / EVIL_FILE).write_text("x")
    ws = Workspace.create(tmp_path / "ws")
    ws.fetch((folder / EVIL_FILE).as_uri(), progress=False)
    server.add("ctd.tab", b"depth\n1\n")
    ws.fetch(server.url("ctd.tab"), checksum=sha256(b"depth\n1\n"), progress=False)
    page = render(ws)
    text = page.all_text
    assert EVIL_FILE in text  # shown as text
    assert "Workspace ws" in text and "2 files" in text
    assert "1 checked against a published checksum, 1 only computed on arrival" in text
    for folder_name in ("raw/", "src/", "model/"):
        assert folder_name in text
    assert repr(ws) == f"Workspace({str(ws.root)!r})"


def test_workspace_html_is_bounded_and_fast_on_a_big_manifest(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    entries = [
        ManifestEntry(f"d/{i:05d}.tab", f"https://example.org/{i}", i, sha256(b"%d" % i),
                      f"2026-01-01T00:{i // 600 % 60:02d}:{i // 10 % 60:02d}Z", "0.1.0")
        for i in range(20_000)
    ]
    write_manifest(ws.manifest_path, entries)
    start = time.perf_counter()
    page = render(ws)
    assert time.perf_counter() - start < 3.0
    text = page.all_text
    assert "20000 files" in text and "... and 19980 more" in text
    assert page.tags.count("tr") < 40
    assert "d/19999.tab" in text  # the newest first


def test_workspace_html_of_an_empty_or_half_made_workspace(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    assert "empty" in render(ws).all_text
    (ws.root / ".awiml" / "workspace.json").write_text("{not json")
    ws.manifest_path.write_text("not a manifest line\n")
    (ws.root / "interim").rmdir()
    text = render(ws).all_text
    assert "missing" in text and "could not be read" in text and "unknown" in text


def test_verify_report_html_lists_what_differs(tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a.tab").write_text("a")
    (folder / "b.tab").write_text("b")
    ws = Workspace.create(tmp_path / "ws")
    ws.fetch(folder.as_uri(), progress=False)
    (ws.raw / "incoming" / "a.tab").unlink()
    (ws.raw / EVIL_FILE).write_text("extra")
    report = ws.verify()
    text = render(report).all_text
    assert "differs" in text and "incoming/a.tab" in text and EVIL_FILE in text
    assert "missing" in text and "extra" in text
    assert repr(report) == "<VerifyReport differs: 1 checked, 1 missing, 1 extra, 1 computed_only>"


# ----------------------------------------------------------------------------- ModelStore


def test_model_store_html_shows_models_newest_first(tmp_path):
    store = ModelStore(tmp_path / "store")
    store.save(clf(), "first", metrics={"accuracy": 0.5})
    store.save(clf(), "second", metrics={"accuracy": 0.75}, alias="production",
               tags={"cruise": EVIL}, notes=EVIL)
    for folder in ("versions", "aliases"):  # "first" changed an hour ago
        path = store.path / "first" / folder
        if path.exists():
            os.utime(path, (time.time() - 3600,) * 2)
    text = render(store).all_text
    assert "first" in text and "second" in text and "production=1" in text
    assert "accuracy 0.75" in text and "models 2" in text.replace("\n", " ")
    assert text.index("second") < text.index("first")  # the last change first
    assert repr(store) == f"ModelStore({str(store.path)!r})"


def test_model_store_html_is_bounded(tmp_path):
    store = ModelStore(tmp_path / "store")
    model = clf()
    for i in range(23):
        store.save(model, f"m{i:02d}")
    page = render(store)
    assert "... and 3 more" in page.all_text and page.tags.count("tr") < 30


def test_model_store_html_of_an_empty_missing_or_damaged_store(tmp_path):
    assert "none yet" in render(ModelStore(tmp_path / "nowhere")).all_text
    store = ModelStore(tmp_path / "store")
    store.save(clf(), "broken")
    record = store.path / "broken" / "versions" / "1" / "version.json"
    record.chmod(0o644)
    record.write_text("{damaged")
    (store.path / "empty" / "versions").mkdir(parents=True)
    text = render(store).all_text
    assert "broken" in text and "no versions" in text


def test_store_verify_report_html(tmp_path):
    store = ModelStore(tmp_path / "store")
    store.save(clf(), "m")
    (store.path / "m" / "aliases" / "old").write_text("7\n")
    text = render(store.verify()).all_text
    assert "differs" in text and "m@old -> 7" in text


def test_model_store_tables_render_escaped(tmp_path):
    store = ModelStore(tmp_path / "store")
    store.save(clf(), "m", metrics={"accuracy": 1.0}, tags={"note": EVIL})
    store.save(clf(), "m", metrics={"accuracy": 0.5})
    for table in (store.list(), store.versions("m"), store.diff("m@1", "m@2")):
        render(table)


# ----------------------------------------------------------------------------- ImageDataset


def write_png(path, size=(300, 200), value=120):
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)


def test_image_dataset_html_shows_classes_and_small_thumbnails(tmp_path):
    paths, labels = [], []
    for i in range(30):
        path = tmp_path / f"img{i}.png"
        write_png(path, value=i * 8)
        paths.append(path)
        labels.append(EVIL if i % 3 == 0 else f"class{i % 12}")
    ds = ImageDataset(paths, labels, features={"object_area": np.arange(30.0)})
    page = render(ds)
    text = page.all_text
    assert EVIL in text and "30" in text and "object_area" in text
    assert 0 < len(page.images) <= 8
    for image in page.images:
        mime, _, data = image["src"].partition(";base64,")
        assert mime in ("data:image/png", "data:image/jpeg")
        with Image.open(io.BytesIO(base64.b64decode(data))) as thumb:
            assert max(thumb.size) <= 96
    assert "... and" in text or len(ds.classes) <= 20
    assert repr(ds).startswith("<ImageDataset: 30 images of")


def test_image_dataset_html_survives_missing_and_corrupt_images(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    np.save(tmp_path / "arr.npy", np.random.default_rng(0).random((40, 40)))
    write_png(tmp_path / "good.png")
    ds = ImageDataset([tmp_path / "gone.png", tmp_path / "bad.jpg", tmp_path / "arr.npy",
                       tmp_path / "good.png"], ["a", "b", "c", "d"])
    page = render(ds)
    assert "missing" in page.all_text and "not readable" in page.all_text
    assert len(page.images) == 2
    assert "ImageDataset" in render(ImageDataset([], [])).all_text


def test_image_dataset_html_is_bounded_on_many_images(tmp_path):
    write_png(tmp_path / "one.png")
    n = 50_000
    ds = ImageDataset([tmp_path / "one.png"] * n, [f"c{i % 500}" for i in range(n)])
    start = time.perf_counter()
    page = render(ds)
    assert time.perf_counter() - start < 3.0
    assert len(page.images) == 8 and "... and 480 more" in page.all_text


# ----------------------------------------------------------------------------- one implementation


@pytest.mark.parametrize("label", [EVIL, "Copepoda"])
def test_evaluation_report_html_uses_the_same_rendering(label):
    report = EvaluationReport.from_predictions([label, "b", "b"], [label, "b", label],
                                               model_name=EVIL)
    markup = report._repr_html_()
    page = render(report)
    assert "awiml-repr" in markup and EVIL in page.all_text
