"""Pure rendering: every message within Slack's limits, fresh block_ids, long sections split across messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.checklist import parse_template
from bot.checklist.loader import load_named_template
from bot.render import layout
from bot.render.ids import View
from bot.render.limits import message_problems, view_problems
from bot.render.modals import na_modal, reason_modal, sign_modal
from bot.render.run import render_run
from bot.render.section import render_section
from bot.services.checklist import set_item
from bot.services.runs import get_run, start_run
from bot.store.db import Database
from bot.store.models import Deployment

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _run(database: Database, template_text: str | None = None) -> tuple[Deployment, object]:
    template = (
        load_named_template("lamsa-production")
        if template_text is None
        else parse_template(template_text, name="big", path="big.md")
    )
    with database.write() as s:
        run = start_run(
            s,
            template=template,
            service="payments-api",
            version="1.4.2",
            environment="production",
            channel_id="C1",
            started_by="URM",
            now=NOW,
        )
        run_id = run.id
    with database.read() as s:
        return get_run(s, run_id), template


def _ids(blocks: list[dict[str, object]]) -> set[str]:
    return {str(b["block_id"]) for b in blocks}


def test_parent_message(database: Database) -> None:
    run, template = _run(database)
    text, blocks = render_run(run, template, nonce="1", approvers={"security-team": "<@USEC>"})  # type: ignore[arg-type]
    assert message_problems(blocks, text=text) == []
    assert blocks[0]["text"]["text"] == "Deploy payments-api 1.4.2 → production"  # type: ignore[index]
    assert "*NOT READY*: 65 required item(s) open, 6 sign-off(s) missing" in str(blocks[1])
    assert "<!date^1772357400^{date_short_pretty} {time}|2026-03-01 09:30 UTC>" in str(blocks[2])
    sign_buttons = [b["accessory"] for b in blocks if b.get("accessory", {}).get("action_id") == "sign"]  # type: ignore[union-attr]
    assert [b["value"] for b in sign_buttons] == [  # type: ignore[index]
        "security-team",
        "devops-team",
        "lead-developer",
        "product-manager",
        "business-owner",
        "deployment-manager",
    ]
    assert "approvers: <@USEC>" in str(blocks)
    actions = [e["action_id"] for e in blocks[-1]["elements"]]  # type: ignore[index]
    assert actions == ["mark_deployed", "incident", "export", "abort"]
    _, again = render_run(run, template, nonce="2")  # type: ignore[arg-type]
    assert not _ids(blocks) & _ids(again)  # fresh block_ids on every update


def test_section_messages_tick_and_attribution(database: Database) -> None:
    run, template = _run(database)
    with database.write() as s:
        set_item(
            s,
            run_id=run.id,
            key="pre-deployment-security-requirements.security-audit-passed",
            state="done",
            actor="UX",
            now=NOW,
        )
    with database.read() as s:
        run = get_run(s, run.id)
    slot = layout.slots(template, "section")[0]  # type: ignore[arg-type]
    text, blocks = render_section(run, template, slot.section, slot.part, nonce="7")  # type: ignore[arg-type]
    assert message_problems(blocks, text=text) == []
    ticked = [b for b in blocks if b["type"] == "actions" and b["elements"][0].get("initial_options")]
    assert len(ticked) == 3  # the two template ticks and ours
    for b in ticked:
        assert b["elements"][0]["initial_options"] == b["elements"][0]["options"]
    assert "ticked by <@UX> <!date^1772357400^{time}|2026-03-01 09:30 UTC>" in str(blocks)
    assert "ticked in the template" in str(blocks)


def test_every_default_message_is_within_limits(database: Database) -> None:
    run, template = _run(database)
    slots = layout.slots(template, "section") + layout.slots(template, "rollback")  # type: ignore[arg-type]
    assert [s.key for s in layout.slots(template, "rollback")] == ["rollback-procedures#0"]  # type: ignore[arg-type]
    for slot in slots:
        text, blocks = render_section(run, template, slot.section, slot.part, nonce="1")  # type: ignore[arg-type]
        assert message_problems(blocks, text=text) == [], slot.key


def test_long_section_is_split_into_messages_within_limits(database: Database) -> None:
    items = "\n".join(f"- [ ] **Step {n}** - do thing {n}" for n in range(1, 61))
    text = f"# Big\n\n## Huge section\n\n### One group\n{items}\n\n### Another\n- [ ] **Last** - the end\n"
    run, template = _run(database, text)
    slots = layout.slots(template, "section")  # type: ignore[arg-type]
    assert len(slots) == 3
    seen: list[str] = []
    for slot in slots:
        fallback, blocks = render_section(run, template, slot.section, slot.part, nonce="1")  # type: ignore[arg-type]
        assert message_problems(blocks, text=fallback) == []
        assert len(blocks) <= 50
        seen += [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"][:1]]
    assert len(seen) == len(set(seen)) == 61


def test_titles_and_descriptions_full_of_entities_stay_within_the_option_limits(database: Database) -> None:
    """Slack counts `&amp;` as 5 characters: text is cut after escaping, never inside an entity."""
    title = "R&D <-> Ops & QA handover & sign-off & more & more & more & more & more"
    description = "check A&B, C<D, E>F & G&H & I&J & K&L & M&N & O&P & Q&R & S&T & U&V & W&X & Y&Z & more"
    items = f"- [ ] **{title}** - {description}\n- [ ] **{title} (if applicable)** - {description}\n"
    run, template = _run(database, f"# T\n\n## Section & co\n\n{items}")
    (slot,) = layout.slots(template, "section")  # type: ignore[arg-type]
    with database.write() as s:
        first = min(i.id for i in run.items)
        set_item(s, run_id=run.id, item_id=first, state="na", reason="n/a & <why> " * 60, actor="U1", now=NOW)
    with database.read() as s:
        run = get_run(s, run.id)
    text, blocks = render_section(run, template, slot.section, slot.part, nonce="1")  # type: ignore[arg-type]
    assert message_problems(blocks, text=text) == []
    options = [e["options"][0] for b in blocks if b["type"] == "actions" for e in b["elements"][:1]]
    assert len(options) == 2
    for option in options:
        for shown in (option["text"]["text"], option["description"]["text"]):
            assert len(shown) <= 75 and "…" in shown
            assert not re.search(r"&(?!amp;|lt;|gt;)", shown), f"a cut entity in {shown!r}"
    assert options[1]["text"]["text"].endswith("* _(optional)_")


def test_modals_are_valid_views() -> None:
    views = [
        na_modal(run_id=1, item_id=2, item_title="x" * 400, channel_id="C1"),
        sign_modal(run_id=1, role_key="security-team", role_title="Security Team", run_title="a 1 → p", channel_id="C"),
        reason_modal(View.ABORT, title="Abort run", submit="Abort", prompt="Sure?", label="Reason", meta={"run": 1}),
    ]
    for view in views:
        assert view_problems(view) == []
