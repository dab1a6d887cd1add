"""Every Submit answer code, byte for byte, and the order in which the checks answer (pipeline/run.py).

The expected answers are written out literally here (never produced by the production renderer): a
client that parses the answer with a regex or by stripping the namespace text breaks on any other byte.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from hongyan.domain.states import AccountState, ReviewState
from hongyan.pipeline.run import SUBMIT_CHECKS
from hongyan.services import accounts as svc
from hongyan.store.tables import messages
from tests.conftest import MOBILE, SIGNATURE, Creds
from tests.support import JSON_TYPE, XML_TYPE, assert_accepted, json_answer, md5, xml_answer

URL = "/webservice/sms.php"
ISMS_URL = "/webservice/isms.php"
BODY = "您的订单已发货"
SIGNED = f"【{SIGNATURE}】{BODY}"
NOW = 1_800_000_000

MSG = {
    0: "提交失败",
    2: "提交成功",
    400: "非法ip访问",
    401: "帐号不能为空",
    402: "密码不能为空",
    403: "手机号码不能为空",
    404: "短信内容不能为空",
    405: "API ID 或 API KEY 不正确",
    4050: "账号被冻结",
    40501: "动态密码已过期",
    40502: "动态密码校验失败",
    4051: "剩余条数不足",
    4052: "访问 ip 与备案 ip 不符",
    406: "手机格式不正确",
    4070: "签名格式不正确",
    4071: "没有提交备案模板",
    4072: "提交的短信内容与审核通过的模板内容不匹配",
    40722: "变量内容超过指定的长度【8】",
    4073: "短信内容超出长度限制",
    4074: "短信内容包含 emoji 符号",
    4075: "签名未通过审核",
}


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    """Each test's database is a clone of one migrated file (conftest.migrated_sqlite): no Alembic per test."""
    return migrated_sqlite(database_url)


async def submit(
    client: httpx.AsyncClient, creds: Creds | None = None, *, fmt: str = "", path: str = URL, **params: str | None
) -> httpx.Response:
    """POST a Submit: method (and format) in the query, the form in the body; None drops a parameter."""
    form: dict[str, str | None] = {}
    if creds is not None:
        form = {"account": creds.account, "password": creds.apikey, "mobile": MOBILE, "content": SIGNED}
    form.update(params)
    query = "?method=Submit" + (f"&format={fmt}" if fmt else "")
    return await client.post(path + query, data={k: v for k, v in form.items() if v is not None})


def assert_rejected(
    r: httpx.Response, code: int, msg: str | None = None, *, fmt: str = "xml", note: object = ""
) -> None:
    msg = MSG[code] if msg is None else msg
    assert r.status_code == 200, note
    if fmt == "json":
        assert r.headers["content-type"] == JSON_TYPE, note
        assert r.content == json_answer(code, msg), (note, r.content.decode())
    else:
        assert r.headers["content-type"] == XML_TYPE, note
        assert r.content == xml_answer(code, msg), (note, r.content.decode())
    assert r.headers["content-length"] == str(len(r.content))


async def stored(platform, smsid: str):
    async with platform.engines.read.connect() as conn:
        return (
            await conn.execute(
                select(messages.c.content, messages.c.mobile, messages.c.signature, messages.c.segments).where(
                    messages.c.smsid == smsid
                )
            )
        ).one()


async def balance(client: httpx.AsyncClient, creds: Creds) -> int:
    r = await client.get(URL, params={"method": "GetNum", "account": creds.account, "password": creds.apikey})
    m = re.search(rb"<num>(\d+)</num>", r.content)
    assert m, r.content.decode()
    return int(m.group(1))


async def approved_template(client: httpx.AsyncClient, platform, creds: Creds, text: str) -> str:
    r = await client.post(
        URL + "?method=AddTemplate", data={"account": creds.account, "password": creds.apikey, "content": text}
    )
    m = re.search(rb"<templateid>(\d+)</templateid>", r.content)
    assert m and b"<code>2</code>" in r.content, r.content.decode()
    await svc.review_template(platform, int(m.group(1)), ReviewState.APPROVED)
    return m.group(1).decode()


async def live_account(platform, name: str, *, balance: int = 1000, signature: str | None = SIGNATURE) -> Creds:
    c = await svc.create_account(platform, name, balance=balance, live=True)
    if signature is not None:
        await svc.add_signature(platform, c.account, signature, approve=True)
    return Creds(c.account, c.apikey)


# --- code 0 and code 2 ---------------------------------------------------------------------------


async def test_code_0_unknown_or_missing_method(client, live) -> None:
    form = {"account": live.account, "password": live.apikey, "mobile": MOBILE, "content": SIGNED}
    for query in ("?method=Nope", "", "?method=", "?method=Submitx", "?Method=Submit", "?method=Sub%00mit"):
        assert_rejected(await client.post(URL + query, data=form), 0, note=query)
        assert_rejected(await client.get(URL + query), 0, note=query)


async def test_code_0_json_and_international(client) -> None:
    assert_rejected(await client.get(URL + "?method=Nope&format=json"), 0, fmt="json")
    r = await client.get(ISMS_URL + "?method=Nope")
    assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE
    assert r.content == xml_answer(0, "提交失败", "0", key="ismsid")
    r = await client.get(ISMS_URL + "?format=json")
    assert r.headers["content-type"] == JSON_TYPE
    assert r.content == json_answer(0, "提交失败", "0", key="ismsid")


async def test_code_2_xml_and_json(client, live, platform) -> None:
    smsid = assert_accepted(await submit(client, live))
    assert (await stored(platform, smsid)).content == SIGNED
    assert_accepted(await submit(client, live, fmt="json"), fmt="json")
    assert_accepted(await submit(client, live, fmt="JSON"), fmt="json")
    assert_accepted(await submit(client, live, fmt="xml"))
    # the method name is case-insensitive, as the vendor's demos spell it both ways
    r = await client.post(
        URL + "?method=submit",
        data={"account": live.account, "password": live.apikey, "mobile": MOBILE, "content": SIGNED},
    )
    assert_accepted(r)


# --- 401-404: missing fields ---------------------------------------------------------------------


@pytest.mark.parametrize("field,code", [("account", 401), ("password", 402), ("mobile", 403), ("content", 404)])
async def test_missing_field_codes(client, live, field, code) -> None:
    for value in (None, "", "  ", "\t\r\n"):  # absent, empty, blank
        assert_rejected(await submit(client, live, **{field: value}), code, note=repr(value))


async def test_missing_field_json(client, live) -> None:
    assert_rejected(await submit(client, live, fmt="json", account=""), 401, fmt="json")
    assert_rejected(await submit(client, live, fmt="json", content=None), 404, fmt="json")


# --- authentication: 405, 4050, 40501, 40502, 400, 4052 -------------------------------------------


async def test_code_405(client, live) -> None:
    assert_rejected(await submit(client, live, account="C00000000"), 405)
    assert_rejected(await submit(client, live, password=live.apikey + "x"), 405)
    assert_rejected(await submit(client, live, password=md5(live.apikey + "x")), 405)
    assert_rejected(await submit(client, live, password="0" * 32), 405)
    assert_rejected(await submit(client, live, fmt="json", password="wrong"), 405, fmt="json")


async def test_code_4050_frozen(client, live, platform) -> None:
    await svc.set_state(platform, live.account, AccountState.FROZEN)
    assert_rejected(await submit(client, live), 4050)
    assert_rejected(await submit(client, live, fmt="json"), 4050, fmt="json")
    await svc.set_state(platform, live.account, AccountState.LIVE)
    assert_accepted(await submit(client, live))


async def test_code_40501_and_40502(client, live, platform) -> None:
    platform.clock = lambda: NOW
    for t in (NOW - 601, NOW + 601):
        dyn = md5(live.account + live.apikey + MOBILE + SIGNED + str(t))
        assert_rejected(await submit(client, live, password=dyn, time=str(t)), 40501)
    assert_rejected(await submit(client, live, password="f" * 32, time=str(NOW)), 40502)
    assert_rejected(await submit(client, live, fmt="json", password="f" * 32, time=str(NOW)), 40502, fmt="json")
    dyn = md5(live.account + live.apikey + MOBILE + SIGNED + str(NOW))
    assert_accepted(await submit(client, live, password=dyn, time=str(NOW)))


async def test_code_400_allow_list(client, live, platform) -> None:
    # the client IP is 127.0.0.1; entries are addresses or CIDR blocks separated by , or ;
    for allowed, ok in [
        ("10.0.0.0/8", False),
        ("127.0.0.2", False),
        ("127.0.0.2/32, 128.0.0.0/1", False),
        ("::1", False),
        ("10.0.0.0/8,127.0.0.0/8", True),
        ("192.168.1.0/24; 127.0.0.1", True),
        ("127.0.0.1", True),
        ("127.0.0.0/31", True),
        ("not-an-ip, 127.0.0.1/32", True),
    ]:
        await svc.set_fields(platform, live.account, allowed_ips=allowed)
        r = await submit(client, live)
        if ok:
            assert_accepted(r, note=allowed)
        else:
            assert_rejected(r, 400, note=allowed)
            assert_rejected(await submit(client, live, fmt="json"), 400, fmt="json", note=allowed)
    await svc.set_fields(platform, live.account, allowed_ips="")
    assert_accepted(await submit(client, live))  # an empty list means no restriction


async def test_code_4052_registered_ips(client, live, platform) -> None:
    for registered, ok in [("192.168.1.1", False), ("10.1.0.0/16, 172.16.0.1", False), ("127.0.0.0/24", True)]:
        await svc.set_fields(platform, live.account, allowed_ips="127.0.0.0/8", registered_ips=registered)
        r = await submit(client, live)
        if ok:
            assert_accepted(r, note=registered)
        else:
            assert_rejected(r, 4052, note=registered)
            assert_rejected(await submit(client, live, fmt="json"), 4052, fmt="json", note=registered)
    # registered IPs without an allow-list
    await svc.set_fields(platform, live.account, allowed_ips="", registered_ips="10.0.0.1")
    assert_rejected(await submit(client, live), 4052)


# --- 406: the number ------------------------------------------------------------------------------


async def test_code_406_bad_numbers(client, live) -> None:
    for mobile in [
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "1380013800a",
        "abcdefghijk",
        "12345678901",  # 11 digits, but no such mobile block
        "23800138000",
        "13800138000,13900139000",  # exactly one number per Submit
        "+8513800138000",
        "00813800138000",
        "１３８００１３８０００",  # full-width digits
    ]:
        assert_rejected(await submit(client, live, mobile=mobile), 406, note=mobile)
    assert_rejected(await submit(client, live, fmt="json", mobile="1380013800"), 406, fmt="json")


async def test_mainland_prefixes_accepted(client, live, platform) -> None:
    for mobile in ["13800138000", "+8613800138000", "8613800138000", "008613800138000", " 13800138000 "]:
        smsid = assert_accepted(await submit(client, live, mobile=mobile), note=mobile)
        assert (await stored(platform, smsid)).mobile == "13800138000"


# --- 4070: the signature --------------------------------------------------------------------------


async def test_signature_sources(client, live, platform) -> None:
    # the `sign` parameter (with or without its brackets)
    smsid = assert_accepted(await submit(client, live, sign=SIGNATURE, content=BODY))
    assert (await stored(platform, smsid)).content == SIGNED
    smsid = assert_accepted(await submit(client, live, sign=f"【{SIGNATURE}】", content=BODY))
    assert (await stored(platform, smsid)).content == SIGNED
    # sign parameter and the same 【sign】 in the content: not doubled
    smsid = assert_accepted(await submit(client, live, sign=SIGNATURE, content=SIGNED))
    assert (await stored(platform, smsid)).content == SIGNED
    # 【…】 at the start
    smsid = assert_accepted(await submit(client, live, content=SIGNED))
    assert (await stored(platform, smsid)).content == SIGNED
    # 【…】 at the end keeps its place
    smsid = assert_accepted(await submit(client, live, content=f"{BODY}【{SIGNATURE}】"))
    row = await stored(platform, smsid)
    assert (row.content, row.signature) == (f"{BODY}【{SIGNATURE}】", SIGNATURE)
    # the account's default (its first approved signature)
    smsid = assert_accepted(await submit(client, live, content=BODY))
    row = await stored(platform, smsid)
    assert (row.content, row.signature) == (SIGNED, SIGNATURE)
    # a second bracket pair right after the signature is ordinary text
    smsid = assert_accepted(await submit(client, live, content=f"【{SIGNATURE}】【重要】{BODY}"))
    assert (await stored(platform, smsid)).content == f"【{SIGNATURE}】【重要】{BODY}"


async def test_code_4070_no_signature_anywhere(client, platform) -> None:
    bare = await live_account(platform, "unsigned", signature=None)
    assert_rejected(await submit(client, bare, content=BODY), 4070)
    assert_rejected(await submit(client, bare, fmt="json", content=BODY), 4070, fmt="json")


async def test_code_4070_bad_signatures(client, live) -> None:
    for content, sign in [
        ("【鸿】" + BODY, None),  # 1 character
        ("【" + "签" * 31 + "】" + BODY, None),  # 31 characters
        (BODY + "【" + "签" * 31 + "】", None),
        ("【】" + BODY, None),
        ("【   】" + BODY, None),
        (BODY, "鸿"),
        (BODY, "签" * 31),
        (f"【{SIGNATURE}】{BODY}【{SIGNATURE}】", None),  # double signature
        (f"【{SIGNATURE}】{BODY}【别的公司】", None),
        (f"【{SIGNATURE}{BODY}", None),  # unbalanced brackets
        (f"{SIGNATURE}】{BODY}", None),
        (f"【{SIGNATURE}】{BODY}】", None),
        (f"【{SIGNATURE}】【{BODY}", None),
    ]:
        assert_rejected(await submit(client, live, content=content, sign=sign), 4070, note=(content, sign))


async def test_signature_length_bounds(client, live, platform) -> None:
    two, thirty = "鸿雁", "签" * 30
    for sig in (two, thirty):
        await svc.add_signature(platform, live.account, sig, approve=True)
        assert_accepted(await submit(client, live, content=f"【{sig}】{BODY}"))
        assert_accepted(await submit(client, live, content=f"{BODY}【{sig}】"))
        assert_accepted(await submit(client, live, content=BODY, sign=sig))
    # in bounds but not approved: the format passes, approval does not
    assert_rejected(await submit(client, live, content=f"【ab】{BODY}"), 4075)
    assert_rejected(await submit(client, live, content="【" + "字" * 30 + "】" + BODY), 4075)


# --- 4071 / 4072 / 40722: templates ---------------------------------------------------------------


async def test_code_4071_4072_40722(client, live, platform) -> None:
    tid = await approved_template(client, platform, live, "您的订单【变量】已发货，预计【变量】送达")
    assert_rejected(await submit(client, live, templateid="999999", content="A1|明天"), 4071)
    assert_rejected(await submit(client, live, templateid="abc", content="A1|明天"), 4071)
    assert_rejected(await submit(client, live, templateid=tid, content="A1"), 4072)
    assert_rejected(await submit(client, live, templateid=tid, content="A1|明天|后天"), 4072)
    assert_rejected(await submit(client, live, templateid=tid, content="A1| "), 4072)
    assert_rejected(await submit(client, live, templateid=tid, content="123456789|明天"), 40722)
    assert_rejected(await submit(client, live, fmt="json", templateid=tid, content="A1|123456789"), 40722, fmt="json")
    assert_accepted(await submit(client, live, templateid=tid, content="12345678|明天"))
    # the built-in verification template takes a 4-6 digit code, its slot is 6 long
    assert_accepted(await submit(client, live, templateid="1", content="123456"))
    assert_rejected(await submit(client, live, templateid="1", content="123"), 4072)
    assert_rejected(await submit(client, live, templateid="1", content="1234567"), 40722, "变量内容超过指定的长度【6】")
    await svc.set_fields(platform, live.account, require_template=True)
    assert_rejected(await submit(client, live, content=f"【{SIGNATURE}】随便说点什么"), 4071)


# --- 4073: 300 characters, signature and brackets included ----------------------------------------


async def test_code_4073_length_counts_signature(client, live, platform) -> None:
    def content_for(placement: str, body: str) -> dict[str, str]:
        return {
            "start": {"content": f"【{SIGNATURE}】{body}"},
            "end": {"content": f"{body}【{SIGNATURE}】"},
            "sign": {"content": body, "sign": SIGNATURE},
            "default": {"content": body},
        }[placement]

    room = 300 - len(f"【{SIGNATURE}】")  # 294
    for placement in ("start", "end", "sign", "default"):
        smsid = assert_accepted(await submit(client, live, **content_for(placement, "字" * room)), note=placement)
        row = await stored(platform, smsid)
        assert len(row.content) == 300 and row.segments == 5, placement
        assert_rejected(await submit(client, live, **content_for(placement, "字" * (room + 1))), 4073, note=placement)
        assert_rejected(await submit(client, live, **content_for(placement, "a" * (room + 1))), 4073, note=placement)
    assert_rejected(await submit(client, live, fmt="json", content="a" * 400), 4073, fmt="json")
    assert await balance(client, live) == 1000 - 4 * 5


# --- 4074: emoji ----------------------------------------------------------------------------------


async def test_code_4074_emoji(client, live) -> None:
    for text in [
        "😀",
        "🇨🇳",  # a flag: two regional indicators
        "1\ufe0f\u20e3",  # keycap 1️⃣
        "1\u20e3",
        "👨\u200d👩\u200d👧",  # ZWJ family
        "❤\ufe0f",  # text-default heart made emoji
        "👍🏻",
        "✅",
        "🀄",
    ]:
        note = "U+" + "-".join(f"{ord(c):04X}" for c in text)
        assert_rejected(await submit(client, live, content=f"【{SIGNATURE}】{BODY}{text}"), 4074, note=note)
        r = await submit(client, live, content=f"{text}{BODY}", fmt="json")
        assert_rejected(r, 4074, fmt="json", note=note)
    assert await balance(client, live) == 1000


async def test_symbols_that_are_not_emoji(client, live, platform) -> None:
    for text in ["★", "※", "【注意】", "。，、！？：；“”‘’（）《》「」—…", "○→√×÷±©™", "①②③", "ＡＢＣ１２３", "～·￥"]:
        content = f"【{SIGNATURE}】{text}{BODY}{text}。"
        smsid = assert_accepted(await submit(client, live, content=content), note=text)
        assert (await stored(platform, smsid)).content == content


# --- 4075: signature approval ---------------------------------------------------------------------


async def test_code_4075(client, live, platform) -> None:
    assert_rejected(await submit(client, live, content=f"【别的公司】{BODY}"), 4075)
    assert_rejected(await submit(client, live, content=BODY, sign="别的公司"), 4075)
    pending = await svc.add_signature(platform, live.account, "待审公司")
    assert_rejected(await submit(client, live, content=f"【待审公司】{BODY}"), 4075)
    await svc.review_signature(platform, pending, ReviewState.REJECTED, "资质不符")
    assert_rejected(await submit(client, live, content=f"{BODY}【待审公司】", fmt="json"), 4075, fmt="json")
    await svc.review_signature(platform, pending, ReviewState.APPROVED)
    assert_accepted(await submit(client, live, content=f"{BODY}【待审公司】"))


# --- 4051: balance --------------------------------------------------------------------------------


async def test_code_4051(client, platform) -> None:
    poor = await live_account(platform, "poor", balance=2)
    two_segments = f"【{SIGNATURE}】" + "字" * 65  # 71 characters
    assert_accepted(await submit(client, poor, content=two_segments))
    assert await balance(client, poor) == 0
    assert_rejected(await submit(client, poor), 4051)
    assert_rejected(await submit(client, poor, fmt="json"), 4051, fmt="json")
    await svc.topup(platform, poor.account, 1)
    assert_rejected(await submit(client, poor, content=two_segments), 4051)  # 1 left, 2 needed
    assert_accepted(await submit(client, poor))
    assert await balance(client, poor) == 0


# --- segments -------------------------------------------------------------------------------------


async def test_segments_deducted(client, live, platform) -> None:
    left = 1000
    for chars, segments in [(7, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4), (268, 4), (269, 5)]:
        content = f"【{SIGNATURE}】" + "字" * (chars - 6)
        smsid = assert_accepted(await submit(client, live, content=content), note=chars)
        assert (await stored(platform, smsid)).segments == segments, chars
        left -= segments
        r = await client.get(URL, params={"method": "GetNum", "account": live.account, "password": live.apikey})
        assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE
        assert (
            r.content
            == (
                '<?xml version="1.0" encoding="utf-8"?>\n<GetNumResult xmlns="http://106.ihuyi.com/">\n'
                f"<code>2</code>\n<msg>查询成功</msg>\n<num>{left}</num>\n</GetNumResult>\n"
            ).encode()
        ), chars
    r = await client.get(
        URL, params={"method": "GetNum", "account": live.account, "password": live.apikey, "format": "json"}
    )
    assert r.headers["content-type"] == JSON_TYPE
    assert r.content == f'{{"code":2,"msg":"查询成功","num":{left}}}'.encode()


async def test_segments_count_default_signature_and_latin(client, live) -> None:
    # 64 Latin characters + the default 【鸿雁科技】 (6) = 70: one segment; one more makes two
    assert_accepted(await submit(client, live, content="a" * 64))
    assert await balance(client, live) == 999
    assert_accepted(await submit(client, live, content="a" * 65))
    assert await balance(client, live) == 997


# --- which check answers first (pipeline/run.py) --------------------------------------------------


def test_check_order_is_the_documented_one() -> None:
    names = [f.__name__ for f in SUBMIT_CHECKS]
    expected = [
        "required_fields",
        "authenticate",
        "not_frozen",
        "ip_rules",
        "valid_number",
        "not_blacklisted",
        "no_sensitive_words",
        "signature_format",
        "template_rules",
        "length_limit",
        "no_emoji",
        "signature_approved",
    ]
    assert names[: len(expected)] == expected


async def test_precedence_missing_fields_then_auth(client, live, platform) -> None:
    assert_rejected(await submit(client, live, account="", password="", mobile="", content=""), 401)
    assert_rejected(await submit(client, live, password="", mobile="bad", content=""), 402)
    assert_rejected(await submit(client, live, mobile="", content=""), 403)
    assert_rejected(await submit(client, live, password="wrong", content=""), 404)
    assert_rejected(await submit(client, live, account="C00000000", mobile="bad"), 405)
    platform.clock = lambda: NOW
    assert_rejected(await submit(client, live, password="f" * 32, time=str(NOW - 9999), mobile="bad"), 40501)
    assert_rejected(await submit(client, live, password="f" * 32, time=str(NOW), mobile="bad"), 40502)


async def test_precedence_auth_frozen_ip(client, live, platform) -> None:
    await svc.set_fields(platform, live.account, allowed_ips="10.0.0.0/8", registered_ips="10.0.0.1")
    assert_rejected(await submit(client, live, mobile="bad"), 400)  # 400 before 4052 before 406
    await svc.set_state(platform, live.account, AccountState.FROZEN)
    assert_rejected(await submit(client, live), 4050)  # 4050 before 400
    assert_rejected(await submit(client, live, password="wrong"), 405)  # 405 before 4050
    platform.clock = lambda: NOW
    assert_rejected(await submit(client, live, password="f" * 32, time="1"), 40501)  # 40501 before 4050
    await svc.set_state(platform, live.account, AccountState.LIVE)
    await svc.set_fields(platform, live.account, allowed_ips="127.0.0.1")
    assert_rejected(await submit(client, live, mobile="bad"), 4052)  # 4052 before 406


async def test_precedence_number_then_content(client, live, platform) -> None:
    long_emoji = "😀" + "字" * 300
    assert_rejected(await submit(client, live, mobile="bad", content="【x】" + long_emoji), 406)
    assert_rejected(await submit(client, live, content="【x】" + long_emoji), 4070)
    assert_rejected(await submit(client, live, templateid="999999", sign="x", content="1"), 4070)  # 4070 before 4071
    assert_rejected(await submit(client, live, templateid="999999", content="😀" * 400), 4071)  # 4071 before 4073
    tid = await approved_template(client, platform, live, "取件码【变量】")
    assert_rejected(await submit(client, live, templateid=tid, content="😀" * 9), 40722)  # 40722 before 4074
    assert_rejected(await submit(client, live, templateid=tid, content="a|b"), 4072)
    assert_rejected(await submit(client, live, content="【别的公司】" + long_emoji), 4073)  # 4073 before 4074
    assert_rejected(await submit(client, live, content="【别的公司】😀"), 4074)  # 4074 before 4075
    await svc.set_fields(platform, live.account, require_template=True)
    assert_rejected(await submit(client, live, content=f"【{SIGNATURE}】" + "字" * 400), 4071)  # 4071 before 4073


async def test_precedence_content_before_balance(client, platform) -> None:
    broke = await live_account(platform, "broke", balance=0)
    assert_rejected(await submit(client, broke, content=f"【别的公司】{BODY}"), 4075)  # 4075 before 4051
    assert_rejected(await submit(client, broke, mobile="bad"), 406)
    assert_rejected(await submit(client, broke), 4051)
