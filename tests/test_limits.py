"""Every Block Kit limit: a minimal failing example (problem names its place) and a passing one."""

from __future__ import annotations

from typing import Any

import pytest

from bot.render.limits import BlockLimitError, check_message, message_problems, view_problems


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text), **extra}


def option(value: str = "v", text: str = "t", **extra: Any) -> dict[str, Any]:
    return {"text": mrkdwn(text), "value": value, **extra}


def button(action_id: str = "b", text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": plain(text), **extra}


def checkboxes(options: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "checkboxes", "action_id": "c", "options": options, **extra}


def actions(*elements: dict[str, Any], block_id: str = "a") -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def modal(**extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain("Sign off"), "blocks": [section()], **extra}


# (name, failing blocks, expected problem, passing blocks)
CASES: list[tuple[str, list[dict[str, Any]], str, list[dict[str, Any]]]] = [
    ("50 blocks", [{"type": "divider"}] * 51, "blocks: 51 blocks (max 50 per message)", [{"type": "divider"}] * 50),
    (
        "10 options per checkboxes",
        [actions(checkboxes([option(str(i)) for i in range(11)]))],
        "blocks[0].elements[0].options: 11 options (max 10)",
        [actions(checkboxes([option(str(i)) for i in range(10)]))],
    ),
    (
        "25 elements per actions",
        [actions(*[button(f"b{i}") for i in range(26)])],
        "blocks[0].elements: 26 elements (max 25)",
        [actions(*[button(f"b{i}") for i in range(25)])],
    ),
    (
        "10 elements per context",
        [{"type": "context", "elements": [mrkdwn("x")] * 11}],
        "blocks[0].elements: 11 elements (max 10)",
        [{"type": "context", "elements": [mrkdwn("x")] * 10}],
    ),
    ("section text 3000", [section("x" * 3001)], "blocks[0].text.text: 3001 chars (max 3000)", [section("x" * 3000)]),
    (
        "fields at most 10",
        [{"type": "section", "fields": [mrkdwn("f")] * 11}],
        "blocks[0].fields: 11 fields (max 10)",
        [{"type": "section", "fields": [mrkdwn("f")] * 10}],
    ),
    (
        "field 2000 chars",
        [{"type": "section", "fields": [mrkdwn("f" * 2001)]}],
        "blocks[0].fields[0].text: 2001 chars (max 2000)",
        [{"type": "section", "fields": [mrkdwn("f" * 2000)]}],
    ),
    (
        "header plain_text only",
        [{"type": "header", "text": mrkdwn("*Deploy*")}],
        "blocks[0].text.type: must be plain_text, not mrkdwn",
        [{"type": "header", "text": plain("Deploy")}],
    ),
    (
        "header 150 chars",
        [{"type": "header", "text": plain("h" * 151)}],
        "blocks[0].text.text: 151 chars (max 150)",
        [{"type": "header", "text": plain("h" * 150)}],
    ),
    (
        "option text 75",
        [actions(checkboxes([option(text="o" * 76)]))],
        "blocks[0].elements[0].options[0].text.text: 76 chars (max 75)",
        [actions(checkboxes([option(text="o" * 75)]))],
    ),
    (
        "option description 75",
        [actions(checkboxes([option(description=plain("d" * 76))]))],
        "blocks[0].elements[0].options[0].description.text: 76 chars (max 75)",
        [actions(checkboxes([option(description=plain("d" * 75))]))],
    ),
    (
        "option value 150",
        [actions(checkboxes([option(value="v" * 151)]))],
        "blocks[0].elements[0].options[0].value: 151 chars (max 150 chars)",
        [actions(checkboxes([option(value="v" * 150)]))],
    ),
    (
        "button text 75",
        [actions(button(text="b" * 76))],
        "blocks[0].elements[0].text.text: 76 chars (max 75)",
        [actions(button(text="b" * 75))],
    ),
    (
        "button value 2000",
        [actions(button(value="v" * 2001))],
        "blocks[0].elements[0].value: 2001 chars (max 2000 chars)",
        [actions(button(value="v" * 2000))],
    ),
    (
        "button style",
        [actions(button(style="secondary"))],
        "blocks[0].elements[0].style: 'secondary' is not primary or danger",
        [actions(button(style="danger"))],
    ),
    (
        "block_id 255",
        [{"type": "divider", "block_id": "x" * 256}],
        "blocks[0].block_id: 256 chars (max 255)",
        [{"type": "divider", "block_id": "x" * 255}],
    ),
    (
        "action_id 255",
        [actions(button(action_id="x" * 256))],
        "blocks[0].elements[0].action_id: 256 chars (max 255)",
        [actions(button(action_id="x" * 255))],
    ),
    (
        "action_id unique within a block",
        [actions(button("same"), button("same"))],
        "blocks[0].elements[1].action_id: duplicate action_id 'same' in block",
        [actions(button("same"), block_id="a1"), actions(button("same"), block_id="a2")],
    ),
    (
        "block_id unique within a message",
        [section(block_id="s"), section(block_id="s")],
        "blocks[1].block_id: duplicate block_id 's'",
        [section(block_id="s1"), section(block_id="s2")],
    ),
    (
        "initial_options equal options exactly",
        [actions(checkboxes([option("a", "A")], initial_options=[option("a", "A changed")]))],
        "blocks[0].elements[0].initial_options[0]: not exactly equal to any entry of options",
        [actions(checkboxes([option("a", "A"), option("b", "B")], initial_options=[option("a", "A")]))],
    ),
    (
        "initial_options description too",
        [
            actions(
                checkboxes(
                    [option("a", description=plain("why"))],
                    initial_options=[option("a")],
                )
            )
        ],
        "blocks[0].elements[0].initial_options[0]: not exactly equal to any entry of options",
        [
            actions(
                checkboxes(
                    [option("a", description=plain("why"))],
                    initial_options=[option("a", description=plain("why"))],
                )
            )
        ],
    ),
    ("known block type", [{"type": "banner"}], "blocks[0].type: unknown block type 'banner'", [{"type": "divider"}]),
    (
        "text object type",
        [{"type": "section", "text": {"type": "markdown", "text": "x"}}],
        "blocks[0].text.type: 'markdown' is not plain_text or mrkdwn",
        [section("x")],
    ),
    (
        "accessory element checked",
        [section(accessory=checkboxes([option(str(i)) for i in range(11)]))],
        "blocks[0].accessory.options: 11 options (max 10)",
        [section(accessory=checkboxes([option("1")]))],
    ),
]


@pytest.mark.parametrize(("name", "bad", "problem", "good"), CASES, ids=[c[0] for c in CASES])
def test_each_limit_fails_and_passes(
    name: str, bad: list[dict[str, Any]], problem: str, good: list[dict[str, Any]]
) -> None:
    assert problem in message_problems(bad)
    assert message_problems(good) == []


def test_modal_surface_allows_100_blocks_not_101() -> None:
    assert message_problems([{"type": "divider"}] * 100, surface="modal") == []
    assert message_problems([{"type": "divider"}] * 101, surface="modal") == ["blocks: 101 blocks (max 100 per modal)"]


def test_message_text_40000() -> None:
    assert message_problems([], text="x" * 40000) == []
    assert message_problems([], text="x" * 40001) == ["text: 40001 chars (max 40000)"]


def test_check_message_raises_with_every_problem() -> None:
    check_message([section()])
    with pytest.raises(BlockLimitError) as caught:
        check_message([section("x" * 3001), {"type": "banner"}])
    assert isinstance(caught.value, ValueError)
    assert caught.value.problems == [
        "blocks[0].text.text: 3001 chars (max 3000)",
        "blocks[1].type: unknown block type 'banner'",
    ]


VIEW_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "title 24",
        modal(title=plain("t" * 25)),
        "view.title.text: 25 chars (max 24)",
        modal(title=plain("t" * 24)),
    ),
    (
        "title plain_text",
        modal(title=mrkdwn("t")),
        "view.title.type: must be plain_text, not mrkdwn",
        modal(title=plain("t")),
    ),
    ("submit 24", modal(submit=plain("s" * 25)), "view.submit.text: 25 chars (max 24)", modal(submit=plain("s"))),
    ("close 24", modal(close=plain("c" * 25)), "view.close.text: 25 chars (max 24)", modal(close=plain("c"))),
    (
        "callback_id 255",
        modal(callback_id="c" * 256),
        "view.callback_id: 256 chars (max 255)",
        modal(callback_id="c" * 255),
    ),
    (
        "private_metadata 3000",
        modal(private_metadata="m" * 3001),
        "view.private_metadata: 3001 chars (max 3000)",
        modal(private_metadata="m" * 3000),
    ),
    (
        "100 blocks",
        modal(blocks=[{"type": "divider"}] * 101),
        "blocks: 101 blocks (max 100 per modal)",
        modal(blocks=[{"type": "divider"}] * 100),
    ),
    (
        "blocks checked",
        modal(blocks=[section("x" * 3001)]),
        "blocks[0].text.text: 3001 chars (max 3000)",
        modal(blocks=[section("x")]),
    ),
    ("modal needs a title", {"type": "modal", "blocks": []}, "view.title: required for a modal", modal()),
    (
        "inputs need submit",
        modal(blocks=[{"type": "input", "label": plain("Why"), "element": {"type": "plain_text_input"}}]),
        "view.submit: required when the modal has input blocks",
        modal(
            submit=plain("Save"),
            blocks=[{"type": "input", "label": plain("Why"), "element": {"type": "plain_text_input"}}],
        ),
    ),
]


@pytest.mark.parametrize(("name", "bad", "problem", "good"), VIEW_CASES, ids=[c[0] for c in VIEW_CASES])
def test_view_limits(name: str, bad: dict[str, Any], problem: str, good: dict[str, Any]) -> None:
    assert problem in view_problems(bad)
    assert view_problems(good) == []


def test_problems_are_all_reported_together() -> None:
    blocks = [actions(checkboxes([option(str(i), text="o" * 76) for i in range(11)]))]
    problems = message_problems(blocks)
    assert len(problems) == 12  # the count plus every long option text
