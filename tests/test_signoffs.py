"""Sign-off rules at the service level: checking without signing, and closed runs keep their record."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.services.runs import abort_run, get_run
from bot.services.signoffs import revoke, sign
from bot.store.db import Database
from bot.store.models import AuditEntry, SignoffState
from tests.runs import start_test_run

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def _start(database: Database) -> int:
    return start_test_run(database, now=NOW, started_by="URM")


def _state(database: Database, run_id: int, role: str) -> tuple[str, str | None]:
    with database.read() as s:
        signoff = next(x for x in get_run(s, run_id).signoffs if x.role_key == role)
        return signoff.state, signoff.user_id


def _audit_kinds(database: Database, run_id: int) -> list[tuple[str, str | None]]:
    with database.read() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.deployment_id == run_id, AuditEntry.kind != "run"))
        return [(e.kind, e.subject) for e in rows if e.kind.startswith("signoff")]


def test_an_unconfirmed_attempt_never_signs_but_a_refused_one_is_recorded(database: Database) -> None:
    """The Sign off button checks (and records a refusal) before its confirmation modal; even if the run
    changed in between so that the check passes, nothing is signed until the person confirms."""
    run_id = _start(database)
    with database.write() as s:
        allowed = sign(
            s, run_id=run_id, role_key="security-team", actor="USEC", now=NOW, approver=True, confirmed=False
        )
    assert (allowed.refused, allowed.duplicate) == (None, False)
    assert _state(database, run_id, "security-team") == (SignoffState.PENDING, None)
    assert _audit_kinds(database, run_id) == []
    with database.write() as s:
        refused = sign(s, run_id=run_id, role_key="security-team", actor="UX", now=NOW, approver=False, confirmed=False)
    assert refused.refused == "You are not an approver for Security Team."
    assert _audit_kinds(database, run_id) == [("signoff_refused", "security-team")]


def test_a_closed_runs_signoffs_cannot_be_revoked(database: Database) -> None:
    run_id = _start(database)
    with database.write() as s:
        sign(s, run_id=run_id, role_key="security-team", actor="USEC", now=NOW, approver=True)
    with database.write() as s:
        abort_run(s, run_id=run_id, actor="URM", reason="pulled", now=NOW)
    with database.write() as s:
        changed = revoke(s, run_id=run_id, role_key="security-team", actor="USEC", now=NOW)
    assert changed.refused == f"Run #{run_id} is aborted; its sign-offs are part of the record now."
    assert _state(database, run_id, "security-team") == (SignoffState.SIGNED, "USEC")
    assert _audit_kinds(database, run_id)[-1] == ("signoff_refused", "security-team")
