"""Console authentication: registration, argon2, CSRF, login rate limit, sessions (expiry, logout), passwords."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from hongyan.services import console_users
from hongyan.store import accounts as account_store
from hongyan.store import console_users as users_store
from hongyan.store.tables import accounts, console_sessions, ledger
from hongyan.store.tables import console_users as users_table
from tests.integration.console_helpers import Visitor


@pytest.fixture
def database_url(database_url, migrated_sqlite):
    return migrated_sqlite(database_url)


async def test_register_opens_a_test_account_with_the_free_segments(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("alice")
        home = await v.get("/console/")
        assert home.status_code == 200
        assert "接入向导" in home.text
    async with platform.engines.read.connect() as conn:
        user = (await conn.execute(select(users_table))).one()
        assert user.password_hash.startswith("$argon2id$")
        assert "correct-horse" not in user.password_hash
        rows = list(await conn.execute(select(ledger).where(ledger.c.account_id == user.account_id)))
        accounts = await account_store.find_by_name(conn, "alice")
    assert accounts is not None and accounts.state == "test" and accounts.balance == 50
    assert [(r.kind, r.amount) for r in rows] == [("grant", 50)]


async def test_register_refuses_bad_input_and_duplicates(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("bob")
    async with Visitor(platform) as v:
        await v.get("/console/register")
        form = {"username": "bob", "phone": "13800138001", "password": "long-enough", "password2": "long-enough"}
        r = await v.post("/console/register", form)
        assert r.status_code == 400 and "已被注册" in r.text
        r = await v.post("/console/register", {**form, "username": "carol", "phone": "123"})
        assert r.status_code == 400 and "手机号" in r.text
        r = await v.post("/console/register", {**form, "username": "carol", "password2": "different"})
        assert r.status_code == 400 and "不一致" in r.text
        r = await v.post("/console/register", {**form, "username": "carol", "password": "short", "password2": "short"})
        assert r.status_code == 400 and "至少 8 位" in r.text


async def _counts(platform) -> list[int]:
    async with platform.engines.read.connect() as conn:
        return [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (accounts, ledger, users_table)
        ]


async def test_a_username_lost_to_a_race_leaves_no_account(platform, monkeypatch) -> None:
    """The account and its user commit together: when the unique username refuses the insert (another
    registration won between the check and the insert), the new account and its grant roll back too."""
    await console_users.register(platform, "racer", "13800138000", "racer-password")
    before = await _counts(platform)

    async def not_taken(conn, username: str) -> bool:  # the early check saw the name free
        return False

    monkeypatch.setattr(users_store, "username_taken", not_taken)
    with pytest.raises(console_users.RegistrationError, match="已被注册"):
        await console_users.register(platform, "racer", "13900139000", "other-password")
    assert await _counts(platform) == before


async def test_concurrent_registrations_of_one_username(platform) -> None:
    results = await asyncio.gather(
        *(console_users.register(platform, "twin", f"1380013800{i}", "twin-password") for i in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["RegistrationError", "UserRow"]
    async with platform.engines.read.connect() as conn:
        names = [r.name for r in await conn.execute(select(accounts.c.name))]
    assert names.count("twin") == 1


async def test_post_without_the_csrf_token_is_refused(platform) -> None:
    await console_users.add_user(platform, "dave", "dave-password")
    async with Visitor(platform) as v:
        r = await v.post("/console/login", {"username": "dave", "password": "dave-password"}, csrf=False)
        assert r.status_code == 403
        r = await v.post(
            "/console/login", {"username": "dave", "password": "dave-password", "csrf_token": "0" * 64}, csrf=False
        )
        assert r.status_code == 403
        assert (await v.login("dave", "dave-password")).status_code == 303
        # Logged in: a form without the token, or with the visitor token of before the login, is refused too.
        old = v.token
        r = await v.http.post("/console/logout")
        assert r.status_code == 403
        # htmx sends the token in a header.
        r = await v.http.post("/console/logout", headers={"X-CSRF-Token": old})
        assert r.status_code == 303


async def test_a_token_from_another_visitor_does_not_work(platform) -> None:
    async with Visitor(platform) as attacker, Visitor(platform) as victim:
        await attacker.register("mallory")
        await victim.register("victim")
        r = await victim.http.post("/console/credentials/rotate", data={"csrf_token": attacker.token})
        assert r.status_code == 403


async def test_login_rate_limit_per_username_and_ip(platform) -> None:
    await console_users.add_user(platform, "erin", "erin-password")
    async with Visitor(platform, ip="10.0.0.1") as v:
        for _ in range(4):
            r = await v.login("erin", "wrong-password")
            assert r.status_code == 400 and "用户名或密码不正确" in r.text
        r = await v.login("erin", "wrong-password")  # the 5th failure locks
        assert r.status_code == 429
        r = await v.login("erin", "erin-password")  # even the right password, while locked
        assert r.status_code == 429 and "登录失败次数过多" in r.text
    async with Visitor(platform, ip="10.0.0.2") as other:  # another address is not locked
        assert (await other.login("erin", "erin-password")).status_code == 303


async def test_login_rate_limit_per_ip_across_usernames(platform) -> None:
    """20 failures from one address within the window lock it for every username, even with the right
    password; a successful login does not reset the address's count; other addresses are not affected."""
    assert platform.settings.console_login_ip_max_failures == 20
    await console_users.add_user(platform, "judy", "judy-password")
    async with Visitor(platform, ip="10.0.0.9") as v:
        for i in range(19):  # 4 per username at most: the per-username lock never fires
            r = await v.login(f"guess{i // 4}", "wrong-password")
            assert r.status_code == 400, i
        assert (await v.login("judy", "judy-password")).status_code == 303
        await v.post("/console/logout")
        r = await v.login("guess9", "wrong-password")  # the 20th failure of this address
        assert r.status_code == 429
        r = await v.login("judy", "judy-password")
        assert r.status_code == 429 and "登录失败次数过多" in r.text
    async with Visitor(platform, ip="10.0.0.10") as other:
        assert (await other.login("judy", "judy-password")).status_code == 303


async def test_a_successful_login_clears_the_failures(platform) -> None:
    await console_users.add_user(platform, "frank", "frank-password")
    async with Visitor(platform) as v:
        for _ in range(4):
            await v.login("frank", "nope-nope")
        assert (await v.login("frank", "frank-password")).status_code == 303
        await v.post("/console/logout")
        for _ in range(4):
            assert (await v.login("frank", "nope-nope")).status_code == 400


async def test_logout_ends_the_session_on_the_server(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("grace")
        cookie = v.http.cookies.get("hy_session")
        assert cookie
        r = await v.post("/console/logout")
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    async with Visitor(platform) as thief:  # the old cookie is worthless
        thief.http.cookies.set("hy_session", cookie)
        r = await thief.get("/console/credentials")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_expired_session_sends_to_login(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("heidi")
        assert (await v.get("/console/overview")).status_code == 200
        async with platform.engines.write.begin() as conn:
            await conn.execute(update(console_sessions).values(expires_at=1))
        r = await v.get("/console/overview")
        assert r.status_code == 303 and "/console/login?next=%2Fconsole%2Foverview" in r.headers["location"]
        r = await v.http.get("/console/overview", headers={"HX-Request": "true"})
        assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/console/login")


async def test_session_cookie_flags(platform) -> None:
    async with Visitor(platform) as v:
        await v.get("/console/register")
        r = await v.post(
            "/console/register",
            {"username": "ivan", "phone": "13800138000", "password": "ivan-password", "password2": "ivan-password"},
        )
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("hy_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    async with Visitor(platform) as v:  # over https
        v.http.base_url = "https://console.test"
        await v.get("/console/register")
        r = await v.post(
            "/console/register",
            {"username": "judy", "phone": "13800138000", "password": "judy-password", "password2": "judy-password"},
        )
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("hy_session="))
        assert "Secure" in cookie
    platform.settings.console_secure_cookies = True  # production behind a TLS proxy: Secure on plain http too
    async with Visitor(platform) as v:
        r = await v.get("/console/register")
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("hy_seed="))
        assert "Secure" in cookie and "HttpOnly" in cookie


async def test_change_password_ends_other_sessions(platform) -> None:
    async with Visitor(platform) as first, Visitor(platform) as second:
        await first.register("kim", password="first-password")
        assert (await second.login("kim", "first-password")).status_code == 303
        await first.get("/console/password")
        r = await first.post("/console/password", {"old": "wrong", "new": "second-password", "new2": "second-password"})
        assert r.status_code == 400 and "原密码不正确" in r.text
        r = await first.post(
            "/console/password", {"old": "first-password", "new": "second-password", "new2": "second-password"}
        )
        assert r.status_code == 200 and "密码已修改" in r.text
        assert (await first.get("/console/credentials")).status_code == 200  # this session stays
        assert (await second.get("/console/credentials")).status_code == 303  # the other one ended
    async with Visitor(platform) as v:
        assert (await v.login("kim", "first-password")).status_code == 400
        assert (await v.login("kim", "second-password")).status_code == 303


async def test_next_is_only_followed_inside_the_console(platform) -> None:
    await console_users.add_user(platform, "leo", "leo-password")
    async with Visitor(platform) as v:
        await v.get("/console/login")
        r = await v.post("/console/login", {"username": "leo", "password": "leo-password", "next": "//evil.example/"})
        assert r.headers["location"] == "/console/"
