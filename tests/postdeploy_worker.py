"""A replica for the failover test: runs the leader-elected post-deploy scheduler until SIGTERM/SIGKILL.

Usage: python tests/postdeploy_worker.py DATABASE_URL SERVICE_BASE_URL INSTANCE
Prints LEADER / STANDBY whenever its role changes (one line each, flushed).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_context  # noqa: E402
from bot.postdeploy.scheduler import PostdeployScheduler  # noqa: E402
from bot.postdeploy.service import PostDeploy  # noqa: E402
from bot.settings import build_settings  # noqa: E402
from bot.store.db import Database  # noqa: E402

METRICS_EVERY_S = 0.5


def config(base_url: str) -> dict[str, Any]:
    return {
        "channel": "C0DEPLOY",
        "services": {
            "payments-api": {"base_url": base_url, "probes": [{"name": "health", "type": "http", "url": "/healthz"}]}
        },
        "schedule": {"first_hour": {"metrics_every_s": METRICS_EVERY_S, "smoke_every_s": 3600}},
    }


def main(argv: list[str]) -> int:
    db_url, base_url, instance = argv
    settings = build_settings(config(base_url), {"DATABASE_URL": db_url}, require_slack=False)
    ctx = build_context(settings, db=Database(db_url))
    service = PostDeploy(ctx, instance=instance)
    scheduler = PostdeployScheduler(ctx, service, tick_every_s=0.25, elect_every_s=0.2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    role = None
    while not stop.wait(0.05):
        now = "LEADER" if scheduler.is_leader else "STANDBY"
        if now != role:
            role = now
            print(role, flush=True)
    scheduler.stop()
    service.close()
    ctx.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
