"""The ihuyi API, byte for byte: every Submit code, the check order, GetNum, AddTemplate, body forms."""

from __future__ import annotations

import asyncio
import hashlib
import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from hongyan.domain.states import AccountState, ReviewState
from hongyan.services import accounts as svc
from hongyan.store.tables import messages
from tests.conftest import MOBILE, SIGNATURE

URL = "/webservice/sms.php"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
CODE_TEXT = "您的验证码是：1234。请不要把验证码泄露给其他人。"


def xml(code: int, msg: str, smsid: str = "0", root: str = "SubmitResult", key: str = "smsid") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns="http://106.ihuyi.com/">\n'
        f"<code>{code}</code>\n<msg>{msg}</msg>\n<{key}>{smsid}</{key}>\n</{root}>\n"
    ).encode()


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


async def send(client, creds=None, fmt: str = "", **params):
    form = {}
    if creds is not None:
        form = {
            "account": creds.account,
            "password": creds.apikey,
            "mobile": MOBILE,
            "content": f"【{SIGNATURE}】您的订单已发货",
        }
    form.update(params)
    q = "?method=Submit" + (f"&format={fmt}" if fmt else "")
    return await client.post(URL + q, data={k: v for k, v in form.items() if v is not None})


def accepted(r) -> str:
    assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE
    m = re.fullmatch(rb".*<smsid>(\d{20})</smsid>\n</SubmitResult>\n", r.content, re.S)
    assert m, r.content
    assert r.content == xml(2, "提交成功", m.group(1).decode())
    return m.group(1).decode()


def rejected(r, code: int, msg: str) -> None:
    assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE
    assert r.content == xml(code, msg), r.content.decode()


async def test_accepted_xml_and_json(client, live) -> None:
    accepted(await send(client, live))
    r = await send(client, live, fmt="json")
    assert r.headers["content-type"] == JSON_TYPE
    m = re.fullmatch(
        rb'\{"code":2,"msg":"\xe6\x8f\x90\xe4\xba\xa4\xe6\x88\x90\xe5\x8a\x9f","smsid":"(\d{20})"\}', r.content
    )
    assert m, r.content


@pytest.mark.parametrize(
    "override,code,msg",
    [
        ({"account": ""}, 401, "帐号不能为空"),
        ({"password": " "}, 402, "密码不能为空"),
        ({"mobile": ""}, 403, "手机号码不能为空"),
        ({"content": ""}, 404, "短信内容不能为空"),
        ({"account": "C00000000"}, 405, "API ID 或 API KEY 不正确"),
        ({"password": "0" * 32}, 405, "API ID 或 API KEY 不正确"),
        ({"mobile": "1380013800"}, 406, "手机格式不正确"),
        ({"mobile": "12345678901"}, 406, "手机格式不正确"),
        ({"mobile": "1380013800a"}, 406, "手机格式不正确"),
        ({"content": "您的订单已发货"}, 2, ""),  # the account's default signature is used
        ({"content": "【x】您的订单已发货"}, 4070, "签名格式不正确"),
        ({"content": "【" + "签" * 31 + "】您的订单已发货"}, 4070, "签名格式不正确"),
        ({"content": "【鸿雁科技】【再来】您的订单已发货"}, 2, ""),  # 2nd pair is text, not a signature
        ({"content": "【鸿雁科技】您的订单已发货【鸿雁科技】"}, 4070, "签名格式不正确"),
        ({"content": "【鸿雁科技您的订单已发货"}, 4070, "签名格式不正确"),
        ({"content": "【别的公司】您的订单已发货"}, 4075, "签名未通过审核"),
        ({"content": "【鸿雁科技】" + "字" * 294}, 2, ""),
        ({"content": "【鸿雁科技】" + "字" * 295}, 4073, "短信内容超出长度限制"),
        ({"content": "【鸿雁科技】您的订单已发货😀"}, 4074, "短信内容包含 emoji 符号"),
        ({"content": "【鸿雁科技】欢迎🇨🇳"}, 4074, "短信内容包含 emoji 符号"),
        ({"content": "【鸿雁科技】按1\ufe0f\u20e3"}, 4074, "短信内容包含 emoji 符号"),
        ({"content": "【鸿雁科技】爱你❤\ufe0f"}, 4074, "短信内容包含 emoji 符号"),
        ({"content": "【鸿雁科技】★※○→√、。！？「」"}, 2, ""),
        ({"mobile": "+8613800138000"}, 2, ""),
        ({"mobile": "8613800138000"}, 2, ""),
        ({"mobile": "008613800138000"}, 2, ""),
        ({"sign": SIGNATURE, "content": "您的订单已发货"}, 2, ""),
        ({"sign": "x", "content": "您的订单已发货"}, 4070, "签名格式不正确"),
        ({"sign": "别的公司", "content": "您的订单已发货"}, 4075, "签名未通过审核"),
    ],
)
async def test_submit_codes(client, live, override, code, msg) -> None:
    r = await send(client, live, **override)
    if code == 2:
        accepted(r)
    else:
        rejected(r, code, msg)


async def test_check_order(client, live, platform) -> None:
    # Several failures at once: the earliest check in pipeline/run.py answers.
    rejected(await send(client, live, account="", password="", mobile=""), 401, "帐号不能为空")
    rejected(await send(client, live, password="", mobile="bad"), 402, "密码不能为空")
    rejected(await send(client, live, mobile="", content=""), 403, "手机号码不能为空")
    rejected(await send(client, live, password="wrong", mobile="bad"), 405, "API ID 或 API KEY 不正确")
    rejected(await send(client, live, mobile="bad", content="【x】😀"), 406, "手机格式不正确")
    rejected(await send(client, live, content="【x】😀" + "字" * 300), 4070, "签名格式不正确")
    rejected(await send(client, live, content="【别的公司】😀" + "字" * 300), 4073, "短信内容超出长度限制")
    rejected(await send(client, live, content="【别的公司】😀"), 4074, "短信内容包含 emoji 符号")
    await svc.set_state(platform, live.account, AccountState.FROZEN)
    rejected(await send(client, live, mobile="bad"), 4050, "账号被冻结")
    rejected(await send(client, live, password="wrong"), 405, "API ID 或 API KEY 不正确")


async def test_ip_rules(client, live, platform) -> None:
    await svc.set_fields(platform, live.account, allowed_ips="10.0.0.0/8")
    rejected(await send(client, live), 400, "非法ip访问")
    await svc.set_fields(platform, live.account, allowed_ips="10.0.0.0/8, 127.0.0.0/24")
    accepted(await send(client, live))
    await svc.set_fields(platform, live.account, registered_ips="192.168.1.1")
    rejected(await send(client, live), 4052, "访问 ip 与备案 ip 不符")
    await svc.set_fields(platform, live.account, registered_ips="127.0.0.1")
    accepted(await send(client, live))


async def test_passwords(client, live, platform) -> None:
    now = 1_800_000_000
    platform.clock = lambda: now
    accepted(await send(client, live, password=md5(live.apikey)))
    accepted(await send(client, live, password=md5(live.apikey).upper()))
    content = f"【{SIGNATURE}】您的订单已发货"
    t = str(now - 599)
    dynamic = md5(live.account + live.apikey + MOBILE + content + t)
    accepted(await send(client, live, password=dynamic, time=t))
    t = str(now - 601)
    dynamic = md5(live.account + live.apikey + MOBILE + content + t)
    rejected(await send(client, live, password=dynamic, time=t), 40501, "动态密码已过期")
    rejected(await send(client, live, password=dynamic, time="soon"), 40501, "动态密码已过期")
    rejected(await send(client, live, password="f" * 32, time=str(now)), 40502, "动态密码校验失败")
    # GetNum: md5(account + apikey + time)
    r = await client.get(
        URL,
        params={
            "method": "GetNum",
            "account": live.account,
            "time": str(now),
            "password": md5(live.account + live.apikey + str(now)),
        },
    )
    assert r.content.startswith(
        b'<?xml version="1.0" encoding="utf-8"?>\n<GetNumResult xmlns="http://106.ihuyi.com/">'
        b"\n<code>2</code>\n<msg>\xe6\x9f\xa5\xe8\xaf\xa2\xe6\x88\x90\xe5\x8a\x9f</msg>\n<num>"
    )


async def test_getnum(client, live) -> None:
    accepted(await send(client, live, content=f"【{SIGNATURE}】" + "长" * 100))  # 2 segments
    r = await client.get(URL, params={"method": "GetNum", "account": live.account, "password": live.apikey})
    assert r.content == xml(2, "查询成功", "998", root="GetNumResult", key="num")
    r = await client.post(URL + "?method=GetNum&format=json", data={"account": live.account, "password": "x"})
    assert r.content == '{"code":405,"msg":"API ID 或 API KEY 不正确","num":0}'.encode()
    assert r.headers["content-type"] == JSON_TYPE
    r = await client.post(URL + "?method=GetNum", data={"password": "x"})
    assert r.content == xml(401, "帐号不能为空", "0", root="GetNumResult", key="num")


@pytest.mark.parametrize("chars,segments", [(70, 1), (71, 2), (134, 2), (135, 3), (300, 5)])
async def test_segments_are_deducted(client, live, platform, chars, segments) -> None:
    sig = f"【{SIGNATURE}】"
    accepted(await send(client, live, content=sig + "字" * (chars - len(sig))))
    r = await client.get(
        URL, params={"method": "GetNum", "account": live.account, "password": live.apikey, "format": "json"}
    )
    assert r.json()["num"] == 1000 - segments


async def test_balance_runs_out(client, platform) -> None:
    c = await svc.create_account(platform, "small", balance=3, live=True)
    await svc.add_signature(platform, c.account, SIGNATURE, approve=True)
    rs = await asyncio.gather(
        *[
            client.post(
                URL + "?method=Submit",
                data={"account": c.account, "password": c.apikey, "mobile": MOBILE, "content": f"【{SIGNATURE}】hello"},
            )
            for _ in range(10)
        ]
    )
    assert sum(b"<code>2</code>" in r.content for r in rs) == 3
    assert sum(r.content == xml(4051, "剩余条数不足") for r in rs) == 7


async def test_unknown_method_and_format(client, live) -> None:
    r = await client.get(URL + "?method=Nope")
    assert r.content == xml(0, "提交失败")
    r = await client.get(URL + "?format=json")
    assert r.content == '{"code":0,"msg":"提交失败","smsid":"0"}'.encode()


async def test_add_template_and_templateid(client, live, platform) -> None:
    r = await client.post(
        URL + "?method=AddTemplate",
        data={"account": live.account, "password": live.apikey, "content": "您的订单【变量】已发货，预计【变量】送达"},
    )
    m = re.fullmatch(rb".*<templateid>(\d+)</templateid>\n</AddTemplateResult>\n", r.content, re.S)
    assert m and r.content == xml(2, "添加成功", m.group(1).decode(), root="AddTemplateResult", key="templateid")
    tid = m.group(1).decode()
    r = await client.post(
        URL + "?method=AddTemplate&format=json", data={"account": live.account, "password": live.apikey, "content": " "}
    )
    assert r.content == '{"code":404,"msg":"模板内容不能为空","templateid":"0"}'.encode()
    now = 1_800_000_000
    platform.clock = lambda: now
    r = await client.post(
        URL + "?method=AddTemplate",
        data={
            "account": live.account,
            "time": str(now),
            "password": md5(live.account + live.apikey + str(now)),
            "content": "x【变量】",
        },
    )
    assert r.content == xml(405, "API ID 或 API KEY 不正确", root="AddTemplateResult", key="templateid")

    rejected(await send(client, live, templateid=tid, content="A1|明天"), 4071, "没有提交备案模板")  # pending
    await svc.review_template(platform, int(tid), ReviewState.APPROVED)
    smsid = accepted(await send(client, live, templateid=tid, content="A1|明天"))
    async with platform.engines.read.connect() as conn:
        text = (await conn.execute(select(messages.c.content).where(messages.c.smsid == smsid))).scalar_one()
    assert text == f"【{SIGNATURE}】您的订单A1已发货，预计明天送达"
    rejected(await send(client, live, templateid=tid, content="A1"), 4072, "提交的短信内容与审核通过的模板内容不匹配")
    rejected(await send(client, live, templateid=tid, content="123456789|明天"), 40722, "变量内容超过指定的长度【8】")
    rejected(await send(client, live, templateid="9999", content="x"), 4071, "没有提交备案模板")
    accepted(await send(client, live, templateid="1", content="123456"))  # the built-in template

    await svc.set_fields(platform, live.account, require_template=True)
    rejected(await send(client, live), 4071, "没有提交备案模板")
    accepted(await send(client, live, content=f"【{SIGNATURE}】您的订单B2已发货，预计后天送达"))
    rejected(
        await send(client, live, content=f"【{SIGNATURE}】您的订单123456789已发货，预计后天送达"),
        40722,
        "变量内容超过指定的长度【8】",
    )


async def test_test_mode(client, trial) -> None:
    for code in ("1234", "12345", "123456"):
        accepted(await send(client, trial, content=f"您的验证码是：{code}。请不要把验证码泄露给其他人。"))
    accepted(await send(client, trial, content="您的验证码是:1234。请不要把验证码泄露给其他人。"))
    accepted(await send(client, trial, content="【鸿雁短信】" + CODE_TEXT))
    for bad in (
        "您的验证码是：123。请不要把验证码泄露给其他人。",
        "您的验证码是：1234567。请不要把验证码泄露给其他人。",
        "您好，您的订单已发货",
    ):
        rejected(await send(client, trial, content=bad), 4072, "提交的短信内容与审核通过的模板内容不匹配")
    rejected(await send(client, trial, content="【别的公司】" + CODE_TEXT), 4075, "签名未通过审核")
    rejected(await send(client, trial, templateid="2", content="1234"), 4071, "没有提交备案模板")
    rs = await asyncio.gather(*[send(client, trial, content=CODE_TEXT) for _ in range(50)])
    assert sum(b"<code>2</code>" in r.content for r in rs) == 45  # 50 free, 5 used above
    assert sum(r.content == xml(4051, "剩余条数不足") for r in rs) == 5


async def test_body_forms(client, live, platform) -> None:
    base = {"account": live.account, "password": live.apikey, "mobile": MOBILE}
    content = f"【{SIGNATURE}】验证码５６７８，中文内容"

    async def stored(r) -> str:
        smsid = accepted(r)
        async with platform.engines.read.connect() as conn:
            return (await conn.execute(select(messages.c.content).where(messages.c.smsid == smsid))).scalar_one()

    # GET with everything in the query
    assert await stored(await client.get(URL, params={"method": "Submit", **base, "content": content})) == content
    # raw unencoded UTF-8 body, no content type
    raw = "&".join(f"{k}={v}" for k, v in {**base, "content": content}.items()).encode()
    assert await stored(await client.post(URL + "?method=Submit", content=raw)) == content
    # GBK percent-escapes without a charset, and raw GBK bytes
    gbk = "&".join(f"{k}={quote(v, encoding='gbk')}" for k, v in {**base, "content": content}.items()).encode()
    assert (
        await stored(
            await client.post(
                URL + "?method=Submit", content=gbk, headers={"content-type": "application/x-www-form-urlencoded"}
            )
        )
        == content
    )
    assert await stored(await client.post(URL + "?method=Submit", content=raw.decode().encode("gbk"))) == content
    # multipart
    assert await stored(
        await client.post(URL + "?method=Submit", files={k: (None, v) for k, v in {**base, "content": content}.items()})
    )
    # body wins over query; unknown parameters ignored
    r = await client.post(URL + "?method=Submit&mobile=bad&rd=1&content=x", data={**base, "content": content})
    assert await stored(r) == content
    # dynamic password over GBK bytes is checked on the decoded text
    now = 1_800_000_000
    platform.clock = lambda: now
    dyn = md5(live.account + live.apikey + MOBILE + content + str(now))
    body = (f"account={live.account}&password={dyn}&mobile={MOBILE}&time={now}&content=").encode() + content.encode(
        "gbk"
    )
    assert await stored(await client.post(URL + "?method=Submit", content=body)) == content
    # too large a body answers code 0, not a 500
    r = await client.post(URL + "?method=Submit", content=b"a=" + b"x" * 70_000)
    assert r.status_code == 200 and r.content == xml(0, "提交失败")


async def test_international(client, live) -> None:
    r = await client.post(
        "/webservice/isms.php?method=Submit",
        data={
            "account": live.account,
            "password": live.apikey,
            "mobile": "852 51234567",
            "content": f"【{SIGNATURE}】Your code is 1234",
        },
    )
    assert re.fullmatch(
        rb".*<code>2</code>\n<msg>.*</msg>\n<ismsid>\d{20}</ismsid>\n</SubmitResult>\n", r.content, re.S
    ), r.content
    r = await client.post(
        "/webservice/isms.php?method=Submit&format=json",
        data={"account": live.account, "password": live.apikey, "mobile": "852 1", "content": f"【{SIGNATURE}】x"},
    )
    assert r.content == '{"code":406,"msg":"手机格式不正确","ismsid":"0"}'.encode()
