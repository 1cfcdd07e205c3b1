"""Fuzzing the table readers: mutated real files must give a table or an awiml error.

Real PANGAEA and EcoTaxa files are mutated by Hypothesis (byte flips,
insertions, deletions, truncation, TABs and line breaks doubled or removed,
random bytes in the header, other encodings) and handed to
:func:`~awiml.archives.pangaea.text.read_text`,
:func:`~awiml.archives.pangaea.text.read_metadata` and
:func:`~awiml.archives.ecotaxa.tsv.read_tsv`. Each must return its result or
raise :class:`~awiml.errors.AwimlError`: no other exception, no crash of the
interpreter, no hang.

The readers run in one worker process per test module, fed through a pipe: a
crash (NumPy once segfaulted on a bad date) or a hang then fails the test
with the input that caused it, instead of killing pytest, and the worker
starts once, so an example costs little more than the parse.

A longer campaign: ``AWIML_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_tables.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DATA = Path(__file__).parent / "data"
PANGAEA_FILES = sorted(
    p for p in (DATA / "pangaea").rglob("*") if p.suffix in (".tab", ".txt") and p.is_file()
)
ECOTAXA_FILES = sorted((DATA / "ecotaxa").rglob("*.tsv"))
EXAMPLES = int(os.environ.get("AWIML_FUZZ_EXAMPLES", "60"))
TIMEOUT = 60
"""Seconds one parse may take before the worker counts as hung."""

WORKER = textwrap.dedent(
    """
    import faulthandler, json, os, sys, tempfile, warnings
    faulthandler.enable()
    from awiml.archives.ecotaxa.tsv import read_tsv
    from awiml.archives.pangaea.text import read_metadata, read_text
    from awiml.errors import AwimlError
    readers = {"read_text": read_text, "read_metadata": read_metadata, "read_tsv": read_tsv}
    folder = tempfile.mkdtemp(prefix="awiml-fuzz-")
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        header = stdin.readline()
        if not header:
            break
        request = json.loads(header)
        data = stdin.read(request["size"])
        source = data
        if request["as_path"]:
            source = os.path.join(folder, "input" + request["suffix"])
            with open(source, "wb") as handle:
                handle.write(data)
        kwargs = {} if request["strict"] is None else {"strict": request["strict"]}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = readers[request["reader"]](source, **kwargs)
            answer = {"outcome": "result", "type": type(result).__name__}
        except AwimlError as error:
            answer = {"outcome": "awiml", "type": type(error).__name__, "message": str(error)}
        except BaseException as error:
            answer = {"outcome": "other", "type": type(error).__name__, "message": repr(error)}
        stdout.write(json.dumps(answer) + "\\n")
        stdout.flush()
    """
)


class Worker:
    """A Python process that runs the readers on inputs sent through a pipe."""

    def __init__(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.process: subprocess.Popen | None = None
        self.count = 0

    def start(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None:
            self.stderr.seek(0)
            self.stderr.truncate()
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                cwd=Path(__file__).parent.parent,
                env={**os.environ, "PYTHONFAULTHANDLER": "1"},
            )
        return self.process

    def run(self, reader: str, data: bytes, *, as_path: bool, suffix: str, strict) -> dict:
        process = self.start()
        request = {
            "reader": reader,
            "size": len(data),
            "as_path": as_path,
            "suffix": suffix,
            "strict": strict,
        }
        self.count += 1
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n" + data)
            process.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._answer(process)
        if line is None:
            self.stop()
            self.stderr.seek(0)
            crash = self.stderr.read().decode("utf-8", "replace")[-3000:]
            return {"outcome": "crash", "type": "crash or hang", "message": crash}
        return json.loads(line)

    def _answer(self, process: subprocess.Popen) -> bytes | None:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(TIMEOUT):
                return None  # a hang
        line = process.stdout.readline()
        return line or None  # empty: the worker died

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def worker():
    worker = Worker()
    yield worker
    worker.stop()


# --------------------------------------------------------------------------- #
# Mutations
# --------------------------------------------------------------------------- #

_fraction = st.floats(0, 1, exclude_max=True)
_SEPARATORS = (b"\t", b"\n", b"\r\n", b"\r", b'"', b"\t\t", b"\n\n")


@st.composite
def mutation(draw):
    """One change to a file, with positions as fractions of its length (they shrink well)."""
    kind = draw(
        st.sampled_from(
            ["flip", "insert", "delete", "truncate", "separator", "drop", "header", "encode"]
        )
    )
    if kind == "flip":
        return (kind, draw(_fraction), draw(st.integers(1, 255)))
    if kind == "insert":
        return (kind, draw(_fraction), draw(st.binary(min_size=1, max_size=8)))
    if kind == "delete":
        return (kind, draw(_fraction), draw(st.integers(1, 64)))
    if kind == "truncate":
        return (kind, draw(_fraction), None)
    if kind == "separator":
        return (kind, draw(_fraction), draw(st.sampled_from(_SEPARATORS)))
    if kind == "drop":  # remove the n-th TAB or line break
        return (kind, draw(_fraction), draw(st.sampled_from([b"\t", b"\n"])))
    if kind == "header":
        return (kind, draw(_fraction), draw(st.binary(min_size=1, max_size=16)))
    return (
        kind,
        None,
        draw(st.sampled_from(["iso-8859-1", "cp1252", "utf-16", "utf-8-sig", "mac-roman"])),
    )


def apply(data: bytes, changes: list) -> bytes:
    out = bytearray(data)
    for kind, where, value in changes:
        at = int(where * len(out)) if where is not None else 0
        if kind == "flip" and out:
            out[at] ^= value
        elif kind == "insert":
            out[at:at] = value
        elif kind == "delete":
            del out[at : at + value]
        elif kind == "truncate":
            del out[at:]
        elif kind == "separator":
            out[at:at] = value
        elif kind == "drop":
            positions = [i for i, byte in enumerate(out) if byte == value[0]]
            if positions:
                del out[positions[int(where * len(positions))]]
        elif kind == "header":
            end = out.find(b"\n", out.find(b"*/") + 1 if out.startswith(b"/*") else 0)
            end = len(out) if end < 0 else end
            spot = int(where * (end + 1))
            out[spot:spot] = value
        elif kind == "encode":
            text = bytes(out).decode("utf-8", "replace")
            out = bytearray(text.encode(value, "replace"))
    return bytes(out)


def source(files: list[Path]):
    return st.tuples(
        st.sampled_from(files),
        st.lists(mutation(), min_size=1, max_size=4),
        st.booleans(),
        st.sampled_from([None, True, False]),
    )


def check(worker: Worker, reader: str, path: Path, changes: list, as_path: bool, strict) -> None:
    data = apply(path.read_bytes(), changes)
    answer = worker.run(reader, data, as_path=as_path, suffix=path.suffix, strict=strict)
    assert answer["outcome"] in ("result", "awiml"), (
        f"{reader}({path.name} mutated by {changes}, as_path={as_path}, strict={strict}) "
        f"gave {answer['type']}: {answer.get('message')}"
    )


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- #
# The tests
# --------------------------------------------------------------------------- #


def test_the_worker_reports_a_crash_as_a_failure(worker):
    """The harness itself: a segfault in the worker is seen, and the next input gets a new one."""
    process = worker.start()
    process.stdin.write(b'{"reader": "read_text", "size": 0, "as_path": false, "suffix": ""')
    process.stdin.flush()
    process.send_signal(11)  # SIGSEGV, as a crash in NumPy would
    assert worker._answer(process) is None
    worker.stop()
    answer = worker.run("read_text", b"A\tB\n1\t2\n", as_path=False, suffix=".tab", strict=None)
    assert answer == {"outcome": "result", "type": "DataFrame"}
    answer = worker.run("read_text", b"A\tB\n1\n", as_path=False, suffix=".tab", strict=None)
    assert answer["outcome"] == "awiml" and answer["type"] == "InvalidDataError"


@FUZZ
@given(case=source(PANGAEA_FILES))
def test_read_text_on_mutated_files(worker, case):
    check(worker, "read_text", *case)


@FUZZ
@given(case=source(PANGAEA_FILES))
def test_read_metadata_on_mutated_files(worker, case):
    path, changes, as_path, _ = case
    check(worker, "read_metadata", path, changes, as_path, None)


@FUZZ
@given(case=source(ECOTAXA_FILES))
def test_read_tsv_on_mutated_files(worker, case):
    check(worker, "read_tsv", *case)


@pytest.mark.slow
@settings(FUZZ, max_examples=EXAMPLES * 5)
@given(
    case=source(PANGAEA_FILES + ECOTAXA_FILES), reader=st.sampled_from(["read_text", "read_tsv"])
)
def test_either_reader_on_any_mutated_file(worker, case, reader):
    check(worker, reader, *case)
