"""The CLI as an operator uses it: create, top up, freeze, set, signatures, templates, demo."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hongyan.cli.main import app


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("HONGYAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HONGYAN_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("HONGYAN_SECRET_KEY", settings.secret_key.get_secret_value())
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result

    return invoke


def test_account_lifecycle(cli) -> None:
    r = cli("account", "create", "acme", "--json")
    assert r.exit_code == 0, r.output
    creds = json.loads(r.output)
    assert creds["account"].startswith("C") and len(creds["account"]) == 9 and creds["account"][1:].isdigit()
    assert len(creds["apikey"]) == 32 and int(creds["apikey"], 16) >= 0
    info = json.loads(cli("account", "show", creds["account"], "--json").output)
    assert info["state"] == "test" and info["balance"] == 50 == info["ledger_balance"]
    assert "apikey" not in info

    assert cli("account", "topup", creds["account"], "100").exit_code == 0
    assert cli("account", "freeze", creds["account"]).exit_code == 0
    info = json.loads(cli("account", "show", creds["account"], "--json").output)
    assert info["state"] == "frozen" and info["balance"] == 150 == info["ledger_balance"]
    assert cli("account", "unfreeze", creds["account"]).exit_code == 0
    r = cli(
        "account",
        "set",
        creds["account"],
        "--ip",
        "10.0.0.0/8,127.0.0.1",
        "--receipt-url",
        "https://example.com/r",
        "--require-template",
    )
    assert r.exit_code == 0, r.output
    info = json.loads(cli("account", "show", creds["account"], "--json").output)
    assert info["state"] == "live"
    assert info["allowed_ips"] == "10.0.0.0/8,127.0.0.1" and info["receipt_url"] == "https://example.com/r"
    assert info["require_template"] is True


def test_live_account_with_balance(cli) -> None:
    creds = json.loads(cli("account", "create", "big", "--live", "--balance", "10000", "--json").output)
    info = json.loads(cli("account", "show", creds["account"], "--json").output)
    assert info["state"] == "live" and info["balance"] == 10000 == info["ledger_balance"]


def test_signatures_and_templates(cli) -> None:
    creds = json.loads(cli("account", "create", "sig", "--live", "--json").output)
    r = cli("signature", "add", creds["account"], "【鸿雁】")
    assert r.exit_code == 0 and "pending" in r.output
    sig_id = r.output.split()[1].rstrip(":")
    assert cli("signature", "approve", sig_id).exit_code == 0
    info = json.loads(cli("account", "show", creds["account"], "--json").output)
    assert info["signatures"][0]["state"] == "approved" and info["default_signature"] == "鸿雁"

    rows = json.loads(cli("template", "list", "--json").output)
    assert rows[0]["id"] == 1 and rows[0]["state"] == "approved"
    assert cli("template", "approve", "1").exit_code == 1  # the built-in template is not reviewable
    assert cli("template", "approve", "999").exit_code == 1


def test_errors_are_messages_not_tracebacks(cli) -> None:
    for args in (
        ("account", "topup", "C00000000", "5"),
        ("account", "freeze", "C00000000"),
        ("account", "show", "C00000000"),
        ("signature", "approve", "424242"),
    ):
        r = cli(*args)
        assert r.exit_code == 1
        assert "error" in r.output and "Traceback" not in r.output
    creds = json.loads(cli("account", "create", "x", "--json").output)
    r = cli("account", "topup", creds["account"], "--", "-5")
    assert r.exit_code == 1 and "positive" in r.output
    r = cli("signature", "add", creds["account"], "x")
    assert r.exit_code == 1 and "2-30" in r.output


def test_demo_is_reused(cli) -> None:
    first = cli("demo", "--no-serve")
    second = cli("demo", "--no-serve")
    assert first.exit_code == 0 and second.exit_code == 0
    line1 = [ln for ln in first.output.splitlines() if ln.startswith("curl ")]
    line2 = [ln for ln in second.output.splitlines() if ln.startswith("curl ")]
    assert line1 and line1 == line2
    assert "method=Submit" in line1[0] and "13800138000" in line1[0]


def test_channels(cli) -> None:
    assert (
        cli(
            "channel", "add", "sim1", "--smpp", "127.0.0.1:2775", "--system-id", "hongyan", "--password", "secret"
        ).exit_code
        == 0
    )
    r = cli("channel", "add", "sim1", "--smpp", "127.0.0.1:2775", "--system-id", "hongyan", "--password", "x")
    assert r.exit_code == 1 and "already exists" in r.output
    for bad in (
        ["--smpp", "nope"],
        ["--smpp", "h:1", "--priority", "middle"],
        ["--smpp", "h:1", "--carriers", "mars"],
        ["--smpp", "h:1", "--tps", "0"],
    ):
        args = ["channel", "add", "x", "--system-id", "s", "--password", "p", *bad]
        r = cli(*args)
        assert r.exit_code == 1 and "error" in r.output, (bad, r.output)
    assert cli("channel", "set", "sim1", "--tps", "500", "--priority", "backup").exit_code == 0
    rows = json.loads(cli("channel", "list", "--json").output)
    assert rows == [
        {
            "name": "sim1",
            "smpp": "127.0.0.1:2775",
            "system_id": "hongyan",
            "tps": 500,
            "window": 50,
            "carriers": "broadnet,mobile,telecom,unicom,virtual",
            "priority": "backup",
            "group": "default",
            "weight": 1,
            "enabled": True,
        }
    ]
    assert cli("channel", "remove", "sim1").exit_code == 0
    assert cli("channel", "remove", "sim1").exit_code == 1
