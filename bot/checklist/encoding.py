"""Bytes to template text: strict UTF-8, plus repair of UTF-8 that was once decoded as Mac Roman/cp1252.

A template pasted through a tool that read UTF-8 as Mac Roman turns "🔒" into "üîí". Such text is still
valid UTF-8, so decoding cannot catch it; we repair it run by run (ftfy's idea, kept small): a run of
non-ASCII characters is re-encoded with the suspected codec and decoded as UTF-8, and the result is kept
only when that succeeds and clearly looks less garbled. Real non-ASCII text almost never re-encodes to valid
UTF-8 multibyte sequences, and never gets *less* garbled doing so.
"""

from __future__ import annotations

import re
import unicodedata

from bot.checklist.errors import TemplateError

# Codecs whose mis-decoding of UTF-8 we undo. Mac Roman first: that is what the seed file suffered.
MOJIBAKE_CODECS: tuple[str, ...] = ("mac_roman", "cp1252")

_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# Characters that appear when UTF-8 lead bytes are shown as Mac Roman or cp1252, and rarely otherwise.
_EMOJI_MARKS = frozenset("\ufe0e\ufe0f\u20e3")  # variation selectors, keycap: part of emoji
_MARKERS = frozenset("‚„†‡‰ƒ◊⁄ıˆ˜¯˘˙˚¸˝˛ˇﬁﬂ¶•¨´∏πΩ√≈∆ÃÂâ€ðŸ¤¦ª²³¹º¼½¾Ð")


def decode_utf8(data: bytes, *, path: str = "<template>") -> str:
    """Strict UTF-8 (a leading BOM is dropped); an invalid byte is reported with its offset and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TemplateError(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason}); "
            "save the file as UTF-8",
            path=path,
            line=line,
        ) from None


def garble_score(text: str) -> int:
    """How garbled text looks: marker characters, private use (Mac Roman's Apple logo), C1 controls."""
    score = 0
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in _MARKERS or cat in ("Co", "Sm") or (cat == "Cc" and ch not in "\t\n\r"):
            score += 1
    return score


def _repair_score(text: str) -> int:
    # A repair that leaves bare combining marks behind (the wrong codec) is no repair.
    loose_marks = sum(1 for ch in text if unicodedata.category(ch) == "Mn" and ch not in _EMOJI_MARKS)
    return garble_score(text) + loose_marks


def _repair_run(run: str) -> str:
    before = garble_score(run)
    if before == 0:
        return run
    best, best_score = run, before
    for codec in MOJIBAKE_CODECS:
        try:
            fixed = run.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if any(unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs") for ch in fixed):
            continue
        score = _repair_score(fixed)
        if score < best_score:
            best, best_score = fixed, score
    return best


def repair_mojibake(text: str) -> tuple[str, tuple[int, ...]]:
    """Undo UTF-8-read-as-Mac-Roman/cp1252 garbling. Returns the text and the 1-based lines changed.

    Works per line and per run of non-ASCII characters, so a file that is only partly garbled (or has
    correct emoji elsewhere) is repaired where needed and left alone elsewhere; line numbers do not move.
    """
    lines = text.split("\n")
    changed: list[int] = []
    for number, line in enumerate(lines, start=1):
        if line.isascii():
            continue
        fixed = _NON_ASCII_RUN.sub(lambda m: _repair_run(m.group(0)), line)
        if fixed != line:
            lines[number - 1] = fixed
            changed.append(number)
    return "\n".join(lines), tuple(changed)
