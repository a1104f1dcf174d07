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


@lru_cache(maxsize=64)
def _matcher(
    urgent_words: tuple[str, ...],
) -> tuple[frozenset[str], tuple[str, ...], tuple[tuple[tuple[str, ...], bool], ...]]:
    """One-word patterns as a set and a prefix tuple, checked once per text
    word; only patterns of several words are slid over the text."""
    exact: set[str] = set()
    prefixes: list[str] = []
    phrases: list[tuple[tuple[str, ...], bool]] = []
    for word in urgent_words:
        pattern, prefix = _pattern(word)
        if len(pattern) > 1:
            phrases.append((pattern, prefix))
        elif pattern and prefix:
            prefixes.append(pattern[0])
        elif pattern:
            exact.add(pattern[0])
    return frozenset(exact), tuple(prefixes), tuple(phrases)


def is_urgent(text: str | None, urgent_words: Iterable[str]) -> bool:
    if not text:
        return False
    text_words = words(text)
    exact, prefixes, phrases = _matcher(tuple(urgent_words))
    if any(w in exact or w.startswith(prefixes) for w in text_words):
        return True
    return any(_matches(text_words, pattern, prefix) for pattern, prefix in phrases)
