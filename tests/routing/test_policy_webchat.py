"""The policy file's [webchat] table: the chat page's neutral title, icon and
Quick exit address, checked when the file is loaded."""

from __future__ import annotations

import pytest

from routing.model import WebChatLook
from routing.policy_file import PolicyFileError, default_policy, load_policy


def test_the_default_look_is_neutral() -> None:
    assert default_policy().webchat == WebChatLook(
        title="Notes", exit_url="https://www.buienradar.nl/", favicon="notes")


def test_a_file_without_the_table_gets_the_defaults() -> None:
    assert load_policy("").webchat == WebChatLook()


def test_the_table_sets_title_icon_and_exit() -> None:
    look = load_policy('[webchat]\ntitle = " Recepten "\nfavicon = "leaf"\n'
                       'exit_url = "https://www.example.org/weer?x=1"\n').webchat
    assert look == WebChatLook(title="Recepten", exit_url="https://www.example.org/weer?x=1",
                               favicon="leaf")


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ('[webchat]\nexit_url = "javascript:alert(1)"', "webchat.exit_url"),
        ('[webchat]\nexit_url = "http://example.org/"', "webchat.exit_url"),
        ('[webchat]\nexit_url = "https://x.org/\\"onload=1"', "webchat.exit_url"),
        ('[webchat]\nfavicon = "skull"', "webchat.favicon"),
        ('[webchat]\ntitle = ""', "webchat.title"),
        ('[webchat]\ntitle = "' + "x" * 61 + '"', "webchat.title"),
        ('[webchat]\ncolour = "red"', "webchat.colour"),
        ('webchat = "yes"', "webchat"),
    ],
)
def test_a_wrong_entry_names_where_it_is(table: str, where: str) -> None:
    with pytest.raises(PolicyFileError, match=where):
        load_policy(table)
