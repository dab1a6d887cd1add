"""4030: the number is on the global list, the account's list, its 408 auto-list or its unsubscribe list."""

from __future__ import annotations

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.pipeline.context import SubmitContext


def not_blacklisted(ctx: SubmitContext) -> Rejected | None:
    if ctx.policy is None:
        return None
    assert ctx.account is not None and ctx.number is not None
    if ctx.policy.is_blacklisted(ctx.account.id, ctx.number.national):
        return Rejected.of(codes.BLACKLISTED)
    return None
