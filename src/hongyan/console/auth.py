"""Who is asking: the session cookie, CSRF tokens, and the ``require_user`` / ``require_operator`` dependencies.

Pages use ``user: UserRow = Depends(require_user)`` (operators' pages ``Depends(require_operator)``). Without a
session the browser is sent to the login page (htmx requests get ``HX-Redirect``); a user who is not an operator
gets 403. Every POST under /console must carry the CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``, which the base template makes htmx send); ``check_csrf`` is a dependency of the whole router.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.responses import Response

from hongyan.services import console_users
from hongyan.services.platform import Platform
from hongyan.store.console_users import UserRow

SESSION_COOKIE = "hy_session"
SEED_COOKIE = "hy_seed"  # binds the CSRF token of visitors without a session (login, register)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

__all__ = ["CsrfFailed", "Forbidden", "LoginRequired", "UserRow", "require_operator", "require_user"]


class LoginRequired(Exception):
    """No valid session: answered with a redirect to the login page."""


class Forbidden(Exception):
    """Logged in, but not allowed (an operator's page): answered with 403."""


class CsrfFailed(Exception):
    """A POST without the right CSRF token: answered with 403."""


def platform_of(request: Request) -> Platform:
    return request.app.state.platform


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or platform_of(request).settings.console_secure_cookies


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=_secure(request))


def _binding(request: Request) -> str:
    """What the CSRF token is bound to: the session token, else the visitor's seed cookie (made on first use)."""
    token = request.cookies.get(SESSION_COOKIE) or getattr(request.state, "new_session", None)
    if token:
        return "s:" + token
    seed = request.cookies.get(SEED_COOKIE) or getattr(request.state, "new_seed", None)
    if not seed:
        seed = secrets.token_urlsafe(24)
        request.state.new_seed = seed  # the response sets it (see ``finish``)
    return "v:" + seed


def csrf_token(request: Request) -> str:
    return platform_of(request).keybox.mac("console-csrf", _binding(request))


def finish(request: Request, response: Response) -> Response:
    """Set the cookies a request made up on the way (the visitor's seed)."""
    seed = getattr(request.state, "new_seed", None)
    if seed and not request.cookies.get(SEED_COOKIE):
        set_cookie(request, response, SEED_COOKIE, seed)
    return response


async def check_csrf(request: Request) -> None:
    """Router dependency: every unsafe method needs the token of this session (or visitor)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()  # parsed once; the endpoint's Form() parameters reuse it
        value = form.get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    expected = platform_of(request).keybox.mac("console-csrf", _binding(request))
    if not sent or not hmac.compare_digest(sent, expected):
        raise CsrfFailed()


async def current_user(request: Request) -> UserRow | None:
    """The logged-in user, or None (cached on the request)."""
    if hasattr(request.state, "user"):
        return request.state.user
    user = await console_users.session_user(platform_of(request), request.cookies.get(SESSION_COOKIE, ""))
    request.state.user = user
    return user


async def require_user(request: Request, user: UserRow | None = Depends(current_user)) -> UserRow:
    if user is None:
        raise LoginRequired()
    return user


async def require_operator(user: UserRow = Depends(require_user)) -> UserRow:
    if not user.is_operator:
        raise Forbidden()
    return user


async def require_account_user(user: UserRow = Depends(require_user)) -> UserRow:
    """A user with an account (customer pages); an operator without one is sent to the admin side."""
    if user.account_id is None or user.api_id is None:
        raise Forbidden()
    return user


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/console/login?next=" + quote(target, safe="")


def safe_next(value: str | None) -> str:
    """Only local console paths are followed after login (no open redirect)."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


async def start_session(request: Request, response: Response, user: UserRow) -> None:
    token = await console_users.new_session(platform_of(request), user.id)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=platform_of(request).settings.console_session_ttl_s)


async def end_session(request: Request, response: Response) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await console_users.end_session(platform_of(request), token)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))


async def flash_once(request: Request, message: dict[str, str]) -> None:
    """Keep ``message`` in the session for the page after the redirect (POST → redirect → GET shows it once)."""
    await console_users.set_flash(platform_of(request), request.cookies.get(SESSION_COOKIE, ""), message)


async def take_flash(request: Request) -> dict[str, str] | None:
    return await console_users.pop_flash(platform_of(request), request.cookies.get(SESSION_COOKIE, ""))
