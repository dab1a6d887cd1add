"""Operator actions on accounts (console admin pages; the CLI has the same through ``services.accounts``).

Freeze answers every request of the account with 4050; unfreeze makes it live again (as ``hongyan account
unfreeze`` does). A top-up is a ledger row. Limits go through ``services.policy.limits_set``; the channel group
through ``services.accounts.set_fields`` (as ``hongyan account set --channel-group``). Certification (which moves a
test account live) is in ``services.certification``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hongyan.domain.states import AccountState
from hongyan.services import accounts as account_service
from hongyan.services import certification, channels, policy
from hongyan.services.platform import Platform
from hongyan.store import account_list
from hongyan.store.accounts import get_account

TOPUP_MAX = 100_000_000


@dataclass(frozen=True, slots=True)
class AccountPage:
    rows: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


async def search(
    platform: Platform, *, q: str | None = None, state: str | None = None, page: int = 1, per_page: int = 20
) -> AccountPage:
    if state and state not in {s.value for s in AccountState}:
        raise ValueError(f"unknown account state {state!r}")
    page, per_page = max(1, page), max(1, min(per_page, 200))
    async with platform.engines.read.connect() as conn:
        rows, total = await account_list.search(conn, q=q, state=state, page=page, per_page=per_page)
    return AccountPage(rows, page, per_page, total)


async def detail(platform: Platform, api_id: str) -> dict[str, Any]:
    """Everything the account page shows: settings, balance vs ledger, signatures, limits, certification."""
    info = await account_service.show(platform, api_id)
    info["limits"] = await policy.limits_show(platform, api_id)
    async with platform.engines.read.connect() as conn:
        account_id = (await get_account(conn, api_id)).id
    info["id"] = account_id
    info["certification"] = await certification.status(platform, account_id)
    return info


async def freeze(platform: Platform, api_id: str) -> None:
    await account_service.set_state(platform, api_id, AccountState.FROZEN)


async def unfreeze(platform: Platform, api_id: str) -> None:
    async with platform.engines.read.connect() as conn:
        if (await get_account(conn, api_id)).state != AccountState.FROZEN.value:
            raise ValueError("账户未冻结")
    await account_service.set_state(platform, api_id, AccountState.LIVE)


async def topup(platform: Platform, api_id: str, amount: int, note: str | None) -> int:
    """Add segments with a ledger row (note defaults to the operator's top-up); returns the new balance."""
    if not 0 < amount <= TOPUP_MAX:
        raise ValueError(f"充值条数须为 1–{TOPUP_MAX:,} 的整数")
    return await account_service.topup(platform, api_id, amount, (note or "").strip() or "运营充值")


def _limit(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) <= 0:
        raise ValueError("限额须为正整数")
    return int(value)


async def set_limits(platform: Platform, api_id: str, *, daily: str, daily_codes: str, ceiling: str) -> None:
    """From a form: empty fields mean the platform default (the three are set together)."""
    values = {
        "limit_daily": _limit(daily),
        "limit_daily_codes": _limit(daily_codes),
        "limit_daily_ceiling": _limit(ceiling),
    }
    given = {k: v for k, v in values.items() if v is not None}
    await policy.limits_set(platform, api_id, reset=True, **given)


async def set_channel_group(platform: Platform, api_id: str, group: str) -> list[str]:
    """From a form: the group the account's messages route in ('' or "default": the default group), checked and
    stored as ``hongyan account set --channel-group`` does; returns the carriers ``default`` still serves for it."""
    group = group.strip()
    await account_service.set_fields(platform, api_id, channel_group=group)
    return await channels.served_by_default_only(platform, group)


async def channel_groups(platform: Platform) -> list[str]:
    """The groups the configured channels form ("default" first): the choices offered on the account page."""
    names = {c["group"] for c in await channels.list_channels(platform)}
    return [channels.DEFAULT_GROUP, *sorted(names - {channels.DEFAULT_GROUP})]
