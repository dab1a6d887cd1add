"""Accounts: list and search, one account's page, freeze / unfreeze, top up, limits, channel group."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from hongyan.console.admin._common import EXPECTED_ERRORS, back, flash, page_no
from hongyan.console.auth import platform_of
from hongyan.console.web import render
from hongyan.services import account_admin
from hongyan.store.accounts import NotFound

router = APIRouter()

STATES = {"": "全部", "test": "测试", "live": "正式", "frozen": "已冻结"}
CERT_LABELS = {None: "未提交", "pending": "审核中", "approved": "已认证", "rejected": "未通过"}


def _path(api_id: str) -> str:
    return f"/console/admin/accounts/{api_id}"


@router.get("/accounts")
async def account_list(request: Request, q: str = "", state: str = "") -> Response:
    state = state if state in STATES else ""
    result = await account_admin.search(platform_of(request), q=q or None, state=state or None, page=page_no(request))
    return render(
        request,
        "admin/accounts.html",
        active="admin",
        section="accounts",
        result=result,
        q=q,
        state=state,
        states=STATES,
        cert_labels=CERT_LABELS,
        **flash(request),
    )


@router.get("/accounts/{api_id}")
async def account_page(request: Request, api_id: str) -> Response:
    try:
        info = await account_admin.detail(platform_of(request), api_id)
    except NotFound:
        return render(request, "error.html", status_code=404, title="没有这个账户", message=f"账户 {api_id} 不存在。")
    return render(
        request,
        "admin/account.html",
        active="admin",
        section="accounts",
        a=info,
        groups=await account_admin.channel_groups(platform_of(request)),
        states=STATES,
        cert_labels=CERT_LABELS,
        **flash(request),
    )


@router.post("/accounts/{api_id}/freeze")
async def freeze(request: Request, api_id: str) -> Response:
    try:
        await account_admin.freeze(platform_of(request), api_id)
    except EXPECTED_ERRORS as exc:
        return back(_path(api_id), err=str(exc))
    return back(_path(api_id), ok="账户已冻结：所有请求将返回 4050")


@router.post("/accounts/{api_id}/unfreeze")
async def unfreeze(request: Request, api_id: str) -> Response:
    try:
        await account_admin.unfreeze(platform_of(request), api_id)
    except EXPECTED_ERRORS as exc:
        return back(_path(api_id), err=str(exc))
    return back(_path(api_id), ok="账户已解冻（正式）")


@router.post("/accounts/{api_id}/topup")
async def topup(
    request: Request, api_id: str, amount: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""
) -> Response:
    try:
        if not amount.strip().isdigit():
            raise ValueError("充值条数须为正整数")
        balance = await account_admin.topup(platform_of(request), api_id, int(amount), note)
    except EXPECTED_ERRORS as exc:
        return back(_path(api_id), err=str(exc))
    return back(_path(api_id), ok=f"已充值 {int(amount)} 条，余额 {balance} 条")


@router.post("/accounts/{api_id}/limits")
async def limits(
    request: Request,
    api_id: str,
    daily: Annotated[str, Form()] = "",
    daily_codes: Annotated[str, Form()] = "",
    ceiling: Annotated[str, Form()] = "",
) -> Response:
    try:
        await account_admin.set_limits(
            platform_of(request), api_id, daily=daily, daily_codes=daily_codes, ceiling=ceiling
        )
    except EXPECTED_ERRORS as exc:
        return back(_path(api_id), err=str(exc))
    return back(_path(api_id), ok="频率限制已更新")


@router.post("/accounts/{api_id}/channel-group")
async def channel_group(request: Request, api_id: str, group: Annotated[str, Form()] = "") -> Response:
    try:
        missing = await account_admin.set_channel_group(platform_of(request), api_id, group)
    except ValueError as exc:
        return back(_path(api_id), err=f"通道组名称无效：{exc}")
    except NotFound as exc:
        return back(_path(api_id), err=str(exc))
    name = group.strip() or "default"
    note = f"；该组没有服务 {'、'.join(missing)} 的通道，这些运营商的短信仍走 default 组" if missing else ""
    return back(_path(api_id), ok=f"通道组已设为 {name}{note}")
