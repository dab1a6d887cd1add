"""Channel administration: add, change, remove, list (CLI), live status (console), the groups channels serve."""

from __future__ import annotations

import re
from typing import Any

from hongyan.services.platform import Platform
from hongyan.store import channel_status
from hongyan.store import channels as store
from hongyan.store.clock import now_ms

PRIORITIES = ("primary", "backup")
CARRIERS = ("mobile", "unicom", "telecom", "broadnet", "virtual", "intl")
DEFAULT_GROUP = "default"
_GROUP = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_group(name: str) -> str:
    """A channel group name: 1-64 of letters, digits, ``_ . -``."""
    if not _GROUP.fullmatch(name):
        raise ValueError("a channel group is 1-64 letters, digits, '_', '.' or '-'")
    return name


def _check(values: dict[str, Any]) -> None:
    if "group_name" in values:
        check_group(values["group_name"])
    if "priority" in values and values["priority"] not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")
    if "carriers" in values:
        bad = [c for c in values["carriers"].split(",") if c.strip() and c.strip() not in CARRIERS]
        if bad:
            raise ValueError(f"unknown carriers {bad}; known: {', '.join(CARRIERS)}")
    for key in ("tps", "window", "weight", "port"):
        if key in values and not (0 < int(values[key]) < 100_000):
            raise ValueError(f"{key} must be a positive number")
    if "system_id" in values and not (0 < len(values["system_id"]) <= 15):
        raise ValueError("system_id is 1-15 characters")


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("--smpp takes HOST:PORT")
    return host, int(port)


async def add_channel(platform: Platform, name: str, endpoint: str, *, password: str, **values: Any) -> int:
    host, port = parse_endpoint(endpoint)
    if not password.isascii() or len(password) > 8:
        raise ValueError("an SMPP password is at most 8 ASCII characters")
    values = {k: v for k, v in values.items() if v is not None}
    _check({**values, "port": port})
    async with platform.engines.write.begin() as conn:
        return await store.add_channel(
            conn, name=name, host=host, port=port, password_enc=platform.keybox.encrypt(password), **values
        )


async def set_channel(platform: Platform, name: str, **values: Any) -> None:
    values = {k: v for k, v in values.items() if v is not None}
    if "endpoint" in values:
        values["host"], values["port"] = parse_endpoint(values.pop("endpoint"))
    if "password" in values:
        values["password_enc"] = platform.keybox.encrypt(values.pop("password"))
    _check(values)
    if values:
        async with platform.engines.write.begin() as conn:
            await store.update_channel(conn, name, **values)


async def remove_channel(platform: Platform, name: str) -> None:
    async with platform.engines.write.begin() as conn:
        await store.delete_channel(conn, name)


async def list_channels(platform: Platform) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        rows = await store.load_channels(conn, platform.keybox.decrypt)
    return [
        {
            "name": c.name,
            "smpp": f"{c.host}:{c.port}",
            "system_id": c.system_id,
            "tps": c.tps,
            "window": c.window,
            "carriers": ",".join(sorted(c.carriers)),
            "priority": c.priority,
            "group": c.group_name,
            "weight": c.weight,
            "enabled": c.enabled,
        }
        for c in rows
    ]


async def live_status(platform: Platform) -> dict[str, channel_status.ChannelLive]:
    """Channels' state per the fresh ``channel_status`` heartbeats of every delivery process (any process can ask);
    a channel absent from the answer has no fresh report: unknown."""
    max_age_ms = int(3 * platform.settings.channel_heartbeat_s * 1000)
    async with platform.engines.read.connect() as conn:
        return await channel_status.fresh(conn, max_age_ms=max_age_ms, now=now_ms())


async def groups_serving(platform: Platform) -> dict[str, set[str]]:
    """Channel group → the carriers its enabled channels serve (what routing can use for that group)."""
    async with platform.engines.read.connect() as conn:
        rows = await store.load_channels(conn, platform.keybox.decrypt)
    out: dict[str, set[str]] = {}
    for c in rows:
        if c.enabled:
            out.setdefault(c.group_name, set()).update(c.carriers or CARRIERS)
    return out


async def served_by_default_only(platform: Platform, group: str | None) -> list[str]:
    """The carriers an account in ``group`` still has routed in ``default`` (which serves them and the group does
    not), sorted; empty for the default group itself. What the CLI and the console warn about after a change."""
    if group in (None, "", DEFAULT_GROUP):
        return []
    serving = await groups_serving(platform)
    return sorted(serving.get(DEFAULT_GROUP, set()) - serving.get(group, set()))
