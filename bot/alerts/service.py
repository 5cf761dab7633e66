"""Alert state in the database: open (claimed once per run and rule), page claims, acknowledge, resolve,
escalate. Keyword-only functions taking the session first; every change is audited and marks the alert's
Slack message dirty. No Slack or provider calls here: the caller makes them after the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.alerts.roster import OnCall, at_level, has_next
from bot.alerts.triggers import AlertSpec
from bot.paging.base import ChainResult, dedup_key_for
from bot.render.text import mention
from bot.services import audit, messages
from bot.store.models import Alert, AlertState, Deployment, Page, Source


@dataclass
class AlertChange:
    alert_id: int
    run_id: int
    rule: str
    dedup_key: str
    changed: bool
    message_ids: list[int] = field(default_factory=list)
    state: str = AlertState.OPEN
    note: str = ""  # why nothing changed, for the person who clicked


@dataclass
class Opened(AlertChange):
    target: str | None = None  # who is paged first
    page_claimed: bool = False  # this replica owns the level-0 page


@dataclass
class Escalated(AlertChange):
    level: int = 0
    target: OnCall | None = None


def _message_ids(s: Session, alert: Alert) -> list[int]:
    return messages.mark_dirty(
        s, deployment_id=alert.deployment_id, kind=messages.ALERT, key_prefix=alert_message_key(alert.id)
    )


def alert_message_key(alert_id: int) -> str:
    return f"{alert_id}#"  # the "#" keeps alert 1's prefix from matching alert 12


def open_alert_for(s: Session, *, run_id: int, rule: str) -> Alert | None:
    stmt = select(Alert).where(Alert.deployment_id == run_id, Alert.rule == rule, Alert.state != AlertState.RESOLVED)
    return s.scalars(stmt).first()


def open_alerts_of_run(s: Session, run_id: int) -> list[Alert]:
    stmt = select(Alert).where(Alert.deployment_id == run_id, Alert.state != AlertState.RESOLVED)
    return list(s.scalars(stmt.order_by(Alert.id)))


def claim_page(s: Session, *, alert_id: int, level: int, target: str | None, dedup_key: str, now: datetime) -> bool:
    """The unique (alert, level) row is the claim: True for exactly one caller across restarts and replicas."""
    try:
        with s.begin_nested():
            s.add(
                Page(alert_id=alert_id, level=level, target=target, dedup_key=dedup_key, status="claimed", sent_at=now)
            )
            s.flush()
    except IntegrityError:
        return False
    return True


def open_alert(
    s: Session,
    *,
    run: Deployment,
    spec: AlertSpec,
    now: datetime,
    people: list[OnCall],
    ack_timeout: timedelta,
    repeat: bool,
    actor: str = "deploybot",
    source: str = Source.PROBE,
) -> Opened:
    """Open the alert unless one is already open for (run, rule): then nothing new, and no new page."""
    key = dedup_key_for(run.id, spec.rule)
    first = at_level(people, 0, repeat=repeat)
    alert = Alert(
        deployment_id=run.id,
        rule=spec.rule,
        state=AlertState.OPEN,
        severity=spec.severity,
        summary=spec.summary,
        evidence={**spec.evidence, "title": spec.title},
        opened_at=now,
        escalation_level=0,
        next_escalation_at=now + ack_timeout if has_next(people, 0, repeat=repeat) else None,
        version=1,
    )
    try:
        with s.begin_nested():
            s.add(alert)
            s.flush()
    except IntegrityError:
        existing = open_alert_for(s, run_id=run.id, rule=spec.rule)
        return Opened(
            alert_id=existing.id if existing else 0,
            run_id=run.id,
            rule=spec.rule,
            dedup_key=key,
            changed=False,
            state=existing.state if existing else AlertState.OPEN,
            note="already open",
        )
    target = first.user if first else None
    claimed = claim_page(s, alert_id=alert.id, level=0, target=target, dedup_key=key, now=now)
    msg = messages.ensure_message(
        s, deployment_id=run.id, kind=messages.ALERT, key=alert_message_key(alert.id), channel_id=run.channel_id or ""
    )
    audit.record(
        s,
        deployment_id=run.id,
        at=now,
        actor=actor,
        source=source,
        kind="alert",
        subject=spec.rule,
        from_state=None,
        to_state=AlertState.OPEN,
        detail={
            "alert": alert.id,
            "severity": spec.severity,
            "summary": spec.summary,
            "evidence": spec.evidence,
            "oncall": target,
        },
    )
    return Opened(
        alert_id=alert.id,
        run_id=run.id,
        rule=spec.rule,
        dedup_key=key,
        changed=True,
        message_ids=[msg.id],
        target=target,
        page_claimed=claimed,
    )


def result_rows(result: ChainResult) -> list[dict[str, Any]]:
    return [
        {
            "provider": r.provider,
            "ok": r.ok,
            "status": r.status_code,
            "error": r.error,
            "attempts": r.attempts,
        }
        for r in result.results
    ]


def finish_page(
    s: Session, *, alert_id: int, level: int, result: ChainResult, now: datetime, action: str = "trigger"
) -> list[int]:
    """Record what the providers said about a claimed page; the alert message shows failures plainly."""
    page = s.scalars(select(Page).where(Page.alert_id == alert_id, Page.level == level)).one()
    alert = s.get(Alert, alert_id)
    assert alert is not None
    ok = next((r.provider for r in result.results if r.ok), None)
    page.status = "sent" if ok else "failed"
    page.provider = ok
    page.results = [*result_rows(result), {"used_fallback": result.used_fallback}]
    audit.record(
        s,
        deployment_id=alert.deployment_id,
        at=now,
        actor="deploybot",
        source=Source.SYSTEM,
        kind="page",
        subject=f"{alert.rule} level {level}",
        from_state="claimed",
        to_state=page.status,
        detail={
            "alert": alert_id,
            "action": action,
            "target": page.target,
            "dedup_key": page.dedup_key,
            "accepted_by": ok,
            "fallback": result.used_fallback,
            "errors": result.errors(),
        },
    )
    alert.version += 1
    return _message_ids(s, alert)


def record_provider_call(
    s: Session, *, alert_id: int, action: str, result: ChainResult, now: datetime, actor: str
) -> None:
    """Acknowledge/resolve calls to the providers, for the audit trail."""
    alert = s.get(Alert, alert_id)
    if alert is None:
        return
    audit.record(
        s,
        deployment_id=alert.deployment_id,
        at=now,
        actor=actor,
        source=Source.SYSTEM,
        kind="page",
        subject=f"{alert.rule} {action}",
        to_state="sent" if result.any_ok else "failed",
        detail={"alert": alert_id, "action": action, "results": result_rows(result), "errors": result.errors()},
    )


def _lock(s: Session, alert_id: int) -> Alert | None:
    return s.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).first()


def _change(alert: Alert, *, changed: bool, note: str = "") -> AlertChange:
    return AlertChange(
        alert_id=alert.id,
        run_id=alert.deployment_id,
        rule=alert.rule,
        dedup_key=dedup_key_for(alert.deployment_id, alert.rule),
        changed=changed,
        state=alert.state,
        note=note,
    )


def _whois(alert: Alert) -> str:
    if alert.state == AlertState.ACKNOWLEDGED:
        return f"already acknowledged by {mention(alert.acknowledged_by)}"
    if alert.state == AlertState.RESOLVED:
        return f"already resolved by {mention(alert.resolved_by)}"
    return "open"


def acknowledge(
    s: Session,
    *,
    alert_id: int,
    actor: str,
    now: datetime,
    source: str = Source.SLACK,
    request_id: str | None = None,
) -> AlertChange:
    """Stops the escalation. Acknowledging twice (or after resolving) changes nothing."""
    alert = _lock(s, alert_id)
    if alert is None:
        raise LookupError(f"alert {alert_id} not found")
    if alert.state != AlertState.OPEN:
        return _change(alert, changed=False, note=_whois(alert))
    if not audit.claim_request(s, request_id, now=now):
        return _change(alert, changed=False, note="that click was already handled")
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_by = actor
    alert.acknowledged_at = now
    alert.next_escalation_at = None
    alert.version += 1
    audit.record(
        s,
        deployment_id=alert.deployment_id,
        at=now,
        actor=actor,
        source=source,
        kind="alert",
        subject=alert.rule,
        from_state=AlertState.OPEN,
        to_state=AlertState.ACKNOWLEDGED,
        detail={"alert": alert.id, "escalation_level": alert.escalation_level},
        request_id=request_id,
    )
    out = _change(alert, changed=True)
    out.message_ids = _message_ids(s, alert)
    return out


def resolve(
    s: Session,
    *,
    alert_id: int,
    actor: str,
    reason: str,
    now: datetime,
    source: str = Source.SLACK,
) -> AlertChange:
    """By a person (with a reason), on recovery, or by a roll back. Frees (run, rule) for a new alert."""
    alert = _lock(s, alert_id)
    if alert is None:
        raise LookupError(f"alert {alert_id} not found")
    if alert.state == AlertState.RESOLVED:
        return _change(alert, changed=False, note=_whois(alert))
    old = alert.state
    alert.state = AlertState.RESOLVED
    alert.resolved_by = actor
    alert.resolved_at = now
    alert.resolution = reason.strip()
    alert.next_escalation_at = None
    alert.version += 1
    audit.record(
        s,
        deployment_id=alert.deployment_id,
        at=now,
        actor=actor,
        source=source,
        kind="alert",
        subject=alert.rule,
        from_state=old,
        to_state=AlertState.RESOLVED,
        detail={"alert": alert.id, "resolution": alert.resolution},
    )
    out = _change(alert, changed=True)
    out.message_ids = _message_ids(s, alert)
    return out


def due_escalations(s: Session, *, now: datetime) -> list[int]:
    stmt = select(Alert.id).where(
        Alert.state == AlertState.OPEN, Alert.next_escalation_at.is_not(None), Alert.next_escalation_at <= now
    )
    return list(s.scalars(stmt.order_by(Alert.id)))


def escalate(
    s: Session, *, alert_id: int, now: datetime, people: list[OnCall], ack_timeout: timedelta, repeat: bool
) -> Escalated | None:
    """Move an unacknowledged alert to the next on-call person; None when not due or another replica did."""
    alert = _lock(s, alert_id)
    if alert is None or alert.state != AlertState.OPEN or alert.next_escalation_at is None:
        return None
    if alert.next_escalation_at > now:
        return None
    level = alert.escalation_level + 1
    target = at_level(people, level, repeat=repeat)
    if target is None or not has_next(people, alert.escalation_level, repeat=repeat):
        alert.next_escalation_at = None  # nobody further up: stop asking
        return None
    key = dedup_key_for(alert.deployment_id, alert.rule)
    if not claim_page(s, alert_id=alert.id, level=level, target=target.user, dedup_key=key, now=now):
        return None
    old_level = alert.escalation_level
    alert.escalation_level = level
    alert.next_escalation_at = now + ack_timeout if has_next(people, level, repeat=repeat) else None
    alert.version += 1
    audit.record(
        s,
        deployment_id=alert.deployment_id,
        at=now,
        actor="deploybot",
        source=Source.SYSTEM,
        kind="escalation",
        subject=alert.rule,
        from_state=f"level {old_level}",
        to_state=f"level {level}",
        detail={
            "alert": alert.id,
            "target": target.user,
            "slot": target.slot,
            "not_acknowledged_for": str(ack_timeout),
        },
    )
    out = Escalated(
        alert_id=alert.id,
        run_id=alert.deployment_id,
        rule=alert.rule,
        dedup_key=key,
        changed=True,
        state=alert.state,
        level=level,
        target=target,
    )
    out.message_ids = _message_ids(s, alert)
    return out
