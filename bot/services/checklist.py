"""Setting checklist items. A click is an absolute "set item X to S", recorded before the ack."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.errors import Conflict, NotFound, UserError
from bot.services import audit, messages
from bot.services.checklist_pg import ITEMS, RUNS, ItemChange, item_target, run_click
from bot.services.readiness import RESOLVED, gates_ready, is_resolved
from bot.services.runs import Changed
from bot.services.signoffs import stale_signoffs
from bot.store.db import expire_loaded
from bot.store.models import ChecklistItem, Deployment, ItemState, RunState, Signoff, Source

EDITABLE = (RunState.OPEN, RunState.DEPLOYED, RunState.ROLLED_BACK)
_CLICK_COLUMNS = [ITEMS.c[name] for name in ("id", "deployment_id", "key", "state", "phase", "required", "section_key")]


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
    """Set one item. Name it by id, or by run and key. Writes only that item's row, its audit entry, and the
    sign-offs an un-tick of a gating item voids."""
    if state not in (ItemState.OPEN, ItemState.DONE, ItemState.NA):
        raise UserError(f"Unknown item state {state!r}.")
    reason = (reason or "").strip() or None
    if state == ItemState.NA and not reason:
        raise UserError("Marking an item N/A needs a reason.")
    if item_id is None and (run_id is None or key is None):
        raise UserError("Name the item by id, or by run and key.")
    detail: dict[str, Any] = {}
    if reason:
        detail["reason"] = reason
    if evidence:
        detail["evidence"] = evidence
    change = ItemChange(
        item_id=item_id,
        run_id=run_id,
        key=key,
        state=state,
        na_reason=reason if state == ItemState.NA else None,
        actor=actor,
        now=now,
        source=source,
        evidence=evidence,
        detail=detail or None,
        request_id=request_id,
    )
    if db_session.get_bind().dialect.name == "postgresql":
        done = _set_in_one_statement(db_session, change)
    elif audit.claim_request(db_session, request_id, now=now):
        done = _set_in_steps(db_session, change)
    else:
        done = None
    if done is None:  # a redelivered request changes nothing
        return Changed(deployment_id=run_id or 0, duplicate=True)
    item, staled = done
    changed = Changed(deployment_id=item.deployment_id)
    if staled:
        changed.notes.append("stale")
    # The item's message and the run message are marked dirty after the commit (AppContext.after_change):
    # every click of a run would otherwise queue on those shared rows while its transaction finishes.
    kind = messages.ROLLBACK if item.phase == "rollback" else messages.SECTION
    changed.touch += [(kind, f"{item.section_key}#"), (messages.PARENT, None)]
    return changed


def _editable_item(item: Any, named: object) -> Any:
    """The item row the click names, if it exists and its run still takes changes."""
    if item is None:
        raise NotFound(f"That checklist item ({named}) does not exist in this run.")
    if item.run_state not in EDITABLE:
        raise Conflict(f"Run #{item.deployment_id} is {item.run_state}; its checklist can no longer change.")
    return item


def _loaded_signoffs(db_session: Session, run_id: int) -> list[int]:
    return [o.id for o in db_session.identity_map.values() if isinstance(o, Signoff) and o.deployment_id == run_id]


def _set_in_one_statement(db_session: Session, change: ItemChange) -> tuple[Any, bool] | None:
    """PostgreSQL: one round trip (services/checklist_pg.py)."""
    row = run_click(db_session, change, editable=EDITABLE)
    if row is not None and not row.claimed:
        return None
    item = _editable_item(row, change.key or change.item_id)
    if not item.updated:  # the run closed between the statement's snapshot and its lock
        raise Conflict(f"Run #{item.deployment_id} changed meanwhile; try again.")
    expire_loaded(db_session, ChecklistItem, [item.id])
    if item.staled:
        expire_loaded(db_session, Signoff, _loaded_signoffs(db_session, item.deployment_id))
    return item, bool(item.staled)


@cache
def _lock_statement(*, by_id: bool, in_run: bool) -> Select[Any]:
    """Built once per shape: statements built per click cost more CPU than SQLite takes to run them."""
    target = item_target(by_id=by_id, in_run=in_run)
    return select(*_CLICK_COLUMNS, RUNS.c.state.label("run_state")).join(RUNS).where(target).with_for_update(of=ITEMS)


# The other columns' values come with each execution.
_SET_ITEM = update(ITEMS).where(ITEMS.c.id == bindparam("p_id")).values(version=ITEMS.c.version + 1)


def _set_in_steps(db_session: Session, change: ItemChange) -> tuple[Any, bool]:
    """The click as separate statements (SQLite): lock the item's row, set it, audit it, void sign-offs."""
    # Lock only the item's row (writers of one item queue here): clicks on different items of a run never
    # wait for each other. The run's state comes in the same round trip.
    conn = db_session.connection()
    lock = _lock_statement(by_id=change.item_id is not None, in_run=change.run_id is not None)
    params = {"p_item_id": change.item_id, "p_key": change.key, "p_run_id": change.run_id}
    item = _editable_item(conn.execute(lock, params).first(), change.key or change.item_id)
    values = {
        "state": change.state,
        "na_reason": change.na_reason,
        "changed_by": change.actor,
        "changed_at": change.now,
        "source": change.source,
        "evidence": change.evidence,
    }
    conn.execute(_SET_ITEM, {"p_id": item.id, **values})
    expire_loaded(db_session, ChecklistItem, [item.id])
    audit.record(
        db_session,
        deployment_id=item.deployment_id,
        at=change.now,
        actor=change.actor,
        source=change.source,
        kind="item",
        subject=item.key,
        from_state=item.state,
        to_state=change.state,
        detail=change.detail,
        request_id=change.request_id,
    )
    # Un-ticking a required item voids sign-offs. A final authorisation in flight waits for this item's
    # lock (signoffs.sign), so it either sees the un-tick or is staled here.
    unticked_gate = is_resolved(item) and change.state not in RESOLVED and gates_ready(item)
    staled = unticked_gate and bool(stale_signoffs(db_session, item.deployment_id, now=change.now, because=item.key))
    return item, staled
