"""Submit: run the pipeline, then store the message and deduct its segments in one commit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.pipeline.context import PipelineConfig, SubmitContext, SubmitRequest
from hongyan.pipeline.limits import deferred_verdict
from hongyan.pipeline.run import SUBMIT_CHECKS, run_checks
from hongyan.services.platform import Platform
from hongyan.store.messages import LimitHit, NewMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    code: int
    msg: str
    smsid: str = "0"
    segments: int = 0

    @classmethod
    def rejected(cls, r: Rejected) -> SubmitOutcome:
        return cls(r.code, r.msg)


def pipeline_config(platform: Platform) -> PipelineConfig:
    s = platform.settings
    return PipelineConfig(
        dynamic_password_window_s=s.dynamic_password_window_s,
        default_signature=s.default_signature,
        max_content_chars=s.max_content_chars,
        clock=platform.clock,
        limit_per_second=s.limit_per_second,
        limit_daily=s.limit_daily,
        limit_daily_codes=s.limit_daily_codes,
        limit_daily_ceiling=s.limit_daily_ceiling,
        marketing_hours=(s.marketing_start_hour, s.marketing_end_hour),
    )


async def submit(platform: Platform, req: SubmitRequest, checks=SUBMIT_CHECKS) -> SubmitOutcome:
    """Validate and, when accepted, durably store the message (answered only after the commit)."""
    ctx = SubmitContext(
        req=req,
        config=pipeline_config(platform),
        lookup=platform.accounts,
        policy=platform.policy,
        counters=platform.counters,
    )
    verdict = await run_checks(ctx, checks)
    if verdict is not None:
        return SubmitOutcome.rejected(verdict)
    assert ctx.account is not None and ctx.number is not None and ctx.signed is not None
    assert platform.smsids is not None
    smsid = platform.smsids.next()
    message = NewMessage(
        smsid=smsid,
        account_id=ctx.account.id,
        mobile=ctx.number.national,
        carrier=ctx.number.carrier,
        content=ctx.text,
        signature=ctx.signed.signature,
        template_id=ctx.template.id if ctx.template else None,
        segments=ctx.segments,
        unit_price_micros=ctx.account.unit_price_micros,
        take=ctx.deferred.take if ctx.deferred is not None else None,
    )
    try:
        stored = await platform.writer.write(message)
    except Exception:
        log.exception("submit not stored", extra={"account": ctx.account.api_id})
        await platform.counters.release(ctx.taken)
        return SubmitOutcome.rejected(Rejected.of(codes.FAILED))
    if isinstance(stored, LimitHit):  # the limits, taken in the message's transaction, refused it
        refused = deferred_verdict(ctx, stored.answer)
        return SubmitOutcome.rejected(await refused if isinstance(refused, Awaitable) else refused)
    if not stored:
        await platform.counters.release(ctx.taken)
        return SubmitOutcome.rejected(Rejected.of(codes.INSUFFICIENT_BALANCE))
    if log.isEnabledFor(logging.DEBUG):
        log.debug("accepted", extra={"smsid": smsid, "account": ctx.account.api_id, "segments": ctx.segments})
    return SubmitOutcome(codes.OK, codes.SUBMIT_MSG[codes.OK], smsid, ctx.segments)
