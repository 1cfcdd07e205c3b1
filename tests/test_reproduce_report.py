"""The side-by-side report of a reproduction (awiml.store.reproduce.report)."""

from __future__ import annotations

import json
import math

from awiml.store.reproduce.code import CodeOutcome
from awiml.store.reproduce.compare import PredictionComparison
from awiml.store.reproduce.inputs import InputOutcome
from awiml.store.reproduce.report import ReproductionReport

RECORDED = "sha256:" + "a" * 64
FOUND = "sha256:" + "b" * 64


def changed_input() -> InputOutcome:
    return InputOutcome("pangaea/889513/data.tab", "pangaea://889513/data.tab", RECORDED, FOUND,
                        "changed", False,
                        f"raw/pangaea/889513/data.tab: pangaea://889513/data.tab now gives "
                        f"other content: recorded {RECORDED}, found {FOUND}")


def test_a_failed_reproduction_says_why_in_every_section():
    code = CodeOutcome(False, "c0ffee", reason="the training code differed from commit c0ffee",
                       diff_summary={"changed": [".M train.py"], "changed_count": 1,
                                     "untracked": ["notes.txt"], "untracked_count": 1})
    report = ReproductionReport(
        "zones@2", False, data=[changed_input()], code=code.summary(), environment=None,
        predictions=PredictionComparison(50, 3, 7, math.inf, exact=True),
        recorded_metrics={"accuracy": 0.9, "f1": 0.8}, new_metrics={"accuracy": 0.85})
    text = report.to_text()
    assert text.splitlines()[0] == "Reproduction of zones@2"
    assert text.splitlines()[-1] == "Verdict: NOT REPRODUCED"
    assert "Data: 0 of 1 inputs as recorded" in text
    assert f"recorded {RECORDED}, found {FOUND}" in text  # the message keeps both digests whole
    assert "Code: commit c0ffee, not checked out: the training code differed" in text
    assert "  changed: .M train.py" in text and "  untracked: notes.txt" in text
    assert "Environment: package versions not recorded" in text
    assert "Model: identical to the stored one" in text
    assert "Predictions: 3 of 50 predicted labels differ; 7 rows of probabilities" in text
    assert "  f1        0.8       not computed" in text
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["predictions"]["proba_max_abs_diff"] is None and not data["predictions"]["ok"]
    assert data["data"][0]["found_sha256"] == FOUND
    assert data["code"]["diff_summary"]["untracked_count"] == 1
    assert data["metrics"]["f1"] == {"recorded": 0.8, "new": None}


def test_a_reproduced_model_and_empty_sections():
    report = ReproductionReport("zones@production", True, code=None, environment=[],
                                predictions=PredictionComparison(5, 0, 0, 0.0, exact=True))
    text = report.to_text()
    assert "Data: none recorded" in text and "Code: not looked at" in text
    assert "Environment: every recorded distribution has its recorded version" in text
    assert "Metrics: none recorded" in text
    assert text.endswith("Verdict: REPRODUCED")
    assert str(report) == text
    assert report.to_dict()["reproduced"] is True
