"""Packages (buy = a simulated payment writing the ledger), ledger history, enterprise certification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from hongyan.console.auth import UserRow, platform_of, require_account_user
from hongyan.console.web import render
from hongyan.services import billing, certification, console_account
from hongyan.services.certification import InvalidCertification
from hongyan.store.accounts import NotFound

router = APIRouter()
LEDGER_KINDS = {"grant": "赠送", "topup": "充值", "deduct": "发送扣费", "refund": "失败退还"}


async def _packages(request: Request, user: UserRow, status_code: int = 200, **extra) -> Response:
    p = platform_of(request)
    packages = await billing.list_packages(p)
    cheapest = min((pkg["unit_price_fen"] for pkg in packages), default=None)
    account = await console_account.account(p, user.api_id)
    return render(
        request,
        "packages.html",
        status_code=status_code,
        active="packages",
        packages=packages,
        cheapest=cheapest,
        account=account,
        **extra,
    )


@router.get("/packages")
async def packages(request: Request, bought: int = 0, user: UserRow = Depends(require_account_user)) -> Response:
    flash = "支付成功（模拟支付），条数已到账。" if bought else None
    return await _packages(request, user, flash=flash)


@router.post("/packages/buy")
async def buy(
    request: Request, user: UserRow = Depends(require_account_user), package_id: Annotated[int, Form()] = 0
) -> Response:
    try:
        await billing.buy_package(platform_of(request), user.api_id, package_id)
    except NotFound:
        return await _packages(request, user, status_code=404, flash="该套餐不存在或已下架", flash_kind="error")
    return RedirectResponse("/console/packages?bought=1", status_code=303)  # a reload must not pay twice


@router.get("/ledger")
async def ledger(request: Request, page: int = 1, user: UserRow = Depends(require_account_user)) -> Response:
    rows, total = await console_account.ledger(platform_of(request), user.account_id, page=max(1, page))
    pages = max(1, -(-total // 20))
    return render(
        request, "ledger.html", active="ledger", rows=rows, total=total, page=page, pages=pages, kinds=LEDGER_KINDS
    )


async def _certification(request: Request, user: UserRow, status_code: int = 200, **extra) -> Response:
    current = await certification.status(platform_of(request), user.account_id)
    extra.setdefault("form", current or {})
    extra.setdefault("errors", {})
    return render(
        request, "certification.html", status_code=status_code, active="certification", current=current, **extra
    )


@router.get("/certification")
async def certification_page(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    return await _certification(request, user)


@router.post("/certification")
async def certification_submit(
    request: Request,
    user: UserRow = Depends(require_account_user),
    company_name: Annotated[str, Form()] = "",
    licence_no: Annotated[str, Form()] = "",
    contact_name: Annotated[str, Form()] = "",
    contact_phone: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "company_name": company_name,
        "licence_no": licence_no,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
    }
    try:
        await certification.submit(platform_of(request), user.account_id, **form)
    except InvalidCertification as exc:
        return await _certification(
            request, user, status_code=400, form=form, errors=exc.errors, flash="请修改标红的内容", flash_kind="error"
        )
    except ValueError as exc:
        return await _certification(request, user, status_code=400, form=form, flash=str(exc), flash_kind="error")
    return await _certification(request, user, flash="认证资料已提交，运营人员审核后即可上线。")
