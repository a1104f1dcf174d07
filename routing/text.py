"""Text normalisation shared by commands and urgency matching.

Texters type on phones in six languages, with or without accents, in any case,
often with a trailing "!" or an emoji. Matching on a normalised form means
"Vergeet mij!", "VERGEET MIJ" and "vergeet  mij" all mean the same command.
"""

from __future__ import annotations

import re
import unicodedata

# Any run of characters that is not a letter or digit separates words. `\w`
# also matches "_", which no command uses, so it is treated as a separator too.
_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Casefold and strip accents: "Usuń" -> "usun", "Șterge" -> "sterge".

    NFKD splits letters from their combining marks, which are then dropped. The
    same function is applied to keywords, so Bulgarian "й" (which decomposes to
    "и" + breve) still matches itself.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> tuple[str, ...]:
    """The folded words of `text`, punctuation and emoji removed."""
    return tuple(w for w in _SEPARATORS.split(fold(text)) if w)


def phrase(text: str) -> str:
    """The folded words joined by single spaces: the form commands are compared in."""
    return " ".join(words(text))


def single_line(text: str) -> str | None:
    """The one non-empty line of `text`, or None when it has several.

    Commands count only when alone on a line, and only when that line is the whole
    message: "he said\\nSTOP\\nbut went on" must reach a peer, not stop the line.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        return None
    return lines[0]
