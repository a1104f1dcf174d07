"""Envelope encryption, the master key ring and the blind index.

Design (the threat each part answers):

* Every texter (and every console account) has its own random 256-bit data key
  (DEK). Message bodies, notes, reply addresses and TOTP secrets are sealed with
  AES-256-GCM under the owner's DEK. Destroying one DEK row makes everything of
  that person unreadable at once: erasure and retention do not depend on finding
  every copy of every row (backups included, as far as the key is concerned).
* DEKs are stored only wrapped (AES-256-GCM) by the master key, which lives
  outside the database. A stolen database or backup without the master key
  reveals no content. Each wrapped key carries the id of the master key that
  wrapped it, so `helpline keys rotate` can re-wrap in resumable batches while
  both keys are configured.
* Associated data binds each ciphertext to its table, column and row id (and
  each wrapped DEK to its key row): copying a ciphertext into another row, or
  another person's row, fails to decrypt instead of silently showing the wrong
  text to a volunteer.
* Nonces are 96 random bits from the OS for every seal; nothing is ever
  encrypted twice under a counter we could reset by restoring a backup.
* Envelopes start with a version byte; an unknown version, a wrong key, wrong
  associated data or a flipped byte all raise `DecryptionFailed` (fail closed).
* The blind index is HMAC-SHA256 under a separate index key over a normalised
  identifier. It lets intake find "the same texter again" without storing the
  number, and without a key that sits in the database a stolen copy cannot be
  searched for a known number. Pseudonyms are random, never derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from helpline.errors import HelplineError

ENVELOPE_VERSION = 1
WRAP_VERSION = 1
_NONCE = 12
_KEY_ID_LEN = 8


class CryptoError(HelplineError):
    status_code = 500
    public_message = "decryption failed"


class DecryptionFailed(CryptoError):
    """Wrong key, wrong associated data, tampered bytes or unknown version."""


class UnknownMasterKey(CryptoError):
    """A wrapped key names a master key that is not configured."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def master_key_id(master_key: bytes) -> str:
    """Short public identifier of a master key (HMAC, so it reveals nothing)."""
    return hmac.new(master_key, b"helpline master key id", hashlib.sha256).hexdigest()[:16]


def _aad(*parts: str) -> bytes:
    # Length-prefixed so ("ab", "c") and ("a", "bc") can never collide.
    out = bytearray(b"helpline")
    for part in parts:
        raw = part.encode()
        out += len(raw).to_bytes(2, "big") + raw
    return bytes(out)


class KeyRing:
    """The current master key and, during rotation, the previous one."""

    def __init__(self, current: bytes, previous: bytes | None = None) -> None:
        if len(current) != 32 or (previous is not None and len(previous) != 32):
            raise CryptoError("master keys must be 32 bytes")
        self._keys: dict[str, bytes] = {master_key_id(current): current}
        self.current_id = master_key_id(current)
        if previous is not None:
            self._keys.setdefault(master_key_id(previous), previous)

    def __repr__(self) -> str:
        return f"KeyRing(current_id={self.current_id!r}, keys=***)"

    def wrap(self, data_key: bytes, key_row_id: str) -> bytes:
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._keys[self.current_id]).encrypt(
            nonce, data_key, _aad("data_key", key_row_id)
        )
        return bytes([WRAP_VERSION]) + bytes.fromhex(self.current_id) + nonce + sealed

    def unwrap(self, wrapped: bytes, key_row_id: str) -> bytes:
        if len(wrapped) < 1 + _KEY_ID_LEN + _NONCE + 16 or wrapped[0] != WRAP_VERSION:
            raise DecryptionFailed("unsupported wrapped key")
        key_id = wrapped[1 : 1 + _KEY_ID_LEN].hex()
        master = self._keys.get(key_id)
        if master is None:
            raise UnknownMasterKey("wrapped under a master key that is not configured")
        nonce = wrapped[1 + _KEY_ID_LEN : 1 + _KEY_ID_LEN + _NONCE]
        try:
            return AESGCM(master).decrypt(
                nonce, wrapped[1 + _KEY_ID_LEN + _NONCE :], _aad("data_key", key_row_id)
            )
        except InvalidTag:
            raise DecryptionFailed("wrapped key does not open") from None

    @staticmethod
    def wrapped_by(wrapped: bytes) -> str:
        """The id of the master key that wrapped this key."""
        return wrapped[1 : 1 + _KEY_ID_LEN].hex()


def seal(data_key: bytes, plaintext: bytes, *, table: str, column: str, row_id: str) -> bytes:
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, _aad(table, column, row_id))
    return bytes([ENVELOPE_VERSION]) + nonce + sealed


_STREAM_CHUNK = 1024 * 1024
_TAG = 16


def seal_to(
    handle: BinaryIO, data_key: bytes, plaintext: bytes | bytearray, *, table: str,
    column: str, row_id: str,
) -> None:
    """Write the same envelope `seal` returns, encrypting a megabyte at a time:
    a 16 MB media file is never held a second time as ciphertext."""
    nonce = os.urandom(_NONCE)
    encryptor = Cipher(algorithms.AES(data_key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(_aad(table, column, row_id))
    handle.write(bytes([ENVELOPE_VERSION]) + nonce)
    view = memoryview(plaintext)
    for start in range(0, len(view), _STREAM_CHUNK):
        handle.write(encryptor.update(view[start : start + _STREAM_CHUNK]))
    handle.write(encryptor.finalize() + encryptor.tag)


def open_from(
    handle: BinaryIO, size: int, data_key: bytes, *, table: str, column: str, row_id: str
) -> bytearray:
    """Open an envelope of `size` bytes written by `seal_to` (or `seal`),
    reading a megabyte at a time. Nothing is returned before the tag checks."""
    if size < 1 + _NONCE + _TAG:
        raise DecryptionFailed("unsupported envelope")
    head = handle.read(1 + _NONCE)
    if head[0] != ENVELOPE_VERSION:
        raise DecryptionFailed("unsupported envelope")
    decryptor = Cipher(algorithms.AES(data_key), modes.GCM(head[1:])).decryptor()
    decryptor.authenticate_additional_data(_aad(table, column, row_id))
    remaining = size - 1 - _NONCE - _TAG
    out = bytearray(remaining)
    done = 0
    while done < remaining:
        chunk = handle.read(min(_STREAM_CHUNK, remaining - done))
        if not chunk:
            raise DecryptionFailed("envelope truncated")
        out[done : done + len(chunk)] = decryptor.update(chunk)
        done += len(chunk)
    try:
        decryptor.finalize_with_tag(handle.read(_TAG))
    except (InvalidTag, ValueError):
        raise DecryptionFailed("envelope does not open") from None
    return out


def open_sealed(data_key: bytes, envelope: bytes, *, table: str, column: str, row_id: str) -> bytes:
    if len(envelope) < 1 + _NONCE + 16 or envelope[0] != ENVELOPE_VERSION:
        raise DecryptionFailed("unsupported envelope")
    try:
        return AESGCM(data_key).decrypt(
            envelope[1 : 1 + _NONCE], envelope[1 + _NONCE :], _aad(table, column, row_id)
        )
    except InvalidTag:
        raise DecryptionFailed("envelope does not open") from None


def seal_text(data_key: bytes, text: str, *, table: str, column: str, row_id: str) -> bytes:
    # surrogatepass: a webhook may carry a lone surrogate escape; it must
    # round-trip exactly rather than crash intake or be silently altered.
    return seal(
        data_key, text.encode("utf-8", "surrogatepass"), table=table, column=column, row_id=row_id
    )


def open_text(data_key: bytes, envelope: bytes, *, table: str, column: str, row_id: str) -> str:
    raw = open_sealed(data_key, envelope, table=table, column=column, row_id=row_id)
    return raw.decode("utf-8", "surrogatepass")


_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def normalise_identifier(identifier: str, default_country_code: str = "31") -> str:
    """One canonical form per person-identifier.

    Phone numbers in any common form become international digits without `+`:
    `+31 6 1234 5678`, `0031612345678`, `0612345678`, `06-12345678` and
    `31612345678` all give `31612345678`. Signal UUIDs are lowercased. Anything
    else (a WhatsApp business-scoped user id) is kept as given, NFC-normalised.
    """
    value = unicodedata.normalize("NFC", identifier).strip()
    if _UUID.match(value):
        return value.lower()
    compact = _SEPARATORS.sub("", value)
    if re.fullmatch(r"\+?\d{6,17}", compact):
        if compact.startswith("+"):
            return compact[1:]
        if compact.startswith("00"):
            return compact[2:]
        if compact.startswith("0"):
            return default_country_code + compact[1:]
        return compact
    return value


@dataclass(frozen=True, repr=False)
class BlindIndex:
    key: bytes

    def __repr__(self) -> str:
        return "BlindIndex(***)"

    def compute(self, channel: str, identifier: str) -> str:
        """Keyed hash of (channel, identifier). The channel separates domains:
        the same number on WhatsApp and Signal is deliberately not linked."""
        # surrogatepass: a forged sender id with a lone surrogate ("\ud800" in
        # the webhook JSON) must hash, not crash intake with a 500.
        message = f"{channel}\x00{normalise_identifier(identifier)}".encode(
            "utf-8", "surrogatepass"
        )
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def tag(self, purpose: str, value: str) -> str:
        """Keyed hash for non-person values (provider message ids, addresses for
        throttling): lookup without keeping the raw value, which for WhatsApp
        message ids embeds the phone number in base64."""
        message = f"{purpose}\x00{value}".encode("utf-8", "surrogatepass")
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()
