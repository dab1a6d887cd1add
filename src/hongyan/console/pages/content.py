"""Signatures and templates: apply, and see each one's review state and rejection reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from hongyan.console.auth import UserRow, platform_of, require_account_user
from hongyan.console.web import render
from hongyan.services import console_account
from hongyan.services.console_account import CATEGORY_LABELS, InputError

router = APIRouter()
DONE = {"signature": "签名已提交，审核通过后即可使用。", "template": "模板已提交，审核结果会推送到模板审核推送地址。"}
REVIEW_LABELS = {"pending": ("审核中", "warn"), "approved": ("已通过", "ok"), "rejected": ("未通过", "bad")}


async def _page(request: Request, user: UserRow, status_code: int = 200, **extra) -> Response:
    sigs, tpls = await console_account.content(platform_of(request), user.account_id)
    return render(
        request,
        "content.html",
        status_code=status_code,
        active="content",
        signatures=sigs,
        templates=tpls,
        categories=CATEGORY_LABELS,
        review=REVIEW_LABELS,
        default_signature=platform_of(request).settings.default_signature,
        **extra,
    )


@router.get("/content")
async def content(request: Request, done: str = "", user: UserRow = Depends(require_account_user)) -> Response:
    return await _page(request, user, flash=DONE.get(done))


@router.post("/content/signatures")
async def apply_signature(
    request: Request,
    user: UserRow = Depends(require_account_user),
    text: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "notice",
) -> Response:
    try:
        await console_account.apply_signature(platform_of(request), user.api_id, text, category)
    except InputError as exc:
        return await _page(request, user, status_code=400, flash=str(exc), flash_kind="error")
    return RedirectResponse("/console/content?done=signature", status_code=303)  # reloading does not re-post


@router.post("/content/templates")
async def apply_template(
    request: Request,
    user: UserRow = Depends(require_account_user),
    text: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "verification",
) -> Response:
    try:
        await console_account.apply_template(platform_of(request), user.account_id, text, category)
    except InputError as exc:
        return await _page(request, user, status_code=400, flash=str(exc), flash_kind="error")
    return RedirectResponse("/console/content?done=template", status_code=303)
