"""HMAC signing for outbound webhooks (paging and rollback), Slack-style: timestamp bound, constant-time."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

TIMESTAMP_HEADER = "X-DeployBot-Timestamp"
SIGNATURE_HEADER = "X-DeployBot-Signature"
VERSION = "v1"


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """`v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>` over the exact bytes sent."""
    message = str(timestamp).encode("ascii") + b"." + _as_bytes(body)
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def verify(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    *,
    now: datetime,
    tolerance_s: int = 300,
) -> bool:
    """True only for a fresh timestamp and a matching signature; stale requests are replays."""
    if not secret:
        return False
    raw = str(timestamp).strip()
    try:
        ts = int(raw)
    except ValueError:
        return False
    if abs(now.timestamp() - ts) > tolerance_s:
        return False
    expected = sign(secret, raw, body)  # the bytes the sender signed, not a re-formatted int
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
