"""Acting as a Slack user toward the bot: build requests exactly as Slack sends them, sign them, POST them.

`UserDriver` is mixed into SlackEmulator, so tests write `emu.slash(...)`, `emu.click(...)`,
`emu.submit_view(...)`. The payloads come from the emulator's stored state: a user can only click what
is on screen.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.render.limits import view_problems
from bot.sandbox import webapi
from bot.sandbox.responses import deliver
from bot.sandbox.state import (
    APP_ID,
    DEFAULT_CHANNEL_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    VERIFICATION_TOKEN,
    ResponseUrl,
    WorkspaceState,
)

FORM = "application/x-www-form-urlencoded"

# Which field of an action / a view state value carries the user's choice, per element type.
SELECTED_OPTION = frozenset({"static_select", "external_select", "radio_buttons", "overflow"})
SELECTED_OPTIONS = frozenset({"checkboxes", "multi_static_select", "multi_external_select"})
SELECTED_OTHER = {
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}


class NotOnScreen(LookupError):
    """The user tried to act on something the emulated client does not show."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Slack's v0 request signature."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def request_headers(secret: str, body: bytes, timestamp: int | None = None, content_type: str = FORM) -> dict[str, str]:
    """Headers Slack sends with a signed request (timestamp defaults to the real current time)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(secret, ts, body),
    }


def interactivity_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def find_element(blocks: list[dict[str, Any]], block_id: str, action_id: str) -> dict[str, Any]:
    """The element a click targets; raises NotOnScreen when it is not in these blocks."""
    for block in blocks:
        if block.get("block_id") != block_id:
            continue
        candidates = list(block.get("elements", [])) if block.get("type") == "actions" else []
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise NotOnScreen(f"no element action_id={action_id!r} in block_id={block_id!r}")


def _option(element: dict[str, Any], choice: Any) -> dict[str, Any]:
    """An option dict from a value string (looked up in the element) or an option dict as given."""
    if isinstance(choice, dict):
        return choice
    for option in element.get("options", []):
        if option.get("value") == choice:
            return dict(option)
    raise NotOnScreen(f"no option with value {choice!r} in {element.get('action_id')!r}")


def _choice(element: dict[str, Any], field: str, choice: Any) -> dict[str, Any]:
    """{field: choice} for one element, options resolved from their values."""
    kind = element.get("type", "")
    if kind in SELECTED_OPTIONS:
        return {"selected_options": [_option(element, c) for c in (choice or [])]}
    if kind in SELECTED_OPTION:
        return {"selected_option": None if choice is None else _option(element, choice)}
    if kind in SELECTED_OTHER:
        return {SELECTED_OTHER[kind]: choice}
    return {field: choice}


ANSWER_DEADLINE_S = 3.0  # Slack shows the user an error when the bot takes longer


class UserDriver:
    """Mixin: needs `state`, `signing_secret`, `bot_url` and `base_url` from the emulator."""

    state: WorkspaceState
    signing_secret: str
    bot_url: str | None
    base_url: str
    _http: httpx.Client | None = None
    _last_delivery: tuple[bytes, str] | None = None

    # --- transport -----------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=10.0)
        return self._http

    def close_connections(self) -> None:
        """Close keep-alive connections to the bot (a server waiting for idle clients can then stop)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def post_signed(
        self,
        body: bytes,
        content_type: str = FORM,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a body to the bot as Slack would; override timestamp/signature to forge or replay."""
        if not self.bot_url:
            raise RuntimeError("emulator.bot_url is not set")
        headers = request_headers(self.signing_secret, body, timestamp, content_type)
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        # no keep-alive: an idle pooled connection would hold up stopping the bot's server
        headers["Connection"] = "close"
        headers.update(extra_headers or {})
        self._last_delivery = body, content_type
        started = time.monotonic()
        response = self._client().post(self.bot_url, content=body, headers=headers)
        took = time.monotonic() - started
        if took > ANSWER_DEADLINE_S:
            self.state.warn(f"the bot answered after {took:.1f} s; Slack gives up after {ANSWER_DEADLINE_S:.0f} s")
        return response

    def redeliver(self) -> httpx.Response:
        """Deliver the last request again, byte for byte (Slack does when an answer got lost)."""
        if self._last_delivery is None:
            raise RuntimeError("nothing was delivered yet")
        body, content_type = self._last_delivery
        return self.post_signed(body, content_type)

    # --- shared payload parts ---------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.state.users.get(user_id)
        if user is None:
            raise NotOnScreen(f"unknown user {user_id!r}")
        return {"id": user_id, "username": user["name"], "name": user["name"], "team_id": TEAM_ID}

    def _channel_name(self, channel_id: str) -> str:
        info = self.state.channels.get(channel_id)
        if info is None:
            raise NotOnScreen(f"unknown channel {channel_id!r}")
        return "directmessage" if info["is_im"] else str(info["name"])

    # --- slash commands ------------------------------------------------------------------------------

    def slash(
        self, user_id: str, command: str = "/deploy", text: str = "", channel_id: str = DEFAULT_CHANNEL_ID
    ) -> httpx.Response:
        """Run a slash command; a synchronous reply body is shown as Slack shows it."""
        ws = self.state
        with ws.lock:
            user = self._user(user_id)
            target = ResponseUrl(user_id=user_id, channel_id=channel_id, issued_at=ws.now_s())
            fields = {
                "token": VERIFICATION_TOKEN,
                "team_id": TEAM_ID,
                "team_domain": TEAM_DOMAIN,
                "channel_id": channel_id,
                "channel_name": self._channel_name(channel_id),
                "user_id": user_id,
                "user_name": user["name"],
                "command": command,
                "text": text,
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": ws.issue_response_url(self.base_url, target),
                "trigger_id": ws.issue_trigger(user_id),
            }
        response = self.post_signed(urlencode(fields).encode())
        if response.status_code != 200:
            ws.warn(f"{command}: bot answered HTTP {response.status_code} (user sees dispatch_failed)")
        elif response.content.strip():
            reply = _reply_body(response)
            code = deliver(ws, target, reply)
            if code:
                ws.warn(f"{command}: synchronous reply rejected: {code}")
        return response

    # --- clicks ------------------------------------------------------------------------------------------

    def click(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        block_id: str,
        *,
        value: str | None = None,
        selected_options: list[Any] | None = None,
        selected_option: Any = None,
        stale_blocks: list[dict[str, Any]] | None = None,
    ) -> httpx.Response:
        """Click an element of a stored message (channel or the user's ephemeral) as `block_actions`.

        selected_options / selected_option take option dicts or option values. `stale_blocks` sends an
        older copy of the message, as a client that has not re-rendered yet would.
        """
        ws = self.state
        with ws.lock:
            user = self._user(user_id)
            is_ephemeral = False
            message = ws.find_message(channel_id, message_ts)
            if message is None:
                message = ws.find_ephemeral(user_id, channel_id, message_ts)
                is_ephemeral = message is not None
            if message is None:
                raise NotOnScreen(f"no message {message_ts} in {channel_id} visible to {user_id}")
            shown = copy.deepcopy(message)
            if stale_blocks is not None:
                shown["blocks"] = copy.deepcopy(stale_blocks)
            element = find_element(shown.get("blocks", []), block_id, action_id)
            action = _action(element, block_id, ws.next_ts(), value, selected_options, selected_option)
            target = ResponseUrl(
                user_id=user_id,
                channel_id=channel_id,
                issued_at=ws.now_s(),
                message_ts=message_ts,
                is_ephemeral=is_ephemeral,
            )
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": user,
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "container": {
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": channel_id,
                    "is_ephemeral": is_ephemeral,
                },
                "trigger_id": ws.issue_trigger(user_id),
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
                "state": {"values": {}},
                "response_url": ws.issue_response_url(self.base_url, target),
                "actions": [action],
            }
            if not is_ephemeral:  # Slack does not send ephemeral message bodies back
                shown.pop("is_ephemeral", None)
                shown.pop("channel", None)
                payload["message"] = shown
        response = self.post_signed(interactivity_body(payload))
        if response.status_code != 200:
            ws.warn(f"click {action_id}: bot answered HTTP {response.status_code}")
        return response

    # --- modals --------------------------------------------------------------------------------------------

    def view_errors(self, view_id: str) -> dict[str, str]:
        with self.state.lock:
            return dict(self.state.view_errors.get(view_id, {}))

    def submit_view(self, user_id: str, view_id: str, values: dict[str, dict[str, Any]]) -> httpx.Response:
        """Submit an open modal. `values` is {block_id: {action_id: choice}}: a string for text inputs, an
        option value (or list of values) for selects/checkboxes, or an already Slack-shaped dict with "type".
        Inputs left out are sent empty, as Slack does. The bot's response_action is applied."""
        ws = self.state
        with ws.lock:
            user = self._user(user_id)
            if not ws.is_open(view_id) or ws.view_owner.get(view_id) != user_id:
                raise NotOnScreen(f"view {view_id} is not open for {user_id}")
            view = copy.deepcopy(ws.views[view_id])
            view["state"] = {"values": _state_values(view.get("blocks", []), values)}
            payload: dict[str, Any] = {
                "type": "view_submission",
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "user": user,
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "trigger_id": ws.issue_trigger(user_id),
                "view": view,
                "response_urls": [],
                "enterprise": None,
                "is_enterprise_install": False,
            }
        response = self.post_signed(interactivity_body(payload))
        self._apply_response_action(user_id, view_id, response)
        return response

    def close_view(self, user_id: str, view_id: str) -> httpx.Response | None:
        """The user closes a modal; the bot hears `view_closed` only if the view asked (notify_on_close)."""
        ws = self.state
        with ws.lock:
            if not ws.is_open(view_id):
                raise NotOnScreen(f"view {view_id} is not open")
            view = copy.deepcopy(ws.views[view_id])
            ws.close_views(user_id, [view_id])
            if not view.get("notify_on_close"):
                return None
            payload = {
                "type": "view_closed",
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "user": self._user(user_id),
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "view": view,
                "is_cleared": False,
                "is_enterprise_install": False,
            }
        return self.post_signed(interactivity_body(payload))

    def _apply_response_action(self, user_id: str, view_id: str, response: httpx.Response) -> None:
        ws = self.state
        if response.status_code != 200:
            ws.warn(f"view_submission {view_id}: bot answered HTTP {response.status_code}")
            return
        body: dict[str, Any] = {}
        if response.content.strip():
            try:
                body = response.json()
            except ValueError:
                ws.warn(f"view_submission {view_id}: response is not JSON")
                return
        action = body.get("response_action")
        with ws.lock:
            if action == "errors":
                ws.view_errors[view_id] = dict(body.get("errors", {}))
                ws.emit("view_errors", user=user_id, view_id=view_id, errors=body.get("errors", {}))
            elif action in ("update", "push"):
                problems = view_problems(body.get("view", {}))
                if problems:
                    for problem in problems:
                        ws.warn(f"view_submission response_action={action}: {problem}")
                elif action == "update":
                    webapi.update_view(ws, view_id, body["view"])
                else:
                    webapi.open_view(ws, user_id, body["view"], push=True)
            elif action == "clear":
                ws.close_views(user_id)
            else:
                ws.close_views(user_id, [view_id])


def _reply_body(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        return body if isinstance(body, dict) else {"text": str(body)}
    return {"text": response.text}


def _action(
    element: dict[str, Any],
    block_id: str,
    action_ts: str,
    value: str | None,
    selected_options: list[Any] | None,
    selected_option: Any,
) -> dict[str, Any]:
    kind = element.get("type", "")
    action: dict[str, Any] = {
        "type": kind,
        "action_id": element["action_id"],
        "block_id": block_id,
        "action_ts": action_ts,
    }
    if kind == "button":
        action["text"] = element.get("text")
        chosen = value if value is not None else element.get("value")
        if chosen is not None:
            action["value"] = chosen
        if "style" in element:
            action["style"] = element["style"]
    elif kind in SELECTED_OPTIONS:
        action.update(_choice(element, "value", selected_options))
    elif kind in SELECTED_OPTION:
        action.update(_choice(element, "value", selected_option))
    elif kind in SELECTED_OTHER:
        action.update(_choice(element, "value", value if selected_option is None else selected_option))
    else:
        action["value"] = value
    return action


def _state_values(blocks: list[dict[str, Any]], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """view.state.values in Slack's shape for every input block; unknown block/action ids raise."""
    state: dict[str, dict[str, Any]] = {}
    known: set[tuple[str, str]] = set()
    for block in blocks:
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        block_id, action_id = block.get("block_id", ""), element.get("action_id", "")
        known.add((block_id, action_id))
        given = values.get(block_id, {})
        choice = given.get(action_id)
        if isinstance(choice, dict) and "type" in choice:
            entry = dict(choice)
        else:
            entry = {"type": element.get("type"), **_choice(element, "value", choice)}
        state.setdefault(block_id, {})[action_id] = entry
    for block_id, actions in values.items():
        for action_id in actions:
            if (block_id, action_id) not in known:
                raise NotOnScreen(f"no input block_id={block_id!r} action_id={action_id!r} in the view")
    return state
