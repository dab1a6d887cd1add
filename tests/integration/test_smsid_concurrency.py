"""smsids stay unique under concurrency and across several platform processes (node claims)."""

from __future__ import annotations

import asyncio

from hongyan.pipeline.context import SubmitRequest
from hongyan.services.platform import Platform
from hongyan.services.submit import submit
from tests.conftest import MOBILE, SIGNATURE


async def test_unique_across_platforms_and_concurrency(platform, settings, live) -> None:
    second = await Platform.open(settings)  # another process on the same database
    try:
        assert second.smsids.node != platform.smsids.node

        def req():
            return SubmitRequest(
                account=live.account, password=live.apikey, mobile=MOBILE, content=f"【{SIGNATURE}】hi"
            )

        outs = await asyncio.gather(*[submit(p, req()) for p in (platform, second) for _ in range(250)])
    finally:
        await second.close()
    ids = [o.smsid for o in outs]
    assert all(o.code == 2 for o in outs) and len(set(ids)) == 500
    assert all(len(i) == 20 and i.isdigit() for i in ids)
