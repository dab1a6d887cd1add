"""The order of the Submit checks (SPEC.md §2, documented in docs/ARCHITECTURE.md and tested).

Missing fields, then authentication, then the number, then the content, then the limits; the balance
(4051) is decided last, atomically with the deduction, by the message writer.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from types import CoroutineType

from hongyan.domain.codes import Rejected
from hongyan.pipeline import auth, blacklist, content, fields, limits, marketing, number, words
from hongyan.pipeline.context import Check, SubmitContext

SUBMIT_CHECKS: tuple[Check, ...] = (
    fields.required_fields,  # 401 402 403 404
    auth.authenticate,  # 405 40501 40502
    auth.not_frozen,  # 4050
    auth.ip_rules,  # 400 4052
    number.valid_number,  # 406
    blacklist.not_blacklisted,  # 4030
    words.no_sensitive_words,  # 407
    content.signature_format,  # 4070
    content.template_rules,  # 4071 4072 40722 (test mode: default template only)
    content.length_limit,  # 4073
    content.no_emoji,  # 4074
    content.signature_approved,  # 4075
    marketing.marketing_rules,  # 0: opt-out text, 08:00-21:00 (a documented choice)
    limits.frequency_limits,  # 408 4080 4082 4085
)


async def run_checks(ctx: SubmitContext, checks: Sequence[Check] = SUBMIT_CHECKS) -> Rejected | None:
    """Run checks in order; the first rejection wins."""
    for check in checks:
        verdict = check(ctx)
        if verdict is None:  # most checks pass synchronously: no awaitable test (inspect's ABC check is slow)
            continue
        if type(verdict) is CoroutineType or inspect.isawaitable(verdict):
            verdict = await verdict
            if verdict is None:
                continue
        return verdict
    return None
