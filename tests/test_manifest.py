"""The Slack app manifests against Slack's manifest rules, and their scopes against what the code calls."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.commands import SUBCOMMANDS
from bot.manifest import (
    METHOD_SCOPES,
    UnknownSlackMethod,
    api_calls,
    api_method_name,
    manifest_problems,
    registered_commands,
    scopes_used,
)

ROOT = Path(__file__).resolve().parent.parent
SOCKET = ROOT / "app_manifest.yaml"
HTTP = ROOT / "app_manifest.http.yaml"
EVENTS_URL = "https://deploybot.example.com/slack/events"


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    assert isinstance(data, dict)
    return data


@pytest.fixture
def socket() -> dict[str, Any]:
    return load(SOCKET)


@pytest.fixture
def http() -> dict[str, Any]:
    return load(HTTP)


# --- the shipped manifests ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [SOCKET, HTTP], ids=["socket", "http"])
def test_shipped_manifest_has_no_problems(path: Path) -> None:
    assert manifest_problems(load(path)) == []


def test_modes(socket: dict[str, Any], http: dict[str, Any]) -> None:
    assert socket["settings"]["socket_mode_enabled"] is True
    assert http["settings"]["socket_mode_enabled"] is False
    for manifest in (socket, http):
        settings = manifest["settings"]
        assert settings["interactivity"]["is_enabled"] is True
        assert settings["org_deploy_enabled"] is False
        assert settings["token_rotation_enabled"] is False
    assert http["settings"]["interactivity"]["request_url"] == EVENTS_URL
    assert [c["url"] for c in http["features"]["slash_commands"]] == [EVENTS_URL]


def test_http_variant_differs_only_in_mode_settings(socket: dict[str, Any], http: dict[str, Any]) -> None:
    for command in http["features"]["slash_commands"]:
        del command["url"]
    del http["settings"]["interactivity"]["request_url"]
    http["settings"]["socket_mode_enabled"] = True
    assert http == socket


def code_scopes() -> set[str]:
    return scopes_used(ROOT / "bot") | scopes_used(ROOT / "probes")


@pytest.mark.parametrize("path", [SOCKET, HTTP], ids=["socket", "http"])
def test_bot_scopes_are_exactly_what_the_code_uses(path: Path) -> None:
    declared = load(path)["oauth_config"]["scopes"]["bot"]
    assert len(declared) == len(set(declared))
    needed = code_scopes()
    assert sorted(needed - set(declared)) == [], "the code needs scopes the manifest does not request"
    assert sorted(set(declared) - needed) == [], "the manifest requests scopes no code uses"


def test_no_user_scopes(socket: dict[str, Any]) -> None:
    assert "user" not in socket["oauth_config"]["scopes"]


def test_declared_commands_are_the_registered_ones(socket: dict[str, Any]) -> None:
    declared = {c["command"] for c in socket["features"]["slash_commands"]}
    assert declared == registered_commands(ROOT / "bot") == {"/deploy"}


def test_slash_command_text(socket: dict[str, Any]) -> None:
    (command,) = socket["features"]["slash_commands"]
    assert command["should_escape"] is False
    assert (
        command["usage_hint"]
        == "start SERVICE VERSION [ENV] | status | list | deployed | incident | abort | export | help"
    )
    hinted = [part.split()[0] for part in command["usage_hint"].split("|")]
    assert hinted == list(SUBCOMMANDS)
    assert socket["display_information"]["name"] == "Deploy Bot"
    assert socket["features"]["bot_user"]["display_name"]


# --- METHOD_SCOPES and the source scan ------------------------------------------------------------------
def test_method_scopes_name_real_web_api_methods() -> None:
    snake = {n for n in vars(WebClient) if not n.startswith("_")}
    assert sorted(m for m in METHOD_SCOPES if m.replace(".", "_") not in snake) == []


def test_api_method_name() -> None:
    assert api_method_name("chat_postMessage") == "chat.postMessage"
    assert api_method_name("usergroups_users_list") == "usergroups.users.list"
    assert api_method_name("files_getUploadURLExternal") == "files.getUploadURLExternal"


def write(pkg: Path, name: str, source: str) -> Path:
    path = pkg / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def test_scan_maps_calls_to_scopes(tmp_path: Path) -> None:
    write(
        tmp_path,
        "gateway.py",
        "def f(client, gw):\n"
        "    client.chat_postMessage(channel='C1', text='hi')\n"
        "    gw.client.usergroups_users_list(usergroup='S1')\n"
        "    client.files_upload_v2(channel='C1', content='x')\n"
        "    client.views_open(trigger_id='t', view={})\n",
    )
    write(tmp_path, "sub/dm.py", "def g(client):\n    return client.conversations_open(users=['U1'])\n")
    assert scopes_used(tmp_path) == {"chat:write", "usergroups:read", "files:write", "im:write"}
    methods = sorted(c.method for c in api_calls(tmp_path))
    assert methods == [
        "chat.postMessage",
        "conversations.open",
        "files.completeUploadExternal",
        "files.getUploadURLExternal",
        "usergroups.users.list",
        "views.open",
    ]
    call = next(c for c in api_calls(tmp_path) if c.method == "conversations.open")
    assert (call.path.name, call.line) == ("dm.py", 2)


def test_scan_ignores_comments_strings_and_definitions(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.py",
        '"""client.users_info(user=...) would need users:read."""\n'
        "# client.chat_postMessage(channel='C1')\n"
        "TEXT = 'client.files_upload_v2('\n"
        "def users_info(ws, p):\n"
        "    return p\n"
        "users_info(1, 2)\n",
    )
    assert api_calls(tmp_path) == []
    assert scopes_used(tmp_path) == set()


def test_scan_counts_slash_commands_bolt_say_and_api_call(tmp_path: Path) -> None:
    write(
        tmp_path,
        "listeners.py",
        "def register(app):\n"
        "    @app.command('/deploy')\n"
        "    def handle(ack, say, client):\n"
        "        ack()\n"
        "        say('hello')\n"
        "        client.api_call('users.info', params={'user': 'U1'})\n",
    )
    assert registered_commands(tmp_path) == {"/deploy"}
    assert scopes_used(tmp_path) == {"commands", "chat:write", "users:read"}


def test_scan_skips_the_sandbox(tmp_path: Path) -> None:
    write(tmp_path, "sandbox/emu.py", "def f(client):\n    client.users_info(user='U1')\n")
    assert scopes_used(tmp_path) == set()


def test_unknown_method_fails_with_a_pointer(tmp_path: Path) -> None:
    write(tmp_path, "x.py", "def f(client):\n    client.reactions_add(name='rocket', channel='C1', timestamp='1')\n")
    with pytest.raises(UnknownSlackMethod, match=r"add it to METHOD_SCOPES.*reactions\.add \(.*x\.py:2\)"):
        scopes_used(tmp_path)


def test_dynamic_api_call_is_unknown(tmp_path: Path) -> None:
    write(tmp_path, "x.py", "def f(client, name):\n    client.api_call(name)\n")
    with pytest.raises(UnknownSlackMethod, match="api_call"):
        scopes_used(tmp_path)


# --- each manifest rule, by mutating a copy -------------------------------------------------------------
Mutation = Callable[[dict[str, Any]], None]


def mutated(base: dict[str, Any], change: Mutation) -> list[str]:
    manifest = copy.deepcopy(base)
    change(manifest)
    return manifest_problems(manifest)


def cmd(m: dict[str, Any]) -> dict[str, Any]:
    command: dict[str, Any] = m["features"]["slash_commands"][0]
    return command


SOCKET_CASES: list[tuple[str, Mutation, list[str]]] = [
    (
        "unknown top-level key",
        lambda m: m.update(functions={}),
        [
            "functions: unknown key (allowed here: _metadata, display_information, features, oauth_config, settings)",
        ],
    ),
    (
        "unknown nested key",
        lambda m: m["features"]["bot_user"].update(colour="red"),
        ["features.bot_user.colour: unknown key (allowed here: always_online, display_name)"],
    ),
    (
        "unknown key in a list item",
        lambda m: cmd(m).update(alias="/d"),
        [
            "features.slash_commands[0].alias: unknown key "
            "(allowed here: command, description, should_escape, url, usage_hint)"
        ],
    ),
    (
        "name too long",
        lambda m: m["display_information"].update(name="D" * 36),
        ["display_information.name: 36 chars, at most 35"],
    ),
    ("name missing", lambda m: m["display_information"].pop("name"), ["display_information.name: required"]),
    ("name blank", lambda m: m["display_information"].update(name="  "), ["display_information.name: required"]),
    (
        "command without slash",
        lambda m: cmd(m).update(command="deploy"),
        ["features.slash_commands[0].command: 'deploy' must start with '/'"],
    ),
    (
        "command too short",
        lambda m: cmd(m).update(command="/"),
        ["features.slash_commands[0].command: '/' is 1 chars, must be 2 to 32"],
    ),
    (
        "command too long",
        lambda m: cmd(m).update(command="/" + "d" * 32),
        [f"features.slash_commands[0].command: '/{'d' * 32}' is 33 chars, must be 2 to 32"],
    ),
    (
        "command with capitals",
        lambda m: cmd(m).update(command="/Deploy"),
        ["features.slash_commands[0].command: '/Deploy' must be lowercase with no spaces"],
    ),
    ("command missing", lambda m: cmd(m).pop("command"), ["features.slash_commands[0].command: required"]),
    (
        "command declared twice",
        lambda m: m["features"]["slash_commands"].append(copy.deepcopy(cmd(m))),
        ["features.slash_commands[1].command: '/deploy' is declared twice"],
    ),
    (
        "command description missing",
        lambda m: cmd(m).pop("description"),
        ["features.slash_commands[0].description: required"],
    ),
    (
        "url in socket mode",
        lambda m: cmd(m).update(url=EVENTS_URL),
        ["features.slash_commands[0].url: not allowed in Socket Mode (requests arrive over the socket)"],
    ),
    (
        "interactivity request_url in socket mode",
        lambda m: m["settings"]["interactivity"].update(request_url=EVENTS_URL),
        ["settings.interactivity.request_url: not allowed in Socket Mode (requests arrive over the socket)"],
    ),
    (
        "interactivity without is_enabled",
        lambda m: m["settings"]["interactivity"].pop("is_enabled"),
        ["settings.interactivity.is_enabled: required when interactivity is present"],
    ),
    (
        "wrong type",
        lambda m: cmd(m).update(should_escape="no"),
        ["features.slash_commands[0].should_escape: must be true or false"],
    ),
    (
        "bool where an integer belongs",
        lambda m: m["_metadata"].update(major_version=True),
        ["_metadata.major_version: must be an integer"],
    ),
    (
        "list where a mapping belongs",
        lambda m: m.update(_metadata=[]),
        ["_metadata: must be a mapping"],
    ),
    (
        "slash command without the commands scope",
        lambda m: m["oauth_config"]["scopes"]["bot"].remove("commands"),
        ["oauth_config.scopes.bot: slash commands need the 'commands' scope"],
    ),
    (
        "scope listed twice",
        lambda m: m["oauth_config"]["scopes"]["bot"].append("chat:write"),
        ["oauth_config.scopes.bot: 'chat:write' is listed twice"],
    ),
    (
        "bad colour",
        lambda m: m["display_information"].update(background_color="blue"),
        ["display_information.background_color: 'blue' is not a hex colour like #1d3557"],
    ),
    (
        "description too long",
        lambda m: m["display_information"].update(description="x" * 141),
        ["display_information.description: 141 chars, at most 140"],
    ),
    (
        "long_description too short",
        lambda m: m["display_information"].update(long_description="short"),
        ["display_information.long_description: 5 chars, must be 175 to 4000"],
    ),
    (
        "bot display name missing",
        lambda m: m["features"]["bot_user"].pop("display_name"),
        ["features.bot_user.display_name: required"],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in SOCKET_CASES], ids=[c[0] for c in SOCKET_CASES])
def test_socket_mode_rule(socket: dict[str, Any], change: Mutation, expected: list[str]) -> None:
    assert mutated(socket, change) == expected


def drop_socket_flag_and_url(m: dict[str, Any]) -> None:
    del m["settings"]["socket_mode_enabled"]
    del cmd(m)["url"]


HTTP_CASES: list[tuple[str, Mutation, list[str]]] = [
    (
        "slash command url missing",
        lambda m: cmd(m).pop("url"),
        ["features.slash_commands[0].url: required when socket_mode_enabled is false (HTTP mode)"],
    ),
    (
        "socket_mode_enabled absent means HTTP mode",
        drop_socket_flag_and_url,
        ["features.slash_commands[0].url: required when socket_mode_enabled is false (HTTP mode)"],
    ),
    (
        "interactivity request_url missing",
        lambda m: m["settings"]["interactivity"].pop("request_url"),
        ["settings.interactivity.request_url: required when socket_mode_enabled is false (HTTP mode)"],
    ),
    (
        "plain http url",
        lambda m: cmd(m).update(url="http://deploybot.example.com/slack/events"),
        ["features.slash_commands[0].url: 'http://deploybot.example.com/slack/events' must be an https:// URL"],
    ),
    (
        "events subscribed without a request_url",
        lambda m: m["settings"].update(event_subscriptions={"bot_events": ["app_home_opened"]}),
        ["settings.event_subscriptions.request_url: required when socket_mode_enabled is false (HTTP mode)"],
    ),
    (
        "disabled interactivity needs no url",
        lambda m: m["settings"].update(interactivity={"is_enabled": False}),
        [],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in HTTP_CASES], ids=[c[0] for c in HTTP_CASES])
def test_http_mode_rule(http: dict[str, Any], change: Mutation, expected: list[str]) -> None:
    assert mutated(http, change) == expected


def test_boundaries_are_allowed(socket: dict[str, Any]) -> None:
    def at_limits(m: dict[str, Any]) -> None:
        m["display_information"]["name"] = "D" * 35
        cmd(m)["command"] = "/" + "d" * 31
        m["display_information"]["background_color"] = "#abc"

    assert mutated(socket, at_limits) == []
    assert mutated(socket, lambda m: cmd(m).update(command="/d")) == []


def test_every_problem_is_reported_at_once(socket: dict[str, Any]) -> None:
    def break_three(m: dict[str, Any]) -> None:
        m["display_information"]["name"] = "D" * 40
        cmd(m)["command"] = "deploy"
        m["settings"]["interactivity"].pop("is_enabled")

    assert len(mutated(socket, break_three)) == 3


def test_not_a_mapping() -> None:
    assert manifest_problems([]) == ["manifest: must be a mapping"]  # type: ignore[arg-type]
