"""Run many probes at once with bounded concurrency; every probe yields a result, nothing propagates."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import httpx

from probes.base import Probe, ProbeResult, describe_error, error_result

PROBES_PER_CLIENT = 25  # see client_count


async def run_one(
    probe: Probe,
    *,
    client: httpx.AsyncClient,
    now: datetime,
    deployed_at: datetime | None,
    timeout_s: float,
) -> ProbeResult:
    start = time.perf_counter()
    try:
        return await asyncio.wait_for(probe.run(client, now=now, deployed_at=deployed_at), timeout_s)
    except TimeoutError:
        error = f"timed out after {timeout_s:g}s"
    except Exception as exc:  # a broken probe must not take the round down with it
        error = f"probe crashed: {describe_error(exc)}"
    return error_result(
        probe.name,
        error,
        started_at=now,
        duration_s=time.perf_counter() - start,
        critical=bool(getattr(probe, "critical", False)),
    )


async def run_probes(
    probes: Sequence[Probe],
    *,
    client: httpx.AsyncClient | Sequence[httpx.AsyncClient],
    now: datetime,
    deployed_at: datetime | None,
    concurrency: int = 50,
    timeout_s: float = 10,
) -> list[ProbeResult]:
    """Results in the order of `probes`. The timeout counts from when a probe starts, not while it queues.

    `client` may be several clients: probes are spread over them round-robin (see `client_count`).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    clients = [client] if isinstance(client, httpx.AsyncClient) else list(client)
    if not clients:
        raise ValueError("at least one client is needed")
    gate = asyncio.Semaphore(concurrency)

    async def guarded(index: int, probe: Probe) -> ProbeResult:
        async with gate:
            return await run_one(
                probe, client=clients[index % len(clients)], now=now, deployed_at=deployed_at, timeout_s=timeout_s
            )

    return list(await asyncio.gather(*(guarded(i, p) for i, p in enumerate(probes))))


def client_count(probes: int, concurrency: int) -> int:
    """How many clients to spread a round over.

    httpcore's pool rescans every connection on each request event, so one pool holding hundreds of
    connections costs O(n^2) CPU (a 600-probe round took 12 s on one client, well under 1 s on shards).
    """
    return max(1, math.ceil(min(probes, concurrency) / PROBES_PER_CLIENT))


def make_client(*, concurrency: int = 50, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    # No cap on open connections: the semaphore bounds probes, and a smoke probe opens several at once.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    from httpx_aiohttp import AiohttpTransport
    if transport is None:
        transport = AiohttpTransport(limits=limits, verify=ssl_context())
    return httpx.AsyncClient(limits=limits, transport=transport, follow_redirects=False, verify=ssl_context())


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One shared context (httpx's default): loading the CA bundle costs ~20 ms per client otherwise."""
    return httpx.create_ssl_context()


@contextlib.asynccontextmanager
async def client_pool(
    count: int, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` clients for one round (pass the list as run_probes' `client`), closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(make_client(concurrency=PROBES_PER_CLIENT, transport=transport))
            for _ in range(count)
        ]


def run_probes_sync(
    probes: Sequence[Probe],
    *,
    now: datetime,
    deployed_at: datetime | None,
    concurrency: int = 50,
    timeout_s: float = 10,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[ProbeResult]:
    """For threads without an event loop (the scheduler): own loop, own clients, all closed on return."""

    async def main() -> list[ProbeResult]:
        async with client_pool(client_count(len(probes), concurrency), transport=transport) as clients:
            return await run_probes(
                probes, client=clients, now=now, deployed_at=deployed_at, concurrency=concurrency, timeout_s=timeout_s
            )

    return asyncio.run(main())
