"""The request forms real ihuyi clients send (SPEC.md §1): query and/or body, urlencoded with or without a
charset, multipart, raw unencoded UTF-8, GBK percent-escapes and raw GBK bytes, the international path,
and bodies that are too large. The stored message text is read back from the ``messages`` table."""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import select

from hongyan.api.params import MAX_BODY
from hongyan.store.tables import messages
from tests.conftest import MOBILE, SIGNATURE, Creds
from tests.support import JSON_TYPE, XML_TYPE, json_answer, md5, xml_answer
from tests.support import assert_accepted as accepted

URL = "/webservice/sms.php"
ISMS_URL = "/webservice/isms.php"
CONTENT = f"【{SIGNATURE}】您的验证码是：５６７８，中文内容、标点！"
FORM_TYPE = "application/x-www-form-urlencoded"
NOW = 1_800_000_000


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    """Each test's database is a clone of one migrated file (conftest.migrated_sqlite): no Alembic per test."""
    return migrated_sqlite(database_url)


def params(creds: Creds, content: str = CONTENT, **extra: str) -> dict[str, str]:
    return {"account": creds.account, "password": creds.apikey, "mobile": MOBILE, "content": content, **extra}


def raw_form(fields: dict[str, str]) -> str:
    """``k=v&…`` without any percent-encoding, as the raw-body clients write it."""
    return "&".join(f"{k}={v}" for k, v in fields.items())


def gbk_escaped(fields: dict[str, str]) -> bytes:
    return "&".join(f"{k}={quote(v, encoding='gbk')}" for k, v in fields.items()).encode("ascii")


async def stored(platform, smsid: str) -> tuple[str, str]:
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(messages.c.content, messages.c.mobile).where(messages.c.smsid == smsid))).one()
    return row.content, row.mobile


async def stored_content(platform, smsid: str) -> str:
    return (await stored(platform, smsid))[0]


# --- where the parameters are ---------------------------------------------------------------------


async def test_get_with_query_only(client, live, platform) -> None:
    r = await client.get(URL, params={"method": "Submit", **params(live)})
    assert await stored_content(platform, accepted(r)) == CONTENT
    r = await client.get(URL, params={"method": "Submit", "format": "json", **params(live)})
    assert await stored_content(platform, accepted(r, fmt="json")) == CONTENT
    # GBK percent-escapes in the query string of a GET
    r = await client.get(URL + "?method=Submit&" + gbk_escaped(params(live)).decode())
    assert await stored_content(platform, accepted(r)) == CONTENT


async def test_post_method_in_query_rest_in_body(client, live, platform) -> None:
    r = await client.post(URL + "?method=Submit", data=params(live))
    assert await stored_content(platform, accepted(r)) == CONTENT
    # everything in the body, method included
    r = await client.post(URL, data={"method": "Submit", **params(live)})
    assert await stored_content(platform, accepted(r)) == CONTENT
    # everything in the query of a POST with an empty body
    r = await client.post(URL + "?" + urlencode({"method": "Submit", **params(live)}))
    assert await stored_content(platform, accepted(r)) == CONTENT


async def test_body_wins_over_query(client, live, platform) -> None:
    query = urlencode({"method": "Submit", "account": "C00000000", "mobile": "bad", "content": "x", "password": "no"})
    r = await client.post(URL + "?" + query, data=params(live))
    assert await stored_content(platform, accepted(r)) == CONTENT
    # the method is a parameter like the others
    r = await client.post(URL + "?method=Submit", data={"method": "GetNum", **params(live)})
    assert r.content == xml_answer(2, "查询成功", "999", key="num", root="GetNumResult")
    # a name given twice: the last one counts
    body = urlencode(params(live)) + "&" + urlencode({"content": f"【{SIGNATURE}】第二个"})
    r = await client.post(URL + "?method=Submit", content=body, headers={"content-type": FORM_TYPE})
    assert await stored_content(platform, accepted(r)) == f"【{SIGNATURE}】第二个"


async def test_unknown_extra_params_ignored(client, live, platform) -> None:
    r = await client.post(
        URL + "?method=Submit&rd=1&_=1699999999999&callback=jQuery123",
        data={**params(live), "rd": "1", "extno": "001", "sendtime": "", "action": "send", "": "x"},
    )
    assert await stored_content(platform, accepted(r)) == CONTENT


async def test_format_json_in_query_rest_in_body(client, live, platform) -> None:
    r = await client.post(URL + "?method=Submit&format=json", data=params(live))
    assert await stored_content(platform, accepted(r, fmt="json")) == CONTENT
    r = await client.post(URL + "?method=Submit&format=json", content=gbk_escaped(params(live)))
    assert await stored_content(platform, accepted(r, fmt="json")) == CONTENT
    r = await client.post(URL + "?method=Submit&format=json", data={**params(live), "password": "wrong"})
    assert r.headers["content-type"] == JSON_TYPE
    assert r.content == json_answer(405, "API ID 或 API KEY 不正确")


# --- body encodings -------------------------------------------------------------------------------


async def test_urlencoded_with_any_content_type(client, live, platform) -> None:
    body = urlencode(params(live)).encode()
    for content_type in (
        FORM_TYPE,
        FORM_TYPE + "; charset=utf-8",
        FORM_TYPE + "; charset=UTF-8; foo=bar",
        FORM_TYPE + ";charset=utf-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencode",  # misspelt, as in the vendor's Java demo
        "application/json",
        "",
    ):
        r = await client.post(URL + "?method=Submit", content=body, headers={"content-type": content_type})
        assert await stored_content(platform, accepted(r, note=content_type)) == CONTENT


async def test_multipart_form_data(client, live, platform) -> None:
    r = await client.post(URL + "?method=Submit", files={k: (None, v) for k, v in params(live).items()})
    assert r.request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert await stored_content(platform, accepted(r)) == CONTENT
    # hand-written, with the method in the body too and a value in GBK
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts = [("method", b"Submit"), *((k, v.encode()) for k, v in params(live).items() if k != "content")]
    parts.append(("content", CONTENT.encode("gbk")))
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v + b"\r\n" for k, v in parts
    )
    body += f"--{boundary}--\r\n".encode()
    r = await client.post(URL, content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert await stored_content(platform, accepted(r)) == CONTENT
    # format=json in the query, the rest in a multipart body
    r = await client.post(URL + "?method=Submit&format=json", files={k: (None, v) for k, v in params(live).items()})
    assert await stored_content(platform, accepted(r, fmt="json")) == CONTENT


async def test_raw_unencoded_utf8_without_content_type(client, live, platform) -> None:
    body = raw_form(params(live)).encode("utf-8")
    r = await client.post(URL + "?method=Submit", content=body)
    assert "content-type" not in r.request.headers
    assert await stored_content(platform, accepted(r)) == CONTENT
    # the same with a form content type and a stray CRLF after the body
    r = await client.post(URL + "?method=Submit", content=body + b"\r\n\r\n", headers={"content-type": FORM_TYPE})
    assert await stored_content(platform, accepted(r)) == CONTENT


async def test_gbk_percent_escapes(client, live, platform) -> None:
    body = gbk_escaped(params(live))
    assert b"%" in body and max(body) < 0x80
    for content_type in (FORM_TYPE, FORM_TYPE + "; charset=gbk", None):
        headers = {"content-type": content_type} if content_type else {}
        r = await client.post(URL + "?method=Submit", content=body, headers=headers)
        assert await stored_content(platform, accepted(r, note=content_type)) == CONTENT


async def test_raw_gbk_bytes(client, live, platform) -> None:
    body = raw_form(params(live)).encode("gbk")
    r = await client.post(URL + "?method=Submit", content=body)
    assert await stored_content(platform, accepted(r)) == CONTENT
    r = await client.post(URL + "?method=Submit", content=body, headers={"content-type": FORM_TYPE})
    assert await stored_content(platform, accepted(r)) == CONTENT
    # GB18030 beyond GBK (a four-byte sequence)
    text = f"【{SIGNATURE}】欢迎光临𠀀号店"
    r = await client.post(URL + "?method=Submit", content=raw_form(params(live, text)).encode("gb18030"))
    assert await stored_content(platform, accepted(r)) == text


async def test_dynamic_password_on_the_decoded_gbk_text(client, live, platform) -> None:
    platform.clock = lambda: NOW
    dyn = md5(f"{live.account}{live.apikey}{MOBILE}{CONTENT}{NOW}")
    fields = params(live, password=dyn, time=str(NOW))
    # raw GBK bytes
    r = await client.post(URL + "?method=Submit", content=raw_form(fields).encode("gbk"))
    assert await stored_content(platform, accepted(r)) == CONTENT
    # GBK percent-escapes
    r = await client.post(URL + "?method=Submit", content=gbk_escaped(fields), headers={"content-type": FORM_TYPE})
    assert await stored_content(platform, accepted(r)) == CONTENT
    # a password computed over the GBK bytes themselves is not what the vendor checks
    gbk_dyn = hashlib.md5(f"{live.account}{live.apikey}{MOBILE}{CONTENT}{NOW}".encode("gbk")).hexdigest()
    r = await client.post(URL + "?method=Submit", content=raw_form({**fields, "password": gbk_dyn}).encode("gbk"))
    assert r.content == xml_answer(40502, "动态密码校验失败")


async def test_plus_is_a_space_and_escapes_decode(client, live, platform) -> None:
    content = f"%E3%80%90{quote(SIGNATURE)}%E3%80%91hello+world%21"
    body = f"account={live.account}&password={live.apikey}&mobile={MOBILE}&content={content}"
    r = await client.post(URL + "?method=Submit", content=body.encode(), headers={"content-type": FORM_TYPE})
    assert await stored_content(platform, accepted(r)) == f"【{SIGNATURE}】hello world!"


# --- the international path -----------------------------------------------------------------------


async def test_isms_submit(client, live, platform) -> None:
    form = params(live, f"【{SIGNATURE}】Your code is 1234", mobile="852 51234567")
    r = await client.post(ISMS_URL + "?method=Submit", data=form)
    smsid = accepted(r, key="ismsid")
    assert b"<smsid>" not in r.content
    assert await stored(platform, smsid) == (f"【{SIGNATURE}】Your code is 1234", "852 51234567")
    r = await client.post(ISMS_URL + "?method=Submit&format=json", data=form)
    accepted(r, fmt="json", key="ismsid")
    assert b'"smsid"' not in r.content
    r = await client.get(ISMS_URL, params={"method": "Submit", **form})
    accepted(r, key="ismsid")
    # failures use the same key
    r = await client.post(ISMS_URL + "?method=Submit", data={**form, "mobile": "852 1"})
    assert r.content == xml_answer(406, "手机格式不正确", key="ismsid")
    r = await client.post(ISMS_URL + "?method=Submit&format=json", data={**form, "password": ""})
    assert r.content == json_answer(402, "密码不能为空", key="ismsid")


# --- size limits ----------------------------------------------------------------------------------


async def test_70kb_body_answers_code_0(client, live) -> None:
    for body in (b"a=" + b"x" * 70_000, urlencode(params(live, f"【{SIGNATURE}】" + "字" * 8000)).encode()):
        assert len(body) > MAX_BODY
        r = await client.post(URL + "?method=Submit", content=body, headers={"content-type": FORM_TYPE})
        assert r.status_code == 200
        assert r.headers["content-type"] == XML_TYPE
        assert r.content == xml_answer(0, "提交失败")
    r = await client.post(ISMS_URL + "?method=Submit", content=b"a=" + b"x" * 70_000)
    assert r.status_code == 200 and r.content == xml_answer(0, "提交失败", key="ismsid")


async def test_body_at_the_limit_is_read(client, live) -> None:
    head = urlencode(params(live, "")).encode()
    body = head + b"x" * (MAX_BODY - len(head))
    assert len(body) == MAX_BODY
    r = await client.post(URL + "?method=Submit", content=body, headers={"content-type": FORM_TYPE})
    assert r.content == xml_answer(4073, "短信内容超出长度限制")


async def test_70kb_body_answers_in_the_requested_format(client) -> None:
    r = await client.post(URL + "?method=Submit&format=json", content=b"a=" + b"x" * 70_000)
    assert r.status_code == 200
    assert r.headers["content-type"] == JSON_TYPE
    assert r.content == json_answer(0, "提交失败")
