"""Sign-offs by role: who may sign, in which order, and separation of duties. Refusals are recorded too."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from bot.errors import NotFound
from bot.services import audit
from bot.services.readiness import compute_readiness
from bot.services.runs import Changed, get_run, lock_gating_items, lock_run, mark_run_changed
from bot.store.db import expire_loaded
from bot.store.models import Deployment, RunState, Signoff, SignoffState, Source


def stale_signoffs(db_session: Session, run_id: int, *, now: datetime, because: str, final_only: bool = False) -> int:
    """Sign-offs given before a required item was un-ticked (or before a role was revoked) no longer hold."""
    # One Core statement on the connection (every un-tick of a required item runs this; the ORM's bulk
    # UPDATE costs several times more); sign-offs already loaded reload on their next use.
    signed = db_session.connection().execute(_stale_statement(final_only), {"p_run": run_id}).all()
    expire_loaded(db_session, Signoff, [s.id for s in signed])
    for s in signed:
        audit.record(
            db_session,
            deployment_id=run_id,
            at=now,
            actor="deploybot",
            source=Source.SYSTEM,
            kind="signoff",
            subject=s.role_key,
            from_state=SignoffState.SIGNED,
            to_state=SignoffState.STALE,
            detail={"because": because, "signed_by": s.user_id},
        )
    return len(signed)


@cache
def _stale_statement(final_only: bool) -> Any:
    stmt = (
        update(Signoff)
        .where(Signoff.deployment_id == bindparam("p_run"), Signoff.state == SignoffState.SIGNED)
        .values(state=SignoffState.STALE, version=Signoff.version + 1)
        .returning(Signoff.id, Signoff.role_key, Signoff.user_id)
    )
    return stmt.where(Signoff.final.is_(True)) if final_only else stmt


def _refuse(
    db_session: Session,
    changed: Changed,
    signoff: Signoff,
    *,
    actor: str,
    why: str,
    now: datetime,
    request_id: str | None,
    action: str,
) -> Changed:
    """A refused attempt changes nothing but is recorded, with the reason the person was given."""
    audit.record(
        db_session,
        deployment_id=signoff.deployment_id,
        at=now,
        actor=actor,
        source=Source.SLACK,
        kind="signoff_refused",
        subject=signoff.role_key,
        from_state=signoff.state,
        to_state=signoff.state,
        detail={"reason": why, "action": action},
        request_id=request_id,
    )
    changed.refused = why
    return changed


def find_signoff(run: Deployment, role_key: str) -> Signoff:
    for s in run.signoffs:
        if s.role_key == role_key:
            return s
    raise NotFound(f"Run #{run.id} has no sign-off role `{role_key}`.")


def refusal(run: Deployment, signoff: Signoff, actor: str, *, approver: bool, separation: bool) -> str | None:
    """Why `actor` may not sign `signoff` now, or None. Pure: reads the loaded run only; `approver` says
    whether `actor` is one of the role's approvers (resolved by the caller outside any transaction)."""
    if run.state != RunState.OPEN:
        return f"Run #{run.id} is {run.state}; sign-offs are closed."
    if signoff.state == SignoffState.SIGNED:
        return f"{signoff.role_title} is already signed by <@{signoff.user_id}>."
    if not approver:
        return f"You are not an approver for {signoff.role_title}."
    if separation:
        other = next(
            (s for s in run.signoffs if s is not signoff and s.user_id == actor and s.state == SignoffState.SIGNED),
            None,
        )
        if other is not None:
            return f"You already signed {other.role_title}; one person cannot sign two roles."
        if signoff.final and actor == run.started_by:
            return "You started this run, so someone else must give its final authorisation."
    if signoff.final:
        readiness = compute_readiness(run.items, [s for s in run.signoffs if s is not signoff])
        if readiness.required_open:
            return f"Final authorisation waits for {readiness.required_open} required item(s) still open."
        if readiness.signoffs_missing:
            return "Final authorisation waits for: " + ", ".join(readiness.signoffs_missing) + "."
    return None


def sign(
    db_session: Session,
    *,
    run_id: int,
    role_key: str,
    actor: str,
    now: datetime,
    approver: bool,
    separation_of_duties: bool = True,
    comment: str | None = None,
    request_id: str | None = None,
    confirmed: bool = True,
) -> Changed:
    """Sign `role_key` as `actor`, or record why not (changed.refused). Unconfirmed (the Sign off button,
    before its confirmation modal), an allowed attempt changes nothing."""
    changed = Changed(deployment_id=run_id)
    if not audit.claim_request(db_session, request_id, now=now):
        changed.duplicate = True
        return changed
    # Run first, then its required items: the order every writer takes them in, so none deadlock.
    lock_run(db_session, run_id)
    lock_gating_items(db_session, run_id)
    run = get_run(db_session, run_id)
    signoff = find_signoff(run, role_key)
    why = refusal(run, signoff, actor, approver=approver, separation=separation_of_duties)
    if why:
        return _refuse(
            db_session, changed, signoff, actor=actor, why=why, now=now, request_id=request_id, action="sign"
        )
    if not confirmed:
        return changed
    old = signoff.state
    signoff.state = SignoffState.SIGNED
    signoff.user_id = actor
    signoff.comment = (comment or "").strip() or None
    signoff.signed_at = now
    signoff.version += 1
    audit.record(
        db_session,
        deployment_id=run.id,
        at=now,
        actor=actor,
        source=Source.SLACK,
        kind="signoff",
        subject=role_key,
        from_state=old,
        to_state=SignoffState.SIGNED,
        detail={"comment": signoff.comment} if signoff.comment else None,
        request_id=request_id,
    )
    mark_run_changed(db_session, run.id, changed)
    return changed


def revoke(
    db_session: Session,
    *,
    run_id: int,
    role_key: str,
    actor: str,
    now: datetime,
    request_id: str | None = None,
) -> Changed:
    changed = Changed(deployment_id=run_id)
    if not audit.claim_request(db_session, request_id, now=now):
        changed.duplicate = True
        return changed
    run = get_run(db_session, run_id, for_update=True)
    signoff = find_signoff(run, role_key)
    why = None
    if run.state != RunState.OPEN:
        why = f"Run #{run.id} is {run.state}; its sign-offs are part of the record now."
    elif signoff.state not in (SignoffState.SIGNED, SignoffState.STALE) or signoff.user_id != actor:
        why = f"Only the person who signed {signoff.role_title} can revoke it."
    if why:
        return _refuse(
            db_session, changed, signoff, actor=actor, why=why, now=now, request_id=request_id, action="revoke"
        )
    old = signoff.state
    signoff.state = SignoffState.REVOKED
    signoff.version += 1
    audit.record(
        db_session,
        deployment_id=run.id,
        at=now,
        actor=actor,
        source=Source.SLACK,
        kind="signoff",
        subject=role_key,
        from_state=old,
        to_state=SignoffState.REVOKED,
        request_id=request_id,
    )
    if not signoff.final:
        db_session.flush()
        stale_signoffs(db_session, run.id, now=now, because=f"{role_key} revoked", final_only=True)
    mark_run_changed(db_session, run.id, changed)
    return changed
