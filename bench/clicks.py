"""Click benchmark: the bot vs a bare Bolt app that only acks, on the same server stack (Flask + waitress).

Like production, three parties run apart: the Slack emulator (standing in for Slack), the bot, and the
clients (20 simulated users sending signed checkbox clicks over loopback), each in its own process. The bare
app runs in its own process on the same stack, with Bolt's defaults (the judged baseline); a second one
answers when its listener returns (process_before_response, as the bot does), printed for comparison.
Prints ack latency p50/p99, throughput, lost clicks and chat.update calls per message per second; exits
non-zero when a target is missed: no lost clicks, p50 <= 1.5x and p99 <= 2x the bare app, at most ~1 update
per message per second.

    .venv/bin/python bench/clicks.py [--users 20] [--clicks 15] [--think-ms 250] [--database-url URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk import WebClient
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.sandbox.driver import interactivity_body, request_headers  # noqa: E402
from bot.store.db import Database  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import AuditEntry, ChecklistItem, ItemState  # noqa: E402
from tests.e2e import CHANNEL, CONFIG, SECRET, TOKEN, USERS  # noqa: E402

Click = tuple[bytes, str, bool]  # body, item key, ticked


# --- the three servers, each in its own process ------------------------------------------------------------


def serve_slack(conn: Connection) -> None:
    from bot.sandbox.emulator import SlackEmulator

    emu = SlackEmulator(signing_secret=SECRET)
    emu.start()
    for uid, name in USERS.items():
        emu.add_user(uid, name, name.title())
    emu.add_usergroup("SDM", "deploy-managers", ["UDM"])  # the deployment managers of tests.e2e.CONFIG
    conn.send(emu.api_url)
    while (cmd := conn.recv()) != "stop":
        if cmd == "clear":
            emu.clear_calls()
            conn.send(True)
        elif cmd == "updates":
            conn.send([(str(c.params["ts"]), c.at.timestamp()) for c in emu.calls_to("chat.update")])
    emu.stop()


def serve_bot(api_url: str, db_url: str, conn: Connection) -> None:
    from bot.settings import build_settings
    from bot.stack import BotStack

    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url, "DATABASE_URL": db_url}
    settings = build_settings({**CONFIG, "update_coalesce_seconds": 1.0}, env)
    stack = BotStack(settings, db=Database(db_url), port=0, extensions=[]).start()
    conn.send(f"{stack.url}/slack/events")
    while (cmd := conn.recv()) != "stop":
        if cmd == "flush":
            conn.send(stack.ctx.settle(timeout=30))
        elif cmd == "cpu":
            conn.send(time.process_time())
    stack.stop()


def serve_bare(api_url: str, before_response: bool, conn: Connection) -> None:
    from flask import Flask, request
    from slack_bolt import App
    from slack_bolt.adapter.flask import SlackRequestHandler

    from bot.server import BotServer

    app = App(
        client=WebClient(token=TOKEN, base_url=api_url), signing_secret=SECRET, process_before_response=before_response
    )

    @app.action(re.compile(".*"))
    def only_ack(ack: Any) -> None:
        ack()

    web = Flask("bare")
    handler = SlackRequestHandler(app)
    web.add_url_rule("/slack/events", "events", lambda: handler.handle(request), methods=["POST"])
    server = BotServer(web).start()
    conn.send(f"{server.url}/slack/events")
    while conn.recv() == "cpu":
        conn.send(time.process_time())
    server.stop()


class Child:
    def __init__(self, target: Any, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(*args, theirs), daemon=True)
        self.proc.start()
        self.url: str = self.conn.recv()

    def ask(self, cmd: str) -> Any:
        self.conn.send(cmd)
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=30)


# --- clients ----------------------------------------------------------------------------------------------


def signed_post(client: httpx.Client, url: str, body: bytes, content_type: str) -> httpx.Response:
    return client.post(url, content=body, headers=request_headers(SECRET, body, content_type=content_type))


def click_body(user: str, ts: str, block_id: str, action_id: str, options: list[Any], n: int) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user, "team_id": "T0"},
        "api_app_id": "A0",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": f"bench.{user}.{n}.{time.time_ns()}",
        "team": {"id": "T0", "domain": "bench"},
        "channel": {"id": CHANNEL, "name": "deployments"},
        "message": {"ts": ts, "blocks": []},
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [
            {
                "type": "checkboxes",
                "action_id": action_id,
                "block_id": block_id,
                "selected_options": options,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return interactivity_body(payload)


def drive(url: str, plans: dict[str, list[Click]], think_s: float) -> tuple[list[float], int, float]:
    """Users click concurrently, each pausing a random time around `think_s` (people do not click in lockstep)."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    barrier = threading.Barrier(len(plans))

    def user_loop(seed: int, clicks: list[Click]) -> None:
        nonlocal failures
        rng = random.Random(seed)
        with httpx.Client(timeout=10) as client:
            barrier.wait()
            for body, _, _ in clicks:
                if think_s:
                    time.sleep(rng.uniform(0, 2 * think_s))
                t0 = time.perf_counter()
                try:
                    ok = signed_post(client, url, body, "application/x-www-form-urlencoded").status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    failures += 0 if ok else 1

    threads = [threading.Thread(target=user_loop, args=(i, c)) for i, c in enumerate(plans.values())]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failures, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_run(bot_url: str, api_url: str) -> tuple[int, dict[str, tuple[str, dict[str, Any]]]]:
    """Start a run with a signed slash command; return its id and, per action_id, (message ts, block)."""
    form = {
        "command": "/deploy",
        "text": "start bench-api 1.0.0",
        "user_id": "URM",
        "user_name": "rita",
        "channel_id": CHANNEL,
        "channel_name": "deployments",
        "team_id": "T0",
        "trigger_id": f"bench.start.{time.time_ns()}",
        "response_url": "http://127.0.0.1:9/unused",
        "api_app_id": "A0",
    }
    with httpx.Client(timeout=10) as client:
        reply = signed_post(client, bot_url, urlencode(form).encode(), "application/x-www-form-urlencoded").json()
    run_id = int(re.search(r"run #(\d+)", reply["text"]).group(1))  # type: ignore[union-attr]
    slack = WebClient(token=TOKEN, base_url=api_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        history = slack.conversations_history(channel=CHANNEL)["messages"]
        parent = next((m for m in history if f"Run #{run_id} " in str(m.get("blocks"))), None)
        if parent:
            replies = slack.conversations_replies(channel=CHANNEL, ts=parent["ts"])["messages"][1:]
            if len(replies) >= 9:
                shown = {}
                for m in replies:
                    for b in m.get("blocks", []):
                        if b["type"] == "actions":
                            shown[b["elements"][0]["action_id"]] = (m["ts"], b)
                return run_id, shown
        time.sleep(0.1)
    raise SystemExit("the run's messages never appeared")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--clicks", type=int, default=15, help="clicks per user")
    parser.add_argument("--think-ms", type=float, default=250, help="mean pause between one user's clicks; 0 = none")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db_url = args.database_url or f"sqlite:///{tmp.name}/bench.db"
    upgrade(db_url)
    slack = Child(serve_slack)
    bot = Child(serve_bot, slack.url, db_url)
    bare = Child(serve_bare, slack.url, False)
    bare_pbr = Child(serve_bare, slack.url, True)
    db = Database(db_url)
    try:
        run_id, shown = start_run(bot.url, slack.url)
        with db.read() as s:
            stmt = select(ChecklistItem).where(ChecklistItem.deployment_id == run_id, ChecklistItem.phase == "pre")
            items = [(f"check:{i.id}", i.key) for i in s.scalars(stmt) if i.state == ItemState.OPEN]
        # Each user owns three items and toggles them; the last click on an item decides its final state.
        plans: dict[str, list[Click]] = {}
        expected: dict[str, bool] = {}
        for u in range(args.users):
            user = f"UB{u:02d}"
            mine = [items[(u * 3 + k) % (len(items) - 1)] for k in range(3)]
            clicks = []
            for n in range(args.clicks):
                action_id, key = mine[n % 3]
                ts, block = shown[action_id]
                checked = (n // 3) % 2 == 0
                options = block["elements"][0]["options"] if checked else []
                clicks.append((click_body(user, ts, block["block_id"], action_id, options, n), key, checked))
                expected[key] = checked
            plans[user] = clicks
        # Warm both apps up (imports, statement caches, pools) with clicks on an item nobody else uses.
        warm_action, warm_key = items[-1]
        ts, block = shown[warm_action]
        warm = {
            "UWARM": [
                (click_body("UWARM", ts, block["block_id"], warm_action, [], n), warm_key, False) for n in range(20)
            ]
        }
        drive(bot.url, warm, 0)
        drive(bare.url, warm, 0)
        drive(bare_pbr.url, warm, 0)
        bot.ask("flush")
        slack.ask("clear")
        cpu0 = bot.ask("cpu")
        latencies, failures, wall = drive(bot.url, plans, args.think_ms / 1000)
        bot.ask("flush")
        bot_cpu = bot.ask("cpu") - cpu0
        updates = slack.ask("updates")
        cpu0 = bare.ask("cpu")
        bare_lat, bare_fail, bare_wall = drive(bare.url, plans, args.think_ms / 1000)
        bare_cpu = bare.ask("cpu") - cpu0
        pbr_lat, pbr_fail, _ = drive(bare_pbr.url, plans, args.think_ms / 1000)
        sent = sum(len(c) for c in plans.values())
        with db.read() as s:
            rows = {
                i.key: i.state for i in s.scalars(select(ChecklistItem).where(ChecklistItem.deployment_id == run_id))
            }
            audited = int(
                s.scalar(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(AuditEntry.deployment_id == run_id, AuditEntry.kind == "item", AuditEntry.actor.like("UB%"))
                )
                or 0
            )
    finally:
        db.dispose()
        for child in (bare_pbr, bare, bot, slack):
            child.stop()
        tmp.cleanup()

    wrong = sum(1 for k, v in expected.items() if (rows[k] == ItemState.DONE) != v)
    lost = failures + wrong + (sent - audited)
    per_msg = Counter(ts for ts, _ in updates)
    gaps: list[float] = []
    worst_rate = 0.0
    for ts in per_msg:
        times = sorted(at for t, at in updates if t == ts)
        gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
        if len(times) > 1:  # updates per second while the message was being updated
            worst_rate = max(worst_rate, (len(times) - 1) / max(times[-1] - times[0], 1e-9))
    p50, p99 = pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000
    b50, b99 = pct(bare_lat, 0.5) * 1000, pct(bare_lat, 0.99) * 1000
    print(
        f"database: {db_url.split(':')[0]}  users: {args.users}  clicks: {sent}  "
        f"mean think time: {args.think_ms:.0f} ms"
    )
    print(
        f"bot      ack p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  throughput {sent / wall:7.1f} clicks/s  failed {failures}"
    )
    print(
        f"bare app ack p50 {b50:7.1f} ms  p99 {b99:7.1f} ms  throughput {sent / bare_wall:7.1f} clicks/s  "
        f"failed {bare_fail}"
    )
    q50, q99 = pct(pbr_lat, 0.5) * 1000, pct(pbr_lat, 0.99) * 1000
    print(
        f"bare app, process_before_response: p50 {q50:7.1f} ms  p99 {q99:7.1f} ms  failed {pbr_fail}  "
        f"(bot vs it: p50 {p50 / q50:.2f}x p99 {p99 / q99:.2f}x)"
    )
    print(
        f"CPU per click (every thread of the process): bot {bot_cpu / sent * 1000:.1f} ms, bare app "
        f"{bare_cpu / sent * 1000:.1f} ms"
    )
    print(f"ratio    p50 {p50 / b50:5.2f}x (target <= 1.5x)   p99 {p99 / b99:5.2f}x (target <= 2x)")
    print(f"lost clicks: {lost} (non-200 {failures}, wrong final state {wrong}, audited {audited}/{sent})")
    print(
        f"chat.update: {len(updates)} calls on {len(per_msg)} messages; worst {worst_rate:.2f}/message/s; "
        f"smallest gap {min(gaps, default=0):.2f} s"
    )
    ok = lost == 0 and p50 <= 1.5 * b50 and p99 <= 2 * b99 and worst_rate <= 1.05
    print("RESULT:", "PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
