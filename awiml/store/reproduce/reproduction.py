"""Reproduce one stored model version: inputs, code, re-run, comparison, report.

:func:`reproduce` is what :meth:`ModelStore.reproduce
<awiml.store.ModelStore.reproduce>` and ``awiml models reproduce`` run. In a
scratch folder (``<workspace>/.awiml/reproduce/<name>@<N>-<time>/``, or the
system's temporary folder for a store outside a workspace) it

1. fills a scratch workspace's ``raw/`` with the recorded training inputs
   (:func:`~awiml.store.reproduce.inputs.gather_inputs`: linked from the
   workspace when the checksum matches, else fetched again and checked);
2. checks out the recorded commit (:func:`~awiml.store.reproduce.code.checkout_code`);
3. re-runs the recorded entry point against the scratch workspace
   (:func:`~awiml.store.reproduce.run.run_training`), whose ``ModelStore.save``
   writes the new model into the scratch store;
4. compares the new model with the stored one: every fitted attribute
   exactly for scikit-learn models, a Keras network's weights within a
   tolerance; the predictions on the recorded evaluation sample; the
   metrics side by side; the installed package versions with the recorded.

Nothing of the workspace's ``raw/`` or ``model/`` is written. The model is
reproduced when every input is as recorded, the code was checked out, the
run ended with status 0, and the new model (and its predictions) agree;
package versions that differ are reported but do not decide.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .compare import (
    KERAS_ATOL,
    KERAS_RTOL,
    Difference,
    compare_environments,
    compare_fitted,
    compare_keras,
    compare_predictions,
)
from .report import ReproductionReport

__all__ = ["reproduce"]


def reproduce(
    store: Any,
    ref: str,
    *,
    scratch: str | os.PathLike[str] | None = None,
    keep: bool = False,
    fetch: bool = True,
    args: Sequence[str] | None = None,
    timeout: float | None = None,
    rtol: float = KERAS_RTOL,
    atol: float = KERAS_ATOL,
    progress: bool = False,
) -> ReproductionReport:
    """Train stored version ``ref`` again from its record and compare; see the module.

    Parameters are those of :meth:`ModelStore.reproduce
    <awiml.store.ModelStore.reproduce>`.
    """
    from ...workspace.workspace import Workspace
    from .code import checkout_code
    from .inputs import gather_inputs
    from .run import run_training

    info = store.info(ref)
    resolved = info["ref"]
    name = resolved.rsplit("@", 1)[0]
    provenance = info.get("provenance") or {}
    environment = provenance.get("environment") or {}
    recorded_distributions = environment.get("distributions")
    env_differences = (None if not recorded_distributions
                       else compare_environments(recorded_distributions))
    folder = _scratch_folder(store, resolved, scratch)
    code = None
    try:
        scratch_workspace = Workspace.create(folder / "ws")
        data = gather_inputs(info.get("data") or [], store.workspace, scratch_workspace,
                             fetch=fetch, progress=progress)
        code = checkout_code(provenance.get("code"), provenance.get("run"), folder,
                             target=_inside_workspace(provenance.get("run"),
                                                      scratch_workspace.root))
        report_parts: dict[str, Any] = {
            "data": data, "code": code.summary(), "environment": env_differences,
            "recorded_metrics": _scalars(info.get("metrics")), "compared": False,
            "scratch": str(folder) if keep else None,
        }
        if not (code.ok and all(outcome.ok for outcome in data)):
            return ReproductionReport(resolved, False, **report_parts)
        seeds = provenance.get("seeds") or {}
        run = run_training(provenance.get("run"), code.where, scratch_workspace.root,
                           keras_backend=environment.get("keras_backend"),
                           hash_seed=seeds.get("PYTHONHASHSEED"), args=args, timeout=timeout)
        report_parts["run"] = run.summary()
        if not run.ok:
            return ReproductionReport(resolved, False, **report_parts)
        new_store = type(store)(scratch_workspace)  # a ModelStore, not imported: no cycle
        new_ref, problem = _new_version(new_store, name)
        if new_ref is None:
            report_parts["run"] = {**run.summary(), "ok": False, "reason": problem}
            return ReproductionReport(resolved, False, **report_parts)
        differences, predictions = _compare(store, resolved, new_store, new_ref, rtol, atol)
        report_parts.update(compared=True, differences=differences, predictions=predictions,
                            new_metrics=_scalars(new_store.info(new_ref).get("metrics")))
        reproduced = not differences and (predictions is None or predictions.ok)
        return ReproductionReport(resolved, reproduced, **report_parts)
    finally:
        if code is not None:
            code.cleanup()  # unregisters a worktree from the user's repository
            if keep and code.where is not None and code.where.parent == folder / "ws":
                code.where.mkdir(exist_ok=True)  # the kept workspace keeps its src/ folder
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _scratch_folder(store: Any, ref: str,
                    scratch: str | os.PathLike[str] | None) -> Path:
    """Make a new, empty folder for this reproduction."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if scratch is not None:
        base = Path(scratch).expanduser().absolute()
    elif store.workspace is not None:
        base = store.workspace.root / ".awiml" / "reproduce"
    else:
        base = Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{ref}-{stamp}-", dir=base))


def _inside_workspace(run: Any, scratch_root: Path) -> Path | None:
    """Return where a repository that lay inside the recorded workspace goes in the scratch one.

    A script in the workspace's ``src/`` may find the workspace from its own
    place (``Path(__file__).parents[1]``): its checkout keeps that place.
    """
    if not isinstance(run, dict) or not run.get("repository") or not run.get("workspace"):
        return None
    try:
        inside = Path(run["repository"]).relative_to(Path(run["workspace"]))
    except ValueError:
        return None
    return scratch_root / inside if inside.parts else None


def _new_version(store: Any, name: str) -> tuple[str | None, str | None]:
    """Return the version the re-run saved: the latest of ``name`` in the scratch store."""
    from ...errors import NotFoundError

    try:
        return store.info(name)["ref"], None
    except NotFoundError:
        saved = sorted(store.list()["name"]) if store.path.is_dir() else []
        found = f" (it saved {', '.join(saved)})" if saved else ""
        return None, (f"the run ended but saved no model named {name!r} through "
                      f"ModelStore.save{found}")


def _compare(store: Any, ref: str, new_store: Any, new_ref: str,
             rtol: float, atol: float) -> tuple[list[Difference], Any]:
    from ..serialize import model_kind

    stored = store.load(ref)
    new = new_store.load(new_ref)
    exact = model_kind(stored) == "sklearn"
    differences = (compare_fitted(stored, new) if exact
                   else compare_keras(stored, new, rtol=rtol, atol=atol))
    sample = store.sample(ref)
    predictions = None
    if sample is not None and hasattr(stored, "predict"):
        predictions = compare_predictions(stored, new, sample, exact=exact, rtol=rtol, atol=atol)
    return differences, predictions


def _scalars(metrics: Any) -> dict[str, Any]:
    """Keep the numbers among recorded metrics (tables and figures are not compared)."""
    if not isinstance(metrics, dict):
        return {}
    return {key: value for key, value in metrics.items()
            if isinstance(value, (int, float, str)) and not isinstance(value, bool)}
