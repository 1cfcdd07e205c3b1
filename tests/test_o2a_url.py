"""o2a:// extract URLs: read into a checked request and written back, or refused (issue 14)."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from awiml.archives.o2a import PlatformSource
from awiml.archives.o2a._request import AGGREGATES, FUNCTIONS, ExtractRequest
from awiml.archives.o2a._url import (
    EXAMPLE,
    file_name,
    format_url,
    is_extract,
    parse_url,
)
from awiml.errors import InvalidDataError

part = st.from_regex(r"[a-z0-9_][a-z0-9_.\-]{0,8}", fullmatch=True)
code = st.builds(lambda parts, nrt: ":".join(parts) + ("$NRT" if nrt else ""),
                 st.lists(part, min_size=3, max_size=5), st.booleans())
moment = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2040, 1, 1))


@st.composite
def requests_(draw):
    first, last = sorted([draw(moment), draw(moment)])
    return ExtractRequest.build(
        draw(st.lists(code, min_size=1, max_size=4)),
        first.replace(microsecond=0), last.replace(microsecond=0),
        aggregate=draw(st.sampled_from(AGGREGATES)),
        functions=draw(st.lists(st.sampled_from(FUNCTIONS), min_size=1, max_size=6,
                                unique=True)),
        quality_flags=draw(st.booleans()),
    )


@given(requests_())
def test_a_request_survives_its_url(request):
    url = format_url(request)
    assert parse_url(url) == request
    assert format_url(parse_url(url)) == url
    path = format_url(request, protocol=False)
    assert url == f"o2a://{path.replace('/', '?', 1)}" and "?" not in path  # no fsspec wildcard
    assert parse_url(format_url(request, protocol=False)) == request  # the path, as fsspec has it


@given(requests_(), requests_())
def test_file_names_are_portable_and_tell_extracts_apart(one, other):
    names = file_name(one), file_name(other)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_.+\-]+\.tsv", name), name
        assert len(name) < 250
    assert (names[0] == names[1]) == (one == other)


def test_the_canonical_form_writes_every_part_out():
    request = parse_url("O2A://Vessel:Polarstern:TSG:Temperature , vessel:polarstern:tsg:salinity"
                        "?END=2017-01-30T23:59:59&start=2016-12-16&functions=MEAN,%6dax")
    assert format_url(request) == (
        "o2a://vessel:polarstern:tsg:temperature,vessel:polarstern:tsg:salinity"
        "?start=2016-12-16T00:00:00&end=2017-01-30T23:59:59&aggregate=hour"
        "&functions=mean,max&flags=false")
    assert format_url(parse_url(EXAMPLE)) == EXAMPLE


def test_times_with_a_zone_are_utc_and_plus_is_a_plus_sign():
    request = parse_url("o2a://vessel:heincke:dwd:air_pressure"
                        "?start=2024-03-18T21:00:00+01:00&end=2024-03-19T09:00:00Z&flags=TRUE")
    assert request.start == pd.Timestamp("2024-03-18T20:00:00", tz="UTC")
    assert request.end == pd.Timestamp("2024-03-19T09:00:00", tz="UTC")
    assert request.quality_flags is True


def test_the_fsspec_path_is_the_canonical_one():
    assert PlatformSource._strip_protocol(
        "o2a://Vessel:Heincke:dwd:air_pressure?end=2024-03-19&start=2024-03-18") == (
        "vessel:heincke:dwd:air_pressure/start=2024-03-18T00:00:00&end=2024-03-19T00:00:00"
        "&aggregate=hour&functions=mean&flags=false")
    assert PlatformSource._strip_protocol("o2a://Vessel:Heincke:dwd:air_pressure/") == (
        "vessel:heincke:dwd:air_pressure")
    # a path that cannot be read stays as given; the method that uses it says why
    assert PlatformSource._strip_protocol("o2a://vessel:x?start=soon") == "vessel:x?start=soon"
    assert is_extract("o2a://vessel:x?start=soon") and not is_extract("vessel:a:b")
    assert is_extract("vessel:a:b/start=2024-03-18&end=2024-03-19")


GOOD = "start=2024-03-18T20:00:00&end=2024-03-19T09:00:00"


@pytest.mark.parametrize(("url", "part"), [
    ("o2a://vessel:heincke:dwd:air_pressure", "names no time range"),
    (f"o2a://?{GOOD}", "names no sensor code"),
    (f"o2a://vessel:heincke:dwd:air_pressure,,vessel:heincke:dwd:air_temperature?{GOOD}",
     "empty entry"),
    (f"o2a://heincke:air_pressure?{GOOD}", "'heincke:air_pressure' is not an O2A sensor code"),
    ("o2a://vessel:heincke:dwd:air_pressure?start=2024-03-18", "end is missing"),
    ("o2a://vessel:heincke:dwd:air_pressure?flags=true", "start and end are missing"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&start=2024-01-01", "'start' is given twice"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&agg=day", "'agg=day' is not one of the keys"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&aggregate", "'aggregate' is not one of"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&flags=maybe", "flags='maybe'"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&aggregate=week", "aggregate='week'"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&functions=mean,avg", "'avg' not offered"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&functions=", "functions= has no value"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&functions=mean,", "has an empty entry"),
    (f"o2a://vessel:heincke:dwd:air_pressure?{GOOD}&aggregate=", "aggregate= has no value"),
    ("o2a://vessel:heincke:dwd:air_pressure?start=yesterday&end=2024-03-19", "start='yesterday'"),
    ("o2a://vessel:heincke:dwd:air_pressure?start=2024-03-19&end=2024-03-18", "start 2024-03-19"),
])
def test_a_malformed_url_is_refused_naming_the_part_and_showing_a_good_one(url, part):
    with pytest.raises(InvalidDataError) as caught:
        parse_url(url)
    message = str(caught.value)
    assert "is not an O2A extract URL" in message
    assert part in message
    assert message.endswith(f"for example {EXAMPLE}")


@given(st.text(max_size=80))
def test_no_text_crashes_the_parser(text):
    try:
        request = parse_url(text)
    except InvalidDataError:
        return
    assert parse_url(format_url(request)) == request


@given(st.text(alphabet="vesl:abc,?&=%+-T0123456789 ", max_size=60))
def test_no_near_miss_crashes_the_parser(text):
    try:
        parse_url("o2a://vessel:a:b?start=2020-01-01&end=2020-01-02" + text)
    except InvalidDataError:
        pass
