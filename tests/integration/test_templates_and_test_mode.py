"""AddTemplate, Submit with ``templateid``, ``require_template``, and accounts in test mode (SPEC.md §2, §4)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from hongyan.domain.states import AccountState, ReviewState
from hongyan.services import accounts as svc
from hongyan.store.tables import messages
from tests.conftest import MOBILE, SIGNATURE, Creds

URL = "/webservice/sms.php"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
TEMPLATE = "您的订单【变量】已发货，预计【变量】送达"
TEST_SIGNATURE = "鸿雁短信"  # Settings.default_signature: test mode's only signature
CODE_TEXT = "您的验证码是：{}。请不要把验证码泄露给其他人。"
AUTH_405 = "API ID 或 API KEY 不正确"


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    """Each test's database is a clone of one migrated file (conftest.migrated_sqlite): no Alembic per test."""
    return migrated_sqlite(database_url)


def xml_answer(root: str, code: int, msg: str, key: str, value: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns="http://106.ihuyi.com/">\n'
        f"<code>{code}</code>\n<msg>{msg}</msg>\n<{key}>{value}</{key}>\n</{root}>\n"
    ).encode()


def submit_xml(code: int, msg: str, smsid: str = "0") -> bytes:
    return xml_answer("SubmitResult", code, msg, "smsid", smsid)


def template_xml(code: int, msg: str, templateid: str = "0") -> bytes:
    return xml_answer("AddTemplateResult", code, msg, "templateid", templateid)


def answered(r: httpx.Response, expected: bytes, content_type: str = XML_TYPE, note: object = "") -> None:
    assert r.status_code == 200, note
    assert r.headers["content-type"] == content_type, note
    assert r.content == expected, (note, r.content.decode())


def rejected(r: httpx.Response, code: int, msg: str, note: object = "") -> None:
    answered(r, submit_xml(code, msg), note=note)


def accepted(r: httpx.Response, note: object = "") -> str:
    assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE, note
    m = re.search(rb"<smsid>(\d{20})</smsid>", r.content)
    assert m, (note, r.content.decode())
    assert r.content == submit_xml(2, "提交成功", m.group(1).decode()), note
    return m.group(1).decode()


async def add_template(
    client: httpx.AsyncClient, creds: Creds, content: str | None, fmt: str = "", **override: str | None
) -> httpx.Response:
    form = {"account": creds.account, "password": creds.apikey, "content": content, **override}
    query = "?method=AddTemplate" + (f"&format={fmt}" if fmt else "")
    return await client.post(URL + query, data={k: v for k, v in form.items() if v is not None})


def added(r: httpx.Response) -> str:
    assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE
    m = re.search(rb"<templateid>(\d+)</templateid>", r.content)
    assert m, r.content.decode()
    assert r.content == template_xml(2, "添加成功", m.group(1).decode())
    return m.group(1).decode()


async def submit(client: httpx.AsyncClient, creds: Creds, fmt: str = "", **params: str) -> httpx.Response:
    form = {"account": creds.account, "password": creds.apikey, "mobile": MOBILE, **params}
    return await client.post(URL + "?method=Submit" + (f"&format={fmt}" if fmt else ""), data=form)


async def stored_content(platform, smsid: str) -> str:
    async with platform.engines.read.connect() as conn:
        return (await conn.execute(select(messages.c.content).where(messages.c.smsid == smsid))).scalar_one()


async def getnum(client: httpx.AsyncClient, creds: Creds) -> bytes:
    r = await client.get(URL, params={"method": "GetNum", "account": creds.account, "password": creds.apikey})
    return r.content


def getnum_xml(num: int) -> bytes:
    return xml_answer("GetNumResult", 2, "查询成功", "num", str(num))


# --- AddTemplate answers --------------------------------------------------------------------------


async def test_add_template_xml_and_json(client, live) -> None:
    first = added(await add_template(client, live, TEMPLATE))
    r = await add_template(client, live, "尊敬的【变量】，您的积分为【变量】", fmt="json")
    assert r.status_code == 200 and r.headers["content-type"] == JSON_TYPE
    m = re.fullmatch(
        rb'\{"code":2,"msg":"\xe6\xb7\xbb\xe5\x8a\xa0\xe6\x88\x90\xe5\x8a\x9f","templateid":"(\d+)"\}', r.content
    )
    assert m, r.content.decode()
    assert r.content == f'{{"code":2,"msg":"添加成功","templateid":"{m.group(1).decode()}"}}'.encode()
    assert int(m.group(1)) > int(first)
    # a template without variables is a template too
    added(await add_template(client, live, "您的快递已到驿站，请及时领取"))


async def test_add_template_empty_content(client, live) -> None:
    for content in (None, "", "   ", "\r\n"):
        answered(await add_template(client, live, content), template_xml(404, "模板内容不能为空"), note=repr(content))
    answered(
        await add_template(client, live, "", fmt="json"),
        '{"code":404,"msg":"模板内容不能为空","templateid":"0"}'.encode(),
        JSON_TYPE,
    )


async def test_add_template_auth_codes(client, live, platform) -> None:
    answered(await add_template(client, live, TEMPLATE, account=""), template_xml(401, "帐号不能为空"))
    answered(await add_template(client, live, TEMPLATE, account=None), template_xml(401, "帐号不能为空"))
    answered(await add_template(client, live, TEMPLATE, password=" "), template_xml(402, "密码不能为空"))
    answered(await add_template(client, live, TEMPLATE, password="wrong"), template_xml(405, AUTH_405))
    answered(await add_template(client, live, TEMPLATE, account="C00000000"), template_xml(405, AUTH_405))
    answered(
        await add_template(client, live, TEMPLATE, fmt="json", password="wrong"),
        f'{{"code":405,"msg":"{AUTH_405}","templateid":"0"}}'.encode(),
        JSON_TYPE,
    )
    # missing fields come before the content check
    answered(await add_template(client, live, "", password=""), template_xml(402, "密码不能为空"))
    await svc.set_fields(platform, live.account, allowed_ips="10.0.0.0/8")
    answered(await add_template(client, live, TEMPLATE), template_xml(400, "非法ip访问"))
    await svc.set_state(platform, live.account, AccountState.FROZEN)
    answered(await add_template(client, live, TEMPLATE), template_xml(4050, "账号被冻结"))


# --- Submit with templateid -----------------------------------------------------------------------


async def test_templateid_lifecycle(client, live, platform) -> None:
    tid = added(await add_template(client, live, TEMPLATE))
    rejected(await submit(client, live, templateid=tid, content="A1|明天"), 4071, "没有提交备案模板")  # pending
    await svc.review_template(platform, int(tid), ReviewState.APPROVED)
    smsid = accepted(await submit(client, live, templateid=tid, content="A1|明天"))
    assert await stored_content(platform, smsid) == f"【{SIGNATURE}】您的订单A1已发货，预计明天送达"
    # values at the 8-character limit; signature from the sign parameter
    await svc.add_signature(platform, live.account, "鸿雁物流", approve=True)
    smsid = accepted(await submit(client, live, templateid=tid, content="SF123456|12月31日", sign="鸿雁物流"))
    assert await stored_content(platform, smsid) == "【鸿雁物流】您的订单SF123456已发货，预计12月31日送达"
    # GetNum: 2 one-segment messages
    assert await getnum(client, live) == getnum_xml(998)
    await svc.review_template(platform, int(tid), ReviewState.REJECTED, "内容不规范")
    rejected(await submit(client, live, templateid=tid, content="A1|明天"), 4071, "没有提交备案模板")


async def test_templateid_wrong_values(client, live, platform) -> None:
    tid = added(await add_template(client, live, TEMPLATE))
    await svc.review_template(platform, int(tid), ReviewState.APPROVED)
    for content in ("A1", "A1|明天|后天", "|明天", "A1|", "A1| ", "||"):
        rejected(
            await submit(client, live, templateid=tid, content=content),
            4072,
            "提交的短信内容与审核通过的模板内容不匹配",
            note=content,
        )
    for content in ("123456789|明天", "A1|九个字九个字九个字", "A1|" + "x" * 50):
        rejected(
            await submit(client, live, templateid=tid, content=content), 40722, "变量内容超过指定的长度【8】", content
        )
    answered(
        await submit(client, live, fmt="json", templateid=tid, content="123456789|明天"),
        '{"code":40722,"msg":"变量内容超过指定的长度【8】","smsid":"0"}'.encode(),
        JSON_TYPE,
    )
    answered(
        await submit(client, live, fmt="json", templateid=tid, content="A1"),
        '{"code":4072,"msg":"提交的短信内容与审核通过的模板内容不匹配","smsid":"0"}'.encode(),
        JSON_TYPE,
    )
    assert await getnum(client, live) == getnum_xml(1000)


async def test_templateid_unknown(client, live, trial, platform) -> None:
    for tid in ("999999", "0", "-1", "abc", "2.0", "１"):
        rejected(await submit(client, live, templateid=tid, content="A1|明天"), 4071, "没有提交备案模板", tid)
    # another account's approved template is unknown to this one
    other = added(await add_template(client, trial, TEMPLATE))
    await svc.review_template(platform, int(other), ReviewState.APPROVED)
    rejected(await submit(client, live, templateid=other, content="A1|明天"), 4071, "没有提交备案模板")


# --- require_template -----------------------------------------------------------------------------


async def test_require_template(client, live, platform) -> None:
    tid = added(await add_template(client, live, TEMPLATE))
    await svc.review_template(platform, int(tid), ReviewState.APPROVED)
    free = f"【{SIGNATURE}】今晚八点直播，不见不散"
    accepted(await submit(client, live, content=free))  # off by default: free text is fine
    await svc.set_fields(platform, live.account, require_template=True)
    rejected(await submit(client, live, content=free), 4071, "没有提交备案模板")
    rejected(await submit(client, live, content="今晚八点直播，不见不散"), 4071, "没有提交备案模板")
    # text that is an instance of an approved template, wherever the signature is
    for content in (
        f"【{SIGNATURE}】您的订单B2已发货，预计后天送达",
        f"您的订单B2已发货，预计后天送达【{SIGNATURE}】",
        "您的订单B2已发货，预计后天送达",
    ):
        smsid = accepted(await submit(client, live, content=content), content)
        assert await stored_content(platform, smsid) == (
            content if SIGNATURE in content else f"【{SIGNATURE}】{content}"
        )
    # the built-in verification template is approved for every account
    accepted(await submit(client, live, content=f"【{SIGNATURE}】" + CODE_TEXT.format("8888")))
    accepted(await submit(client, live, templateid=tid, content="C3|周五"))
    rejected(
        await submit(client, live, content=f"【{SIGNATURE}】您的订单123456789已发货，预计后天送达"),
        40722,
        "变量内容超过指定的长度【8】",
    )
    rejected(
        await submit(client, live, content=f"【{SIGNATURE}】您的订单已发货，预计后天送达"), 4071, "没有提交备案模板"
    )
    await svc.set_fields(platform, live.account, require_template=False)
    accepted(await submit(client, live, content=free))


async def test_a_later_template_that_fits_is_not_shadowed(client, live, platform) -> None:
    short = added(await add_template(client, live, "您好【变量】"))
    full = added(await add_template(client, live, "您好【变量】，欢迎光临"))
    for tid in (short, full):
        await svc.review_template(platform, int(tid), ReviewState.APPROVED)
    await svc.set_fields(platform, live.account, require_template=True)
    # "您好(.+?)" captures 12 characters (> 8); "您好(.+?)，欢迎光临" captures 7: the text fits the second one
    accepted(await submit(client, live, content=f"【{SIGNATURE}】您好张三先生和夫人，欢迎光临"))


async def test_free_text_is_not_refused_for_a_template_it_resembles(client, live, platform) -> None:
    tid = added(await add_template(client, live, "通知：【变量】"))
    await svc.review_template(platform, int(tid), ReviewState.APPROVED)
    accepted(await submit(client, live, content=f"【{SIGNATURE}】通知：今天下午三点在三楼会议室开会"))


# --- test mode ------------------------------------------------------------------------------------


async def test_test_mode_default_template(client, trial, platform) -> None:
    for code in ("1234", "12345", "123456", "0000"):
        for text in (CODE_TEXT.format(code), CODE_TEXT.format(code).replace("：", ":")):
            smsid = accepted(await submit(client, trial, content=text), text)
            assert await stored_content(platform, smsid) == f"【{TEST_SIGNATURE}】{text}"
    # the default signature written out, at either end, or as the sign parameter
    accepted(await submit(client, trial, content=f"【{TEST_SIGNATURE}】" + CODE_TEXT.format("5678")))
    accepted(await submit(client, trial, content=CODE_TEXT.format("5678") + f"【{TEST_SIGNATURE}】"))
    accepted(await submit(client, trial, content=CODE_TEXT.format("5678"), sign=TEST_SIGNATURE))
    smsid = accepted(await submit(client, trial, templateid="1", content="246810"))
    assert await stored_content(platform, smsid) == f"【{TEST_SIGNATURE}】" + CODE_TEXT.format("246810")
    assert await getnum(client, trial) == getnum_xml(50 - 12)


async def test_test_mode_refusals(client, trial, platform) -> None:
    mismatch = "提交的短信内容与审核通过的模板内容不匹配"
    for text in (
        CODE_TEXT.format("123"),
        CODE_TEXT.format("1234567"),
        CODE_TEXT.format("12a4"),
        CODE_TEXT.format("1234") + "谢谢",
        "您的验证码是1234。请不要把验证码泄露给其他人。",
        "您好，您的订单已发货",
        f"【{TEST_SIGNATURE}】您好，您的订单已发货",
    ):
        rejected(await submit(client, trial, content=text), 4072, mismatch, text)
    answered(
        await submit(client, trial, fmt="json", content="您好"),
        f'{{"code":4072,"msg":"{mismatch}","smsid":"0"}}'.encode(),
        JSON_TYPE,
    )
    rejected(await submit(client, trial, templateid="1", content="123"), 4072, mismatch)
    # another signature, even an approved one, is refused in test mode
    rejected(await submit(client, trial, content="【别的公司】" + CODE_TEXT.format("1234")), 4075, "签名未通过审核")
    rejected(await submit(client, trial, content=CODE_TEXT.format("1234"), sign="别的公司"), 4075, "签名未通过审核")
    await svc.add_signature(platform, trial.account, SIGNATURE, approve=True)
    rejected(await submit(client, trial, content=f"【{SIGNATURE}】" + CODE_TEXT.format("1234")), 4075, "签名未通过审核")
    # only the built-in template: the account's own approved templates are refused in test mode
    tid = added(await add_template(client, trial, "您的取件码是【变量】"))
    await svc.review_template(platform, int(tid), ReviewState.APPROVED)
    rejected(await submit(client, trial, templateid=tid, content="1234"), 4072, mismatch)
    rejected(await submit(client, trial, content="您的取件码是1234"), 4072, mismatch)
    rejected(await submit(client, trial, templateid="999999", content="1234"), 4071, "没有提交备案模板")
    assert await getnum(client, trial) == getnum_xml(50)


async def test_test_mode_code_is_ascii_digits(client, trial) -> None:
    for code in ("１２３４", "١٢٣٤", "४५६७"):
        rejected(
            await submit(client, trial, content=CODE_TEXT.format(code)),
            4072,
            "提交的短信内容与审核通过的模板内容不匹配",
            code,
        )


async def test_test_mode_50_free_segments(client, trial, platform) -> None:
    assert await getnum(client, trial) == getnum_xml(50)
    rs = await asyncio.gather(*[submit(client, trial, content=CODE_TEXT.format(f"{1000 + i}")) for i in range(50)])
    ids = [accepted(r) for r in rs]
    assert len(set(ids)) == 50
    assert await getnum(client, trial) == getnum_xml(0)
    rejected(await submit(client, trial, content=CODE_TEXT.format("9999")), 4051, "剩余条数不足")
    answered(
        await submit(client, trial, fmt="json", content=CODE_TEXT.format("9999")),
        '{"code":4051,"msg":"剩余条数不足","smsid":"0"}'.encode(),
        JSON_TYPE,
    )
    # going live lifts the template restriction, not the balance
    await svc.set_state(platform, trial.account, AccountState.LIVE)
    await svc.add_signature(platform, trial.account, SIGNATURE, approve=True)
    rejected(await submit(client, trial, content=f"【{SIGNATURE}】您好"), 4051, "剩余条数不足")
    await svc.topup(platform, trial.account, 1)
    accepted(await submit(client, trial, content=f"【{SIGNATURE}】您好"))
