"""Urgent words: violence, rape, threats, trafficking, suicide, "112".

A false alarm costs a peer a minute; a missed one can cost much more, so every
supported language is checked whatever the texter's language is. Words are
matched on folded whole words (`routing.text.words`); a policy word ending in
"*" matches as a prefix ("verkracht*" matches "verkrachting"), and a word of
several parts matches those words in sequence ("human trafficking").
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from routing.text import words


# Policy words are few and fixed; folding them once instead of per message
# keeps urgency checks off the intake's hot path.
@lru_cache(maxsize=4096)
def _pattern(word: str) -> tuple[tuple[str, ...], bool]:
    prefix = word.endswith("*")
    return words(word.rstrip("*")), prefix


def _matches(text_words: tuple[str, ...], pattern: tuple[str, ...], prefix: bool) -> bool:
    if not pattern:
        return False
    n = len(pattern)
    for i in range(len(text_words) - n + 1):
        window = text_words[i : i + n]
        if window[:-1] != pattern[:-1]:
            continue
        last, want = window[-1], pattern[-1]
        if last == want or (prefix and last.startswith(want)):
            return True
    return False


def is_urgent(text: str | None, urgent_words: Iterable[str]) -> bool:
    if not text:
        return False
    text_words = words(text)
    return any(_matches(text_words, *_pattern(w)) for w in urgent_words)
