"""Account administration (CLI now, console later) and the GetNum / AddTemplate use cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hongyan.domain import codes
from hongyan.domain.account import AccountView
from hongyan.domain.codes import Rejected
from hongyan.domain.emoji import has_emoji
from hongyan.domain.passwords import PasswordCheck, check_password
from hongyan.domain.states import AccountState, LedgerKind, ReviewState
from hongyan.domain.templates import slot_count
from hongyan.keys import new_api_id, new_api_key
from hongyan.pipeline.auth import ip_in
from hongyan.services import review
from hongyan.services.channels import DEFAULT_GROUP, check_group
from hongyan.services.platform import Platform
from hongyan.store import accounts as store
from hongyan.store.accounts import NotFound

__all__ = ["Credentials", "NotFound", "create_account", "open_account"]


@dataclass(frozen=True, slots=True)
class Credentials:
    account: str
    apikey: str


async def create_account(
    platform: Platform, name: str, *, balance: int | None = None, live: bool = False
) -> Credentials:
    """A new account: test mode with the free test segments, or live with ``balance`` segments."""
    async with platform.engines.write.begin() as conn:
        return await open_account(platform, conn, name, balance=balance, live=live)


async def open_account(
    platform: Platform, conn, name: str, *, balance: int | None = None, live: bool = False
) -> Credentials:
    """``create_account`` inside the caller's write transaction (so more rows can commit with the account)."""
    state = AccountState.LIVE if live else AccountState.TEST
    grant = balance if balance is not None else (0 if live else platform.settings.test_mode_free_segments)
    if grant < 0:
        raise ValueError("balance must be >= 0")
    apikey = new_api_key()
    for _ in range(20):
        api_id = new_api_id()
        try:
            await store.get_account(conn, api_id)
        except NotFound:
            await store.insert_account(
                conn,
                api_id=api_id,
                name=name,
                apikey_enc=platform.keybox.encrypt(apikey),
                state=state,
                grant=grant,
                note="opening balance",
            )
            return Credentials(api_id, apikey)
    raise RuntimeError("could not find a free API ID")  # pragma: no cover - 1e8 ids


async def _account_id(conn, api_id: str) -> int:
    return (await store.get_account(conn, api_id)).id


async def topup(platform: Platform, api_id: str, amount: int, note: str | None = None) -> int:
    if amount <= 0:
        raise ValueError("top-up amount must be positive")
    async with platform.engines.write.begin() as conn:
        balance = await store.change_balance(conn, await _account_id(conn, api_id), amount, LedgerKind.TOPUP, note)
    platform.accounts.invalidate(api_id)
    return balance


async def set_state(platform: Platform, api_id: str, state: AccountState) -> None:
    async with platform.engines.write.begin() as conn:
        await store.update_account(conn, api_id, state=state.value)
    platform.accounts.invalidate(api_id)


async def set_fields(platform: Platform, api_id: str, **values: Any) -> None:
    values = {k: v for k, v in values.items() if v is not None}
    if "channel_group" in values:  # '' or "default": route in the default group (stored as NULL)
        group = values["channel_group"]
        values["channel_group"] = None if group in ("", DEFAULT_GROUP) else check_group(group)
    if not values:
        return
    async with platform.engines.write.begin() as conn:
        await store.update_account(conn, api_id, **values)
    platform.accounts.invalidate(api_id)


async def show(platform: Platform, api_id: str) -> dict[str, Any]:
    async with platform.engines.read.connect() as conn:
        row = await store.get_account(conn, api_id)
        ledger_total = await store.ledger_sum(conn, row.id)
        sigs = await store.list_signatures(conn, row.id)
    return {
        "account": row.api_id,
        "name": row.name,
        "state": row.state,
        "balance": row.balance,
        "ledger_balance": ledger_total,
        "allowed_ips": row.allowed_ips,
        "registered_ips": row.registered_ips,
        "default_signature": row.default_signature,
        "require_template": row.require_template,
        "receipt_url": row.receipt_url,
        "reply_url": row.reply_url,
        "template_url": row.template_url,
        "channel_group": row.channel_group or DEFAULT_GROUP,
        "signatures": [{"id": s["id"], "text": s["text"], "state": s["state"]} for s in sigs],
    }


CATEGORIES = ("notice", "verification", "marketing")


def _category(category: str) -> str:
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}")
    return category


async def set_template_category(platform: Platform, tpl_id: int, category: str) -> None:
    async with platform.engines.write.begin() as conn:
        await store.set_template_category(conn, tpl_id, _category(category))
    platform.accounts.invalidate()


async def add_signature(
    platform: Platform, api_id: str, text: str, *, approve: bool = False, category: str = "notice"
) -> int:
    from hongyan.domain.signatures import valid_signature_text

    text = text.strip().removeprefix("【").removesuffix("】").strip()
    if not valid_signature_text(text):
        raise ValueError("a signature is 2-30 characters without brackets")
    async with platform.engines.write.begin() as conn:
        account_id = await _account_id(conn, api_id)
        sig_id = await store.add_signature(conn, account_id, text, ReviewState.PENDING, _category(category))
        if approve:
            await store.review_signature(conn, sig_id, ReviewState.APPROVED, None)
    platform.accounts.invalidate(api_id)
    return sig_id


# Reviews live in hongyan.services.review (shared by the CLI and the console); kept here for callers.
review_signature = review.review_signature
review_template = review.review_template


async def list_templates(platform: Platform, state: str | None = None) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        return await store.list_templates(conn, state)


# --- API use cases -------------------------------------------------------------------------------


async def authenticate_simple(
    platform: Platform, account: str, password: str, time_param: str, client_ip: str, *, allow_dynamic: bool
) -> AccountView | Rejected:
    """Authentication for GetNum and AddTemplate: 401, 402, 405, 40501, 40502, 4050, 400."""
    if not account.strip():
        return Rejected.of(codes.NO_ACCOUNT)
    if not password.strip():
        return Rejected.of(codes.NO_PASSWORD)
    view = await platform.accounts(account.strip())
    if view is None:
        return Rejected.of(codes.BAD_CREDENTIALS)
    verdict = check_password(
        password.strip(),
        view.apikey,
        dynamic_parts=(view.api_id, view.apikey, time_param),
        time_param=time_param.strip(),
        now=platform.clock(),
        window_s=platform.settings.dynamic_password_window_s,
        allow_dynamic=allow_dynamic,
    )
    if verdict is PasswordCheck.EXPIRED:
        return Rejected.of(codes.DYNAMIC_EXPIRED)
    if verdict is PasswordCheck.MISMATCH:
        return Rejected.of(codes.DYNAMIC_MISMATCH)
    if verdict is not PasswordCheck.OK:
        return Rejected.of(codes.BAD_CREDENTIALS)
    if view.state is AccountState.FROZEN:
        return Rejected.of(codes.FROZEN)
    if view.allowed_ips and not ip_in(client_ip, view.allowed_ips):
        return Rejected.of(codes.ILLEGAL_IP)
    return view


async def get_num(
    platform: Platform, account: str, password: str, time_param: str, client_ip: str
) -> tuple[int, str, int]:
    """GetNum: (code, msg, remaining segments)."""
    view = await authenticate_simple(platform, account, password, time_param, client_ip, allow_dynamic=True)
    if isinstance(view, Rejected):
        return view.code, view.msg, 0
    async with platform.engines.read.connect() as conn:
        balance = (await store.get_account(conn, view.api_id)).balance
    return codes.OK, codes.GETNUM_OK_MSG, balance


async def add_template(
    platform: Platform, account: str, password: str, content: str, client_ip: str
) -> tuple[int, str, int]:
    """AddTemplate: (code, msg, templateid); the template waits for an operator's review."""
    view = await authenticate_simple(platform, account, password, "", client_ip, allow_dynamic=False)
    if isinstance(view, Rejected):
        return view.code, view.msg, 0
    text = content.strip()
    if not text:
        return codes.NO_CONTENT, codes.ADDTEMPLATE_MSG_OVERRIDES[codes.NO_CONTENT], 0
    if platform.policy.words.find(text):
        return codes.SENSITIVE, codes.ADDTEMPLATE_MSG_OVERRIDES[codes.SENSITIVE], 0
    if len(text) > platform.settings.max_content_chars:
        return codes.CONTENT_TOO_LONG, codes.SUBMIT_MSG[codes.CONTENT_TOO_LONG], 0
    if has_emoji(text):
        return codes.EMOJI, codes.SUBMIT_MSG[codes.EMOJI], 0
    limits = [platform.settings.template_var_max_len] * slot_count(text)
    async with platform.engines.write.begin() as conn:
        tpl_id = await store.add_template(conn, view.id, text, limits)
    return codes.OK, codes.ADDTEMPLATE_OK_MSG, tpl_id
