"""The checklist flow driven over HTTP exactly as Slack would, against the Slack emulator."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.render.limits import message_problems
from bot.sandbox.driver import interactivity_body
from bot.store.models import AuditEntry, ChecklistItem, Deployment, ItemState
from tests.e2e import CHANNEL, ROLE_SIGNERS, Bot, eventually, running_bot


@pytest.fixture
def bot(db_url: str) -> Iterator[Bot]:
    with running_bot(db_url) as b:
        yield b


def _audit(bot: Bot, run_id: int) -> list[AuditEntry]:
    with bot.stack.ctx.db.read() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.deployment_id == run_id).order_by(AuditEntry.id)))


def _required_pre_keys(bot: Bot, run_id: int) -> list[str]:
    with bot.stack.ctx.db.read() as s:
        stmt = select(ChecklistItem).where(ChecklistItem.deployment_id == run_id).order_by(ChecklistItem.position)
        return [i.key for i in s.scalars(stmt) if i.phase == "pre" and i.required and i.state == ItemState.OPEN]


def test_start_posts_parent_and_sections_within_limits(bot: Bot) -> None:
    run_id = bot.start_run()
    parent = bot.parent(run_id)
    assert "NOT READY" in parent["text"]
    thread = bot.thread(run_id)
    assert len(thread) == 9  # one message per checklist section (the rollback steps are posted on rollback)
    for m in [parent, *thread]:
        assert message_problems(m["blocks"], text=m.get("text")) == []
    # 2 pre-ticked template items start ticked and attributed to the template
    ticked = [
        b for m in thread for b in m["blocks"] if b["type"] == "actions" and b["elements"][0].get("initial_options")
    ]
    assert len(ticked) == 2
    assert not bot.emu.warnings


def test_tick_is_recorded_before_ack_and_shown(bot: Bot) -> None:
    run_id = bot.start_run()
    key = "pre-deployment-security-requirements.security-audit-passed"
    at_ack = bot.at_each_ack(lambda: [e.to_state for e in _audit(bot, run_id) if e.subject == key])
    bot.tick(run_id, key, "UX")
    assert at_ack == [["done"]]
    with bot.stack.ctx.db.read() as s:
        item = s.scalars(select(ChecklistItem).where(ChecklistItem.key == key)).one()
        assert (item.state, item.changed_by) == (ItemState.DONE, "UX")
    message, block = bot.find_item(run_id, key)
    assert block["elements"][0]["initial_options"] == block["elements"][0]["options"]
    assert any("ticked by <@UX>" in e.get("text", "") for b in message["blocks"] for e in b.get("elements", []))
    entries = [e for e in _audit(bot, run_id) if e.subject == key]
    assert [(e.actor, e.from_state, e.to_state) for e in entries] == [("UX", "open", "done")]


def _click_body(bot: Bot, run_id: int, key: str, user: str, checked: bool = True) -> bytes:
    """A block_actions body as Slack sends it, so the test can deliver the very same bytes twice."""
    message, block = bot.find_item(run_id, key)
    element = block["elements"][0]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user, "team_id": "T0"},
        "api_app_id": "A0",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": bot.emu.issue_trigger(user),
        "team": {"id": "T0", "domain": "sandbox"},
        "channel": {"id": CHANNEL, "name": "deployments"},
        "message": message,
        "response_url": bot.emu.issue_response_url(user, CHANNEL),
        "actions": [
            {
                "type": "checkboxes",
                "action_id": element["action_id"],
                "block_id": block["block_id"],
                "selected_options": element["options"] if checked else [],
                "action_ts": "1700000000.000001",
            }
        ],
    }
    return interactivity_body(payload)


def test_clicks_and_modal_submissions_delivered_twice_are_recorded_once(bot: Bot) -> None:
    run_id = bot.start_run()
    key = "pre-deployment-security-requirements.security-audit-passed"
    bot.tick(run_id, key, "UX", settle=False)
    assert bot.emu.redeliver().status_code == 200
    bot.settle()
    assert [(e.actor, e.to_state) for e in _audit(bot, run_id) if e.subject == key] == [("UX", "done")]

    na_key = "application-configuration.app-store-builds"
    message, block = bot.find_item(run_id, na_key)
    more = block["elements"][1]
    bot.emu.click("UX", CHANNEL, message["ts"], more["action_id"], block["block_id"], selected_option="na")
    view = bot.open_view("UX")
    bot.emu.submit_view("UX", view["id"], {"reason": {"reason_input": "no mobile release"}})
    assert bot.emu.redeliver().status_code == 200
    bot.settle()
    assert [(e.actor, e.to_state) for e in _audit(bot, run_id) if e.subject == na_key] == [("UX", "na")]

    bot.click_parent(run_id, "sign", "USEC", "security-team")
    view = bot.open_view("USEC")
    bot.emu.submit_view("USEC", view["id"], {"comment": {"comment_input": "scan clean"}})
    assert bot.emu.redeliver().status_code == 200
    bot.settle()
    signed = [e for e in _audit(bot, run_id) if e.subject == "security-team"]
    assert [(e.actor, e.kind, e.to_state) for e in signed] == [("USEC", "signoff", "signed")]


@pytest.mark.parametrize(
    ("timestamp_offset", "signature"),
    [(0, "v0=" + "0" * 64), (-301, None), (+301, None)],
    ids=["bad-signature", "older-than-5-min", "from-the-future"],
)
def test_forged_or_stale_requests_get_401_and_change_nothing(
    bot: Bot, timestamp_offset: int, signature: str | None
) -> None:
    run_id = bot.start_run()
    key = "pre-deployment-security-requirements.security-audit-passed"
    body = _click_body(bot, run_id, key, "UX")
    before = len(_audit(bot, run_id))
    resp = bot.emu.post_signed(body, timestamp=int(time.time()) + timestamp_offset, signature=signature)
    assert resp.status_code == 401
    bot.settle()
    assert len(_audit(bot, run_id)) == before
    with bot.stack.ctx.db.read() as s:
        assert s.scalars(select(ChecklistItem.state).where(ChecklistItem.key == key)).one() == ItemState.OPEN


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"payload=%7Bnot-json", "payload is not valid JSON"),
        (b"payload=%5B1%2C2%5D", "payload must be a JSON object with a type"),
    ],
)
def test_malformed_payload_is_rejected_without_a_stack_trace(bot: Bot, body: bytes, says: str) -> None:
    resp = bot.emu.post_signed(body)
    assert (resp.status_code, resp.text) == (400, says)


def test_full_flow_to_ready(bot: Bot) -> None:
    run_id = bot.start_run()
    for key in _required_pre_keys(bot, run_id):
        bot.tick(run_id, key, "UX", settle=False)
    bot.settle()
    assert _required_pre_keys(bot, run_id) == []
    for role, user in ROLE_SIGNERS:
        bot.sign(run_id, role, user, comment=f"ok from {role}")
    assert "NOT READY" in bot.parent(run_id)["text"]
    bot.sign(run_id, "deployment-manager", "UDM", comment="go")
    assert "READY FOR DEPLOYMENT" in bot.parent(run_id)["text"]
    notices = [m["text"] for m in bot.channel_messages() if "is *READY FOR DEPLOYMENT*" in m.get("text", "")]
    assert len(notices) == 1

    def stored_ready() -> bool:
        with bot.stack.ctx.db.read() as s:
            return bool(s.get_one(Deployment, run_id).ready)

    assert eventually(stored_ready)

    # a READY run's "Mark deployed" is recorded before the click is answered
    def run_state() -> str:
        with bot.stack.ctx.db.read() as s:
            return s.get_one(Deployment, run_id).state

    at_ack = bot.at_each_ack(run_state)
    bot.click_parent(run_id, "mark_deployed", "URM")
    assert at_ack == ["deployed"]
    eventually(lambda: any("Marked deployed by <@URM>" in m.get("text", "") for m in bot.thread(run_id)))


def test_acks_come_first_after_ack_work_waits_for_requests_being_answered(bot: Bot) -> None:
    """Every Slack request counts as being answered while its listener runs; a click's message update waits
    until none is (bot/foreground.py), while the click itself is acknowledged at once."""
    gate = bot.stack.ctx.foreground
    seen: list[int] = []
    assert bot.stack.bolt is not None

    @bot.stack.bolt.action("test-probe")
    def probe(ack: Any) -> None:
        seen.append(gate.in_flight)
        ack()

    payload = {"type": "block_actions", "user": {"id": "UX"}, "trigger_id": "t1", "team": {"id": "T0"}}
    payload["actions"] = [{"type": "button", "action_id": "test-probe", "block_id": "b", "action_ts": "1.0"}]
    assert bot.emu.post_signed(interactivity_body(payload)).status_code == 200
    assert seen == [1] and gate.in_flight == 0

    run_id = bot.start_run()
    key = _required_pre_keys(bot, run_id)[0]
    updates = len(bot.emu.calls_to("chat.update"))
    gate.max_wait_s = 10  # this test holds a request open for longer than the usual bound
    with gate.answering():  # another request being answered
        started = time.monotonic()
        bot.tick(run_id, key, "UX", settle=False)
        assert time.monotonic() - started < 2, "the click's ack must not wait"
        time.sleep(0.5)
        assert len(bot.emu.calls_to("chat.update")) == updates, "after-ack work ran before the request finished"
    bot.settle()
    assert len(bot.emu.calls_to("chat.update")) > updates
    assert key not in _required_pre_keys(bot, run_id)


def test_every_update_of_a_message_carries_fresh_block_ids(bot: Bot) -> None:
    """Slack keeps a client's checkbox state per block_id: re-rendering with new ids makes every client show
    what the database says, even one that has not seen the previous update."""
    run_id = bot.start_run()
    keys = _required_pre_keys(bot, run_id)[:3]
    message, _ = bot.find_item(run_id, keys[0])
    for key in keys:
        assert bot.find_item(run_id, key)[0]["ts"] == message["ts"]  # all in one section message
        bot.tick(run_id, key, "UX")
    updates = [c.params for c in bot.emu.calls_to("chat.update") if c.params.get("ts") == message["ts"]]
    assert len(updates) >= len(keys)
    shown = [message["blocks"], *(u["blocks"] for u in updates)]
    ids = [{b["block_id"] for b in blocks} for blocks in shown]
    for before, after in zip(ids, ids[1:], strict=False):
        assert before and after and not before & after


def _progress_lines(bot: Bot, run_id: int) -> dict[str, str]:
    """Section title -> its progress line ("`███░░░░░░░` 3/10") on the run's parent message."""
    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in bot.parent(run_id)["blocks"])
    return {m.group(3): f"`{m.group(1)}` {m.group(2)}" for m in re.finditer(r"`([█░]{10})` (\d+/\d+)  (.+)", text)}


def test_the_parent_shows_a_progress_bar_per_section(bot: Bot) -> None:
    run_id = bot.start_run()
    before = _progress_lines(bot, run_id)
    assert len(before) == 9
    section = next(t for t in before if t.endswith("Pre-Deployment Security Requirements"))
    with bot.stack.ctx.db.read() as s:
        stmt = select(ChecklistItem).where(
            ChecklistItem.deployment_id == run_id, ChecklistItem.section_key == "pre-deployment-security-requirements"
        )
        items = list(s.scalars(stmt))
    done = sum(1 for i in items if i.state != ItemState.OPEN)
    assert before[section].endswith(f" {done}/{len(items)}")
    for item in [i for i in items if i.state == ItemState.OPEN][:5]:
        bot.tick(run_id, item.key, "UX", settle=False)
    bot.settle()
    after = _progress_lines(bot, run_id)
    filled = round(10 * (done + 5) / len(items))
    assert after[section] == f"`{'█' * filled}{'░' * (10 - filled)}` {done + 5}/{len(items)}"
    assert {k: v for k, v in after.items() if k != section} == {k: v for k, v in before.items() if k != section}
