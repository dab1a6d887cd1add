"""Frequency limits per account and number (SPEC.md §2): 408, then 4080, then 4085 (codes), then 4082.

- 408: every Submit that reaches this step is an *attempt* (accepted, or refused here by 4080/4082/4085).
  The attempt that passes the daily ceiling (default 20) puts the number on the account's ``auto408`` list
  and is answered ``发送超限([N]条)…``; later sends stop at 4030 until the account lifts it
  (``hongyan blacklist remove MOBILE --account C… --kind auto408``). The ceiling counts attempts, not
  accepted messages, so it means something while the daily limit (default 5) is lower: it stops a
  script hammering one number. The attempt count restarts when a number is listed, so a lifted number
  is not listed again by its very next attempt.
- 4080: more than ``limit_per_second`` (default 1) to the same number in one calendar second.
- 4082: more than the daily limit (default 5; ``accounts.limit_daily``) to the number in one Beijing
  calendar day (UTC+8); the text carries the limit.
- 4085: more than the daily code limit (default 5; ``accounts.limit_daily_codes``) verification codes to
  the number in one day. A message is a verification code when its template is a verification template,
  or its text matches ``CODE_PATTERN``.

4082 and 408 together: the ceiling always sits above the daily limit. When an account's daily limit is
raised to or past its ceiling, the effective ceiling becomes daily + the platform's gap (default
20 − 5 = 15): daily 30 → 30 accepted, 4082 for the next 15 attempts, 408 on attempt 46 (``[45]`` in the
text). An explicit ceiling above the daily limit is used as set.

The 4080/4085/4082 windows are taken all-or-nothing (a 4085 does not use up a 4082 unit), and given
back by the submit service when the message is finally not stored (4051, a store error). When a
verification code finds both its code limit and the daily limit full, it answers 4085: the more specific
limit wins, so 4085 is reachable at the equal defaults (5 and 5).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple, Protocol

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.domain.windows import OVER, Take, Window
from hongyan.pipeline.context import PipelineConfig, SubmitContext

BEIJING = timezone(timedelta(hours=8))
_DAY_TTL_SLACK_MS = 3_600_000  # a day window outlives its day by an hour (clock skew between processes)

# A keyword (验证码, 校验码, 动态码, 动态密码, 确认码, or the word code / Code / CODE), an optional "is", up
# to 6 separators, then a 4–8 letter/digit code with at least one digit, standing alone (so a phone
# number, or a word after 验证码, is not a code):
#   您的验证码是：123456 | 校验码 8a9F3c | 动态密码为 4821 | Your verification code is 552211 | CODE: 9K2X7
CODE_PATTERN = re.compile(
    r"(?:验证码|校验码|动态码|动态密码|确认码|(?<![A-Za-z])(?:[Cc]ode|CODE)(?![A-Za-z]))"
    r"(?:\s*(?:is|IS))?[^0-9A-Za-z]{0,6}"
    r"(?<![0-9A-Za-z])(?=[0-9A-Za-z]{0,7}[0-9])[0-9A-Za-z]{4,8}(?![0-9A-Za-z])"
)


def looks_like_code(text: str) -> bool:
    """``CODE_PATTERN``, after a cheap test that a keyword can be there (every Chinese keyword has 码)."""
    if "码" not in text and "ode" not in text and "ODE" not in text:
        return False
    return CODE_PATTERN.search(text) is not None


class OwnLimits(Protocol):
    """An account's own limits (``AccountView`` or an accounts row); None or 0: the platform default."""

    @property
    def limit_daily(self) -> int | None: ...
    @property
    def limit_daily_codes(self) -> int | None: ...
    @property
    def limit_daily_ceiling(self) -> int | None: ...


class Limits(NamedTuple):  # a NamedTuple: built on every Submit, and cheaper than a frozen dataclass
    per_second: int
    daily: int
    daily_codes: int
    ceiling: int


def effective_limits(account: OwnLimits, cfg: PipelineConfig) -> Limits:
    """The account's limits: its own values, else the platform's, with the ceiling kept above the daily limit."""
    daily = account.limit_daily or cfg.limit_daily
    ceiling = account.limit_daily_ceiling or cfg.limit_daily_ceiling
    if ceiling <= daily:
        ceiling = daily + max(1, cfg.limit_daily_ceiling - cfg.limit_daily)
    return Limits(cfg.limit_per_second, daily, account.limit_daily_codes or cfg.limit_daily_codes, ceiling)


_day_cache: list[tuple[int, str, int]] = [(-1, "", 0)]  # (unix second, day, ms left at that second)


def beijing_day(now: float) -> tuple[str, int]:
    """The Beijing calendar day of ``now`` (``YYYYMMDD``) and the milliseconds left in it (to the second:
    it only sets a TTL, which has an hour of slack). Computed once per second of the clock."""
    second = int(now)
    cached = _day_cache[0]
    if cached[0] == second:
        return cached[1], cached[2]
    local = second + 8 * 3600  # China has no daylight saving time
    day = local // 86400
    name = datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y%m%d")
    _day_cache[0] = (second, name, ((day + 1) * 86400 - local) * 1000)
    return name, _day_cache[0][2]


def is_verification(ctx: SubmitContext) -> bool:
    if ctx.template is not None and ctx.template.is_verification:
        return True
    return looks_like_code(ctx.text)


async def _ceiling_passed(ctx: SubmitContext, attempts: Window, day: str, ceiling: int) -> Rejected:
    """408: list the number for the account (seen by this process at once) and restart its attempt count."""
    account, number = ctx.account, ctx.number
    assert account is not None and number is not None and ctx.counters is not None
    await ctx.counters.clear([attempts.key])
    if ctx.policy is not None and not ctx.policy.is_blacklisted(account.id, number.national):
        await ctx.policy.blacklist_auto(account.id, number.national, f"{day}: over {ceiling} attempts")
    return Rejected.of(codes.DAILY_CEILING_BLACKLISTED, n=ceiling)


def frequency_limits(ctx: SubmitContext) -> Rejected | Awaitable[Rejected | None] | None:
    """408, 4080, 4082, 4085; on success the taken keys are left in ``ctx.taken`` for a later release.
    Synchronous when the counters can take without a round trip (``take_now``: the in-process ones)."""
    if ctx.counters is None:
        return None
    account, number, cfg = ctx.account, ctx.number, ctx.config
    assert account is not None and number is not None
    limits = effective_limits(account, cfg)
    now = cfg.clock()
    day, left_ms = beijing_day(now)
    day_ttl = left_ms + _DAY_TTL_SLACK_MS
    who = f"{account.id}:{number.national}"

    second = Window(f"sec:{who}:{int(now)}", limits.per_second, 2_000)
    daily = Window(f"day:{who}:{day}", limits.daily, day_ttl)
    if is_verification(ctx):  # the more specific limit answers first, so 4085 is reachable at equal defaults
        windows: tuple[Window, ...] = (second, Window(f"code:{who}:{day}", limits.daily_codes, day_ttl), daily)
    else:
        windows = (second, daily)
    attempts = Window(f"att:{who}:{day}", limits.ceiling, day_ttl)
    if getattr(ctx.counters, "take_in_commit", False):
        # the SQLite counters of several processes: taken in the transaction that stores the message (one lock
        # turn for both); the store answers with the take's result, and ``deferred_verdict`` reads it
        ctx.deferred = DeferredTake(Take(windows, attempts), day, limits)
        return None
    take_now = getattr(ctx.counters, "take_now", None)
    if take_now is not None:
        return _verdict(ctx, take_now(windows, counted=attempts), windows, attempts, day, limits)
    return _take(ctx, windows, attempts, day, limits)


class DeferredTake(NamedTuple):
    take: Take  # windows and the attempt count, as ``Counters.take`` gets them
    day: str
    limits: Limits


def deferred_verdict(ctx: SubmitContext, answer: int) -> Rejected | Awaitable[Rejected]:
    """The answer of a take applied by the store (``ctx.deferred``, refused: a window index or ``OVER``) as the
    check's result; the 408 path awaits (it lists the number)."""
    d: DeferredTake = ctx.deferred
    attempts = d.take.counted
    assert attempts is not None  # frequency_limits always counts the attempt
    verdict = _verdict(ctx, answer, tuple(d.take.windows), attempts, d.day, d.limits)
    assert verdict is not None
    return verdict


async def _take(
    ctx: SubmitContext, windows: tuple[Window, ...], attempts: Window, day: str, limits: Limits
) -> Rejected | None:
    full = await ctx.counters.take(windows, counted=attempts)  # one round trip for all four
    verdict = _verdict(ctx, full, windows, attempts, day, limits)
    return await verdict if isinstance(verdict, Awaitable) else verdict


def _verdict(
    ctx: SubmitContext, full: int | None, windows: tuple[Window, ...], attempts: Window, day: str, limits: Limits
) -> Rejected | Awaitable[Rejected] | None:
    """What ``take`` answered, as a check result (the 408 path awaits: it lists the number)."""
    if full is None:
        ctx.taken = [w.key for w in windows]
        return None
    if full == OVER:
        return _ceiling_passed(ctx, attempts, day, limits.ceiling)
    if full == 0:
        return Rejected.of(codes.PER_SECOND)
    if windows[full].key.startswith("day:"):
        return Rejected.of(codes.DAILY_LIMIT, n=limits.daily)
    return Rejected.of(codes.CODE_LIMIT, n=limits.daily_codes)
