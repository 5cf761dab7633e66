"""Setting checklist items. A click is an absolute "set item X to S", recorded before the ack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import Conflict, NotFound, UserError
from bot.services import audit, messages
from bot.services.readiness import gates_ready, is_resolved
from bot.services.runs import Changed
from bot.services.signoffs import stale_signoffs
from bot.store.models import ChecklistItem, Deployment, ItemState, RunState, Source

EDITABLE = (RunState.OPEN, RunState.DEPLOYED, RunState.ROLLED_BACK)


def find_item(run: Deployment, *, item_id: int | None = None, key: str | None = None) -> ChecklistItem:
    for item in run.items:
        if (item_id is not None and item.id == item_id) or (key is not None and item.key == key):
            return item
    raise NotFound(f"Run #{run.id} has no checklist item {key or item_id}.")


def set_item(
    db_session: Session,
    *,
    state: str,
    actor: str,
    now: datetime,
    run_id: int | None = None,
    item_id: int | None = None,
    key: str | None = None,
    source: str = Source.SLACK,
    request_id: str | None = None,
    reason: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> Changed:
    """Set one item. Name it by id, or by run and key. Touches only that item's row (plus the run's lock)."""
    if state not in (ItemState.OPEN, ItemState.DONE, ItemState.NA):
        raise UserError(f"Unknown item state {state!r}.")
    reason = (reason or "").strip() or None
    if state == ItemState.NA and not reason:
        raise UserError("Marking an item N/A needs a reason.")
    if item_id is None and (run_id is None or key is None):
        raise UserError("Name the item by id, or by run and key.")
    if not audit.claim_request(db_session, request_id, now=now):
        return Changed(deployment_id=run_id or 0, duplicate=True)
    # Lock only the item's row (writers of one item queue here): clicks on different items of a run never
    # wait for each other. The run's state comes in the same round trip.
    cond = ChecklistItem.id == item_id if item_id is not None else ChecklistItem.key == key
    stmt = select(ChecklistItem, Deployment.state).join(Deployment).where(cond)
    if run_id is not None:
        stmt = stmt.where(ChecklistItem.deployment_id == run_id)
    row = db_session.execute(stmt.with_for_update(of=ChecklistItem)).first()
    if row is None:
        raise NotFound(f"That checklist item ({key or item_id}) does not exist in this run.")
    item, run_state = row
    changed = Changed(deployment_id=item.deployment_id)
    if run_state not in EDITABLE:
        raise Conflict(f"Run #{item.deployment_id} is {run_state}; its checklist can no longer change.")
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
        deployment_id=item.deployment_id,
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
    # Un-ticking a required item voids sign-offs. A final authorisation in flight waits for this item's
    # lock (signoffs.sign), so it either sees the un-tick or is staled here.
    unticked_gate = was_resolved and not is_resolved(item) and gates_ready(item)
    if unticked_gate and stale_signoffs(db_session, item.deployment_id, now=now, because=item.key):
        changed.notes.append("stale")
    # The item's message and the run message are marked dirty after the commit (AppContext.after_change):
    # every click of a run would otherwise queue on those shared rows while its transaction finishes.
    kind = messages.ROLLBACK if item.phase == "rollback" else messages.SECTION
    changed.touch += [(kind, f"{item.section_key}#"), (messages.PARENT, None)]
    return changed
