from __future__ import annotations

import io
import os

import pytest

from helpline import crypto
from helpline.crypto import BlindIndex, KeyRing, normalise_identifier

KEY = os.urandom(32)


def test_sealed_text_round_trips_exactly() -> None:
    text = "Hoi 👋🏽 \u202eRTL\u202c\u200d zero\x00NUL \ud800 lone surrogate"
    env = crypto.seal_text(KEY, text, table="messages", column="body", row_id="m1")
    assert crypto.open_text(KEY, env, table="messages", column="body", row_id="m1") == text


def test_nonces_are_random_so_equal_texts_differ() -> None:
    a = crypto.seal_text(KEY, "same", table="t", column="c", row_id="r")
    b = crypto.seal_text(KEY, "same", table="t", column="c", row_id="r")
    assert a != b
    assert a[1:13] != b[1:13]


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [("notes", "body", "m1"), ("messages", "note", "m1"), ("messages", "body", "m2")],
)
def test_ciphertext_moved_to_another_row_fails_to_decrypt(
    table: str, column: str, row_id: str
) -> None:
    env = crypto.seal_text(KEY, "secret", table="messages", column="body", row_id="m1")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_text(KEY, env, table=table, column=column, row_id=row_id)


def test_wrong_key_fails_closed() -> None:
    env = crypto.seal_text(KEY, "secret", table="t", column="c", row_id="r")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_text(os.urandom(32), env, table="t", column="c", row_id="r")


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])
def test_flipped_byte_fails_closed(position: int) -> None:
    env = bytearray(crypto.seal_text(KEY, "secret", table="t", column="c", row_id="r"))
    env[position] ^= 0x01
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_text(KEY, bytes(env), table="t", column="c", row_id="r")


def test_unknown_envelope_version_fails_closed() -> None:
    env = crypto.seal_text(KEY, "secret", table="t", column="c", row_id="r")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_text(KEY, b"\x02" + env[1:], table="t", column="c", row_id="r")


def test_wrapped_key_names_its_master_key_and_opens_after_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    dek = crypto.new_data_key()
    wrapped = KeyRing(old).wrap(dek, "k1")
    assert KeyRing.wrapped_by(wrapped) == crypto.master_key_id(old)
    ring = KeyRing(new, previous=old)
    assert ring.unwrap(wrapped, "k1") == dek
    rewrapped = ring.wrap(dek, "k1")
    assert KeyRing.wrapped_by(rewrapped) == crypto.master_key_id(new)
    assert KeyRing(new).unwrap(rewrapped, "k1") == dek
    with pytest.raises(crypto.UnknownMasterKey):
        KeyRing(new).unwrap(wrapped, "k1")


def test_wrapped_key_is_bound_to_its_row() -> None:
    ring = KeyRing(os.urandom(32))
    wrapped = ring.wrap(crypto.new_data_key(), "k1")
    with pytest.raises(crypto.DecryptionFailed):
        ring.unwrap(wrapped, "k2")


@pytest.mark.parametrize(
    "form",
    ["+31 6 1234 5678", "0031612345678", "0612345678", "06-12345678", "31612345678",
     "+31612345678", "(06) 1234 5678"],
)
def test_every_form_of_a_dutch_number_gives_one_blind_index(form: str) -> None:
    index = BlindIndex(KEY)
    assert index.compute("whatsapp", form) == index.compute("whatsapp", "31612345678")


def test_signal_uuids_are_lowercased() -> None:
    index = BlindIndex(KEY)
    upper = "A1B2C3D4-0000-4000-8000-00000000ABCD"
    assert index.compute("signal", upper) == index.compute("signal", upper.lower())


def test_blind_index_depends_on_the_key_and_hides_the_number() -> None:
    a = BlindIndex(KEY).compute("whatsapp", "31612345678")
    b = BlindIndex(os.urandom(32)).compute("whatsapp", "31612345678")
    assert a != b
    assert "612345678" not in a


def test_business_scoped_user_id_is_kept_as_given() -> None:
    assert normalise_identifier("NL.1234567890abcdef") == "NL.1234567890abcdef"


def test_nothing_secret_in_repr() -> None:
    ring = KeyRing(KEY)
    assert KEY.hex() not in repr(ring)
    assert "***" in repr(BlindIndex(KEY))


def test_a_streamed_envelope_is_the_same_envelope_and_fails_closed() -> None:
    key = crypto.new_data_key()
    plaintext = os.urandom(3 * 1024 * 1024 + 17)  # several chunks and a ragged end
    out = io.BytesIO()
    crypto.seal_to(out, key, plaintext, table="media", column="blob", row_id="r1/f")
    envelope = out.getvalue()
    assert crypto.open_sealed(key, envelope, table="media", column="blob",
                               row_id="r1/f") == plaintext
    opened = crypto.open_from(io.BytesIO(envelope), len(envelope), key, table="media",
                               column="blob", row_id="r1/f")
    assert opened == plaintext
    tampered = bytearray(envelope)
    tampered[2_000_000] ^= 1
    for data, row in ((bytes(tampered), "r1/f"), (envelope, "r2/f"), (envelope[:-1], "r1/f")):
        with pytest.raises(crypto.DecryptionFailed):
            crypto.open_from(io.BytesIO(data), len(data), key, table="media",
                              column="blob", row_id=row)
