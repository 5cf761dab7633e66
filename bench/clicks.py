"""Click benchmark: the bot vs a bare Bolt app that only acks, on the same server stack (Flask + waitress).

20 simulated users send signed checkbox clicks over loopback. Prints ack latency p50/p99, throughput, lost
clicks and chat.update calls per message per second, and exits non-zero when a target is missed:
no lost clicks; p50 <= 1.5x and p99 <= 2x the bare app; at most ~1 update per message per second.

    .venv/bin/python bench/clicks.py [--users 20] [--clicks 15] [--database-url URL]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.sandbox.driver import interactivity_body, request_headers  # noqa: E402
from bot.sandbox.emulator import SlackEmulator  # noqa: E402
from bot.server import BotServer  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import AuditEntry, ChecklistItem, ItemState  # noqa: E402
from tests.e2e import CHANNEL, SECRET, TOKEN, running_bot  # noqa: E402


def click_body(user: str, message_ts: str, block_id: str, action_id: str, options: list[Any], n: int) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user, "team_id": "T0"},
        "api_app_id": "A0",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": f"bench.{user}.{n}.{time.time_ns()}",
        "team": {"id": "T0", "domain": "bench"},
        "channel": {"id": CHANNEL, "name": "deployments"},
        "message": {"ts": message_ts, "blocks": []},
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


def drive(url: str, plans: dict[str, list[tuple[bytes, str, bool]]], think_s: float) -> tuple[list[float], int, float]:
    """Each user clicks, waits `think_s`, clicks again; users run concurrently. Returns latencies, failures, wall."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    barrier = threading.Barrier(len(plans))

    def user_loop(clicks: list[tuple[bytes, str, bool]]) -> None:
        nonlocal failures
        with httpx.Client(timeout=10) as client:
            barrier.wait()
            for n, (body, _, _) in enumerate(clicks):
                if think_s and n:
                    time.sleep(think_s)
                headers = request_headers(SECRET, body)
                t0 = time.perf_counter()
                try:
                    ok = client.post(url, content=body, headers=headers).status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    failures += 0 if ok else 1

    threads = [threading.Thread(target=user_loop, args=(c,)) for c in plans.values()]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failures, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bare_app_url(emu: SlackEmulator) -> tuple[BotServer, str]:
    app = App(client=WebClient(token=TOKEN, base_url=emu.api_url), signing_secret=SECRET)

    @app.action(re.compile(".*"))
    def only_ack(ack: Any) -> None:  # every checkbox click
        ack()

    from flask import Flask, request
    from slack_bolt.adapter.flask import SlackRequestHandler

    web = Flask("bare")
    handler = SlackRequestHandler(app)
    web.add_url_rule("/slack/events", "events", lambda: handler.handle(request), methods=["POST"])
    server = BotServer(web).start()
    return server, f"{server.url}/slack/events"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--clicks", type=int, default=15, help="clicks per user")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=250,
        help="pause between one user's clicks (250 ms = 4 clicks/s per user, faster than any person); 0 = saturate",
    )
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db_url = args.database_url or f"sqlite:///{tmp.name}/bench.db"
    upgrade(db_url)
    with running_bot(db_url, update_coalesce_seconds=1.0) as bot:
        run_id = bot.start_run("start bench-api 1.0.0")
        with bot.stack.ctx.db.read() as s:
            stmt = select(ChecklistItem).where(ChecklistItem.deployment_id == run_id, ChecklistItem.phase == "pre")
            items = [(i.id, i.key) for i in s.scalars(stmt) if i.state == ItemState.OPEN]
        # Each user owns a few items and toggles them; the last click on each item decides its final state.
        plans: dict[str, list[tuple[bytes, str, bool]]] = {}
        expected: dict[str, bool] = {}
        for u in range(args.users):
            user = f"UB{u:02d}"
            mine = [items[(u * 3 + k) % len(items)] for k in range(3)]
            clicks = []
            for n in range(args.clicks):
                item_id, key = mine[n % len(mine)]
                message, block = bot.find_item(run_id, key)
                element = block["elements"][0]
                checked = (n // len(mine)) % 2 == 0
                body = click_body(
                    user,
                    message["ts"],
                    block["block_id"],
                    element["action_id"],
                    element["options"] if checked else [],
                    n,
                )
                clicks.append((body, key, checked))
                expected[key] = checked
            plans[user] = clicks
        bot.emu.clear_calls()
        latencies, failures, wall = drive(bot.emu.bot_url or "", plans, args.think_ms / 1000)
        bot.settle()
        sent = sum(len(c) for c in plans.values())
        with bot.stack.ctx.db.read() as s:
            rows = {
                i.key: i.state for i in s.scalars(select(ChecklistItem).where(ChecklistItem.deployment_id == run_id))
            }
            audited = s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.deployment_id == run_id, AuditEntry.kind == "item", AuditEntry.actor.like("UB%"))
            )
        wrong = sum(1 for k, v in expected.items() if (rows[k] == ItemState.DONE) != v)
        lost = failures + wrong + (sent - int(audited or 0))
        updates = bot.emu.calls_to("chat.update")
        per_msg = Counter(str(c.params["ts"]) for c in updates)
        span = max(wall, 1.0)
        worst_rate = max((n / span for n in per_msg.values()), default=0.0)
        gaps = []
        for ts in per_msg:
            times = sorted(c.at for c in updates if c.params["ts"] == ts)
            gaps += [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        emu = bot.emu
        bare_server, bare_url = bare_app_url(emu)
        try:
            bare_lat, bare_fail, bare_wall = drive(bare_url, plans, args.think_ms / 1000)
        finally:
            bare_server.stop()

    p50, p99 = pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000
    b50, b99 = pct(bare_lat, 0.5) * 1000, pct(bare_lat, 0.99) * 1000
    print(f"database: {db_url.split(':')[0]}  users: {args.users}  clicks: {sent}  think time: {args.think_ms:.0f} ms")
    print(
        f"bot      ack p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  throughput {sent / wall:7.1f} clicks/s  failed {failures}"
    )
    print(
        f"bare app ack p50 {b50:7.1f} ms  p99 {b99:7.1f} ms  "
        f"throughput {sent / bare_wall:7.1f} clicks/s  failed {bare_fail}"
    )
    print(f"ratio    p50 {p50 / b50:5.2f}x (target <= 1.5x)   p99 {p99 / b99:5.2f}x (target <= 2x)")
    print(f"lost clicks: {lost} (non-200 {failures}, wrong final state {wrong}, audited {audited}/{sent})")
    print(
        f"chat.update: {len(updates)} calls on {len(per_msg)} messages; worst {worst_rate:.2f}/message/s; "
        f"smallest gap {min(gaps, default=0):.2f} s"
    )
    ok = lost == 0 and p50 <= 1.5 * b50 and p99 <= 2 * b99 and worst_rate <= 1.2
    print("RESULT:", "PASS" if ok else "MISS")
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
