"""The parts of a stored version's record, built from what a save is given.

Turns the arguments of :meth:`awiml.store.ModelStore.save` into the JSON of a
``version.json`` (secrets redacted, data traced to manifest entries), and
flattens records into the fields :meth:`awiml.store.ModelStore.diff` compares.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

from ..errors import NotFoundError, redact_url
from ..workspace.manifest import ManifestEntry
from ._seal import _size_and_hash

#: What a model, an alias or a figure file may be called.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_KEY_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "macro_f1", "f1", "roc_auc", "r2",
                "rmse", "mae", "loss")
_SECRET_WORDS = frozenset({"password", "passwd", "secret", "token", "apikey", "credential",
                           "credentials", "auth", "authorization"})


def _is_workspace_root(path: Path) -> bool:
    return (path / ".awiml" / "workspace.json").is_file()


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    words = set(re.split(r"[^a-z0-9]+", lowered))
    return bool(words & _SECRET_WORDS) or lowered.replace("-", "_") in {
        "api_key", "access_key", "private_key", "secret_key", "access_token"}


def _to_json(value: Any, where: str, *, secret_keys: bool = False) -> Any:
    """Return ``value`` as plain JSON data, or raise TypeError naming where it failed."""
    import numbers

    if value is None or isinstance(value, (bool, str)):
        return redact_url(value) if isinstance(value, str) and "://" in value else value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # NumPy scalar or 0-d array
        return _to_json(value.item(), where, secret_keys=secret_keys)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy array
        return _to_json(value.tolist(), where, secret_keys=secret_keys)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)):
                raise TypeError(f"{where}: the key {key!r} is not a str or number")
            text = str(key)
            if secret_keys and _is_secret_key(text):
                out[text] = "***"
                continue
            out[text] = _to_json(item, f"{where}[{text!r}]", secret_keys=secret_keys)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]", secret_keys=secret_keys)
                for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted((_to_json(v, where, secret_keys=secret_keys) for v in value), key=str)
    raise TypeError(
        f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot be stored as "
        "JSON; give numbers, strings, lists or dicts"
    )


def _tags(tags: Any) -> Any:
    if tags is None:
        return {}
    if isinstance(tags, str):
        return {tags: True}
    if isinstance(tags, Mapping):
        return _to_json(dict(tags), "tags", secret_keys=True)
    return {str(_to_json(t, "tags")): True for t in tags}


def _metrics(metrics: Any) -> dict[str, Any]:
    if metrics is None:
        return {}
    if hasattr(metrics, "to_dict") and not isinstance(metrics, Mapping):
        metrics = metrics.to_dict()
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict or have to_dict(), not {type(metrics).__name__}")
    return _to_json(dict(metrics), "metrics")


def _scalar_metrics(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict):
        return {}
    rank = {key: i for i, key in enumerate(_KEY_METRICS)}
    ordered = sorted(metrics.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    return {k: v for k, v in ordered if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _key_metric(metrics: Any) -> tuple[str | None, float | None]:
    scalars = ((k, v) for k, v in _scalar_metrics(metrics).items() if k != "n_samples")
    return next(scalars, (None, None))


def _figures(figures: Mapping[str, Any] | None, metrics: Any) -> dict[str, bytes]:
    """Return figure file name to PNG (or other) bytes, from ``figures`` or a report's plots."""
    if figures is None:
        figures = {}
        if callable(getattr(metrics, "figure", None)):  # an awiml EvaluationReport
            figures["confusion.png"] = metrics.figure()
            curves = getattr(metrics, "learning_curves", None)
            curves = curves() if callable(curves) else None
            if curves is not None:
                figures["learning_curves.png"] = curves
    out = {}
    for name, figure in figures.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"figures: {name!r} is not a plain file name (e.g. 'confusion.png')")
        if "." not in name:
            name += ".png"
        if isinstance(figure, (bytes, bytearray, memoryview)):
            out[name] = bytes(figure)
        elif isinstance(figure, (str, os.PathLike)):
            out[name] = Path(figure).read_bytes()
        elif callable(getattr(figure, "savefig", None)):
            import io

            buffer = io.BytesIO()
            figure.savefig(buffer, format=name.rsplit(".", 1)[1], dpi=100)
            out[name] = buffer.getvalue()
        else:
            raise TypeError(f"figures[{name!r}]: give PNG bytes, a path or a matplotlib Figure, "
                            f"not {type(figure).__name__}")
    return out


def _final_step(model: Any) -> Any:
    for _ in range(10):
        steps = getattr(model, "steps", None)
        if not (isinstance(steps, list) and steps):
            break
        model = steps[-1][1]
    return model


def _training_time(training_time: Any, model: Any
                   ) -> tuple[Any, Any, float | None, str | None]:
    """Return ``(started, ended, duration seconds, source)`` of the training run."""
    if training_time is not None:
        if isinstance(training_time, (tuple, list)):
            if len(training_time) != 2:
                raise ValueError("training_time must be seconds or a (start, end) pair")
            return training_time[0], training_time[1], None, "argument"
        if isinstance(training_time, bool) or not isinstance(training_time, (int, float)) \
                or not math.isfinite(training_time) or training_time < 0:
            raise ValueError(f"training_time must be seconds (>= 0) or a (start, end) pair, "
                             f"not {training_time!r}")
        return None, None, float(training_time), "argument"
    for candidate in (model, _final_step(model)):
        started = getattr(candidate, "fit_started_", None)
        ended = getattr(candidate, "fit_ended_", None)
        if started is not None and ended is not None:
            return started, ended, None, "model"
    return None, None, None, None


def _training_history(model: Any) -> dict[str, Any]:
    """Return epochs and per-epoch metrics of a Keras model or KerasClassifier, if any."""
    final = _final_step(model)
    history = getattr(final, "history_", None)
    if not isinstance(history, Mapping):
        keras_history = getattr(final, "history", None)  # a Keras model after fit()
        history = getattr(keras_history, "history", None)
    if not isinstance(history, Mapping) or not history:
        return {}
    try:
        history = _to_json(dict(history), "history")
    except TypeError:
        return {}
    epochs = getattr(final, "n_iter_", None)
    if not isinstance(epochs, int):
        epochs = max((len(v) for v in history.values() if isinstance(v, list)), default=None)
    return {"epochs": epochs, "history": history}


def _doi_of(source: str, metadata: Mapping[str, Any]) -> dict[str, str]:
    doi = metadata.get("doi") or metadata.get("DOI")
    if not doi:
        match = re.search(r"(?:doi:|doi\.org/|doi\.pangaea\.de/)(10\.\d{4,9}/[^\s?#]+)",
                          source, re.IGNORECASE)
        if match is None and source.startswith("10."):
            return {"doi": source}
        doi = match.group(1) if match else None
    return {"doi": str(doi)} if doi else {}


def _entry_reference(entry: ManifestEntry) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "path": entry.path,
        "source": redact_url(entry.source),
        "size": entry.size,
        "sha256": entry.sha256,
        "retrieved": entry.retrieved,
        **_doi_of(entry.source, entry.metadata),
    }
    for key in ("citation", "license"):
        value = entry.metadata.get(key)
        if isinstance(value, str) and value:
            ref[key] = value
    return ref


def _local_references(path: Path) -> list[dict[str, Any]]:
    """Return references for an existing file or folder (manifest entries inside a raw/)."""
    from ..workspace.workspace import Workspace

    path = path.resolve()
    for root in path.parents:
        if _is_workspace_root(root) and (root / "raw") in (path, *path.parents):
            entries = Workspace(root).entries()
            relative = path.relative_to(root / "raw").as_posix()
            if path.is_dir():
                prefix = "" if relative == "." else relative + "/"
                found = [e for p, e in entries.items() if p.startswith(prefix)]
                if not found:
                    raise NotFoundError(f"data: {path} holds no file recorded in {root}/raw/"
                                        "MANIFEST; fetch the data with Workspace.fetch first")
                return [_entry_reference(e) for e in found]
            if relative in entries:
                return [_entry_reference(entries[relative])]
            raise NotFoundError(
                f"data: {path} is in raw/ but not recorded in {root}/raw/MANIFEST; run "
                "Workspace.verify() and fetch it again with Workspace.fetch"
            )
    if path.is_dir():
        raise NotFoundError(f"data: {path} is a folder outside any workspace's raw/; give its "
                            "files, or fetch them into a workspace first")
    return [{"name": path.name, "source": None, **_size_and_hash(path)}]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        if not value and prefix:
            out[prefix] = {}
        return out
    return {prefix: value}


def _comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten what :meth:`awiml.store.ModelStore.diff` compares into ``field -> value``."""
    prov = record.get("provenance") or {}
    code = prov.get("code") or {}
    env = prov.get("environment") or {}
    saved = record.get("model") or {}
    out: dict[str, Any] = {"kind": record.get("kind")}
    for key in ("commit", "branch", "dirty", "remote"):
        out[f"code.{key}"] = code.get(key)
    for ref in record.get("data") or []:
        label = ref.get("path") or ref.get("name") or ref.get("source") or "?"
        out[f"data:{label}"] = ref.get("sha256") or ref.get("source")
    for dataset in record.get("datasets") or []:
        out[f"dataset:{dataset.get('kind')}:{dataset.get('name')}"] = dataset.get("digest")
    flat_sections = {
        "params": record.get("params"),
        "tags": record.get("tags"),
        "metrics": _scalar_metrics(record.get("metrics")),
        "model.params": saved.get("params"),
        "model.architecture": saved.get("architecture"),
        "model.classes": {"": saved.get("classes")},
        "model.framework_versions": saved.get("framework_versions"),
        # how the run was started; not where the repository or workspace lay on that machine
        "run": {k: v for k, v in (prov.get("run") or {}).items()
                if k not in ("repository", "workspace")},
        "seeds": {k: v for k, v in (prov.get("seeds") or {}).items() if k != "set_at"},
        "environment.packages": env.get("packages"),
        "environment.distributions": env.get("distributions"),
        "environment": {"python": env.get("python"), "keras_backend": env.get("keras_backend"),
                        "platform": env.get("platform")},
        "hardware": prov.get("hardware"),
        # the resources, not what names them anew on every run (a port, job ids)
        "compute": {k: v for k, v in (prov.get("compute") or {}).items()
                    if k not in ("address", "slurm_job_ids", "problem")},
    }
    for section, value in flat_sections.items():
        for key, item in _flatten(value or {}).items():
            label = f"{section}.{key}" if key else section
            out[label] = json.dumps(item, sort_keys=True) if isinstance(item, list) else item
    return out


def _comparable_pair(a: Mapping[str, Any], b: Mapping[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return :func:`_comparable` of two records, the distributions only when both have them.

    A version saved before awiml recorded every distribution would otherwise
    differ from a newer one in a row per installed distribution.
    """
    flat = [_comparable(a), _comparable(b)]
    if not all(((r.get("provenance") or {}).get("environment") or {}).get("distributions")
               for r in (a, b)):
        flat = [{k: v for k, v in f.items() if not k.startswith("environment.distributions.")}
                for f in flat]
    return flat[0], flat[1]


_FIELD_ORDER = ("kind", "run.", "seeds.", "code.", "data:", "dataset:", "params.", "tags.",
                "metrics.", "model.", "environment", "hardware", "compute")


def _field_order(key: str) -> tuple[int, str]:
    for index, prefix in enumerate(_FIELD_ORDER):
        if key.startswith(prefix):
            return index, key
    return len(_FIELD_ORDER), key
