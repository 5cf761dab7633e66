"""The redelivery guard and its pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.services.audit import claim_request, prune_requests
from bot.store.db import Database
from bot.store.models import ProcessedRequest

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_claim_once_then_prune_old_ids(database: Database) -> None:
    with database.write() as s:
        assert claim_request(s, "t:old", now=T0) is True
        assert claim_request(s, "t:new", now=T0 + timedelta(days=2)) is True
        assert claim_request(s, None, now=T0) is True  # nothing to deduplicate on
    with database.write() as s:
        assert claim_request(s, "t:old", now=T0 + timedelta(days=2)) is False
        assert prune_requests(s, older_than=T0 + timedelta(days=1)) == 1
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(ProcessedRequest)) == 1
    with database.write() as s:
        assert claim_request(s, "t:old", now=T0 + timedelta(days=3)) is True
