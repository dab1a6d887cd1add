"""Fuzzing the lenient parameter parser and the whole ihuyi endpoint with arbitrary bytes.

``parse_params`` must never raise, whatever the query, body or content type (multipart with random
boundaries included); the endpoint must always answer HTTP 200 with a well-formed SubmitResult,
GetNumResult or AddTemplateResult in XML or JSON.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hongyan.api.params import parse_params

SIMPLE_TYPES = [
    "",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=gbk",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary=""',
    "multipart/form-data; boundary=XyZ",
    "text/plain",
    "application/json",
    "garbage;;;=",
    ";",
    "=",
]

boundaries = st.binary(min_size=0, max_size=72)


@st.composite
def multipart_types(draw) -> str:
    boundary = draw(boundaries).decode("latin-1")
    template = draw(
        st.sampled_from(
            [
                "multipart/form-data; boundary={}",
                'multipart/form-data; boundary="{}"',
                "multipart/form-data;boundary={}; charset=utf-8",
                "Multipart/Form-Data; BOUNDARY={}",
            ]
        )
    )
    return template.format(boundary)


@st.composite
def multipart_requests(draw) -> tuple[str, bytes]:
    """A content type and a body built with the same random boundary (so the parser goes past the preamble),
    with random part headers and data, sometimes cut short."""
    boundary = draw(st.binary(min_size=1, max_size=70))
    parts = draw(
        st.lists(
            st.tuples(
                st.binary(max_size=40),  # the name
                st.binary(max_size=60),  # extra header bytes
                st.binary(max_size=120),  # the data
            ),
            max_size=4,
        )
    )
    body = b""
    for name, extra, data in parts:
        body += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n'
        body += extra + b"\r\n\r\n" + data + b"\r\n"
    if draw(st.booleans()):
        body += b"--" + boundary + b"--\r\n"
    cut = draw(st.integers(min_value=0, max_value=len(body)))
    if draw(st.booleans()):
        body = body[:cut]
    ctype = "multipart/form-data; boundary=" + boundary.decode("latin-1")
    return ctype, body


content_types = st.one_of(
    st.sampled_from(SIMPLE_TYPES),
    multipart_types(),
    st.text(max_size=60),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


def _check(params: dict[str, str]) -> None:
    assert isinstance(params, dict)
    for k, v in params.items():
        assert isinstance(k, str) and isinstance(v, str)
        assert k  # an empty name is never a parameter
        k.encode("utf-8")  # no lone surrogates: the values are safe to store and to answer with
        v.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(query=st.binary(max_size=300), content_type=content_types, body=st.binary(max_size=600))
def test_parse_params_never_raises(query: bytes, content_type: str, body: bytes) -> None:
    _check(parse_params(query, content_type, body))


@settings(max_examples=200, deadline=None)
@given(query=st.binary(max_size=100), request=multipart_requests())
@example(query=b"", request=("multipart/form-data; boundary=a", b"--a\r\n\r\n\r\n--a--"))
@example(query=b"", request=("multipart/form-data; boundary=\xff", b"--\xff\r\nContent-Disposition: x\r\n\r\n"))
def test_parse_params_never_raises_on_multipart(query: bytes, request: tuple[str, bytes]) -> None:
    content_type, body = request
    _check(parse_params(query, content_type, body))


names = st.text(min_size=1, max_size=12).filter(lambda s: s.strip("\r\n") == s)


@settings(max_examples=200, deadline=None)
@given(
    query=st.dictionaries(names, st.text(max_size=30), max_size=5),
    body=st.dictionaries(names, st.text(max_size=30), max_size=5),
    content_type=st.sampled_from(["", "application/x-www-form-urlencoded; charset=utf-8", "text/plain"]),
)
def test_utf8_forms_round_trip_and_body_wins(query: dict[str, str], body: dict[str, str], content_type: str) -> None:
    def encode(fields: dict[str, str]) -> bytes:
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields.items()).encode()

    assert parse_params(encode(query), content_type, encode(body)) == {**query, **body}


@settings(max_examples=100, deadline=None)
@given(fields=st.dictionaries(st.from_regex(r"[A-Za-z0-9_]{1,10}", fullmatch=True), st.text(max_size=30), max_size=5))
def test_multipart_round_trip(fields: dict[str, str]) -> None:
    fields = {k: v for k, v in fields.items() if "\r" not in v and "\n" not in v}
    boundary = "----hongyanFuzz7MA4YWxkTrZu0gW"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    body += f"--{boundary}--\r\n".encode()
    assert parse_params(b"", f"multipart/form-data; boundary={boundary}", body) == fields


# --- end to end through the ASGI app --------------------------------------------------------------


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    """The database is a clone of one migrated file (conftest.migrated_sqlite): no Alembic per test."""
    return migrated_sqlite(database_url)


XML_SHAPES = re.compile(
    rb'<\?xml version="1\.0" encoding="utf-8"\?>\n'
    rb'<(?P<root>SubmitResult|GetNumResult|AddTemplateResult) xmlns="http://106\.ihuyi\.com/">\n'
    rb"<code>(?P<code>\d+)</code>\n"
    rb"<msg>[^<\n]+</msg>\n"
    rb"<(?P<key>smsid|ismsid|num|templateid)>(?P<value>\d+)</(?P=key)>\n"
    rb"</(?P=root)>\n"
)
JSON_SHAPES = re.compile(
    rb'\{"code":(?P<code>\d+),"msg":"[^"\\]+",'
    rb'(?:"(?P<idkey>smsid|ismsid)":"(?P<id>\d+)"|"num":\d+|"templateid":"\d+")\}'
)
KEYS = {"SubmitResult": (b"smsid", b"ismsid"), "GetNumResult": (b"num",), "AddTemplateResult": (b"templateid",)}


def assert_answer_shape(status: int, content_type: str, body: bytes) -> None:
    assert status == 200
    if content_type == "application/json; charset=utf-8":
        m = JSON_SHAPES.fullmatch(body)
        assert m, body
        if m["idkey"]:
            assert (m["code"] == b"2") == (m["id"] != b"0"), body
            assert m["id"] == b"0" or re.fullmatch(rb"\d{20}", m["id"]), body
    else:
        assert content_type == "text/xml; charset=utf-8"
        m = XML_SHAPES.fullmatch(body)
        assert m, body
        assert m["key"] in KEYS[m["root"].decode()], body
        if m["key"] in (b"smsid", b"ismsid"):
            assert (m["code"] == b"2") == (m["value"] != b"0"), body
            assert m["value"] == b"0" or re.fullmatch(rb"\d{20}", m["value"]), body


header_bytes = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b""))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    path=st.sampled_from(["/webservice/sms.php", "/webservice/isms.php"]),
    http_method=st.sampled_from(["POST", "POST", "GET"]),
    method=st.sampled_from(["Submit", "GetNum", "AddTemplate", "submit", "getnum", "", "Nope", None]),
    fmt=st.sampled_from(["", "json", "xml", "JSON", None]),
    query=st.binary(max_size=120),
    body=st.binary(max_size=400),
    content_type=st.one_of(st.sampled_from(SIMPLE_TYPES).map(str.encode), header_bytes),
    with_credentials=st.booleans(),
)
async def test_endpoint_always_answers(
    client, live, data, path, http_method, method, fmt, query, body, content_type, with_credentials
) -> None:
    parts = []
    if method is not None:
        parts.append(f"method={method}")
    if fmt is not None:
        parts.append(f"format={fmt}")
    if with_credentials:
        # real credentials and arbitrary other fields, so the later checks and the accepted path are fuzzed too
        mobile = data.draw(st.sampled_from(["13800138000", "+8613800138000", "852 51234567", "1", ""]))
        content = data.draw(st.text(max_size=120))
        templateid = data.draw(st.sampled_from(["", "1", "2", "x"]))
        fields = {"account": live.account, "password": live.apikey, "mobile": mobile, "content": content}
        if templateid:
            fields["templateid"] = templateid
        parts += [f"{k}={quote(v, safe='')}" for k, v in fields.items()]
    url = path + "?" + "&".join(parts) + "&" + quote_from_bytes(query, safe="&=%+")
    headers = {"content-type": content_type} if content_type else {}
    r = await client.request(http_method, url, content=body if http_method == "POST" else None, headers=headers)
    assert_answer_shape(r.status_code, r.headers.get("content-type", ""), r.content)
