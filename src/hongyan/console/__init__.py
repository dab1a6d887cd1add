"""The web console: server-rendered pages (Jinja2 + htmx) under /console, in the same app as the API.

``mount(app)`` adds the routes, the static files and the error answers; ``create_app`` calls it.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from hongyan.console.auth import CsrfFailed, Forbidden, LoginRequired, login_url
from hongyan.console.web import HERE, render


def mount(app: FastAPI) -> None:
    from hongyan.console.pages import router

    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=302)

    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(CsrfFailed, _csrf_failed)


async def _login_required(request: Request, _exc: Exception) -> Response:
    target = login_url(request)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, _exc: Exception) -> Response:
    return render(request, "error.html", status_code=403, title="无权访问", message="此页面仅对运营人员开放。")


async def _csrf_failed(request: Request, _exc: Exception) -> Response:
    return render(
        request, "error.html", status_code=403, title="请求已过期", message="页面已过期或来源不可信，请刷新后重试。"
    )
