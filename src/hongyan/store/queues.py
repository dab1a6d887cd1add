"""Queue depths for /metrics: messages waiting in each open state, pushes waiting in the outbox."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain.states import MessageState as S
from hongyan.store.tables import messages, outbox

OPEN_STATES = (S.ACCEPTED.value, S.QUEUED.value, S.SUBMITTED.value)


async def depths(engine: AsyncEngine) -> tuple[dict[str, int], int]:
    """(messages per open state, pending pushes); index range counts (state is the index's first column)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(messages.c.state, func.count()).where(messages.c.state.in_(OPEN_STATES)).group_by(messages.c.state)
        )
        by_state = dict.fromkeys(OPEN_STATES, 0) | {state: n for state, n in rows}
        pushes = (
            await conn.execute(select(func.count()).select_from(outbox).where(outbox.c.state == "pending"))
        ).scalar_one()
    return by_state, pushes
