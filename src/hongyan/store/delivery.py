"""Delivery queries, one import for the workers: what the dispatcher records (``hongyan.store.dispatch``), receipts
and what comes of them (``hongyan.store.receipts``), and the state changes both apply
(``hongyan.store.transitions``: conditional UPDATE + ``message_events`` row, refund and receipt push with a
final failure, all in one transaction).
"""

from __future__ import annotations

from hongyan.store.dispatch import (
    INTERRUPTED,
    RECONCILED,
    DueMessage,
    Interrupted,
    Settled,
    Submitted,
    lease_due,
    mark_submitting,
    record_failed,
    record_failed_in,
    record_in_doubt,
    record_in_doubt_in,
    record_retry,
    record_retry_in,
    record_submitted,
    record_submitted_in,
    settle_interrupted,
)
from hongyan.store.receipts import (
    ReceiptIn,
    UnparsedIn,
    apply_in,
    apply_receipts,
    expire_overdue,
    reconcile_pending,
    store_unparsed,
)
from hongyan.store.transitions import Finished, finish, transition

__all__ = [
    "INTERRUPTED",
    "RECONCILED",
    "DueMessage",
    "Finished",
    "Interrupted",
    "ReceiptIn",
    "Settled",
    "Submitted",
    "UnparsedIn",
    "apply_in",
    "apply_receipts",
    "expire_overdue",
    "finish",
    "lease_due",
    "mark_submitting",
    "reconcile_pending",
    "record_failed",
    "record_failed_in",
    "record_in_doubt",
    "record_in_doubt_in",
    "record_retry",
    "record_retry_in",
    "record_submitted",
    "record_submitted_in",
    "settle_interrupted",
    "store_unparsed",
    "transition",
]
