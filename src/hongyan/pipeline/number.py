"""406: the mobile number is a valid mainland mobile (or, on isms.php, an international number)."""

from __future__ import annotations

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.domain.numbers import parse_international, parse_mainland
from hongyan.pipeline.context import SubmitContext


def valid_number(ctx: SubmitContext) -> Rejected | None:
    raw = ctx.req.mobile
    number = parse_international(raw) if ctx.req.international else parse_mainland(raw)
    if number is None:
        return Rejected.of(codes.BAD_MOBILE)
    ctx.number = number
    return None
