"""The O2A registry's ``@uuid`` back-references are resolved (issue 14)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from awiml.archives.o2a._references import UUID_KEY, resolve_references

DATA = Path(__file__).parent / "data" / "o2a"


def load(name: str):
    return json.loads((DATA / name).read_text("utf-8"))


def test_parameters_share_the_unit_and_type_defined_once():
    answer = load("registry_item_560_parameters_slice1-3.json")
    saturation, o2_corr, saturation_qf = resolve_references(answer)
    assert saturation_qf["unit"] is saturation["unit"]
    assert saturation_qf["unit"]["code"] == "%"
    assert saturation_qf["type"]["systemName"] == "saturation"
    # defined outside this slice of the answer: left as the uuid string it is
    assert o2_corr["unit"] == "acbd5aa2-df76-4194-843c-e05018798220"
    # a uuid-valued field that names no object of the answer is data
    assert saturation["type"]["vocableGroup"] == "b876cf1e-b073-4569-9ab6-8fa33ff3108c"
    assert answer[2]["unit"] == "b8e0d45f-4490-497d-bbca-17831378ffe6"  # input unchanged


def test_every_reference_of_a_real_answer_is_resolved():
    answer = load("registry_items_where_parent_id_456.json")
    named = set()

    def walk(node, seen):
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, dict):
            if UUID_KEY in node:
                named.add(node[UUID_KEY])
            for key, value in node.items():
                if key != UUID_KEY:
                    assert not (isinstance(value, str) and value in named_in_input), key
                walk(value, seen)
        elif isinstance(node, list):
            for value in node:
                assert not (isinstance(value, str) and value in named_in_input)
                walk(value, seen)

    named_in_input = set()

    def names(node):
        if isinstance(node, dict):
            if UUID_KEY in node:
                named_in_input.add(node[UUID_KEY])
            for value in node.values():
                names(value)
        elif isinstance(node, list):
            for value in node:
                names(value)

    names(answer)
    assert len(named_in_input) > 10
    resolved = resolve_references(answer)
    walk(resolved, set())
    assert named == named_in_input
    assert len(resolved) == len(answer)


def test_reference_before_its_definition_and_to_an_enclosing_object():
    answer = {"@uuid": "root", "items": ["child", {"@uuid": "child", "parent": "root"}]}
    resolved = resolve_references(answer)
    first, second = resolved["items"]
    assert first is second
    assert second["parent"] is resolved  # a cycle, shared rather than copied forever


def test_deep_nesting_does_not_exhaust_the_stack():
    depth = sys.getrecursionlimit() * 3
    node: dict = {"@uuid": "leaf"}
    for _ in range(depth):
        node = {"child": node, "again": "leaf"}
    resolved = resolve_references(node)
    for _ in range(depth):
        assert resolved["again"] == {"@uuid": "leaf"}
        resolved = resolved["child"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4)
    | st.sampled_from(["u1", "u2", "@uuid"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["@uuid", "a", "b", "unit"]), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_resolved_without_error_and_left_unchanged(answer):
    before = json.dumps(answer, sort_keys=True)
    resolve_references(answer)
    assert json.dumps(answer, sort_keys=True) == before
