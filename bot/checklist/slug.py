"""Stable keys from human titles: emoji and punctuation dropped, words joined by hyphens."""

from __future__ import annotations

import unicodedata


def slugify(text: str) -> str:
    """ "🔒 Pre-Deployment Security Requirements" -> "pre-deployment-security-requirements".

    Accented Latin letters fold to ASCII ("Café" -> "cafe"); letters with no ASCII form (CJK, Cyrillic) are
    kept so such titles still get a usable key.
    """
    words: list[str] = []
    current: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        folded = _ascii_fold(ch)
        if (folded.isascii() and folded.isalnum()) or (not folded.isascii() and folded.isalpha()):
            current.append(folded)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return "-".join(words)


def _ascii_fold(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if base.isascii() and base else ch
