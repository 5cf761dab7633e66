"""Which Slack messages show a run, and marking them stale so the updater re-renders them."""

from __future__ import annotations

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot.store.models import SlackMessage

PARENT = "parent"
SECTION = "section"
ROLLBACK = "rollback"
ALERT = "alert"
TREND = "trend"


def ensure_message(db_session: Session, *, deployment_id: int, kind: str, key: str, channel_id: str) -> SlackMessage:
    stmt = select(SlackMessage).where(
        SlackMessage.deployment_id == deployment_id, SlackMessage.kind == kind, SlackMessage.key == key
    )
    msg = db_session.scalars(stmt).first()
    if msg is None:
        msg = SlackMessage(deployment_id=deployment_id, kind=kind, key=key, channel_id=channel_id, dirty=1)
        db_session.add(msg)
        db_session.flush()
    return msg


def mark_dirty(
    db_session: Session,
    *,
    deployment_id: int,
    kind: str,
    key_prefix: str | None = None,
) -> list[int]:
    """Bump the dirty counter in the caller's transaction (one statement); the ids go to the updater."""
    which = SlackMessage.kind == kind
    if key_prefix is not None:
        which = and_(which, SlackMessage.key.startswith(key_prefix, autoescape=True))
    stmt = (
        update(SlackMessage)
        .where(SlackMessage.deployment_id == deployment_id, which)
        .values(dirty=SlackMessage.dirty + 1)
        .returning(SlackMessage.id)
    )
    return list(db_session.connection().execute(stmt).scalars())  # Core: no ORM bulk-update machinery


def messages_of(db_session: Session, deployment_id: int) -> list[SlackMessage]:
    stmt = select(SlackMessage).where(SlackMessage.deployment_id == deployment_id).order_by(SlackMessage.id)
    return list(db_session.scalars(stmt))


def touch(db_session: Session, *, deployment_id: int, which: list[tuple[str, str | None]]) -> list[int]:
    """Mark several (kind, key prefix) groups of a run's messages dirty in one statement (run on its own,
    after the change it reflects committed, so it holds the shared rows for a moment only)."""
    if not which:
        return []
    conds = []
    for kind, prefix in which:
        cond = SlackMessage.kind == kind
        if prefix is not None:
            cond = and_(cond, SlackMessage.key.startswith(prefix, autoescape=True))
        conds.append(cond)
    stmt = (
        update(SlackMessage)
        .where(SlackMessage.deployment_id == deployment_id, or_(*conds))
        .values(dirty=SlackMessage.dirty + 1)
        .returning(SlackMessage.id)
    )
    return list(db_session.connection().execute(stmt).scalars())  # Core: no ORM bulk-update machinery
