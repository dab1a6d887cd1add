"""Message policy through the API: 4030, 407, marketing, 408/4080/4082/4085 (both counter backends), billing."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hongyan.api.app import create_app
from hongyan.cli.main import app as cli_app
from hongyan.services import accounts as svc
from hongyan.services import billing
from hongyan.services import policy as policy_svc
from hongyan.services.platform import Platform
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.tables import ledger, messages
from tests.conftest import MOBILE, SIGNATURE
from tests.integration.test_compat_api import URL, accepted, rejected, send

NOON_BEIJING = 1_800_000_000 - (1_800_000_000 + 8 * 3600) % 86400 + 12 * 3600  # 12:00 Beijing time
CODE = f"【{SIGNATURE}】您的验证码是：123456。请不要把验证码泄露给其他人。"


@pytest.fixture(params=["memory", "redis"])
async def strict(request, settings):
    """A platform with the default limits (daily 5, codes 5, ceiling 20, 1/s) on either counter backend."""
    update = {
        "limit_per_second": 1,
        "limit_daily": 5,
        "limit_daily_codes": 5,
        "limit_daily_ceiling": 20,
        "policy_poll_s": 0.05,
    }
    if request.param == "redis":
        update["redis_url"] = "redis://127.0.0.1:6379/14"
    p = await Platform.open(settings.model_copy(update=update))
    if request.param == "redis":
        await p.counters._redis.flushdb()
    t = [float(NOON_BEIJING)]
    p.clock = lambda: t[0]
    c = await svc.create_account(p, "strict", balance=1000, live=True)
    await svc.add_signature(p, c.account, SIGNATURE, approve=True)
    transport = httpx.ASGITransport(app=create_app(p.settings, platform=p), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://106.ihuyi.com") as client:
        yield p, client, c, t
    await p.close()


async def test_per_second_and_daily(strict) -> None:
    _p, client, c, t = strict
    accepted(await send(client, c))
    rejected(await send(client, c), 4080, "同一手机号码同一秒钟之内发送频率不能超过 1 条")
    accepted(await send(client, c, mobile="13800138001"))  # another number is independent
    for _ in range(4):
        t[0] += 1
        accepted(await send(client, c))
    t[0] += 1
    rejected(await send(client, c), 4082, "超出同一手机号一天之内【5】条短信限制")
    t[0] += 86400  # the next Beijing day
    accepted(await send(client, c))


async def test_configured_numbers_in_texts(strict) -> None:
    p, client, c, t = strict
    await policy_svc.limits_set(p, c.account, limit_daily=3, limit_daily_codes=2)
    for _ in range(2):
        accepted(await send(client, c, content=CODE))
        t[0] += 1
    rejected(await send(client, c, content=CODE), 4085, "同一手机号验证码短信发送超出【2】条")
    accepted(await send(client, c))
    t[0] += 1
    rejected(await send(client, c), 4082, "超出同一手机号一天之内【3】条短信限制")


async def test_code_pattern_counts_as_verification(strict) -> None:
    _p, client, c, t = strict
    for i in range(5):
        accepted(await send(client, c, content=f"【{SIGNATURE}】您的校验码为 A1B2{i}，5分钟内有效"))
        t[0] += 1
    rejected(
        await send(client, c, content=f"【{SIGNATURE}】验证码：998877"), 4085, "同一手机号验证码短信发送超出【5】条"
    )


async def test_daily_ceiling_blacklists_then_lift(strict, tmp_path, monkeypatch) -> None:
    p, client, c, t = strict
    answers = []
    for _ in range(20):
        answers.append(await send(client, c))
        t[0] += 1
    assert sum(b"<code>2</code>" in r.content for r in answers) == 5
    rejected(await send(client, c), 408, "发送超限([20]条),已加入黑名单,可登入平台解除")
    t[0] += 1
    rejected(await send(client, c), 4030, "手机号码已被列入黑名单")
    t[0] += 86400  # still listed the next day
    rejected(await send(client, c), 4030, "手机号码已被列入黑名单")
    monkeypatch.setenv("HONGYAN_DATABASE_URL", p.settings.database_url)
    monkeypatch.setenv("HONGYAN_VAR_DIR", str(p.settings.var_dir))
    monkeypatch.setenv("HONGYAN_SECRET_KEY", p.settings.secret_key.get_secret_value())
    r = await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["blacklist", "remove", MOBILE, "--account", c.account, "--kind", "auto408"]
    )
    assert r.exit_code == 0, r.output
    await p.policy.load()
    accepted(await send(client, c))


async def test_exact_under_concurrency(strict) -> None:
    p, client, c, _t = strict
    await policy_svc.limits_set(p, c.account, limit_daily=5)
    p.settings.limit_per_second = 1000  # only the daily limit in play
    rs = await asyncio.gather(*[send(client, c) for _ in range(100)])
    assert sum(b"<code>2</code>" in r.content for r in rs) == 5


async def test_refused_by_balance_gives_the_units_back(strict) -> None:
    p, client, _c, t = strict
    poor = await svc.create_account(p, "poor", balance=1, live=True)
    await svc.add_signature(p, poor.account, SIGNATURE, approve=True)
    accepted(await send(client, poor))
    t[0] += 1
    rejected(await send(client, poor), 4051, "剩余条数不足")
    await svc.topup(p, poor.account, 10)
    for _ in range(4):  # the refused one did not use up a daily unit
        t[0] += 1
        accepted(await send(client, poor))


async def test_blacklists(client, live, platform) -> None:
    await policy_svc.blacklist_add(platform, "13900139000", None, "operator")
    await policy_svc.blacklist_add(platform, "+8613700137000", live.account, "complained")
    await platform.policy.load()
    rejected(await send(client, live, mobile="13900139000"), 4030, "手机号码已被列入黑名单")
    rejected(await send(client, live, mobile="13700137000"), 4030, "手机号码已被列入黑名单")
    other = await svc.create_account(platform, "other", balance=10, live=True)
    await svc.add_signature(platform, other.account, SIGNATURE, approve=True)
    accepted(await send(client, other, mobile="13700137000"))  # per-account list
    rejected(await send(client, other, mobile="13900139000"), 4030, "手机号码已被列入黑名单")
    # order: 406 before 4030, 4030 before 407
    rejected(await send(client, live, mobile="1390013900"), 406, "手机格式不正确")
    await policy_svc.words_add(platform, ["赌博"])
    await platform.policy.load()
    rejected(
        await send(client, live, mobile="13900139000", content=f"【{SIGNATURE}】赌博"), 4030, "手机号码已被列入黑名单"
    )


async def test_sensitive_words_and_hot_reload(client, live, platform, tmp_path, monkeypatch) -> None:
    words = tmp_path / "words.txt"
    words.write_text("# list\n赌博\n\nFalun\n赌博\n代开发票\n", encoding="utf-8")
    monkeypatch.setenv("HONGYAN_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("HONGYAN_VAR_DIR", str(platform.settings.var_dir))
    monkeypatch.setenv("HONGYAN_SECRET_KEY", platform.settings.secret_key.get_secret_value())
    r = await asyncio.to_thread(CliRunner().invoke, cli_app, ["words", "import", str(words)])
    assert r.exit_code == 0 and "3 words added" in r.output, r.output
    deadline = time.monotonic() + 5  # the running platform reloads by itself (policy_poll_s)
    while platform.policy.words.size < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    for text in ("欢迎来赌博", "欢迎来赌 博", "欢迎来赌*博", "ｆａｌｕｎ好", "FA-LUN", "代\u200b开发票"):
        rejected(await send(client, live, content=f"【{SIGNATURE}】{text}"), 407, "短信内容含有敏感字符")
    accepted(await send(client, live, content=f"【{SIGNATURE}】博物馆开放"))
    r = await client.post(
        URL + "?method=AddTemplate&format=json",
        data={"account": live.account, "password": live.apikey, "content": "代开发票【变量】"},
    )
    assert r.content == '{"code":407,"msg":"模板内容含有敏感字符","templateid":"0"}'.encode()


async def test_marketing_rules(client, live, platform) -> None:
    await svc.add_signature(platform, live.account, "鸿雁优选", approve=True, category="marketing")
    platform.clock = lambda: NOON_BEIJING
    rejected(await send(client, live, content="【鸿雁优选】双十一大促"), 0, "营销短信须以“拒收请回复R”结尾")
    accepted(await send(client, live, content="【鸿雁优选】双十一大促，拒收请回复R"))
    platform.clock = lambda: NOON_BEIJING + 10 * 3600  # 22:00 Beijing
    rejected(
        await send(client, live, content="【鸿雁优选】双十一大促，拒收请回复R"),
        0,
        "营销短信仅限北京时间08:00-21:00发送",
    )
    accepted(await send(client, live))  # notices are not limited in time


async def test_packages_prices_and_refund(client, live, platform) -> None:
    small = await billing.add_package(platform, "入门", 1000, 4500)
    big = await billing.add_package(platform, "企业", 100000, 300000)
    rows = await billing.list_packages(platform)
    assert [r["unit_price_fen"] for r in rows] == [4.5, 3.0]  # bigger is cheaper: data, not code
    assert await billing.buy_package(platform, live.account, small) == 2000
    await billing.buy_package(platform, live.account, big)
    smsid = accepted(await send(client, live))
    async with platform.engines.read.connect() as conn:
        price = (await conn.execute(select(messages.c.unit_price_micros).where(messages.c.smsid == smsid))).scalar_one()
        paid = [
            r.paid_cents
            for r in await conn.execute(select(ledger.c.paid_cents).where(ledger.c.package_id.is_not(None)))
        ]
    assert price == 30_000 and paid == [4500, 300000]  # 3 fen = 0.03 yuan = 30,000 millionths
    assert await billing.refund(platform, smsid, "operator goodwill") is True
    assert await billing.refund(platform, smsid, "again") is False
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, live.account)
        assert row.balance == await ledger_sum(conn, row.id) == 1000 + 1000 + 100000


async def test_thousand_parallel_submits_never_overdraw(client, platform) -> None:
    c = await svc.create_account(platform, "hundred", balance=100, live=True)
    await svc.add_signature(platform, c.account, SIGNATURE, approve=True)
    rs = await asyncio.gather(
        *[
            client.post(
                URL + "?method=Submit",
                data={
                    "account": c.account,
                    "password": c.apikey,
                    "mobile": f"137{i:08d}",
                    "content": f"【{SIGNATURE}】通知{i}",
                },
            )
            for i in range(1000)
        ]
    )
    assert sum(b"<code>2</code>" in r.content for r in rs) == 100
    assert sum(b"<code>4051</code>" in r.content for r in rs) == 900
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, c.account)
        assert row.balance == 0 == await ledger_sum(conn, row.id)
        assert len((await conn.execute(select(messages.c.id).where(messages.c.account_id == row.id))).all()) == 100
