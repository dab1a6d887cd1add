"""Blacklists (4030): the store, the per-process copy and its reload, the API answer, and the CLI."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from sqlalchemy import false
from typer.testing import CliRunner

from hongyan.api.app import create_app
from hongyan.cli.main import app as cli_app
from hongyan.services import accounts as svc
from hongyan.services import policy as policy_svc
from hongyan.services.platform import Platform
from hongyan.store import blacklist as store
from hongyan.store import policy as policy_store
from hongyan.store.accounts import NotFound, get_account
from tests.conftest import MOBILE, SIGNATURE
from tests.integration.test_compat_api import accepted, rejected, send
from tests.integration.test_limits import NOON_BEIJING

T4030 = "手机号码已被列入黑名单"


@pytest.fixture
def cli(platform, monkeypatch):
    """``hongyan …`` against the test's database, run in a thread (the CLI runs its own event loop)."""
    s = platform.settings
    monkeypatch.setenv("HONGYAN_DATABASE_URL", s.database_url)
    monkeypatch.setenv("HONGYAN_VAR_DIR", str(s.var_dir))
    monkeypatch.setenv("HONGYAN_SECRET_KEY", s.secret_key.get_secret_value())

    async def invoke(*args: str):
        return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))

    return invoke


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def account_id(platform, api_id: str) -> int:
    async with platform.engines.read.connect() as conn:
        return (await get_account(conn, api_id)).id


async def test_store_add_remove_list_contains(platform, live) -> None:
    aid = await account_id(platform, live.account)
    async with platform.engines.write.begin() as conn:
        v0 = await policy_store.get_version(conn)
        assert await store.add(conn, "13900139000", None, "global", "operator") is True
        assert await store.add(conn, "13900139000", None, "global") is False  # already there
        assert await store.add(conn, "13900139000", aid, "account") is True
        assert await store.add(conn, "13700137000", aid, "unsubscribe", "TD") is True
        assert await policy_store.get_version(conn) == v0 + 3  # every change, in its own transaction
        assert await store.contains(conn, "13900139000", aid) == ["account", "global"]
        assert await store.contains(conn, "13900139000", aid + 1) == ["global"]
        assert await store.contains(conn, "13600136000", aid) == []
        rows = await store.entries(conn)
        assert [(r["mobile"], r["kind"], r["account"]) for r in rows] == [
            ("13900139000", "global", None),
            ("13900139000", "account", live.account),
            ("13700137000", "unsubscribe", live.account),
        ]
        assert [r["mobile"] for r in await store.entries(conn, aid, "unsubscribe")] == ["13700137000"]
        assert await store.remove(conn, "13900139000", aid, store.ACCOUNT_KINDS) == 1
        with pytest.raises(NotFound):
            await store.remove(conn, "13900139000", aid, store.ACCOUNT_KINDS)
        with pytest.raises(ValueError, match="kind must be one of"):
            await store.add(conn, "13900139000", aid, "vip")
        with pytest.raises(ValueError, match="global list has no account"):
            await store.add(conn, "13900139000", aid, "global")
        with pytest.raises(ValueError, match="need one"):
            await store.add(conn, "13900139000", None, "auto408")
        assert await policy_store.get_version(conn) == v0 + 4


async def test_store_add_survives_a_concurrent_duplicate(platform, live, monkeypatch) -> None:
    """Another process inserted the same entry between our check and our insert: False, not an error."""
    aid = await account_id(platform, live.account)
    async with platform.engines.write.begin() as conn:
        await store.add(conn, MOBILE, aid, "auto408")
    real_select = store.select
    monkeypatch.setattr(store, "select", lambda *cols: real_select(*cols).where(false()))  # the check sees nothing
    async with platform.engines.write.begin() as conn:
        v = await policy_store.get_version(conn)
        assert await store.add(conn, MOBILE, aid, "auto408") is False
        assert await policy_store.get_version(conn) == v
    monkeypatch.undo()
    async with platform.engines.read.connect() as conn:
        assert len(await store.entries(conn, aid)) == 1


@pytest.mark.parametrize("kind", ["global", "account", "auto408", "unsubscribe"])
async def test_every_kind_answers_4030(client, live, platform, kind) -> None:
    owner = None if kind == "global" else live.account
    await policy_svc.blacklist_add(platform, "+8613900139000", owner, f"a {kind} entry", kind)
    await platform.policy.load()
    rejected(await send(client, live, mobile="13900139000"), 4030, T4030)
    r = await send(client, live, mobile="0086139 0013 9000".replace(" ", ""), fmt="json")
    assert r.content == ('{"code":4030,"msg":"' + T4030 + '","smsid":"0"}').encode()
    accepted(await send(client, live, mobile="13900139001"))


async def test_account_lists_are_per_account_and_global_is_for_all(client, live, platform) -> None:
    other = await svc.create_account(platform, "other", balance=10, live=True)
    await svc.add_signature(platform, other.account, SIGNATURE, approve=True)
    await policy_svc.blacklist_add(platform, "13700137000", live.account, "complained")
    await policy_svc.blacklist_add(platform, "13900139000", None, "operator")
    await platform.policy.load()
    rejected(await send(client, live, mobile="13700137000"), 4030, T4030)
    accepted(await send(client, other, mobile="13700137000"))
    rejected(await send(client, other, mobile="13900139000"), 4030, T4030)


async def test_check_order_around_4030(client, live, platform) -> None:
    await policy_svc.blacklist_add(platform, "13900139000", live.account, None)
    await platform.policy.load()
    # earlier checks win over 4030 ...
    rejected(await send(client, live, mobile="13900139000", password="0" * 32), 405, "API ID 或 API KEY 不正确")
    rejected(await send(client, live, mobile="1390013900"), 406, "手机格式不正确")
    # ... and 4030 wins over every content check and the limits
    rejected(await send(client, live, mobile="13900139000", content="没有签名的内容"), 4030, T4030)
    rejected(await send(client, live, mobile="13900139000", content=f"【{SIGNATURE}】" + "长" * 400), 4030, T4030)


async def test_hot_path_reads_memory_only(client, live, platform, monkeypatch) -> None:
    """Once loaded, a blacklisted or clean number is decided without touching the database."""
    await policy_svc.blacklist_add(platform, "13900139000", None, None)
    await platform.policy.load()

    async def no_db(*_a, **_k):
        raise AssertionError("the blacklist check queried the database")

    monkeypatch.setattr(store, "contains", no_db)
    monkeypatch.setattr(store, "entries", no_db)
    monkeypatch.setattr(store, "snapshot", no_db)
    rejected(await send(client, live, mobile="13900139000"), 4030, T4030)
    accepted(await send(client, live))


async def test_running_platform_sees_cli_changes_within_the_poll(client, live, platform, cli) -> None:
    assert platform.settings.policy_poll_s <= 1.0
    aid = await account_id(platform, live.account)
    r = await cli("blacklist", "add", "13900139000", "--account", live.account, "--reason", "投诉")
    assert r.exit_code == 0 and "13900139000: added" in r.output, r.output
    # no explicit reload: the background poll of policy_version picks it up (at most ~1 s)
    await until(lambda: platform.policy.is_blacklisted(aid, "13900139000"))
    rejected(await send(client, live, mobile="13900139000"), 4030, T4030)
    r = await cli("blacklist", "remove", "13900139000", "--account", live.account)
    assert r.exit_code == 0 and "removed from 1 list(s)" in r.output, r.output
    await until(lambda: not platform.policy.is_blacklisted(aid, "13900139000"))
    accepted(await send(client, live, mobile="13900139000"))


async def test_auto408_is_seen_at_once_even_by_a_reload_in_flight(platform, live, monkeypatch) -> None:
    """A reload that read the lists before the 408 entry was committed must not drop it from memory."""
    aid = await account_id(platform, live.account)
    await policy_svc.blacklist_add(platform, "13900139000", None, None)  # the reload will see a new version
    real_snapshot = store.snapshot
    read, go_on = asyncio.Event(), asyncio.Event()

    async def slow_snapshot(conn):
        rows = await real_snapshot(conn)  # read before the 408 entry exists
        read.set()
        await go_on.wait()
        return rows

    monkeypatch.setattr(store, "snapshot", slow_snapshot)
    reload = asyncio.create_task(platform.policy.load())
    await read.wait()
    await platform.policy.blacklist_auto(aid, MOBILE, "test")
    assert platform.policy.is_blacklisted(aid, MOBILE)  # at once, in this process
    go_on.set()
    await reload
    assert platform.policy.is_blacklisted(aid, MOBILE)  # the stale reload kept it
    monkeypatch.undo()
    await platform.policy.load()
    assert platform.policy.is_blacklisted(aid, MOBILE)  # now from the database
    await policy_svc.blacklist_remove(platform, MOBILE, live.account, "auto408")
    await platform.policy.load()
    assert not platform.policy.is_blacklisted(aid, MOBILE)  # and a lift is not undone by the memory of it


async def test_lift_a_408_with_the_cli_then_sends_pass(settings, cli) -> None:
    """The whole story on the default limits: 5 accepted, 4082s, 408 at attempt 21, 4030, lift, sent again."""
    del cli  # the fixture's platform is not the strict one; use its environment only
    strict = settings.model_copy(
        update={"limit_per_second": 1, "limit_daily": 5, "limit_daily_codes": 5, "limit_daily_ceiling": 20}
    )
    p = await Platform.open(strict)
    now = [float(NOON_BEIJING)]
    p.clock = lambda: now[0]
    transport = httpx.ASGITransport(app=create_app(strict, platform=p), client=("127.0.0.1", 40000))
    try:
        c = await svc.create_account(p, "lifted", balance=100, live=True)
        await svc.add_signature(p, c.account, SIGNATURE, approve=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://106.ihuyi.com") as client:
            codes = []
            for _ in range(21):
                r = await send(client, c)
                codes.append(int(r.content.split(b"<code>")[1].split(b"</code>")[0]))
                now[0] += 1
            assert codes == [2] * 5 + [4082] * 15 + [408]
            rejected(await send(client, c), 4030, T4030)

            r = await asyncio.to_thread(CliRunner().invoke, cli_app, ["blacklist", "list", "--json"])
            assert r.exit_code == 0, r.output
            (entry,) = json.loads(r.output)
            assert (entry["mobile"], entry["kind"], entry["account"]) == (MOBILE, "auto408", c.account)
            r = await asyncio.to_thread(
                CliRunner().invoke,
                cli_app,
                ["blacklist", "remove", MOBILE, "--account", c.account, "--kind", "auto408"],
            )
            assert r.exit_code == 0, r.output
            aid = await account_id(p, c.account)
            await until(lambda: not p.policy.is_blacklisted(aid, MOBILE))  # the running platform's own poll
            now[0] += 1
            # lifted the same day: no more 4030, but the day's 5 are used up
            rejected(await send(client, c), 4082, "超出同一手机号一天之内【5】条短信限制")
            now[0] += 86400
            accepted(await send(client, c))
    finally:
        await p.close()


async def test_cli_errors_exit_1_with_a_message(live, cli) -> None:
    cases = [
        (["blacklist", "add", "12345"], "is not a mainland mobile number"),
        (["blacklist", "add", MOBILE, "--account", "C00000000"], "no account C00000000"),
        (["blacklist", "add", MOBILE, "--account", live.account, "--kind", "vip"], "kind must be one of"),
        (["blacklist", "add", MOBILE, "--kind", "auto408"], "need one"),
        (["blacklist", "remove", MOBILE], "is not on the global list"),
        (["blacklist", "remove", MOBILE, "--account", live.account, "--kind", "global"], "global list has no account"),
        (["limits", "set", live.account], "nothing to set"),
        (["limits", "set", live.account, "--daily", "0"], "limits must be positive"),
        (["limits", "set", live.account, "--daily", "10", "--ceiling", "10"], "must be above the daily limit (10)"),
        (["limits", "set", "C00000000", "--daily", "3"], "no account C00000000"),
        (["limits", "show", "C00000000"], "no account C00000000"),
    ]
    for args, message in cases:
        r = await cli(*args)
        assert r.exit_code == 1, (args, r.output)
        assert message in " ".join(r.output.split()), (args, r.output)


async def test_cli_blacklist_list_and_limits(live, cli) -> None:
    assert (await cli("blacklist", "add", "13900139000", "--reason", "fraud")).exit_code == 0
    assert (await cli("blacklist", "add", "13900139000")).output.strip() == "13900139000: already listed"
    assert (await cli("blacklist", "add", "13700137000", "--account", live.account)).exit_code == 0
    assert (
        await cli("blacklist", "add", "13600136000", "--account", live.account, "--kind", "unsubscribe")
    ).exit_code == 0
    everything = json.loads((await cli("blacklist", "list", "--json")).output)
    assert [(e["mobile"], e["kind"], e["account"], e["reason"]) for e in everything] == [
        ("13900139000", "global", None, "fraud"),
        ("13700137000", "account", live.account, None),
        ("13600136000", "unsubscribe", live.account, None),
    ]
    own = json.loads(
        (await cli("blacklist", "list", "--account", live.account, "--kind", "unsubscribe", "--json")).output
    )
    assert [e["mobile"] for e in own] == ["13600136000"]
    table = (await cli("blacklist", "list")).output
    assert "(global)" in table and "13700137000" in table

    shown = json.loads((await cli("limits", "show", live.account, "--json")).output)
    assert shown == {
        "account": live.account,
        "per_second": 1,  # the CLI's own environment: the platform defaults
        "daily": 5,
        "daily_codes": 5,
        "ceiling": 20,
        "own": {},
    }
    r = await cli("limits", "set", live.account, "--daily", "3", "--daily-codes", "2", "--ceiling", "2000000")
    assert r.exit_code == 0 and "limits updated" in r.output, r.output
    shown = json.loads((await cli("limits", "show", live.account, "--json")).output)
    assert (shown["daily"], shown["daily_codes"], shown["ceiling"]) == (3, 2, 2_000_000)
    assert shown["own"] == {"daily": 3, "daily_codes": 2, "daily_ceiling": 2_000_000}
    assert (await cli("limits", "set", live.account, "--reset", "--daily", "7")).exit_code == 0
    shown = json.loads((await cli("limits", "show", live.account, "--json")).output)
    assert shown["own"] == {"daily": 7} and shown["daily_codes"] == 5
    assert "daily" in (await cli("limits", "show", live.account)).output
