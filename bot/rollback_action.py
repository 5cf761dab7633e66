"""The rollback button's action: a signed webhook to the team's deploy system, or written instructions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx

from bot.clock import Clock, SystemClock
from bot.paging.base import error_text, redact
from bot.paging.retry import RetryPolicy
from bot.paging.webhook import post_signed

logger = logging.getLogger("bot.rollback")


@dataclass(frozen=True)
class RollbackAction:
    webhook_url: str | None
    secret: str = field(default="", repr=False)
    instructions: str = ""

    def __post_init__(self) -> None:
        if self.webhook_url and not self.secret:
            raise ValueError("a rollback webhook needs a signing secret")


@dataclass(frozen=True)
class RollbackOutcome:
    """ok means the deploy system accepted the rollback. instructions_only means nothing was sent:
    ok is False and `detail` holds the instructions for a human to follow."""

    ok: bool
    status_code: int | None
    detail: str
    instructions_only: bool = False
    attempts: int = 0


def run_rollback(
    action: RollbackAction,
    *,
    run_id: int | str,
    service: str,
    version: str,
    previous_version: str | None,
    environment: str,
    requested_by: str,
    client: httpx.Client,
    clock: Clock | None = None,
    policy: RetryPolicy | None = None,
) -> RollbackOutcome:
    if not action.webhook_url:
        return RollbackOutcome(ok=False, status_code=None, detail=action.instructions, instructions_only=True)
    clock = clock or SystemClock()
    payload = {
        "action": "rollback",
        "run_id": run_id,
        "service": service,
        "version": version,
        "previous_version": previous_version,
        "environment": environment,
        "requested_by": requested_by,
        "requested_at": clock.now().isoformat(),
    }
    delivery = post_signed(
        client,
        action.webhook_url,
        action.secret,
        payload,
        clock=clock,
        policy=policy or RetryPolicy(),
        label=f"rollback run={run_id} service={service}",
    )
    secrets = (action.secret, action.webhook_url)
    response = delivery.response
    if response is None:
        detail = redact(delivery.error, secrets)
        logger.warning("rollback run=%s failed attempts=%d error=%s", run_id, delivery.attempts, detail)
        return RollbackOutcome(False, None, detail, attempts=delivery.attempts)
    ok = 200 <= response.status_code < 300
    detail = redact(response.text[:500] if ok else error_text(response), secrets)
    logger.log(
        logging.INFO if ok else logging.WARNING,
        "rollback run=%s status=%d attempts=%d",
        run_id,
        response.status_code,
        delivery.attempts,
    )
    return RollbackOutcome(ok, response.status_code, detail, attempts=delivery.attempts)
