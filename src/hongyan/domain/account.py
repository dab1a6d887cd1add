"""What the Submit pipeline knows about an account: a read-only snapshot, cached for a moment."""

from __future__ import annotations

from dataclasses import dataclass, field

from hongyan.domain.states import AccountState
from hongyan.domain.templates import Template


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    api_id: str
    apikey: str
    state: AccountState
    allowed_ips: frozenset[str] = frozenset()
    registered_ips: frozenset[str] = frozenset()
    default_signature: str | None = None
    require_template: bool = False
    approved_signatures: frozenset[str] = frozenset()
    templates: dict[int, Template] = field(default_factory=dict)  # approved ones, built-in included
    marketing_signatures: frozenset[str] = frozenset()
    limit_daily: int | None = None  # None: the platform default
    limit_daily_codes: int | None = None
    limit_daily_ceiling: int | None = None
    unit_price_micros: int | None = None


def parse_ip_list(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in text.replace(";", ",").split(",") if p.strip())
