"""Rendering: the Jinja2 environment of the console and ``render(request, template, **context)``.

Every page gets ``user`` (or None), ``csrf_token`` and ``active`` (the navigation key) in its context. Templates
extend ``base.html`` and fill the blocks ``title`` and ``content``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from hongyan.console.auth import csrf_token, finish

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

BEIJING = dt.timezone(dt.timedelta(hours=8))


def fmt_ms(value: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Unix milliseconds as Beijing time."""
    if not value:
        return "—"
    return dt.datetime.fromtimestamp(value / 1000, BEIJING).strftime(fmt)


def fmt_yuan_cents(cents: int | None) -> str:
    return "—" if cents is None else f"¥{cents / 100:,.2f}"


templates.env.filters["ms"] = fmt_ms
templates.env.filters["yuan"] = fmt_yuan_cents


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("user", getattr(request.state, "user", None))
    context.setdefault("active", "")
    context["csrf_token"] = csrf_token(request)
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    return finish(request, response)
