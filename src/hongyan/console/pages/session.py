"""Register, log in, log out, change password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from hongyan.console import auth
from hongyan.console.auth import UserRow, current_user, platform_of, require_user, safe_next
from hongyan.console.web import render
from hongyan.services import console_users
from hongyan.services.console_users import LoginRefused, RegistrationError

router = APIRouter()


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/login")
async def login_page(request: Request, next: str = "", user: UserRow | None = Depends(current_user)) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=next, username="")


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    result = await console_users.login(platform_of(request), username, password, _client_ip(request))
    if isinstance(result, LoginRefused):
        if result.locked:
            minutes = platform_of(request).settings.console_login_window_s // 60
            message = f"登录失败次数过多，请 {minutes} 分钟后再试。"
            status = 429
        else:
            message, status = "用户名或密码不正确。", 400
        request.state.user = None
        return render(
            request, "login.html", status_code=status, next=next, username=username, flash=message, flash_kind="error"
        )
    target = "/console/admin/" if result.is_operator and result.account_id is None else safe_next(next)
    response = RedirectResponse(target, status_code=303)
    await auth.start_session(request, response, result)
    return response


@router.get("/register")
async def register_page(request: Request, user: UserRow | None = Depends(current_user)) -> Response:
    if user is not None:
        return RedirectResponse("/console/", status_code=303)
    return render(request, "register.html", form={})


@router.post("/register")
async def register(
    request: Request,
    username: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password2: Annotated[str, Form()] = "",
) -> Response:
    form = {"username": username, "phone": phone}
    request.state.user = None
    try:
        if password != password2:
            raise RegistrationError("两次输入的密码不一致")
        user = await console_users.register(platform_of(request), username, phone, password)
    except RegistrationError as exc:
        return render(request, "register.html", status_code=400, form=form, flash=str(exc), flash_kind="error")
    response = RedirectResponse("/console/?welcome=1", status_code=303)
    await auth.start_session(request, response, user)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    await auth.end_session(request, response)
    return response


@router.get("/password")
async def password_page(request: Request, user: UserRow = Depends(require_user)) -> Response:
    return render(request, "password.html", active="password")


@router.post("/password")
async def change_password(
    request: Request,
    user: UserRow = Depends(require_user),
    old: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    new2: Annotated[str, Form()] = "",
) -> Response:
    try:
        if new != new2:
            raise RegistrationError("两次输入的新密码不一致")
        token = request.cookies.get(auth.SESSION_COOKIE, "")
        await console_users.change_password(platform_of(request), user, old, new, keep_token=token)
    except RegistrationError as exc:
        return render(request, "password.html", status_code=400, active="password", flash=str(exc), flash_kind="error")
    return render(request, "password.html", active="password", flash="密码已修改，其他设备上的登录已退出。")
