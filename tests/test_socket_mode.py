"""`deploybot run` with SLACK_APP_TOKEN set serves Slack over Socket Mode: it asks apps.connections.open for a
WebSocket, takes slash commands from it and acknowledges them with their reply, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from bot.sandbox import SlackEmulator
from tests.e2e import CHANNEL, SECRET, TOKEN, eventually
from tests.fakes.socket_mode import FakeSocketMode

APP_TOKEN = "xapp-1-A0SANDBOX-socket"


def test_deploybot_run_serves_slash_commands_over_socket_mode(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "deploybot.yaml").write_text(f"channel: {CHANNEL}\n")
    with SlackEmulator(signing_secret=SECRET) as emu, FakeSocketMode() as socket:
        emu.add_user("URM", "rita")
        emu.state.socket_mode_url = socket.url
        env = {
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,  # Socket Mode: no signing secret needed
            "SLACK_API_URL": emu.api_url,
            "DEPLOYBOT_CONFIG": str(tmp_path / "deploybot.yaml"),
            "PORT": "0",
        }
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert socket.connected.wait(30), "deploybot never opened the Socket Mode connection"
            command = {
                "team_id": "T0SANDBOX",
                "channel_id": CHANNEL,
                "user_id": "URM",
                "user_name": "rita",
                "command": "/deploy",
                "text": "start payments-api 1.4.2",
                "api_app_id": "A0SANDBOX",
                "response_url": emu.issue_response_url("URM", CHANNEL),
                "trigger_id": emu.issue_trigger("URM"),
            }
            envelope = socket.send("slash_commands", command)
            answer = socket.answer_to(envelope)
            assert answer["payload"]["response_type"] == "ephemeral"
            assert answer["payload"]["text"].startswith("Started run #1: payments-api 1.4.2 → production.")
            eventually(lambda: len(emu.messages(CHANNEL)) >= 10, timeout=20)  # the parent and 9 sections
        finally:
            bot.send_signal(signal.SIGTERM)
            out, err = bot.communicate(timeout=30)
        assert bot.returncode == 0, err
        assert "Socket Mode" in err
        # no approvers configured: the operator is warned that anyone may sign
        assert "no `approvers` entry, so anyone may sign them: security-team, devops-team, lead-developer" in err
        assert TOKEN not in out + err and APP_TOKEN not in out + err
        assert [c.method for c in emu.calls if c.method == "apps.connections.open"] == ["apps.connections.open"]
        assert emu.warnings == []
