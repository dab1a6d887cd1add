"""Frequency limits through the API (408, 4080, 4082, 4085), byte for byte, on every counter backend.

Time is the platform's injected clock (no sleeps); each Redis test uses its own key prefix, deleted after.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from hongyan.api.app import create_app
from hongyan.domain.account import AccountView
from hongyan.domain.states import AccountState
from hongyan.pipeline.context import PipelineConfig
from hongyan.pipeline.limits import CODE_PATTERN, beijing_day, effective_limits, looks_like_code
from hongyan.services import accounts as svc
from hongyan.services import policy as policy_svc
from hongyan.services.platform import Platform
from hongyan.store.tables import messages
from tests.conftest import MOBILE, SIGNATURE, Creds
from tests.integration.test_compat_api import accepted, rejected, send

REDIS_URL = "redis://127.0.0.1:6379/13"
NOON_BEIJING = 1_800_000_000 - (1_800_000_000 + 8 * 3600) % 86400 + 12 * 3600  # 12:00:00 Beijing time
CODE = f"【{SIGNATURE}】您的验证码是：123456。请不要把验证码泄露给其他人。"
NOTICE = f"【{SIGNATURE}】您的订单已发货"
DEFAULTS = {"limit_per_second": 1, "limit_daily": 5, "limit_daily_codes": 5, "limit_daily_ceiling": 20}

T4080 = "同一手机号码同一秒钟之内发送频率不能超过 1 条"


@dataclass
class Env:
    platform: Platform
    client: httpx.AsyncClient
    creds: Creds
    now: list[float]

    def tick(self, seconds: float = 1) -> None:
        self.now[0] += seconds

    async def send(self, **params):
        return await send(self.client, self.creds, **params)

    async def attempts(self, n: int, **params) -> list[int]:
        """``n`` sends one second apart; their codes."""
        out = []
        for _ in range(n):
            r = await self.send(**params)
            out.append(int(r.content.split(b"<code>")[1].split(b"</code>")[0]))
            self.tick()
        return out


@pytest.fixture(params=["memory", "sql", "redis"])
async def env(request, settings):
    """A live account on a platform with the default limits (1/s, daily 5, codes 5, ceiling 20)."""
    update: dict = {**DEFAULTS, "policy_poll_s": 0.05}
    prefix = f"test-limits:{uuid.uuid4().hex}:"
    if request.param == "sql":
        update["counters"] = "sql"
    elif request.param == "redis":
        update |= {"redis_url": REDIS_URL, "redis_prefix": prefix}
    p = await Platform.open(settings.model_copy(update=update))
    now = [float(NOON_BEIJING)]
    p.clock = lambda: now[0]
    c = await svc.create_account(p, "limited", balance=1000, live=True)
    await svc.add_signature(p, c.account, SIGNATURE, approve=True)
    transport = httpx.ASGITransport(app=create_app(p.settings, platform=p), client=("127.0.0.1", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://106.ihuyi.com") as client:
            yield Env(p, client, Creds(c.account, c.apikey), now)
    finally:
        if request.param == "redis":
            keys = [k async for k in p.counters._redis.scan_iter(match=prefix + "*")]
            if keys:
                await p.counters._redis.delete(*keys)
        await p.close()


async def stored(p: Platform) -> int:
    async with p.engines.read.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(messages))).scalar_one()


async def test_4080_exact_bytes_xml_and_json(env: Env) -> None:
    accepted(await env.send())
    rejected(await env.send(), 4080, T4080)
    r = await env.send(fmt="json")
    assert r.content == ('{"code":4080,"msg":"' + T4080 + '","smsid":"0"}').encode()
    env.tick(0.999)  # still the same calendar second? no: NOON is a whole second, so this is :00.999
    rejected(await env.send(), 4080, T4080)
    env.tick(0.001)
    accepted(await env.send())


async def test_4082_carries_the_configured_number(env: Env) -> None:
    await policy_svc.limits_set(env.platform, env.creds.account, limit_daily=3)
    assert await env.attempts(3) == [2, 2, 2]
    rejected(await env.send(), 4082, "超出同一手机号一天之内【3】条短信限制")
    accepted(await env.send(mobile="13800138001"))  # per number
    assert await stored(env.platform) == 4


async def test_4082_default_and_the_beijing_day(env: Env) -> None:
    env.now[0] = NOON_BEIJING + 12 * 3600 - 10  # 23:59:50 Beijing (15:59:50 UTC: the UTC date is earlier)
    assert await env.attempts(5) == [2, 2, 2, 2, 2]
    rejected(await env.send(), 4082, "超出同一手机号一天之内【5】条短信限制")
    env.now[0] = NOON_BEIJING + 12 * 3600  # 00:00:00 Beijing: a new day
    accepted(await env.send())


async def test_4085_codes_by_text_and_by_template(env: Env) -> None:
    await policy_svc.limits_set(env.platform, env.creds.account, limit_daily_codes=2)
    english = f"【{SIGNATURE}】Your verification code is 8K3D9Q, valid for 5 minutes"
    assert await env.attempts(1, content=CODE) + await env.attempts(1, content=english) == [2, 2]
    rejected(await env.send(content=CODE), 4085, "同一手机号验证码短信发送超出【2】条")
    env.tick()
    # the refused code took no daily unit: three notices fit (2 codes + 3 = 5), then 4082
    assert await env.attempts(3, content=NOTICE) == [2, 2, 2]
    rejected(await env.send(), 4082, "超出同一手机号一天之内【5】条短信限制")


async def test_4085_wins_over_4082_at_equal_defaults(env: Env) -> None:
    assert await env.attempts(5, content=CODE) == [2, 2, 2, 2, 2]
    rejected(await env.send(content=CODE), 4085, "同一手机号验证码短信发送超出【5】条")
    env.tick()
    rejected(await env.send(), 4082, "超出同一手机号一天之内【5】条短信限制")


async def test_verification_template_counts_as_a_code(env: Env) -> None:
    p = env.platform
    trial = await svc.create_account(p, "trial")  # test mode: only the built-in verification template
    await policy_svc.limits_set(p, trial.account, limit_daily_codes=1)
    default = p.settings.default_signature
    text = f"【{default}】您的验证码是：5678。请不要把验证码泄露给其他人。"
    accepted(await send(env.client, trial, content=text))
    env.tick()
    rejected(await send(env.client, trial, content=text), 4085, "同一手机号验证码短信发送超出【1】条")


async def test_408_blacklists_at_the_ceiling_then_4030(env: Env) -> None:
    codes = await env.attempts(20)
    assert codes == [2] * 5 + [4082] * 15
    rejected(await env.send(), 408, "发送超限([20]条),已加入黑名单,可登入平台解除")
    env.tick()
    rejected(await env.send(), 4030, "手机号码已被列入黑名单")  # at once in this process, no reload needed
    accepted(await env.send(mobile="13800138001"))
    other = await svc.create_account(env.platform, "other", balance=10, live=True)
    await svc.add_signature(env.platform, other.account, SIGNATURE, approve=True)
    accepted(await send(env.client, other))  # the auto-list is the account's own
    entries = await policy_svc.blacklist_list(env.platform, env.creds.account)
    assert [(e["mobile"], e["kind"]) for e in entries] == [(MOBILE, "auto408")]


async def test_408_counts_attempts_refused_by_4080_too(env: Env) -> None:
    await policy_svc.limits_set(env.platform, env.creds.account, limit_daily=2, limit_daily_ceiling=4)
    accepted(await env.send())
    rejected(await env.send(), 4080, T4080)
    env.tick()
    accepted(await env.send())
    env.tick()
    rejected(await env.send(), 4082, "超出同一手机号一天之内【2】条短信限制")
    env.tick()
    rejected(await env.send(), 408, "发送超限([4]条),已加入黑名单,可登入平台解除")


async def test_daily_limit_above_the_ceiling_keeps_the_gap(env: Env) -> None:
    """daily 30 with the default ceiling 20: the ceiling becomes 30 + (20 - 5) = 45."""
    await policy_svc.limits_set(env.platform, env.creds.account, limit_daily=30)
    shown = await policy_svc.limits_show(env.platform, env.creds.account)
    assert (shown["daily"], shown["ceiling"], shown["own"]) == (30, 45, {"daily": 30})
    codes = await env.attempts(45)
    assert codes == [2] * 30 + [4082] * 15
    rejected(await env.send(), 408, "发送超限([45]条),已加入黑名单,可登入平台解除")


async def test_lifted_number_gets_a_fresh_ceiling(env: Env) -> None:
    p = env.platform
    await policy_svc.limits_set(p, env.creds.account, limit_daily=1, limit_daily_ceiling=3)
    assert await env.attempts(3) == [2, 4082, 4082]
    rejected(await env.send(), 408, "发送超限([3]条),已加入黑名单,可登入平台解除")
    assert await policy_svc.blacklist_remove(p, MOBILE, env.creds.account, "auto408") == 1
    await p.policy.load()
    env.tick()
    # lifted: no longer 4030; the day's limit still holds, and the attempts count starts again
    assert await env.attempts(3) == [4082, 4082, 4082]
    rejected(await env.send(), 408, "发送超限([3]条),已加入黑名单,可登入平台解除")


async def test_100_parallel_submits_accept_exactly_the_daily_limit(env: Env) -> None:
    p = env.platform
    p.settings.limit_per_second = 1000  # only the daily limit in play
    rs = await asyncio.gather(*[env.send() for _ in range(100)])
    got = [int(r.content.split(b"<code>")[1].split(b"</code>")[0]) for r in rs]
    assert got.count(2) == 5, got
    assert set(got) <= {2, 4082, 408, 4030}  # 4030 once the 408 has listed the number
    assert await stored(p) == 5


async def test_sql_counters_on_sqlite_take_in_the_message_transaction(env: Env) -> None:
    """``HONGYAN_COUNTERS=sql`` on a SQLite file: the Submit path's takes run in the accept committer's transaction
    (no transaction of the counters' own), with the same answers."""
    p = env.platform
    if p.settings.counters != "sql" or not p.engines.is_sqlite:
        pytest.skip("SQLite counters only")
    assert p.counters.take_in_commit
    accepted(await env.send(content=CODE))
    rejected(await env.send(content=CODE), 4080, T4080)  # the same second
    env.tick()
    assert await env.attempts(5, content=CODE) == [2, 2, 2, 2, 4085]
    assert p.counters.transactions == 0  # only release and clear would use one
    async with p.engines.read.connect() as conn:
        rows = dict((await conn.exec_driver_sql("SELECT key, value FROM counters")).all())
    who = f"{(await p.load_account(env.creds.account)).id}:{MOBILE}"
    day = beijing_day(env.now[0])[0]
    assert rows[f"code:{who}:{day}"] == 5 and rows[f"day:{who}:{day}"] == 5 and rows[f"att:{who}:{day}"] == 7


async def test_two_platforms_on_one_sqlite_file_accept_exactly_the_daily_limit(settings) -> None:
    """Two accepting processes' worth of state (each its own committer, counters and connections) on one file, as
    ``serve --workers 2`` runs: 100 parallel Submits to one number, half through each, store exactly the limit."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite counters only")
    settings = settings.model_copy(update={**DEFAULTS, "limit_per_second": 1000, "counters": "sql"})
    a, b = await Platform.open(settings), await Platform.open(settings)
    try:
        assert a.counters.take_in_commit and b.counters.take_in_commit
        c = await svc.create_account(a, "shared", balance=1000, live=True)
        await svc.add_signature(a, c.account, SIGNATURE, approve=True)
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(p.settings, platform=p), client=("127.0.0.1", 40000)),
                base_url="http://106.ihuyi.com",
            )
            for p in (a, b)
        ]
        creds = Creds(c.account, c.apikey)
        rs = await asyncio.gather(*[send(clients[i % 2], creds, content=NOTICE) for i in range(100)])
        got = [int(r.content.split(b"<code>")[1].split(b"</code>")[0]) for r in rs]
        assert got.count(2) == 5, got
        assert set(got) <= {2, 4082, 408, 4030}
        assert await stored(a) == 5
        for client in clients:
            await client.aclose()
    finally:
        await a.close()
        await b.close()


async def test_refused_by_balance_or_store_gives_the_units_back(env: Env) -> None:
    p = env.platform
    poor = await svc.create_account(p, "poor", balance=1, live=True)
    await svc.add_signature(p, poor.account, SIGNATURE, approve=True)
    accepted(await send(env.client, poor))
    env.tick()
    rejected(await send(env.client, poor), 4051, "剩余条数不足")
    env.tick()
    real_write = p.writer.write

    async def broken(message):
        raise RuntimeError("disk full")

    p.writer.write = broken  # type: ignore[method-assign]
    rejected(await send(env.client, poor), 0, "提交失败")
    p.writer.write = real_write  # type: ignore[method-assign]
    await svc.topup(p, poor.account, 10)
    # the same second as the refused ones: their 4080 unit came back too
    accepted(await send(env.client, poor))
    for _ in range(3):
        env.tick()
        accepted(await send(env.client, poor))
    env.tick()
    rejected(await send(env.client, poor), 4082, "超出同一手机号一天之内【5】条短信限制")


async def test_earlier_refusals_do_not_count(env: Env) -> None:
    """Checks before the limits (406, 4030, content) answer first and use up nothing."""
    p = env.platform
    for _ in range(30):
        rejected(await env.send(content=f"【{SIGNATURE}】" + "长" * 300), 4073, "短信内容超出长度限制")
    await policy_svc.blacklist_add(p, "13800138002", env.creds.account, "test")
    await p.policy.load()
    for _ in range(30):
        rejected(await env.send(mobile="13800138002"), 4030, "手机号码已被列入黑名单")
    assert await env.attempts(5) == [2] * 5


# --- pure parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "【鸿雁科技】您的验证码是：123456。请不要把验证码泄露给其他人。",
        "【鸿雁科技】验证码 8a9F3c，5分钟内有效",
        "【鸿雁科技】您的校验码为A1B2",
        "【鸿雁科技】动态码：20240601",
        "【鸿雁科技】您的动态密码为 4821",
        "【鸿雁科技】Your verification code is 552211.",
        "【鸿雁科技】CODE: 9K2X7",
        "【鸿雁科技】登录确认码4455，如非本人操作请忽略",
    ],
)
def test_code_pattern_matches(text: str) -> None:
    assert CODE_PATTERN.search(text) and looks_like_code(text)


@pytest.mark.parametrize(
    "text",
    [
        "【鸿雁科技】您的订单已发货",
        "【鸿雁科技】请不要把验证码泄露给其他人。",  # the word alone
        "【鸿雁科技】验证码已发送至13800138000",  # a phone number is not a code
        "【鸿雁科技】验证码 will expire soon",  # letters without a digit
        "【鸿雁科技】验证码123",  # too short
        "【鸿雁科技】promo code SPRING",  # no digit
        "【鸿雁科技】barcode 12345678",  # part of a word
    ],
)
def test_code_pattern_does_not_match(text: str) -> None:
    assert not CODE_PATTERN.search(text) and not looks_like_code(text)


def _view(**limits) -> AccountView:
    return AccountView(id=1, api_id="C1", apikey="k", state=AccountState.LIVE, **limits)


@pytest.mark.parametrize(
    "own,expected",
    [
        ({}, (5, 5, 20)),
        ({"limit_daily": 3, "limit_daily_codes": 2}, (3, 2, 20)),
        ({"limit_daily": 19}, (19, 5, 20)),
        ({"limit_daily": 20}, (20, 5, 35)),
        ({"limit_daily": 30}, (30, 5, 45)),
        ({"limit_daily": 30, "limit_daily_ceiling": 100}, (30, 5, 100)),
        ({"limit_daily": 2, "limit_daily_ceiling": 4}, (2, 5, 4)),
        ({"limit_daily_ceiling": 5}, (5, 5, 20)),  # ceiling == daily: moved above it
    ],
)
def test_effective_limits(own: dict, expected: tuple[int, int, int]) -> None:
    cfg = PipelineConfig(dynamic_password_window_s=600, default_signature="x", max_content_chars=300, clock=lambda: 0.0)
    got = effective_limits(_view(**own), cfg)
    assert (got.daily, got.daily_codes, got.ceiling) == expected and got.per_second == 1


def test_beijing_day() -> None:
    assert beijing_day(NOON_BEIJING) == ("20270115", 12 * 3600 * 1000)
    assert beijing_day(NOON_BEIJING + 12 * 3600 - 0.001) == ("20270115", 1000)  # to the second
    assert beijing_day(NOON_BEIJING + 12 * 3600) == ("20270116", 86_400_000)


@given(st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False))
def test_beijing_day_agrees_with_the_calendar(now: float) -> None:
    # beijing_day works to the whole second (datetime would round a float to the microsecond)
    dt = datetime.fromtimestamp(math.floor(now), tz=UTC).astimezone(timezone(timedelta(hours=8)))
    midnight = (dt + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert beijing_day(now) == (dt.strftime("%Y%m%d"), int((midnight - dt).total_seconds()) * 1000)


@given(st.text(alphabet="验证码校验动态密确认codeCODEis:：为 0123456789abcXYZ。，", max_size=40))
def test_prefilter_never_hides_a_match(text: str) -> None:
    assert looks_like_code(text) == bool(CODE_PATTERN.search(text))
