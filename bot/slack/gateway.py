"""The only code that calls Slack's Web API: retries 429 (Retry-After), 5xx and connection errors.

Retries sleep in the calling thread, so nothing here may run before a listener's ack().
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

log = logging.getLogger(__name__)


class Gateway:
    def __init__(
        self,
        *,
        token: str,
        base_url: str | None = None,
        timeout: int = 10,
        max_retries: int = 4,
    ) -> None:
        kwargs: dict[str, Any] = {"token": token, "timeout": timeout}
        if base_url:
            kwargs["base_url"] = base_url
        self.client = WebClient(
            **kwargs,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=max_retries),
                RateLimitErrorRetryHandler(max_retry_count=max_retries),
                ServerErrorRetryHandler(max_retry_count=max_retries),
            ],
        )
        self._names: dict[str, str] = {}  # user id -> name; only the export asks, after the ack
        self.workspace_url: str | None = None  # from auth.test: message links without a Web API call

    # Messages -----------------------------------------------------------------------------------------
    def post(
        self, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None, *, thread_ts: str | None = None
    ) -> str:
        resp = self.client.chat_postMessage(
            channel=channel, text=text, blocks=list(blocks) if blocks else None, thread_ts=thread_ts, unfurl_links=False
        )
        return str(resp["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]]) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=list(blocks))

    def ephemeral(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> None:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
        except SlackApiError as exc:  # e.g. user_not_in_channel: fall back to a DM
            log.info("ephemeral failed (%s); sending a DM", exc.response.get("error"))
            self.dm(user, text)

    def dm(self, user: str, text: str) -> str:
        channel = self.client.conversations_open(users=[user])["channel"]["id"]
        return self.post(channel, text)

    def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except SlackApiError:
            return None

    # Modals --------------------------------------------------------------------------------------------
    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.client.views_open(trigger_id=trigger_id, view=view)

    # Files ---------------------------------------------------------------------------------------------
    def upload(self, channel: str, filename: str, content: str, *, title: str, thread_ts: str | None) -> None:
        self.client.files_upload_v2(
            channel=channel, filename=filename, content=content, title=title, thread_ts=thread_ts
        )

    # Directory -----------------------------------------------------------------------------------------
    def auth_test(self) -> dict[str, Any]:
        data = dict(self.client.auth_test().data)  # type: ignore[arg-type]
        self.workspace_url = data.get("url") or self.workspace_url
        return data

    def user_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Slack user id -> the name people know them by (users.info, remembered); ids Slack cannot name are
        left out, so the caller shows the id."""
        out = {}
        for user_id in sorted(set(user_ids)):
            if user_id not in self._names:
                try:
                    user = self.client.users_info(user=user_id)["user"]
                except SlackApiError as exc:
                    log.info("users.info %s failed (%s)", user_id, exc.response.get("error"))
                    continue
                profile = user.get("profile") or {}
                self._names[user_id] = profile.get("display_name") or user.get("real_name") or user["name"]
            out[user_id] = self._names[user_id]
        return out

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        return frozenset(self.client.usergroups_users_list(usergroup=group_id)["users"])
