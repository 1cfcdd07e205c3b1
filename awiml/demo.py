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

Between the two, a loopback O2A (:class:`awiml.testing.O2AServer`) serves the
Polarstern thermosalinograph's sensor series for the time of cruise PS103; the
demo finds the sensors, lands the extract in ``raw/``, reads it as a CF
dataset and draws it beside the PANGAEA table, units converted by awiml, in a
figure saved in the workspace (``figures/ps103_tsg_o2a_pangaea.png``).

Last, a loopback HSM (:class:`awiml.testing.HSMServer`, an SSH server) stands
for AWI's tape archive: two PS103 files lie offline on two tape volumes; a
read without staging is refused, the fetch stages both in one request and
copies them into ``raw/``, and the trained models are archived back to tape
as verified tar parts, which the models' records then name.

It ends as a project should: a training script committed in the workspace's
``src/`` (a git repository) trains the zone classifier from ``raw/``, and
``ModelStore.reproduce`` trains it again from its record alone and finds the
same model.
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
from .archives.hsm import HSMSource
from .archives.o2a import PlatformSource
from .archives.pangaea import PangaeaSource, read_text
from .classify import evaluate
from .datasets import ImageDataset
from .store import ModelStore
from .testing import Fault
from .testing.ecotaxa import EcotaxaServer
from .testing.hsm import HSMServer
from .testing.o2a import O2AServer
from .testing.pangaea import PangaeaServer
from .workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

DATA_FILE = "PANGAEA_889513_PS103_surf_oce_tsg.tab"
DOI = "10.1594/PANGAEA.889513"
#: The Polarstern thermosalinograph's sensors in O2A, and the whole hours of PS103's table.
TSG_CODES = ("vessel:polarstern:tsg:temperature", "vessel:polarstern:tsg:salinity")
PS103_HOURS = ("2016-12-16T19:00:00", "2017-01-30T17:59:59")
#: One name and unit per quantity, for the tables of both archives.
COMMON_UNITS = {"temperature": "degC", "salinity": "PSU"}


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


def _shorter(text: str, width: int = 60) -> str:
    """Shorten ``text`` to ``width`` characters with an ellipsis in the middle."""
    if len(text) <= width:
        return text
    keep = (width - 3) // 2
    return f"{text[:keep]}...{text[-(width - 3 - keep):]}"


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

    sensor_series(workspace, data, first_step=14, progress=progress)
    plankton(workspace, first_step=16, progress=progress)
    tape_archive(workspace, first_step=22, progress=progress)
    reproduction(workspace, first_step=25)

    print(f"\nDone in {time.perf_counter() - started:.1f} s. Workspace: {workspace.root}")
    return workspace


#: The demo's training script, committed in the workspace's src/ and reproduced.
TRAINING_SCRIPT = '''"""Train the water-mass zone classifier on PS103's thermosalinograph table."""
import sys

import awiml
from awiml.archives.pangaea import read_text
from awiml.classify import evaluate
from awiml.demo import water_mass_zones, zone_pipeline

awiml.set_seed(103)
workspace = awiml.Workspace(sys.argv[1])
table = workspace.raw / "pangaea/889513/data.tab"
data = read_text(table)
zones = water_mass_zones(data["Latitude"])
even_days = (data["Date/Time"].dt.day % 2 == 0).to_numpy()
model = zone_pipeline().fit(data[even_days], zones[even_days])
report = evaluate(model, data[~even_days], zones[~even_days])
print(awiml.ModelStore(workspace).save(model, "tsg-zones-script", data=table, metrics=report))
'''


def reproduction(workspace: Workspace, *, first_step: int = 1) -> str:
    """Run the demo's last part: a committed script trains a model; it is reproduced.

    ``src/train_zones.py`` (:data:`TRAINING_SCRIPT`) is committed in a git
    repository in the workspace's ``src/`` and run; it reads the PS103 table
    from ``raw/`` (it must have been fetched there, as the demo's step 5 does)
    and saves ``tsg-zones-script``. ``ModelStore.reproduce`` then trains it
    again in a scratch folder and compares.

    Parameters
    ----------
    workspace : Workspace
        The workspace holding ``raw/pangaea/889513/data.tab``.
    first_step : int, optional
        Number of the first step printed.

    Returns
    -------
    str
        The reference of the reproduced version.
    """
    import subprocess
    import sys

    src = workspace.src
    git = ["git", "-C", str(src), "-c", "user.name=awiml demo",
           "-c", "user.email=demo@awiml.invalid"]
    _step(first_step, "A training script, committed in src/ (git), trains the zone classifier")
    (src / "train_zones.py").write_text(TRAINING_SCRIPT, encoding="utf-8")
    try:
        for command in (["init", "-q"], ["add", "train_zones.py"],
                        ["commit", "-q", "-m", "Train the water-mass zone classifier"]):
            subprocess.run([*git, *command], check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise SystemExit("demo failed: git is not installed; install it (apt-get install "
                         "git) to see a model reproduced") from None
    trained = subprocess.run([sys.executable, "train_zones.py", str(workspace.root)], cwd=src,
                             capture_output=True, text=True, timeout=600, check=False)
    if trained.returncode != 0:
        raise SystemExit(f"demo failed: src/train_zones.py failed:\n{trained.stderr[-2000:]}")
    ref = trained.stdout.strip().splitlines()[-1]
    commit = ModelStore(workspace).info(ref)["provenance"]["code"]["commit"]
    print(f"    python train_zones.py {workspace.root} -> saved {ref} from commit {commit[:10]}")

    _step(first_step + 1, f"Reproduce {ref} from its record alone: awiml models reproduce {ref}")
    report = ModelStore(workspace).reproduce(ref)
    print(textwrap.indent(report.to_text(), "    "))
    if not report.reproduced:
        raise SystemExit(f"demo failed: {ref} was not reproduced")
    return ref


def tape_archive(workspace: Workspace, *, first_step: int = 1, progress: bool = True) -> str:
    """Run the demo's HSM part: stage and fetch from tape, archive the models back.

    The PANGAEA PS103 table (bundled with awiml) and the workspace's O2A
    extract of the cruise, if any, lie offline on two tape volumes of a
    loopback HSM. A read without staging is refused; ``Workspace.fetch``
    stages both in one request and copies them into ``raw/hsm/``; then
    ``Workspace.archive`` puts the workspace's ``model/`` folder (it must hold
    at least one stored model) back on tape.

    Parameters
    ----------
    workspace : Workspace
        The workspace to fetch into and archive from.
    first_step : int, optional
        Number of the first step printed.
    progress : bool, optional
        Show progress bars while waiting, fetching and archiving.

    Returns
    -------
    str
        The URL of the archive folder the models went to.
    """
    from .errors import TransferError

    step = iter(range(first_step, first_step + 100))
    folder, models = "/hs/projects/awiml-demo/ps103", "/hs/projects/awiml-demo/models"
    extracts = sorted((workspace.raw / "o2a").glob("*.tsv")) if (workspace.raw / "o2a").is_dir() \
        else []
    with tempfile.TemporaryDirectory() as scratch, HSMServer(
            Path(scratch) / "hsm", users={"demo": "not-a-real-password"}, drives=2,
            mount_time=0.3, read_rate=20e6) as hsm, \
            as_file(files("awiml") / "data" / DATA_FILE) as data_file:
        hsm.add_file(f"{folder}/{DATA_FILE}", data_file, volumes=["022000"])
        for extract in extracts:
            hsm.add_file(f"{folder}/o2a/{extract.name}", extract, volumes=["022001"])
        options = {"host": hsm.host, "port": hsm.port, "user": "demo",
                   "password": "not-a-real-password", "known_hosts": None, "poll": 0.05,
                   "progress": progress}
        source = HSMSource(**options)
        _step(next(step), f"A loopback HSM (SSH) stands for the tape archive at {source.where}")
        for entry in source.find(folder, detail=True).values():
            name = _shorter(entry["name"].removeprefix(folder + "/"))
            print(f"    {name:60} {entry['size']:>7} bytes  {entry['state']:8} on volume "
                  f"{', '.join(entry['vsns'])}")
        try:
            source.cat_file(f"{folder}/{DATA_FILE}")
        except TransferError as exc:
            print(f"    reading it now is refused: {str(exc).split('. ')[0]}. Stage it first ...")

        _step(next(step), f"Fetch hsm://{folder} into raw/: one stage request for both "
                          "volumes, wait, copy")
        table = workspace.fetch(f"hsm://{folder}", subdir="hsm", storage_options=options,
                                progress=progress)
        for row in table.itertuples():
            print(f"    {row.status:8} raw/{_shorter(row.path)}  {row.size} bytes")
        stages = [c.command for c in hsm.commands if c.command.startswith("stage")]
        mounts = sorted(hsm.mounts, key=lambda mount: (mount.mounted, mount.vsn))
        print(f"    stage requests: {len(stages)}; tape mounts: {len(mounts)} "
              f"({', '.join(mount.vsn for mount in mounts)}, {hsm.drives} drives)")
        entries = workspace.entries()
        entry = entries[f"hsm/ps103/{DATA_FILE}"]
        print(f"    manifest: {_shorter(entry.metadata['hsm_path'])} was "
              f"{entry.metadata['state']} on {', '.join(entry.metadata['vsns'])}")
        if "pangaea/889513/data.tab" in entries:
            same = entry.sha256 == entries["pangaea/889513/data.tab"].sha256
            print(f"    the copy from tape and the PANGAEA export are byte-identical: {same}")

        _step(next(step), f"Archive the trained models back to tape, hsm://{models}")
        archived = workspace.archive("model", f"hsm://{models}", name="awiml-demo-models",
                                     storage_options=options, progress=progress)
        _show(archived[["part", "files", "size", "status"]].to_string(index=False))
        again = workspace.archive("model", f"hsm://{models}", name="awiml-demo-models",
                                  storage_options=options, progress=False)
        print(f"    archiving again: {', '.join(again['status'])} (never overwritten)")
        store = ModelStore(workspace)
        copies = {f"{name}@{latest}": store.info(f"{name}@{latest}")["archived"]
                  for name, latest in zip(store.list()["name"], store.list()["latest"],
                                          strict=True)}
        for ref, where in copies.items():
            print(f"    {ref}'s record names its copy on tape: "
                  f"{', '.join(_shorter(c['url'], 88) for c in where) or 'none'}")
        on_tape = {p.name for p in (Path(scratch) / "hsm" / models.lstrip("/")).iterdir()}
    if not all(copies.values()) or on_tape != set(archived["part"]) \
            or not workspace.verify().ok:
        raise SystemExit("demo failed: the models did not reach the tape archive intact")
    return f"hsm://{models}"


def sensor_series(workspace: Workspace, pangaea: pd.DataFrame, *, first_step: int = 1,
                  progress: bool = True) -> Path:
    """Run the demo's O2A part: PS103's sensor series beside the PANGAEA table; return the figure.

    A loopback O2A serves the Polarstern thermosalinograph; the extract for
    the whole hours of cruise PS103 is fetched into ``raw/o2a/`` and read as
    hourly means. Both tables get the same column names and units through
    awiml's :class:`~awiml.preprocess.ConvertUnits` (PANGAEA writes ``°C``
    and no unit for salinity, O2A's dataset ``degC`` and ``1``), and the
    PANGAEA table's 10-minute values are averaged per hour to compare them.

    Parameters
    ----------
    workspace : Workspace
        The workspace to fetch into and save the figure in.
    pangaea : pandas.DataFrame
        The PANGAEA PS103 table, as :func:`awiml.archives.pangaea.read_text` reads it.
    first_step : int, optional
        Number of the first step printed.
    progress : bool, optional
        Show progress bars while fetching.

    Returns
    -------
    pathlib.Path
        The figure, ``figures/ps103_tsg_o2a_pangaea.png`` in the workspace.
    """
    step = iter(range(first_step, first_step + 100))
    start, end = PS103_HOURS
    with O2AServer() as o2a:
        o2a.add_sample_data()
        source = PlatformSource(o2a.data_url, registry_url=o2a.registry_url, cache=False,
                                progress=False)
        _step(next(step), f"A loopback O2A serves AWI's sensor data at {o2a.data_url}; "
                          "find the Polarstern thermosalinograph")
        found = source.sensors("vessel:polarstern:tsg:*")
        _show(found[["code", "unit", "firstDate", "lastDate"]].to_string(index=False))
        about = source.info(TSG_CODES[0])
        print(f"    registry: {about['item']['longName']} ({about['item']['model']}, "
              f"{about['item']['manufacturer']}) on {about['platform']['longName']}")

        url = (f"o2a://{','.join(TSG_CODES)}?start={start}&end={end}"
               "&aggregate=hour&functions=mean")
        options = {"base_url": o2a.data_url, "registry_url": o2a.registry_url,
                   "cache": False, "progress": False}
        table = workspace.fetch(url, storage_options=options, progress=progress)
        (entry,) = (workspace.entries()[path] for path in table["path"])
        print(f"    fetched {url}")
        print(f"    into raw/{entry.path} ({entry.size} bytes); the manifest records "
              f"{entry.metadata['aggregate']} {', '.join(entry.metadata['functions'])} "
              f"of {len(entry.metadata['sensors'])} sensors, {entry.metadata['start']} "
              f"to {entry.metadata['end']}")
        series = source.read(TSG_CODES, start, end, aggregate="hour", as_frame=True)

    _step(next(step), "Side by side with PANGAEA: same quantities, units converted by awiml")
    o2a_hourly, pangaea_hourly = _common_units(series, pangaea)
    both = o2a_hourly.merge(pangaea_hourly, left_index=True, right_index=True,
                            suffixes=("_o2a", "_pangaea"))
    print(f"    {len(o2a_hourly)} hours from O2A, {len(pangaea_hourly)} hours with PANGAEA "
          f"values, {len(both)} in both")
    medians = {}
    for name, unit in COMMON_UNITS.items():
        difference = (both[f"{name}_o2a"] - both[f"{name}_pangaea"]).abs()
        medians[name] = difference.median()
        print(f"    {name:11} [{unit}]: O2A minus PANGAEA, median |difference| "
              f"{medians[name]:.3f}, largest {difference.max():.3f}")
    figure = _plot_side_by_side(o2a_hourly, pangaea, workspace.root / "figures")
    print(f"    figure: {figure.relative_to(workspace.root)}")
    if len(both) < 0.5 * len(o2a_hourly) or not max(medians.values()) < 0.1:
        raise SystemExit("demo failed: the O2A series does not line up with the PANGAEA table")
    return figure


def _common_units(o2a: pd.DataFrame, pangaea: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give both archives' tables the columns of :data:`COMMON_UNITS`, hourly, in those units."""
    import pandas as pd

    from .preprocess import ConvertUnits

    o2a = o2a.rename(columns={"temperature_mean": "temperature", "salinity_mean": "salinity"})
    o2a.attrs["units"] = {"temperature": o2a.attrs["units"]["temperature_mean"],
                          "salinity": o2a.attrs["units"]["salinity_mean"]}
    o2a = ConvertUnits(COMMON_UNITS).fit_transform(o2a[list(COMMON_UNITS)])

    table = pd.DataFrame({"temperature": pangaea["Temp"].to_numpy(),
                          "salinity": pangaea["Sal"].to_numpy()},
                         index=pd.DatetimeIndex(pangaea["Date/Time"]).tz_convert("UTC"))
    # PANGAEA gives Temp in °C and Sal without a unit: PS103's salinity is PSS-78.
    units = pangaea.attrs["columns"]
    convert = ConvertUnits(COMMON_UNITS, source_units={
        "temperature": units["Temp"]["unit"], "salinity": units["Sal"].get("unit") or "PSU"})
    hourly = convert.fit_transform(table).resample("1h").mean().dropna()
    return o2a, hourly


def _plot_side_by_side(o2a: pd.DataFrame, pangaea: pd.DataFrame, folder: Path) -> Path:
    """Draw the O2A hourly means over PANGAEA's 10-minute values; save and return the PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, layout="constrained")
    times = pangaea["Date/Time"]
    for axis, (name, unit), column in zip(axes, COMMON_UNITS.items(), ("Temp", "Sal"),
                                          strict=True):
        axis.plot(times, pangaea[column], ".", markersize=1.5, color="0.6",
                  label="PANGAEA doi:10.1594/PANGAEA.889513 (10 min)")
        axis.plot(o2a.index, o2a[name], lw=1.0, color="tab:blue",
                  label="O2A vessel:polarstern:tsg (hourly mean)")
        axis.set_ylabel(f"{name} [{unit}]")
    axes[0].legend(loc="upper right", fontsize="small")
    axes[0].set_title("Polarstern thermosalinograph, cruise PS103")
    path = folder / "ps103_tsg_o2a_pangaea.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


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
