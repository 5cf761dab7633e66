"""Shared fixtures: a migrated database (SQLite file, or PostgreSQL when DEPLOYBOT_TEST_DB=postgres)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Base

ON_POSTGRES = os.environ.get("DEPLOYBOT_TEST_DB") == "postgres"
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real Slack or paging credentials."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "PAGERDUTY_", "OPSGENIE_", "DEPLOYBOT_", "PAGING_", "ROLLBACK_")) and (
            name != "DEPLOYBOT_TEST_DB"
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def _pg_schema() -> Iterator[str]:
    db = Database(PG_URL)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()
    upgrade(PG_URL)
    yield PG_URL


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for this test."""
    if ON_POSTGRES:
        url: str = request.getfixturevalue("_pg_schema")
        db = Database(url)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
        db.dispose()
        return url
    url = f"sqlite:///{tmp_path / 'deploybot.db'}"
    upgrade(url)
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()
