"""Dispatcher + router with channel groups and weights, against in-test channels."""

from __future__ import annotations

from hongyan.services import accounts as account_service
from hongyan.store import channels as channel_store
from hongyan.store.accounts import get_account
from hongyan.workers.routing import Route
from tests.conftest import SIGNATURE, Creds
from tests.integration.test_dispatcher import FakeCarrier, _run, _send_many, _stop, _wait_states

MOBILE = frozenset({"mobile"})


async def test_weights_spread_the_messages_three_to_one(platform, live) -> None:
    a, b, spare = FakeCarrier("a"), FakeCarrier("b"), FakeCarrier("spare")
    routes = [Route(a, MOBILE, weight=3), Route(b, MOBILE, weight=1), Route(spare, MOBILE, "backup", weight=5)]
    d, intake = await _run(platform, routes)
    smsids = await _send_many(platform, live, 400)
    states = await _wait_states(platform, smsids, {"delivered"})
    await _stop(d, intake, routes)
    assert set(states.values()) == {"delivered"}
    assert (sum(a.sent.values()), sum(b.sent.values()), len(spare.sent)) == (300, 100, 0)
    assert max((a.sent + b.sent).values()) == 1


async def test_account_group_from_the_database_routes_its_messages(platform, live) -> None:
    vip_creds = await account_service.create_account(platform, "vip-co", balance=100, live=True)
    await account_service.add_signature(platform, vip_creds.account, SIGNATURE, approve=True)
    await account_service.set_fields(platform, vip_creds.account, channel_group="vip")
    async with platform.engines.read.connect() as conn:
        groups = await channel_store.account_groups(conn)
        vip_id = (await get_account(conn, vip_creds.account)).id
    assert groups == {vip_id: "vip"}

    default, vip = FakeCarrier("d"), FakeCarrier("v")
    routes = [Route(default, MOBILE), Route(vip, MOBILE, group="vip")]
    d, intake = await _run(platform, routes)
    d.account_groups = groups
    vip_sms = await _send_many(platform, Creds(vip_creds.account, vip_creds.apikey), 20)
    other_sms = await _send_many(platform, live, 20)
    states = await _wait_states(platform, vip_sms + other_sms, {"delivered"})
    await _stop(d, intake, routes)
    assert set(states.values()) == {"delivered"}
    assert set(vip.sent) == set(vip_sms) and set(default.sent) == set(other_sms)

    # '' (or "default") takes the account back to the default group
    await account_service.set_fields(platform, vip_creds.account, channel_group="")
    async with platform.engines.read.connect() as conn:
        assert await channel_store.account_groups(conn) == {}
        assert (await get_account(conn, vip_creds.account)).channel_group is None
