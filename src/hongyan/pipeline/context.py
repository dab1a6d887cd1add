"""The request and what the checks learn about it, passed from check to check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hongyan.domain.account import AccountView
from hongyan.domain.codes import Rejected
from hongyan.domain.numbers import Number
from hongyan.domain.signatures import Signed
from hongyan.domain.templates import Template


@dataclass(slots=True)
class SubmitRequest:
    """A Submit as the client sent it (all strings; missing parameters are empty)."""

    account: str
    password: str
    mobile: str
    content: str
    time: str = ""
    templateid: str = ""
    sign: str = ""
    client_ip: str = ""
    international: bool = False
    # REST v2 authenticates with a bearer key before the pipeline; it sets this instead of a password.
    preauthenticated: AccountView | None = None


NOT_CACHED = object()
"""``AccountLookup.peek``'s answer when the account is not at hand without awaiting."""


class AccountLookup(Protocol):
    """``await lookup(api_id)``; a lookup may also offer ``peek(api_id)`` (the account, None, or ``NOT_CACHED``)
    so that a cached account costs no await."""

    async def __call__(self, api_id: str) -> AccountView | None: ...


@dataclass(slots=True)
class PipelineConfig:
    dynamic_password_window_s: int
    default_signature: str
    max_content_chars: int
    clock: Callable[[], float]
    limit_per_second: int = 1
    limit_daily: int = 5
    limit_daily_codes: int = 5
    limit_daily_ceiling: int = 20
    marketing_hours: tuple[int, int] = (8, 21)


@dataclass(slots=True)
class SubmitContext:
    req: SubmitRequest
    config: PipelineConfig
    lookup: AccountLookup
    account: AccountView | None = None
    number: Number | None = None
    signed: Signed | None = None
    template: Template | None = None
    text: str = ""  # the full text as it will reach the handset, signature included
    segments: int = 0
    policy: Any = None  # hongyan.policy.state.PolicyState (blacklists, words)
    counters: Any = None  # hongyan.policy.counters.Counters
    taken: list[str] = field(default_factory=list)  # counter keys to give back if the message is not stored
    # the frequency-limit take left for the message's own transaction (counters with ``take_in_commit``):
    # ``pipeline.limits.DeferredTake``, answered by ``pipeline.limits.deferred_verdict``
    deferred: Any = None
    extras: dict[str, object] = field(default_factory=dict)


Check = Callable[[SubmitContext], "Rejected | Awaitable[Rejected | None] | None"]
