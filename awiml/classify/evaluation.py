"""The evaluation of a fitted classifier on labelled test data: :func:`evaluate`.

It imports nothing of awiml but the HTML helpers of ``awiml._html``, nor
Keras; matplotlib is loaded when a figure is drawn, scikit-learn's metrics
when a report is computed.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import unique_labels

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["EvaluationReport", "evaluate"]


def _final_estimator(model: Any) -> Any:
    """Return the estimator that predicts: the last Pipeline step, a search's best estimator."""
    for _ in range(10):
        if hasattr(model, "best_estimator_"):
            model = model.best_estimator_
        elif hasattr(model, "steps") and model.steps:
            model = model.steps[-1][1]
        else:
            break
    return model


def _model_name(model: Any) -> str:
    """Return a short name of ``model``, e.g. ``"Pipeline(StandardScaler -> SVC)"``."""
    if hasattr(model, "steps"):
        return "Pipeline(" + " -> ".join(_model_name(step) for _, step in model.steps) + ")"
    return type(model).__name__


#: Lines the figure title may take before middle steps of a long pipeline are left out.
_TITLE_LINES = 3


def _fitted_title(name: str, tail: str, width: float) -> str:
    """Return ``"<name>: <tail>"`` wrapped (and shortened) to lines of at most ``width`` points.

    A pipeline's name breaks after its ``->`` arrows; a step wider than a line
    loses its middle to ``…``; beyond ``_TITLE_LINES`` lines, one ``…`` stands
    for middle steps. The first and the last step and ``tail`` stay.

    Examples
    --------
    >>> _fitted_title("Pipeline(StandardScaler -> SVC)", "accuracy 0.900", 500.0)
    'Pipeline(StandardScaler -> SVC): accuracy 0.900'
    >>> print(_fitted_title("Pipeline(StandardScaler -> SVC)", "accuracy 0.900", 250.0))
    Pipeline(StandardScaler -> SVC):
    accuracy 0.900
    """
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    font = FontProperties(size=mpl.rcParams["figure.titlesize"],
                          weight=mpl.rcParams["figure.titleweight"])

    @functools.cache
    def wide(text: str) -> float:
        return text_to_path.get_text_width_height_descent(text, font, ismath=False)[0]

    def shorten(token: str) -> str:
        short, keep = token, len(token) // 2 + 1  # characters kept at each end, plus one
        while keep and wide(short) > width:
            keep -= 1
            short = f"{token[:keep]}…{token[-keep:]}" if keep else "…"
        return short

    def pack(tokens: list[str]) -> list[str]:
        lines: list[str] = []
        for token in tokens:
            if lines and wide(f"{lines[-1]} {token}") <= width:
                lines[-1] += f" {token}"
            else:
                lines.append(token)
        return lines

    parts = name.split(" -> ")
    steps = [shorten(step) for step in [f"{part} ->" for part in parts[:-1]] + [f"{parts[-1]}:"]]
    tail = shorten(tail)
    lines = pack([*steps, tail])
    for left_out in range(1, len(steps) - 1):  # first and last step always stay
        if len(lines) <= _TITLE_LINES:
            break
        front = (len(steps) - left_out) // 2
        lines = pack([*steps[:front], "… ->", *steps[front + left_out:], tail])
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """Return a JSON-ready version of a label or number."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


@dataclass(repr=False)
class EvaluationReport:
    """How well a classifier does on a labelled test set.

    Made by :func:`evaluate` or :meth:`from_predictions`. It prints as text,
    renders as HTML with its figures in Jupyter, and converts to a JSON-ready
    dict with :meth:`to_dict`.

    Parameters
    ----------
    labels : list
        The classes reported, in the order of the tables' rows.
    accuracy : float
        Fraction of correct predictions.
    balanced_accuracy : float
        Mean recall over the classes present in ``y_true``.
    f1_macro : float
        Unweighted mean F1 over ``labels``.
    per_class : pandas.DataFrame
        Indexed by label, columns ``precision``, ``recall``, ``f1``, ``support``.
    confusion : pandas.DataFrame
        Counts, rows the true labels, columns the predicted labels.
    y_true, y_pred : numpy.ndarray
        The true and the predicted labels.
    history : dict of str to list of float, default=None
        Per-epoch training metrics of a Keras model, else None.
    model_name : str, default=""
        What was evaluated, e.g. ``"Pipeline(StandardScaler -> KerasClassifier)"``.

    See Also
    --------
    evaluate : make the report from a fitted model and test data.

    Examples
    --------
    >>> report = EvaluationReport.from_predictions(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    >>> report.accuracy
    0.75
    >>> report.confusion.to_numpy().tolist()
    [[1, 1], [0, 2]]
    >>> list(report.per_class.columns)
    ['precision', 'recall', 'f1', 'support']
    """

    labels: list[Any]
    accuracy: float
    balanced_accuracy: float
    f1_macro: float
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    y_true: np.ndarray
    y_pred: np.ndarray
    history: dict[str, list[float]] | None = None
    model_name: str = ""
    _figures: dict[str, Any] = field(default_factory=dict, init=False, compare=False)
    # the test inputs evaluate() was given: ModelStore.save keeps their first rows
    _inputs: Any = field(default=None, init=False, compare=False, repr=False)

    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_pred: Any,
        *,
        labels: Sequence[Any] | None = None,
        history: Mapping[str, Sequence[float]] | None = None,
        model_name: str = "",
    ) -> EvaluationReport:
        """Compute the report from true and predicted labels.

        Parameters
        ----------
        y_true, y_pred : array-like of shape (n_samples,)
            The true and the predicted labels.
        labels : sequence, default=None
            Classes to report, in this order; default: every label in
            ``y_true`` or ``y_pred``, sorted.
        history : dict of str to list of float, default=None
            Per-epoch training metrics, for :meth:`learning_curves`.
        model_name : str, default=""
            A name for what made the predictions.

        Returns
        -------
        EvaluationReport
            The report.

        Examples
        --------
        >>> EvaluationReport.from_predictions([0, 1, 1], [0, 1, 0]).per_class["recall"].tolist()
        [1.0, 0.5]
        """
        from sklearn import metrics

        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        if y_true.shape != y_pred.shape or y_true.ndim != 1:
            raise ValueError(
                f"y_true and y_pred must be 1-D and of equal length, got shapes "
                f"{y_true.shape} and {y_pred.shape}"
            )
        if len(y_true) == 0:
            raise ValueError("cannot evaluate on 0 samples")
        labels = list(unique_labels(y_true, y_pred) if labels is None else labels)
        precision, recall, f1, support = metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
        per_class = pd.DataFrame(
            {"precision": precision, "recall": recall, "f1": f1, "support": support},
            index=pd.Index(labels, name="label"),
        )
        confusion = pd.DataFrame(
            metrics.confusion_matrix(y_true, y_pred, labels=labels),
            index=pd.Index(labels, name="true label"),
            columns=pd.Index(labels, name="predicted label"),
        )
        with warnings.catch_warnings():
            # "y_pred contains classes not in y_true" is expected on small test sets
            warnings.filterwarnings("ignore", message=".*y_pred contains classes not in y_true")
            balanced = metrics.balanced_accuracy_score(y_true, y_pred)
        return cls(
            labels=labels,
            accuracy=float(metrics.accuracy_score(y_true, y_pred)),
            balanced_accuracy=float(balanced),
            f1_macro=float(np.mean(f1)) if len(f1) else 0.0,
            per_class=per_class,
            confusion=confusion,
            y_true=y_true,
            y_pred=y_pred,
            history={k: [float(v) for v in vals] for k, vals in (history or {}).items()} or None,
            model_name=model_name,
        )

    def figure(self, *, kind: str = "both") -> Figure:
        """Plot the confusion matrix.

        Parameters
        ----------
        kind : {"both", "counts", "normalized"}, default="both"
            ``"counts"``: numbers of samples; ``"normalized"``: each row
            divided by its total, so the diagonal is each class's recall;
            ``"both"``: the two side by side.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure (no pyplot state), axes labelled "Predicted label"
            and "True label".

        Examples
        --------
        >>> report = EvaluationReport.from_predictions([0, 1, 1], [0, 1, 0])
        >>> [ax.get_title() for ax in report.figure().axes if ax.get_title()]
        ['Counts', 'Normalised by true label (recall)']
        """
        import matplotlib as mpl
        from matplotlib.figure import Figure

        kinds = {"both": ("counts", "normalized"), "counts": ("counts",),
                 "normalized": ("normalized",)}
        if kind not in kinds:
            raise ValueError(f"kind must be one of {sorted(kinds)}, got {kind!r}")
        n = len(self.labels)
        names = [str(label) for label in self.labels]
        # Room for the matrix, plus room for the longest class name beside and below it
        # (about 0.6 em a character), so that long names never squeeze the matrix away.
        em = mpl.rcParams["font.size"] / 72.0
        names_room = 0.6 * em * min(max(map(len, names), default=1), 40)
        side = min(max(3.5, 0.45 * n + 2.0) + names_room, 16.0)
        fig = Figure(figsize=(side * len(kinds[kind]) + 0.5, side), layout="constrained")
        # A clear gap between one panel's colour bar and the next panel's axis label.
        fig.get_layout_engine().set(w_pad=0.06, wspace=0.06)
        axes = fig.subplots(1, len(kinds[kind]), squeeze=False)[0]
        counts = self.confusion.to_numpy()
        for ax, which in zip(axes, kinds[kind], strict=True):
            if which == "counts":
                values, title, fmt, vmax = counts, "Counts", "{:d}", None
            else:
                totals = counts.sum(axis=1, keepdims=True)
                values = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
                title, fmt, vmax = "Normalised by true label (recall)", "{:.2f}", 1.0
            image = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
            fig.colorbar(image, ax=ax, shrink=0.8)
            ax.set(
                title=title,
                xlabel="Predicted label",
                ylabel="True label",
                xticks=range(n),
                yticks=range(n),
            )
            ax.set_xticklabels(names, rotation=45, ha="right")
            ax.set_yticklabels(names)
            if n <= 30:
                threshold = (values.max() if vmax is None else vmax) / 2
                for i, j in np.ndindex(n, n):
                    ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if values[i, j] > threshold else "black")
        if self.model_name:
            size = fig.get_figwidth() * 72.0 - 12.0  # points, less constrained layout's pads
            fig.suptitle(_fitted_title(self.model_name, f"accuracy {self.accuracy:.3f}", size))
        return fig

    def learning_curves(self) -> Figure | None:
        """Plot the per-epoch training (and validation) metrics of a Keras model.

        Returns
        -------
        matplotlib.figure.Figure or None
            One panel per metric (``loss``, ``accuracy``...), x axis "Epoch";
            None when the model has no training history (e.g. scikit-learn models).

        Examples
        --------
        >>> report = EvaluationReport.from_predictions([0, 1], [0, 1],
        ...                                            history={"loss": [0.9, 0.5]})
        >>> report.learning_curves().axes[0].get_xlabel()
        'Epoch'
        >>> EvaluationReport.from_predictions([0, 1], [0, 1]).learning_curves() is None
        True
        """
        if not self.history:
            return None
        from matplotlib.figure import Figure

        names = [k for k in self.history if not k.startswith("val_")]
        names += [k for k in self.history if k.startswith("val_") and k[4:] not in self.history]
        names.sort(key=lambda name: name != "loss")  # loss first, then Keras' order
        fig = Figure(figsize=(4.0 * len(names) + 0.5, 3.5), layout="constrained")
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, name in zip(axes, names, strict=True):
            for key, label in ((name, "training"), (f"val_{name}", "validation")):
                values = self.history.get(key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
            ax.set(title=name, xlabel="Epoch", ylabel=name)
            ax.legend()
        return fig

    def _summary(self) -> list[tuple[str, str]]:
        return [
            ("samples", str(len(self.y_true))),
            ("classes", str(len(self.labels))),
            ("accuracy", f"{self.accuracy:.4f}"),
            ("balanced accuracy", f"{self.balanced_accuracy:.4f}"),
            ("macro F1", f"{self.f1_macro:.4f}"),
        ]

    def _title(self) -> str:
        return f"Evaluation of {self.model_name}" if self.model_name else "Evaluation"

    def __str__(self) -> str:
        title = self._title()
        lines = [title, "=" * len(title)]
        lines += [f"{name:<18} {value}" for name, value in self._summary()]
        lines += ["", "Per class:", self.per_class.to_string(float_format="{:.3f}".format)]
        lines += ["", "Confusion matrix (rows: true label, columns: predicted label):",
                  self.confusion.to_string()]
        if self.history:
            last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
            epochs = max(len(v) for v in self.history.values())
            lines += ["", f"Training: {epochs} epochs; last epoch {last}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<EvaluationReport {self.model_name or 'model'}: {len(self.y_true)} samples, "
                f"{len(self.labels)} classes, accuracy={self.accuracy:.4f}>")

    def _repr_html_(self) -> str:
        from .. import _html

        parts = [
            _html.fields(self._summary()),
            "<h5>Per class</h5>",
            self.per_class.to_html(float_format="{:.3f}".format),  # escapes the labels
            "<h5>Confusion matrix</h5>",
            _html.figure_img(self.figure(), "confusion matrix"),
        ]
        curves = self.learning_curves()
        if curves is not None:
            parts += ["<h5>Learning curves</h5>", _html.figure_img(curves, "learning curves")]
        return _html.block("evaluation-report", self._title(), *parts)

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics, per-class table and confusion matrix as JSON-ready data.

        Returns
        -------
        dict
            Keys ``model``, ``n_samples``, ``labels``, ``accuracy``,
            ``balanced_accuracy``, ``f1_macro``, ``per_class`` (a list of
            ``{"label", "precision", "recall", "f1", "support"}``),
            ``confusion`` (``{"labels", "matrix"}``, rows the true labels) and
            ``history`` (per-epoch metrics or None). Labels keep their type
            when it is str, int, float or bool, else become strings.

        Examples
        --------
        >>> import json
        >>> d = EvaluationReport.from_predictions(["a", "b"], ["a", "a"]).to_dict()
        >>> d["confusion"]
        {'labels': ['a', 'b'], 'matrix': [[1, 0], [1, 0]]}
        >>> isinstance(json.dumps(d), str)
        True
        """
        labels = [_plain(label) for label in self.labels]
        per_class = [
            {"label": label, **{k: _plain(v) for k, v in row.items()}}
            for label, row in zip(labels, self.per_class.to_dict(orient="records"), strict=True)
        ]
        return {
            "model": self.model_name,
            "n_samples": len(self.y_true),
            "labels": labels,
            "accuracy": _plain(self.accuracy),
            "balanced_accuracy": _plain(self.balanced_accuracy),
            "f1_macro": _plain(self.f1_macro),
            "per_class": per_class,
            "confusion": {"labels": labels,
                          "matrix": [[int(v) for v in row] for row in self.confusion.to_numpy()]},
            "history": None if self.history is None
            else {k: [_plain(v) for v in vals] for k, vals in self.history.items()},
        }


def evaluate(model: Any, X: Any, y: Any, *, labels: Sequence[Any] | None = None
             ) -> EvaluationReport:
    """Evaluate a fitted classifier on labelled test data.

    Works with any fitted scikit-learn classifier, a :class:`~awiml.classify.KerasClassifier`,
    a :class:`~sklearn.pipeline.Pipeline` ending in either, or a fitted search
    such as ``GridSearchCV``. Keras is not imported for scikit-learn models.

    Parameters
    ----------
    model : estimator
        A fitted classifier with ``predict``.
    X : array-like of shape (n_samples, ...)
        Test samples.
    y : array-like of shape (n_samples,)
        True labels of the test samples.
    labels : sequence, default=None
        Classes to report, in this order. Default: the model's ``classes_``
        (so a class never predicted still gets its row), followed by any
        other label found in ``y`` or the predictions.

    Returns
    -------
    EvaluationReport
        The metrics, confusion matrix and figures; learning curves when the
        (final) estimator has a training ``history_``, as KerasClassifier does.
        The report also keeps a reference to ``X``: given as ``metrics=`` to
        :meth:`ModelStore.save <awiml.store.ModelStore.save>`, its first rows
        are stored as the version's evaluation sample.

    See Also
    --------
    EvaluationReport.from_predictions : the same from predictions you already have.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> report = evaluate(DecisionTreeClassifier(random_state=0).fit(X, y), X, y)
    >>> report.accuracy
    1.0
    >>> report.learning_curves() is None
    True
    """
    if not hasattr(model, "predict"):
        raise TypeError(f"evaluate needs a fitted classifier with predict(), "
                        f"got {type(model).__name__}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    y_pred = np.asarray(model.predict(X))
    final = _final_estimator(model)
    if labels is None:
        classes = getattr(final, "classes_", getattr(model, "classes_", None))
        if classes is not None:
            labels = list(classes)
            known = set(labels)
            labels += [label for label in unique_labels(y, y_pred) if label not in known]
    history = getattr(final, "history_", None)
    report = EvaluationReport.from_predictions(
        y,
        y_pred,
        labels=labels,
        history=history if isinstance(history, Mapping) else None,
        model_name=_model_name(model),
    )
    report._inputs = X  # a reference, not a copy: the store keeps the first rows
    return report
