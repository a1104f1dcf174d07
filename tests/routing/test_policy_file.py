"""The policy file: the built-in default is the example, and mistakes name their place."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from routing.policy_file import (
    PolicyFileError,
    default_policy,
    default_policy_text,
    load_policy,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.toml"


def test_example_file_is_the_built_in_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text == default_policy_text()
    assert load_policy(text) == default_policy()


def test_default_policy_is_complete() -> None:
    policy = default_policy()
    assert policy.languages == ("nl", "en", "es", "ro", "bg", "pl")
    assert [p.id for p in policy.partners] == ["pmw", "ggd"]
    assert policy.menu == {"social_work": "pmw", "sexual_health": "ggd"}
    assert policy.consent_timeout == timedelta(hours=24)
    for code in policy.languages:
        assert "112" in policy.emergency[code]
        assert "112" in policy.urgent_words[code] or code != "nl"
        for partner in policy.partners:
            assert partner.name[code]
            assert partner.description[code]
            assert partner.hours[code]


def test_minimal_file_uses_defaults() -> None:
    policy = load_policy("")
    assert policy.default_language == "nl"
    assert policy.partners == ()


def test_minutes_timeout() -> None:
    assert load_policy("consent_timeout_minutes = 90").consent_timeout == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention_days = \n", "line 1"),
        ('[hours]\nmon = ["10:00-16:00"\ntue = 1\n', "line 3"),
        ('[hours]\nmon = ["10:00-16:00"\n', "end of document, line 3"),
        ("retention_days = -1", "retention_days: must be at least 0"),
        ("retention_days = true", "retention_days: expected an integer"),
        ('retention_days = "30"', "retention_days: expected int"),
        ("colour = 1", "colour: unknown key"),
        ('[hours]\nmon = ["10-16"]', "hours.mon[0]"),
        ('[hours]\ntue = ["16:00-10:00"]', "closes before it opens"),
        ('[hours]\nwed = ["25:00-26:00"]', "not a time of day"),
        ('[hours]\nmonday = ["10:00-16:00"]', "hours.monday: unknown key"),
        ('[hours]\nclosed = ["2026-12-25"]', "hours.closed[0]"),
        ('timezone = "Europe/Tilburg"', "unknown time zone"),
        ('languages = ["nl"]\ndefault_language = "en"', "default_language"),
        ('[menu]\nsexual_health = "ggd"', "menu.sexual_health: no partner"),
        ('[[partners]]\nid = "GGD"\nname = {nl = "GGD"}', "partners[0].id"),
        ('[[partners]]\nid = "ggd"', "partners[0]: a partner needs id and name"),
        ('[[partners]]\nid = "ggd"\nname = {xx = "GGD"}', "partners[0].name.xx: unknown language"),
        (
            '[[partners]]\nid = "ggd"\nname = {nl = "A"}\n'
            '[[partners]]\nid = "ggd"\nname = {nl = "B"}',
            "partners[1].id: duplicate",
        ),
        ("[urgent_words]\nnl = [1]", "urgent_words.nl: expected a list of strings"),
        ("consent_timeout_hours = 1\nconsent_timeout_minutes = 5", "not both"),
        ("consent_timeout_hours = 0", "must be positive"),
        ('sign_replies_with_alias = "yes"', "expected true or false"),
        ('read_receipts = 1', "read_receipts: expected true or false"),
        ("[emergency]\nnl = 112", "emergency.nl: expected a string"),
        ('[place]\nxx = "in Tilburg"', "place.xx: unknown language"),
        ("[place]\nnl = 1", "place.nl: expected a string"),
    ],
)
def test_malformed_file_names_where_and_what(text: str, message: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        load_policy(text)
    assert message in str(caught.value)


def test_a_region_names_its_own_place_and_may_leave_a_language_out() -> None:
    policy = load_policy('[place]\nnl = "in Zeeland"\npl = "w Zelandii"\n')
    assert policy.place == {"nl": "in Zeeland", "pl": "w Zelandii"}
    assert load_policy("").place == {}

