"""Property tests: the parameter parser never fails; smsids are unique and ordered; segment counting."""

from __future__ import annotations

import asyncio
import math
import re
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hongyan.api.params import parse_params
from hongyan.domain.segments import count_segments
from hongyan.domain.smsid import SmsIdGenerator

CONTENT_TYPES = st.sampled_from(
    [
        "",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "multipart/form-data; boundary=XyZ",
        "multipart/form-data",
        "text/plain",
        "application/json",
        "garbage;;;=",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), CONTENT_TYPES | st.text(max_size=40), st.binary(max_size=600))
def test_parser_never_raises(query: bytes, ctype: str, body: bytes) -> None:
    params = parse_params(query, ctype, body)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=20)), max_size=5))
def test_multipart_fields_round_trip(fields) -> None:
    fields = [(k, v) for k, v in fields if re.fullmatch(r"[A-Za-z0-9_]+", k) and "\r" not in v]
    body = (
        b"".join(
            b'--XyZ\r\nContent-Disposition: form-data; name="' + k.encode() + b'"\r\n\r\n' + v.encode() + b"\r\n"
            for k, v in fields
        )
        + b"--XyZ--\r\n"
    )
    assert parse_params(b"", "multipart/form-data; boundary=XyZ", body) == dict(fields)


ANSWER = re.compile(
    rb'<\?xml version="1\.0" encoding="utf-8"\?>\n<(SubmitResult|GetNumResult|AddTemplateResult) '
    rb'xmlns="http://106\.ihuyi\.com/">\n<code>\d+</code>\n<msg>[^<]+</msg>\n<(smsid|num|templateid)>\d+</\2>\n</\1>\n'
    rb'|\{"code":\d+,"msg":"[^"]+","(smsid|num|templateid)":"?\d+"?\}'
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["Submit", "GetNum", "AddTemplate", "submit", "", "x"]),
    fmt=st.sampled_from(["", "json", "xml", "JSON"]),
    query=st.binary(max_size=120),
    body=st.binary(max_size=300),
    ctype=CONTENT_TYPES,
)
def test_api_answers_every_input(client_factory, method, fmt, query, body, ctype) -> None:
    async def go():
        async with client_factory() as client:
            url = f"/webservice/sms.php?method={method}&format={fmt}&" + quote_from_bytes(query, safe="&=%+")
            return await client.post(url, content=body, headers={"content-type": ctype})

    r = asyncio.run(go())
    assert r.status_code == 200
    assert ANSWER.fullmatch(r.content), r.content


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_segments_match_independent_formula(text: str) -> None:
    n = len(text)
    expected = 1 if n <= 70 else math.ceil(n / 67)
    assert count_segments(text) == expected


def test_smsid_unique_sorted_with_frozen_and_backward_clock() -> None:
    t = [1_700_000_000.0]
    gen = SmsIdGenerator(7, clock=lambda: t[0])
    ids = [gen.next() for _ in range(25_000)]
    assert len(set(ids)) == 25_000 and ids == sorted(ids) and all(len(i) == 20 and i.isdigit() for i in ids)
    t[0] -= 5  # the clock steps back: ids keep growing
    later = [gen.next() for _ in range(100)]
    assert later == sorted(later) and later[0] > ids[-1]
    other = SmsIdGenerator(8, clock=lambda: t[0])
    assert not set(other.next() for _ in range(1000)) & set(ids + later)
