"""Local Slack sandbox: an emulated Slack workspace the bot can talk to, and a driver acting as its users."""

from bot.sandbox.driver import NotOnScreen, request_headers, sign
from bot.sandbox.emulator import RESET, RecordedCall, SlackEmulator

__all__ = ["RESET", "NotOnScreen", "RecordedCall", "SlackEmulator", "request_headers", "sign"]
