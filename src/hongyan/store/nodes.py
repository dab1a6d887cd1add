"""Claim a fresh smsid node number for this process (a row per process start, numbered by the database)."""

from __future__ import annotations

import os
import socket

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain.smsid import NODE_SPACE
from hongyan.store.clock import now_ms
from hongyan.store.tables import smsid_nodes


async def claim_node(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        row_id = (
            await conn.execute(
                insert(smsid_nodes).returning(smsid_nodes.c.id),
                {"pid": os.getpid(), "host": socket.gethostname()[:128], "started_at": now_ms()},
            )
        ).scalar_one()
    return row_id % NODE_SPACE
