"""Probe round benchmark: 200 deployments x 3 probes against a local server answering every request in 200 ms.

Run: .venv/bin/python bench/probes.py [--deployments 200] [--delay-ms 200]
Exits 1 when a round takes more than 2x a single probe's latency, or a probe does not pass. Rounds run on the
bot's own runner (probes.runner.ProbeLoop), which the post-deploy service keeps for its lifetime: the judged
figure is the median steady-state round (connections kept open, baselines cached), as every round after the
first is; the first, cold round (every connection opened, baselines queried) is printed beside it.

The server (service endpoints and a fake Prometheus /api/v1/query) is an asyncio HTTP/1.1 server in a child
process, so it does not share the GIL with the probes being measured, as real targets would not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from bot.heap import settle_heap  # noqa: E402
from probes.base import Outcome, Probe, build_probe  # noqa: E402
from probes.runner import ProbeLoop  # noqa: E402

TARGET_RATIO = 2.0
REQUESTS_PER_DEPLOYMENT = 5  # health 1 + smoke 2 + prometheus 2 (value and baseline)


# --- the server (child process) --------------------------------------------------------------------------------
def answer(path: str) -> dict[str, Any]:
    if path.startswith("/api/v1/query"):
        sample = {"metric": {}, "value": [time.time(), "0.01"]}
        return {"status": "success", "data": {"resultType": "vector", "result": [sample]}}
    if "/smoke/" in path:
        return {"ok": True}
    return {"status": "ok"}


async def serve(delay_s: float) -> None:
    """Answer every request after `delay_s`; print the port; stop when stdin closes."""
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:  # keep-alive: one connection serves many requests
                head = await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(delay_s)
                body = json.dumps(answer(head.split(b" ", 2)[1].decode())).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # client closed, or we are shutting down
        finally:
            writer.close()
            handlers.discard(task)

    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stopped.set)  # readable at EOF: the parent is done
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stopped.wait()
    for task in list(handlers):
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)


# --- the client (this process) ---------------------------------------------------------------------------------
def deployment_probes(i: int, service_url: str, prometheus_url: str, *, baseline: bool = True) -> list[Probe]:
    configs: list[dict[str, Any]] = [
        {"name": f"d{i}-health", "type": "http", "url": "/healthz", "expect_json": {"status": "ok"}},
        {
            "name": f"d{i}-smoke",
            "type": "smoke",
            "checks": [{"name": "api", "url": "/smoke/api"}, {"name": "auth", "url": "/smoke/auth"}],
        },
        {
            "name": f"d{i}-error_rate",
            "type": "prometheus",
            "query": f'sum(rate(http_requests_total{{job="d{i}",code=~"5.."}}[5m]))',
            "baseline": baseline,  # the scheduler caches it per run after the first round (fixed after the deploy)
            "unit": "ratio",
        },
    ]
    return [build_probe(c, base_url=f"{service_url}/d{i}", prometheus_url=prometheus_url) for c in configs]


def timed_round(loop: ProbeLoop, probes: list[Probe], now: datetime) -> tuple[float, float, list[Outcome]]:
    """(wall s, this process's CPU s, outcomes) of one round on the bot's own runner (ProbeLoop)."""
    start, cpu = time.perf_counter(), time.process_time()
    jobs = [(p, now - timedelta(minutes=10)) for p in probes]
    results = loop.run(jobs, now=now, concurrency=len(probes), timeout_s=30)
    return time.perf_counter() - start, time.process_time() - cpu, [r.outcome for r in results]


def rss_mb() -> tuple[float, float]:
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    return max_rss, current


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=200)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # child-process mode
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.delay_ms / 1000))
        return 0

    child = [sys.executable, __file__, "--serve", "--delay-ms", str(args.delay_ms)]
    with subprocess.Popen(child, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None and server.stdin is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        try:
            now = datetime.now(UTC)
            probes = [p for i in range(args.deployments) for p in deployment_probes(i, url, url)]
            # One-time process costs (the shared TLS context, first-use imports) are not a probe's latency.
            with closing(ProbeLoop()) as warmup:
                timed_round(warmup, probes[:3], now)
            settle_heap()  # as the bot does once started (bot/stack.py): the rounds run in a bot-like heap
            # Single-probe latency: the slowest of one probe of each kind, each alone on a new runner.
            singles = []
            for p in probes[:3]:
                with closing(ProbeLoop()) as alone:
                    singles.append(timed_round(alone, [p], now)[0])
            # The bot keeps one runner: its first round opens every connection and queries the baselines;
            # later rounds (every minute) reuse the connections and the cached baselines.
            steady = [p for i in range(args.deployments) for p in deployment_probes(i, url, url, baseline=False)]
            with closing(ProbeLoop()) as runner:
                round_s, round_cpu, outcomes = timed_round(runner, probes, now)
                warm = sorted(timed_round(runner, steady, now) for _ in range(5))
            warm_s, warm_cpu, _ = warm[len(warm) // 2]  # the median steady-state round
            warm_outcomes = [o for _, _, outs in warm for o in outs]
        finally:
            server.stdin.close()
            server.wait(10)
    single = max(singles)
    bad = [o for o in outcomes + warm_outcomes if o is not Outcome.PASS]
    cold_ratio = round_s / single
    ratio = warm_s / single
    max_rss, current_rss = rss_mb()
    print(f"probes run:           {len(outcomes)} ({args.deployments} deployments x 3), {len(bad)} not passing")
    kinds = ", ".join(f"{s * 1000:.0f}" for s in singles)
    print(f"single-probe latency: {single * 1000:.0f} ms (health/smoke/prometheus alone: {kinds} ms)")
    requests = args.deployments * REQUESTS_PER_DEPLOYMENT
    warm_requests = args.deployments * (REQUESTS_PER_DEPLOYMENT - 1)
    print(
        f"round (steady state): {warm_s * 1000:.0f} ms, median of 5 (fastest {warm[0][0] * 1000:.0f}, slowest "
        f"{warm[-1][0] * 1000:.0f}; {warm_requests} requests, baselines cached, connections kept; "
        f"client CPU {warm_cpu * 1000:.0f} ms)"
    )
    print(f"ratio:                {ratio:.2f}x (target <= {TARGET_RATIO:g}x)")
    print(
        f"first round (cold):   {round_s * 1000:.0f} ms, {cold_ratio:.2f}x ({requests} requests, every connection "
        f"opened, baselines queried; client CPU {round_cpu * 1000:.0f} ms = {round_cpu / requests * 1000:.2f} ms "
        "per request)"
    )
    print(f"RSS (this process):   max {max_rss:.1f} MiB, current {current_rss:.1f} MiB")
    if bad:
        print(f"FAIL: {len(bad)} probes did not pass", file=sys.stderr)
        return 1
    if ratio > TARGET_RATIO:
        print("FAIL: round slower than the target", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
