"""The Markdown model card of a stored version.

:func:`model_card` renders a version record (the content of a ``version.json``
written by :class:`awiml.store.ModelStore`) as the human-readable
``MODEL_CARD.md`` beside it. It reads only the record and writes nothing;
:func:`awiml.store.model_card` is its public name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from ._datasets import group_datasets
from ._record import _flatten, _scalar_metrics

__all__ = ["MAX_CARD_FILES", "model_card"]

#: With more training files than this, the card lists datasets instead of files.
MAX_CARD_FILES = 10


def model_card(record: Mapping[str, Any], aliases: Iterable[str] = ()) -> str:
    """Render a version record as a Markdown model card.

    Parameters
    ----------
    record : mapping
        The content of a ``version.json``.
    aliases : iterable of str, optional
        Aliases to mention as set when the version was created.

    Returns
    -------
    str
        Markdown: summary, notes, model and architecture, training data
        (the files, or with more than :data:`MAX_CARD_FILES` of them, their
        datasets), metrics, figures, parameters, how the run was started and
        its seed, code, environment, hardware, compute (the Dask cluster),
        training time, files and how to load the model.

    Examples
    --------
    >>> record = {"name": "toy", "version": 1, "kind": "sklearn", "provenance": {
    ...     "compute": {"scheduler": "slurm", "cluster": "SLURMCluster", "workers": 2,
    ...                 "threads_per_worker": 4, "memory_per_worker": 8 * 2**30,
    ...                 "slurm_job_ids": ["4711", "4712"]}}}
    >>> card = model_card(record)
    >>> print(card[card.index("## Compute"):card.index("## Training time")].strip())
    ## Compute
    <BLANKLINE>
    |  |  |
    |---|---|
    | Scheduler | slurm (SLURMCluster) |
    | Workers | 2 |
    | Threads per worker | 4 |
    | Memory per worker | 8.0 GiB |
    | Slurm jobs | 4711, 4712 |
    """
    name, number = record.get("name"), record.get("version")
    saved = record.get("model") or {}
    prov = record.get("provenance") or {}
    code = prov.get("code") or {}
    env = prov.get("environment") or {}
    hw = prov.get("hardware") or {}
    timing = prov.get("timing") or {}
    aliases = list(aliases)
    out = [f"# {name}, version {number}", ""]
    out += _facts([
        ("Reference", f"`{name}@{number}`"),
        ("Kind", record.get("kind")),
        ("Created", record.get("created")),
        ("Created by", prov.get("user")),
        ("Aliases at creation", ", ".join(aliases) or None),
        ("Classes", _short(", ".join(map(str, saved["classes"])), 300)
         if saved.get("classes") else None),
        ("awiml", record.get("awiml_version")),
    ])
    if record.get("notes"):
        out += ["## Notes", "", str(record["notes"]), ""]

    out += ["## Model", "", *_architecture_lines(saved.get("architecture") or {})]
    hyper = saved.get("params") or {}
    if hyper:
        flat = _flatten(hyper)
        rows = [(k, _cell(v)) for k, v in list(flat.items())[:60]]
        out += ["### Hyper-parameters", "", *_table(("parameter", "value"), rows)]
        if len(flat) > 60:
            out += [f"... and {len(flat) - 60} more in `version.json`.", ""]
    if saved.get("untrusted_types"):
        out += ["Loading needs `trusted=` for these types, outside awiml's policy: "
                + ", ".join(f"`{t}`" for t in saved["untrusted_types"]), ""]

    out += ["## Training data", ""]
    data = record.get("data") or []
    if len(data) > MAX_CARD_FILES:
        datasets = record.get("datasets") or group_datasets(data)  # older versions lack it
        out += _table(("dataset", "kind", "files", "size", "digest"), [
            (d.get("name"), d.get("kind"), d.get("files"), _bytes(d.get("size")),
             _short_hash(d.get("digest"))) for d in datasets])
        out += [f"The {len(data)} files are listed in `version.json`.", ""]
    elif data:
        rows = [(r.get("path") or r.get("name"), r.get("source"), r.get("doi"),
                 _short_hash(r.get("sha256"))) for r in data]
        out += _table(("file (in raw/)", "source", "DOI", "sha256"), rows)
    else:
        out += ["Not recorded.", ""]

    out += ["## Metrics", ""]
    metrics = record.get("metrics") or {}
    scalars = _scalar_metrics(metrics)
    if scalars:
        out += _table(("metric", "value"), [(k, _number(v)) for k, v in scalars.items()])
    per_class = metrics.get("per_class") if isinstance(metrics, dict) else None
    if isinstance(per_class, list) and per_class and all(isinstance(r, dict) for r in per_class):
        keys = list(per_class[0])
        out += ["### Per class", ""]
        out += _table(keys, [[_number(r.get(k)) for k in keys] for r in per_class])
    if not scalars and not per_class:
        out += ["Not recorded.", ""]
    figures = sorted(p for p, e in (record.get("files") or {}).items()
                     if e.get("role") == "figure")
    if figures:
        out += ["## Figures", ""]
        for path in figures:
            out += [f"![{PurePosixPath(path).stem}]({path})", ""]

    for key, title, column in (("params", "Run parameters", "parameter"), ("tags", "Tags", "tag")):
        if record.get(key):
            rows = [(k, _cell(v)) for k, v in _flatten(record[key]).items()]
            out += [f"## {title}", "", *_table((column, "value"), rows)]

    out += ["## Run", "", *_run_lines(prov.get("run"), prov.get("seeds"))]

    out += ["## Code", ""]
    if code.get("status") == "git":
        changed = code.get("changed_count", 0)
        out += _facts([
            ("Commit", f"`{code.get('commit')}`" if code.get("commit") else "none yet"),
            ("Branch", code.get("branch") or "(detached)"),
            ("Remote", code.get("remote") or "none"),
            ("Uncommitted changes", f"yes, {changed} file(s)" if code.get("dirty") else "no"),
        ])
        if code.get("changed"):
            out += ["Changed files: " + ", ".join(f"`{c}`" for c in code["changed"]), ""]
    else:
        out += [f"Unknown ({code.get('reason', 'not recorded')}).", ""]

    out += ["## Environment", ""]
    rows = [("Python", f"{env.get('python', '?')} ({env.get('python_implementation', '?')})"),
            ("Platform", env.get("platform")), ("Keras backend", env.get("keras_backend"))]
    rows += [(package, version) for package, version in (env.get("packages") or {}).items()]
    out += _facts(rows)

    out += ["## Hardware", ""]
    gpus = hw.get("gpus") or []
    out += _facts([
        ("Host", hw.get("hostname")),
        ("CPU", hw.get("cpu_model")),
        ("CPUs", f"{hw.get('cpu_usable')} usable of {hw.get('cpu_count')}"
         if hw.get("cpu_count") else None),
        ("Memory", _bytes(hw.get("memory_total_bytes"))),
        ("GPU", ", ".join(f"{g.get('name')} ({_bytes(g.get('memory_bytes'))})" for g in gpus)
         or "none used"),
        ("Slurm job", hw.get("slurm_job_id")),
        ("Slurm cluster", hw.get("slurm_cluster")),
    ])

    out += ["## Compute", "", *_compute_lines(prov.get("compute"))]

    out += ["## Training time", ""]
    training = record.get("training") or {}
    rows = [
        ("Started", timing.get("started")),
        ("Ended", timing.get("ended")),
        ("Duration", _duration(timing.get("duration_seconds"))),
        ("Epochs", training.get("epochs")),
    ]
    out += _facts(rows) if any(v is not None for _, v in rows) else ["Not recorded.", ""]

    out += ["## Files", "", *_table(("file", "role", "size", "sha256"), [
        (f"`{p}`", e.get("role"), _bytes(e.get("size")), _short_hash(e.get("sha256")))
        for p, e in sorted((record.get("files") or {}).items())
    ])]
    out += [
        "## Load", "",
        "```python",
        "import awiml",
        f'model = awiml.ModelStore("path/to/store").load("{name}@{number}")',
        "```", "",
        f"Files are checked against `version.json` before loading. Written by awiml "
        f"{record.get('awiml_version')}.", "",
    ]
    return "\n".join(out)


def _run_lines(run: Any, seeds: Any) -> list[str]:
    """Describe how training was started (absent from versions saved before awiml had it)."""
    if not isinstance(run, Mapping) or not run.get("kind"):
        return ["Not recorded.", ""]
    target = {"script": run.get("script"), "notebook": run.get("notebook"),
              "module": f"-m {run.get('module')}"}.get(run["kind"])
    command = None
    if target is not None and run["kind"] != "notebook":
        words = ["python", *(run.get("executable_args") or []), target, *(run.get("args") or [])]
        command = "`" + " ".join(map(str, words)) + "`"
    seed = seeds.get("seed") if isinstance(seeds, Mapping) else None
    return _facts([
        ("Kind", run["kind"]),
        ("Command", command),
        ("Notebook", run.get("notebook")),
        ("Working directory", run.get("cwd")),
        ("Repository", run.get("repository")),
        ("Python", run.get("python")),
        ("Seed", "not set (awiml.set_seed was not called)" if seed is None else seed),
    ])


def _compute_lines(compute: Any) -> list[str]:
    """Describe the ``compute`` section (absent from versions saved before awiml had it)."""
    if not isinstance(compute, Mapping) or not compute.get("scheduler"):
        return ["Not recorded.", ""]
    if compute["scheduler"] == "local":
        return ["Local: no Dask cluster, this machine's CPUs (see Hardware).", ""]
    kind = compute["scheduler"]
    cluster = compute.get("cluster") or "a scheduler started elsewhere"

    def each(value: Any, show: Any = str) -> str | None:
        values = value if isinstance(value, list) else [value]
        shown = [show(v) for v in values if v is not None]
        return ", ".join(s for s in shown if s) or None

    memory = compute.get("memory_per_worker")
    return _facts([
        ("Scheduler", f"{kind} ({cluster})"),
        ("Scheduler address", f"`{compute['address']}`" if compute.get("address") else None),
        ("Workers", compute.get("workers")),
        ("Threads per worker", each(compute.get("threads_per_worker"))),
        ("Memory per worker", "no limit" if memory is None and compute.get("workers")
         else each(memory, _bytes)),
        ("Slurm jobs", each(compute.get("slurm_job_ids"))),
        ("Problem", compute.get("problem")),
    ])


def _architecture_lines(arch: Mapping[str, Any]) -> list[str]:
    if "pipeline" in arch or "keras" in arch:
        out = []
        if arch.get("pipeline"):
            out += _estimator_lines(arch["pipeline"])
        if arch.get("keras"):
            out += ["### Keras network", "", *_keras_lines(arch["keras"])]
        return out
    if "layers" in arch:
        return _keras_lines(arch)
    if "class" in arch:
        return _estimator_lines(arch)
    return ["Architecture: see `version.json`.", ""]


def _estimator_lines(arch: Mapping[str, Any]) -> list[str]:
    out = [f"Estimator: `{arch.get('class')}`", ""]
    steps = (arch.get("params") or {}).get("steps")
    if isinstance(steps, list):
        rows = []
        for i, step in enumerate(steps, start=1):
            if isinstance(step, list) and len(step) == 2:
                label, inner = step
                cls = inner.get("class") if isinstance(inner, dict) else inner
                rows.append((i, label, f"`{cls}`"))
        out += _table(("step", "name", "class"), rows)
    return out


def _keras_lines(arch: Mapping[str, Any]) -> list[str]:
    layers = arch.get("layers") or []
    title = f"Keras `{arch.get('class')}` `{arch.get('name', '')}`"
    if isinstance(arch.get("total_params"), int):
        title += f", {arch['total_params']:,} parameters"
    out = [title, ""]
    rows = [(layer.get("name"), f"`{layer.get('class')}`", layer.get("params"))
            for layer in layers[:80] if isinstance(layer, dict)]
    out += _table(("layer", "class", "parameters"), rows)
    if len(layers) > 80:
        out += [f"... and {len(layers) - 80} more layers in `version.json`.", ""]
    return out


def _facts(rows: Iterable[tuple[str, Any]]) -> list[str]:
    """Return a two-column table, without header, of the rows whose value is not None."""
    return _table(("", ""), [(k, v) for k, v in rows if v is not None])


def _table(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = [_cell(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True)
    text = _short(str(value), 200)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def _short_hash(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    algorithm, _, digest = value.partition(":")
    return f"`{algorithm}:{digest[:12]}…`" if digest else f"`{value}`"


def _bytes(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _duration(seconds: Any) -> str | None:
    if not isinstance(seconds, (int, float)):
        return None
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{minutes} min {secs} s"
    return f"{hours} h {text}" if hours else text

