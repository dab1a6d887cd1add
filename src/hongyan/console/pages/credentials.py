"""API credentials: APIID, APIKEY (revealed on click), rotate, IP allow-list, push URLs with a test push, and the
signed JSON webhook (Standard Webhooks: URL, events, secret shown once, rotate, remove).

A new APIKEY or webhook secret travels POST → session flash → 303 → GET, so it is shown once and a reload neither
rotates again nor shows it again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from hongyan.console.auth import UserRow, flash_once, platform_of, require_account_user, take_flash
from hongyan.console.web import render
from hongyan.domain import webhooks as wh
from hongyan.services import console_account, pushes
from hongyan.services.console_account import InputError

router = APIRouter()

PAGE = "/console/credentials"
EVENT_LABELS = {
    wh.MESSAGE_DELIVERED: "短信送达",
    wh.MESSAGE_FAILED: "短信失败",
    wh.REPLY_RECEIVED: "上行回复",
    wh.TEMPLATE_REVIEWED: "模板审核结果",
}
SHOWN_ONCE = {  # flash kind → the message above the secret
    "apikey": "已生成新的 APIKEY，旧 APIKEY 立即失效。",
    "webhook_secret": "Webhook 已保存。签名密钥只显示这一次，请立即复制保存。",
    "webhook_rotated": "已生成新的签名密钥，只显示这一次。旧密钥在 24 小时内仍会同时签名，便于切换。",
}
DONE = {"webhook": "Webhook 已保存。", "webhook-removed": "Webhook 已删除。"}


async def _page(request: Request, user: UserRow, status_code: int = 200, **extra) -> Response:
    platform = platform_of(request)
    account = await console_account.account(platform, user.api_id)
    webhook = await pushes.get_webhook(platform, user.api_id)
    base = str(request.base_url).rstrip("/")
    return render(
        request,
        "credentials.html",
        status_code=status_code,
        active="credentials",
        account=account,
        base=base,
        webhook=webhook,
        event_labels=EVENT_LABELS,
        **extra,
    )


@router.get("/credentials")
async def credentials(
    request: Request, new: str = "", done: str = "", user: UserRow = Depends(require_account_user)
) -> Response:
    extra: dict[str, str | None] = {"flash": DONE.get(done)}
    if new:  # only after a redirect that left something in the session: other visits write nothing
        message = await take_flash(request)
        if message and message.get("kind") in SHOWN_ONCE:
            kind = message["kind"]
            extra["flash"] = SHOWN_ONCE[kind]
            extra["apikey" if kind == "apikey" else "webhook_secret"] = message.get("value", "")
        else:
            extra["flash"], extra["flash_kind"] = "新密钥只显示一次，已经显示过了。", "warn"
    return await _page(request, user, **extra)


@router.post("/credentials/key")
async def reveal_key(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    """htmx: the APIKEY in place of the mask (POST: it is a secret, never in a URL or a cached GET)."""
    apikey = await console_account.reveal_key(platform_of(request), user.api_id)
    return render(request, "partials/apikey.html", apikey=apikey)


@router.post("/credentials/rotate")
async def rotate_key(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    apikey = await console_account.rotate_key(platform_of(request), user.api_id)
    await flash_once(request, {"kind": "apikey", "value": apikey})
    return RedirectResponse(PAGE + "?new=apikey", status_code=303)


@router.post("/credentials/webhook")
async def set_webhook(
    request: Request,
    user: UserRow = Depends(require_account_user),
    url: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create or change the webhook; no event ticked means every event. A new webhook's secret is shown once."""
    try:
        result = await pushes.set_webhook(platform_of(request), user.api_id, url=url.strip(), events=events or [])
    except ValueError:
        message = "请输入以 http:// 或 https:// 开头的完整地址，并选择有效的事件类型。"
        return await _page(request, user, status_code=400, flash=message, flash_kind="error", webhook_url=url)
    if result.get("secret"):
        await flash_once(request, {"kind": "webhook_secret", "value": result["secret"]})
        return RedirectResponse(PAGE + "?new=webhook#webhook", status_code=303)
    return RedirectResponse(PAGE + "?done=webhook#webhook", status_code=303)


@router.post("/credentials/webhook/rotate")
async def rotate_webhook_secret(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    try:
        secret = await pushes.rotate_webhook_secret(platform_of(request), user.api_id)
    except ValueError:
        return await _page(request, user, status_code=400, flash="尚未设置 Webhook。", flash_kind="error")
    await flash_once(request, {"kind": "webhook_rotated", "value": secret})
    return RedirectResponse(PAGE + "?new=webhook#webhook", status_code=303)


@router.post("/credentials/webhook/remove")
async def remove_webhook(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    await pushes.remove_webhook(platform_of(request), user.api_id)
    return RedirectResponse(PAGE + "?done=webhook-removed#webhook", status_code=303)


@router.post("/credentials/ips")
async def set_ips(
    request: Request, user: UserRow = Depends(require_account_user), ips: Annotated[str, Form()] = ""
) -> Response:
    try:
        await console_account.set_allowed_ips(platform_of(request), user.api_id, ips)
    except InputError as exc:
        return await _page(request, user, status_code=400, flash=str(exc), flash_kind="error")
    return await _page(request, user, flash="IP 白名单已保存。")


@router.post("/credentials/urls")
async def set_urls(
    request: Request,
    user: UserRow = Depends(require_account_user),
    receipt_url: Annotated[str, Form()] = "",
    reply_url: Annotated[str, Form()] = "",
    template_url: Annotated[str, Form()] = "",
) -> Response:
    try:
        await console_account.set_push_urls(platform_of(request), user.api_id, receipt_url, reply_url, template_url)
    except InputError as exc:
        return await _page(request, user, status_code=400, flash=str(exc), flash_kind="error")
    return await _page(request, user, flash="推送地址已保存。")


@router.post("/credentials/test-push")
async def test_push(
    request: Request, user: UserRow = Depends(require_account_user), kind: Annotated[str, Form()] = ""
) -> Response:
    try:
        result = await console_account.send_test_push(platform_of(request), user.api_id, kind)
    except InputError as exc:
        return render(request, "partials/test_push.html", error=str(exc), result=None)
    return render(request, "partials/test_push.html", error="", result=result)
