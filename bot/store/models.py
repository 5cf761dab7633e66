"""The database schema. Readiness and progress are derived from these rows, never stored twice."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.store.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class RunState(enum.StrEnum):
    OPEN = "open"  # checklist in progress (READY is derived, not a state)
    DEPLOYED = "deployed"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"
    CLOSED = "closed"  # post-deploy schedule finished


class ItemState(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    NA = "na"


class SignoffState(enum.StrEnum):
    PENDING = "pending"
    SIGNED = "signed"
    STALE = "stale"  # signed, then a required item was un-ticked: must be renewed
    REVOKED = "revoked"


class Source(enum.StrEnum):
    SLACK = "slack"
    PROBE = "probe"
    API = "api"
    TEMPLATE = "template"
    SYSTEM = "system"


class AlertState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(100))
    template_name: Mapped[str] = mapped_column(String(200))
    template_hash: Mapped[str] = mapped_column(String(64))
    template_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)  # large: load on demand
    channel_id: Mapped[str | None] = mapped_column(String(40))
    thread_ts: Mapped[str | None] = mapped_column(String(40))  # ts of the parent message
    state: Mapped[str] = mapped_column(String(20), default=RunState.OPEN)
    started_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deployed_at: Mapped[datetime | None]
    deployed_by: Mapped[str | None] = mapped_column(String(100))
    deploy_override_reason: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
    previous_version: Mapped[str | None] = mapped_column(String(200))
    ready: Mapped[bool] = mapped_column(Boolean, default=False)  # last announced readiness, to tell flips

    items: Mapped[list[ChecklistItem]] = relationship(
        back_populates="deployment", order_by="ChecklistItem.position", cascade="all, delete-orphan"
    )
    signoffs: Mapped[list[Signoff]] = relationship(
        back_populates="deployment", order_by="Signoff.position", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_deployments_state_channel", "state", "channel_id"),)


class ChecklistItem(Base):
    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    section_key: Mapped[str] = mapped_column(String(120))
    phase: Mapped[str] = mapped_column(String(20), default="pre")  # pre, deploy, post, rollback
    position: Mapped[int] = mapped_column(Integer)
    required: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(10), default=ItemState.OPEN)
    na_reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(String(100))
    changed_at: Mapped[datetime | None]
    source: Mapped[str | None] = mapped_column(String(20))
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumped on every change

    deployment: Mapped[Deployment] = relationship(back_populates="items")

    __table_args__ = (UniqueConstraint("deployment_id", "key", name="uq_item_key"),)


class Signoff(Base):
    __tablename__ = "signoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    role_key: Mapped[str] = mapped_column(String(120))
    role_title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(10), default=SignoffState.PENDING)
    user_id: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=0)

    deployment: Mapped[Deployment] = relationship(back_populates="signoffs")

    __table_args__ = (UniqueConstraint("deployment_id", "role_key", name="uq_signoff_role"),)


class AuditEntry(Base):
    """Append-only: every state change and every refused attempt."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(30))  # item, signoff, run, alert, page, rollback, refused...
    subject: Mapped[str | None] = mapped_column(String(255))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_audit_deployment_at", "deployment_id", "id"),)


class ProcessedRequest(Base):
    """One row per Slack request that changed state: a redelivery finds its row and changes nothing."""

    __tablename__ = "processed_requests"

    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]


class SlackMessage(Base):
    """A message that shows (part of) a run; `dirty` > `rendered` means chat.update is due."""

    __tablename__ = "slack_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # parent, section, alert, trend, rollback
    key: Mapped[str] = mapped_column(String(255), default="")
    channel_id: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str | None] = mapped_column(String(40))
    dirty: Mapped[int] = mapped_column(Integer, default=0)
    rendered: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("deployment_id", "kind", "key", name="uq_message_kind_key"),)


class ProbeRun(Base):
    """A scheduled probe evaluation; the unique slot is the claim that keeps it from running twice."""

    __tablename__ = "probe_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    job: Mapped[str] = mapped_column(String(60))  # metrics, smoke, summary-1h, trend, summary-24h, daily, report-7d
    slot: Mapped[datetime]  # the scheduled time this run stands for
    claimed_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str | None] = mapped_column(String(20))
    results: Mapped[list[Any] | None] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("deployment_id", "job", "slot", name="uq_probe_slot"),)


class RuleStateRow(Base):
    __tablename__ = "rule_states"

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(120), primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(20), default=AlertState.OPEN)
    severity: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    opened_at: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None]
    channel_ts: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # At most one unresolved alert per (run, rule), on every replica.
        Index(
            "uq_alert_open",
            "deployment_id",
            "rule",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
    )


class Page(Base):
    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)  # escalation level: 0 = primary
    target: Mapped[str | None] = mapped_column(String(100))  # Slack user paged
    provider: Mapped[str | None] = mapped_column(String(30))  # first provider that accepted
    dedup_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))  # claimed, sent, failed
    sent_at: Mapped[datetime]
    results: Mapped[list[Any] | None] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("alert_id", "level", name="uq_page_level"),)


class Setting(Base):
    """Small key/value facts the app keeps (e.g. cached user-group members with their fetch time)."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


__all__ = [
    "Alert",
    "AlertState",
    "AuditEntry",
    "Base",
    "ChecklistItem",
    "Deployment",
    "ItemState",
    "Page",
    "ProbeRun",
    "ProcessedRequest",
    "RuleStateRow",
    "RunState",
    "Setting",
    "SignoffState",
    "SlackMessage",
    "Signoff",
    "Source",
]
