"""The operators' console pages over an in-process HTTP client: operators allowed, users refused (403),
anonymous visitors sent to the login page, POSTs without the CSRF token refused; each action does its job."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from sqlalchemy import insert, select

from hongyan.api.app import create_app
from hongyan.services import accounts as svc
from hongyan.services import certification, console_users, policy
from hongyan.store.tables import accounts, messages, outbox, templates

PASSWORD = "s3cret-pass-123"
GOOD_USCC = "91110108551385082Q"


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    return migrated_sqlite(database_url)


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


async def _client(platform) -> httpx.AsyncClient:
    app = create_app(platform.settings, platform=platform)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _login(c: httpx.AsyncClient, username: str) -> str:
    """Log in; returns the session's CSRF token."""
    token = _csrf((await c.get("/console/login")).text)
    r = await c.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    return _csrf((await c.get("/console/password")).text)


@pytest.fixture
async def ops(platform):
    await console_users.add_user(platform, "ops", PASSWORD, operator=True)
    c = await _client(platform)
    token = await _login(c, "ops")
    yield c, token
    await c.aclose()


@pytest.fixture
async def customer(platform, trial):
    await console_users.add_user(platform, "shop", PASSWORD, api_id=trial.account)
    c = await _client(platform)
    token = await _login(c, "shop")
    yield c, token
    await c.aclose()


ADMIN_PAGES = [
    "/console/admin/",
    "/console/admin/accounts",
    "/console/admin/review",
    "/console/admin/certifications",
    "/console/admin/channels",
    "/console/admin/blacklist",
    "/console/admin/words",
    "/console/admin/status-codes",
    "/console/admin/chart.json",
]


async def test_operator_sees_every_admin_page(ops, trial) -> None:
    c, _ = ops
    for path in [*ADMIN_PAGES, f"/console/admin/accounts/{trial.account}", "/console/admin/review?state=rejected"]:
        r = await c.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert "运营后台" in (await c.get("/console/admin/accounts")).text
    assert (await c.get("/console/admin/accounts/C00000000")).status_code == 404


async def test_customer_is_refused_and_anonymous_is_sent_to_login(platform, customer, trial) -> None:
    c, token = customer
    for path in [*ADMIN_PAGES, f"/console/admin/accounts/{trial.account}"]:
        assert (await c.get(path)).status_code == 403, path
    r = await c.post(f"/console/admin/accounts/{trial.account}/topup", data={"amount": "999", "csrf_token": token})
    assert r.status_code == 403
    assert (await svc.show(platform, trial.account))["balance"] == 50
    r = await c.post(
        f"/console/admin/accounts/{trial.account}/channel-group", data={"group": "vip", "csrf_token": token}
    )
    assert r.status_code == 403
    assert (await svc.show(platform, trial.account))["channel_group"] == "default"
    anonymous = await _client(platform)
    async with anonymous:
        for path in ADMIN_PAGES:
            r = await anonymous.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next="), path


async def test_posts_without_csrf_are_refused(platform, ops, trial) -> None:
    c, _ = ops
    r = await c.post(f"/console/admin/accounts/{trial.account}/topup", data={"amount": "10"})
    assert r.status_code == 403
    r = await c.post(f"/console/admin/accounts/{trial.account}/freeze", data={"csrf_token": "forged"})
    assert r.status_code == 403
    info = await svc.show(platform, trial.account)
    assert (info["balance"], info["state"]) == (50, "test")


async def test_account_actions(platform, ops, trial) -> None:
    c, token = ops
    page = await c.get("/console/admin/accounts", params={"q": "trial"})
    assert trial.account in page.text
    base = f"/console/admin/accounts/{trial.account}"
    r = await c.post(f"{base}/topup", data={"amount": "200", "note": "合同 #12", "csrf_token": token})
    assert r.status_code == 303 and "ok=" in r.headers["location"]
    assert (await svc.show(platform, trial.account))["balance"] == 250
    r = await c.post(f"{base}/topup", data={"amount": "-5", "csrf_token": token})
    assert "err=" in r.headers["location"]
    await c.post(f"{base}/freeze", data={"csrf_token": token})
    assert (await svc.show(platform, trial.account))["state"] == "frozen"
    assert "解冻" in (await c.get(base)).text
    await c.post(f"{base}/unfreeze", data={"csrf_token": token})
    assert (await svc.show(platform, trial.account))["state"] == "live"
    await c.post(f"{base}/limits", data={"daily": "8", "daily_codes": "", "ceiling": "", "csrf_token": token})
    assert (await policy.limits_show(platform, trial.account))["own"] == {"daily": 8}
    r = await c.post(f"{base}/limits", data={"daily": "abc", "csrf_token": token})
    assert "err=" in r.headers["location"]
    shown = await c.get(r.headers["location"])
    assert "限额须为正整数" in shown.text


def _flash(html: str) -> tuple[str, str]:
    m = re.search(r'<div class="flash (ok|error)"[^>]*>(.*?)</div>', html, re.S)
    assert m, "no flash line on the page"
    return m.group(1), m.group(2).strip()


async def test_channel_group_shown_and_set(platform, ops, trial, live) -> None:
    """The account list and page show the group; the page's form sets it through the CLI's service (same check,
    same storage: '' and "default" mean the default group), telling which carriers default still serves."""
    from hongyan.services import channels

    c, token = ops
    await channels.add_channel(platform, "d1", "127.0.0.1:2775", password="pw", system_id="d1")
    await channels.add_channel(
        platform, "v1", "127.0.0.1:2776", password="pw", system_id="v1", group_name="vip", carriers="mobile"
    )
    base = f"/console/admin/accounts/{trial.account}"
    page = (await c.get(base)).text
    assert '<code id="channel-group">default</code>' in page
    assert f'action="{base}/channel-group"' in page
    assert '<option value="default"><option value="vip">' in page  # the groups the channels form, offered

    r = await c.post(f"{base}/channel-group", data={"group": " vip ", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith(base + "?ok=")
    assert (await svc.show(platform, trial.account))["channel_group"] == "vip"
    kind, text = _flash((await c.get(r.headers["location"])).text)
    assert kind == "ok" and "vip" in text and "broadnet、telecom、unicom、virtual" in text  # default serves those
    shown = await c.get(base)
    assert '<code id="channel-group">vip</code>' in shown.text and 'value="vip"' in shown.text
    listing = (await c.get("/console/admin/accounts")).text
    row = re.search(rf'data-api-id="{trial.account}">(.*?)</tr>', listing, re.S).group(1)
    assert ">vip</td>" in row
    row = re.search(rf'data-api-id="{live.account}">(.*?)</tr>', listing, re.S).group(1)
    assert ">default</td>" in row  # NULL in the table: the default group

    # a bad name: refused with the CLI's reason, nothing changed
    for bad in ("a/b", "no spaces", "x" * 65):
        r = await c.post(f"{base}/channel-group", data={"group": bad, "csrf_token": token})
        assert r.status_code == 303 and "err=" in r.headers["location"], bad
        kind, text = _flash((await c.get(r.headers["location"])).text)
        assert kind == "error" and "通道组名称无效" in text and "1-64 letters, digits" in text, text
        assert (await svc.show(platform, trial.account))["channel_group"] == "vip"

    # a group with channels for every carrier: no note; a group no channel has yet: allowed (routes in default)
    await channels.add_channel(platform, "b1", "127.0.0.1:2777", password="pw", system_id="b1", group_name="bulk")
    r = await c.post(f"{base}/channel-group", data={"group": "bulk", "csrf_token": token})
    assert _flash((await c.get(r.headers["location"])).text) == ("ok", "通道组已设为 bulk")
    r = await c.post(f"{base}/channel-group", data={"group": "later", "csrf_token": token})
    kind, text = _flash((await c.get(r.headers["location"])).text)
    assert kind == "ok" and "later" in text and "default 组" in text
    assert (await svc.show(platform, trial.account))["channel_group"] == "later"

    # back to the default group, both ways; stored as NULL (what routing reads)
    for value in ("default", ""):
        await svc.set_fields(platform, trial.account, channel_group="vip")
        r = await c.post(f"{base}/channel-group", data={"group": value, "csrf_token": token})
        assert _flash((await c.get(r.headers["location"])).text) == ("ok", "通道组已设为 default")
        async with platform.engines.read.connect() as conn:
            stored = await conn.execute(select(accounts.c.channel_group).where(accounts.c.api_id == trial.account))
            assert stored.scalar_one() is None

    # no CSRF token, an unknown account
    r = await c.post(f"{base}/channel-group", data={"group": "vip"})
    assert r.status_code == 403
    assert (await svc.show(platform, trial.account))["channel_group"] == "default"
    r = await c.post("/console/admin/accounts/C00000000/channel-group", data={"group": "vip", "csrf_token": token})
    assert r.status_code == 303 and "err=" in r.headers["location"]


async def test_template_review_with_reason_queues_the_push(platform, ops, trial) -> None:
    c, token = ops
    await svc.set_fields(platform, trial.account, template_url="http://hooks.example/tpl")
    async with platform.engines.write.begin() as conn:
        account_id = (await conn.execute(select(accounts.c.id).where(accounts.c.api_id == trial.account))).scalar_one()
        tid = (
            await conn.execute(
                insert(templates).returning(templates.c.id),
                {
                    "account_id": account_id,
                    "text": "您的订单已发货",
                    "state": "pending",
                    "created_at": 1,
                    "updated_at": 1,
                },
            )
        ).scalar_one()
    sig = await svc.add_signature(platform, trial.account, "鸿雁商城")
    page = (await c.get("/console/admin/review")).text
    assert "您的订单已发货" in page and "鸿雁商城" in page

    r = await c.post(f"/console/admin/review/templates/{tid}", data={"decision": "reject", "csrf_token": token})
    assert "err=" in r.headers["location"]  # a rejection needs a reason
    r = await c.post(
        f"/console/admin/review/templates/{tid}",
        data={"decision": "reject", "reason": "内容与业务不符", "csrf_token": token},
    )
    assert "ok=" in r.headers["location"]
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(templates.c.state, templates.c.reason).where(templates.c.id == tid))).one()
        push = (await conn.execute(select(outbox.c.payload).where(outbox.c.kind == "template"))).scalar_one()
    assert tuple(row) == ("rejected", "内容与业务不符")
    assert json.loads(push) == {"code": "0", "msg": "内容与业务不符", "templateid": str(tid)}
    assert "内容与业务不符" in (await c.get("/console/admin/review?state=rejected")).text

    await c.post(f"/console/admin/review/signatures/{sig}", data={"decision": "approve", "csrf_token": token})
    assert (await svc.show(platform, trial.account))["default_signature"] == "鸿雁商城"
    r = await c.post(f"/console/admin/review/bogus/{sig}", data={"decision": "approve", "csrf_token": token})
    assert "err=" in r.headers["location"]


async def test_certification_queue(platform, ops, trial) -> None:
    c, token = ops
    async with platform.engines.read.connect() as conn:
        account_id = (await conn.execute(select(accounts.c.id).where(accounts.c.api_id == trial.account))).scalar_one()
    cid = await certification.submit(
        platform,
        account_id,
        company_name="小米科技有限责任公司",
        licence_no=GOOD_USCC,
        contact_name="王五",
        contact_phone="13800138000",
    )
    assert GOOD_USCC in (await c.get("/console/admin/certifications")).text
    r = await c.post(f"/console/admin/certifications/{cid}", data={"decision": "approve", "csrf_token": token})
    assert "ok=" in r.headers["location"]
    assert (await svc.show(platform, trial.account))["state"] == "live"
    r = await c.post(f"/console/admin/certifications/{cid}", data={"decision": "approve", "csrf_token": token})
    assert "err=" in r.headers["location"]  # decided already


async def test_blacklist_and_words(platform, ops, live) -> None:
    c, token = ops
    r = await c.post("/console/admin/blacklist/add", data={"mobile": "13900139000", "csrf_token": token})
    assert "ok=" in r.headers["location"]
    await c.post(
        "/console/admin/blacklist/add",
        data={"mobile": "13700137000", "account": live.account, "reason": "投诉", "csrf_token": token},
    )
    r = await c.post("/console/admin/blacklist/add", data={"mobile": "123", "csrf_token": token})
    assert "err=" in r.headers["location"]
    entries = {(e["mobile"], e["account"]) for e in await policy.blacklist_list(platform, None)}
    assert entries == {("13900139000", None), ("13700137000", live.account)}
    page = (await c.get("/console/admin/blacklist", params={"account": live.account})).text
    assert "13700137000" in page and "13900139000" not in page
    await c.post(
        "/console/admin/blacklist/remove",
        data={"mobile": "13700137000", "account": live.account, "kind": "account", "csrf_token": token},
    )
    assert {e["mobile"] for e in await policy.blacklist_list(platform, None)} == {"13900139000"}

    await c.post("/console/admin/words/add", data={"words": "赌博\n# comment\n代开发票\n", "csrf_token": token})
    assert await policy.words_list(platform) == ["赌博", "代开发票"]
    file = ("words.txt", "\ufeff赌博\n刷单\n\n".encode(), "text/plain")
    r = await c.post("/console/admin/words/import", data={"csrf_token": token}, files={"file": file})
    assert "ok=" in r.headers["location"]
    assert await policy.words_list(platform) == ["赌博", "代开发票", "刷单"]
    r = await c.post("/console/admin/words/import", data={"csrf_token": token}, files={"file": ("x.txt", b"\xff\xfe")})
    assert "err=" in r.headers["location"]
    await c.post("/console/admin/words/remove", data={"word": "赌博", "csrf_token": token})
    assert await policy.words_list(platform) == ["代开发票", "刷单"]
    assert "刷单" in (await c.get("/console/admin/words", params={"q": "刷"})).text


async def test_channels_status_codes_and_chart(platform, ops, live) -> None:
    from hongyan.services import channels

    c, _ = ops
    await channels.add_channel(platform, "cmcc", "127.0.0.1:2775", password="pw", system_id="901234", tps=200)
    now = int(platform.clock()) // 60 * 60_000 + 30_000  # mid-minute: the rows land in the current minute
    platform.clock = lambda: now / 1000
    async with platform.engines.write.begin() as conn:
        account_id = (await conn.execute(select(accounts.c.id).where(accounts.c.api_id == live.account))).scalar_one()
        base = {"account_id": account_id, "mobile": "13800138000", "content": "x", "segments": 1}
        for row in (
            base | {"smsid": "1", "state": "submitted", "channel": "cmcc", "submitted_at": now - 5_000},
            base | {"smsid": "2", "state": "delivered", "channel": "cmcc", "submitted_at": now - 5_000},
            base | {"smsid": "3", "state": "accepted"},
        ):
            await conn.execute(insert(messages), row | {"created_at": now - 10_000, "updated_at": now})
    page = (await c.get("/console/admin/channels")).text
    assert 'data-channel="cmcc"' in page and "已接收 1" in page
    row = re.search(r'data-channel="cmcc">(.*?)</tr>', page, re.S).group(1)
    assert "未知" in row  # no delivery in this process: bound state unknown
    assert ">1</td>" in row  # one awaiting its receipt

    codes = (await c.get("/console/admin/status-codes")).text
    assert "DELIVRD" in codes and "MK:0005" in codes
    chart = (await c.get("/console/admin/chart.json", params={"minutes": 10})).json()
    assert len(chart["labels"]) == 10 and chart["series"]["submitted"][-1] == 1
    assert sum(sum(v) for v in chart["series"].values()) == 3 and chart["names"]["delivered"] == "发送成功"
    home = (await c.get("/console/admin/")).text
    assert "system-chart" in home and "/console/static/admin/system-chart.js" in home
    assert (await c.get("/console/static/admin/system-chart.js")).status_code == 200
