"""Operator review of signatures and templates (CLI and console share it).

A decision stores its reason (a rejection must have one: the customer sees it beside the item). A template
decision queues the template review push (SPEC.md §4) to the account's template URL in the same transaction
as the decision, through the outbox. Rejecting an approved signature that was the account's default makes
the next approved signature (or none) the default. ``ReviewState.PENDING`` puts an item back in the queue (a
customer applying again after a rejection): no reason, no push.
"""

from __future__ import annotations

from typing import Any

from hongyan.domain.pushes import template_fields
from hongyan.domain.states import ReviewState
from hongyan.services.platform import Platform
from hongyan.store import accounts as account_store
from hongyan.store import outbox
from hongyan.store import review as store
from hongyan.store.clock import now_ms

REASON_MAX = 200


def _decision(state: ReviewState, reason: str | None) -> str | None:
    if state is ReviewState.PENDING:  # back in the queue (a customer applies again): no reason, no push
        return None
    reason = (reason or "").strip() or None
    if state is ReviewState.REJECTED and reason is None:
        raise ValueError("驳回必须填写原因 (a rejection needs a reason)")
    if reason is not None and len(reason) > REASON_MAX:
        raise ValueError(f"原因最多 {REASON_MAX} 个字")
    return reason


async def review_signature(platform: Platform, sig_id: int, state: ReviewState, reason: str | None = None) -> None:
    """Approve (the first approved signature becomes the default), reject with a reason, or re-queue."""
    reason = _decision(state, reason)
    async with platform.engines.write.begin() as conn:
        await account_store.review_signature(conn, sig_id, state, reason)
        if state is not ReviewState.APPROVED:
            await store.drop_default_signature(conn, sig_id)
    platform.accounts.invalidate()


async def review_template(platform: Platform, tpl_id: int, state: ReviewState, reason: str | None = None) -> None:
    """Approve or reject; the review push is queued in the decision's transaction when the account has a URL."""
    reason = _decision(state, reason)
    async with platform.engines.write.begin() as conn:
        account_id = await account_store.review_template(conn, tpl_id, state, reason)
        if state is not ReviewState.PENDING:  # the form push to the template URL and/or the signed webhook
            fields = template_fields(template_id=tpl_id, approved=state is ReviewState.APPROVED, reason=reason)
            await outbox.enqueue_events(conn, [outbox.Event(account_id, "template", str(tpl_id), fields, now_ms())])
    platform.accounts.invalidate()


async def signature_queue(platform: Platform, state: str | None = ReviewState.PENDING.value) -> list[dict[str, Any]]:
    """Signatures in ``state`` (all when None) with their account's API ID and name, oldest first."""
    async with platform.engines.read.connect() as conn:
        return await store.signature_queue(conn, state)


async def template_queue(platform: Platform, state: str | None = ReviewState.PENDING.value) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        return await store.template_queue(conn, state)
