"""``hongyan account set --channel-group`` and ``hongyan channel add|set --group``."""

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
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_channel_groups_from_the_cli(cli) -> None:
    base = ["--system-id", "hongyan", "--password", "secret"]
    assert cli("channel", "add", "d1", "--smpp", "127.0.0.1:2775", *base).exit_code == 0
    r = cli("channel", "add", "v1", "--smpp", "127.0.0.1:2777", *base, "--group", "vip", "--carriers", "mobile")
    assert r.exit_code == 0, r.output
    assert cli("channel", "set", "d1", "--group", "bulk", "--weight", "3").exit_code == 0
    rows = {r["name"]: r for r in json.loads(cli("channel", "list", "--json").output)}
    assert (rows["d1"]["group"], rows["d1"]["weight"], rows["v1"]["group"]) == ("bulk", 3, "vip")
    assert cli("channel", "set", "d1", "--group", "default").exit_code == 0
    r = cli("channel", "set", "d1", "--group", "no spaces")
    assert r.exit_code == 1 and "error" in r.output

    account = json.loads(cli("account", "create", "acme", "--live", "--json").output)["account"]
    assert json.loads(cli("account", "show", account, "--json").output)["channel_group"] == "default"
    r = cli("account", "set", account, "--channel-group", "vip")
    assert r.exit_code == 0, r.output
    assert "no channel for broadnet, telecom, unicom, virtual: default serves those" in " ".join(r.output.split())
    assert json.loads(cli("account", "show", account, "--json").output)["channel_group"] == "vip"
    r = cli("account", "set", account, "--channel-group", "a/b")
    assert r.exit_code == 1 and "error" in r.output
    assert cli("account", "set", account, "--channel-group", "").exit_code == 0
    assert json.loads(cli("account", "show", account, "--json").output)["channel_group"] == "default"
