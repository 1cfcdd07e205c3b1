"""The report of a reproduction: what was recorded beside what was found, and a verdict.

:class:`ReproductionReport` gathers the outcome of each building block of
``awiml models reproduce``: the training inputs
(:func:`~awiml.store.reproduce.inputs.gather_inputs`), the code
(:func:`~awiml.store.reproduce.code.checkout_code`), the environment, the
model and its predictions (:mod:`awiml.store.reproduce.compare`) and the
metrics. :meth:`~ReproductionReport.to_text` renders it as plain-text
tables, one section each, ending in the verdict;
:meth:`~ReproductionReport.to_dict` gives the same as JSON-ready data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .compare import Difference, PredictionComparison
from .inputs import InputOutcome

__all__ = ["ReproductionReport"]

#: Longest cell of a text table; longer values are cut with "...".
_CELL = 72
#: Characters of a digest shown in text tables (``sha256:`` and 12 hex digits).
_DIGEST = 19


@dataclass(frozen=True)
class ReproductionReport:
    """The outcome of reproducing one stored model version, side by side with its record.

    Parameters
    ----------
    ref : str
        The version reproduced, e.g. ``"tsg-zones@3"``.
    reproduced : bool
        The verdict.
    data : list of InputOutcome
        One outcome per recorded training input.
    code : mapping or None
        :meth:`CodeOutcome.summary() <awiml.store.reproduce.code.CodeOutcome.summary>`;
        None when the code was not looked at.
    environment : list of (name, recorded, current) or None
        What :func:`~awiml.store.reproduce.compare.compare_environments`
        returned; None when the version recorded no package versions.
    differences : list of Difference
        How the retrained model differs from the stored one.
    predictions : PredictionComparison or None
        The predictions compared on a sample, when they were.
    recorded_metrics, new_metrics : mapping
        The metrics stored with the version and those of the new run.
    run : mapping or None
        :meth:`RunOutcome.summary() <awiml.store.reproduce.run.RunOutcome.summary>`
        of the re-run; None when it was not attempted.
    compared : bool
        Whether a new model was there to compare (False when the data, the
        code or the run failed first).
    scratch : str or None
        The scratch folder, when it was kept: the inputs in ``ws/raw/``, the
        new model in ``ws/model/``.

    Examples
    --------
    >>> from awiml.store.reproduce.compare import Difference
    >>> from awiml.store.reproduce.inputs import InputOutcome
    >>> report = ReproductionReport(
    ...     "tsg-zones@3", False,
    ...     data=[InputOutcome("ctd.tab", "https://example.org/ctd.tab", "sha256:aa",
    ...                        "sha256:aa", "workspace", True, "linked")],
    ...     code={"ok": True, "commit": "4f2c1e0", "how": "worktree", "where": "/s/code"},
    ...     environment=[("scikit-learn", "1.5.0", "1.6.1")],
    ...     differences=[Difference("steps[1].classify.coef_",
    ...                             "values differ, max abs diff 0.002")],
    ...     recorded_metrics={"accuracy": 0.93}, new_metrics={"accuracy": 0.925})
    >>> print(report.to_text())
    Reproduction of tsg-zones@3
    <BLANKLINE>
    Data: 1 of 1 inputs as recorded
      path     how        recorded   found      source
      -------  ---------  ---------  ---------  ---------------------------
      ctd.tab  workspace  sha256:aa  sha256:aa  https://example.org/ctd.tab
    <BLANKLINE>
    Code: commit 4f2c1e0, checked out as a worktree in /s/code
    <BLANKLINE>
    Environment: 1 distribution differs
      distribution  recorded  now
      ------------  --------  -----
      scikit-learn  1.5.0     1.6.1
    <BLANKLINE>
    Model: 1 difference
      steps[1].classify.coef_: values differ, max abs diff 0.002
    <BLANKLINE>
    Predictions: not compared
    <BLANKLINE>
    Metrics
      metric    recorded  new
      --------  --------  -----
      accuracy  0.93      0.925
    <BLANKLINE>
    Verdict: NOT REPRODUCED
    >>> report.to_dict()["environment"]
    [{'name': 'scikit-learn', 'recorded': '1.5.0', 'current': '1.6.1'}]
    """

    ref: str
    reproduced: bool
    data: Sequence[InputOutcome] = field(default_factory=list)
    code: Mapping[str, Any] | None = None
    environment: Sequence[tuple[str, str | None, str | None]] | None = None
    differences: Sequence[Difference] = field(default_factory=list)
    predictions: PredictionComparison | None = None
    recorded_metrics: Mapping[str, Any] = field(default_factory=dict)
    new_metrics: Mapping[str, Any] = field(default_factory=dict)
    run: Mapping[str, Any] | None = None
    compared: bool = True
    scratch: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (``json.dumps`` takes it as it is)."""
        predictions = None
        if self.predictions is not None:
            predictions = {**asdict(self.predictions), "ok": self.predictions.ok}
            if predictions["proba_max_abs_diff"] is not None and \
                    math.isinf(predictions["proba_max_abs_diff"]):
                predictions["proba_max_abs_diff"] = None  # JSON has no infinity
        return {
            "ref": self.ref,
            "reproduced": bool(self.reproduced),
            "data": [asdict(outcome) for outcome in self.data],
            "code": None if self.code is None else dict(self.code),
            "run": None if self.run is None else dict(self.run),
            "compared": bool(self.compared),
            "scratch": self.scratch,
            "environment": None if self.environment is None else [
                {"name": name, "recorded": recorded, "current": current}
                for name, recorded, current in self.environment],
            "differences": [asdict(difference) for difference in self.differences],
            "predictions": predictions,
            "metrics": {name: {"recorded": self.recorded_metrics.get(name),
                               "new": self.new_metrics.get(name)}
                        for name in _metric_names(self.recorded_metrics, self.new_metrics)},
        }

    def to_text(self) -> str:
        """Return the report as plain text: one section per part, then the verdict."""
        sections = [
            f"Reproduction of {self.ref}",
            self._data_text(),
            self._code_text(),
            *([self._run_text()] if self.run is not None else []),
            self._environment_text(),
            self._model_text(),
            "Predictions: " + (str(self.predictions) if self.predictions is not None
                               else "not compared"),
            self._metrics_text(),
            *([f"Scratch folder kept: {self.scratch}"] if self.scratch else []),
            f"Verdict: {'REPRODUCED' if self.reproduced else 'NOT REPRODUCED'}",
        ]
        return "\n\n".join(sections)

    def __str__(self) -> str:
        return self.to_text()

    def _data_text(self) -> str:
        if not self.data:
            return "Data: none recorded"
        good = sum(outcome.how in ("workspace", "fetched") for outcome in self.data)
        lines = [f"Data: {good} of {len(self.data)} inputs as recorded"]
        lines += _table(["path", "how", "recorded", "found", "source"],
                        [[o.path or "-", o.how, _digest(o.recorded_sha256),
                          _digest(o.found_sha256), o.source or "not recorded"]
                         for o in self.data])
        lines += [f"  {o.message}" for o in self.data if not o.ok or o.how == "unchecked"]
        return "\n".join(lines)

    def _code_text(self) -> str:
        code = self.code
        if code is None:
            return "Code: not looked at"
        commit = code.get("commit") or "not recorded"
        if not code.get("ok"):
            lines = [f"Code: commit {commit}, not checked out: {code.get('reason')}"]
            summary = code.get("diff_summary") or {}
            lines += [f"  changed: {path}" for path in summary.get("changed", [])]
            lines += [f"  untracked: {path}" for path in summary.get("untracked", [])]
            return "\n".join(lines)
        how = {"worktree": "a worktree", "clone": "a clone"}.get(str(code.get("how")),
                                                                  str(code.get("how")))
        return f"Code: commit {commit}, checked out as {how} in {code.get('where')}"

    def _environment_text(self) -> str:
        if self.environment is None:
            return "Environment: package versions not recorded"
        if not self.environment:
            return "Environment: every recorded distribution has its recorded version"
        count = len(self.environment)
        lines = [f"Environment: {count} distribution{'s differ' if count > 1 else ' differs'}"]
        lines += _table(["distribution", "recorded", "now"],
                        [[name, recorded or "not recorded", current or "not installed"]
                         for name, recorded, current in self.environment])
        return "\n".join(lines)

    def _run_text(self) -> str:
        run = self.run or {}
        command = " ".join(str(part) for part in run.get("command") or []) or "-"
        if len(command) > _CELL * 2:
            command = command[:_CELL * 2 - 3] + "..."
        if run.get("ok"):
            return f"Run: {command}\n  ended with status 0 after {run.get('seconds')} s"
        lines = [f"Run: {command}", f"  failed: {run.get('reason')}"]
        output = str(run.get("output") or "").strip().splitlines()[-12:]
        lines += [f"  | {line}" for line in output]
        return "\n".join(lines)

    def _model_text(self) -> str:
        if not self.compared:
            return "Model: not compared (no new model)"
        if not self.differences:
            return "Model: identical to the stored one"
        count = len(self.differences)
        lines = [f"Model: {count} difference{'s' if count > 1 else ''}"]
        lines += [f"  {difference}" for difference in self.differences]
        return "\n".join(lines)

    def _metrics_text(self) -> str:
        names = _metric_names(self.recorded_metrics, self.new_metrics)
        if not names:
            return "Metrics: none recorded"
        return "\n".join(["Metrics", *_table(
            ["metric", "recorded", "new"],
            [[name, _value(self.recorded_metrics.get(name), "not recorded"),
              _value(self.new_metrics.get(name), "not computed")] for name in names])])


def _metric_names(recorded: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [*recorded, *(name for name in new if name not in recorded)]


def _value(value: Any, missing: str) -> str:
    if value is None:
        return missing
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _digest(value: str | None) -> str:
    if not value:
        return "-"
    return value if len(value) <= _DIGEST else value[:_DIGEST] + "..."


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Return the lines of a plain-text table, indented by two spaces."""
    cells = [[_cut(str(cell)) for cell in row] for row in [list(header), *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    rule = ["-" * width for width in widths]

    def line(row: Sequence[str]) -> str:
        return ("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                         strict=True))).rstrip()

    return [line(cells[0]), line(rule), *(line(row) for row in cells[1:])]


def _cut(text: str) -> str:
    return text if len(text) <= _CELL else text[:_CELL - 3] + "..."
