"""Exit 0 when the PostgreSQL server of the given SQLAlchemy URL accepts a connection within 3 s."""

import asyncio
import sys

from sqlalchemy.engine import make_url


async def main(url: str) -> int:
    import asyncpg

    u = make_url(url)
    try:
        conn = await asyncio.wait_for(
            asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username, database=u.database), 3
        )
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return 1
    await conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
