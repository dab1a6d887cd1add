"""Helpers of the admin pages: post/redirect/get with a one-line message, page numbers."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import RedirectResponse

from hongyan.store.accounts import NotFound


def back(path: str, *, ok: str | None = None, err: str | None = None) -> RedirectResponse:
    """303 to ``path`` carrying a message for the flash line (``?ok=`` or ``?err=``)."""
    query = urlencode({"ok": ok} if ok else {"err": err} if err else {})
    sep = "&" if "?" in path else "?"
    return RedirectResponse(path + (sep + query if query else ""), status_code=303)


def flash(request: Request) -> dict[str, str | None]:
    """Context for base.html's flash line from the redirect's query."""
    q = request.query_params
    if q.get("err"):
        return {"flash": q["err"][:300], "flash_kind": "error"}
    if q.get("ok"):
        return {"flash": q["ok"][:300], "flash_kind": "ok"}
    return {"flash": None, "flash_kind": None}


def page_no(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


EXPECTED_ERRORS = (ValueError, NotFound)  # an operator's input problem: shown on the page, not a 500
