"""The console's routes: one module per area; every route is under /console and checks CSRF on POST."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from hongyan.console.auth import check_csrf
from hongyan.console.pages import billing, content, credentials, debug, home, records, session

router = APIRouter(prefix="/console", dependencies=[Depends(check_csrf)], include_in_schema=False)
for module in (session, home, credentials, debug, content, records, billing):
    router.include_router(module.router)

try:  # the operators' pages, when present
    from hongyan.console.admin import router as admin_router
except ImportError:  # pragma: no cover - the admin side is built separately
    admin_router = None
if admin_router is not None:
    router.include_router(admin_router)
