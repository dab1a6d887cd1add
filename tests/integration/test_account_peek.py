"""``AccountCache.peek``: a cached account (or a cached "no such account") without an await; anything else is
``NOT_CACHED`` and the check loads it. Authentication then answers synchronously, with the same verdicts."""

from __future__ import annotations

import inspect

from hongyan.pipeline.auth import authenticate
from hongyan.pipeline.context import NOT_CACHED, SubmitContext, SubmitRequest
from hongyan.services.submit import pipeline_config
from tests.conftest import Creds


def _ctx(platform, account: str, password: str) -> SubmitContext:
    req = SubmitRequest(account, password, "13800138000", "hi", client_ip="127.0.0.1")
    return SubmitContext(req=req, config=pipeline_config(platform), lookup=platform.accounts)


async def _run(ctx: SubmitContext):
    verdict = authenticate(ctx)
    return (await verdict if inspect.isawaitable(verdict) else verdict), inspect.isawaitable(verdict)


async def test_peek_and_synchronous_authentication(platform, live: Creds) -> None:
    cache = platform.accounts
    cache.ttl = 3600.0  # no expiry in the middle of the test, however loaded the machine
    cache.invalidate()
    assert cache.peek(live.account) is NOT_CACHED
    verdict, awaited = await _run(_ctx(platform, live.account, live.apikey))
    assert verdict is None and awaited  # loaded
    view = cache.peek(live.account)
    assert view is not NOT_CACHED and view.api_id == live.account
    ctx = _ctx(platform, live.account, live.apikey)
    verdict, awaited = await _run(ctx)
    assert verdict is None and not awaited and ctx.account is view  # from the cache, no await
    verdict, awaited = await _run(_ctx(platform, live.account, "wrong"))
    assert verdict is not None and verdict.code == 405 and not awaited

    assert (await _run(_ctx(platform, "C99999999", "x")))[0].code == 405  # loaded: no such account
    assert cache.peek("C99999999") is None  # ... and that is cached too
    verdict, awaited = await _run(_ctx(platform, "C99999999", "x"))
    assert verdict.code == 405 and not awaited

    cache.invalidate(live.account)
    assert cache.peek(live.account) is NOT_CACHED
    verdict, awaited = await _run(_ctx(platform, live.account, live.apikey))
    assert verdict is None and awaited
