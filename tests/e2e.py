"""End-to-end harness: the Slack emulator on loopback, the bot behind waitress, a real database."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from slack_bolt import Ack

from bot.clock import Clock
from bot.sandbox.emulator import SlackEmulator
from bot.settings import Settings, build_settings
from bot.stack import BotStack, Extension
from bot.store.db import Database

T = TypeVar("T")
SECRET = "e2e-signing-secret"
TOKEN = "xoxb-e2e-token"
CHANNEL = "C0DEPLOY"
USERS = {
    "URM": "rita",  # release manager: starts runs
    "USEC": "sam",  # security team
    "UOPS": "olga",  # devops team
    "ULEAD": "lee",  # lead developer
    "UPM": "pat",  # product manager
    "UBIZ": "bea",  # business owner
    "UDM": "dan",  # deployment manager, via the user group SDM
    "UX": "xavier",  # holds no role
}

CONFIG: dict[str, Any] = {
    "channel": CHANNEL,
    "approvers": {
        "security-team": {"users": ["USEC"]},
        "devops-team": {"users": ["UOPS"]},
        "lead-developer": {"users": ["ULEAD"]},
        "product-manager": {"users": ["UPM"]},
        "business-owner": {"users": ["UBIZ"]},
        "deployment-manager": {"usergroups": ["SDM"]},
    },
    "update_coalesce_seconds": 0.05,
}
ROLE_SIGNERS = [
    ("security-team", "USEC"),
    ("devops-team", "UOPS"),
    ("lead-developer", "ULEAD"),
    ("product-manager", "UPM"),
    ("business-owner", "UBIZ"),
]


def make_settings(emu: SlackEmulator, db_url: str, *, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """`env` adds environment values (paging keys, webhook secrets) to the Slack ones."""
    data = {**CONFIG, **overrides}
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": emu.api_url,
        "DATABASE_URL": db_url,
        **(env or {}),
    }
    return build_settings(data, env)


@contextmanager
def running_bot(
    db_url: str,
    *,
    clock: Clock | None = None,
    extensions: list[Extension] | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Iterator[Bot]:
    emu = SlackEmulator(signing_secret=SECRET)
    emu.start()
    for uid, name in USERS.items():
        emu.add_user(uid, name, name.title())
    emu.add_usergroup("SDM", "deploy-managers", ["UDM"])
    emu.add_channel("CELSEWHERE", "random")
    stack: BotStack | None = None
    try:
        settings = make_settings(emu, db_url, env=env, **overrides)
        stack = BotStack(settings, clock=clock, db=Database(db_url), port=0, extensions=extensions or [])
        stack.start()
        emu.bot_url = f"{stack.url}/slack/events"
        yield Bot(emu, stack)
        # Every message and modal the bot sent went through the emulator's validator (Slack's limits).
        assert emu.warnings == [], emu.warnings
    finally:
        if stack is not None:
            stack.stop()
        emu.stop()


def eventually(check: Any, timeout: float = 10.0) -> Any:
    """Poll until `check()` is truthy (work after ack() runs on Bolt's listener threads)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError:
            last = None
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


class Bot:
    def __init__(self, emu: SlackEmulator, stack: BotStack) -> None:
        self.emu = emu
        self.stack = stack

    def at_each_ack(self, probe: Callable[[], T]) -> list[T]:
        """What `probe()` returns at the moment each listener acknowledges, i.e. before Slack hears back
        (a Bolt middleware hands listeners an Ack that runs the probe first)."""
        seen: list[T] = []
        assert self.stack.bolt is not None

        class Probed(Ack):
            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                seen.append(probe())
                return super().__call__(*args, **kwargs)

        @self.stack.bolt.middleware
        def probe_acks(context: Any, next: Any) -> None:  # noqa: A002 - Bolt's argument name
            context["ack"] = Probed()
            next()

        return seen

    def settle(self) -> None:
        assert self.stack.ctx.settle(timeout=15), "listeners and message updates did not settle"

    def wait_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Work after ack() runs in Bolt's listener threads: wait until Slack has seen it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.emu.calls_to(method)
            if len(calls) >= count:
                self.settle()
                return calls
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {method} call(s), saw {len(self.emu.calls_to(method))}")

    def start_run(self, text: str = "start payments-api 1.4.2", user: str = "URM") -> int:
        resp = self.emu.slash(user, "/deploy", text, CHANNEL)
        assert resp.status_code == 200, resp.text
        reply = resp.json()
        match = re.search(r"run #(\d+)", reply["text"])
        assert match, reply
        run_id = int(match.group(1))
        eventually(lambda: len(self.thread(run_id)) >= 9)
        self.settle()
        return run_id

    def channel_messages(self) -> list[dict[str, Any]]:
        return self.emu.messages(CHANNEL)

    def parent(self, run_id: int) -> dict[str, Any]:
        for m in self.channel_messages():
            if any(f"Run #{run_id} " in e.get("text", "") for b in m.get("blocks", []) for e in b.get("elements", [])):
                return m
        raise AssertionError(f"no parent message for run {run_id}")

    def thread(self, run_id: int) -> list[dict[str, Any]]:
        ts = self.parent(run_id)["ts"]
        return [m for m in self.channel_messages() if m.get("thread_ts") == ts and m["ts"] != ts]

    def find_item(self, run_id: int, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(message, actions block) showing the item with this key."""
        item_id = self.item_id(run_id, key)
        for m in self.thread(run_id):
            for b in m.get("blocks", []):
                if b["type"] == "actions" and any(e.get("action_id") == f"check:{item_id}" for e in b["elements"]):
                    return m, b
        raise AssertionError(f"item {key} not on screen")

    def item_id(self, run_id: int, key: str) -> int:
        from sqlalchemy import select

        from bot.store.models import ChecklistItem

        with self.stack.ctx.db.read() as s:
            stmt = select(ChecklistItem.id).where(ChecklistItem.deployment_id == run_id, ChecklistItem.key == key)
            item_id = s.scalars(stmt).one()
        return int(item_id)

    def tick(self, run_id: int, key: str, user: str, *, checked: bool = True, settle: bool = True) -> Any:
        item_id = self.item_id(run_id, key)
        message, block = self.find_item(run_id, key)
        # A client sends what it last showed, even if the bot has re-rendered since.
        resp = self.emu.click(
            user,
            CHANNEL,
            message["ts"],
            f"check:{item_id}",
            block["block_id"],
            selected_options=["done"] if checked else [],
            stale_blocks=message["blocks"],
        )
        assert resp.status_code == 200, resp.text
        if settle:
            self.settle()
        return resp

    def click_parent(
        self, run_id: int, action_id: str, user: str, value: str | None = None, *, settle: bool = True
    ) -> Any:
        parent = self.parent(run_id)
        for b in parent["blocks"]:
            elements = b.get("elements", []) + ([b["accessory"]] if "accessory" in b else [])
            for e in elements:
                if e.get("action_id") == action_id and (value is None or e.get("value") == value):
                    resp = self.emu.click(user, CHANNEL, parent["ts"], action_id, b["block_id"], value=e.get("value"))
                    assert resp.status_code == 200, resp.text
                    if settle:
                        self.settle()
                    return resp
        raise AssertionError(f"no {action_id} {value} on the parent message")

    def open_view(self, user: str) -> dict[str, Any]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            views = self.emu.open_views(user)
            if views:
                return views[-1]
            time.sleep(0.02)
        raise AssertionError(f"no modal opened for {user}")

    def sign(self, run_id: int, role: str, user: str, comment: str = "") -> Any:
        self.click_parent(run_id, "sign", user, role)
        view = self.open_view(user)
        resp = self.emu.submit_view(user, view["id"], {"comment": {"comment_input": comment}})
        self.settle()
        return resp

    def wait_ephemeral(self, user: str, needle: str) -> str:
        """The ephemeral message to `user` containing `needle`, once it has arrived (sent after the ack)."""
        found: str = eventually(lambda: next((t for t in self.ephemeral_texts(user) if needle in t), ""))
        return found

    def ephemeral_texts(self, user: str) -> list[str]:
        self.settle()
        return [m.get("text", "") for m in self.emu.ephemerals(user)]
