"""Roll back a run: claim it (state rolled_back, once), resolve its alerts, post the Rollback Process
checklist, then call the signed rollback webhook (or post the instructions) and report in the thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.alerts import service
from bot.alerts.engine import Alerting
from bot.alerts.service import AlertChange
from bot.errors import Conflict
from bot.render import layout
from bot.render.text import escape, truncate
from bot.rollback_action import RollbackAction, RollbackOutcome, run_rollback
from bot.services import audit, messages
from bot.services.runs import get_run
from bot.settings import Settings
from bot.store.models import Deployment, RunState, Source


@dataclass
class RollbackStarted:
    run_id: int
    service: str
    version: str
    previous_version: str | None
    environment: str
    message_ids: list[int] = field(default_factory=list)
    resolved: list[AlertChange] = field(default_factory=list)


def start_rollback(
    s: Session, *, run_id: int, actor: str, reason: str, now: datetime, alert_id: int | None = None
) -> RollbackStarted:
    """The state change is the claim: a second click (or replica) finds the run already rolled back."""
    run = get_run(s, run_id, for_update=True)
    if run.state == RunState.ROLLED_BACK:
        raise Conflict(f"Run #{run.id} is already rolled back.")
    if run.state != RunState.DEPLOYED:
        raise Conflict(f"Run #{run.id} is {run.state}; only a deployed run can be rolled back.")
    run.state = RunState.ROLLED_BACK
    run.ended_at = now
    run.end_reason = reason.strip() or "rolled back"
    run.updated_at = now
    audit.record(
        s,
        deployment_id=run.id,
        at=now,
        actor=actor,
        source=Source.SLACK,
        kind="run",
        from_state=RunState.DEPLOYED,
        to_state=RunState.ROLLED_BACK,
        detail={"reason": run.end_reason, "alert": alert_id},
    )
    started = RollbackStarted(run.id, run.service, run.version, run.previous_version, run.environment)
    started.message_ids += _rollback_messages(s, run)
    for kind in (messages.PARENT, messages.SECTION, messages.ALERT):
        started.message_ids += messages.mark_dirty(s, deployment_id=run.id, kind=kind)
    for alert in service.open_alerts_of_run(s, run.id):
        change = service.resolve(s, alert_id=alert.id, actor=actor, reason="rolled back", now=now)
        started.resolved.append(change)
        started.message_ids += change.message_ids
    return started


def _rollback_messages(s: Session, run: Deployment) -> list[int]:
    """The Rollback Process section, posted in the thread as a checklist of its own."""
    from bot.checklist.model import Template

    template = Template.from_dict(run.template_snapshot)
    ids = []
    for slot in layout.slots(template, messages.ROLLBACK):
        msg = messages.ensure_message(
            s, deployment_id=run.id, kind=messages.ROLLBACK, key=slot.key, channel_id=run.channel_id or ""
        )
        ids.append(msg.id)
    return ids


def action_for(settings: Settings, started: RollbackStarted) -> RollbackAction:
    svc = settings.services.get(started.service)
    previous = started.previous_version or "the previous version"
    default = (
        f"No rollback webhook is configured for {started.service}. Roll back by hand: redeploy {previous} "
        f"to {started.environment}, then work through the Rollback Process checklist below."
    )
    instructions = (svc.rollback_instructions if svc else None) or default
    if svc is None or svc.rollback is None:
        return RollbackAction(webhook_url=None, instructions=instructions)
    secret = settings.rollback_webhook_secret.get_secret_value() if settings.rollback_webhook_secret else ""
    return RollbackAction(webhook_url=str(svc.rollback.webhook_url), secret=secret, instructions=instructions)


def outcome_text(outcome: RollbackOutcome, started: RollbackStarted, actor: str) -> str:
    target = started.previous_version or "the previous version"
    head = f":rewind: Roll back of run #{started.run_id} to {escape(target)} requested by <@{actor}>"
    if outcome.instructions_only:
        return f"{head}. Instructions:\n>{escape(truncate(outcome.detail, 2500))}"
    if outcome.ok:
        return f"{head}: the deploy system accepted it (HTTP {outcome.status_code})."
    why = f"HTTP {outcome.status_code}" if outcome.status_code else "no answer"
    return (
        f":x: {head}, but the rollback webhook failed ({why} after {outcome.attempts} attempt(s)): "
        f"{escape(truncate(outcome.detail, 500))}. Roll back by hand and follow the Rollback Process below."
    )


def roll_back(
    engine: Alerting, *, run_id: int, actor: str, reason: str, alert_id: int | None = None
) -> RollbackOutcome:
    ctx = engine.ctx
    now = ctx.clock.now()
    with ctx.db.write() as s:
        started = start_rollback(s, run_id=run_id, actor=actor, reason=reason, now=now, alert_id=alert_id)
    ctx.updater.notify(started.message_ids)
    for change in started.resolved:
        engine.resolved(change, actor=actor)
    outcome = run_rollback(
        action_for(ctx.settings, started),
        run_id=started.run_id,
        service=started.service,
        version=started.version,
        previous_version=started.previous_version,
        environment=started.environment,
        requested_by=actor,
        client=engine.client,
        clock=ctx.clock,
        policy=engine.policy,
    )
    with ctx.db.write() as s:
        audit.record(
            s,
            deployment_id=run_id,
            at=ctx.clock.now(),
            actor=actor,
            source=Source.SYSTEM,
            kind="rollback",
            subject=started.service,
            to_state="instructions" if outcome.instructions_only else ("accepted" if outcome.ok else "failed"),
            detail={
                "previous_version": started.previous_version,
                "status": outcome.status_code,
                "attempts": outcome.attempts,
                "detail": truncate(outcome.detail, 500),
                "alert": alert_id,
            },
        )
    engine.say_in_thread(run_id, outcome_text(outcome, started, actor))
    return outcome
