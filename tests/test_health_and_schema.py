"""Health and readiness endpoints, and refusing to run on a database whose schema does not match the code."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import build_context
from bot.sandbox import SlackEmulator
from bot.server import BotServer, create_web_app
from bot.store.db import Database, IdlePing
from bot.store.migrate import SchemaError, check_schema, head_revision, upgrade
from tests.e2e import SECRET, make_settings, running_bot


def test_healthz_and_readyz(db_url: str) -> None:
    with running_bot(db_url) as bot:
        assert httpx.get(f"{bot.stack.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{bot.stack.url}/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "ready")


def test_readyz_reports_an_unreachable_slack(db_url: str) -> None:
    with running_bot(db_url) as bot:
        bot.emu.valid_tokens = {"xoxb-some-other-token"}
        resp = httpx.get(f"{bot.stack.url}/readyz")
        assert resp.status_code == 503
        assert resp.json()["problems"] == {"slack": "SlackApiError"}


def test_schema_check_names_what_to_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    db = Database(url)
    with pytest.raises(SchemaError, match="run `deploybot db upgrade` first"):
        check_schema(db.engine)
    upgrade(url)
    check_schema(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(SchemaError, match="newer than this Deploy Bot"):
        check_schema(db.engine)
    db.dispose()
    assert head_revision()


def test_deploybot_refuses_to_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "DEPLOYBOT_CONFIG": str(tmp_path / "none.yaml"),
        "PORT": "0",
    }
    (tmp_path / "none.yaml").write_text("channel: C0DEPLOY\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "deploybot db upgrade" in done.stderr
    assert "xoxb-test" not in done.stderr + done.stdout


def test_deploybot_lists_every_configuration_problem_at_once(tmp_path: Path) -> None:
    (tmp_path / "deploybot.yaml").write_text("chanel: C0DEPLOY\nseparation_of_duties: maybe\n")
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "not-a-bot-token", "DATABASE_URL": "sqlite://"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    err = done.stderr
    assert "did you mean 'channel'" in err
    assert "separation_of_duties" in err
    assert "SLACK_BOT_TOKEN" in err and "SLACK_SIGNING_SECRET" in err
    assert "not-a-bot-token" not in err


def test_prefill_opens_the_pool_so_a_first_burst_does_not_wait_for_connections(database: Database) -> None:
    pool = database.engine.pool
    database.prefill()
    assert pool.checkedin() == pool.size() > 1  # type: ignore[attr-defined]
    opened = pool.checkedin()  # type: ignore[attr-defined]
    connections = [database.engine.connect() for _ in range(opened)]
    assert pool.checkedout() == opened and pool.overflow() <= 0  # type: ignore[attr-defined]
    for conn in connections:
        conn.close()


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use(database: Database) -> None:
    """PostgreSQL engines ping a pooled connection only after it sat idle (IdlePing); SQLite's need no ping,
    so the test attaches one there to check the same mechanism on both."""
    engine = database.engine
    ping = database.idle_ping or IdlePing(engine)
    ping.idle_s = 0.2
    with engine.connect() as conn:
        dead = conn.connection.dbapi_connection
        pid = None if database.is_sqlite else conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    assert dead is not None
    # It dies while it sits in the pool (a database restart, an idle timeout).
    if pid is None:
        dead.close()
    else:
        with psycopg.connect(make_url(database.url).set(drivername="postgresql").render_as_string(False)) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.3)
    pings = ping.pings
    with engine.connect() as conn:  # idle long enough: pinged, found dead, replaced
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert conn.connection.dbapi_connection is not dead
    assert ping.pings == pings + 1
    with engine.connect() as conn:  # used moments ago: no ping, no round trip
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    assert ping.pings == pings + 1


def test_readyz_reports_an_unreachable_database() -> None:
    """The database went away (here: nothing listens on its port): 503 and what is wrong, at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: connections to it are refused
    with SlackEmulator(signing_secret=SECRET) as emu:
        settings = make_settings(emu, f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=2")
        ctx = build_context(settings)
        server = BotServer(create_web_app(ctx, None)).start()
        try:
            started = time.monotonic()
            resp = httpx.get(f"{server.url}/readyz", timeout=10)
            assert time.monotonic() - started < 3
            assert resp.status_code == 503
            assert resp.json() == {"status": "unavailable", "problems": {"database": "OperationalError"}}
            assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive, just not ready
        finally:
            server.stop()
            ctx.db.dispose()
