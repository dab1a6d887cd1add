"""Review queues: signatures and templates (approve / reject with a reason → template review push) and
enterprise certifications (approve → the account goes live; reject with a reason)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from hongyan.console.admin._common import EXPECTED_ERRORS, back, flash
from hongyan.console.auth import platform_of
from hongyan.console.web import render
from hongyan.domain.states import ReviewState
from hongyan.services import certification
from hongyan.services import review as review_service

router = APIRouter()

QUEUES = {"pending": "待审核", "rejected": "已驳回", "approved": "已通过"}
KINDS = {"signatures": "签名", "templates": "模板"}


def _queue(state: str) -> str:
    return state if state in QUEUES else "pending"


@router.get("/review")
async def review_page(request: Request, state: str = "pending") -> Response:
    p, state = platform_of(request), _queue(state)
    return render(
        request,
        "admin/review.html",
        active="admin",
        section="review",
        signatures=await review_service.signature_queue(p, state),
        templates=await review_service.template_queue(p, state),
        state=state,
        queues=QUEUES,
        **flash(request),
    )


@router.post("/review/{kind}/{item_id}")
async def decide(
    request: Request,
    kind: str,
    item_id: int,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    if kind not in KINDS or decision not in ("approve", "reject"):
        return back("/console/admin/review", err="无效的操作")
    state = ReviewState.APPROVED if decision == "approve" else ReviewState.REJECTED
    action = review_service.review_signature if kind == "signatures" else review_service.review_template
    try:
        await action(platform_of(request), item_id, state, reason)
    except EXPECTED_ERRORS as exc:
        return back("/console/admin/review", err=str(exc))
    done = "已通过" if state is ReviewState.APPROVED else "已驳回"
    return back("/console/admin/review", ok=f"{KINDS[kind]} {item_id} {done}")


@router.get("/certifications")
async def certification_page(request: Request, state: str = "pending") -> Response:
    state = _queue(state)
    return render(
        request,
        "admin/certifications.html",
        active="admin",
        section="certifications",
        rows=await certification.queue(platform_of(request), state),
        state=state,
        queues=QUEUES,
        **flash(request),
    )


@router.post("/certifications/{cert_id}")
async def certification_decide(
    request: Request,
    cert_id: int,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    p = platform_of(request)
    try:
        if decision == "approve":
            await certification.approve(p, cert_id)
        elif decision == "reject":
            await certification.reject(p, cert_id, reason)
        else:
            raise ValueError("无效的操作")
    except EXPECTED_ERRORS as exc:
        return back("/console/admin/certifications", err=str(exc))
    ok = "认证已通过，测试账户已转为正式" if decision == "approve" else "认证已驳回"
    return back("/console/admin/certifications", ok=f"{ok}（#{cert_id}）")
