"""API credentials: APIID, APIKEY (revealed on click), rotate, IP allow-list, push URLs with a test push."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from hongyan.console.auth import UserRow, platform_of, require_account_user
from hongyan.console.web import render
from hongyan.services import console_account
from hongyan.services.console_account import InputError

router = APIRouter()


async def _page(request: Request, user: UserRow, status_code: int = 200, **extra) -> Response:
    account = await console_account.account(platform_of(request), user.api_id)
    base = str(request.base_url).rstrip("/")
    return render(
        request, "credentials.html", status_code=status_code, active="credentials", account=account, base=base, **extra
    )


@router.get("/credentials")
async def credentials(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    return await _page(request, user)


@router.post("/credentials/key")
async def reveal_key(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    """htmx: the APIKEY in place of the mask (POST: it is a secret, never in a URL or a cached GET)."""
    apikey = await console_account.reveal_key(platform_of(request), user.api_id)
    return render(request, "partials/apikey.html", apikey=apikey)


@router.post("/credentials/rotate")
async def rotate_key(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    apikey = await console_account.rotate_key(platform_of(request), user.api_id)
    return await _page(request, user, apikey=apikey, flash="已生成新的 APIKEY，旧 APIKEY 立即失效。")


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
