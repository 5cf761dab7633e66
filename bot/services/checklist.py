"""Setting checklist items. A click is an absolute "set item X to S", recorded before the ack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.errors import Conflict, NotFound, UserError
from bot.services import audit, messages
from bot.services.readiness import gates_ready, is_resolved
from bot.services.runs import Changed, get_run, refresh_readiness
from bot.store.models import ChecklistItem, Deployment, ItemState, RunState, SignoffState, Source

EDITABLE = (RunState.OPEN, RunState.DEPLOYED, RunState.ROLLED_BACK)


def find_item(run: Deployment, *, item_id: int | None = None, key: str | None = None) -> ChecklistItem:
    for item in run.items:
        if (item_id is not None and item.id == item_id) or (key is not None and item.key == key):
            return item
    raise NotFound(f"Run #{run.id} has no checklist item {key or item_id}.")


def set_item(
    db_session: Session,
    *,
    run_id: int,
    state: str,
    actor: str,
    now: datetime,
    item_id: int | None = None,
    key: str | None = None,
    source: str = Source.SLACK,
    request_id: str | None = None,
    reason: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> Changed:
    changed = Changed(deployment_id=run_id)
    if state not in (ItemState.OPEN, ItemState.DONE, ItemState.NA):
        raise UserError(f"Unknown item state {state!r}.")
    reason = (reason or "").strip() or None
    if state == ItemState.NA and not reason:
        raise UserError("Marking an item N/A needs a reason.")
    if not audit.claim_request(db_session, request_id, now=now):
        changed.duplicate = True
        return changed
    # Locking the run serialises changes to one run, so readiness and staleness see every committed tick.
    run = get_run(db_session, run_id, for_update=True)
    if run.state not in EDITABLE:
        raise Conflict(f"Run #{run.id} is {run.state}; its checklist can no longer change.")
    item = find_item(run, item_id=item_id, key=key)
    old = item.state
    was_resolved = is_resolved(item)
    item.state = state
    item.na_reason = reason if state == ItemState.NA else None
    item.changed_by = actor
    item.changed_at = now
    item.source = source
    item.evidence = evidence
    item.version += 1
    detail: dict[str, Any] = {}
    if reason:
        detail["reason"] = reason
    if evidence:
        detail["evidence"] = evidence
    audit.record(
        db_session,
        deployment_id=run.id,
        at=now,
        actor=actor,
        source=source,
        kind="item",
        subject=item.key,
        from_state=old,
        to_state=state,
        detail=detail or None,
        request_id=request_id,
    )
    if was_resolved and not is_resolved(item) and gates_ready(item):
        _stale_signoffs(db_session, run, now=now, because=item.key)
        changed.notes.append("stale")
    kind = messages.ROLLBACK if item.phase == "rollback" else messages.SECTION
    changed.message_ids += messages.mark_dirty(
        db_session, deployment_id=run.id, kind=kind, key_prefix=f"{item.section_key}#"
    )
    refresh_readiness(db_session, run, changed, now=now)
    return changed


def _stale_signoffs(db_session: Session, run: Deployment, *, now: datetime, because: str) -> None:
    for s in run.signoffs:
        if s.state == SignoffState.SIGNED:
            s.state = SignoffState.STALE
            s.version += 1
            audit.record(
                db_session,
                deployment_id=run.id,
                at=now,
                actor="deploybot",
                source=Source.SYSTEM,
                kind="signoff",
                subject=s.role_key,
                from_state=SignoffState.SIGNED,
                to_state=SignoffState.STALE,
                detail={"because": because, "signed_by": s.user_id},
            )
