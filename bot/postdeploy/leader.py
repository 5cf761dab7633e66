"""Leader election among replicas: a PostgreSQL session advisory lock held on a dedicated connection.

The lock lives as long as the connection: when the leader dies, PostgreSQL drops its session and the lock
with it, and a standby's next try wins. SQLite means one process, which is always the leader.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

LOCK_KEY = 0x6465706C6F79  # "deploy": one constant shared by every replica


class LeaderLock:
    def __init__(self, engine: Engine, *, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    @property
    def needs_election(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def held(self) -> bool:
        return self._conn is not None or not self.needs_election

    def try_acquire(self) -> bool:
        """True when this process is (still) the leader. Cheap to call every second or two."""
        if not self.needs_election:
            return True
        if self._conn is not None:
            return self._still_alive()
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()  # the session lock outlives the transaction; keep no transaction open
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _still_alive(self) -> bool:
        assert self._conn is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            log.warning("lost the leader connection; standing down")
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._conn.commit()
        except Exception:
            log.warning("could not unlock cleanly; closing the connection releases the lock")
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never hand a connection that held the lock back to the pool
                conn.close()
            except Exception:
                pass
