"""Marking runs deployed (button, override modal, CI API) and aborting from the run's buttons."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from bot.store.models import AuditEntry, Deployment, RunState
from tests.e2e import CHANNEL, Bot, eventually, running_bot

API_TOKEN = "ci-token-for-tests"


@pytest.fixture
def bot(db_url: str) -> Iterator[Bot]:
    with running_bot(db_url, env={"DEPLOYBOT_API_TOKEN": API_TOKEN}) as b:
        yield b


def _run(bot: Bot, run_id: int) -> Deployment:
    with bot.stack.ctx.db.read() as s:
        run = s.get(Deployment, run_id)
        assert run is not None
        return run


def test_mark_deployed_when_not_ready_needs_a_recorded_override(bot: Bot) -> None:
    run_id = bot.start_run()
    bot.click_parent(run_id, "mark_deployed", "URM")
    view = bot.open_view("URM")
    assert "NOT READY" in str(view["blocks"])
    resp = bot.emu.submit_view("URM", view["id"], {"reason": {"reason_input": ""}})
    assert resp.json()["response_action"] == "errors"
    assert _run(bot, run_id).state == RunState.OPEN
    bot.emu.submit_view("URM", view["id"], {"reason": {"reason_input": "hotfix for the outage"}})
    eventually(lambda: _run(bot, run_id).state == RunState.DEPLOYED)
    run = _run(bot, run_id)
    assert (run.deployed_by, run.deploy_override_reason) == ("URM", "hotfix for the outage")
    eventually(lambda: "DEPLOYED" in bot.parent(run_id)["text"])


def test_only_permitted_people_mark_runs_deployed(db_url: str) -> None:
    with running_bot(db_url, permissions={"deploy": {"usergroups": ["SDM"]}}) as bot:
        run_id = bot.start_run()
        bot.click_parent(run_id, "mark_deployed", "URM")
        assert bot.wait_ephemeral("URM", "not allowed to mark runs deployed")
        reply = bot.emu.slash("URM", "/deploy", f"deployed {run_id} --override hotfix", CHANNEL).json()
        assert "not allowed to mark runs deployed" in reply["text"]
        assert bot.emu.open_views("URM") == []
        assert _run(bot, run_id).state == RunState.OPEN
        bot.click_parent(run_id, "mark_deployed", "UDM")  # in the group: asked for an override reason
        assert "NOT READY" in str(bot.open_view("UDM")["blocks"])


def test_abort_button_asks_for_a_reason(bot: Bot) -> None:
    run_id = bot.start_run()
    key = "pre-deployment-security-requirements.security-audit-passed"
    before, block = bot.find_item(run_id, key)  # what a client that has not re-rendered yet still shows
    bot.click_parent(run_id, "abort", "URM")
    view = bot.open_view("URM")
    bot.emu.submit_view("URM", view["id"], {"reason": {"reason_input": "release pulled"}})
    assert bot.emu.redeliver().status_code == 200  # Slack delivers the submission again: no second abort
    bot.settle()
    assert _run(bot, run_id).end_reason == "release pulled"
    announced = [m for m in bot.thread(run_id) if "Run aborted by <@URM>" in m.get("text", "")]
    assert len(announced) == 1
    with bot.stack.ctx.db.read() as s:
        kinds = s.scalars(
            select(AuditEntry.to_state).where(AuditEntry.deployment_id == run_id, AuditEntry.kind == "run")
        )
        assert list(kinds) == ["open", "aborted"]
    eventually(lambda: "ABORTED" in bot.parent(run_id)["text"])
    # an aborted run's checklist is shown read-only: no checkboxes left to click
    eventually(lambda: not any(b["type"] == "actions" for m in bot.thread(run_id) for b in m.get("blocks", [])))
    # a stale client's click is refused with the reason, and changes nothing
    element = block["elements"][0]
    bot.emu.click(
        "UX",
        CHANNEL,
        before["ts"],
        element["action_id"],
        block["block_id"],
        selected_options=["done"],
        stale_blocks=before["blocks"],
    )
    assert bot.wait_ephemeral("UX", "aborted")
    with bot.stack.ctx.db.read() as s:
        assert not s.scalars(select(AuditEntry).where(AuditEntry.subject == key, AuditEntry.actor == "UX")).all()


def test_ci_api_starts_and_marks_runs_deployed(bot: Bot) -> None:
    api = f"{bot.stack.url}/api"
    assert httpx.post(f"{api}/runs", json={"service": "x", "version": "1"}).status_code == 401
    wrong = httpx.post(f"{api}/runs", json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and API_TOKEN not in wrong.text
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    bad = httpx.post(f"{api}/runs", json={"service": "payments-api"}, headers=auth)
    assert (bad.status_code, bad.json()["error"]) == (400, "missing field(s): version")
    spaced = httpx.post(f"{api}/runs", json={"service": "payments api", "version": "2"}, headers=auth)
    assert spaced.status_code == 400 and "service `payments api` may hold only" in spaced.json()["error"]
    created = httpx.post(
        f"{api}/runs", json={"service": "payments-api", "version": "2.0.0", "requested_by": "github"}, headers=auth
    )
    assert created.status_code == 201
    run_id = created.json()["id"]
    eventually(lambda: len(bot.thread(run_id)) >= 9)
    refused = httpx.post(f"{api}/runs/{run_id}/deployed", json={}, headers=auth)
    assert refused.status_code == 409 and "NOT READY" in refused.json()["error"]
    ok = httpx.post(
        f"{api}/runs/{run_id}/deployed",
        json={"override_reason": "emergency", "requested_by": "github"},
        headers=auth | {"Idempotency-Key": "deploy-1"},
    )
    again = httpx.post(
        f"{api}/runs/{run_id}/deployed",
        json={"override_reason": "emergency"},
        headers=auth | {"Idempotency-Key": "deploy-1"},
    )
    assert ok.json() == {"id": run_id, "status": "deployed", "duplicate": False}
    assert again.json()["duplicate"] is True
    run = _run(bot, run_id)
    assert (run.state, run.deployed_by) == (RunState.DEPLOYED, "api:github")
    with bot.stack.ctx.db.read() as s:
        sources = {e.source for e in s.scalars(select(AuditEntry).where(AuditEntry.deployment_id == run_id))}
    assert "api" in sources
    assert httpx.post(f"{api}/runs/999/deployed", json={}, headers=auth).status_code == 404
