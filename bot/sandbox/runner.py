"""`deploybot sandbox` (and `make run` without Slack tokens): the bot, a Slack emulator with a web page that
looks like a Slack channel, and a demo service to deploy, all on 127.0.0.1 in one process."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from bot.sandbox.config import BOT_TOKEN, CHANNEL_ID, CHANNEL_NAME, PEOPLE, SERVICE, SIGNING_SECRET, sandbox_config
from bot.sandbox.demo_service import DemoService
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.web import SandboxWeb
from bot.settings import build_settings
from bot.stack import BotStack
from bot.store.migrate import upgrade

log = logging.getLogger(__name__)
DEFAULT_PORT = 3001


class Sandbox:
    """Emulator + page, demo service and bot. `start()` then `url`; `stop()` stops all of them."""

    def __init__(
        self,
        database_url: str,
        *,
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        state_file: str | Path | None = None,
        traffic_rps: float = 0.0,
    ) -> None:
        self.database_url = database_url
        self.demo = DemoService(job=SERVICE, traffic_rps=traffic_rps)
        self.emu = SlackEmulator(
            signing_secret=SIGNING_SECRET, state_file=state_file, valid_tokens={BOT_TOKEN}, host=host, port=port
        )
        self.web: SandboxWeb | None = None
        self.stack: BotStack | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        return f"{self.emu.base_url}/"

    def start(self) -> Sandbox:
        upgrade(self.database_url)
        try:
            self.demo.start()
            for person in PEOPLE:
                self.emu.add_user(person.user_id, person.name, person.real_name)
            self.emu.add_channel(CHANNEL_ID, CHANNEL_NAME)
            self.web = SandboxWeb(self.emu, PEOPLE, self.demo.url)
            self.emu.web = self.web.handle
            self.emu.start()
            env = {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": self.emu.api_url,
                "DATABASE_URL": self.database_url,
            }
            settings = build_settings(sandbox_config(self.demo.url), env)
            self.stack = BotStack(settings, host="127.0.0.1", port=0)
            self.stack.start()
            self.emu.bot_url = f"{self.stack.url}/slack/events"
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.web is not None:
            self.web.close()
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        self.emu.stop()
        self.demo.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploybot sandbox", description="Deploy Bot against a local Slack")
    parser.add_argument("--port", type=int, help="page port (default SANDBOX_PORT or 3001; 0 picks a free one)")
    parser.add_argument("--state-file", help="keep the conversation in this JSON file across restarts")
    return parser


def run_sandbox(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = _parser().parse_args([] if argv is None else list(argv))
    port = args.port if args.port is not None else int(env.get("SANDBOX_PORT", "").strip() or DEFAULT_PORT)
    state_file = args.state_file or env.get("SANDBOX_STATE_FILE", "").strip() or None
    database_url = env.get("DATABASE_URL", "").strip() or f"sqlite:///{Path.cwd() / 'deploybot.db'}"

    from bot.logging_setup import configure_logging

    configure_logging(env.get("LOG_LEVEL", "WARNING"), [BOT_TOKEN, SIGNING_SECRET])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sandbox = Sandbox(database_url, port=port, state_file=state_file, traffic_rps=1.0)
    try:
        sandbox.start()
    except OSError as exc:
        print(f"Cannot start the sandbox on port {port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        print(f"Deploy Bot sandbox: demo service {sandbox.demo.url}, bot {sandbox.emu.bot_url}", flush=True)
        print(f"Open {sandbox.url} in your browser (Ctrl-C stops everything)", flush=True)
        stop.wait()
    finally:
        sandbox.stop()
    print("Sandbox stopped.", flush=True)
    return 0
