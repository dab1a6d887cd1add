"""Console users, their sessions and failed logins: the queries behind ``services.console_users``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, console_login_failures, console_sessions, console_users


class UsernameTaken(Exception):
    """The username is in use (the unique index refused it: a registration that lost a race)."""


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    username: str
    phone: str
    password_hash: str
    account_id: int | None
    is_operator: bool
    api_id: str | None = None  # the linked account's APIID


def _select_users():
    return select(
        console_users.c.id,
        console_users.c.username,
        console_users.c.phone,
        console_users.c.password_hash,
        console_users.c.account_id,
        console_users.c.is_operator,
        accounts.c.api_id,
    ).select_from(console_users.outerjoin(accounts, accounts.c.id == console_users.c.account_id))


def _user(row) -> UserRow:
    return UserRow(
        id=row.id,
        username=row.username,
        phone=row.phone,
        password_hash=row.password_hash,
        account_id=row.account_id,
        is_operator=bool(row.is_operator),
        api_id=row.api_id,
    )


async def insert_user(
    conn: AsyncConnection,
    *,
    username: str,
    phone: str,
    password_hash: str,
    account_id: int | None,
    is_operator: bool,
) -> int:
    """Insert a user; ``UsernameTaken`` when the name is in use (the transaction must then be rolled back)."""
    now = now_ms()
    try:
        result = await conn.execute(
            insert(console_users).returning(console_users.c.id),
            {
                "username": username,
                "phone": phone,
                "password_hash": password_hash,
                "account_id": account_id,
                "is_operator": is_operator,
                "created_at": now,
                "updated_at": now,
            },
        )
    except IntegrityError as exc:
        # SQLite names the column ("UNIQUE constraint failed: console_users.username"), PostgreSQL the index.
        if "username" in str(exc.orig):
            raise UsernameTaken(username) from exc
        raise
    return result.scalar_one()


async def username_taken(conn: AsyncConnection, username: str) -> bool:
    row = await conn.execute(select(console_users.c.id).where(console_users.c.username == username))
    return row.first() is not None


async def get_user(conn: AsyncConnection, username: str) -> UserRow | None:
    row = (await conn.execute(_select_users().where(console_users.c.username == username))).first()
    return _user(row) if row is not None else None


async def get_user_by_id(conn: AsyncConnection, user_id: int) -> UserRow | None:
    row = (await conn.execute(_select_users().where(console_users.c.id == user_id))).first()
    return _user(row) if row is not None else None


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(
        update(console_users)
        .where(console_users.c.id == user_id)
        .values(password_hash=password_hash, updated_at=now_ms())
    )


async def set_operator(conn: AsyncConnection, user_id: int, is_operator: bool) -> None:
    await conn.execute(
        update(console_users).where(console_users.c.id == user_id).values(is_operator=is_operator, updated_at=now_ms())
    )


async def list_users(conn: AsyncConnection) -> list[UserRow]:
    return [_user(r) for r in await conn.execute(_select_users().order_by(console_users.c.id))]


# --- sessions --------------------------------------------------------------------------------------


async def insert_session(conn: AsyncConnection, token_hash: str, user_id: int, expires_at: int) -> None:
    await conn.execute(
        insert(console_sessions),
        {"token_hash": token_hash, "user_id": user_id, "created_at": now_ms(), "expires_at": expires_at},
    )


async def session_user(conn: AsyncConnection, token_hash: str, now: int) -> UserRow | None:
    """The user of an unexpired session, else None."""
    stmt = (
        _select_users()
        .join(console_sessions, console_sessions.c.user_id == console_users.c.id)
        .where(console_sessions.c.token_hash == token_hash, console_sessions.c.expires_at > now)
    )
    row = (await conn.execute(stmt)).first()
    return _user(row) if row is not None else None


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))


async def delete_user_sessions(conn: AsyncConnection, user_id: int, *, keep: str | None = None) -> None:
    stmt = delete(console_sessions).where(console_sessions.c.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(console_sessions.c.token_hash != keep)
    await conn.execute(stmt)


async def set_flash(conn: AsyncConnection, token_hash: str, flash_enc: str) -> None:
    await conn.execute(
        update(console_sessions).where(console_sessions.c.token_hash == token_hash).values(flash_enc=flash_enc)
    )


async def pop_flash(conn: AsyncConnection, token_hash: str) -> str | None:
    """The session's one-time message, cleared as it is read (call inside a write transaction)."""
    stmt = select(console_sessions.c.flash_enc).where(console_sessions.c.token_hash == token_hash)
    value = (await conn.execute(stmt)).scalar_one_or_none()
    if value is None:
        return None
    cleared = await conn.execute(
        update(console_sessions)
        .where(console_sessions.c.token_hash == token_hash, console_sessions.c.flash_enc == value)
        .values(flash_enc=None)
    )
    return value if cleared.rowcount == 1 else None  # a concurrent reader took it


async def delete_expired_sessions(conn: AsyncConnection, now: int) -> None:
    await conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))


# --- failed logins ---------------------------------------------------------------------------------


async def count_failures(conn: AsyncConnection, key: str, since: int) -> int:
    stmt = select(func.count()).where(console_login_failures.c.key == key, console_login_failures.c.at > since)
    return (await conn.execute(stmt)).scalar_one()


async def add_failure(conn: AsyncConnection, key: str, at: int, prune_before: int) -> None:
    await conn.execute(delete(console_login_failures).where(console_login_failures.c.at <= prune_before))
    await conn.execute(insert(console_login_failures), {"key": key, "at": at})


async def clear_failures(conn: AsyncConnection, key: str) -> None:
    await conn.execute(delete(console_login_failures).where(console_login_failures.c.key == key))
