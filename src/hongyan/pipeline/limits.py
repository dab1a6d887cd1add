"""Frequency limits per account and number: 408, then 4080, then 4085 (verification codes), then 4082.

- 408: every Submit that reaches this step counts as an attempt; a number whose attempts pass the daily
  ceiling (default 20) is put on the account's auto-blacklist and answered 408 — later sends get 4030.
  The ceiling counts attempts, not accepted messages, so it still means something when the daily limit
  (default 5) is lower: it stops a script hammering one number (SMS bombing). An account whose daily limit
  is raised above the ceiling gets the ceiling raised with it (ceiling = max(ceiling, daily limit)).
- 4080: more than ``limit_per_second`` (default 1) to the same number within one second.
- 4082: more than the daily limit (default 5) to the number in one Beijing calendar day.
- 4085: more than the daily code limit (default 5) verification codes to the number in one day; a message
  is a verification code when its template is a verification template, or its text matches
  ``CODE_PATTERN`` (验证码/校验码/动态码/动态密码/verification code, then a 4–8 character code).
A message refused later (balance) gives its 4080/4082/4085 units back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.pipeline.context import SubmitContext
from hongyan.policy.counters import Window

BEIJING = timezone(timedelta(hours=8))
CODE_PATTERN = re.compile(r"(验证码|校验码|动态码|动态密码|verification code)\D{0,6}[0-9A-Za-z]{4,8}", re.IGNORECASE)


def beijing_day(now: float) -> tuple[str, int]:
    """The Beijing calendar day of ``now`` and the milliseconds left in it."""
    dt = datetime.fromtimestamp(now, tz=UTC).astimezone(BEIJING)
    midnight = (dt + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return dt.strftime("%Y%m%d"), max(1, int((midnight - dt).total_seconds() * 1000))


def is_verification(ctx: SubmitContext) -> bool:
    return bool(ctx.template is not None and ctx.template.is_verification) or bool(CODE_PATTERN.search(ctx.text))


async def frequency_limits(ctx: SubmitContext) -> Rejected | None:
    if ctx.counters is None:
        return None
    account, number, cfg = ctx.account, ctx.number, ctx.config
    assert account is not None and number is not None
    now = cfg.clock()
    day, left_ms = beijing_day(now)
    who = f"{account.id}:{number.national}"
    daily = account.limit_daily or cfg.limit_daily
    codes_limit = account.limit_daily_codes or cfg.limit_daily_codes
    ceiling = max(account.limit_daily_ceiling or cfg.limit_daily_ceiling, daily)

    attempts = await ctx.counters.incr(f"att:{who}:{day}", left_ms + 3_600_000)
    if attempts > ceiling:
        if ctx.policy is not None and not ctx.policy.is_blacklisted(account.id, number.national):
            await ctx.policy.blacklist_auto(account.id, number.national, f"daily ceiling {ceiling}")
        return Rejected.of(codes.DAILY_CEILING_BLACKLISTED, n=ceiling)

    windows = [Window(f"sec:{who}:{int(now)}", cfg.limit_per_second, 2_000)]
    answers = [Rejected.of(codes.PER_SECOND)]
    if is_verification(ctx):  # the more specific limit answers first, so 4085 is reachable at equal defaults
        windows.append(Window(f"code:{who}:{day}", codes_limit, left_ms + 3_600_000))
        answers.append(Rejected.of(codes.CODE_LIMIT, n=codes_limit))
    windows.append(Window(f"day:{who}:{day}", daily, left_ms + 3_600_000))
    answers.append(Rejected.of(codes.DAILY_LIMIT, n=daily))
    full = await ctx.counters.take(windows)
    if full is not None:
        return answers[full]
    ctx.taken = [w.key for w in windows]
    return None
