"""The sandbox page's HTTP routes, served by the Slack emulator: `/`, static files and `/sandbox/...` JSON.

Everything a person does in the page goes through the emulator's user driver, i.e. as signed HTTP requests
to the bot exactly as Slack sends them; nothing here calls into the bot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from bot.sandbox.config import CHANNEL_ID, Person
from bot.sandbox.driver import NotOnScreen, find_element
from bot.sandbox.emulator import SlackEmulator

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
MAX_POLL_S = 25.0
SEEN_VERSIONS = 5


class SandboxWeb:
    def __init__(self, emu: SlackEmulator, people: Sequence[Person], demo_url: str | None = None) -> None:
        self.emu = emu
        self.people = list(people)
        self.demo_url = demo_url
        self._closed = False
        # (channel, ts) -> recent block versions the page was sent, newest last: a click on a version the
        # bot has since replaced is sent with the blocks the person saw, as Slack's client does.
        self._seen: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
        self._demo = httpx.Client(timeout=5.0)

    def close(self) -> None:
        """Wake every long-poll so the server can stop at once."""
        with self.emu.changed:
            self._closed = True
            self.emu.changed.notify_all()
        self._demo.close()

    # --- dispatch ---------------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler, method: str, body: bytes) -> bool:
        """Answer the request if it is one of the page's; False leaves it to the emulator."""
        url = urlsplit(handler.path)
        path = url.path
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "GET" and path in ("/", "/index.html"):
            _static(handler, "index.html")
            return True
        if not path.startswith("/sandbox/"):
            return False
        name = path.removeprefix("/sandbox/")
        if method == "GET" and name.startswith("static/"):
            _static(handler, name.removeprefix("static/"))
            return True
        if method == "GET" and name.startswith("file/"):
            self._file(handler, name.removeprefix("file/"))
            return True
        try:
            status, data = self._route(method, name, query, body)
        except NotOnScreen as exc:
            status, data = 409, {"ok": False, "error": str(exc)}
        except (ValueError, KeyError, TypeError) as exc:
            status, data = 400, {"ok": False, "error": f"bad request: {exc}"}
        except httpx.HTTPError as exc:
            status, data = 502, {"ok": False, "error": f"could not reach the bot or demo service: {type(exc).__name__}"}
        _send(handler, status, json.dumps(data).encode(), "application/json; charset=utf-8")
        return True

    def _route(self, method: str, name: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        if method == "GET":
            if name == "state":
                return 200, self.state(query.get("user", ""), query.get("channel", CHANNEL_ID))
            if name == "poll":
                timeout = min(float(query.get("timeout", "20")), MAX_POLL_S)
                return 200, {"seq": self.poll(int(query.get("since", "0")), timeout)}
            if name == "demo":
                return 200, self.demo_status()
            return 404, {"ok": False, "error": "not_found"}
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        actions = {
            "slash": self.slash,
            "click": self.click,
            "submit": self.submit,
            "close_view": self.close_view,
            "message": self.message,
            "demo": self.demo_control,
        }
        if name not in actions:
            return 404, {"ok": False, "error": "not_found"}
        return actions[name](data)

    # --- reads -----------------------------------------------------------------------------------------

    def state(self, user_id: str, channel_id: str) -> dict[str, Any]:
        """What `user_id` sees: the channel's messages, their own ephemerals and modals, the directory."""
        emu, ws = self.emu, self.emu.state
        roles = {p.user_id: p.role for p in self.people}
        with ws.lock:
            seq = ws.seq
            users = [
                {
                    "id": u["id"],
                    "name": u["name"],
                    "real_name": u["real_name"],
                    "is_bot": u["is_bot"],
                    "role": roles.get(u["id"], ""),
                }
                for u in ws.users.values()
            ]
            channels = [
                {"id": c["id"], "name": c["name"], "is_im": c["is_im"], "user": c.get("user")}
                for c in ws.channels.values()
                if not c["is_im"] or c.get("user") == user_id
            ]
            messages = emu.messages(channel_id)
            for message in messages:
                self._remember(channel_id, message)
            ephemerals = [m for m in emu.ephemerals(user_id) if m.get("channel") == channel_id]
            views = emu.open_views(user_id)
            for view in views:
                view["errors"] = emu.view_errors(view["id"])
            usergroups = {g["id"]: g["handle"] for g in ws.usergroups.values()}
            warnings = list(ws.warnings)
        return {
            "seq": seq,
            "me": user_id,
            "channel": channel_id,
            "users": users,
            "people": [p.user_id for p in self.people],
            "channels": channels,
            "usergroups": usergroups,
            "messages": messages,
            "ephemerals": ephemerals,
            "views": views,
            "warnings": warnings,
        }

    def _remember(self, channel_id: str, message: dict[str, Any]) -> None:
        blocks = message.get("blocks")
        if not blocks:
            return
        versions = self._seen.setdefault((channel_id, message["ts"]), [])
        if not versions or versions[-1] != blocks:
            versions.append(blocks)
            del versions[:-SEEN_VERSIONS]

    def _shown_blocks(self, channel_id: str, ts: str, block_id: str, action_id: str) -> list[dict[str, Any]] | None:
        """The newest version the page was sent that has this element, if the current message lacks it."""
        current = self.emu.message(channel_id, ts)
        if current is None or _has_element(current.get("blocks", []), block_id, action_id):
            return None
        for blocks in reversed(self._seen.get((channel_id, ts), [])):
            if _has_element(blocks, block_id, action_id):
                return blocks
        return None

    def poll(self, since: int, timeout: float) -> int:
        """Wait up to `timeout` s for a change after `since`; returns the current sequence number."""
        ws = self.emu.state
        with ws.changed:
            ws.changed.wait_for(lambda: ws.seq > since or self._closed, timeout=max(0.0, timeout))
            return ws.seq

    def _file(self, handler: BaseHTTPRequestHandler, file_id: str) -> None:
        with self.emu.state.lock:
            info = self.emu.state.files.get(file_id)
        content = self.emu.file_content(file_id)
        if info is None or content is None:
            _send(handler, 404, b"no such file", "text/plain; charset=utf-8")
            return
        # Shown inline as text: exports are Markdown. nosniff keeps a browser from running it as HTML.
        disposition = f"inline; filename*=UTF-8''{quote(str(info['name']))}"
        extra = {"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"}
        _send(handler, 200, content, "text/plain; charset=utf-8", extra)

    # --- what a person does (through the driver, as Slack would) ----------------------------------------

    def slash(self, data: dict[str, Any]) -> tuple[int, Any]:
        text = str(data["text"]).strip()
        command, _, args = text.partition(" ")
        if not command.startswith("/"):
            raise ValueError("a slash command starts with /")
        response = self.emu.slash(str(data["user"]), command, args.strip(), str(data.get("channel") or CHANNEL_ID))
        return 200, {"ok": response.status_code == 200, "status": response.status_code}

    def click(self, data: dict[str, Any]) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {}
        for key in ("value", "selected_options", "selected_option"):
            if key in data:
                kwargs[key] = data[key]
        channel, ts = str(data.get("channel") or CHANNEL_ID), str(data["ts"])
        action_id, block_id = str(data["action_id"]), str(data["block_id"])
        stale = self._shown_blocks(channel, ts, block_id, action_id)
        response = self.emu.click(str(data["user"]), channel, ts, action_id, block_id, stale_blocks=stale, **kwargs)
        return 200, {"ok": response.status_code == 200, "status": response.status_code}

    def submit(self, data: dict[str, Any]) -> tuple[int, Any]:
        values = data.get("values") or {}
        if not isinstance(values, dict):
            raise ValueError("values must be {block_id: {action_id: value}}")
        response = self.emu.submit_view(str(data["user"]), str(data["view_id"]), values)
        return 200, {"ok": response.status_code == 200, "status": response.status_code}

    def close_view(self, data: dict[str, Any]) -> tuple[int, Any]:
        response = self.emu.close_view(str(data["user"]), str(data["view_id"]))
        return 200, {"ok": True, "status": None if response is None else response.status_code}

    def message(self, data: dict[str, Any]) -> tuple[int, Any]:
        """A plain message from a person; the bot does not listen to messages, so it only shows in the page."""
        ws = self.emu.state
        user, text = str(data["user"]), str(data["text"])
        channel = str(data.get("channel") or CHANNEL_ID)
        with ws.lock:
            if user not in ws.users or channel not in ws.channels:
                raise NotOnScreen(f"unknown user {user!r} or channel {channel!r}")
            # Stored as Slack stores it: &, < and > escaped, so the text cannot forge mentions or links.
            escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            message: dict[str, Any] = {"type": "message", "user": user, "text": escaped, "ts": ws.next_ts()}
            thread_ts = data.get("thread_ts")
            if thread_ts and ws.find_message(channel, str(thread_ts)) is not None:
                message["thread_ts"] = str(thread_ts)
            ws.post_message(channel, message)
        return 200, {"ok": True, "ts": message["ts"]}

    # --- the demo service ------------------------------------------------------------------------------

    def demo_status(self) -> dict[str, Any]:
        if not self.demo_url:
            return {"ok": False, "error": "no demo service"}
        settings = self._demo.get(f"{self.demo_url}/control").json()
        metrics = self._demo.get(f"{self.demo_url}/metrics").text
        return {"ok": True, "url": self.demo_url, "settings": settings, "requests": request_counts(metrics)}

    def demo_control(self, data: dict[str, Any]) -> tuple[int, Any]:
        if not self.demo_url:
            return 404, {"ok": False, "error": "no demo service"}
        response = self._demo.post(f"{self.demo_url}/control", json=data)
        if response.status_code != 200:
            return response.status_code, {"ok": False, "error": response.json().get("error", "rejected")}
        return 200, {"ok": True, "settings": response.json()}


def _has_element(blocks: list[dict[str, Any]], block_id: str, action_id: str) -> bool:
    try:
        find_element(blocks, block_id, action_id)
    except NotOnScreen:
        return False
    return True


def request_counts(metrics: str) -> dict[str, int]:
    """{status code: count} from the demo service's http_requests_total lines."""
    counts: dict[str, int] = {}
    for line in metrics.splitlines():
        if line.startswith("http_requests_total{") and 'code="' in line:
            code = line.split('code="', 1)[1].split('"', 1)[0]
            counts[code] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def _static(handler: BaseHTTPRequestHandler, name: str) -> None:
    if name not in STATIC:
        _send(handler, 404, b"not found", "text/plain; charset=utf-8")
        return
    body = resources.files("bot.sandbox").joinpath("static", name).read_bytes()
    _send(handler, 200, body, f"{STATIC[name]}; charset=utf-8", {"Cache-Control": "no-cache"})


def _send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (extra or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    try:
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True  # the page went away mid long-poll
