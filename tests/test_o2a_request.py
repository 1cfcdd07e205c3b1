"""An O2A extract request is checked once, and says what is wrong with it (issue 14)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from awiml.archives.o2a._request import AGGREGATES, FUNCTIONS, ExtractRequest, parse_time
from awiml.errors import InvalidDataError

TSG = "vessel:polarstern:tsg:temperature"


@pytest.mark.parametrize("value", [
    "2016-12-16T06:00:00", "2016-12-16 06:00", "2016-12-16T07:00:00+01:00",
    "2016-12-16T06:00:00Z", dt.datetime(2016, 12, 16, 6),
    dt.datetime(2016, 12, 16, 7, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    pd.Timestamp("2016-12-16T06:00"), np.datetime64("2016-12-16T06:00"),
])
def test_times_in_every_form_mean_the_same_utc_instant(value):
    assert parse_time(value, "start") == pd.Timestamp("2016-12-16T06:00", tz="UTC")


def test_a_date_alone_means_its_midnight():
    assert parse_time(dt.date(2016, 12, 16), "start") == pd.Timestamp("2016-12-16", tz="UTC")


@pytest.mark.parametrize(("value", "words"), [
    (None, "not a time"), (17, "not a time"), (True, "not a time"),
    ("tomorrow-ish", "not a time"), ("2016-12-16T06:00:00.250", "fraction of a second"),
    (pd.NaT, "missing"),
])
def test_bad_times_are_refused_by_name(value, words):
    with pytest.raises(InvalidDataError, match=words) as caught:
        parse_time(value, "end")
    assert "end" in str(caught.value)


def test_a_request_is_normalised():
    request = ExtractRequest.build([TSG.upper(), TSG, "vessel:polarstern:tsg:salinity"],
                                   "2016-12-16", "2016-12-17", aggregate="MINUTE",
                                   functions=["Mean", "max", "MEAN"], quality_flags=1)
    assert request.codes == (TSG, "vessel:polarstern:tsg:salinity")
    assert request.aggregate == "minute"
    assert request.functions == ("mean", "max")
    assert request.quality_flags is True
    assert request.columns == 4


def test_no_aggregate_means_the_service_default_written_out():
    request = ExtractRequest.build(TSG, "2016-12-16", "2016-12-17")
    assert request.aggregate == "hour"
    assert ("aggregate", "hour") in request.params()


def test_the_url_asks_for_exactly_the_request():
    request = ExtractRequest.build([TSG, "vessel:polarstern:tsg:salinity"],
                                   "2016-12-16T00:00:00", "2016-12-16T23:59:59",
                                   aggregate="minute", functions=["mean", "std"],
                                   quality_flags=True)
    url = request.url("https://dashboard.awi.de/data/rest/")
    parts = urlsplit(url)
    assert parts.netloc == "dashboard.awi.de" and parts.path == "/data/rest/data"
    query = parse_qsl(parts.query)
    assert [v for k, v in query if k == "sensors"] == list(request.codes)
    assert [v for k, v in query if k == "aggregateFunctions"] == ["MEAN", "STD"]
    assert dict(query)["beginDate"] == "2016-12-16T00:00:00"
    assert dict(query)["endDate"] == "2016-12-16T23:59:59"
    assert dict(query)["withQualityFlags"] == "true"
    assert dict(query)["format"] == "text/tab-separated-values"


def test_a_slice_of_the_range_keeps_everything_else():
    request = ExtractRequest.build(TSG, "2016-12-16", "2016-12-20")
    part = dict(request.params(pd.Timestamp("2016-12-17", tz="UTC"),
                               pd.Timestamp("2016-12-17T23:00", tz="UTC")))
    assert part["beginDate"] == "2016-12-17T00:00:00"
    assert part["endDate"] == "2016-12-17T23:00:00"
    assert part["sensors"] == TSG


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"codes": []}, "no sensor code"),
    ({"codes": "temperature"}, "not an O2A sensor code"),
    ({"codes": [TSG, 5]}, "must hold str"),
    ({"codes": 5}, "must be a str or a list"),
    ({"start": "2017-01-02", "end": "2017-01-01"}, "after end"),
    ({"aggregate": "week"}, "aggregate='week' is not offered"),
    ({"functions": ["mean", "average"]}, "'average' not offered"),
    ({"functions": []}, "none not offered"),
])
def test_bad_requests_are_refused_by_name(kwargs, words):
    arguments = {"codes": TSG, "start": "2017-01-01", "end": "2017-01-02", **kwargs}
    codes = arguments.pop("codes")
    with pytest.raises(InvalidDataError, match=words):
        ExtractRequest.build(codes, **arguments)


@given(
    codes=st.one_of(st.text(max_size=40), st.lists(st.text(max_size=30), max_size=3)),
    start=st.one_of(st.text(max_size=30), st.datetimes(), st.none(), st.integers()),
    end=st.one_of(st.text(max_size=30), st.datetimes()),
    aggregate=st.one_of(st.none(), st.sampled_from(AGGREGATES), st.text(max_size=8)),
    functions=st.one_of(st.lists(st.sampled_from(FUNCTIONS), max_size=3),
                        st.lists(st.text(max_size=6), max_size=2)),
)
def test_any_input_builds_a_request_or_is_refused_clearly(codes, start, end, aggregate,
                                                          functions):
    try:
        request = ExtractRequest.build(codes, start, end, aggregate=aggregate,
                                       functions=functions)
    except InvalidDataError:
        return
    assert request.start <= request.end
    assert request.aggregate in AGGREGATES
    assert set(request.functions) <= set(FUNCTIONS)
    assert ExtractRequest.build(request.codes, request.start, request.end,
                                aggregate=request.aggregate,
                                functions=request.functions) == request
