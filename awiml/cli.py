"""The ``awiml`` command line: a thin layer that parses arguments and calls the library.

Every command that works on a workspace names it the same way: ``-w PATH`` or
``--workspace PATH``, by default the workspace that contains the current folder
(found by looking upwards, as git finds its repository).

Credentials never go on the command line (where other users could read them
in the process list): HTTP logins come from ``~/.netrc``, a bearer token from
the ``AWIML_HTTP_TOKEN`` environment variable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from ._version import __version__

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    """Print awiml's errors, ValueError and OSError as one line (and notes); exit with 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .errors import AwimlError

        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            raise  # the reader went away (`| head`): _Cli ends quietly
        except (AwimlError, ValueError, OSError) as exc:
            click.echo(f"error: {exc}", err=True)
            for note in getattr(exc, "__notes__", []):
                click.echo(f"note: {note}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


#: The exit status of a command ended by Ctrl-C (128 + SIGINT), as shells report it.
_INTERRUPTED = 130


class _Cli(click.Group):
    """The ``awiml`` group: a closed pipe ends it quietly, Ctrl-C with what was kept.

    ``awiml models show x | head`` ends without a traceback; Ctrl-C prints the
    notes of the ``KeyboardInterrupt`` (what was kept, how to go on) and exits
    with 130, as shells do.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a write that fails now still fails here, not at exit
        except BrokenPipeError:
            # stdout to devnull, so the flush at exit cannot fail again (Python docs, SIGPIPE)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except KeyboardInterrupt as exc:
            command = f" {ctx.invoked_subcommand}" if ctx.invoked_subcommand else ""
            click.echo(f"\ninterrupted: `awiml{command}` was stopped (Ctrl-C)", err=True)
            for note in getattr(exc, "__notes__", []):
                click.echo(f"note: {note.removeprefix('awiml: ')}", err=True)
            ctx.exit(_INTERRUPTED)
        return result


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="awiml")
def main() -> None:
    """Carry raw archived data to an archived, reproducible classifier (awiml CLI).

    Commands that work on a workspace take -w/--workspace PATH; without it they
    use the workspace that contains the current folder.
    """


_WORKSPACE = click.option(
    "-w", "--workspace", "workspace_path", default=None, type=click.Path(file_okay=False),
    help="The workspace. Default: the one that contains the current folder.",
)


def _open_workspace(workspace_path: str | None) -> Any:
    """Open the workspace named with -w, or the one that contains the current folder."""
    from .errors import WorkspaceError
    from .workspace import Workspace

    if workspace_path is not None:
        return Workspace(workspace_path)
    try:
        return Workspace.find()
    except WorkspaceError as exc:
        exc.add_note("name the workspace with -w PATH (--workspace PATH), or run the "
                     "command inside it")
        raise


def _positional_workspace(command: str, path: str | None, workspace_path: str | None) -> str | None:
    """Accept the workspace of 0.1.0's ``awiml COMMAND PATH``, with a deprecation note."""
    if path is None:
        return workspace_path
    if workspace_path is not None:
        raise click.UsageError(f"name the workspace once: `awiml {command} -w PATH`")
    click.echo(f"note: `awiml {command} PATH` is deprecated; use `awiml {command} -w {path}` "
               "(or no -w inside the workspace)", err=True)
    return path


@main.command()
@click.argument("path", type=click.Path(file_okay=False))
@_reports_errors
def init(path: str) -> None:
    """Create a workspace at PATH (or add the parts an existing folder lacks)."""
    from .workspace import Workspace

    workspace = Workspace.create(path)
    click.echo(f"workspace ready at {workspace.root}")


@main.command()
@click.argument("urls", nargs=-1, required=True)
@_WORKSPACE
@click.option("--subdir", default=None, help="Folder below raw/ to put the files in.")
@click.option("--checksum", default=None,
              help="Published checksum of a single URL, as ALGORITHM:HEX (e.g. sha256:...).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Files fetched at the same time.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(0, 50),
              help="Retries per file on transient errors.")
@_reports_errors
def fetch(
    urls: tuple[str, ...],
    workspace_path: str | None,
    subdir: str | None,
    checksum: str | None,
    workers: int,
    progress: bool,
    retries: int,
) -> None:
    """Copy URLS (https://, file://, archive URLs or local paths) into the workspace's raw/.

    A PANGAEA dataset may be named by pangaea://ID or its DOI (10.1594/PANGAEA.ID,
    doi:..., https://doi.org/...). Logins for HTTP come from ~/.netrc; a bearer
    token from $AWIML_HTTP_TOKEN.
    """
    from .archives import RetryPolicy
    from .errors import AwimlError

    if checksum is not None and len(urls) != 1:
        raise click.UsageError("--checksum needs exactly one URL")
    workspace = _open_workspace(workspace_path)
    try:
        table = workspace.fetch(
            list(urls),
            subdir=subdir,
            checksum=checksum,
            workers=workers,
            progress=progress,
            token=os.environ.get("AWIML_HTTP_TOKEN") or None,
            policy=RetryPolicy(retries=retries),
        )
    except ValueError as exc:
        if isinstance(exc, AwimlError):
            raise
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt as exc:
        exc.add_note("run the same `awiml fetch` command again to go on where it stopped")
        raise
    for row in table.itertuples():
        click.echo(f"{row.status:8} raw/{row.path}  {row.size} bytes  {row.sha256}")


def _byte_size(text: str) -> int:
    """Read a size such as ``500M``, ``20G`` or ``1048576`` (powers of 1024)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    number, unit = text.strip().upper().rstrip("IB") or "0", ""
    if number[-1:] in units:
        number, unit = number[:-1], number[-1]
    try:
        return int(float(number) * units[unit])
    except ValueError:
        raise click.BadParameter(f"{text!r} is no size: write e.g. 500M, 20G or 1048576",
                                 param_hint="--part-size") from None


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.argument("destination")
@_WORKSPACE
@click.option("--name", default=None,
              help="Name stem of the tar parts (NAME-000.tar...). Default: the first path's name.")
@click.option("--part-size", default="20G", show_default=True,
              help="Largest tar part (K, M, G, T are powers of 1024).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar.")
@_reports_errors
def archive(paths: tuple[str, ...], destination: str, workspace_path: str | None,
            name: str | None, part_size: str, progress: bool) -> None:
    """Archive PATHS of the workspace into the folder DESTINATION (e.g. hsm:///hs/projects/p/x).

    Files and folders are packed into tar parts, uploaded, read back and checked
    by size and SHA-256, and logged in the workspace (see `awiml archived`); an
    existing file at DESTINATION is never replaced. Run the same command again
    after an interruption: parts already archived are skipped.
    """
    workspace = _open_workspace(workspace_path)
    table = workspace.archive(list(paths), destination, name=name,
                              part_size=_byte_size(part_size), progress=progress)
    for row in table.itertuples():
        click.echo(f"{row.status:8} {row.url}  {row.files} files  {row.size} bytes  "
                   f"{row.sha256}")


@main.command()
@_WORKSPACE
@_reports_errors
def archived(workspace_path: str | None) -> None:
    """Show the archive log: where each archived file of the workspace went."""
    table = _open_workspace(workspace_path).archived()
    _echo_table(table, "nothing archived from this workspace yet (awiml archive PATHS DEST)")


@main.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@_WORKSPACE
@click.option("--json", "as_json", is_flag=True, help="Print the manifest's JSON Lines.")
@_reports_errors
def manifest(path: str | None, workspace_path: str | None, as_json: bool) -> None:
    """Show the workspace's manifest: what raw/ holds and where it came from.

    The digest_source column says whether each file was checked against a
    checksum the archive published ("published") or its digest only computed
    on arrival ("computed"). PATH is the deprecated way to name the workspace
    (use -w PATH).
    """
    workspace = _open_workspace(_positional_workspace("manifest", path, workspace_path))
    entries = workspace.entries()
    if as_json:
        for entry in entries.values():
            click.echo(entry.to_json())
        return
    if not entries:
        click.echo("raw/ is empty: fetch data with `awiml fetch URL -w PATH`")
        return
    table = workspace.manifest()[["path", "size", "sha256", "digest_source", "retrieved",
                                  "source"]]
    table["sha256"] = table["sha256"].str.slice(0, 19) + "…"
    click.echo(table.to_string(index=False))
    computed = int((table["digest_source"] == "computed").sum())
    if computed:
        click.echo(f"{computed} of {len(table)} files rest only on a digest computed on arrival: "
                   "the archive published no checksum to check them against.")


@main.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@_WORKSPACE
@_reports_errors
def verify(path: str | None, workspace_path: str | None) -> None:
    """Re-hash the workspace's raw/ against its manifest; exit 1 if they differ.

    Also names the files whose digest was only computed on arrival (the archive
    published no checksum): verify shows they have not changed since, not that
    they arrived intact. PATH is the deprecated way to name the workspace (use -w PATH).
    """
    _echo_report(_open_workspace(_positional_workspace("verify", path, workspace_path)).verify())


@main.group()
def models() -> None:
    """Inspect and manage the models stored in a workspace's ModelStore."""


def _store(workspace_path: str | None, command: str, values: tuple[str | None, ...],
           expected: str, usage: str) -> Any:
    """Open the ModelStore; without -w, refuse a workspace folder given among ``values``."""
    from .errors import WorkspaceError
    from .store import ModelStore
    from .workspace import Workspace

    for value in values if workspace_path is None else ():
        if value is None or not Path(value).expanduser().is_dir():
            continue
        try:
            Workspace(value)
        except WorkspaceError:
            continue
        raise click.UsageError(
            f"{value!r} is a workspace, but `awiml models {command}` expects {expected} there. "
            f"Name the workspace with -w: `awiml models {command} -w {value} {usage}`"
        )
    return ModelStore(_open_workspace(workspace_path))


def _echo_table(table: Any, if_empty: str) -> None:
    click.echo(if_empty if table.empty else table.to_string(index=False))


def _echo_report(report: Any) -> None:
    """Print a verification report; exit with status 1 unless it is ok."""
    click.echo(str(report))
    if not report.ok:
        sys.exit(1)


_A_REF = "a model reference (NAME, NAME@VERSION or NAME@ALIAS)"


@models.command("list")
@_WORKSPACE
@click.argument("name", required=False)
@_reports_errors
def models_list(workspace_path: str | None, name: str | None) -> None:
    """List stored models, or the versions of NAME."""
    store = _store(workspace_path, "list", (name,),
                   "a model NAME (or nothing, to list every model)", "[NAME]")
    _echo_table(
        store.versions(name) if name else store.list(),
        "no models stored yet: save one with ModelStore(workspace).save(model, name)",
    )


@models.command("show")
@_WORKSPACE
@click.argument("ref")
@_reports_errors
def models_show(workspace_path: str | None, ref: str) -> None:
    """Show the model card of REF (name, name@3, name@production, name@latest)."""
    from .store import model_card

    info = _store(workspace_path, "show", (ref,), _A_REF, "REF").info(ref)
    card = info.get("path") and Path(info["path"]) / "MODEL_CARD.md"
    if card and card.is_file():
        click.echo(card.read_text("utf-8"))  # the card written at save time
    else:
        click.echo(model_card(info))
    click.echo(f"Aliases now: {', '.join(info.get('aliases', ())) or 'none'}")
    for copy in info.get("archived", ()):
        click.echo(f"Archived copy: {copy['url']} ({len(copy['files'])} files, "
                   f"{copy['archived']})")


@models.command("alias")
@_WORKSPACE
@click.argument("name")
@click.argument("alias")
@click.argument("version")
@_reports_errors
def models_alias(workspace_path: str | None, name: str, alias: str, version: str) -> None:
    """Point ALIAS of model NAME at VERSION (a number or another alias)."""
    store = _store(workspace_path, "alias", (name,), "a model NAME", "NAME ALIAS VERSION")
    ref = store.alias(name, alias, int(version) if version.isdigit() else version)
    click.echo(f"{name}@{alias} -> {ref}")


@models.command("diff")
@_WORKSPACE
@click.argument("ref_a")
@click.argument("ref_b")
@_reports_errors
def models_diff(workspace_path: str | None, ref_a: str, ref_b: str) -> None:
    """Show what changed between REF_A and REF_B: params, data, code, metrics."""
    store = _store(workspace_path, "diff", (ref_a, ref_b), _A_REF, "REF_A REF_B")
    _echo_table(store.diff(ref_a, ref_b), f"{ref_a} and {ref_b} do not differ")


@models.command("verify")
@_WORKSPACE
@click.argument("ref", required=False)
@_reports_errors
def models_verify(workspace_path: str | None, ref: str | None) -> None:
    """Re-hash stored model files (all, or REF's); exit 1 if any is missing or changed."""
    store = _store(workspace_path, "verify", (ref,),
                   f"{_A_REF} (or nothing, to verify every model)", "[REF]")
    _echo_report(store.verify(ref))


@models.command("reproduce")
@_WORKSPACE
@click.argument("ref")
@click.option("--keep", is_flag=True, help="Keep the scratch folder (inputs, new model).")
@click.option("--scratch", type=click.Path(file_okay=False), default=None,
              help="Where to make the scratch folder (default: the workspace's "
                   ".awiml/reproduce/; give another for a read-only workspace).")
@click.option("--no-fetch", is_flag=True,
              help="Do not fetch inputs missing from raw/ again; they count as missing.")
@click.option("--timeout", type=click.FloatRange(0, None, min_open=True), default=None,
              help="Seconds the re-run of the training may take.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--args", "arguments", default=None,
              help="The entry point's arguments instead of the recorded ones, as one "
                   "shell-quoted string (for a run whose record hid a password or token).")
@_reports_errors
def models_reproduce(workspace_path: str | None, ref: str, keep: bool, scratch: str | None,
                     no_fetch: bool, timeout: float | None, as_json: bool,
                     arguments: str | None) -> None:
    """Train REF again from its record in a scratch folder and compare; exit 0 if reproduced.

    Data (raw/ by SHA-256, else fetched again and checked), code (the recorded
    commit), the recorded entry point with its arguments and seeds, then the new
    model against the stored one; raw/ and model/ are never written.
    """
    import json
    import shlex

    store = _store(workspace_path, "reproduce", (ref,), _A_REF, "REF")
    report = store.reproduce(ref, keep=keep, scratch=scratch, fetch=not no_fetch,
                             timeout=timeout,
                             args=None if arguments is None else shlex.split(arguments))
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.to_text())
    if not report.reproduced:
        sys.exit(1)


@main.command("predict")
@click.argument("ref")
@click.argument("inputs", nargs=-1, required=True)
@_WORKSPACE
@click.option("--output", default=None, type=click.Path(file_okay=False),
              help="Folder of this run (new or empty). Default: a new folder "
                   "predictions/NAME@VERSION/TIME/ in the workspace.")
@click.option("--chunk-size", default=None, type=click.IntRange(1, None),
              help="Files per task. Default: about 100 tasks of 1 to 64 files.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on the Dask scheduler at ADDRESS (tcp://host:8786) instead of "
                   "worker processes on this machine.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar.")
@_reports_errors
def predict(ref: str, inputs: tuple[str, ...], workspace_path: str | None, output: str | None,
            chunk_size: int | None, scheduler: str | None, progress: bool) -> None:
    """Apply the stored model REF (NAME@VERSION, NAME@ALIAS) to INPUTS, files or folders.

    A model that takes images makes one prediction per image file, one that
    takes tables (.csv, .tsv, PANGAEA .tab) one per row. The predictions, the
    model's reference and the inputs' SHA-256 go into a new folder of the
    workspace; the command prints where, and how many of each class.
    """
    from .store import predict as run

    workspace = _open_workspace(workspace_path)
    client: Any = False
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise click.UsageError("--scheduler needs dask.distributed: "
                                   "pip install 'awiml[dask]'") from None
        client = Client(scheduler, timeout="30s")
    try:
        table = run(ref, list(inputs), workspace, output=output, chunk_size=chunk_size,
                    progress=progress, client=client)
    finally:
        if client:
            client.close()
    facts = table.attrs
    files = len(facts["inputs"])
    click.echo(f"{len(table)} predictions for {files} file{'s' * (files != 1)} by "
               f"{facts['model']['ref']} ({facts['model']['given']}) in {facts['path']}")
    for label, count in facts["predictions"]["counts"].items():
        click.echo(f"  {count:8}  {label}")


if __name__ == "__main__":  # pragma: no cover
    main()
