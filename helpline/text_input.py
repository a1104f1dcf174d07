"""Text that console users write, checked at the edge.

A JSON body may carry escapes that decode to a lone UTF-16 surrogate
("\\ud800"): Python holds it in a str, but it has no UTF-8 form, so storing
it made every later page and answer of that conversation fail. Control
characters other than tab and newline have no place in a note or a reply
either (they hide text in a terminal or a log viewer). Such input is
refused with 422 before anything is stored; `renderable` is the second
line of defence for anything already stored.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: str) -> str:
    if _LONE_SURROGATE.search(value):
        raise ValueError("the text holds an invalid character (a lone surrogate)")
    if _CONTROL.search(value):
        raise ValueError("the text holds a control character")
    return value


def renderable(value: str) -> str:
    """Stored text made safe to encode, whatever it holds."""
    return _LONE_SURROGATE.sub("\ufffd", value)


UserText = Annotated[str, AfterValidator(check_text)]
