"""Slack Web API methods over WorkspaceState, with Slack's response shapes and error codes.

Each handler takes decoded params (blocks/view/files already parsed from JSON) and returns the JSON body.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from bot.render.limits import message_problems, view_problems
from bot.sandbox.state import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, WorkspaceState

Params = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[[WorkspaceState, Params, str], Result]

MAX_VIEW_STACK = 3


def error(code: str, **extra: Any) -> Result:
    return {"ok": False, "error": code, **extra}


def invalid(code: str, problems: list[str]) -> Result:
    return error(code, errors=problems, response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})


def _blocks(ws: WorkspaceState, params: Params) -> tuple[list[dict[str, Any]] | None, Result | None]:
    blocks = params.get("blocks")
    if blocks is None:
        return None, None
    if not isinstance(blocks, list):
        return None, invalid("invalid_blocks_format", ["blocks: not a JSON array"])
    problems = message_problems(blocks, text=params.get("text"))
    if problems:
        return None, invalid("invalid_blocks", problems)
    return fill_ids(ws, blocks), None


def fill_ids(ws: WorkspaceState, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy with Slack's generated block_id / action_id wherever the sender left them out."""
    filled = copy.deepcopy(blocks)
    for block in filled:
        block.setdefault("block_id", ws.next_id("b"))
        elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
        elements += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
        for element in elements:
            if element.get("type") not in ("image", None):
                element.setdefault("action_id", ws.next_id("a"))
    return filled


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


# --- auth -----------------------------------------------------------------------------------------------


def auth_test(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    return {
        "ok": True,
        "url": f"{base_url}/",
        "team": "Deploy Bot Sandbox",
        "user": "deploybot",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


# --- chat -----------------------------------------------------------------------------------------------


def chat_post_message(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = ws.resolve_channel(p.get("channel"))
        if channel is None:
            return error("channel_not_found")
        blocks, err = _blocks(ws, p)
        if err:
            return err
        text = p.get("text") or ""
        if not text and not blocks and not p.get("attachments"):
            return error("no_text")
        message = ws.bot_message(text=text, blocks=blocks, ts=ws.next_ts())
        thread_ts = p.get("thread_ts")
        if thread_ts:
            if ws.find_message(channel, thread_ts) is None:
                ws.warn(f"chat.postMessage: thread_ts {thread_ts} not found in {channel}; posted top-level")
            else:
                message["thread_ts"] = thread_ts
        ws.post_message(channel, message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}


def chat_update(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = ws.resolve_channel(p.get("channel"))
        if channel is None:
            return error("channel_not_found")
        message = ws.find_message(channel, p.get("ts") or "")
        if message is None:
            return error("message_not_found")
        if message.get("user") != BOT_USER_ID:
            return error("cant_update_message")
        blocks, err = _blocks(ws, p)
        if err:
            return err
        if "text" not in p and blocks is None:
            return error("no_text")
        if "text" in p:
            message["text"] = p["text"] or ""
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": BOT_USER_ID, "ts": ws.next_ts()}
        ws.emit("message_updated", channel=channel, message=message)
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }


def chat_post_ephemeral(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = ws.resolve_channel(p.get("channel"))
        if channel is None:
            return error("channel_not_found")
        user = p.get("user")
        if user not in ws.users:
            return error("user_not_found")
        blocks, err = _blocks(ws, p)
        if err:
            return err
        text = p.get("text") or ""
        if not text and not blocks:
            return error("no_text")
        message = ws.bot_message(text=text, blocks=blocks, ts=ws.next_ts())
        if p.get("thread_ts"):
            message["thread_ts"] = p["thread_ts"]
        ws.add_ephemeral(user, channel, message)
        return {"ok": True, "message_ts": message["ts"]}


def chat_delete(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = ws.resolve_channel(p.get("channel"))
        if channel is None:
            return error("channel_not_found")
        ts = p.get("ts") or ""
        message = ws.find_message(channel, ts)
        if message is None:
            return error("message_not_found")
        if message.get("user") != BOT_USER_ID:
            return error("cant_delete_message")
        ws.delete_message(channel, ts)
        return {"ok": True, "channel": channel, "ts": ts}


def chat_get_permalink(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = ws.resolve_channel(p.get("channel"))
        if channel is None:
            return error("channel_not_found")
        ts = p.get("message_ts") or ""
        if ws.find_message(channel, ts) is None:
            return error("message_not_found")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"{base_url}/archives/{channel}/p{ts.replace('.', '')}",
        }


def reactions_add(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = ws.resolve_channel(p.get("channel"))
        if channel is None:
            return error("channel_not_found")
        message = ws.find_message(channel, p.get("timestamp") or "")
        if message is None:
            return error("message_not_found")
        name = p.get("name")
        if not name:
            return error("invalid_name")
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    return error("already_reacted")
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        ws.emit("message_updated", channel=channel, message=message)
        return {"ok": True}


# --- conversations ----------------------------------------------------------------------------------


def conversations_open(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        if p.get("channel"):
            channel = ws.resolve_channel(p["channel"])
            if channel is None:
                return error("channel_not_found")
            return {"ok": True, "channel": {"id": channel}}
        users = [u for u in str(p.get("users") or "").split(",") if u]
        if not users:
            return error("users_list_not_supplied")
        for user in users:
            if user not in ws.users:
                return error("user_not_found")
        if len(users) == 1:
            return {"ok": True, "channel": {"id": ws.open_dm(users[0])}}
        channel = "G" + hashlib.sha1(",".join(sorted(users)).encode()).hexdigest()[:10].upper()
        if channel not in ws.channels:
            ws.add_channel(channel, "mpdm-" + "--".join(ws.users[u]["name"] for u in users))
        return {"ok": True, "channel": {"id": channel}}


def conversations_info(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = p.get("channel")
        if channel not in ws.channels:
            return error("channel_not_found")
        return {"ok": True, "channel": copy.deepcopy(ws.channels[channel])}


def _page(items: list[dict[str, Any]], p: Params) -> Result:
    limit = int(p.get("limit") or 100)
    start = int(p.get("cursor") or 0)
    page = items[start : start + limit]
    more = start + limit < len(items)
    return {
        "ok": True,
        "messages": copy.deepcopy(page),
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _in_range(ts: str, p: Params) -> bool:
    inclusive = _truthy(p.get("inclusive"))
    value = float(ts)
    if p.get("oldest"):
        oldest = float(p["oldest"])
        if value < oldest or (value == oldest and not inclusive):
            return False
    if p.get("latest"):
        latest = float(p["latest"])
        if value > latest or (value == latest and not inclusive):
            return False
    return True


def conversations_history(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = p.get("channel")
        if channel not in ws.channels:
            return error("channel_not_found")
        top = [
            m for m in ws.messages.get(channel, []) if m.get("thread_ts") in (None, m["ts"]) and _in_range(m["ts"], p)
        ]
        return _page(list(reversed(top)), p)  # newest first, as Slack returns them


def conversations_replies(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        channel = p.get("channel")
        if channel not in ws.channels:
            return error("channel_not_found")
        ts = p.get("ts") or ""
        parent = ws.find_message(channel, ts)
        if parent is None:
            return error("thread_not_found")
        replies = [m for m in ws.messages[channel] if m.get("thread_ts") == ts and m["ts"] != ts]
        return _page([parent] + [m for m in replies if _in_range(m["ts"], p)], p)


# --- socket mode ------------------------------------------------------------------------------------------


def apps_connections_open(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        if ws.socket_mode_url is None:
            return error("socket_mode_not_enabled")
        return {"ok": True, "url": ws.socket_mode_url}


# --- users ------------------------------------------------------------------------------------------------


def users_info(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        user = ws.users.get(p.get("user") or "")
        if user is None:
            return error("user_not_found")
        return {"ok": True, "user": copy.deepcopy(user)}


def usergroups_users_list(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        group = ws.usergroups.get(p.get("usergroup") or "")
        if group is None:
            return error("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}


# --- views ------------------------------------------------------------------------------------------------


def _view_object(ws: WorkspaceState, view: dict[str, Any], view_id: str, root_id: str, previous: str | None) -> Result:
    return {
        "id": view_id,
        "team_id": TEAM_ID,
        "type": view.get("type", "modal"),
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": fill_ids(ws, view.get("blocks", [])),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "state": {"values": {}},
        "hash": f"{int(ws.now_s())}.{ws.next_id('h')}",
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "root_view_id": root_id,
        "previous_view_id": previous,
        "app_id": APP_ID,
        "app_installed_team_id": TEAM_ID,
        "bot_id": BOT_ID,
    }


def _checked_view(p: Params) -> tuple[dict[str, Any] | None, Result | None]:
    view = p.get("view")
    if not isinstance(view, dict):
        return None, invalid("invalid_arguments", ["view: missing or not a JSON object"])
    problems = view_problems(view)
    if problems:
        return None, invalid("invalid_arguments", problems)
    return view, None


def open_view(ws: WorkspaceState, user_id: str, view: dict[str, Any], *, push: bool) -> Result:
    """Open (or push onto the user's stack) a view; shared by views.open/push and response_action=push."""
    with ws.lock:
        stack = ws.view_stacks.setdefault(user_id, [])
        if push and len(stack) >= MAX_VIEW_STACK:
            return error("push_limit_reached")
        if not push:
            ws.close_views(user_id)
            stack = ws.view_stacks.setdefault(user_id, [])
        view_id = ws.next_id("V")
        root = stack[0] if stack else view_id
        obj = _view_object(ws, view, view_id, root, stack[-1] if stack else None)
        ws.views[view_id] = obj
        ws.view_owner[view_id] = user_id
        stack.append(view_id)
        ws.emit("view_opened", user=user_id, view=obj)
        return {"ok": True, "view": copy.deepcopy(obj)}


def update_view(ws: WorkspaceState, view_id: str, view: dict[str, Any]) -> Result:
    with ws.lock:
        old = ws.views[view_id]
        view = {"external_id": old["external_id"], **view}  # an update without one keeps it
        obj = _view_object(ws, view, view_id, old["root_view_id"], old["previous_view_id"])
        ws.views[view_id] = obj
        ws.view_errors.pop(view_id, None)
        ws.emit("view_updated", user=ws.view_owner[view_id], view=obj)
        return {"ok": True, "view": copy.deepcopy(obj)}


def views_open(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        user, code = ws.use_trigger(p.get("trigger_id"))
        if user is None:
            return error(code or "invalid_trigger_id")
        view, err = _checked_view(p)
        if err or view is None:
            return err or error("invalid_arguments")
        return open_view(ws, user, view, push=False)


def views_push(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        user, code = ws.use_trigger(p.get("trigger_id"))
        if user is None:
            return error(code or "invalid_trigger_id")
        view, err = _checked_view(p)
        if err or view is None:
            return err or error("invalid_arguments")
        return open_view(ws, user, view, push=True)


def views_update(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        view_id = p.get("view_id")
        if not view_id and p.get("external_id"):
            view_id = next((v for v, o in ws.views.items() if o.get("external_id") == p["external_id"]), None)
        if not view_id or view_id not in ws.views:
            return error("not_found")
        if p.get("hash") and p["hash"] != ws.views[view_id]["hash"]:
            return error("hash_conflict")
        view, err = _checked_view(p)
        if err or view is None:
            return err or error("invalid_arguments")
        return update_view(ws, view_id, view)


# --- files ------------------------------------------------------------------------------------------------


def files_get_upload_url_external(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        filename = p.get("filename")
        length = p.get("length")
        if not filename or length is None:
            return error("invalid_arguments")
        file_id = ws.next_id("F")
        ws.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "size": int(length),
            "uploaded": False,
            "completed": False,
        }
        return {"ok": True, "upload_url": f"{base_url}/upload/{file_id}", "file_id": file_id}


def files_complete_upload_external(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        entries = p.get("files")
        if not isinstance(entries, list) or not entries:
            return error("invalid_arguments")
        done: list[dict[str, Any]] = []
        for entry in entries:
            info = ws.files.get(entry.get("id", ""))
            if info is None or not info["uploaded"]:
                return error("file_not_found")
            done.append(info)
        channel = None
        if p.get("channel_id") or p.get("channels"):
            channel = ws.resolve_channel(p.get("channel_id") or str(p["channels"]).split(",")[0])
            if channel is None:
                return error("channel_not_found")
        public: list[dict[str, Any]] = []
        for entry, info in zip(entries, done, strict=True):
            info["title"] = entry.get("title") or info["name"]
            info["completed"] = True
            info["url_private"] = f"{base_url}/files/{info['id']}/{info['name']}"
            info["url_private_download"] = info["url_private"]
            info["permalink"] = info["url_private"]
            info["user"] = BOT_USER_ID
            info["created"] = int(ws.now_s())
            info["channels"] = [channel] if channel else []
            public.append({k: v for k, v in info.items() if k not in ("uploaded", "completed")})
        if channel is not None:
            message = ws.bot_message(text=p.get("initial_comment") or "", blocks=None, ts=ws.next_ts())
            message["files"] = copy.deepcopy(public)
            if p.get("thread_ts"):
                message["thread_ts"] = p["thread_ts"]
            ws.post_message(channel, message)
        return {"ok": True, "files": copy.deepcopy(public)}


def files_info(ws: WorkspaceState, p: Params, base_url: str) -> Result:
    with ws.lock:
        info = ws.files.get(p.get("file") or "")
        if info is None or not info["completed"]:
            return error("file_not_found")
        return {"ok": True, "file": {k: v for k, v in info.items() if k not in ("uploaded", "completed")}}


METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.delete": chat_delete,
    "chat.getPermalink": chat_get_permalink,
    "reactions.add": reactions_add,
    "conversations.open": conversations_open,
    "conversations.info": conversations_info,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "apps.connections.open": apps_connections_open,
    "users.info": users_info,
    "usergroups.users.list": usergroups_users_list,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "files.info": files_info,
}

# Params Slack clients send as JSON strings inside form bodies.
JSON_PARAMS = ("blocks", "attachments", "view", "files", "metadata")


def decode_params(raw: dict[str, Any]) -> Params:
    """Parse JSON-in-a-form-field params into lists/dicts; leave anything unparseable as sent."""
    params = dict(raw)
    for key in JSON_PARAMS:
        value = params.get(key)
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(value)
    return params
