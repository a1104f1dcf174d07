"""Masking of safety-alert drafts (helpline.console.alert_masking): phone
numbers, Dutch licence plates and e-mail addresses partly hidden, the
reporter's pseudonym removed, ordinary text (dates, times, postcodes) kept."""

from __future__ import annotations

import pytest

from helpline.console.alert_masking import mask


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("06-12345678", "06-1234****"),
        ("0612345678", "061234****"),
        ("+31 6 1234 5678", "+31 6 1234 ****"),
        ("+31612345678", "+3161234****"),
        ("0031612345678", "003161234****"),
        ("013-1234567", "013-123****"),
        ("06 12 34 56 78", "06 12 34 ** **"),
    ],
)
def test_phone_numbers_keep_all_but_the_last_four_digits(text: str, masked: str) -> None:
    assert mask(f"belde met {text}.") == f"belde met {masked}."


@pytest.mark.parametrize(
    ("plate", "masked"),
    [
        ("AB-12-CD", "AB-**-**"),  # sidecode 4
        ("12-ABC-3", "12-***-*"),  # 7
        ("1-ABC-23", "1-***-**"),  # 8
        ("GZ-123-X", "GZ-***-*"),  # 9
        ("XYZ-12-A", "XYZ-**-*"),  # 11
        ("gz123x", "gz****"),  # no separators, lower case
        ("AB 12 CD", "AB ** **"),
    ],
)
def test_dutch_licence_plates_keep_the_first_group(plate: str, masked: str) -> None:
    assert mask(f"reed in een {plate} weg") == f"reed in een {masked} weg"


def test_email_addresses_keep_one_letter_and_the_top_level_domain() -> None:
    assert mask("mail: jan.jansen+x@example.co.nl") == "mail: j***@***.nl"


def test_the_reporters_pseudonym_is_removed_in_any_case() -> None:
    assert mask("tulp-47 zag hem, Tulp-47 ook", ("Tulp-47",)) == "[...] zag hem, [...] ook"


@pytest.mark.parametrize(
    "text",
    ["om 14:30 op 12-03-2026", "bij postcode 1234 AB", "hij was 1.85 m", "kamer 12",
     "ABCDEF", "123456"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask(text) == text
