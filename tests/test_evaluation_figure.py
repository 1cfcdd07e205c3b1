"""The confusion-matrix figure of an EvaluationReport: no text runs into another panel."""

from __future__ import annotations

import io

import numpy as np
import pytest

from awiml.classify import EvaluationReport

LABEL_SETS = {
    "two": ["a", "b"],
    "calls": ["downsweep", "noise", "tone", "upsweep"],
    "few long": ["Calanus finmarchicus (copepodite V)", "Oithona similis", "detritus"],
    "taxa": [
        "Calanus finmarchicus (copepodite V)",
        "detritus<living",
        "Oithona similis",
        "nauplii<Crustacea",
        "Appendicularia",
        "Chaetognatha",
        "t001",
        "badfocus<artefact",
    ],
}
LONG_NAME = (
    "Pipeline(steps=[('harmonise', HarmoniseColumns(...)), ('units', ConvertUnits(...)), "
    "('spectrogram', Spectrogram(...)), ('scale', StandardScaler()), "
    "('classify', LogisticRegression(max_iter=2000))])"
)


def _report(labels: list[str], model_name: str | None) -> EvaluationReport:
    rng = np.random.default_rng(0)
    y_true = rng.choice(labels, 200)
    y_pred = np.where(rng.random(200) < 0.8, y_true, rng.choice(labels, 200))
    return EvaluationReport.from_predictions(y_true, y_pred, model_name=model_name)


def _texts(ax, renderer):
    """Return (what, bounding box) of every visible text that belongs to ``ax``."""
    def shown(labels, axis: int, limits) -> list:
        # Ticks outside the view limits (a colour bar's next round number) are not drawn.
        low, high = sorted(limits)
        return [t for t in labels if low - 1e-9 <= t.get_position()[axis] <= high + 1e-9]

    items = [
        ("title", ax.title),
        ("x label", ax.xaxis.label),
        ("y label", ax.yaxis.label),
        *[("x tick label", t) for t in shown(ax.get_xticklabels(), 0, ax.get_xlim())],
        *[("y tick label", t) for t in shown(ax.get_yticklabels(), 1, ax.get_ylim())],
    ]
    return [
        (f"{what} {text.get_text()!r}", text.get_window_extent(renderer))
        for what, text in items
        if text.get_visible() and text.get_text()
    ]


def _overlaps(fig, renderer) -> list[str]:
    """Return what overlaps what in ``fig`` as drawn by ``renderer``."""
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == len(colorbars)
    figure_box = fig.bbox
    problems = []
    for i, ax in enumerate(panels):
        # Everything this panel writes, against the other panels and their colour bars.
        others = [(o, "axes") for k, o in enumerate(panels) if k != i]
        others += [(c, "colour bar") for k, c in enumerate(colorbars) if k != i]
        for what, box in _texts(ax, renderer) + _texts(colorbars[i], renderer):
            for other, kind in others:
                if box.overlaps(other.get_tightbbox(renderer)):
                    problems.append(f"panel {i}: {what} overlaps the other panel's {kind}")
            inside = (
                box.x0 >= figure_box.x0 - 1
                and box.x1 <= figure_box.x1 + 1
                and box.y0 >= figure_box.y0 - 1
                and box.y1 <= figure_box.y1 + 1
            )
            if not inside:
                problems.append(f"panel {i}: {what} is cut off at the figure's edge")
    if fig._suptitle is not None:
        title = fig._suptitle.get_window_extent(renderer)
        if any(title.overlaps(ax.get_tightbbox(renderer)) for ax in fig.axes):
            problems.append("the title overlaps a panel")
        # The wrapped title of a long pipeline stays within the figure (issue 12).
        if title.x0 < figure_box.x0 - 1 or title.x1 > figure_box.x1 + 1:
            problems.append("the title is cut off at the figure's edge")
    return problems


def _saved(fig, dpi: float) -> list[str]:
    """Show ``fig``, save it at ``dpi`` as the ModelStore and Jupyter do; return its overlaps.

    The boxes are measured while the figure is being saved, at the saved resolution.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # shown first, at the figure's own resolution
    found: list[list[str]] = []
    canvas.mpl_connect("draw_event", lambda event: found.append(_overlaps(fig, event.renderer)))
    fig.savefig(io.BytesIO(), format="png", dpi=dpi)
    assert found, "saving did not draw the figure"
    return found[-1]


@pytest.mark.parametrize("dpi", [80, 150])
@pytest.mark.parametrize("model_name", [None, LONG_NAME])
@pytest.mark.parametrize("labels", list(LABEL_SETS), ids=str)
def test_no_text_overlaps_another_panel_or_leaves_the_figure(labels, model_name, dpi):
    fig = _report(LABEL_SETS[labels], model_name).figure()
    problems = _saved(fig, dpi)
    assert not problems, "\n".join(problems)


def test_single_panel_kinds_still_draw():
    report = _report(LABEL_SETS["calls"], "LogisticRegression")
    for kind in ("counts", "normalized"):
        fig = report.figure(kind=kind)
        assert not _saved(fig, 80)
        assert [ax.get_xlabel() for ax in fig.axes if ax.get_label() != "<colorbar>"] == [
            "Predicted label"
        ]
