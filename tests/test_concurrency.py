"""Concurrent writers on one run: nothing overwritten, both changes audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.services.audit import entries
from bot.services.checklist import set_item
from bot.services.runs import get_run
from bot.store.db import Database
from bot.store.models import ItemState, SignoffState
from tests.runs import start_test_run

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _start(db: Database) -> int:
    return start_test_run(db, now=NOW)


def _together(workers: list[Callable[[], None]]) -> list[BaseException]:
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> None:
        barrier.wait()
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_different_items_at_once_are_all_kept(database: Database) -> None:
    run_id = _start(database)
    with database.read() as s:
        keys = [i.key for i in get_run(s, run_id).items if i.state == ItemState.OPEN][:12]

    def tick(key: str, user: str) -> Callable[[], None]:
        def go() -> None:
            with database.write() as s:
                set_item(s, run_id=run_id, key=key, state=ItemState.DONE, actor=user, now=NOW, request_id=f"r-{key}")

        return go

    assert _together([tick(k, f"U{i}") for i, k in enumerate(keys)]) == []
    with database.read() as s:
        run = get_run(s, run_id)
        done = {i.key: i.changed_by for i in run.items if i.key in keys}
        assert all(run_item.state == ItemState.DONE for run_item in run.items if run_item.key in keys)
        assert done == {k: f"U{i}" for i, k in enumerate(keys)}
        audited = {e.subject for e in entries(s, run_id) if e.kind == "item" and e.actor != "template"}
    assert audited == set(keys)


def test_two_writers_on_one_item_end_defined_with_both_audited(database: Database) -> None:
    run_id = _start(database)
    key = "pre-deployment-security-requirements.security-audit-passed"
    for round_ in range(5):

        def write(state: str, user: str, rid: str) -> Callable[[], None]:
            def go() -> None:
                with database.write() as s:
                    set_item(s, run_id=run_id, key=key, state=state, actor=user, now=NOW, request_id=rid)

            return go

        errors = _together([write(ItemState.DONE, "UA", f"a{round_}"), write(ItemState.OPEN, "UB", f"b{round_}")])
        assert errors == []
        with database.read() as s:
            item = next(i for i in get_run(s, run_id).items if i.key == key)
            log = [e for e in entries(s, run_id) if e.subject == key][-2:]
        # Serialised: the second writer saw the first one's state, and the row holds the last writer's.
        assert {e.actor for e in log} == {"UA", "UB"}
        assert log[1].from_state == log[0].to_state
        assert (item.state, item.changed_by) == (log[1].to_state, log[1].actor)


def test_redelivered_request_counts_once_even_concurrently(database: Database) -> None:
    run_id = _start(database)
    key = "pre-deployment-security-requirements.security-audit-passed"

    def same() -> None:
        with database.write() as s:
            set_item(s, run_id=run_id, key=key, state=ItemState.DONE, actor="UA", now=NOW, request_id="t:same")

    assert _together([same, same, same]) == []
    with database.read() as s:
        assert len([e for e in entries(s, run_id) if e.subject == key]) == 1
        assert s.scalars(select(1)).first() == 1


def test_last_two_ticks_at_once_flip_readiness_exactly_once(database: Database) -> None:
    from bot.services.runs import settle_readiness
    from bot.store.models import AuditEntry, Deployment, Signoff, SignoffState

    run_id = _start(database)
    with database.write() as s:
        run = get_run(s, run_id)
        required = [i.key for i in run.items if i.phase == "pre" and i.required and i.state == ItemState.OPEN]
        for key in required[:-2]:
            set_item(s, run_id=run_id, key=key, state=ItemState.DONE, actor="U1", now=NOW)
        for signoff in s.scalars(select(Signoff).where(Signoff.deployment_id == run_id)):
            signoff.state, signoff.user_id = SignoffState.SIGNED, "U9"
    flips: list[bool | None] = []

    def last(key: str) -> Callable[[], None]:
        def go() -> None:
            with database.write() as s:
                set_item(s, run_id=run_id, key=key, state=ItemState.DONE, actor="U2", now=NOW)
            with database.write() as s:  # what AppContext.after_change does once the tick committed
                flips.append(settle_readiness(s, run_id, now=NOW))

        return go

    assert _together([last(required[-2]), last(required[-1])]) == []
    assert sorted(flips, key=str) == [None, True]
    with database.read() as s:
        assert s.get_one(Deployment, run_id).ready is True
        kinds = [e.kind for e in s.scalars(select(AuditEntry).where(AuditEntry.deployment_id == run_id))]
    assert kinds.count("readiness") == 1


def test_final_authorisation_waits_for_an_untick_in_flight_and_is_refused(database: Database) -> None:
    """The un-tick takes no run lock; the final sign-off share-locks the required items, so it waits for the
    un-tick's commit and sees the item open (it can never authorise a run whose required item is open)."""
    from bot.services.signoffs import sign
    from bot.store.models import Signoff, SignoffState

    run_id = _start(database)
    with database.write() as s:
        run = get_run(s, run_id)
        required = [i.key for i in run.items if i.phase == "pre" and i.required and i.state == ItemState.OPEN]
        for key in required:
            set_item(s, run_id=run_id, key=key, state=ItemState.DONE, actor="U1", now=NOW)
        final = None
        for n, signoff in enumerate(s.scalars(select(Signoff).where(Signoff.deployment_id == run_id))):
            if signoff.final:
                final = signoff.role_key
            else:
                signoff.state, signoff.user_id = SignoffState.SIGNED, f"US{n}"
    assert final is not None
    untick_started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def untick() -> None:
        with database.write() as s:
            set_item(s, run_id=run_id, key=required[0], state=ItemState.OPEN, actor="U2", now=NOW)
            untick_started.set()
            assert release.wait(10)

    def authorise() -> None:
        assert untick_started.wait(10)
        with database.write() as s:
            changed = sign(s, run_id=run_id, role_key=final, actor="UDM", now=NOW, approver=True)
            outcome["refused"] = changed.refused

    threads = [threading.Thread(target=untick), threading.Thread(target=authorise)]
    for t in threads:
        t.start()
    assert untick_started.wait(10)
    threads[1].join(0.5)
    assert threads[1].is_alive(), "the final sign-off must wait for the un-tick in flight"
    release.set()
    for t in threads:
        t.join(20)
    assert "1 required item(s) still open" in str(outcome["refused"])
    with database.read() as s:
        signed = {x.role_key: x.state for x in s.scalars(select(Signoff).where(Signoff.deployment_id == run_id))}
    assert signed[final] != SignoffState.SIGNED


def test_a_click_keeps_the_objects_its_session_already_holds_in_step(database: Database) -> None:
    """set_item and stale_signoffs write with Core statements; loaded items and sign-offs must not go stale."""
    run_id = _start(database)
    with database.write() as s:
        run = get_run(s, run_id)
        item = next(i for i in run.items if i.required and i.phase == "pre" and i.state == ItemState.OPEN)
        version = item.version
        set_item(s, item_id=item.id, state=ItemState.DONE, actor="U1", now=NOW)
        assert (item.state, item.changed_by, item.version) == (ItemState.DONE, "U1", version + 1)
        signoff = run.signoffs[0]
        signoff.state, signoff.user_id = SignoffState.SIGNED, "USEC"
        s.flush()
        changed = set_item(s, item_id=item.id, state=ItemState.OPEN, actor="U1", now=NOW)
        assert changed.notes == ["stale"]
        assert (item.state, signoff.state) == (ItemState.OPEN, SignoffState.STALE)


@pytest.mark.parametrize("mode", ["write", "single_statement"])
def test_concurrent_redeliveries_of_one_click_record_it_once_in_either_transaction_mode(
    database: Database, mode: str
) -> None:
    """The click listener runs set_item alone in autocommit (one statement on PostgreSQL): the claim must
    still make a redelivery racing the original change nothing."""
    run_id = _start(database)
    key = "pre-deployment-security-requirements.security-audit-passed"

    def same() -> None:
        with getattr(database, mode)() as s:
            set_item(s, run_id=run_id, key=key, state=ItemState.DONE, actor="UA", now=NOW, request_id="t:dup")

    assert _together([same] * 4) == []
    with database.read() as s:
        log = [e for e in entries(s, run_id) if e.subject == key]
    assert [(e.actor, e.from_state, e.to_state, e.request_id) for e in log] == [("UA", "open", "done", "t:dup")]


def test_an_untick_alone_voids_signoffs_and_audits_the_item_first(database: Database) -> None:
    from bot.errors import Conflict
    from bot.services.runs import abort_run
    from bot.store.models import Signoff, SignoffState

    run_id = _start(database)
    with database.write() as s:
        run = get_run(s, run_id)
        item = next(i for i in run.items if i.required and i.phase == "pre" and i.state == ItemState.OPEN)
        set_item(s, item_id=item.id, state=ItemState.DONE, actor="U1", now=NOW)
        signoffs = sorted(run.signoffs, key=lambda x: x.position)[:2]
        for n, signoff in enumerate(signoffs):
            signoff.state, signoff.user_id = SignoffState.SIGNED, f"US{n}"
        item_id, key, roles = item.id, item.key, [x.role_key for x in signoffs]
    with database.single_statement() as s:
        changed = set_item(s, item_id=item_id, state=ItemState.OPEN, actor="U2", now=NOW, request_id="t:untick")
    assert changed.notes == ["stale"]
    with database.read() as s:
        log = [(e.kind, e.subject, e.from_state, e.to_state, e.detail, e.request_id) for e in entries(s, run_id)][-3:]
        states = {x.role_key: x.state for x in s.scalars(select(Signoff).where(Signoff.deployment_id == run_id))}
    assert log[0] == ("item", key, "done", "open", None, "t:untick")
    assert sorted(log[1:], key=lambda e: str(e[1])) == sorted(
        [
            ("signoff", role, "signed", "stale", {"because": key, "signed_by": f"US{n}"}, None)
            for n, role in enumerate(roles)
        ],
        key=lambda e: str(e[1]),
    )
    assert [states[role] for role in roles] == [SignoffState.STALE] * 2
    # A second un-tick voids nothing more; a closed run refuses the click and keeps the item as it was.
    with database.single_statement() as s:
        assert set_item(s, item_id=item_id, state=ItemState.OPEN, actor="U2", now=NOW).notes == []
    with database.write() as s:
        abort_run(s, run_id=run_id, actor="U0", reason="test", now=NOW)
    with pytest.raises(Conflict), database.single_statement() as s:
        set_item(s, item_id=item_id, state=ItemState.DONE, actor="U3", now=NOW, request_id="t:late")
    with database.read() as s:
        assert [e.actor for e in entries(s, run_id) if e.subject == key][-1] == "U2"


def test_an_item_named_by_id_must_belong_to_the_run_named_with_it(database: Database) -> None:
    """The N/A modal names both: a submission whose item is another run's changes nothing."""
    from bot.errors import NotFound

    first, second = _start(database), _start(database)
    with database.read() as s:
        item_id = next(i.id for i in get_run(s, first).items if i.state == ItemState.OPEN)
    for opener in (database.write, database.single_statement):
        with pytest.raises(NotFound), opener() as s:
            set_item(s, run_id=second, item_id=item_id, state=ItemState.DONE, actor="UX", now=NOW)
    with database.read() as s:
        assert next(i for i in get_run(s, first).items if i.id == item_id).state == ItemState.OPEN
        assert [e for e in entries(s, first) + entries(s, second) if e.actor == "UX"] == []
