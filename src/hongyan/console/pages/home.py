"""Home (onboarding checklist) and the overview (balance, today, 7-day chart, carrier split)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hongyan.console.auth import UserRow, platform_of, require_account_user
from hongyan.console.web import render
from hongyan.domain.labels import carrier_label
from hongyan.services import console_account, onboarding, reports

router = APIRouter()

ACCOUNT_STATES = {"test": "测试", "live": "正式", "frozen": "已冻结"}


@router.get("/")
async def home(request: Request, welcome: int = 0, user: UserRow = Depends(require_account_user)) -> Response:
    p = platform_of(request)
    steps = await onboarding.checklist(p, user.account_id)
    account = await console_account.account(p, user.api_id)
    summary = await reports.overview(p, user.account_id, days=7)
    return render(
        request,
        "home.html",
        active="home",
        steps=steps,
        next_step=onboarding.next_step(steps),
        account=account,
        state_label=ACCOUNT_STATES.get(account.state, account.state),
        today=summary["today"],
        welcome=bool(welcome),
        default_signature=p.settings.default_signature,
    )


@router.get("/overview")
async def overview(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    p = platform_of(request)
    account = await console_account.account(p, user.api_id)
    data = await reports.overview(p, user.account_id, days=7)
    chart = {
        "days": [d["day"] for d in data["daily"]],
        "sent": [d["sent"] for d in data["daily"]],
        "delivered": [d["delivered"] for d in data["daily"]],
        "failed": [d["failed"] for d in data["daily"]],
        "carriers": [carrier_label(c["carrier"]) for c in data["carriers"]],
        "carrier_counts": [c["count"] for c in data["carriers"]],
    }
    return render(
        request,
        "overview.html",
        active="overview",
        account=account,
        state_label=ACCOUNT_STATES.get(account.state, account.state),
        today=data["today"],
        chart=chart,
        carriers=data["carriers"],
    )
