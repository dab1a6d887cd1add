"""Channel groups end to end over real SMPP sockets: an account assigned the group "vip" (while the worker runs) has
its messages sent by the vip simulator, every other account's by the default one; a carrier the vip group does not
serve falls back to default."""

from __future__ import annotations

import asyncio
import time

import pytest

from hongyan.services import accounts as account_service
from hongyan.services import channels as channel_svc
from hongyan.simulator import Simulator
from hongyan.workers.runtime import DeliveryRuntime
from tests.conftest import SIGNATURE, Creds
from tests.e2e.test_delivery_smpp import _wait_final


async def _submit(client, creds, mobiles: list[str]) -> list[str]:
    async def one(mobile: str) -> str:
        r = await client.post(
            "/webservice/sms.php?method=Submit&format=json",
            data={
                "account": creds.account,
                "password": creds.apikey,
                "mobile": mobile,
                "content": f"【{SIGNATURE}】您的订单{mobile}已发货",
            },
        )
        body = r.json()
        assert body["code"] == 2, body
        return body["smsid"]

    return await asyncio.gather(*[one(m) for m in mobiles])


@pytest.fixture
async def sims():
    default, vip = (Simulator(system_id="hongyan", password="secret", dlr_delay_s=0.01, seed=s) for s in (1, 2))
    await default.start()
    await vip.start()
    yield default, vip
    await default.stop()
    await vip.stop()


async def test_vip_account_routes_to_the_vip_channel(platform, client, live, sims) -> None:
    default_sim, vip_sim = sims
    common = {"password": "secret", "system_id": "hongyan", "window": 20, "tps": 5000}
    await channel_svc.add_channel(platform, "plain", f"127.0.0.1:{default_sim.port}", **common)
    await channel_svc.add_channel(
        platform, "vip1", f"127.0.0.1:{vip_sim.port}", carriers="mobile", group_name="vip", **common
    )
    c = await account_service.create_account(platform, "vip-co", balance=100, live=True)
    await account_service.add_signature(platform, c.account, SIGNATURE, approve=True)
    vip = Creds(c.account, c.apikey)

    runtime = DeliveryRuntime(platform, reload_s=0.1)
    await runtime.start()
    try:
        deadline = time.monotonic() + 10
        while not all(r.channel.available for r in runtime.router.routes):
            assert time.monotonic() < deadline, "channels did not bind"
            await asyncio.sleep(0.02)
        platform.writer.on_commit.append(runtime.dispatcher.wake)
        # assigned while the worker runs: the reload brings it in
        await account_service.set_fields(platform, vip.account, channel_group="vip")
        while not runtime.dispatcher.account_groups:
            assert time.monotonic() < deadline + 10, "the account group was not reloaded"
            await asyncio.sleep(0.02)

        vip_mobile = [f"1390000{i:04d}" for i in range(30)]  # China Mobile: the vip group serves it
        vip_unicom = [f"1300000{i:04d}" for i in range(10)]  # China Unicom: vip has no channel, default serves
        others = [f"1380000{i:04d}" for i in range(30)]
        await _submit(client, vip, vip_mobile + vip_unicom)
        await _submit(client, live, others)
        states = await _wait_final(platform, 70)
    finally:
        await runtime.stop()
    assert sum(states.values()) == 70 and states.get("delivered") == 70, states
    assert set(vip_sim.messages_by_destination) == set(vip_mobile)
    assert set(default_sim.messages_by_destination) == set(vip_unicom + others)
    assert max((vip_sim.messages_by_destination + default_sim.messages_by_destination).values()) == 1
