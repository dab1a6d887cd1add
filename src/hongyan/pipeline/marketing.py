"""Marketing messages (a signature or template of category ``marketing``): they must end with the
opt-out ``拒收请回复R`` and are only sent 08:00–21:00 Beijing time. Both answer code 0 with a clear
message (ihuyi has no code for these; a documented choice)."""

from __future__ import annotations

from datetime import UTC, datetime

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.pipeline.context import SubmitContext
from hongyan.pipeline.limits import BEIJING

OPT_OUT = "拒收请回复R"
MSG_OPT_OUT = f"营销短信须以“{OPT_OUT}”结尾"


def is_marketing(ctx: SubmitContext) -> bool:
    account, signed = ctx.account, ctx.signed
    assert account is not None and signed is not None
    return signed.signature in account.marketing_signatures or (
        ctx.template is not None and ctx.template.category == "marketing"
    )


def marketing_rules(ctx: SubmitContext) -> Rejected | None:
    if not is_marketing(ctx):
        return None
    assert ctx.signed is not None
    if not ctx.signed.body.rstrip().endswith(OPT_OUT):
        return Rejected.of(codes.FAILED, msg=MSG_OPT_OUT)
    start, end = ctx.config.marketing_hours
    hour = datetime.fromtimestamp(ctx.config.clock(), tz=UTC).astimezone(BEIJING).hour
    if not start <= hour < end:
        return Rejected.of(codes.FAILED, msg=f"营销短信仅限北京时间{start:02d}:00-{end:02d}:00发送")
    return None
