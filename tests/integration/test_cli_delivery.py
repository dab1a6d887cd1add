"""``hongyan delivery unparsed`` and ``hongyan delivery pending-receipts``: what delivery kept aside, read by the
operator through the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from typer.testing import CliRunner

from hongyan.cli.main import app
from hongyan.services.platform import Platform
from hongyan.store import delivery

T0 = 1_706_673_600_000  # 2024-01-31 12:00:00 Beijing


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("HONGYAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HONGYAN_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("HONGYAN_SECRET_KEY", settings.secret_key.get_secret_value())
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def _seed(settings, write: Callable[[Platform], Awaitable[None]]) -> None:
    """Write rows the way the receipt intake does, through a platform of its own (the CLI runs its own loop)."""

    async def main() -> None:
        platform = await Platform.open(settings)
        try:
            await write(platform)
        finally:
            await platform.close()

    asyncio.run(main())


def _unparsed(i: int) -> delivery.UnparsedIn:
    return delivery.UnparsedIn(
        channel="sim1",
        command="deliver_sm",
        source_addr=f"1380013800{i}",
        destination_addr="106",
        esm_class=4,
        data_coding=0,
        payload_hex=b"garbage".hex(),
        tlvs=json.dumps({"0x0427": "2"}),
        reason="delivery receipt without a message id or a status",
        received_at=T0 + i * 1000,
    )


def test_unparsed_newest_first_with_limit(settings, cli) -> None:
    assert json.loads(cli("delivery", "unparsed", "--json").output) == []
    _seed(settings, lambda p: delivery.store_unparsed(p.engines.write, [_unparsed(i) for i in range(3)]))
    rows = json.loads(cli("delivery", "unparsed", "--limit", "2", "--json").output)
    assert [r["source_addr"] for r in rows] == ["13800138002", "13800138001"]
    first = rows[0]
    assert (first["channel"], first["command"], first["esm_class"], first["received"]) == (
        "sim1",
        "deliver_sm",
        4,
        "2024-01-31 12:00:02",
    )
    assert bytes.fromhex(first["payload_hex"]) == b"garbage" and json.loads(first["tlvs"]) == {"0x0427": "2"}
    r = cli("delivery", "unparsed")
    assert r.exit_code == 0 and "3 shown" in r.output  # the table (its cells wrap on a narrow terminal)
    r = cli("delivery", "unparsed", "--limit", "0")
    assert r.exit_code == 1 and "error" in r.output


def test_pending_receipts_lists_receipts_for_unknown_ids(settings, cli) -> None:
    assert "0 shown" in cli("delivery", "pending-receipts").output
    receipts = [
        delivery.ReceiptIn("sim1", "1E240", "DELIVRD", "000", T0),
        delivery.ReceiptIn("sim2", "msg-7", "UNDELIV"),
    ]
    _seed(settings, lambda p: delivery.apply_receipts(p.engines.write, receipts))
    rows = json.loads(cli("delivery", "pending-receipts", "--json").output)
    assert [(r["channel"], r["carrier_msg_id"], r["stat"]) for r in rows] == [
        ("sim1", "1e240", "DELIVRD"),
        ("sim2", "msg-7", "UNDELIV"),
    ]
    assert rows[0]["carrier_msg_id_alt1"] == "123456"  # the same id in decimal, under which it is matched too
    assert [
        r["carrier_msg_id"] for r in json.loads(cli("delivery", "pending-receipts", "--limit", "1", "--json").output)
    ] == ["1e240"]
    r = cli("delivery", "pending-receipts")
    assert r.exit_code == 0 and "2 shown" in r.output
