"""Per-item metadata: YAML front matter at the top of a template, or a `<name>.meta.yaml` sidecar.

Values come from yaml.safe_load; line numbers come from yaml.compose of the same text, so every error can
point at the line to fix. Checking item keys and role keys against the template is the parser's job.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from bot.checklist.errors import TemplateError
from bot.checklist.model import ItemMeta

TOP_LEVEL_KEYS = ("items", "name", "description")
ITEM_KEYS = ("required", "owner_role", "probe")

_Fail = Callable[[str, int | None], TemplateError]


@dataclass(frozen=True)
class MetaEntry:
    item_key: str
    meta: ItemMeta
    line: int  # where the item key is written
    owner_role_line: int  # where owner_role is written (the item line if absent)


@dataclass(frozen=True)
class Metadata:
    path: str
    entries: tuple[MetaEntry, ...]
    name: str | None = None
    description: str | None = None


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def split_front_matter(text: str, *, path: str = "<template>") -> tuple[str, str | None, int]:
    """(body, yaml text or None, file line of the first YAML line).

    The front matter lines are blanked in the body rather than removed, so Markdown line numbers stay true.
    Only a `---` on the very first line opens front matter; `---` elsewhere is a Markdown rule.
    """
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return text, None, 0
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            yaml_text = "\n".join(lines[1:index])
            return "\n" * (index + 1) + "\n".join(lines[index + 1 :]), yaml_text, 2
    raise TemplateError("front matter opened with '---' is never closed by another '---' line", path=path, line=1)


def parse_metadata(yaml_text: str, *, path: str, first_line: int) -> Metadata:
    """Validate the shape of the metadata document (keys, types); not whether items and roles exist."""

    def fail(message: str, line: int | None) -> TemplateError:
        return TemplateError(message, path=path, line=line)

    try:
        root = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(yaml_text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark is not None else first_line
        raise fail(f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}", first_line) from None
    if root is None or data is None:
        return Metadata(path=path, entries=())
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise fail("metadata must be a mapping with an 'items' key", root.start_mark.line + first_line)

    def key_lines(node: yaml.MappingNode, where: str) -> dict[str, int]:
        lines: dict[str, int] = {}
        for key_node, _ in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + first_line
            if key in lines:
                raise fail(f"duplicate key {key!r} in {where} (first on line {lines[key]})", line)
            lines[key] = line
        return lines

    top_lines = key_lines(root, "metadata")
    for key, line in top_lines.items():
        if key not in TOP_LEVEL_KEYS:
            allowed = ", ".join(TOP_LEVEL_KEYS)
            raise fail(f"unknown metadata key {key!r} (allowed: {allowed}){did_you_mean(key, TOP_LEVEL_KEYS)}", line)

    name = _optional_str(data, "name", top_lines, fail)
    description = _optional_str(data, "description", top_lines, fail)

    entries: list[MetaEntry] = []
    items_node = next((v for k, v in root.value if k.value == "items"), None)
    items = data.get("items")
    if items_node is not None and items is not None:
        if not isinstance(items, dict) or not isinstance(items_node, yaml.MappingNode):
            raise fail("'items' must map item keys to settings", top_lines["items"])
        item_lines = key_lines(items_node, "items")
        for value_key, value_node in items_node.value:
            item_key = str(value_key.value)
            line = item_lines[item_key]
            settings = items[value_key.value]
            if settings is None:
                settings = {}
            if not isinstance(settings, dict) or not isinstance(value_node, yaml.MappingNode | yaml.ScalarNode):
                raise fail(f"settings for {item_key!r} must be a mapping, e.g. {{required: false}}", line)
            field_lines = key_lines(value_node, item_key) if isinstance(value_node, yaml.MappingNode) else {}
            entries.append(_entry(item_key, settings, line, field_lines, fail))
    return Metadata(path=path, entries=tuple(entries), name=name, description=description)


def _optional_str(data: dict[str, Any], key: str, lines: dict[str, int], fail: _Fail) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(f"{key!r} must be a string", lines[key])
    return value


def _entry(item_key: str, settings: dict[str, Any], line: int, field_lines: dict[str, int], fail: _Fail) -> MetaEntry:
    for field in settings:
        if field not in ITEM_KEYS:
            allowed = ", ".join(ITEM_KEYS)
            raise fail(
                f"unknown setting {field!r} for {item_key!r} (allowed: {allowed}){did_you_mean(str(field), ITEM_KEYS)}",
                field_lines.get(str(field), line),
            )
    required = settings.get("required")
    if required is not None and not isinstance(required, bool):
        raise fail(f"'required' for {item_key!r} must be true or false", field_lines.get("required", line))
    strings: dict[str, str | None] = {}
    for field in ("owner_role", "probe"):
        value = settings.get(field)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise fail(f"{field!r} for {item_key!r} must be a non-empty string", field_lines.get(field, line))
        strings[field] = value.strip() if isinstance(value, str) else None
    return MetaEntry(
        item_key=item_key,
        meta=ItemMeta(required=required, owner_role=strings["owner_role"], probe=strings["probe"]),
        line=line,
        owner_role_line=field_lines.get("owner_role", line),
    )
