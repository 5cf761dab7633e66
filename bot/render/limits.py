"""Block Kit limits validator: Slack silently drops or rejects blocks past these limits.

Pure: dicts in, a list of problems out. Each problem names its place, e.g.
`blocks[3].elements[0].options: 11 options (max 10)`.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
MAX_MESSAGE_TEXT = 40000
MAX_ID = 255

BLOCK_TYPES = frozenset(
    {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "input",
        "header",
        "file",
        "rich_text",
        "video",
        "markdown",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
BUTTON_STYLES = frozenset({"primary", "danger"})
# Element types that carry `options`, with Slack's per-element maximum.
OPTION_LIMITS = {
    "checkboxes": 10,
    "radio_buttons": 10,
    "overflow": 5,
    "static_select": 100,
    "multi_static_select": 100,
}
ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "radio_buttons",
        "overflow",
        "static_select",
        "multi_static_select",
        "external_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "plain_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
        "file_input",
        "image",
        "workflow_button",
    }
)


class BlockLimitError(ValueError):
    """Rendered blocks break a Slack limit; `problems` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def message_problems(blocks: list[dict[str, Any]], *, surface: str = "message", text: str | None = None) -> list[str]:
    """Every Block Kit limit `blocks` (and the message's top-level `text`) break; empty when fine."""
    problems: list[str] = []
    if surface not in MAX_BLOCKS:
        return [f"surface: unknown surface {surface!r}"]
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        problems.append(f"text: {len(text)} chars (max {MAX_MESSAGE_TEXT})")
    if not isinstance(blocks, list):
        return [*problems, "blocks: not a list"]
    limit = MAX_BLOCKS[surface]
    if len(blocks) > limit:
        problems.append(f"blocks: {len(blocks)} blocks (max {limit} per {surface})")
    seen_block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(block, dict):
            problems.append(f"{where}: not an object")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            problems += _id_problems(f"{where}.block_id", block_id)
            if block_id in seen_block_ids:
                problems.append(f"{where}.block_id: duplicate block_id {block_id!r}")
            seen_block_ids.add(block_id)
        problems += _block_problems(where, block)
    return problems


def check_message(blocks: list[dict[str, Any]], *, surface: str = "message", text: str | None = None) -> None:
    """Raise BlockLimitError listing every problem, or return quietly."""
    problems = message_problems(blocks, surface=surface, text=text)
    if problems:
        raise BlockLimitError(problems)


def view_problems(view: dict[str, Any]) -> list[str]:
    """Problems with a whole modal / home view: its fields, then its blocks (100 max)."""
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append(f"view.type: {kind!r} is not modal or home")
        kind = "modal"
    if kind == "modal" and "title" not in view:
        problems.append("view.title: required for a modal")
    for field in ("title", "submit", "close"):
        if field in view:
            problems += _text_problems(f"view.{field}", view[field], max_len=24, plain_only=True)
    callback_id = view.get("callback_id")
    if callback_id is not None:
        problems += _id_problems("view.callback_id", callback_id)
    external_id = view.get("external_id")
    if external_id is not None:
        problems += _id_problems("view.external_id", external_id)
    metadata = view.get("private_metadata")
    if metadata is not None:
        if not isinstance(metadata, str):
            problems.append("view.private_metadata: not a string")
        elif len(metadata) > 3000:
            problems.append(f"view.private_metadata: {len(metadata)} chars (max 3000)")
    blocks = view.get("blocks", [])
    problems += message_problems(blocks, surface=kind)
    has_inputs = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if kind == "modal" and "submit" not in view and has_inputs:
        problems.append("view.submit: required when the modal has input blocks")
    return problems


def _id_problems(where: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: not a string"]
    if len(value) > MAX_ID:
        return [f"{where}: {len(value)} chars (max {MAX_ID})"]
    return []


def _text_problems(where: str, obj: Any, *, max_len: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: not a text object"]
    kind = obj.get("type")
    if kind not in TEXT_TYPES:
        return [f"{where}.type: {kind!r} is not plain_text or mrkdwn"]
    if plain_only and kind != "plain_text":
        return [f"{where}.type: must be plain_text, not {kind}"]
    text = obj.get("text")
    if not isinstance(text, str):
        return [f"{where}.text: missing or not a string"]
    if len(text) > max_len:
        return [f"{where}.text: {len(text)} chars (max {max_len})"]
    return []


def _block_problems(where: str, block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return [f"{where}.type: unknown block type {kind!r}"]
    problems: list[str] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{where}: section needs text or fields")
        if "text" in block:
            problems += _text_problems(f"{where}.text", block["text"], max_len=3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list):
                problems.append(f"{where}.fields: not a list")
            else:
                if len(fields) > 10:
                    problems.append(f"{where}.fields: {len(fields)} fields (max 10)")
                for j, field in enumerate(fields):
                    problems += _text_problems(f"{where}.fields[{j}]", field, max_len=2000)
        if "accessory" in block:
            problems += _element_problems(f"{where}.accessory", block["accessory"])
    elif kind == "header":
        problems += _text_problems(f"{where}.text", block.get("text"), max_len=150, plain_only=True)
    elif kind in ("actions", "context"):
        problems += _container_problems(where, block, kind)
    elif kind == "input":
        problems += _text_problems(f"{where}.label", block.get("label"), max_len=2000, plain_only=True)
        problems += _element_problems(f"{where}.element", block.get("element"))
    return problems


def _container_problems(where: str, block: dict[str, Any], kind: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list):
        return [f"{where}.elements: missing or not a list"]
    limit = 25 if kind == "actions" else 10
    problems: list[str] = []
    if len(elements) > limit:
        problems.append(f"{where}.elements: {len(elements)} elements (max {limit})")
    seen_action_ids: set[str] = set()
    for j, element in enumerate(elements):
        at = f"{where}.elements[{j}]"
        if kind == "context":
            if isinstance(element, dict) and element.get("type") == "image":
                continue
            problems += _text_problems(at, element, max_len=3000)
            continue
        problems += _element_problems(at, element)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen_action_ids:
                problems.append(f"{at}.action_id: duplicate action_id {action_id!r} in block")
            seen_action_ids.add(action_id)
    return problems


def _element_problems(where: str, element: Any) -> list[str]:
    if not isinstance(element, dict):
        return [f"{where}: not an object"]
    kind = element.get("type")
    if kind not in ELEMENT_TYPES:
        return [f"{where}.type: unknown element type {kind!r}"]
    problems: list[str] = []
    if "action_id" in element:
        problems += _id_problems(f"{where}.action_id", element["action_id"])
    if kind == "button":
        problems += _text_problems(f"{where}.text", element.get("text"), max_len=75, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            problems.append(f"{where}.value: {_length(value)} (max 2000 chars)")
        style = element.get("style")
        if style is not None and style not in BUTTON_STYLES:
            problems.append(f"{where}.style: {style!r} is not primary or danger")
    if kind in OPTION_LIMITS:
        problems += _options_problems(where, element, OPTION_LIMITS[kind])
    return problems


def _options_problems(where: str, element: dict[str, Any], limit: int) -> list[str]:
    options = element.get("options")
    if not isinstance(options, list):
        return [f"{where}.options: missing or not a list"]
    problems: list[str] = []
    if len(options) > limit:
        problems.append(f"{where}.options: {len(options)} options (max {limit})")
    for k, option in enumerate(options):
        problems += _option_problems(f"{where}.options[{k}]", option)
    initial = element.get("initial_options")
    if initial is not None:
        if not isinstance(initial, list):
            problems.append(f"{where}.initial_options: not a list")
        else:
            for k, option in enumerate(initial):
                if option not in options:
                    problems.append(f"{where}.initial_options[{k}]: not exactly equal to any entry of options")
    if "initial_option" in element and element["initial_option"] not in options:
        problems.append(f"{where}.initial_option: not exactly equal to any entry of options")
    return problems


def _option_problems(where: str, option: Any) -> list[str]:
    if not isinstance(option, dict):
        return [f"{where}: not an object"]
    problems = _text_problems(f"{where}.text", option.get("text"), max_len=75)
    if "description" in option:
        problems += _text_problems(f"{where}.description", option["description"], max_len=75)
    value = option.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > 150):
        problems.append(f"{where}.value: {_length(value)} (max 150 chars)")
    return problems


def _length(value: Any) -> str:
    return f"{len(value)} chars" if isinstance(value, str) else "not a string"
