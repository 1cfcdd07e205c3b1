"""Resolve the ``@uuid`` back-references in answers of the O2A registry.

The registry (``https://registry.o2a-data.de/rest/v2``) serialises an object that
occurs more than once in one answer in full only the first time, with an ``"@uuid"``
member; every later occurrence is just that uuid as a string (Jackson's object
identity). A client has to put the objects back in place before it can read, say,
the unit of the second parameter of a sensor.

Assumptions, from the public answers (``tests/data/o2a``):

- a reference is a string value (of a member or a list element) equal to the
  ``@uuid`` of an object anywhere in the same answer; a string that matches no
  object of the answer is data and is left as it is (uuid-valued fields such as
  ``vocableGroup`` exist, and a slice of an answer can refer to objects outside it);
- the definition usually comes first, but order is not relied on;
- objects may refer to themselves or to an enclosing object; the result then shares
  the object instead of copying it without end.
"""

from __future__ import annotations

from typing import Any

#: The member that names an object for later references.
UUID_KEY = "@uuid"


def resolve_references(answer: Any) -> Any:
    """Return a registry answer with every ``@uuid`` reference replaced by its object.

    Parameters
    ----------
    answer : object
        Decoded JSON (dicts, lists, strings, numbers, booleans, None).

    Returns
    -------
    object
        The same structure, rebuilt: each object with an ``@uuid`` appears once
        and every reference to it is that same dict (shared, not copied). The
        input is not changed.

    Examples
    --------
    >>> unit = {"@uuid": "b8e0", "code": "%"}
    >>> first, second = resolve_references(
    ...     [{"name": "Saturation", "unit": unit}, {"name": "Sat QF", "unit": "b8e0"}])
    >>> second["unit"]["code"]
    '%'
    >>> second["unit"] is first["unit"]
    True
    >>> resolve_references({"vocableGroup": "not-an-object-here"})
    {'vocableGroup': 'not-an-object-here'}
    """
    named: dict[str, dict[str, Any]] = {}
    _collect(answer, named)
    rebuilt: dict[int, Any] = {}
    return _rebuild(answer, named, rebuilt)


def _collect(node: Any, named: dict[str, dict[str, Any]]) -> None:
    """Record every object that carries an ``@uuid`` (the first one wins)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            uuid = item.get(UUID_KEY)
            if isinstance(uuid, str) and uuid not in named:
                named[uuid] = item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _rebuild(node: Any, named: dict[str, dict[str, Any]], rebuilt: dict[int, Any]) -> Any:
    """Copy ``node`` with references resolved; ``rebuilt`` maps input ids to copies.

    Iterative, so a deeply nested answer cannot exhaust Python's recursion limit.
    """
    if isinstance(node, str):
        return _rebuild(named[node], named, rebuilt) if node in named else node
    if not isinstance(node, (dict, list)):
        return node
    if id(node) in rebuilt:
        return rebuilt[id(node)]
    root = _empty_like(node, rebuilt)
    pending = [(node, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, str) and value in named and key != UUID_KEY:
                value = named[value]
            if isinstance(value, (dict, list)):
                fresh = id(value) not in rebuilt
                copy = _empty_like(value, rebuilt)
                if fresh:
                    pending.append((value, copy))
                value = copy
            if isinstance(target, dict):
                target[key] = value
            else:
                target.append(value)
    return root


def _empty_like(node: dict | list, rebuilt: dict[int, Any]) -> Any:
    """Return the copy of ``node`` (made empty on first sight, filled by the caller)."""
    if id(node) not in rebuilt:
        rebuilt[id(node)] = {} if isinstance(node, dict) else []
    return rebuilt[id(node)]
