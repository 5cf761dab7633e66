"""Alembic, driven from code: `deploybot db upgrade`, and the start-up schema check."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from bot.store.db import create_db_engine, normalise_url

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_SQLITE = "deploybot.db"


class SchemaError(RuntimeError):
    """The database is not at the schema this code expects; the message says what to run."""


def database_url(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    return env.get("DATABASE_URL") or f"sqlite:///{Path.cwd() / DEFAULT_SQLITE}"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    current = current_revision(engine)
    head = script.get_current_head()
    if current == head:
        return
    if current is None:
        raise SchemaError("the database has no Deploy Bot schema yet; run `deploybot db upgrade` first")
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"the database schema (revision {current}) is newer than this Deploy Bot (knows up to {head}); "
            "upgrade Deploy Bot, or point DATABASE_URL at another database"
        )
    raise SchemaError(f"the database schema is at {current}, code expects {head}; run `deploybot db upgrade`")


def db_command(action: str) -> int:
    url = database_url()
    if action == "upgrade":
        upgrade(url)
        print(f"database upgraded to {head_revision()}")
        return 0
    engine = create_db_engine(url)
    try:
        print(current_revision(engine) or "(no schema)")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(db_command(sys.argv[1] if len(sys.argv) > 1 else "upgrade"))
