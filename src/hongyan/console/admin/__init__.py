"""The operators' pages under /console/admin: accounts, review queues, certification, channels, policy,
carrier status codes and the system chart. Every route requires an operator; POSTs are CSRF-checked by the
console router this one is included in (``hongyan.console.pages``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from hongyan.console.admin import accounts, policy, review, system
from hongyan.console.auth import require_operator

router = APIRouter(prefix="/admin", dependencies=[Depends(require_operator)])
for module in (system, accounts, review, policy):
    router.include_router(module.router)
