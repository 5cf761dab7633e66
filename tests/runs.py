"""Runs for service-level tests: the default template, started in one call."""

from __future__ import annotations

from datetime import datetime

from bot.checklist.loader import load_named_template
from bot.services.runs import start_run
from bot.store.db import Database


def start_test_run(db: Database, *, now: datetime, started_by: str = "U0") -> int:
    with db.write() as s:
        run = start_run(
            s,
            template=load_named_template("lamsa-production"),
            service="api",
            version="1.0",
            environment="production",
            channel_id="C1",
            started_by=started_by,
            now=now,
        )
        return run.id
