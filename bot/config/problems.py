"""Turn pydantic errors into one readable line each: `path: what is wrong (and what to do)`.

Lines are built from the error type and location only, never from the input value, so a secret pasted
into the YAML by mistake cannot reach a log or a terminal through an error message.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.config.yaml_source import YamlDocument

# Unknown YAML keys that name an environment setting: say where it goes instead of suggesting a field.
SECRET_ENV_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "DATABASE_URL",
    "DEPLOYBOT_API_TOKEN",
    "PAGERDUTY_ROUTING_KEY",
    "OPSGENIE_API_KEY",
    "PAGING_WEBHOOK_SECRET",
    "PAGERDUTY_WEBHOOK_SECRET",
    "ROLLBACK_WEBHOOK_SECRET",
)
_ENV_ONLY = {name.lower(): name for name in SECRET_ENV_NAMES} | {
    "routing_key": "PAGERDUTY_ROUTING_KEY",
    "api_key": "OPSGENIE_API_KEY",
    "token": "SLACK_BOT_TOKEN",
    "signing_secret": "SLACK_SIGNING_SECRET",
    "host": "HOST",
    "port": "PORT",
    "slack_api_url": "SLACK_API_URL",
    "deploybot_config": "DEPLOYBOT_CONFIG",
}


def _strip_optional(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _union_members(tp: Any) -> dict[str, type[BaseModel]]:
    """Discriminated union members by their `type` tag."""
    members: dict[str, type[BaseModel]] = {}
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return members
    for arg in typing.get_args(tp):
        if isinstance(arg, type) and issubclass(arg, BaseModel) and "type" in arg.model_fields:
            tag = typing.get_args(arg.model_fields["type"].annotation)
            if tag:
                members[str(tag[0])] = arg
    return members


def _walk(root: type[BaseModel], loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, Any, bool]]:
    """Yield (loc part, the type at that point, shown) along `loc`; union tags are not shown."""
    tp: Any = root
    for part in loc:
        tp = _strip_optional(tp)
        origin = typing.get_origin(tp)
        if isinstance(part, str) and part in _union_members(tp):
            tp = _union_members(tp)[part]
            yield part, tp, False
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            field = tp.model_fields.get(part)
            tp = field.annotation if field is not None else None
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin is tuple:
            tp = typing.get_args(tp)[0]
        else:
            tp = None
        yield part, tp, True


def format_path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _fields_of(tp: Any) -> list[str]:
    tp = _strip_optional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _message(err: ErrorDetails, at: Any, parent: Any, key: str | int | None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden" and isinstance(key, str):
        if key.lower() in _ENV_ONLY:
            return f"unknown key; this comes from the environment only: set {_ENV_ONLY[key.lower()]}"
        close = difflib.get_close_matches(key, _fields_of(parent), n=1)
        return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"
    if kind == "missing":
        return "missing (required)"
    if kind == "union_tag_not_found":
        return f"missing 'type' (one of: {', '.join(_union_members(_strip_optional(at)))})"
    if kind == "union_tag_invalid":
        tags = list(_union_members(_strip_optional(at)))
        tag = str((err.get("ctx") or {}).get("tag", ""))
        close = difflib.get_close_matches(tag, tags, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (one of: {', '.join(tags)})"
        return f"unknown type '{tag}'{hint}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "should be a mapping (key: value lines or {key: value})"
    if kind in ("tuple_type", "list_type"):
        return "should be a list (- item lines or [a, b])"
    if kind == "too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        return f"needs at least {least} item{'s' if least != 1 else ''}"
    return err["msg"].removeprefix("Value error, ")


def validation_problems(
    exc: ValidationError, root: type[BaseModel], doc: YamlDocument | None, prefix: tuple[str | int, ...] = ()
) -> list[str]:
    """One line per error. `prefix` places the errors of a sub-model validated on its own."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(p for p in err["loc"] if p != "[key]")
        shown: list[str | int] = list(prefix)
        types_along: list[Any] = [root]
        for part, tp, visible in _walk(root, loc):
            types_along.append(tp)
            if visible:
                shown.append(part)
        at = types_along[-1]
        parent = types_along[-2] if len(types_along) >= 2 else root
        text = _message(err, at, parent, loc[-1] if loc else None)
        if len(loc) != len(err["loc"]):
            text = f"bad name: {text}"
        line = doc.line_of(tuple(shown)) if doc is not None else None
        where = f" (line {line})" if line is not None else ""
        lines.append(f"{format_path(shown) or '(top level)'}: {text}{where}")
    return lines
