"""The main job, end to end and offline: ``make demo`` or ``python -m awiml.demo``.

A loopback PANGAEA (:class:`awiml.testing.PangaeaServer`) serves a real
dataset bundled with awiml (doi:10.1594/PANGAEA.889513, Polarstern cruise PS103
thermosalinograph); the demo searches it, fetches it into a new workspace's
``raw/`` (once more over a connection that drops, to show resume), trains a
classifier of Southern Ocean water-mass zones in a scikit-learn Pipeline of
awiml pieces, stores it with its provenance, reloads it by alias and predicts.

Then a loopback EcoTaxa (:class:`awiml.testing.EcotaxaServer`) serves 400 real
plankton vignettes in four classes; the demo queries the project, fetches it
(an export job whose download drops and resumes), reads it as an
:class:`~awiml.datasets.ImageDataset` and trains, stores and reloads an image
classifier on scikit-image features.
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING

from .archives.ecotaxa import EcotaxaSource
from .archives.pangaea import PangaeaSource, read_text
from .classify import evaluate
from .datasets import ImageDataset
from .store import ModelStore
from .testing import Fault
from .testing.ecotaxa import EcotaxaServer
from .testing.pangaea import PangaeaServer
from .workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

DATA_FILE = "PANGAEA_889513_PS103_surf_oce_tsg.tab"
DOI = "10.1594/PANGAEA.889513"


def water_mass_zones(latitude: pd.Series) -> pd.Series:
    """Label each row with its Southern Ocean zone from latitude bands of the fronts.

    South of 55°S is Antarctic water, 45-55°S the Polar Frontal Zone, north of
    45°S subantarctic and subtropical water (fronts as crossed near the Greenwich
    meridian; a coarse, fixed-latitude approximation).

    Parameters
    ----------
    latitude : pandas.Series
        Latitudes in degrees north.

    Returns
    -------
    pandas.Series
        Zone names.
    """
    import pandas as pd

    bands = pd.cut(latitude, [-90, -55, -45, 90],
                   labels=["antarctic", "polar frontal", "subantarctic/subtropical"])
    return bands.astype(str)


def zone_pipeline() -> Pipeline:
    """Build the demo's classifier: clean, harmonise, convert units, impute, random forest.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from .preprocess import ConvertUnits, DropMissing, HarmoniseColumns, QualityFilter

    return Pipeline([
        ("quality", QualityFilter()),
        ("harmonise", HarmoniseColumns({"temperature": ["temp"], "salinity": ["sal"]},
                                       targets=["temperature", "salinity"], unknown="drop")),
        ("units", ConvertUnits({"temperature": "K"})),
        ("fill", DropMissing(strategy="median")),
        ("classify", RandomForestClassifier(n_estimators=100, random_state=0)),
    ])


def plankton_pipeline() -> Pipeline:
    """Build the demo's plankton classifier: scikit-image features, then a random forest.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted; it takes a list of image paths.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from .features import ImageFeatures

    return Pipeline([
        ("features", ImageFeatures()),
        ("classify", RandomForestClassifier(n_estimators=300, random_state=0)),
    ])


def _step(number: int, text: str) -> None:
    print(f"\n[{number}] {text}")


def _show(table: object) -> None:
    print("\n".join("    " + line for line in str(table).splitlines()))


def run(workspace_path: str | Path | None = None, *, progress: bool = True) -> Workspace:
    """Run the demo and return the workspace it filled.

    Parameters
    ----------
    workspace_path : path-like, optional
        Where to create the workspace; a new temporary folder by default.
    progress : bool, optional
        Show progress bars while fetching.

    Returns
    -------
    Workspace
        The workspace, with the fetched data recorded in its manifest.
    """
    root = Path(workspace_path or tempfile.mkdtemp(prefix="awiml-demo-"))
    started = time.perf_counter()
    with PangaeaServer() as pangaea, as_file(files("awiml") / "data" / DATA_FILE) as data_file:
        pangaea.add_sample_data()
        source = PangaeaSource(base_url=pangaea.base_url, cache=False)
        _step(1, f"A loopback PANGAEA serves a real dataset at {pangaea.base_url}")

        _step(2, "Search it like PANGAEA: 'thermosalinograph PS103'")
        hits = source.search("thermosalinograph PS103", limit=10)
        _show(hits[["doi", "restricted", "collection", "size"]].to_string(index=False))

        info = source.info(DOI)
        _step(3, f"Metadata of doi:{DOI}")
        print(f"    title:   {info['title']}")
        print(f"    licence: {info['license']}")
        print(f"    events:  {len(source.events(DOI))}")

        _step(4, f"Create the workspace at {root}")
        workspace = Workspace.create(root)
        for name in ("raw", "src", "lib", "features", "interim", "model"):
            print(f"    {name + '/':10} {getattr(workspace, name)}")

        _step(5, "Fetch pangaea://889513 into raw/ (streamed, verified, made read-only)")
        options = {"base_url": pangaea.base_url, "cache": False}
        table = workspace.fetch("pangaea://889513", storage_options=options, progress=progress)
        _show(table[["path", "size", "status", "attempts"]].to_string(index=False))

        _step(6, "Fetch again: already present, nothing is downloaded")
        table = workspace.fetch("pangaea://889513", storage_options=options, progress=progress)
        _show(table[["path", "status", "attempts"]].to_string(index=False))

        flaky = f"mirror/{DATA_FILE}"
        pangaea.add(flaky, data_file)
        _step(7, "Fetch a mirror copy over a line that drops after 100 kB: it resumes")
        pangaea.inject(flaky, Fault.drop_after(100_000))
        table = workspace.fetch(pangaea.url(flaky), subdir="mirror", progress=progress)
        _show(table[["path", "size", "status", "attempts"]].to_string(index=False))
        ranges = [r.header("range") for r in pangaea.requests if r.path.endswith(flaky)]
        print(f"    requests for it: {len(ranges)}, Range headers: {ranges}")

    _step(8, "Read the fetched table from raw/: parameters with units")
    data = read_text(workspace.raw / "pangaea/889513/data.tab")
    for column, described in data.attrs["columns"].items():
        unit = described.get("unit") or "-"
        print(f"    {column:12} [{unit:>4}]  {described.get('long_name') or ''}")
    print(f"    {len(data)} rows from {data['Date/Time'].min()} to {data['Date/Time'].max()}; "
          f"Temp {data['Temp'].min():.2f} to {data['Temp'].max():.2f} °C, "
          f"Sal {data['Sal'].min():.2f} to {data['Sal'].max():.2f}")

    _step(9, "Clean, extract features and train: a plain scikit-learn Pipeline of awiml pieces")
    zones = water_mass_zones(data["Latitude"])
    even_days = (data["Date/Time"].dt.day % 2 == 0).to_numpy()
    train, test = data[even_days], data[~even_days]
    model = zone_pipeline()
    print("    task: tell the water-mass zone (from latitude bands of the Southern Ocean fronts)")
    print("    from sea-surface temperature and salinity alone; trained on even days of the")
    print(f"    cruise ({len(train)} rows), tested on odd days ({len(test)} rows)")
    print(f"    pipeline: {' -> '.join(type(step).__name__ for _, step in model.steps)}")
    started_fit = time.perf_counter()
    model.fit(train, zones[even_days])
    fit_seconds = time.perf_counter() - started_fit
    report = evaluate(model, test, zones[~even_days])
    _show(report)

    _step(10, "Store the model with its provenance, then alias it 'production'")
    store = ModelStore(workspace)
    ref = store.save(
        model, "tsg-zones", data=workspace, metrics=report, alias="production",
        params={"train": "even days", "test": "odd days"}, training_time=fit_seconds,
    )
    info = store.info(ref)
    print(f"    saved {ref} ({info['kind']}), files: {', '.join(sorted(info['files']))}")
    print(f"    data references: {len(info['data'])}, aliases: {info['aliases']}")
    _show(store.versions("tsg-zones")[["version", "kind", "aliases"]].to_string(index=False))

    _step(11, "Reload it by alias, as a later session would, and predict")
    reloaded = store.load("tsg-zones@production")
    same = bool((reloaded.predict(test) == model.predict(test)).all())
    print(f"    tsg-zones@production predicts exactly as the trained model: {same}")
    if not same or not store.verify().ok:
        raise SystemExit("demo failed: the stored model does not reproduce its predictions")

    _step(12, "The manifest (raw/MANIFEST) records source, DOI, licence, size, sha256, time")
    manifest = workspace.manifest()
    manifest["doi"] = manifest["metadata"].map(lambda m: m.get("doi", ""))
    _show(manifest[["path", "size", "doi", "retrieved"]].to_string(index=False))
    identical = (workspace.entries()["pangaea/889513/data.tab"].sha256
                 == workspace.entries()[f"mirror/{DATA_FILE}"].sha256)
    print(f"    the PANGAEA export and the mirror copy are byte-identical: {identical}")

    _step(13, "Verify raw/ against the manifest")
    verified = workspace.verify()
    print(textwrap.indent(str(verified), "    "))
    if not verified.ok or not identical:
        raise SystemExit("demo failed: raw/ does not match its manifest")

    plankton(workspace, first_step=14, progress=progress)

    print(f"\nDone in {time.perf_counter() - started:.1f} s. Workspace: {workspace.root}")
    print("Next: O2A and HSM sources extend this demo.")
    return workspace


def plankton(workspace: Workspace, *, first_step: int = 1, progress: bool = True) -> str:
    """Run the demo's EcoTaxa part in ``workspace``; return the stored model's reference.

    Parameters
    ----------
    workspace : Workspace
        The workspace to fetch into and store the model in.
    first_step : int, optional
        Number of the first step printed.
    progress : bool, optional
        Show progress bars while exporting and fetching.

    Returns
    -------
    str
        The reference of the stored plankton classifier.
    """
    step = iter(range(first_step, first_step + 100))
    user, password = "demo", "not-a-real-password"
    with EcotaxaServer() as ecotaxa, tempfile.TemporaryDirectory() as cache:
        (project,) = ecotaxa.add_sample_data()
        ecotaxa.add_user(user, password)
        source = EcotaxaSource(user, password, base_url=ecotaxa.api_url, cache=cache,
                               remember_token=False)
        _step(next(step), f"A loopback EcoTaxa serves real plankton vignettes at {ecotaxa.api_url}")
        _show(source.projects()[["title", "objcount", "pctvalidated"]].to_string())

        _step(next(step), f"Query project {project}: validated objects per category")
        objects = source.query(project, {"status": "V"})
        _show(objects["category"].value_counts().to_string())

        _step(next(step), f"Fetch ecotaxa://{project} into raw/: an export job, then its zip "
                          "over a line that drops after 1 MB")
        ecotaxa.inject("/api/jobs/*/file", Fault.drop_after(1_000_000))
        options = {"base_url": ecotaxa.api_url, "username": user, "password": password,
                   "cache": cache, "remember_token": False,
                   "export_options": {"progress": progress, "poll_interval": 0.05}}
        table = workspace.fetch(f"ecotaxa://{project}", storage_options=options,
                                progress=progress)
        ranges = [r.header("range") for r in ecotaxa.requests if r.path.endswith("/file")]
        print(f"    {len(table)} files ({table['size'].sum() / 1e6:.1f} MB) in "
              f"raw/ecotaxa/{project}/; zip requests: {len(ranges)}, Range headers: {ranges}")
        entry = next(e for e in workspace.entries().values()
                     if e.path.startswith(f"ecotaxa/{project}/") and e.path.endswith(".tsv"))
        print(f"    manifest: job {entry.metadata['job_id']}, {entry.metadata['total_ids']} "
              f"objects, project {entry.metadata['title']!r}")

    _step(next(step), "Read the export as a labelled image dataset; hold out 20 %, stratified")
    dataset = ImageDataset.from_export(workspace.raw / "ecotaxa" / str(project))
    train, test = dataset.split(test_size=0.2, random_state=0)
    print(f"    {dataset!r}")
    print(f"    train {len(train)} images, test {len(test)} images")

    _step(next(step), "Train on scikit-image features of the vignettes: "
                      "ImageFeatures -> RandomForest")
    model = plankton_pipeline()
    started_fit = time.perf_counter()
    model.fit(list(train.paths), train.labels)
    fit_seconds = time.perf_counter() - started_fit
    report = evaluate(model, list(test.paths), test.labels)
    _show(report)

    _step(next(step), "Store it with provenance as plankton@production, reload and predict")
    store = ModelStore(workspace)
    ref = store.save(model, "plankton", data=workspace.raw / "ecotaxa" / str(project),
                     metrics=report, alias="production", training_time=fit_seconds,
                     params={"split": "stratified 80/20, random_state=0"})
    reloaded = store.load("plankton@production")
    same = bool((reloaded.predict(list(test.paths)) == model.predict(list(test.paths))).all())
    print(f"    saved {ref} with {len(store.info(ref)['data'])} data references; "
          f"reloaded predictions identical: {same}")
    verified = workspace.verify()
    print(f"    {verified}")
    if not same or not verified.ok or not store.verify().ok:
        raise SystemExit("demo failed: the plankton model or raw/ does not check out")
    return ref


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the demo.

    Parameters
    ----------
    argv : list of str, optional
        Arguments; ``sys.argv[1:]`` by default.
    """
    parser = argparse.ArgumentParser(prog="python -m awiml.demo", description=__doc__)
    parser.add_argument("--workspace", help="folder for the demo workspace (default: temporary)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    run(args.workspace, progress=not args.no_progress)


if __name__ == "__main__":
    main()
