"""Enterprise certification (企业认证): a customer submits, an operator approves or rejects with a reason.

Decision: approval is the go-live gate. Approving moves an account still in test mode to live in the same
transaction (the operator has just checked the company; a second "go live" click would add nothing). A
frozen account stays frozen, a live one stays live. A rejected customer may submit again; while a
submission is pending or approved, another is refused.
"""

from __future__ import annotations

from typing import Any

from hongyan.domain.certification import CertificationForm, clean, problems
from hongyan.domain.states import ReviewState
from hongyan.services.platform import Platform
from hongyan.store import certifications as store

REASON_MAX = 200


class InvalidCertification(ValueError):
    """The form has problems: ``errors`` maps each bad field to a message for the form."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("；".join(errors.values()))
        self.errors = errors


async def submit(
    platform: Platform, account_id: int, *, company_name: str, licence_no: str, contact_name: str, contact_phone: str
) -> int:
    """Validate and store a pending submission; returns its id."""
    form = clean(company_name, licence_no, contact_name, contact_phone)
    if errors := problems(form):
        raise InvalidCertification(errors)
    async with platform.engines.write.begin() as conn:
        current = await store.latest(conn, account_id)
        if current is not None and current["state"] == ReviewState.PENDING.value:
            raise ValueError("已有认证资料在审核中，请等待审核结果")
        if current is not None and current["state"] == ReviewState.APPROVED.value:
            raise ValueError("企业认证已通过，无需重复提交")
        return await store.insert_pending(conn, account_id, form)


async def status(platform: Platform, account_id: int) -> dict[str, Any] | None:
    """The account's newest submission (state, reason, fields), or None when it never submitted."""
    async with platform.engines.read.connect() as conn:
        return await store.latest(conn, account_id)


async def queue(platform: Platform, state: str | None = ReviewState.PENDING.value) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        return await store.queue(conn, state)


async def approve(platform: Platform, cert_id: int) -> None:
    """Approve a pending submission; a test-mode account goes live with it."""
    async with platform.engines.write.begin() as conn:
        cert = await store.get(conn, cert_id)
        if not await store.decide(conn, cert_id, ReviewState.APPROVED, None):
            raise ValueError(f"认证 {cert_id} 已审核过（{cert['state']}）")
        await store.go_live_if_test(conn, cert["account_id"])
    platform.accounts.invalidate()


async def reject(platform: Platform, cert_id: int, reason: str) -> None:
    """Reject a pending submission; the reason is shown to the customer, who may submit again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("驳回必须填写原因 (a rejection needs a reason)")
    if len(reason) > REASON_MAX:
        raise ValueError(f"原因最多 {REASON_MAX} 个字")
    async with platform.engines.write.begin() as conn:
        cert = await store.get(conn, cert_id)
        if not await store.decide(conn, cert_id, ReviewState.REJECTED, reason):
            raise ValueError(f"认证 {cert_id} 已审核过（{cert['state']}）")


__all__ = ["CertificationForm", "InvalidCertification", "approve", "queue", "reject", "status", "submit"]
