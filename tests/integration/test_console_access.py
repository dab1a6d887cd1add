"""Console access control: a user sees only its own account (records, keys, replies), also when it tampers with
URLs; user pages need a login; operators' pages refuse users."""

from __future__ import annotations

import re

import pytest

from hongyan.services import console_users
from hongyan.store import accounts as account_store
from tests.integration.console_helpers import Visitor

DEFAULT = "您的验证码是：1234。请不要把验证码泄露给其他人。"
USER_PAGES = (
    "/console/",
    "/console/overview",
    "/console/credentials",
    "/console/debug",
    "/console/content",
    "/console/records",
    "/console/records.csv",
    "/console/replies",
    "/console/packages",
    "/console/ledger",
    "/console/certification",
    "/console/password",
)


@pytest.fixture
def database_url(database_url, migrated_sqlite):
    return migrated_sqlite(database_url)


async def _send(v: Visitor, mobile: str) -> str:
    await v.get("/console/debug")
    r = await v.post("/console/debug", {"mobile": mobile, "content": DEFAULT, "mode": "plain", "fmt": "json"})
    smsid = re.search(r'"smsid":"(\d+)"', r.text.replace("&#34;", '"'))
    assert smsid, r.text
    return smsid.group(1)


async def _api_id(platform, name: str) -> str:
    async with platform.engines.read.connect() as conn:
        return (await account_store.find_by_name(conn, name)).api_id


async def test_a_user_sees_only_its_own_records_keys_and_replies(platform) -> None:
    async with Visitor(platform) as a, Visitor(platform) as b:
        await a.register("alpha", phone="13800138001")
        await b.register("bravo", phone="13800138002")
        a_id, b_id = await _api_id(platform, "alpha"), await _api_id(platform, "bravo")
        a_sms = await _send(a, "13800138001")
        b_sms = await _send(b, "13800138002")

        own = await a.get(f"/console/records?smsid={a_sms}")
        assert a_sms in own.text
        # B looks for A's message by smsid, by mobile, and with an account parameter of its own making.
        for path in (
            f"/console/records?smsid={a_sms}",
            "/console/records?mobile=13800138001",
            f"/console/records?account={a_id}",
            f"/console/records.csv?account={a_id}",
            f"/console/replies?account={a_id}",
            f"/console/overview?account={a_id}",
        ):
            r = await b.get(path)
            assert r.status_code == 200, path
            assert f'data-smsid="{a_sms}"' not in r.text and a_id not in r.text, path
            assert a_sms not in r.text.replace(f"smsid={a_sms}", "").replace(f'value="{a_sms}"', ""), path
        csv = (await b.get("/console/records.csv")).text
        assert b_sms in csv and a_sms not in csv

        # Keys: B's page and B's reveal show B's key only, whatever B sends along.
        a_key = platform.keybox.decrypt((await _row(platform, a_id)).apikey_enc)
        b_key = platform.keybox.decrypt((await _row(platform, b_id)).apikey_enc)
        page = await b.get(f"/console/credentials?account={a_id}")
        assert b_id in page.text and a_id not in page.text
        r = await b.http.post(
            "/console/credentials/key", data={"account": a_id}, headers={"X-CSRF-Token": b.token, "HX-Request": "1"}
        )
        assert r.status_code == 200 and b_key in r.text and a_key not in r.text
        # A rotation by B with A's APIID in the form rotates B's key, never A's.
        await b.post("/console/credentials/rotate", {"account": a_id})
        assert platform.keybox.decrypt((await _row(platform, a_id)).apikey_enc) == a_key
        assert platform.keybox.decrypt((await _row(platform, b_id)).apikey_enc) != b_key


async def _row(platform, api_id: str):
    async with platform.engines.read.connect() as conn:
        return await account_store.get_account(conn, api_id)


async def test_user_pages_need_a_login(platform) -> None:
    async with Visitor(platform) as v:
        for path in USER_PAGES:
            r = await v.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/console/login?next="), path
        r = await v.http.post("/console/credentials/key", headers={"HX-Request": "1"})
        assert r.status_code in (401, 403)  # no session: no key, whatever comes first (CSRF or login)


async def test_admin_pages_refuse_users(platform) -> None:
    await console_users.add_user(platform, "ops", "operator-password", operator=True)
    async with Visitor(platform) as user:
        await user.register("charlie")
        r = await user.get("/console/admin/")
        assert r.status_code == 403
        assert "运营人员" in r.text
    async with Visitor(platform) as anonymous:
        r = await anonymous.get("/console/admin/")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    async with Visitor(platform) as operator:
        r = await operator.login("ops", "operator-password")
        assert r.status_code == 303 and r.headers["location"] == "/console/admin/"
        assert (await operator.get("/console/admin/")).status_code == 200
        # An operator without an account has no customer pages.
        assert (await operator.get("/console/credentials")).status_code == 403
