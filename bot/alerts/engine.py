"""Alerting wired to the running bot: verdict/incident/deploy hooks, the escalation leader task, provider
calls after acknowledge/resolve, and roll back. Database changes commit before any Slack or provider call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.alerts import service
from bot.alerts.paging import build_chain
from bot.alerts.roster import OnCall, at_level, roster_of_snapshot
from bot.alerts.triggers import AlertSpec, crossings, incident_spec, recoveries
from bot.context import AppContext
from bot.paging.base import ChainResult, Link, PageRequest, PagingChain, Severity
from bot.paging.retry import RetryPolicy
from bot.postdeploy.types import Evaluation
from bot.render.alert import thread_line
from bot.render.text import escape, escape_within
from bot.services.runs import get_run
from bot.store.models import Alert, Deployment, Source

log = logging.getLogger(__name__)


# One engine per running context, so listeners (registered before extensions start) can find it.
def engine_for(ctx: AppContext) -> Alerting | None:
    return ctx.alerting


class Alerting:
    def __init__(self, ctx: AppContext, *, policy: RetryPolicy | None = None, client: httpx.Client | None = None):
        self.ctx = ctx
        self.policy = policy or RetryPolicy()
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=ctx.settings.paging.timeout_s)

    # lifecycle ----------------------------------------------------------------------------------------
    def install(self) -> Callable[[], None]:
        """Append the hooks to the context and return the stop function (an Extension's contract)."""
        ctx = self.ctx
        hooks: list[tuple[list[Any], Any]] = [
            (ctx.on_verdicts, self.on_verdicts),
            (ctx.on_incident, self.on_incident),
            (ctx.on_deployed, self.on_deployed),
            (ctx.leader_tasks, self.tick),
        ]
        for target, hook in hooks:
            target.append(hook)
        ctx.alerting = self

        def stop() -> None:
            for target, hook in hooks:
                if hook in target:
                    target.remove(hook)
            ctx.alerting = None
            self.close()

        return stop

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    # helpers ------------------------------------------------------------------------------------------
    @property
    def _timeout(self) -> timedelta:
        return timedelta(minutes=self.ctx.settings.escalation.ack_timeout_minutes)

    def _people(self, run: Deployment) -> list[OnCall]:
        return roster_of_snapshot(run.template_snapshot, self.ctx.settings.config.oncall)

    def chain(self, channel: str | None, thread_ts: str | None) -> PagingChain:
        return build_chain(
            self.ctx.settings,
            self.ctx.gateway,
            client=self.client,
            policy=self.policy,
            clock=self.ctx.clock,
            channel=channel,
            thread_ts=thread_ts,
        )

    def _where(self, run_id: int) -> tuple[str | None, str | None]:
        with self.ctx.db.read() as s:
            run = get_run(s, run_id)
            return run.channel_id, run.thread_ts

    def say_in_thread(self, run_id: int, text: str) -> None:
        channel, thread = self._where(run_id)
        if channel:
            self.ctx.gateway.post(channel, text, thread_ts=thread)

    def _permalink(self, channel: str | None, ts: str | None) -> str | None:
        return self.ctx.gateway.permalink(channel, ts) if channel and ts else None

    # triggers -----------------------------------------------------------------------------------------
    def on_verdicts(self, run_id: int, evaluations: Sequence[Evaluation]) -> None:
        with self.ctx.db.read() as s:
            run = get_run(s, run_id)
            service_name, version = run.service, run.version
        for spec in crossings(evaluations, service=service_name, version=version):
            self.open(run_id, spec, actor=f"probe:{spec.rule}", source=Source.PROBE)
        if self.ctx.settings.escalation.auto_resolve:
            for ev in recoveries(evaluations):
                self._recovered(run_id, ev)

    def on_incident(self, run_id: int, user: str, text: str) -> None:
        with self.ctx.db.read() as s:
            run = get_run(s, run_id)
            spec = incident_spec(
                service=run.service, version=run.version, declared_by=user, text=text, now=self.ctx.clock.now()
            )
        opened = self.open(run_id, spec, actor=user, source=Source.SLACK)
        if not opened.changed:
            self.say_in_thread(
                run_id,
                f":rotating_light: <@{user}> added to the open security incident: _{escape_within(text, 500)}_",
            )

    def on_deployed(self, run_id: int) -> None:
        """A PagerDuty change event: the deploy shows on the service's timeline, paging nobody."""
        with self.ctx.db.read() as s:
            run = get_run(s, run_id)
            summary = f"Deployed {run.service} {run.version} to {run.environment} (run #{run.id})"
            details = {"run": run.id, "previous_version": run.previous_version, "deployed_by": run.deployed_by}
            source, channel, thread = f"deploybot/{run.service}", run.channel_id, run.thread_ts
        link = self._permalink(channel, thread)
        links = [Link(link, "Deployment run in Slack")] if link else []
        result = self.chain(channel, thread).change_event(summary, source, self.ctx.clock.now(), links, details)
        if result.results:
            with self.ctx.db.write() as s:
                from bot.services import audit

                audit.record(
                    s,
                    deployment_id=run_id,
                    at=self.ctx.clock.now(),
                    actor="deploybot",
                    source=Source.SYSTEM,
                    kind="page",
                    subject="change event",
                    to_state="sent" if result.any_ok else "failed",
                    detail={"results": service.result_rows(result)},
                )

    def open(self, run_id: int, spec: AlertSpec, *, actor: str, source: str) -> service.Opened:
        """Open (once), show it in the channel at once, tell the thread, then page."""
        with self.ctx.db.write() as s:
            run = get_run(s, run_id)
            opened = service.open_alert(
                s,
                run=run,
                spec=spec,
                now=self.ctx.clock.now(),
                people=self._people(run),
                ack_timeout=self._timeout,
                repeat=self.ctx.settings.escalation.repeat,
                actor=actor,
                source=source,
            )
        if not opened.changed:
            log.info("alert for run %s rule %s already open: not paging again", run_id, spec.rule)
            return opened
        self.ctx.updater.notify(opened.message_ids)
        with self.ctx.db.read() as s:
            alert = s.get(Alert, opened.alert_id)
            run = get_run(s, run_id)
            assert alert is not None
            oncall = at_level(self._people(run), 0, repeat=self.ctx.settings.escalation.repeat)
            line = thread_line(alert, oncall=oncall, permalink=None)
        if run.channel_id and run.thread_ts:
            self.ctx.gateway.post(run.channel_id, line, thread_ts=run.thread_ts)
        if opened.page_claimed:
            self.page(opened.alert_id, 0, opened.target)
        return opened

    def _recovered(self, run_id: int, ev: Evaluation) -> None:
        with self.ctx.db.write() as s:
            alert = service.open_alert_for(s, run_id=run_id, rule=ev.rule.name)
            if alert is None:
                return
            change = service.resolve(
                s,
                alert_id=alert.id,
                actor="deploybot",
                reason=f"recovered automatically: {ev.verdict.reason}",
                now=self.ctx.clock.now(),
                source=Source.PROBE,
            )
        if change.changed:
            self.resolved(change, actor="deploybot")
            self.say_in_thread(
                run_id,
                f":white_check_mark: *{escape(ev.rule.label)}* recovered ({ev.rule.recovery_passes} passing "
                f"evaluations in a row): alert resolved automatically.",
            )

    # paging -------------------------------------------------------------------------------------------
    def page_request(self, alert_id: int, target: str | None) -> tuple[PageRequest, str | None, str | None]:
        with self.ctx.db.read() as s:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            run = get_run(s, alert.deployment_id)
            channel, thread = run.channel_id, run.thread_ts
            details = {
                "run": run.id,
                "service": run.service,
                "version": run.version,
                "previous_version": run.previous_version,
                "environment": run.environment,
                "rule": alert.rule,
                "escalation_level": alert.escalation_level,
                **{k: v for k, v in alert.evidence.items() if k != "title"},
            }
            req_args: dict[str, Any] = {
                "dedup_key": service.dedup_key_for(run.id, alert.rule),
                "summary": alert.summary,
                "severity": _severity(alert.severity),
                "source": f"deploybot/{run.service}",
                "component": run.service,
                "group": run.environment,
            }
        link = self._permalink(channel, thread)
        req = PageRequest(
            **req_args,
            timestamp=self.ctx.clock.now(),
            custom_details=details,
            links=(Link(link, "Deployment run in Slack"),) if link else (),
            oncall_user=target,
        )
        return req, channel, thread

    def page(self, alert_id: int, level: int, target: str | None) -> ChainResult:
        req, channel, thread = self.page_request(alert_id, target)
        result = self.chain(channel, thread).trigger(req)
        with self.ctx.db.write() as s:
            ids = service.finish_page(s, alert_id=alert_id, level=level, result=result, now=self.ctx.clock.now())
        self.ctx.updater.notify(ids)
        self._report_refusals(channel, thread, result, "page")
        return result

    def _report_refusals(self, channel: str | None, thread: str | None, result: ChainResult, what: str) -> None:
        """A 400 is not retried: the configuration or payload is wrong, so people must hear of it."""
        for r in result.results:
            if r.status_code is not None and 400 <= r.status_code < 500 and channel:
                self.ctx.gateway.post(
                    channel,
                    f":x: {r.provider} refused the {what} (HTTP {r.status_code}, not retried): "
                    f"{escape_within(r.error, 500)}",
                    thread_ts=thread,
                )

    # escalation (leader task) -------------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        with self.ctx.db.read() as s:
            due = service.due_escalations(s, now=now)
        for alert_id in due:
            try:
                self._escalate(alert_id, now)
            except Exception:  # noqa: BLE001 - one alert's failure must not stop the others' escalation
                log.exception("escalating alert %s failed", alert_id)

    def _escalate(self, alert_id: int, now: datetime) -> None:
        with self.ctx.db.write() as s:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            run = get_run(s, alert.deployment_id)
            esc = service.escalate(
                s,
                alert_id=alert_id,
                now=now,
                people=self._people(run),
                ack_timeout=self._timeout,
                repeat=self.ctx.settings.escalation.repeat,
            )
            title = str(alert.evidence.get("title") or alert.rule)
            channel, thread = run.channel_id, run.thread_ts
        if esc is None or esc.target is None:
            return
        self.ctx.updater.notify(esc.message_ids)
        minutes = f"{self.ctx.settings.escalation.ack_timeout_minutes:g}"
        if channel:
            self.ctx.gateway.post(
                channel,
                f":rotating_light: <@{esc.target.user}> ({escape(esc.target.title)}): *{escape(title)}* on run "
                f"#{esc.run_id} was not acknowledged within {minutes} min; you are paged now.",
                thread_ts=thread,
            )
        self.page(alert_id, esc.level, esc.target.user)

    # after a person acted -----------------------------------------------------------------------------
    def acknowledged(self, change: service.AlertChange, *, actor: str) -> None:
        self.ctx.updater.notify(change.message_ids)
        if change.changed:
            self._provider_call(change, "acknowledge", actor)

    def resolved(self, change: service.AlertChange, *, actor: str) -> None:
        self.ctx.updater.notify(change.message_ids)
        if change.changed:
            self._provider_call(change, "resolve", actor)

    def _provider_call(self, change: service.AlertChange, action: str, actor: str) -> None:
        channel, thread = self._where(change.run_id)
        chain = self.chain(channel, thread)
        result = chain.acknowledge(change.dedup_key) if action == "acknowledge" else chain.resolve(change.dedup_key)
        with self.ctx.db.write() as s:
            service.record_provider_call(
                s, alert_id=change.alert_id, action=action, result=result, now=self.ctx.clock.now(), actor=actor
            )
        self._report_refusals(channel, thread, result, action)


def _severity(value: str) -> Severity:
    from bot.paging.base import SEVERITIES

    return value if value in SEVERITIES else "error"  # type: ignore[return-value]


def extension(
    *, policy: RetryPolicy | None = None, client: httpx.Client | None = None
) -> Callable[[AppContext], Callable[[], None]]:
    """An Extension for BotStack: `BotStack(settings, extensions=[extension()])`."""

    def start(ctx: AppContext) -> Callable[[], None]:
        return Alerting(ctx, policy=policy, client=client).install()

    return start


def install(ctx: AppContext) -> Callable[[], None]:
    """The default Extension (registered in bot.stack.EXTENSIONS)."""
    return Alerting(ctx).install()
