"""Console users: registration (a test-mode account with the free segments), argon2 passwords, login with a
rate limit per username+IP and per IP, server-side sessions with a one-time flash, password change, operators."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hongyan.services import accounts as account_service
from hongyan.services.platform import Platform
from hongyan.store import accounts as account_store
from hongyan.store import console_users as store
from hongyan.store.clock import now_ms
from hongyan.store.console_users import UserRow

__all__ = ["LoginRefused", "RegistrationError", "UserRow"]

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,32}$")
PHONE = re.compile(r"^1\d{10}$")
MIN_PASSWORD = 8


class RegistrationError(ValueError):
    """A form value is not acceptable; the message is shown to the person (Chinese)."""


@dataclass(frozen=True, slots=True)
class LoginRefused:
    locked: bool  # True: too many failures, try later; False: wrong username or password
    retry_after_s: int = 0


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise RegistrationError(f"密码至少 {MIN_PASSWORD} 位")
    if len(password) > 128:
        raise RegistrationError("密码太长")


def _check_username(username: str) -> None:
    if not USERNAME.match(username):
        raise RegistrationError("用户名为 3–32 位字母、数字、下划线、点或横线")


async def register(platform: Platform, username: str, phone: str, password: str) -> UserRow:
    """A new customer: an account in test mode with the free test segments, and its console user."""
    username, phone = username.strip(), phone.strip()
    _check_username(username)
    if not PHONE.match(phone):
        raise RegistrationError("请输入 11 位中国大陆手机号")
    check_new_password(password)
    async with platform.engines.read.connect() as conn:
        if await store.username_taken(conn, username):
            raise RegistrationError("该用户名已被注册")
    password_hash = hash_password(password)  # slow on purpose: before the write transaction, not inside it
    try:
        # One transaction: a username lost to a concurrent registration rolls the new account back too.
        async with platform.engines.write.begin() as conn:
            creds = await account_service.open_account(platform, conn, username)
            account = await account_store.get_account(conn, creds.account)
            user_id = await store.insert_user(
                conn,
                username=username,
                phone=phone,
                password_hash=password_hash,
                account_id=account.id,
                is_operator=False,
            )
            return await _by_id(conn, user_id)
    except store.UsernameTaken:
        raise RegistrationError("该用户名已被注册") from None


async def add_user(
    platform: Platform,
    username: str,
    password: str,
    *,
    phone: str = "",
    operator: bool = False,
    api_id: str | None = None,
) -> UserRow:
    """A user made by the CLI: an operator (no account needed) or a login to an existing account."""
    username = username.strip()
    _check_username(username)
    check_new_password(password)
    try:
        async with platform.engines.write.begin() as conn:
            if await store.username_taken(conn, username):
                raise RegistrationError("该用户名已被注册")
            account_id = (await account_store.get_account(conn, api_id)).id if api_id else None
            user_id = await store.insert_user(
                conn,
                username=username,
                phone=phone,
                password_hash=hash_password(password),
                account_id=account_id,
                is_operator=operator,
            )
            return await _by_id(conn, user_id)
    except store.UsernameTaken:
        raise RegistrationError("该用户名已被注册") from None


async def _by_id(conn, user_id: int) -> UserRow:
    user = await store.get_user_by_id(conn, user_id)
    assert user is not None
    return user


def _failure_key(username: str, ip: str) -> str:
    return f"{username.strip().lower()}|{ip}"


def _ip_failure_key(ip: str) -> str:
    return f"ip:{ip}"  # no "|": cannot collide with a username+IP key


async def login(platform: Platform, username: str, password: str, ip: str) -> UserRow | LoginRefused:
    """Check the password, unless this username+IP, or this IP across usernames, has failed too often within
    the window (the second limit stops one address from trying a few passwords on every username)."""
    s = platform.settings
    key, ip_key = _failure_key(username, ip), _ip_failure_key(ip)
    now = now_ms()
    since = now - s.console_login_window_s * 1000

    async def locked(conn) -> bool:
        return (
            await store.count_failures(conn, key, since) >= s.console_login_max_failures
            or await store.count_failures(conn, ip_key, since) >= s.console_login_ip_max_failures
        )

    async with platform.engines.read.connect() as conn:
        if await locked(conn):
            return LoginRefused(locked=True, retry_after_s=s.console_login_window_s)
        user = await store.get_user(conn, username.strip())
    # Hash even for an unknown user, so the answer time does not tell which usernames exist.
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    async with platform.engines.write.begin() as conn:
        if not ok:
            await store.add_failure(conn, key, now, prune_before=since)
            await store.add_failure(conn, ip_key, now, prune_before=since)
            return LoginRefused(locked=await locked(conn), retry_after_s=0)
        # Only the username+IP count resets: a login to one's own account must not reopen the IP's budget.
        await store.clear_failures(conn, key)
    assert user is not None
    return user


_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


async def new_session(platform: Platform, user_id: int) -> str:
    """A fresh session token (the cookie value); only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = now_ms()
    async with platform.engines.write.begin() as conn:
        await store.delete_expired_sessions(conn, now)
        await store.insert_session(
            conn, _token_hash(token), user_id, now + platform.settings.console_session_ttl_s * 1000
        )
    return token


async def session_user(platform: Platform, token: str) -> UserRow | None:
    if not token:
        return None
    async with platform.engines.read.connect() as conn:
        return await store.session_user(conn, _token_hash(token), now_ms())


async def end_session(platform: Platform, token: str) -> None:
    async with platform.engines.write.begin() as conn:
        await store.delete_session(conn, _token_hash(token))


async def set_flash(platform: Platform, token: str, message: dict[str, str]) -> None:
    """Keep a one-time message (it may hold a secret: stored encrypted) in the session for the next page."""
    sealed = platform.keybox.encrypt(json.dumps(message, ensure_ascii=False))
    async with platform.engines.write.begin() as conn:
        await store.set_flash(conn, _token_hash(token), sealed)


async def pop_flash(platform: Platform, token: str) -> dict[str, str] | None:
    """The session's one-time message, or None; reading it removes it (a reload does not show it again)."""
    if not token:
        return None
    async with platform.engines.write.begin() as conn:
        sealed = await store.pop_flash(conn, _token_hash(token))
    return json.loads(platform.keybox.decrypt(sealed)) if sealed else None


async def change_password(platform: Platform, user: UserRow, old: str, new: str, *, keep_token: str) -> None:
    """Change the password after checking the old one; every other session of the user ends."""
    async with platform.engines.read.connect() as conn:
        current = await store.get_user_by_id(conn, user.id)
    if current is None or not verify_password(current.password_hash, old):
        raise RegistrationError("原密码不正确")
    check_new_password(new)
    async with platform.engines.write.begin() as conn:
        await store.set_password_hash(conn, user.id, hash_password(new))
        await store.delete_user_sessions(conn, user.id, keep=_token_hash(keep_token))


async def set_operator(platform: Platform, username: str, operator: bool) -> None:
    async with platform.engines.write.begin() as conn:
        user = await store.get_user(conn, username)
        if user is None:
            raise account_store.NotFound(f"no console user {username}")
        await store.set_operator(conn, user.id, operator)


async def list_users(platform: Platform) -> list[UserRow]:
    async with platform.engines.read.connect() as conn:
        return await store.list_users(conn)
