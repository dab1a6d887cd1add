"""The three password forms (SPEC.md §2–4): the API key in clear, its MD5 (any case), a dynamic MD5 with
``time`` (Submit: account+apikey+mobile+content+time; GetNum: account+apikey+time). AddTemplate takes no
dynamic password. The server clock is pinned through ``platform.clock``."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from hongyan.domain.states import AccountState
from hongyan.services import accounts as svc
from tests.conftest import MOBILE, SIGNATURE, Creds

URL = "/webservice/sms.php"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
NOW = 1_800_000_000
CONTENT = f"【{SIGNATURE}】您的订单已发货"


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    """Each test's database is a clone of one migrated file (conftest.migrated_sqlite): no Alembic per test."""
    return migrated_sqlite(database_url)


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def xml_answer(root: str, code: int, msg: str, key: str, value: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns="http://106.ihuyi.com/">\n'
        f"<code>{code}</code>\n<msg>{msg}</msg>\n<{key}>{value}</{key}>\n</{root}>\n"
    ).encode()


def submit_xml(code: int, msg: str, smsid: str = "0") -> bytes:
    return xml_answer("SubmitResult", code, msg, "smsid", smsid)


def getnum_xml(code: int, msg: str, num: int = 0) -> bytes:
    return xml_answer("GetNumResult", code, msg, "num", str(num))


def addtemplate_xml(code: int, msg: str, templateid: str = "0") -> bytes:
    return xml_answer("AddTemplateResult", code, msg, "templateid", templateid)


@pytest.fixture
def pinned(platform) -> int:
    platform.clock = lambda: NOW
    return NOW


def dynamic(creds: Creds, t: int | str, mobile: str = MOBILE, content: str = CONTENT) -> str:
    return md5(f"{creds.account}{creds.apikey}{mobile}{content}{t}")


async def submit(client: httpx.AsyncClient, creds: Creds, password: str, fmt: str = "", **extra: str) -> httpx.Response:
    form = {"account": creds.account, "password": password, "mobile": MOBILE, "content": CONTENT, **extra}
    return await client.post(URL + "?method=Submit" + (f"&format={fmt}" if fmt else ""), data=form)


async def getnum(client: httpx.AsyncClient, creds: Creds, password: str, fmt: str = "", **extra: str):
    form = {"account": creds.account, "password": password, **extra}
    return await client.post(URL + "?method=GetNum" + (f"&format={fmt}" if fmt else ""), data=form)


async def add_template(client: httpx.AsyncClient, creds: Creds, password: str, fmt: str = "", **extra: str):
    form = {"account": creds.account, "password": password, "content": "您的订单【变量】已发货", **extra}
    return await client.post(URL + "?method=AddTemplate" + (f"&format={fmt}" if fmt else ""), data=form)


def accepted(r: httpx.Response, note: object = "") -> str:
    assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE, note
    m = re.search(rb"<smsid>(\d{20})</smsid>", r.content)
    assert m, (note, r.content.decode())
    assert r.content == submit_xml(2, "提交成功", m.group(1).decode()), note
    return m.group(1).decode()


def answered(r: httpx.Response, expected: bytes, note: object = "", content_type: str = XML_TYPE) -> None:
    assert r.status_code == 200, note
    assert r.headers["content-type"] == content_type, note
    assert r.content == expected, (note, r.content.decode())


# --- clear key and MD5 ----------------------------------------------------------------------------


async def test_plain_key(client, live) -> None:
    accepted(await submit(client, live, live.apikey))
    accepted(await submit(client, live, f"  {live.apikey} "))  # surrounding blanks are not part of it
    answered(await getnum(client, live, live.apikey), getnum_xml(2, "查询成功", 998))
    r = await add_template(client, live, live.apikey)
    assert re.fullmatch(
        rb".*<code>2</code>\n<msg>\xe6\xb7\xbb\xe5\x8a\xa0\xe6\x88\x90\xe5\x8a\x9f</msg>.*", r.content, re.S
    )
    # the key is case-sensitive in clear
    swapped = live.apikey.swapcase()
    if swapped != live.apikey:
        answered(await submit(client, live, swapped), submit_xml(405, "API ID 或 API KEY 不正确"))


async def test_md5_lower_and_upper_case(client, live) -> None:
    for password in (md5(live.apikey), md5(live.apikey).upper(), md5(live.apikey)[:16] + md5(live.apikey)[16:].upper()):
        accepted(await submit(client, live, password), password)
        r = await getnum(client, live, password, fmt="json")
        assert r.headers["content-type"] == JSON_TYPE
        assert re.fullmatch(
            rb'\{"code":2,"msg":"\xe6\x9f\xa5\xe8\xaf\xa2\xe6\x88\x90\xe5\x8a\x9f","num":\d+\}', r.content
        )
        r = await add_template(client, live, password)
        assert b"<code>2</code>" in r.content, (password, r.content.decode())
    # the MD5 of something else, or of the key with other bytes around it, is not the key
    for password in (md5(live.apikey + " "), md5(live.account), md5(live.apikey)[:31]):
        answered(await submit(client, live, password), submit_xml(405, "API ID 或 API KEY 不正确"), password)
        answered(await getnum(client, live, password), getnum_xml(405, "API ID 或 API KEY 不正确"), password)
        answered(await add_template(client, live, password), addtemplate_xml(405, "API ID 或 API KEY 不正确"), password)


async def test_another_accounts_key_is_wrong(client, live, trial) -> None:
    answered(await submit(client, live, trial.apikey), submit_xml(405, "API ID 或 API KEY 不正确"))
    answered(await submit(client, live, md5(trial.apikey)), submit_xml(405, "API ID 或 API KEY 不正确"))


# --- dynamic password on Submit -------------------------------------------------------------------


async def test_dynamic_within_the_window(client, live, pinned) -> None:
    for t in (pinned, pinned - 600, pinned + 600, pinned - 1, pinned + 599):
        accepted(await submit(client, live, dynamic(live, t), time=str(t)), t)
    accepted(await submit(client, live, dynamic(live, pinned).upper(), time=str(pinned)), "upper-case hex")


async def test_dynamic_601_seconds_off_is_expired(client, live, pinned) -> None:
    for t in (pinned - 601, pinned + 601, pinned - 86_400, 0, pinned * 1000):
        answered(await submit(client, live, dynamic(live, t), time=str(t)), submit_xml(40501, "动态密码已过期"), note=t)
    r = await submit(client, live, dynamic(live, pinned - 601), fmt="json", time=str(pinned - 601))
    answered(r, '{"code":40501,"msg":"动态密码已过期","smsid":"0"}'.encode(), content_type=JSON_TYPE)


async def test_non_digit_time_is_expired(client, live, pinned) -> None:
    for t in ("abc", "18e8", "-1", "1.8e9", "1800000000.0", "１８００００００００", "0x6B49D200"):
        answered(await submit(client, live, dynamic(live, t), time=t), submit_xml(40501, "动态密码已过期"), note=t)


async def test_wrong_dynamic_is_a_mismatch(client, live, pinned) -> None:
    t = str(pinned)
    for password in (
        "f" * 32,
        dynamic(live, pinned - 1),  # computed over another time
        dynamic(live, t, content=CONTENT + "。"),  # over another content
        dynamic(live, t, mobile="13900139000"),  # over another number
        md5(f"{live.account}{live.apikey}{t}"),  # the GetNum form
        md5(f"{live.apikey}{live.account}{MOBILE}{CONTENT}{t}"),  # parts in the wrong order
    ):
        answered(await submit(client, live, password, time=t), submit_xml(40502, "动态密码校验失败"), note=password)
    r = await submit(client, live, "f" * 32, fmt="json", time=t)
    answered(r, '{"code":40502,"msg":"动态密码校验失败","smsid":"0"}'.encode(), content_type=JSON_TYPE)


async def test_dynamic_without_time_is_a_wrong_key(client, live, pinned) -> None:
    answered(await submit(client, live, dynamic(live, pinned)), submit_xml(405, "API ID 或 API KEY 不正确"))
    answered(await submit(client, live, dynamic(live, ""), time=""), submit_xml(405, "API ID 或 API KEY 不正确"))


async def test_dynamic_is_over_the_parameters_as_sent(client, live, pinned) -> None:
    t = str(pinned)
    # the number as the client wrote it, prefix included
    accepted(await submit(client, live, dynamic(live, t, mobile="+8613800138000"), mobile="+8613800138000", time=t))
    answered(
        await submit(client, live, dynamic(live, t), mobile="+8613800138000", time=t),
        submit_xml(40502, "动态密码校验失败"),
    )
    # the content without a signature, filled in from the account's default afterwards
    accepted(await submit(client, live, dynamic(live, t, content="您好"), content="您好", time=t))


async def test_clear_key_or_md5_ignore_time(client, live, pinned) -> None:
    accepted(await submit(client, live, live.apikey, time="garbage"))
    accepted(await submit(client, live, md5(live.apikey), time=str(pinned - 99_999)))


async def test_dynamic_on_a_frozen_account(client, live, platform, pinned) -> None:
    await svc.set_state(platform, live.account, AccountState.FROZEN)
    answered(await submit(client, live, dynamic(live, pinned), time=str(pinned)), submit_xml(4050, "账号被冻结"))
    answered(await getnum(client, live, live.apikey), getnum_xml(4050, "账号被冻结"))
    answered(await add_template(client, live, live.apikey), addtemplate_xml(4050, "账号被冻结"))


# --- GetNum ---------------------------------------------------------------------------------------


async def test_getnum_dynamic(client, live, pinned) -> None:
    for t in (pinned, pinned - 600, pinned + 600):
        password = md5(f"{live.account}{live.apikey}{t}")
        answered(await getnum(client, live, password, time=str(t)), getnum_xml(2, "查询成功", 1000), note=t)
        answered(await getnum(client, live, password.upper(), time=str(t)), getnum_xml(2, "查询成功", 1000), note=t)
    r = await getnum(client, live, md5(f"{live.account}{live.apikey}{pinned}"), fmt="json", time=str(pinned))
    answered(r, '{"code":2,"msg":"查询成功","num":1000}'.encode(), content_type=JSON_TYPE)
    for t in (pinned - 601, pinned + 601):
        password = md5(f"{live.account}{live.apikey}{t}")
        answered(await getnum(client, live, password, time=str(t)), getnum_xml(40501, "动态密码已过期"), note=t)
    answered(await getnum(client, live, "f" * 32, time="soon"), getnum_xml(40501, "动态密码已过期"))
    answered(await getnum(client, live, "f" * 32, time=str(pinned)), getnum_xml(40502, "动态密码校验失败"))
    # the Submit form of the dynamic password does not fit GetNum
    answered(await getnum(client, live, dynamic(live, pinned), time=str(pinned)), getnum_xml(40502, "动态密码校验失败"))
    r = await getnum(client, live, "f" * 32, fmt="json", time=str(pinned))
    answered(r, '{"code":40502,"msg":"动态密码校验失败","num":0}'.encode(), content_type=JSON_TYPE)


async def test_getnum_missing_and_wrong(client, live, platform) -> None:
    answered(await client.get(URL + "?method=GetNum"), getnum_xml(401, "帐号不能为空"))
    answered(await client.get(URL + f"?method=GetNum&account={live.account}"), getnum_xml(402, "密码不能为空"))
    answered(
        await client.get(URL + "?method=GetNum&account=C00000000&password=x"),
        getnum_xml(405, "API ID 或 API KEY 不正确"),
    )
    r = await client.get(URL + "?method=GetNum&format=json")
    answered(r, '{"code":401,"msg":"帐号不能为空","num":0}'.encode(), content_type=JSON_TYPE)
    await svc.set_fields(platform, live.account, allowed_ips="10.0.0.0/8")
    answered(await getnum(client, live, live.apikey), getnum_xml(400, "非法ip访问"))


# --- AddTemplate ----------------------------------------------------------------------------------


async def test_add_template_refuses_a_dynamic_password(client, live, pinned) -> None:
    t = str(pinned)
    for password in (md5(f"{live.account}{live.apikey}{t}"), dynamic(live, t)):
        answered(await add_template(client, live, password, time=t), addtemplate_xml(405, "API ID 或 API KEY 不正确"))
    r = await add_template(client, live, md5(f"{live.account}{live.apikey}{t}"), fmt="json", time=t)
    answered(r, '{"code":405,"msg":"API ID 或 API KEY 不正确","templateid":"0"}'.encode(), content_type=JSON_TYPE)
    # clear and MD5 still work with a time parameter present
    r = await add_template(client, live, md5(live.apikey), time=t)
    assert b"<code>2</code>" in r.content
