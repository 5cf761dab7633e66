"""Run many probes at once with bounded concurrency; every probe yields a result, nothing propagates."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import ssl
import threading
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import aiohttp
import httpx
import yarl

from probes.base import PROBE_HEADERS, Probe, ProbeResult, describe_error, error_result

KEEPALIVE_S = 120.0  # keep idle connections past the 60 s metrics interval (targets may close them sooner)
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
        async with asyncio.timeout(timeout_s):  # not wait_for: that costs a task per probe
            return await probe.run(client, now=now, deployed_at=deployed_at)
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


# Most specific first: aiohttp's timeouts are also connection errors, its connector errors also OS errors.
_AIOHTTP_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.TimeoutException),  # aiohttp.ServerTimeoutError is one too
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # unparsable response
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.NetworkError),
    (aiohttp.ClientError, httpx.TransportError),
)


def as_httpx_error(exc: BaseException) -> httpx.TransportError | None:
    """The httpx exception a probe expects for an aiohttp one (None: not a transport failure)."""
    for aiohttp_type, httpx_type in _AIOHTTP_ERRORS:
        if isinstance(exc, aiohttp_type):
            return httpx_type(str(exc).strip() or type(exc).__name__)
    return None


@functools.lru_cache(maxsize=8192)
def _aiohttp_url(url: str) -> yarl.URL:
    """httpx has already percent-encoded it. Cached: probes hit the same URLs every round, and yarl's
    parsing (host validation) is the largest single cost of a request here."""
    return yarl.URL(url, encoded=True)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's API over aiohttp, which parses HTTP in C: ~3x less CPU per request than httpcore.

    The body is read inside the transport (probes read every body anyway), so the connection goes back to the
    pool at once and no stream wrapper is needed. Not httpx-aiohttp 0.2: its connector caps connections at
    100 when httpx's limit is None, and it reports refused connections and disconnects as ConnectTimeout.
    """

    def __init__(self, *, verify: ssl.SSLContext | None = None, keepalive_s: float = KEEPALIVE_S) -> None:
        self._ssl = verify
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use, inside the running loop
            # limit=0: no cap (run_probes' semaphore bounds probes). Cookies, redirects, decompression: httpx's.
            connector = aiohttp.TCPConnector(
                limit=0, ssl=self._ssl if self._ssl is not None else True, keepalive_timeout=self._keepalive_s
            )
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )
            # aiohttp silently resends a GET once when the server hangs up (even on a new connection); a probe
            # must report that hang-up, as httpcore does. No public switch: tests/test_probes.py guards this.
            self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        try:
            async with self.session().request(
                request.method,
                _aiohttp_url(str(request.url)),
                headers=request.headers.multi_items(),
                data=(await request.aread()) or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            mapped = as_httpx_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        out = httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )
        if "charset" not in response.headers.get("Content-Type", "").lower():
            out.encoding = "utf-8"  # httpx's choice here too, without parsing the header with the email package
        return out

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ProbeClient(httpx.AsyncClient):
    """httpx's client API with probe semantics: no redirects followed, no auth, and no cookies kept (every
    probe is a fresh visitor). `send` goes straight to the transport: httpx's auth, redirect and cookie
    steps were a fifth of a probe round's CPU."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport, limits: httpx.Limits) -> None:
        super().__init__(
            limits=limits, transport=transport, follow_redirects=False, verify=ssl_context(), headers=PROBE_HEADERS
        )
        self._probe_transport = transport

    async def send(self, request: httpx.Request, **_: object) -> httpx.Response:
        response = await self._probe_transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response


def make_client(*, concurrency: int = 50, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A client on AiohttpTransport unless `transport` is given (tests pass their own)."""
    # No cap on open connections: the semaphore bounds probes, and a smoke probe opens several at once.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    return ProbeClient(transport=transport or AiohttpTransport(verify=ssl_context()), limits=limits)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One shared context (httpx's default): loading the CA bundle costs ~20 ms per client otherwise."""
    return httpx.create_ssl_context()


class ProbeLoop:
    """A long-lived event loop thread and its clients, so rounds after the first reuse open connections.

    The scheduler thread hands each round over and waits for the results; `close()` ends the loop.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport
        self._clients: list[httpx.AsyncClient] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="probe-loop", daemon=True)
        self._thread.start()

    def run(
        self,
        jobs: Sequence[tuple[Probe, datetime | None]],
        *,
        now: datetime,
        concurrency: int,
        timeout_s: float,
    ) -> list[ProbeResult]:
        """Run (probe, deployed_at) pairs with bounded concurrency; results in input order."""
        if not jobs:
            return []
        round_ = self._round(jobs, now=now, concurrency=concurrency, timeout_s=timeout_s)
        return asyncio.run_coroutine_threadsafe(round_, self._loop).result()

    async def _round(
        self, jobs: Sequence[tuple[Probe, datetime | None]], *, now: datetime, concurrency: int, timeout_s: float
    ) -> list[ProbeResult]:
        need = client_count(len(jobs), concurrency)
        while len(self._clients) < need:
            self._clients.append(make_client(concurrency=PROBES_PER_CLIENT, transport=self._transport))
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int, probe: Probe, deployed_at: datetime | None) -> ProbeResult:
            async with gate:
                client = self._clients[i % need]
                return await run_one(probe, client=client, now=now, deployed_at=deployed_at, timeout_s=timeout_s)

        return list(await asyncio.gather(*(one(i, p, d) for i, (p, d) in enumerate(jobs))))

    async def _aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients = []

    def close(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._aclose(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


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
