"""401–404: required parameters present (empty or whitespace counts as missing)."""

from __future__ import annotations

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.pipeline.context import SubmitContext


def required_fields(ctx: SubmitContext) -> Rejected | None:
    r = ctx.req
    if r.preauthenticated is None:
        if not r.account.strip():
            return Rejected.of(codes.NO_ACCOUNT)
        if not r.password.strip():
            return Rejected.of(codes.NO_PASSWORD)
    if not r.mobile.strip():
        return Rejected.of(codes.NO_MOBILE)
    if not r.content.strip():
        return Rejected.of(codes.NO_CONTENT)
    return None
