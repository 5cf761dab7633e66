"""Setting checklist items. A click is an absolute "set item X to S", recorded before the ack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.errors import Conflict, NotFound, UserError
from bot.services import audit, messages
from bot.services.readiness import RESOLVED, gates_ready, is_resolved
from bot.services.runs import Changed
from bot.services.signoffs import stale_signoffs
from bot.store.db import expire_loaded
from bot.store.models import ChecklistItem, Deployment, ItemState, RunState, Source

EDITABLE = (RunState.OPEN, RunState.DEPLOYED, RunState.ROLLED_BACK)
_ITEMS = ChecklistItem.metadata.tables[ChecklistItem.__tablename__]
_RUNS = Deployment.metadata.tables[Deployment.__tablename__]
_CLICK_COLUMNS = [
    _ITEMS.c[name] for name in ("id", "deployment_id", "key", "state", "phase", "required", "section_key")
]


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
    # wait for each other. The run's state comes in the same round trip. Core statements on the session's
    # connection: this is every click's path, and the ORM's objects and flush cost several times more.
    conn = db_session.connection()
    cond = _ITEMS.c.id == item_id if item_id is not None else _ITEMS.c.key == key
    stmt = select(*_CLICK_COLUMNS, _RUNS.c.state.label("run_state")).join(_RUNS).where(cond)
    if run_id is not None:
        stmt = stmt.where(_ITEMS.c.deployment_id == run_id)
    item = conn.execute(stmt.with_for_update(of=_ITEMS)).first()
    if item is None:
        raise NotFound(f"That checklist item ({key or item_id}) does not exist in this run.")
    changed = Changed(deployment_id=item.deployment_id)
    if item.run_state not in EDITABLE:
        raise Conflict(f"Run #{item.deployment_id} is {item.run_state}; its checklist can no longer change.")
    values = {
        "state": state,
        "na_reason": reason if state == ItemState.NA else None,
        "changed_by": actor,
        "changed_at": now,
        "source": source,
        "evidence": evidence,
        "version": _ITEMS.c.version + 1,
    }
    conn.execute(update(_ITEMS).where(_ITEMS.c.id == item.id).values(values))
    expire_loaded(db_session, ChecklistItem, [item.id])
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
        from_state=item.state,
        to_state=state,
        detail=detail or None,
        request_id=request_id,
    )
    # Un-ticking a required item voids sign-offs. A final authorisation in flight waits for this item's
    # lock (signoffs.sign), so it either sees the un-tick or is staled here.
    unticked_gate = is_resolved(item) and state not in RESOLVED and gates_ready(item)
    if unticked_gate and stale_signoffs(db_session, item.deployment_id, now=now, because=item.key):
        changed.notes.append("stale")
    # The item's message and the run message are marked dirty after the commit (AppContext.after_change):
    # every click of a run would otherwise queue on those shared rows while its transaction finishes.
    kind = messages.ROLLBACK if item.phase == "rollback" else messages.SECTION
    changed.touch += [(kind, f"{item.section_key}#"), (messages.PARENT, None)]
    return changed
