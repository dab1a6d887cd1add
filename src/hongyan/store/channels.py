"""Channel configuration rows (the SMPP account at a carrier or the simulator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.store.accounts import NotFound
from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, channels


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    name: str
    kind: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    source_addr: str
    tps: int
    window: int
    carriers: frozenset[str]
    priority: str
    group_name: str
    weight: int
    enabled: bool


async def add_channel(conn: AsyncConnection, *, password_enc: str, **values: Any) -> int:
    now = now_ms()
    return (
        await conn.execute(
            insert(channels).returning(channels.c.id),
            {**values, "password_enc": password_enc, "created_at": now, "updated_at": now},
        )
    ).scalar_one()


async def update_channel(conn: AsyncConnection, name: str, **values: Any) -> None:
    res = await conn.execute(update(channels).where(channels.c.name == name).values(**values, updated_at=now_ms()))
    if res.rowcount == 0:
        raise NotFound(f"no channel {name}")


async def delete_channel(conn: AsyncConnection, name: str) -> None:
    res = await conn.execute(channels.delete().where(channels.c.name == name))
    if res.rowcount == 0:
        raise NotFound(f"no channel {name}")


async def version(conn: AsyncConnection) -> tuple[int, int]:
    """Changes to the channel table show as a different (count, max updated_at)."""
    row = (await conn.execute(select(func.count(), func.coalesce(func.max(channels.c.updated_at), 0)))).one()
    return int(row[0]), int(row[1])


async def load_channels(conn: AsyncConnection, decrypt) -> list[ChannelConfig]:
    out = []
    for r in await conn.execute(select(channels).order_by(channels.c.id)):
        out.append(
            ChannelConfig(
                name=r.name,
                kind=r.kind,
                host=r.host,
                port=r.port,
                system_id=r.system_id,
                password=decrypt(r.password_enc),
                system_type=r.system_type,
                source_addr=r.source_addr,
                tps=r.tps,
                window=r.window,
                carriers=frozenset(c.strip() for c in r.carriers.split(",") if c.strip()),
                priority=r.priority,
                group_name=r.group_name,
                weight=r.weight,
                enabled=bool(r.enabled),
            )
        )
    return out


async def account_groups(conn: AsyncConnection) -> dict[int, str]:
    """account id → channel group, for the accounts assigned one (the others route in "default")."""
    q = select(accounts.c.id, accounts.c.channel_group).where(accounts.c.channel_group.is_not(None))
    return {r.id: r.channel_group for r in await conn.execute(q)}
