"""A checkbox click on PostgreSQL as one statement: claim the request, lock and set the item, void sign-offs an
un-tick invalidates, and audit it all, in one round trip (see set_item for the rules; SQLite runs them in steps).

Data-modifying CTEs run exactly once, in one snapshot, and commit or fail together, so the statement needs
no surrounding transaction: the click path runs it in autocommit (Database.single_statement).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Row, String, bindparam, cast, exists, func, literal, null, select, true, union_all, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from bot.checklist.phases import PRE
from bot.services.readiness import RESOLVED
from bot.store.models import AuditEntry, ChecklistItem, Deployment, ProcessedRequest, Signoff, SignoffState, Source

ITEMS = ChecklistItem.metadata.tables[ChecklistItem.__tablename__]
RUNS = Deployment.metadata.tables[Deployment.__tablename__]
_SIGNOFFS = Signoff.metadata.tables[Signoff.__tablename__]
_AUDIT = AuditEntry.metadata.tables[AuditEntry.__tablename__]
_REQUESTS = ProcessedRequest.metadata.tables[ProcessedRequest.__tablename__]
_NOW = ITEMS.c.changed_at.type
_JSON = JSON(none_as_null=True)  # None is SQL NULL, as in the other writers' inserts
_AUDIT_COLUMNS = [
    "deployment_id",
    "at",
    "actor",
    "source",
    "kind",
    "subject",
    "from_state",
    "to_state",
    "detail",
    "request_id",
]


@dataclass(frozen=True)
class ItemChange:
    """What one click (or probe, or API call) asks of an item; named by id, or by run and key."""

    item_id: int | None
    run_id: int | None
    key: str | None
    state: str
    na_reason: str | None
    actor: str
    now: datetime
    source: str
    evidence: dict[str, Any] | None
    detail: dict[str, Any] | None
    request_id: str | None


def item_target(*, by_id: bool, in_run: bool) -> ColumnElement[bool]:
    """The item a change names: by id (checked against its run when one is given), or by run and key."""
    named = ITEMS.c.id == bindparam("p_item_id") if by_id else ITEMS.c.key == bindparam("p_key")
    return named & (ITEMS.c.deployment_id == bindparam("p_run_id")) if in_run else named


@cache
def click_statement(*, by_id: bool, in_run: bool, claim: bool, unticks: bool, editable: tuple[str, ...]) -> Select[Any]:
    """Built once per shape. It returns the item's fixed facts and its run's state (no row: no such item),
    claimed (0: a redelivery), updated (0: not changed) and staled (sign-offs voided)."""
    target = item_target(by_id=by_id, in_run=in_run)
    gate: list[ColumnElement[bool]] = [RUNS.c.state.in_(editable)]
    claimed = None
    if claim:
        claimed = (
            insert(_REQUESTS)
            .values(request_id=bindparam("p_request_id"), at=bindparam("p_now", type_=_NOW))
            .on_conflict_do_nothing()
            .returning(_REQUESTS.c.request_id)
            .cte("claim")
        )
        gate.append(exists(select(claimed.c.request_id)))
    # Lock the row, then set it: the locking subquery reads the latest committed state, the audit's "from".
    old = (
        select(ITEMS.c.id, ITEMS.c.state.label("old_state"))
        .join(RUNS, RUNS.c.id == ITEMS.c.deployment_id)
        .where(target, *gate)
        .with_for_update(of=ITEMS)
        .subquery("old")
    )
    changed = (
        update(ITEMS)
        .where(ITEMS.c.id == old.c.id)
        .values(
            state=bindparam("p_state"),
            na_reason=bindparam("p_na_reason"),
            changed_by=bindparam("p_actor"),
            changed_at=bindparam("p_now", type_=_NOW),
            source=bindparam("p_source"),
            evidence=bindparam("p_evidence", type_=_JSON),
            version=ITEMS.c.version + 1,
        )
        .returning(ITEMS.c.deployment_id, ITEMS.c.key, ITEMS.c.phase, ITEMS.c.required, old.c.old_state)
        .cte("changed")
    )
    entries = [
        select(
            changed.c.deployment_id,
            bindparam("p_now", type_=_NOW),
            bindparam("p_actor"),
            bindparam("p_source"),
            literal("item"),
            changed.c.key,
            changed.c.old_state,
            bindparam("p_state"),
            bindparam("p_detail", type_=_JSON),
            bindparam("p_request_id", type_=String),
        )
    ]
    staled = None
    if unticks:  # an un-tick of a resolved item that gates readiness voids the sign-offs (see set_item)
        staled = (
            update(_SIGNOFFS)
            .where(
                _SIGNOFFS.c.deployment_id == changed.c.deployment_id,
                _SIGNOFFS.c.state == SignoffState.SIGNED,
                changed.c.old_state.in_(RESOLVED),
                changed.c.phase == PRE,
                changed.c.required.is_(True),
            )
            .values(state=SignoffState.STALE, version=_SIGNOFFS.c.version + 1)
            .returning(_SIGNOFFS.c.role_key, _SIGNOFFS.c.user_id)
            .cte("staled")
        )
        because = func.json_build_object(
            literal("because", String), changed.c.key, literal("signed_by", String), staled.c.user_id
        )
        entries.append(
            select(
                changed.c.deployment_id,
                bindparam("p_now", type_=_NOW),
                literal("deploybot"),
                literal(Source.SYSTEM.value),
                literal("signoff"),
                staled.c.role_key,
                literal(SignoffState.SIGNED.value),
                literal(SignoffState.STALE.value),
                because,
                cast(null(), String),
            ).select_from(staled.join(changed, true()))
        )
    audited = _AUDIT.insert().from_select(_AUDIT_COLUMNS, union_all(*entries)).returning(_AUDIT.c.id).cte("audited")
    info = (
        select(
            ITEMS.c.id,
            ITEMS.c.deployment_id,
            ITEMS.c.key,
            ITEMS.c.phase,
            ITEMS.c.required,
            ITEMS.c.section_key,
            RUNS.c.state.label("run_state"),
        )
        .join(RUNS, RUNS.c.id == ITEMS.c.deployment_id)
        .where(target)
        .subquery("info")
    )

    def count(cte: Any) -> Any:
        return select(func.count()).select_from(cte).scalar_subquery()

    stmt = select(
        info,
        (count(claimed) if claimed is not None else literal(1)).label("claimed"),  # no request id: nothing to claim
        count(changed).label("updated"),
        (count(staled) if staled is not None else literal(0)).label("staled"),
    ).add_cte(audited)
    return stmt


def run_click(db_session: Session, change: ItemChange, *, editable: tuple[str, ...]) -> Row[Any] | None:
    stmt = click_statement(
        by_id=change.item_id is not None,
        in_run=change.run_id is not None,
        claim=bool(change.request_id),
        unticks=change.state not in RESOLVED,
        editable=editable,
    )
    # Prefixed names: Core treats an execution parameter named like a column as a value for the DML's SET.
    params = {f"p_{f.name}": getattr(change, f.name) for f in fields(change)}
    return db_session.connection().execute(stmt, params).first()
