"""407: the content (or the sign parameter) contains a sensitive word."""

from __future__ import annotations

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.pipeline.context import SubmitContext


def no_sensitive_words(ctx: SubmitContext) -> Rejected | None:
    if ctx.policy is None:
        return None
    words = ctx.policy.words
    if words.find(ctx.req.content) or (ctx.req.sign and words.find(ctx.req.sign)):
        return Rejected.of(codes.SENSITIVE)
    return None
