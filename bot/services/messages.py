"""Which Slack messages show a run, and marking them stale so the updater re-renders them."""

from __future__ import annotations

from sqlalchemy import select, update
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


def mark_dirty(db_session: Session, *, deployment_id: int, kind: str, key_prefix: str | None = None) -> list[int]:
    """Bump the dirty counter in the caller's transaction; returns the ids to hand to the updater."""
    cond = [SlackMessage.deployment_id == deployment_id, SlackMessage.kind == kind]
    if key_prefix is not None:
        cond.append(SlackMessage.key.startswith(key_prefix, autoescape=True))
    stmt = update(SlackMessage).where(*cond).values(dirty=SlackMessage.dirty + 1).returning(SlackMessage.id)
    return list(db_session.scalars(stmt, execution_options={"synchronize_session": False}))


def messages_of(db_session: Session, deployment_id: int) -> list[SlackMessage]:
    stmt = select(SlackMessage).where(SlackMessage.deployment_id == deployment_id).order_by(SlackMessage.id)
    return list(db_session.scalars(stmt))
