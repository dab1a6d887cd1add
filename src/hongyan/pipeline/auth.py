"""405, 40501, 40502, 4050, 400, 4052: who is calling, with which password, from where."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable
from functools import lru_cache

from hongyan.domain import codes
from hongyan.domain.account import AccountView
from hongyan.domain.codes import Rejected
from hongyan.domain.passwords import PasswordCheck, check_password
from hongyan.domain.states import AccountState
from hongyan.pipeline.context import NOT_CACHED, SubmitContext

_PASSWORD_CODES = {
    PasswordCheck.WRONG: codes.BAD_CREDENTIALS,
    PasswordCheck.EXPIRED: codes.DYNAMIC_EXPIRED,
    PasswordCheck.MISMATCH: codes.DYNAMIC_MISMATCH,
}


def authenticate(ctx: SubmitContext) -> Rejected | Awaitable[Rejected | None] | None:
    """Synchronous when the lookup has the account at hand (``peek``), else a coroutine that loads it."""
    r = ctx.req
    if r.preauthenticated is not None:
        ctx.account = r.preauthenticated
        return None
    api_id = r.account.strip()
    peek = getattr(ctx.lookup, "peek", None)
    if peek is not None:
        account = peek(api_id)
        if account is not NOT_CACHED:
            return _check(ctx, account)  # type: ignore[arg-type]
    return _load_and_check(ctx, api_id)


async def _load_and_check(ctx: SubmitContext, api_id: str) -> Rejected | None:
    return _check(ctx, await ctx.lookup(api_id))


def _check(ctx: SubmitContext, account: AccountView | None) -> Rejected | None:
    r = ctx.req
    if account is None:
        return Rejected.of(codes.BAD_CREDENTIALS)
    verdict = check_password(
        r.password.strip(),
        account.apikey,
        dynamic_parts=(account.api_id, account.apikey, r.mobile, r.content, r.time),
        time_param=r.time.strip(),
        now=ctx.config.clock(),
        window_s=ctx.config.dynamic_password_window_s,
    )
    if verdict is not PasswordCheck.OK:
        return Rejected.of(_PASSWORD_CODES[verdict])
    ctx.account = account
    return None


def not_frozen(ctx: SubmitContext) -> Rejected | None:
    assert ctx.account is not None
    return Rejected.of(codes.FROZEN) if ctx.account.state is AccountState.FROZEN else None


@lru_cache(maxsize=4096)
def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def ip_in(ip: str, entries: frozenset[str]) -> bool:
    """Whether ``ip`` matches an entry (a single address or a CIDR block)."""
    if ip in entries:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any((net := _network(e)) is not None and addr in net for e in entries)


def ip_rules(ctx: SubmitContext) -> Rejected | None:
    """400 when an allow-list is set and the caller is not on it; 4052 when registered IPs differ."""
    account: AccountView | None = ctx.account
    assert account is not None
    ip = ctx.req.client_ip
    if account.allowed_ips and not ip_in(ip, account.allowed_ips):
        return Rejected.of(codes.ILLEGAL_IP)
    if account.registered_ips and not ip_in(ip, account.registered_ips):
        return Rejected.of(codes.IP_NOT_REGISTERED)
    return None
