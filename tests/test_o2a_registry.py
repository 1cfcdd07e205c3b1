"""The registry's events and contacts are reduced safely, whatever the JSON holds (issue 14)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from awiml.archives.o2a._registry import contact, event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=20,
)
records = st.dictionaries(
    st.sampled_from(["startDate", "endDate", "latitude", "label", "type", "contact", "role",
                     "firstName", "generalName", "name"]),
    json_values | st.sampled_from(["2020-08-31T05:14:00", "2020-13-45T99:00:00", "0000-00-00",
                                   "99999-01-01T00:00:00", " "]),
    max_size=8,
)


@given(records)
def test_no_record_crashes_the_reduction(record):
    reduced = event(record)
    for name in ("startDate", "endDate"):
        assert reduced[name] is None or (isinstance(reduced[name], pd.Timestamp)
                                         and reduced[name].tzname() == "UTC")
    person = contact(record)
    assert set(person) == {"firstName", "lastName", "email", "orcid", "companyName", "role"}
    for name in (reduced["type"], person["role"]):
        assert name is None or (isinstance(name, str) and name == name.strip() and name)


def test_a_vocabulary_term_is_named_by_its_general_name_first():
    assert event({"type": {"generalName": " ", "name": "Deployment", "systemName": "x"}})[
        "type"] == "Deployment"
    assert contact({"role": {"systemName": "Editor"}, "contact": "a-uuid-left-unresolved"}) == {
        "firstName": None, "lastName": None, "email": None, "orcid": None, "companyName": None,
        "role": "Editor"}
