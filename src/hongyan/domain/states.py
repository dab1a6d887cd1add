"""Account and message states."""

from __future__ import annotations

from enum import StrEnum


class AccountState(StrEnum):
    TEST = "test"
    LIVE = "live"
    FROZEN = "frozen"


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class MessageState(StrEnum):
    ACCEPTED = "accepted"
    QUEUED = "queued"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"


class LedgerKind(StrEnum):
    GRANT = "grant"  # free test segments
    TOPUP = "topup"
    DEDUCT = "deduct"
    REFUND = "refund"
