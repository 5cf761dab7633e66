"""The one session factory. SQLite gets WAL, foreign keys and serialised writers; PostgreSQL row locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlalchemy.pool import QueuePool

IDLE_PING_S = 1.0


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; psycopg2 is not a dependency."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def expire_loaded(session: Session, model: type[Any], ids: Iterable[int]) -> None:
    """After a Core UPDATE of these rows: objects the session already holds reload on their next use."""
    for pk in ids:
        if (obj := session.identity_map.get(identity_key(model, pk))) is not None:
            session.expire(obj)


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # Pooled: opening a SQLite connection (and its PRAGMAs) per transaction costs more than the work.
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=QueuePool,
            pool_size=8,
            max_overflow=24,
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_size=10, max_overflow=20)  # Database adds IdlePing


class IdlePing:
    """pool_pre_ping for connections that sat idle: a pooled connection unused for `idle_s` is pinged before
    use, and replaced if dead. One used moments ago is not: pre-pinging every checkout cost a round trip per
    click. A restart within `idle_s` of a use fails that statement once, and the pool then drops every
    connection older than the restart (SQLAlchemy invalidates the pool on a disconnect)."""

    def __init__(self, engine: Engine, idle_s: float = IDLE_PING_S) -> None:
        self.idle_s = idle_s
        self.pings = 0
        self._dialect = engine.dialect
        event.listen(engine, "connect", self._mark)
        event.listen(engine, "checkin", self._mark)
        event.listen(engine, "checkout", self._check)

    def _mark(self, _dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def _check(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < self.idle_s:
            return
        self.pings += 1
        try:
            self._dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc  # the pool retries afresh


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so we can choose BEGIN IMMEDIATE for writers.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA wal_autocheckpoint=0")  # Database.checkpoint() runs from a background thread
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: no deadlock upgrading a read lock, and they queue on busy_timeout.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.engine = create_db_engine(self.url, echo=echo)
        self.idle_ping = None if self.is_sqlite else IdlePing(self.engine)  # SQLite's file does not go away
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_engine = self.engine.execution_options(sqlite_immediate=True)
        self._writers = sessionmaker(self._writer_engine, expire_on_commit=False)
        self._write_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that changes state: committed on success, rolled back on any error."""
        if self.is_sqlite:
            # SQLite has one writer at a time and its busy handler polls with sleeps of up to 100 ms;
            # queueing writers of this process on a lock instead keeps tail latency low.
            with self._write_lock, self._writers() as session, session.begin():
                yield session
            return
        with self._writers() as session, session.begin():
            yield session

    @contextmanager
    def single_statement(self) -> Iterator[Session]:
        """For one statement that must not hold its row locks past itself: autocommit on PostgreSQL, so the
        statement and its commit are one round trip; SQLite's writers are serialised anyway."""
        if self.is_sqlite:
            with self.write() as session:
                yield session
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, Session(conn) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def prefill(self) -> None:
        """Open the pool's connections now, so the first burst of clicks after a start does not wait for
        PostgreSQL to start a backend per connection (measured: tens of ms each under load)."""
        size = self.engine.pool.size()  # type: ignore[attr-defined]
        connections = [self.engine.connect() for _ in range(size)]
        for conn in connections:
            conn.close()

    def checkpoint(self) -> None:
        """SQLite: fold the WAL into the database off the request path (auto-checkpoints stall a commit)."""
        if self.is_sqlite:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def dispose(self) -> None:
        self.engine.dispose()
