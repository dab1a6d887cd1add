"""What a customer does to its own account in the console: API key, IP allow-list, push URLs and a test push,
signature and template applications, ledger history. Every function takes the account of the logged-in user."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hongyan.domain import pushes
from hongyan.domain.account import parse_ip_list
from hongyan.domain.emoji import has_emoji
from hongyan.domain.signatures import valid_signature_text
from hongyan.domain.states import ReviewState
from hongyan.domain.templates import slot_count
from hongyan.keys import new_api_key
from hongyan.services import accounts as account_service
from hongyan.services.platform import Platform
from hongyan.store import account_pages
from hongyan.store import accounts as store

CATEGORY_LABELS = {"verification": "验证码", "notice": "通知", "marketing": "营销"}
PUSH_KINDS = {"receipt": "receipt_url", "reply": "reply_url", "template": "template_url"}


class InputError(ValueError):
    """A form value is not acceptable; the message is shown to the person."""


async def account(platform: Platform, api_id: str) -> store.AccountRow:
    async with platform.engines.read.connect() as conn:
        return await store.get_account(conn, api_id)


async def reveal_key(platform: Platform, api_id: str) -> str:
    return platform.keybox.decrypt((await account(platform, api_id)).apikey_enc)


async def rotate_key(platform: Platform, api_id: str) -> str:
    """A new APIKEY; the old one stops working at once (in this process) or within the cache TTL (others)."""
    apikey = new_api_key()
    async with platform.engines.write.begin() as conn:
        await store.update_account(conn, api_id, apikey_enc=platform.keybox.encrypt(apikey))
    platform.accounts.invalidate(api_id)
    return apikey


def normalise_ips(text: str) -> str:
    """Comma-separated IPs or CIDR networks; InputError for anything else."""
    items = sorted(parse_ip_list(text.replace("\n", ",").replace(" ", ",")))
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise InputError(f"不是有效的 IP 或网段：{item}") from exc
    return ",".join(items)


async def set_allowed_ips(platform: Platform, api_id: str, text: str) -> str:
    value = normalise_ips(text)
    async with platform.engines.write.begin() as conn:
        await store.update_account(conn, api_id, allowed_ips=value)
    platform.accounts.invalidate(api_id)
    return value


def _check_url(url: str) -> str | None:
    url = url.strip()
    if not url:
        return None
    if not (url.startswith("http://") or url.startswith("https://")) or len(url) > 500:
        raise InputError("推送地址须以 http:// 或 https:// 开头")
    return url


async def set_push_urls(platform: Platform, api_id: str, receipt: str, reply: str, template: str) -> None:
    values = {"receipt_url": _check_url(receipt), "reply_url": _check_url(reply), "template_url": _check_url(template)}
    async with platform.engines.write.begin() as conn:
        await store.update_account(conn, api_id, **values)
    platform.accounts.invalidate(api_id)


@dataclass(frozen=True, slots=True)
class TestPush:
    url: str
    fields: dict[str, str]
    status: int | None
    body: str
    accepted: bool
    error: str = ""


async def send_test_push(platform: Platform, api_id: str, kind: str) -> TestPush:
    """POST a sample push of ``kind`` to the account's URL now (not through the outbox) and report the answer."""
    if kind not in PUSH_KINDS:
        raise InputError("未知的推送类型")
    url = getattr(await account(platform, api_id), PUSH_KINDS[kind])
    if not url:
        raise InputError("请先保存该推送地址")
    now = int(time.time() * 1000)
    sample = "00000000000000000000"
    fields = {
        "receipt": lambda: pushes.receipt_fields(mobile="13800138000", smsid=sample, stat="DELIVRD", at_ms=now),
        "reply": lambda: pushes.reply_fields(mobile="13800138000", content="测试回复", smsid=sample, at_ms=now),
        "template": lambda: pushes.template_fields(template_id=0, approved=True, reason=None),
    }[kind]()
    from hongyan.workers.pusher import UnsafeTarget, check_target

    try:
        check_target(url, platform.settings.push_allow_private)
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
            r = await client.post(url, data=fields)
    except (UnsafeTarget, httpx.HTTPError) as exc:
        return TestPush(url, fields, None, "", False, f"{type(exc).__name__}: {exc}")
    body = r.text[:500]
    return TestPush(url, fields, r.status_code, body, pushes.accepted(r.status_code, r.content))


async def apply_signature(platform: Platform, api_id: str, text: str, category: str) -> int:
    text = text.strip().removeprefix("【").removesuffix("】").strip()
    if not valid_signature_text(text):
        raise InputError("签名为 2–30 个字符，不含【】")
    if category not in CATEGORY_LABELS:
        raise InputError("请选择签名类型")
    async with platform.engines.read.connect() as conn:
        existing = await store.list_signatures(conn, (await store.get_account(conn, api_id)).id)
    if any(s["text"] == text and s["state"] != ReviewState.REJECTED.value for s in existing):
        raise InputError("该签名已申请过")
    if any(s["text"] == text for s in existing):  # rejected before: apply again
        sig = next(s for s in existing if s["text"] == text)
        await account_service.review_signature(platform, sig["id"], ReviewState.PENDING, None)
        return sig["id"]
    return await account_service.add_signature(platform, api_id, text, category=category)


async def apply_template(platform: Platform, account_id: int, text: str, category: str) -> int:
    """The same checks as AddTemplate (sensitive words, length, emoji); pending until an operator reviews it."""
    text = text.strip()
    if not text:
        raise InputError("模板内容不能为空")
    if category not in CATEGORY_LABELS:
        raise InputError("请选择模板类型")
    if platform.policy.words.find(text):
        raise InputError("模板内容含有敏感字符")
    if len(text) > platform.settings.max_content_chars:
        raise InputError(f"模板内容不能超过 {platform.settings.max_content_chars} 字")
    if has_emoji(text):
        raise InputError("模板内容不能包含 emoji 符号")
    limits = [platform.settings.template_var_max_len] * slot_count(text)
    async with platform.engines.write.begin() as conn:
        return await store.add_template(conn, account_id, text, limits, category)


async def content(platform: Platform, account_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with platform.engines.read.connect() as conn:
        return await store.list_signatures(conn, account_id), await account_pages.templates_of(conn, account_id)


async def ledger(platform: Platform, account_id: int, page: int = 1) -> tuple[list[dict[str, Any]], int]:
    async with platform.engines.read.connect() as conn:
        return await account_pages.ledger_page(conn, account_id, page=page)
