"""The error diagram of the user guide (docs/_diagrams/errors.dot) matches awiml.errors."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import awiml.errors
from awiml.errors import AwimlError
from awiml.workspace import FetchError

DIAGRAM = Path(__file__).resolve().parent.parent / "docs" / "_diagrams" / "errors.dot"


def error_classes() -> list[type[AwimlError]]:
    """AwimlError, every subclass of it in awiml.errors, and the workspace's FetchError."""
    found = [
        value for _, value in inspect.getmembers(awiml.errors, inspect.isclass)
        if issubclass(value, AwimlError) and value.__module__ == "awiml.errors"
    ]
    return [*found, FetchError]


def diagram() -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Return the diagram's nodes (name: label) and edges (parent, child)."""
    text = DIAGRAM.read_text("utf-8")
    nodes = dict(re.findall(r'^\s*(\w+) \[label="([^"]*)"', text, re.M))
    edges = set(re.findall(r"^\s*(\w+) -> (\w+);", text, re.M))
    return nodes, edges


def test_the_diagram_names_every_error():
    nodes, _ = diagram()
    names = {cls.__name__ for cls in error_classes()}
    assert names - nodes.keys() == set(), "errors missing in docs/_diagrams/errors.dot"
    assert nodes.keys() - names == set(), "the diagram names errors that do not exist"


def test_the_diagram_draws_each_error_under_its_awiml_base():
    _, edges = diagram()
    expected = {
        (base.__name__, cls.__name__)
        for cls in error_classes()
        for base in cls.__bases__
        if issubclass(base, AwimlError)
    }
    assert edges == expected


def test_the_diagram_names_the_standard_exceptions_each_error_derives_from():
    nodes, _ = diagram()
    for cls in error_classes():
        builtins = sorted(
            base.__name__ for base in cls.__bases__
            if not issubclass(base, AwimlError) and base is not Exception
        )
        shown = sorted(re.findall(r"also (\w+)", nodes[cls.__name__]))
        assert shown == builtins, cls.__name__
