"""Deployment runs: start, find, abort, mark deployed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Integer, ScalarSelect, and_, bindparam, case, func, select, update
from sqlalchemy.orm import Session, selectinload

from bot.checklist.model import Template
from bot.checklist.phases import PRE, item_phase
from bot.errors import Conflict, NotFound, UserError
from bot.render import layout
from bot.run_names import RUN_NUMBER_MAX, run_field_problem
from bot.services import audit, messages
from bot.services.readiness import Readiness, SectionProgress, compute_readiness
from bot.store.models import ChecklistItem, Deployment, ItemState, RunState, Signoff, SignoffState, Source

TEMPLATE_ACTOR = "template"


@dataclass
class Changed:
    """What a write changed, for the caller to act on after the commit (re-render, announce)."""

    deployment_id: int
    message_ids: list[int] = field(default_factory=list)
    duplicate: bool = False
    notes: list[str] = field(default_factory=list)
    refused: str | None = None  # why the attempt was refused (it is still recorded)
    # Messages to mark dirty after the commit, as (kind, key prefix): see messages.touch.
    touch: list[tuple[str, str | None]] = field(default_factory=list)


def start_run(
    db_session: Session,
    *,
    template: Template,
    service: str,
    version: str,
    environment: str,
    channel_id: str,
    started_by: str,
    now: datetime,
    source: str = Source.SLACK,
    previous_version: str | None = None,
) -> Deployment:
    fields = {"service": service, "version": version, "environment": environment}
    problems = [p for f, v in fields.items() if (p := run_field_problem(f, v))]
    if problems:
        raise UserError(" ".join(problems))
    run = Deployment(
        service=service,
        version=version,
        environment=environment,
        template_name=template.name,
        template_hash=template.content_hash,
        template_snapshot=template.to_dict(),
        channel_id=channel_id,
        state=RunState.OPEN,
        started_by=started_by,
        created_at=now,
        updated_at=now,
        previous_version=previous_version,
        ready=False,
    )
    db_session.add(run)
    db_session.flush()
    position = 0
    for section in template.sections:
        for item in section.items:
            position += 1
            pre = item.prechecked
            run.items.append(
                ChecklistItem(
                    key=item.key,
                    section_key=section.key,
                    phase=item_phase(section, item),
                    position=position,
                    required=item.required,
                    state=ItemState.DONE if pre else ItemState.OPEN,
                    changed_by=TEMPLATE_ACTOR if pre else None,
                    changed_at=now if pre else None,
                    source=Source.TEMPLATE if pre else None,
                    version=1 if pre else 0,
                )
            )
    for pos, role in enumerate(template.signoff_roles):
        run.signoffs.append(Signoff(role_key=role.key, role_title=role.title, position=pos, final=role.final))
    db_session.flush()
    audit.record(
        db_session,
        deployment_id=run.id,
        at=now,
        actor=started_by,
        source=source,
        kind="run",
        from_state=None,
        to_state=RunState.OPEN,
        detail={
            "service": service,
            "version": version,
            "environment": environment,
            "template": template.name,
        },
    )
    for row in run.items:
        if row.state == ItemState.DONE:
            audit.record(
                db_session,
                deployment_id=run.id,
                at=now,
                actor=TEMPLATE_ACTOR,
                source=Source.TEMPLATE,
                kind="item",
                subject=row.key,
                from_state=ItemState.OPEN,
                to_state=ItemState.DONE,
            )
    messages.ensure_message(db_session, deployment_id=run.id, kind=messages.PARENT, key="", channel_id=channel_id)
    for slot in layout.slots(template, messages.SECTION):
        messages.ensure_message(
            db_session, deployment_id=run.id, kind=messages.SECTION, key=slot.key, channel_id=channel_id
        )
    return run


def get_run(db_session: Session, run_id: int, *, for_update: bool = False) -> Deployment:
    stmt = (
        select(Deployment)
        .where(Deployment.id == run_id)
        .options(selectinload(Deployment.items), selectinload(Deployment.signoffs))
    )
    if for_update:
        stmt = stmt.with_for_update(of=Deployment, key_share=True)
    run = db_session.scalars(stmt).first()
    if run is None:
        raise NotFound(f"There is no deployment run #{run_id}. `/deploy list` shows the open ones.")
    return run


def open_runs(db_session: Session, *, channel_id: str | None = None) -> list[Deployment]:
    stmt = select(Deployment).where(Deployment.state.in_([RunState.OPEN, RunState.DEPLOYED]))
    if channel_id:
        stmt = stmt.where(Deployment.channel_id == channel_id)
    return list(db_session.scalars(stmt.order_by(Deployment.id)))


def parse_run_ref(ref: str) -> int:
    text = ref.strip().lstrip("#")
    if not text.isdigit():
        raise UserError(f"`{ref}` is not a run number; use the number shown on the run, e.g. `#12`.")
    if len(text) > 10 or int(text) > RUN_NUMBER_MAX:
        raise NotFound(f"There is no deployment run #{text[:12]}{'…' if len(text) > 12 else ''}.")
    return int(text)


def resolve_run(db_session: Session, *, ref: str | None, channel_id: str) -> Deployment:
    """RUN may be omitted when exactly one run is open in the channel the command was typed in."""
    if ref:
        return get_run(db_session, parse_run_ref(ref))
    runs = open_runs(db_session, channel_id=channel_id)
    if len(runs) == 1:
        return get_run(db_session, runs[0].id)
    if not runs:
        raise NotFound("No deployment run is open in this channel; name one, e.g. `/deploy status 12`.")
    listed = ", ".join(f"#{r.id} ({r.service} {r.version})" for r in runs)
    raise UserError(f"Several runs are open here ({listed}); name one, e.g. `/deploy status {runs[0].id}`.")


def _readiness_terms(run_id: int | BindParameter[int]) -> tuple[ScalarSelect[int], ScalarSelect[int]]:
    """(required pre-deploy items still open, roles not signed) as SQL: a click never loads the run."""
    open_items = (
        select(func.count())
        .select_from(ChecklistItem)
        .where(
            ChecklistItem.deployment_id == run_id,
            ChecklistItem.phase == PRE,
            ChecklistItem.required.is_(True),
            ChecklistItem.state == ItemState.OPEN,
        )
        .scalar_subquery()
    )
    unsigned = (
        select(func.count())
        .select_from(Signoff)
        .where(Signoff.deployment_id == run_id, Signoff.state != SignoffState.SIGNED)
        .scalar_subquery()
    )
    return open_items, unsigned


def readiness_counts(db_session: Session, run_id: int) -> tuple[int, int]:
    row = db_session.execute(select(*_readiness_terms(run_id))).one()
    return int(row[0] or 0), int(row[1] or 0)


def section_counts(db_session: Session, run_id: int, section_keys: Sequence[str]) -> list[SectionProgress]:
    """Resolved/total items per section, counted in SQL (the run message shows them without loading items)."""
    resolved = func.sum(case((ChecklistItem.state.in_([ItemState.DONE, ItemState.NA]), 1), else_=0))
    stmt = (
        select(ChecklistItem.section_key, resolved, func.count())
        .where(ChecklistItem.deployment_id == run_id)
        .group_by(ChecklistItem.section_key)
    )
    counts = {key: (int(done or 0), int(total)) for key, done, total in db_session.execute(stmt)}
    return [
        SectionProgress(key=k, resolved=counts.get(k, (0, 0))[0], total=counts.get(k, (0, 0))[1]) for k in section_keys
    ]


def run_readiness(db_session: Session, run: Deployment, signoffs: Sequence[Signoff]) -> Readiness:
    open_items, _ = readiness_counts(db_session, run.id)
    missing = tuple(s.role_title for s in signoffs if s.state != SignoffState.SIGNED)
    return Readiness(
        ready=open_items == 0 and not missing,
        required_open=open_items,
        signoffs_missing=missing,
        items_gate_open=open_items == 0,
    )


_LOCK_RUN = select(Deployment.id).where(Deployment.id == bindparam("p_run")).with_for_update(key_share=True)


def lock_run(db_session: Session, run_id: int) -> None:
    """Lock the run row for this transaction (FOR NO KEY UPDATE, which leaves alone the key share that
    foreign-key inserts take). Only the id is read: loading the row would parse the template snapshot."""
    if db_session.connection().execute(_LOCK_RUN, {"p_run": run_id}).scalar() is None:
        raise NotFound(f"There is no deployment run #{run_id}. `/deploy list` shows the open ones.")


def lock_gating_items(db_session: Session, run_id: int) -> None:
    """Share-lock the run's required pre-deploy items: waits for clicks in flight on them to commit, so what
    is read next is what they wrote (a final authorisation must not miss an un-tick)."""
    stmt = select(ChecklistItem.id).where(
        ChecklistItem.deployment_id == run_id, ChecklistItem.phase == PRE, ChecklistItem.required.is_(True)
    )
    db_session.execute(stmt.with_for_update(read=True)).all()


def mark_run_changed(db_session: Session, run_id: int, changed: Changed) -> None:
    """The run message shows progress and sign-offs: re-render it after any change."""
    changed.message_ids += messages.mark_dirty(db_session, deployment_id=run_id, kind=messages.PARENT)


@cache
def _store_readiness() -> Any:
    """Built once (a settle follows every few clicks): the run's readiness, stored only when it flips."""
    run = bindparam("p_run", type_=Integer)
    open_items, unsigned = _readiness_terms(run)
    ready_now = and_(open_items == 0, unsigned == 0)
    return (
        update(Deployment)
        .where(Deployment.id == run, Deployment.ready.is_distinct_from(ready_now))
        .values(ready=ready_now, updated_at=bindparam("p_now", type_=Deployment.updated_at.type))
        .returning(Deployment.ready)
    )


def settle_readiness(db_session: Session, run_id: int, *, now: datetime) -> bool | None:
    """After a change has committed: store the run's readiness; the new value when it flipped, else None.

    One starts after every change commits (AppContext.after_change). The run's lock is taken before
    counting, so each count sees every change committed before it: the last one always sees the final
    state, a flip is never lost, and an older count can never flip it back. The conditional UPDATE makes
    it happen once.
    """
    lock_run(db_session, run_id)
    # Count and store in one statement: it runs after the lock, so it counts every change committed before.
    ready = db_session.connection().execute(_store_readiness(), {"p_run": run_id, "p_now": now}).scalar()
    if ready is None:
        return None
    audit.record(
        db_session,
        deployment_id=run_id,
        at=now,
        actor="deploybot",
        source=Source.SYSTEM,
        kind="readiness",
        from_state="not_ready" if ready else "ready",
        to_state="ready" if ready else "not_ready",
    )
    return ready


def abort_run(
    db_session: Session,
    *,
    run_id: int,
    actor: str,
    reason: str,
    now: datetime,
    source: str = Source.SLACK,
    request_id: str | None = None,
) -> Changed:
    if not reason.strip():
        raise UserError("Say why: `/deploy abort [RUN] REASON`.")
    if not audit.claim_request(db_session, request_id, now=now):
        return Changed(deployment_id=run_id, duplicate=True)
    run = get_run(db_session, run_id, for_update=True)
    if run.state not in (RunState.OPEN, RunState.DEPLOYED):
        raise Conflict(f"Run #{run.id} is already {run.state}.")
    old = run.state
    run.state = RunState.ABORTED
    run.ended_at = now
    run.end_reason = reason.strip()
    run.updated_at = now
    audit.record(
        db_session,
        deployment_id=run.id,
        at=now,
        actor=actor,
        source=source,
        kind="run",
        from_state=old,
        to_state=RunState.ABORTED,
        detail={"reason": reason.strip()},
    )
    changed = Changed(deployment_id=run.id)
    changed.message_ids += messages.mark_dirty(db_session, deployment_id=run.id, kind=messages.PARENT)
    changed.message_ids += messages.mark_dirty(db_session, deployment_id=run.id, kind=messages.SECTION)
    return changed


def mark_deployed(
    db_session: Session,
    *,
    run_id: int,
    actor: str,
    now: datetime,
    override_reason: str | None = None,
    source: str = Source.SLACK,
    request_id: str | None = None,
) -> Changed:
    changed = Changed(deployment_id=run_id)
    if not audit.claim_request(db_session, request_id, now=now):
        changed.duplicate = True
        return changed
    run = get_run(db_session, run_id, for_update=True)
    if run.state != RunState.OPEN:
        raise Conflict(f"Run #{run.id} is {run.state}; only an open run can be marked deployed.")
    readiness = compute_readiness(run.items, run.signoffs)
    reason = (override_reason or "").strip() or None
    if not readiness.ready and not reason:
        raise Conflict(
            f"Run #{run.id} is NOT READY ({readiness.required_open} required items open, "
            f"{len(readiness.signoffs_missing)} sign-offs missing). Finish it, or mark it deployed with an "
            "override reason."
        )
    run.state = RunState.DEPLOYED
    run.deployed_at = now
    run.deployed_by = actor
    run.deploy_override_reason = reason
    run.updated_at = now
    audit.record(
        db_session,
        deployment_id=run.id,
        at=now,
        actor=actor,
        source=source,
        kind="run",
        from_state=RunState.OPEN,
        to_state=RunState.DEPLOYED,
        detail={"override_reason": reason} if reason else None,
        request_id=request_id,
    )
    changed.message_ids += messages.mark_dirty(db_session, deployment_id=run.id, kind=messages.PARENT)
    changed.message_ids += messages.mark_dirty(db_session, deployment_id=run.id, kind=messages.SECTION)
    return changed
