"""The append-only audit trail, and the redelivery guard that keeps a request from counting twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.store.models import AuditEntry, ProcessedRequest

_AUDIT_LOG = AuditEntry.metadata.tables[AuditEntry.__tablename__]


def record(
    db_session: Session,
    *,
    deployment_id: int | None,
    at: datetime,
    actor: str,
    source: str,
    kind: str,
    subject: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    # A Core INSERT, at once, on the session's connection: every click writes one, and an ORM object plus its
    # flush at commit costs several times more. Entries are written in call order.
    row = {
        "deployment_id": deployment_id,
        "at": at,
        "actor": actor,
        "source": source,
        "kind": kind,
        "subject": subject,
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail,
        "request_id": request_id,
    }
    db_session.connection().execute(insert(_AUDIT_LOG).values(row))


def claim_request(db_session: Session, request_id: str | None, *, now: datetime) -> bool:
    """True the first time a request id is seen; False for a redelivery (which must change nothing).

    One INSERT .. ON CONFLICT DO NOTHING: safe across replicas, and no savepoint on the hot path.
    """
    if not request_id:
        return True
    dialect = db_session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = ProcessedRequest.metadata.tables[ProcessedRequest.__tablename__]
    stmt = insert(table).values(request_id=request_id, at=now).on_conflict_do_nothing().returning(table.c.request_id)
    # On the connection: a Core statement skips the ORM's bulk-insert machinery (this runs on every click).
    # RETURNING, because rowcount is not reliable here.
    return db_session.connection().execute(stmt).first() is not None


def entries(db_session: Session, deployment_id: int) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.deployment_id == deployment_id).order_by(AuditEntry.id)
    return list(db_session.scalars(stmt))


def prune_requests(db_session: Session, *, older_than: datetime) -> int:
    """Slack redelivers within minutes; request ids older than a day only take space."""
    result = db_session.execute(delete(ProcessedRequest).where(ProcessedRequest.at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
