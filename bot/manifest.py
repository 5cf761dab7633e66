"""Slack app manifest checks: Slack's manifest rules, and the bot scopes the code really needs.

`manifest_problems` encodes the rules Slack applies when an app is created from a manifest (see
docs/slack-app.md). The allowed key tree is the part of Slack's schema this app can use; a key Slack
accepts but that is not listed here is reported as unknown, so adding one is a deliberate change here.

Decision: in Socket Mode every request URL (`slash_commands[].url`, `interactivity.request_url`,
`interactivity.message_menu_options_url`, `event_subscriptions.request_url`) is an error. Slack ignores them
there, so leaving one in only misleads the reader about how requests arrive. In HTTP mode the slash command
`url`, `interactivity.request_url` and (when events are subscribed) `event_subscriptions.request_url` are
required, and every URL must be https.

`scopes_used` reads the source (never imports it) for Web API calls and slash command registrations.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

# Web API method -> bot scope it needs (None: no scope). A method the code calls that is missing here makes
# scopes_used raise, so a new call cannot ship without deciding its scope (and updating the manifests).
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.scheduleMessage": "chat:write",
    "chat.getPermalink": None,
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "views.publish": None,
    "conversations.open": "im:write",
    "usergroups.users.list": "usergroups:read",
    "usergroups.list": "usergroups:read",
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}

# WebClient helpers that are not one API method: what they call.
COMPOSITE_METHODS: dict[str, tuple[str, ...]] = {
    "files_upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal"),
}

SLASH_COMMAND_SCOPE = "commands"

# The sandbox stands in for Slack; it is never a Slack client, so its code needs no scopes.
EXCLUDED_DIRS = frozenset({"sandbox", "__pycache__"})

# Every WebClient API method name (chat_postMessage, usergroups_users_list, ...).
_WEB_CLIENT_METHODS = frozenset(n for n, v in vars(WebClient).items() if callable(v) and not n.startswith("_"))

NAME_MAX = 35
COMMAND_MIN, COMMAND_MAX = 2, 32
DESCRIPTION_MAX = 140  # display_information.description
LONG_DESCRIPTION_MIN, LONG_DESCRIPTION_MAX = 175, 4000
BOT_DISPLAY_NAME_MAX = 80
COMMAND_DESCRIPTION_MAX = 2000
USAGE_HINT_MAX = 1000
SLASH_COMMANDS_MAX = 50
UNFURL_DOMAINS_MAX = 5
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

# The allowed key tree: a dict is an object (its keys are the only allowed ones), a one-element list is a
# list of that node, a type is a scalar of that type.
MANIFEST_SCHEMA: dict[str, Any] = {
    "_metadata": {"major_version": int, "minor_version": int},
    "display_information": {"name": str, "description": str, "background_color": str, "long_description": str},
    "features": {
        "app_home": {"home_tab_enabled": bool, "messages_tab_enabled": bool, "messages_tab_read_only_enabled": bool},
        "bot_user": {"display_name": str, "always_online": bool},
        "shortcuts": [{"name": str, "type": str, "callback_id": str, "description": str}],
        "slash_commands": [{"command": str, "description": str, "usage_hint": str, "url": str, "should_escape": bool}],
        "unfurl_domains": [str],
    },
    "oauth_config": {"redirect_urls": [str], "scopes": {"bot": [str], "user": [str]}},
    "settings": {
        "event_subscriptions": {"request_url": str, "bot_events": [str], "user_events": [str]},
        "interactivity": {"is_enabled": bool, "request_url": str, "message_menu_options_url": str},
        "org_deploy_enabled": bool,
        "socket_mode_enabled": bool,
        "token_rotation_enabled": bool,
    },
}


# --- manifest rules -------------------------------------------------------------------------------------
def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """Every rule the manifest breaks, as `path: what is wrong`; an empty list means Slack accepts it."""
    if not isinstance(manifest, dict):
        return ["manifest: must be a mapping"]
    problems: list[str] = []
    _check_shape(manifest, MANIFEST_SCHEMA, "", problems)
    _check_display(manifest, problems)
    _check_features(manifest, problems)
    _check_settings(manifest, problems)
    return problems


def _type_name(kind: type) -> str:
    return {str: "a string", bool: "true or false", int: "an integer"}.get(kind, kind.__name__)


def _check_shape(value: Any, node: Any, path: str, problems: list[str]) -> None:
    where = path or "manifest"
    if isinstance(node, dict):
        if not isinstance(value, dict):
            problems.append(f"{where}: must be a mapping")
            return
        for key, sub in value.items():
            sub_path = f"{path}.{key}" if path else str(key)
            if key not in node:
                allowed = ", ".join(sorted(node))
                problems.append(f"{sub_path}: unknown key (allowed here: {allowed})")
                continue
            _check_shape(sub, node[key], sub_path, problems)
    elif isinstance(node, list):
        if not isinstance(value, list):
            problems.append(f"{where}: must be a list")
            return
        for i, item in enumerate(value):
            _check_shape(item, node[0], f"{path}[{i}]", problems)
    # bool is an int subclass: `major_version: true` is not an integer.
    elif not isinstance(value, node) or (node is int and isinstance(value, bool)):
        problems.append(f"{where}: must be {_type_name(node)}")


def _mapping(parent: Any, key: str) -> dict[str, Any]:
    """A child mapping, or {} when missing or malformed (the shape check reports malformed values)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _items(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    return value if isinstance(value, list) else []


def _text(parent: dict[str, Any], key: str) -> str | None:
    value = parent.get(key)
    return value if isinstance(value, str) else None


def _blank(parent: dict[str, Any], key: str) -> bool:
    value = parent.get(key)
    return value is None or (isinstance(value, str) and not value.strip())


def _check_display(manifest: dict[str, Any], problems: list[str]) -> None:
    display = _mapping(manifest, "display_information")
    if _blank(display, "name"):
        problems.append("display_information.name: required")
    name = _text(display, "name")
    if name is not None and len(name) > NAME_MAX:
        problems.append(f"display_information.name: {len(name)} chars, at most {NAME_MAX}")
    description = _text(display, "description")
    if description is not None and len(description) > DESCRIPTION_MAX:
        problems.append(f"display_information.description: {len(description)} chars, at most {DESCRIPTION_MAX}")
    long_description = _text(display, "long_description")
    if long_description is not None and not LONG_DESCRIPTION_MIN <= len(long_description) <= LONG_DESCRIPTION_MAX:
        problems.append(
            f"display_information.long_description: {len(long_description)} chars, "
            f"must be {LONG_DESCRIPTION_MIN} to {LONG_DESCRIPTION_MAX}"
        )
    color = _text(display, "background_color")
    if color is not None and not _COLOR.fullmatch(color):
        problems.append(f"display_information.background_color: {color!r} is not a hex colour like #1d3557")


def _socket_mode(manifest: dict[str, Any]) -> bool:
    return _mapping(manifest, "settings").get("socket_mode_enabled") is True


def _check_url(value: Any, path: str, socket_mode: bool, *, required: bool, problems: list[str]) -> None:
    if socket_mode:
        if value is not None:
            problems.append(f"{path}: not allowed in Socket Mode (requests arrive over the socket)")
        return
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{path}: required when socket_mode_enabled is false (HTTP mode)")
        return
    if isinstance(value, str) and not value.startswith("https://"):
        problems.append(f"{path}: {value!r} must be an https:// URL")


def _check_features(manifest: dict[str, Any], problems: list[str]) -> None:
    features = _mapping(manifest, "features")
    socket_mode = _socket_mode(manifest)
    bot_user = _mapping(features, "bot_user")
    if "bot_user" in features:
        if _blank(bot_user, "display_name"):
            problems.append("features.bot_user.display_name: required")
        display_name = _text(bot_user, "display_name")
        if display_name is not None and len(display_name) > BOT_DISPLAY_NAME_MAX:
            problems.append(
                f"features.bot_user.display_name: {len(display_name)} chars, at most {BOT_DISPLAY_NAME_MAX}"
            )
    commands = _items(features, "slash_commands")
    if len(commands) > SLASH_COMMANDS_MAX:
        problems.append(f"features.slash_commands: {len(commands)} commands, at most {SLASH_COMMANDS_MAX}")
    seen: set[str] = set()
    for i, command in enumerate(commands):
        if isinstance(command, dict):
            _check_command(command, f"features.slash_commands[{i}]", socket_mode, seen, problems)
    if commands and SLASH_COMMAND_SCOPE not in _items(_mapping(_mapping(manifest, "oauth_config"), "scopes"), "bot"):
        problems.append(f"oauth_config.scopes.bot: slash commands need the {SLASH_COMMAND_SCOPE!r} scope")
    domains = _items(features, "unfurl_domains")
    if len(domains) > UNFURL_DOMAINS_MAX:
        problems.append(f"features.unfurl_domains: {len(domains)} domains, at most {UNFURL_DOMAINS_MAX}")


def _check_command(command: dict[str, Any], path: str, socket_mode: bool, seen: set[str], problems: list[str]) -> None:
    name = _text(command, "command")
    if name is None:
        if "command" not in command:
            problems.append(f"{path}.command: required")
    elif not name.startswith("/"):
        problems.append(f"{path}.command: {name!r} must start with '/'")
    elif not COMMAND_MIN <= len(name) <= COMMAND_MAX:
        problems.append(f"{path}.command: {name!r} is {len(name)} chars, must be {COMMAND_MIN} to {COMMAND_MAX}")
    elif name != name.lower() or any(c.isspace() for c in name):
        problems.append(f"{path}.command: {name!r} must be lowercase with no spaces")
    elif name in seen:
        problems.append(f"{path}.command: {name!r} is declared twice")
    if name is not None:
        seen.add(name)
    if _blank(command, "description"):
        problems.append(f"{path}.description: required")
    description = _text(command, "description")
    if description is not None and len(description) > COMMAND_DESCRIPTION_MAX:
        problems.append(f"{path}.description: {len(description)} chars, at most {COMMAND_DESCRIPTION_MAX}")
    hint = _text(command, "usage_hint")
    if hint is not None and len(hint) > USAGE_HINT_MAX:
        problems.append(f"{path}.usage_hint: {len(hint)} chars, at most {USAGE_HINT_MAX}")
    _check_url(command.get("url"), f"{path}.url", socket_mode, required=True, problems=problems)


def _check_settings(manifest: dict[str, Any], problems: list[str]) -> None:
    settings = _mapping(manifest, "settings")
    socket_mode = _socket_mode(manifest)
    if "interactivity" in settings:
        interactivity = _mapping(settings, "interactivity")
        if "is_enabled" not in interactivity:
            problems.append("settings.interactivity.is_enabled: required when interactivity is present")
        enabled = interactivity.get("is_enabled") is True
        path = "settings.interactivity"
        _check_url(
            interactivity.get("request_url"), f"{path}.request_url", socket_mode, required=enabled, problems=problems
        )
        _check_url(
            interactivity.get("message_menu_options_url"),
            f"{path}.message_menu_options_url",
            socket_mode,
            required=False,
            problems=problems,
        )
    if "event_subscriptions" in settings:
        events = _mapping(settings, "event_subscriptions")
        subscribed = bool(_items(events, "bot_events") or _items(events, "user_events"))
        _check_url(
            events.get("request_url"),
            "settings.event_subscriptions.request_url",
            socket_mode,
            required=subscribed,
            problems=problems,
        )
    scopes = _mapping(_mapping(manifest, "oauth_config"), "scopes")
    for kind in ("bot", "user"):
        listed = [s for s in _items(scopes, kind) if isinstance(s, str)]
        for scope in sorted({s for s in listed if listed.count(s) > 1}):
            problems.append(f"oauth_config.scopes.{kind}: {scope!r} is listed twice")


# --- scopes the code needs ------------------------------------------------------------------------------
class UnknownSlackMethod(Exception):
    """The code calls a Web API method METHOD_SCOPES does not cover."""


@dataclass(frozen=True)
class ApiCall:
    method: str  # dotted Web API name, e.g. "chat.postMessage"
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.method} ({self.path}:{self.line})"


def api_method_name(snake: str) -> str:
    """WebClient method name -> Web API method: usergroups_users_list -> usergroups.users.list."""
    return snake.replace("_", ".")


def _source_files(package_dir: Path) -> list[Path]:
    return sorted(
        p for p in package_dir.rglob("*.py") if not EXCLUDED_DIRS.intersection(p.relative_to(package_dir).parts)
    )


def _first_literal(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _calls_in(tree: ast.AST) -> list[tuple[str, int]]:
    """(dotted method, line) for each Web API call in one module, composites expanded."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in COMPOSITE_METHODS:
            found.extend((m, node.lineno) for m in COMPOSITE_METHODS[func.attr])
        elif isinstance(func, ast.Attribute) and func.attr in _WEB_CLIENT_METHODS:
            found.append((api_method_name(func.attr), node.lineno))
        elif isinstance(func, ast.Attribute) and func.attr == "api_call":
            found.append((_first_literal(node) or "api_call(<not a literal>)", node.lineno))
        elif isinstance(func, ast.Name) and func.id == "say":  # Bolt's say() is chat.postMessage
            found.append(("chat.postMessage", node.lineno))
    return found


def api_calls(package_dir: Path) -> list[ApiCall]:
    """Every Slack Web API call in the Python source under package_dir (sandbox excluded)."""
    calls: list[ApiCall] = []
    for path in _source_files(package_dir):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        calls.extend(ApiCall(method, path, line) for method, line in _calls_in(tree))
    return calls


def registered_commands(package_dir: Path) -> set[str]:
    """Slash commands registered with Bolt (`app.command("/deploy")`); a non-literal name is returned as "?"."""
    names: set[str] = set()
    for path in _source_files(package_dir):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "command":
                names.add(_first_literal(node) or "?")
    return names


def scopes_used(package_dir: Path) -> set[str]:
    """The bot scopes the code under package_dir needs; raises UnknownSlackMethod for an unmapped method."""
    calls = api_calls(package_dir)
    unknown = [c for c in calls if c.method not in METHOD_SCOPES]
    if unknown:
        listed = "; ".join(str(c) for c in unknown)
        raise UnknownSlackMethod(f"add it to METHOD_SCOPES in bot/manifest.py (and the manifests): {listed}")
    scopes = {scope for c in calls if (scope := METHOD_SCOPES[c.method]) is not None}
    if registered_commands(package_dir):
        scopes.add(SLASH_COMMAND_SCOPE)
    return scopes
