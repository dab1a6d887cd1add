"""在线调试: a form that sends one real Submit through the platform's own API and explains the answer."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from hongyan.console.auth import UserRow, platform_of, require_account_user
from hongyan.console.web import render
from hongyan.services import console_account, debug_tool

router = APIRouter()

DEFAULT_CONTENT = "您的验证码是：1234。请不要把验证码泄露给其他人。"


def _defaults(request: Request, user: UserRow) -> dict[str, str]:
    return {"mobile": user.phone, "content": DEFAULT_CONTENT, "mode": "plain", "fmt": "xml"}


@router.get("/debug")
async def debug_page(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    return render(
        request, "debug.html", active="debug", form=_defaults(request, user), result=None, base=_base(request)
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.post("/debug")
async def debug_send(
    request: Request,
    user: UserRow = Depends(require_account_user),
    mobile: Annotated[str, Form()] = "",
    content: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "plain",
    fmt: Annotated[str, Form()] = "xml",
) -> Response:
    p = platform_of(request)
    apikey = await console_account.reveal_key(p, user.api_id)
    fields = debug_tool.build_fields(
        user.api_id, apikey, mobile.strip(), content, dynamic=mode == "dynamic", fmt=fmt, now=p.clock()
    )
    # In-process through the same ASGI app: the request runs the real ihuyi endpoint, byte for byte as over TCP,
    # from the browser's address (so the IP allow-list applies as it would to the customer's server).
    client_ip = request.client.host if request.client else "127.0.0.1"
    transport = httpx.ASGITransport(app=request.app, client=(client_ip, 0))
    base = _base(request)
    async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:
        result = await debug_tool.submit(client, base, fields)
    form = {"mobile": mobile, "content": content, "mode": mode, "fmt": fmt}
    template = "partials/debug_result.html" if request.headers.get("hx-request") else "debug.html"
    return render(request, template, active="debug", form=form, result=result, base=base)
