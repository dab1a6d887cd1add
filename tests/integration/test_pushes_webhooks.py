"""Signed JSON webhooks (Standard Webhooks) to a real receiver on 127.0.0.1, verified with the `standardwebhooks`
package and with the recipe of docs/webhooks.md; the ihuyi form pushes beside them stay unsigned."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import standardwebhooks
from sqlalchemy import select
from typer.testing import CliRunner

from hongyan.cli.main import app
from hongyan.domain import webhooks as wh
from hongyan.services import accounts as svc
from hongyan.services import pushes as push_svc
from hongyan.store.tables import outbox, webhooks
from hongyan.workers.pusher import Pusher
from hongyan.workers.routing import Route
from tests.integration.test_dispatcher import FakeCarrier, _run, _send_many, _stop, _wait_states
from tests.integration.test_pushes import FAST, _wait

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


@pytest.fixture(scope="module")
def recipe():
    """The verification recipe exactly as docs/webhooks.md prints it."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(DOC), "exec"), ns)
    return ns


def _pusher(platform) -> Pusher:
    return Pusher(
        platform.engines.write,
        skip_locked=not platform.engines.is_sqlite,
        policy=FAST,
        poll_s=0.01,
        keybox=platform.keybox,
    )


def _hooks(receiver) -> list[tuple[dict[str, str], bytes]]:
    return [(h, b) for h, b in receiver.raw if h.get("content-type") == "application/json"]


async def _deliver(platform, live, n: int, stat: str = "DELIVRD") -> list[str]:
    routes = [Route(FakeCarrier("p", stat=stat), frozenset({"mobile"}))]
    d, intake = await _run(platform, routes)
    smsids = await _send_many(platform, live, n)
    await _wait_states(platform, smsids, {"delivered" if stat == "DELIVRD" else "undelivered"})
    await _stop(d, intake, routes)
    return smsids


async def test_receipts_as_signed_webhooks_beside_form_pushes(platform, live, receiver, recipe) -> None:
    hook = await push_svc.set_webhook(platform, live.account, url=receiver.url + "/hook")
    secret = hook["secret"]
    assert secret.startswith("whsec_") and hook["events"] == list(wh.EVENT_TYPES)
    await svc.set_fields(platform, live.account, receipt_url=receiver.url)
    smsids = await _deliver(platform, live, 20)
    pusher = _pusher(platform)
    await pusher.start()
    await _wait(lambda: receiver.received() == 40)
    await pusher.stop()

    # The ihuyi form pushes are unchanged: unsigned, one per receipt.
    assert sorted(receiver.got) == sorted(smsids)
    forms = [h for h, _ in receiver.raw if h["content-type"] == "application/x-www-form-urlencoded"]
    assert len(forms) == 20 and not any(k.startswith("webhook-") for h in forms for k in h)
    # The webhooks verify with the standard library and with the recipe; each id once.
    hooks = _hooks(receiver)
    verifier = standardwebhooks.Webhook(secret)
    events = [verifier.verify(body, headers) for headers, body in hooks]
    assert [recipe["verify_webhook"](secret, body, headers) for headers, body in hooks] == events
    assert sorted(e["data"]["smsid"] for e in events) == sorted(smsids)
    assert {e["type"] for e in events} == {"message.delivered"}
    one = events[0]
    assert set(one) == {"type", "timestamp", "data"} and one["timestamp"].endswith("Z")
    assert one["data"]["status"] == "delivered" and one["data"]["carrier_status"] == "DELIVRD"
    assert one["data"]["code"] == 2 and one["data"]["mobile"].startswith("139")
    assert len({h["webhook-id"] for h, _ in hooks}) == 20
    assert all(abs(int(h["webhook-timestamp"]) - time.time()) < 60 for h, _ in hooks)


async def test_tampered_old_or_foreign_webhooks_are_rejected(platform, live, receiver, recipe) -> None:
    secret = (await push_svc.set_webhook(platform, live.account, url=receiver.url))["secret"]
    await _deliver(platform, live, 1, stat="UNDELIV")
    pusher = _pusher(platform)
    await pusher.start()
    await _wait(lambda: receiver.received() == 1)
    await pusher.stop()
    (headers, body) = receiver.raw[0]
    verify, invalid = recipe["verify_webhook"], recipe["InvalidWebhook"]
    event = verify(secret, body, headers)
    assert event["type"] == "message.failed" and event["data"]["carrier_status"] == "UNDELIV"

    tampered = body.replace(b'"UNDELIV"', b'"DELIVRD"')
    assert tampered != body
    with pytest.raises(invalid):
        verify(secret, tampered, headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(tampered, headers)
    # A captured request replayed later than 5 minutes: refused by the timestamp window.
    with pytest.raises(invalid, match="5 minutes"):
        verify(secret, body, headers, now=int(headers["webhook-timestamp"]) + 301)
    assert verify(secret, body, headers, now=int(headers["webhook-timestamp"]) + 299) == event
    # Re-signed with an old timestamp (what an attacker without the secret cannot do anyway).
    old = str(int(time.time()) - 600)
    stale = {
        **headers,
        "webhook-timestamp": old,
        "webhook-signature": wh.sign(secret, headers["webhook-id"], int(old), body.decode()),
    }
    with pytest.raises(invalid):
        verify(secret, body, stale)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body, stale)
    # The timestamp is signed: moving it without re-signing breaks the signature.
    with pytest.raises(invalid, match="signature"):
        verify(secret, body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)})
    with pytest.raises(invalid):
        verify(wh.new_secret(), body, headers)
    with pytest.raises(invalid, match="missing"):
        verify(secret, body, {"webhook-id": headers["webhook-id"]})


async def test_retries_keep_id_and_body_and_sign_each_attempt(platform, live, receiver) -> None:
    secret = (await push_svc.set_webhook(platform, live.account, url=receiver.url))["secret"]
    receiver.script = [(500, b"oops"), (302, b"", [(b"location", b"http://127.0.0.1:9/x")])]
    await _deliver(platform, live, 1)
    pusher = _pusher(platform)
    await pusher.start()
    await _wait(lambda: receiver.received() == 3)
    await pusher.stop()
    hooks = _hooks(receiver)
    assert len({h["webhook-id"] for h, _ in hooks}) == 1 and len({b for _, b in hooks}) == 1
    for headers, body in hooks:
        standardwebhooks.Webhook(secret).verify(body, headers)
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(outbox.c.state, outbox.c.attempts, outbox.c.webhook_id))).one()
    assert row.state == "delivered" and row.attempts == 3 and row.webhook_id == hooks[0][0]["webhook-id"]


async def test_rotation_signs_with_both_secrets_during_grace(platform, live, receiver) -> None:
    old = (await push_svc.set_webhook(platform, live.account, url=receiver.url))["secret"]
    new = await push_svc.rotate_webhook_secret(platform, live.account, grace_s=3600)
    assert new != old and new.startswith("whsec_")
    await _deliver(platform, live, 1)
    pusher = _pusher(platform)
    await pusher.start()
    await _wait(lambda: receiver.received() == 1)
    headers, body = receiver.raw[0]
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(body, headers)
    # Rotating again without grace: only the newest secret signs.
    newest = await push_svc.rotate_webhook_secret(platform, live.account, grace_s=0)
    await push_svc.set_webhook(platform, live.account, url=receiver.url, events="message.failed")
    assert (await push_svc.get_webhook(platform, live.account, reveal=True))["secret"] == newest
    await push_svc.set_webhook(platform, live.account, url=receiver.url, events=None)  # events kept
    assert (await push_svc.get_webhook(platform, live.account))["events"] == ["message.failed"]
    await push_svc.set_webhook(platform, live.account, url=receiver.url, events="")  # all again
    await _deliver(platform, live, 1)
    await _wait(lambda: receiver.received() == 2)
    await pusher.stop()
    headers, body = receiver.raw[1]
    assert len(headers["webhook-signature"].split()) == 1
    standardwebhooks.Webhook(newest).verify(body, headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new).verify(body, headers)


async def test_event_selection_replies_and_template_reviews(platform, live, receiver) -> None:
    from hongyan.channels.base import InReply
    from hongyan.domain.states import ReviewState
    from hongyan.store.accounts import add_template, get_account
    from hongyan.store.clock import now_ms
    from hongyan.workers.receipts import ReceiptIntake

    secret = (
        await push_svc.set_webhook(
            platform, live.account, url=receiver.url, events=["reply.received", "template.reviewed"]
        )
    )["secret"]
    (smsid,) = await _deliver(platform, live, 1)  # message.delivered is not selected: no webhook
    await ReceiptIntake(platform.engines.write).on_reply("p", InReply("8613900000000", "好的", now_ms()))
    async with platform.engines.write.begin() as conn:
        tpl = await add_template(conn, (await get_account(conn, live.account)).id, "您的订单【变量】已发货", [8])
    await svc.review_template(platform, tpl, ReviewState.REJECTED, "涉嫌营销")
    pusher = _pusher(platform)
    await pusher.start()
    await _wait(lambda: receiver.received() == 2)
    await pusher.stop()
    events = {e["type"]: e["data"] for e in (standardwebhooks.Webhook(secret).verify(b, h) for h, b in receiver.raw)}
    assert set(events) == {"reply.received", "template.reviewed"}
    assert events["reply.received"]["content"] == "好的" and events["reply.received"]["smsid"] == smsid
    assert events["reply.received"]["mobile"] == "13900000000"
    assert events["template.reviewed"] == {"template_id": tpl, "state": "rejected", "reason": "涉嫌营销"}
    with pytest.raises(ValueError, match="unknown event"):
        await push_svc.set_webhook(platform, live.account, url=receiver.url, events="message.sent")
    with pytest.raises(ValueError, match="http"):
        await push_svc.set_webhook(platform, live.account, url="ftp://example.com/x")


async def test_removed_webhook_dead_letters_its_pending_pushes(platform, live, receiver) -> None:
    await push_svc.set_webhook(platform, live.account, url=receiver.url)
    await _deliver(platform, live, 1)
    assert await push_svc.remove_webhook(platform, live.account)
    pusher = _pusher(platform)
    await pusher.start()
    await _wait(lambda: pusher.stats.dead == 1)
    await pusher.stop()
    assert receiver.received() == 0
    dead = await push_svc.list_pushes(platform, state="dead", api_id=live.account, limit=5)
    assert "webhook removed" in dead[0]["last_error"]


def test_cli_sets_rotates_shows_and_removes(settings, monkeypatch) -> None:
    monkeypatch.setenv("HONGYAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HONGYAN_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("HONGYAN_SECRET_KEY", settings.secret_key.get_secret_value())
    runner = CliRunner()

    def cli(*args: str):
        r = runner.invoke(app, list(args), catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    account = cli("account", "create", "hooked", "--live", "--json")["account"]
    created = cli("webhook", "set", account, "--url", "https://example.com/hook", "--json")
    assert created["secret"].startswith("whsec_") and created["url"] == "https://example.com/hook"
    assert cli("webhook", "show", account, "--json")["events"] == list(wh.EVENT_TYPES)
    rotated = cli("webhook", "rotate", account, "--json")["secret"]
    shown = cli("webhook", "show", account, "--reveal", "--json")
    assert shown["secret"] == rotated != created["secret"] and shown["previous_secret_until"] > 0
    assert "secret" not in cli("webhook", "show", account, "--json")
    r = runner.invoke(app, ["webhook", "set", account, "--url", "x", "--events", "nope"], catch_exceptions=False)
    assert r.exit_code == 1
    r = runner.invoke(app, ["webhook", "remove", account], catch_exceptions=False)
    assert r.exit_code == 0 and "removed" in r.output
    assert cli("webhook", "show", account, "--json") == {"account": account, "url": None}


async def test_secrets_are_encrypted_at_rest(platform, live) -> None:
    secret = (await push_svc.set_webhook(platform, live.account, url="https://example.com/hook"))["secret"]
    rotated = await push_svc.rotate_webhook_secret(platform, live.account)
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(webhooks.c.secret_enc, webhooks.c.previous_secret_enc))).one()
    raw = " ".join(row)
    for s in (secret, rotated):
        assert s not in raw and s.removeprefix("whsec_") not in raw
    assert platform.keybox.decrypt(row.secret_enc) == rotated
    assert platform.keybox.decrypt(row.previous_secret_enc) == secret
