"""Sign-offs, refusals, stale sign-offs, N/A and message updates, end to end through the Slack emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.store.models import AuditEntry, ChecklistItem, Deployment, ItemState, Signoff, SignoffState
from tests.e2e import CHANNEL, ROLE_SIGNERS, Bot, eventually, running_bot

AUDIT_KEY = "pre-deployment-security-requirements.security-audit-passed"


@pytest.fixture
def bot(db_url: str) -> Iterator[Bot]:
    with running_bot(db_url) as b:
        yield b


def _signoffs(bot: Bot, run_id: int) -> dict[str, tuple[str, str | None]]:
    with bot.stack.ctx.db.read() as s:
        rows = s.scalars(select(Signoff).where(Signoff.deployment_id == run_id)).all()
        return {r.role_key: (r.state, r.user_id) for r in rows}


def _refusals(bot: Bot, run_id: int) -> list[AuditEntry]:
    with bot.stack.ctx.db.read() as s:
        stmt = select(AuditEntry).where(AuditEntry.deployment_id == run_id, AuditEntry.kind == "signoff_refused")
        return list(s.scalars(stmt))


def _item_audit(bot: Bot, run_id: int, key: str) -> list[AuditEntry]:
    with bot.stack.ctx.db.read() as s:
        stmt = select(AuditEntry).where(AuditEntry.deployment_id == run_id, AuditEntry.subject == key)
        return list(s.scalars(stmt.order_by(AuditEntry.id)))


def _tick_all_required(bot: Bot, run_id: int) -> None:
    with bot.stack.ctx.db.read() as s:
        stmt = select(ChecklistItem).where(ChecklistItem.deployment_id == run_id)
        keys = [i.key for i in s.scalars(stmt) if i.phase == "pre" and i.required and i.state == ItemState.OPEN]
    for key in keys:
        bot.tick(run_id, key, "UX", settle=False)
    bot.settle()


def test_non_approver_is_refused_and_the_attempt_recorded(bot: Bot) -> None:
    run_id = bot.start_run()
    bot.click_parent(run_id, "sign", "UX", "security-team")
    assert bot.wait_ephemeral("UX", "not an approver for Security Team")
    assert bot.emu.open_views("UX") == []
    refused = _refusals(bot, run_id)
    assert [(r.actor, r.subject) for r in refused] == [("UX", "security-team")]
    assert _signoffs(bot, run_id)["security-team"] == (SignoffState.PENDING, None)


def test_final_authorisation_waits_for_items_and_other_roles(bot: Bot) -> None:
    run_id = bot.start_run()
    bot.click_parent(run_id, "sign", "UDM", "deployment-manager")
    assert bot.wait_ephemeral("UDM", "required item(s) still open")
    _tick_all_required(bot, run_id)
    for role, user in ROLE_SIGNERS[:-1]:
        bot.sign(run_id, role, user)
    bot.click_parent(run_id, "sign", "UDM", "deployment-manager")
    assert bot.wait_ephemeral("UDM", "Final authorisation waits for: Business Owner.")
    assert bot.emu.open_views("UDM") == []
    assert _signoffs(bot, run_id)["deployment-manager"][0] == SignoffState.PENDING
    assert [r.actor for r in _refusals(bot, run_id)] == ["UDM", "UDM"]


def test_signing_by_user_group_never_waits_for_slack_before_the_answer(bot: Bot) -> None:
    """Deployment managers are the user group SDM. Its members were fetched at start-up, so while Slack
    rate-limits usergroups.users.list (Retry-After: 2, twice) the click and the modal are answered at once."""
    run_id = bot.start_run()
    _tick_all_required(bot, run_id)
    for role, user in ROLE_SIGNERS:
        bot.sign(run_id, role, user)
    assert len(bot.emu.calls_to("usergroups.users.list")) == 1  # the start-up fetch
    bot.emu.fail_next("usergroups.users.list", status=429, retry_after=2, count=2)

    started = time.monotonic()
    bot.click_parent(run_id, "sign", "UDM", "deployment-manager", settle=False)
    assert time.monotonic() - started < 1.0
    view = bot.open_view("UDM")
    started = time.monotonic()
    resp = bot.emu.submit_view("UDM", view["id"], {"comment": {"comment_input": "go"}})
    assert time.monotonic() - started < 1.0
    assert resp.status_code == 200 and not resp.content  # closed: no errors
    assert _signoffs(bot, run_id)["deployment-manager"] == (SignoffState.SIGNED, "UDM")
    assert len(bot.emu.calls_to("usergroups.users.list")) == 1


def test_separation_of_duties(db_url: str) -> None:
    approvers = {
        "security-team": {"users": ["USEC"]},
        "devops-team": {"users": ["USEC", "UOPS"]},
        "lead-developer": {"users": ["ULEAD"]},
        "product-manager": {"users": ["UPM"]},
        "business-owner": {"users": ["UBIZ"]},
        "deployment-manager": {"users": ["URM", "UDM"]},
    }
    with running_bot(db_url, approvers=approvers) as bot:
        run_id = bot.start_run(user="URM")
        bot.sign(run_id, "security-team", "USEC")
        bot.click_parent(run_id, "sign", "USEC", "devops-team")
        assert bot.wait_ephemeral("USEC", "one person cannot sign two roles")
        _tick_all_required(bot, run_id)
        for role, user in ROLE_SIGNERS[1:]:
            bot.sign(run_id, role, user)
        bot.click_parent(run_id, "sign", "URM", "deployment-manager")
        assert bot.wait_ephemeral("URM", "someone else must give its final")
        bot.sign(run_id, "deployment-manager", "UDM")
        assert _signoffs(bot, run_id)["deployment-manager"] == (SignoffState.SIGNED, "UDM")
        assert len(_refusals(bot, run_id)) == 2


def test_without_separation_of_duties_one_person_may_sign_several_roles(db_url: str) -> None:
    approvers = {"security-team": {"users": ["USEC"]}, "devops-team": {"users": ["USEC"]}}
    with running_bot(db_url, approvers=approvers, separation_of_duties=False) as bot:
        run_id = bot.start_run()
        bot.sign(run_id, "security-team", "USEC")
        bot.sign(run_id, "devops-team", "USEC")
        signed = _signoffs(bot, run_id)
        assert signed["security-team"] == signed["devops-team"] == (SignoffState.SIGNED, "USEC")
        assert _refusals(bot, run_id) == []


def test_unticking_after_ready_makes_signoffs_stale_and_tells_the_channel(bot: Bot) -> None:
    run_id = bot.start_run()
    _tick_all_required(bot, run_id)
    for role, user in [*ROLE_SIGNERS, ("deployment-manager", "UDM")]:
        bot.sign(run_id, role, user, comment="lgtm")
    eventually(lambda: "READY FOR DEPLOYMENT" in bot.parent(run_id)["text"])
    bot.tick(run_id, AUDIT_KEY, "UX", checked=False)
    states = _signoffs(bot, run_id)
    assert {state for state, _ in states.values()} == {SignoffState.STALE}
    eventually(lambda: "NOT READY" in bot.parent(run_id)["text"])
    parent_text = str(bot.parent(run_id)["blocks"])
    assert "stale" in parent_text
    eventually(lambda: any("back to *NOT READY*" in m.get("text", "") for m in bot.channel_messages()))
    # renewing: tick again, every role signs again, READY again
    bot.tick(run_id, AUDIT_KEY, "UX")
    for role, user in [*ROLE_SIGNERS, ("deployment-manager", "UDM")]:
        bot.sign(run_id, role, user)
    eventually(lambda: "READY FOR DEPLOYMENT" in bot.parent(run_id)["text"])


def test_revoke_only_by_signer(bot: Bot) -> None:
    run_id = bot.start_run()
    bot.sign(run_id, "security-team", "USEC", comment="checked the scan")
    assert "checked the scan" in str(bot.parent(run_id)["blocks"])
    bot.click_parent(run_id, "revoke", "UOPS", "security-team")
    assert bot.wait_ephemeral("UOPS", "Only the person who signed")
    bot.click_parent(run_id, "revoke", "USEC", "security-team")
    eventually(lambda: _signoffs(bot, run_id)["security-team"][0] == SignoffState.REVOKED)


def test_na_needs_a_reason_and_counts_as_resolved(bot: Bot) -> None:
    run_id = bot.start_run()
    key = "application-configuration.app-store-builds"
    message, block = bot.find_item(run_id, key)
    more = block["elements"][1]
    bot.emu.click("UX", CHANNEL, message["ts"], more["action_id"], block["block_id"], selected_option="na")
    view = bot.open_view("UX")
    resp = bot.emu.submit_view("UX", view["id"], {"reason": {"reason_input": ""}})
    assert resp.json()["response_action"] == "errors"
    assert bot.emu.open_views("UX")  # still open, with the error shown
    bot.emu.submit_view("UX", view["id"], {"reason": {"reason_input": "no mobile release this time"}})
    bot.settle()
    with bot.stack.ctx.db.read() as s:
        item = s.scalars(select(ChecklistItem).where(ChecklistItem.key == key)).one()
        assert (item.state, item.na_reason, item.changed_by) == (ItemState.NA, "no mobile release this time", "UX")
    message, _ = eventually(lambda: bot.find_item(run_id, key))
    eventually(lambda: "no mobile release this time" in str(bot.find_item(run_id, key)[0]["blocks"]))

    # "Clear" in the item's menu reopens it, recorded before the click is answered
    at_ack = bot.at_each_ack(lambda: [(e.from_state, e.to_state) for e in _item_audit(bot, run_id, key)])
    message, block = bot.find_item(run_id, key)
    bot.emu.click(
        "UX", CHANNEL, message["ts"], block["elements"][1]["action_id"], block["block_id"], selected_option="clear"
    )
    assert at_ack == [[("open", "na"), ("na", "open")]]
    bot.settle()
    assert "no mobile release this time" not in str(bot.find_item(run_id, key)[0]["blocks"])


def test_burst_of_clicks_is_coalesced_and_ends_matching_the_database(db_url: str) -> None:
    with running_bot(db_url, update_coalesce_seconds=1.0) as bot:
        run_id = bot.start_run()
        section_ts = bot.find_item(run_id, AUDIT_KEY)[0]["ts"]
        with bot.stack.ctx.db.read() as s:
            stmt = select(ChecklistItem.key).where(
                ChecklistItem.deployment_id == run_id,
                ChecklistItem.section_key == "pre-deployment-security-requirements",
                ChecklistItem.state == ItemState.OPEN,
            )
            keys = list(s.scalars(stmt))
        bot.emu.clear_calls()
        started = time.monotonic()
        for round_ in range(3):
            for key in keys:
                bot.tick(run_id, key, "UX", checked=round_ % 2 == 0, settle=False)
        elapsed = time.monotonic() - started
        bot.settle()
        updates = [c for c in bot.emu.calls_to("chat.update") if c.params["ts"] == section_ts]
        assert len(updates) <= elapsed / 1.0 + 2, (len(updates), elapsed)
        times = [c.at for c in updates]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(gap.total_seconds() >= 0.9 for gap in gaps), gaps
        # the last update matches the database: every item of the burst ended ticked
        _, blocks = bot.find_item(run_id, keys[-1])
        final = bot.emu.message(CHANNEL, section_ts)
        assert final is not None
        ticked = [b for b in final["blocks"] if b["type"] == "actions" and b["elements"][0].get("initial_options")]
        assert len(ticked) == len(keys) + 2  # plus the two pre-ticked template items


def test_rate_limited_and_failing_updates_are_retried(bot: Bot) -> None:
    run_id = bot.start_run()
    bot.emu.fail_next("chat.update", status=429, retry_after=1)
    bot.emu.fail_next("chat.update", status=500)
    bot.tick(run_id, AUDIT_KEY, "UX")
    eventually(lambda: "ticked by <@UX>" in str(bot.find_item(run_id, AUDIT_KEY)[0]["blocks"]), timeout=20)
    statuses = [c.fault for c in bot.emu.calls_to("chat.update")]
    assert any(statuses)


def test_a_required_item_marked_na_counts_as_resolved_for_ready(bot: Bot) -> None:
    """Readiness is counted in Python (renders) and in SQL (the stored flag): both count N/A as resolved."""
    run_id = bot.start_run()
    message, block = bot.find_item(run_id, AUDIT_KEY)
    menu = block["elements"][1]["action_id"]
    bot.emu.click("UX", CHANNEL, message["ts"], menu, block["block_id"], selected_option="na")
    bot.emu.submit_view("UX", bot.open_view("UX")["id"], {"reason": {"reason_input": "audited last week"}})
    bot.settle()
    _tick_all_required(bot, run_id)
    with bot.stack.ctx.db.read() as s:
        item = s.scalars(select(ChecklistItem).where(ChecklistItem.key == AUDIT_KEY)).one()
        assert (item.required, item.state) == (True, ItemState.NA)
    for role, user in [*ROLE_SIGNERS, ("deployment-manager", "UDM")]:
        bot.sign(run_id, role, user)
    assert _signoffs(bot, run_id)["deployment-manager"] == (SignoffState.SIGNED, "UDM")
    eventually(lambda: "READY FOR DEPLOYMENT" in bot.parent(run_id)["text"])
    with bot.stack.ctx.db.read() as s:
        assert s.get_one(Deployment, run_id).ready
    assert eventually(lambda: [m for m in bot.channel_messages() if "is *READY FOR DEPLOYMENT*" in m.get("text", "")])
