"""The append-only audit trail, and the redelivery guard that keeps a request from counting twice."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.store.models import AuditEntry, ProcessedRequest

_AUDIT_LOG = AuditEntry.metadata.tables[AuditEntry.__tablename__]
_INSERT = insert(_AUDIT_LOG)  # built once: the row comes with each execution


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
    db_session.connection().execute(_INSERT, row)


def claim_request(db_session: Session, request_id: str | None, *, now: datetime) -> bool:
    """True the first time a request id is seen; False for a redelivery (which must change nothing).

    One INSERT .. ON CONFLICT DO NOTHING: safe across replicas, and no savepoint on the hot path.
    """
    if not request_id:
        return True
    stmt = _claim_statement(db_session.get_bind().dialect.name)
    return db_session.connection().execute(stmt, {"p_request_id": request_id, "p_at": now}).first() is not None


@cache
def _claim_statement(dialect: str) -> Any:
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = ProcessedRequest.metadata.tables[ProcessedRequest.__tablename__]
    values = {"request_id": bindparam("p_request_id"), "at": bindparam("p_at", type_=table.c.at.type)}
    # RETURNING, because rowcount is not reliable here.
    return dialect_insert(table).values(values).on_conflict_do_nothing().returning(table.c.request_id)


def entries(db_session: Session, deployment_id: int) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.deployment_id == deployment_id).order_by(AuditEntry.id)
    return list(db_session.scalars(stmt))


def prune_requests(db_session: Session, *, older_than: datetime) -> int:
    """Slack redelivers within minutes; request ids older than a day only take space."""
    result = db_session.execute(delete(ProcessedRequest).where(ProcessedRequest.at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
