"""`/deploy ...` text to a command: reasons are kept exactly as typed; names and run numbers are checked."""

from __future__ import annotations

import pytest

from bot.commands import Command, parse
from bot.errors import UserError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abort 12 we can't ship", Command("abort", run="12", text="we can't ship")),
        ('abort the "canary" failed', Command("abort", text='the "canary" failed')),
        ("abort #7   two  spaces kept ", Command("abort", run="#7", text="two  spaces kept")),
        ("deployed --override it's fine", Command("deployed", options={"override": "it's fine"})),
        (
            "deployed 3 --override a 'quoted' reason",
            Command("deployed", run="3", options={"override": "a 'quoted' reason"}),
        ),
        ("incident keys leaked in `logs` & <b>", Command("incident", text="keys leaked in `logs` & <b>")),
        ("STATUS 4", Command("status", run="4")),
        (
            "start api 1.0+build.5 eu-west/prod --template x",
            Command("start", args=("api", "1.0+build.5", "eu-west/prod"), options={"template": "x"}),
        ),
        ("", Command("help")),
    ],
)
def test_parse(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("abort 12", "Usage: `/deploy abort [RUN] REASON`"),
        ("incident", "Usage: `/deploy incident [RUN] TEXT`"),
        ("deployed 3 because", "Usage: `/deploy deployed [RUN] [--override REASON]`"),
        ("status 3 4", "Usage: `/deploy status [RUN]`"),
        ("start api 1.0 prod extra", "Usage: `/deploy start SERVICE VERSION"),
        ("start api ver$ion", "version `ver$ion` may hold only"),
    ],
)
def test_bad_commands_say_how_to_fix_them(text: str, says: str) -> None:
    with pytest.raises(UserError) as caught:
        parse(text)
    assert says in caught.value.message
