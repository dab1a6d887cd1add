"""The message state machine: which transitions are legal (the store enforces them in one UPDATE).

accepted → queued → submitted → delivered | undelivered | expired | rejected | failed.
A queued message being retried stays queued (a new lease and a later ``next_attempt_at``, not a
transition); a message that cannot be sent at all goes from accepted/queued to failed or rejected.
"""

from __future__ import annotations

from hongyan.domain.states import MessageState as S

FINAL: frozenset[S] = frozenset({S.DELIVERED, S.UNDELIVERED, S.EXPIRED, S.REJECTED, S.FAILED})
FAILED_FINAL: frozenset[S] = FINAL - {S.DELIVERED}

ALLOWED: dict[S, frozenset[S]] = {
    S.ACCEPTED: frozenset({S.QUEUED, S.FAILED, S.REJECTED}),
    S.QUEUED: frozenset({S.SUBMITTED, S.FAILED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.DELIVERED, S.UNDELIVERED, S.EXPIRED, S.REJECTED, S.FAILED}),
    **{final: frozenset() for final in FINAL},
}


class IllegalTransition(RuntimeError):
    """A transition the state machine forbids, or a lost race (the row was no longer in ``from``)."""


def sources_of(target: S) -> frozenset[S]:
    """The states from which ``target`` may be reached."""
    return frozenset(src for src, dests in ALLOWED.items() if target in dests)


def check(source: S, target: S) -> None:
    if target not in ALLOWED[source]:
        raise IllegalTransition(f"{source.value} → {target.value} is not allowed")
