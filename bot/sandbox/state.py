"""The emulated workspace: users, channels, messages, ephemerals, views, files, plus a change feed.

One lock guards everything; callers take `state.lock` around reads and writes. Nothing here does I/O
except the optional JSON state file.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.clock import Clock, SystemClock

TEAM_ID = "T0DEPLOY"
TEAM_DOMAIN = "deploybot-sandbox"
APP_ID = "A0DEPLOY"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
VERIFICATION_TOKEN = "sandbox-verification-token"
DEFAULT_CHANNEL_ID = "C0DEPLOY"
DEFAULT_CHANNEL_NAME = "deployments"
TRIGGER_TTL_S = 3.0
RESPONSE_URL_TTL_S = 30 * 60.0
RESPONSE_URL_USES = 5
MAX_EVENTS = 10000


@dataclass
class Trigger:
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl:
    """Where a response_url posts: the user and channel of the interaction, and the message clicked if any."""

    user_id: str
    channel_id: str
    issued_at: float
    message_ts: str | None = None
    is_ephemeral: bool = False
    uses: int = 0


@dataclass
class WorkspaceState:
    clock: Clock = field(default_factory=SystemClock)
    state_file: Path | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    # channel id -> messages in post order, thread replies included (they carry thread_ts != ts)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # user id -> ephemeral messages visible only to that user
    ephemerals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    view_owner: dict[str, str] = field(default_factory=dict)
    view_stacks: dict[str, list[str]] = field(default_factory=dict)
    view_errors: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_content: dict[str, bytes] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    last_ts_us: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    socket_mode_url: str | None = None  # what apps.connections.open hands out (a Socket Mode server's wss URL)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)
        self.warnings: list[str] = []
        state_file, self.state_file = self.state_file, None  # defaults must not overwrite a saved file
        self.add_user(BOT_USER_ID, "deploybot", "Deploy Bot", is_bot=True)
        self.add_channel(DEFAULT_CHANNEL_ID, DEFAULT_CHANNEL_NAME)
        self.state_file = state_file
        self.load()

    # --- time and ids -------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def now_s(self) -> float:
        return self.clock.now().timestamp()

    def next_ts(self) -> str:
        """A message ts like Slack's "1700000000.000100": unique and increasing even if the clock stalls."""
        with self.lock:
            us = max(int(self.now_s() * 1_000_000), self.last_ts_us + 1)
            self.last_ts_us = us
            return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        with self.lock:
            n = self.counters.get(prefix, 0) + 1
            self.counters[prefix] = n
            return f"{prefix}{n:08X}"

    # --- directory --------------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str = "", *, is_bot: bool = False) -> None:
        with self.lock:
            self.users[user_id] = {
                "id": user_id,
                "team_id": TEAM_ID,
                "name": name,
                "real_name": real_name or name,
                "is_bot": is_bot,
                "deleted": False,
                "profile": {"real_name": real_name or name, "display_name": name},
            }
            self.save()

    def add_channel(self, channel_id: str, name: str, *, is_im: bool = False, user: str | None = None) -> None:
        with self.lock:
            info: dict[str, Any] = {
                "id": channel_id,
                "name": name.lstrip("#"),
                "is_channel": not is_im and channel_id.startswith("C"),
                "is_group": channel_id.startswith("G"),
                "is_im": is_im,
                "is_private": is_im or channel_id.startswith("G"),
                "is_member": True,
                "created": int(self.now_s()),
            }
            if user is not None:
                info["user"] = user
            self.channels[channel_id] = info
            self.messages.setdefault(channel_id, [])
            self.save()

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> None:
        with self.lock:
            self.usergroups[group_id] = {"id": group_id, "handle": handle, "users": list(users)}
            self.save()

    def resolve_channel(self, ref: str | None) -> str | None:
        """A channel id from an id, a name ("#deployments" or "deployments"), or a user id (their DM)."""
        if not ref:
            return None
        with self.lock:
            if ref in self.channels:
                return ref
            name = ref.lstrip("#")
            for cid, info in self.channels.items():
                if info["name"] == name and not info["is_im"]:
                    return cid
            if ref in self.users:
                return self.open_dm(ref)
            return None

    def open_dm(self, user_id: str) -> str:
        with self.lock:
            for cid, info in self.channels.items():
                if info["is_im"] and info.get("user") == user_id:
                    return cid
            cid = "D" + user_id.lstrip("UW")
            self.add_channel(cid, user_id, is_im=True, user=user_id)
            return cid

    # --- messages ----------------------------------------------------------------------------------------

    def find_message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self.lock:
            for message in self.messages.get(channel_id, []):
                if message["ts"] == ts:
                    return message
            return None

    def find_ephemeral(self, user_id: str, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self.lock:
            for message in self.ephemerals.get(user_id, []):
                if message["ts"] == ts and message["channel"] == channel_id:
                    return message
            return None

    def bot_message(self, *, text: str, blocks: list[dict[str, Any]] | None, ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": text,
            "ts": ts,
        }
        if blocks is not None:
            message["blocks"] = blocks
        return message

    def post_message(self, channel_id: str, message: dict[str, Any]) -> None:
        """Append a message; a reply also updates its parent's reply count, as Slack shows it."""
        with self.lock:
            self.messages.setdefault(channel_id, []).append(message)
            thread_ts = message.get("thread_ts")
            if thread_ts and thread_ts != message["ts"]:
                parent = self.find_message(channel_id, thread_ts)
                if parent is not None:
                    parent["thread_ts"] = thread_ts
                    parent["reply_count"] = parent.get("reply_count", 0) + 1
                    parent["latest_reply"] = message["ts"]
                    users = parent.setdefault("reply_users", [])
                    if message.get("user") and message["user"] not in users:
                        users.append(message["user"])
            self.emit("message_posted", channel=channel_id, message=message)

    def delete_message(self, channel_id: str, ts: str) -> bool:
        with self.lock:
            messages = self.messages.get(channel_id, [])
            for i, message in enumerate(messages):
                if message["ts"] == ts:
                    del messages[i]
                    self.emit("message_deleted", channel=channel_id, ts=ts)
                    return True
            return False

    def add_ephemeral(self, user_id: str, channel_id: str, message: dict[str, Any]) -> None:
        with self.lock:
            message = {**message, "channel": channel_id, "is_ephemeral": True}
            self.ephemerals.setdefault(user_id, []).append(message)
            self.emit("ephemeral", user=user_id, channel=channel_id, message=message)

    # --- views ---------------------------------------------------------------------------------------------

    def close_views(self, user_id: str, view_ids: list[str] | None = None) -> None:
        """Close the given views (default: the user's whole stack)."""
        with self.lock:
            stack = self.view_stacks.get(user_id, [])
            for view_id in list(view_ids if view_ids is not None else stack):
                if view_id in stack:
                    stack.remove(view_id)
                self.emit("view_closed", user=user_id, view_id=view_id)

    def is_open(self, view_id: str) -> bool:
        with self.lock:
            owner = self.view_owner.get(view_id)
            return owner is not None and view_id in self.view_stacks.get(owner, [])

    # --- interaction tokens --------------------------------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        with self.lock:
            trigger_id = f"{self.next_id('')}.{TEAM_ID}.{os.urandom(8).hex()}"
            self.triggers[trigger_id] = Trigger(user_id=user_id, issued_at=self.now_s())
            return trigger_id

    def use_trigger(self, trigger_id: str | None) -> tuple[str | None, str | None]:
        """(user_id, None) when the trigger is fresh and unused, else (None, Slack's error code)."""
        with self.lock:
            trigger = self.triggers.get(trigger_id or "")
            if trigger is None:
                return None, "invalid_trigger_id"
            if self.now_s() - trigger.issued_at > TRIGGER_TTL_S:
                return None, "expired_trigger_id"
            if trigger.used:
                return None, "exchanged_trigger_id"
            trigger.used = True
            return trigger.user_id, None

    def issue_response_url(self, base_url: str, target: ResponseUrl) -> str:
        with self.lock:
            key = os.urandom(12).hex()
            self.response_urls[key] = target
            return f"{base_url}/response/{key}"

    # --- change feed ---------------------------------------------------------------------------------

    def emit(self, kind: str, **data: Any) -> None:
        """Record a change for the sandbox page, wake long-pollers, and persist."""
        with self.lock:
            self.seq += 1
            self.events.append({"seq": self.seq, "kind": kind, **json.loads(json.dumps(data))})
            if len(self.events) > MAX_EVENTS:
                del self.events[: len(self.events) - MAX_EVENTS]
            self.save()
            self.changed.notify_all()

    def warn(self, message: str) -> None:
        with self.lock:
            self.warnings.append(message)
            self.emit("warning", message=message)

    def events_since(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        with self.lock:
            return self.seq, [e for e in self.events if e["seq"] > seq]

    def wait_for_events(self, seq: int, timeout: float) -> tuple[int, list[dict[str, Any]]]:
        """Block up to `timeout` seconds until there is a change after `seq` (for long-poll/SSE)."""
        with self.changed:
            self.changed.wait_for(lambda: self.seq > seq, timeout=timeout)
            return self.events_since(seq)

    # --- persistence -----------------------------------------------------------------------------------

    _PERSISTED = (
        "users",
        "usergroups",
        "channels",
        "messages",
        "ephemerals",
        "views",
        "view_owner",
        "view_stacks",
        "view_errors",
        "files",
        "counters",
        "last_ts_us",
    )

    def save(self) -> None:
        if self.state_file is None:
            return
        with self.lock:
            data = {name: getattr(self, name) for name in self._PERSISTED}
            data["file_content"] = {k: base64.b64encode(v).decode() for k, v in self.file_content.items()}
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.state_file)

    def load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        with self.lock:
            for name in self._PERSISTED:
                if name in data:
                    setattr(self, name, data[name])
            self.file_content = {k: base64.b64decode(v) for k, v in data.get("file_content", {}).items()}
