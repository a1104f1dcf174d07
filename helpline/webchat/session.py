"""The visitor's session cookie and the optional proof of work.

The cookie holds `secrets.token_urlsafe(32)` (256 random bits). It is the only
thing that ties a browser to its conversation, so it is `HttpOnly` (no script
can read it, ours included), `Secure`, `SameSite=Strict` (never sent with a
request another site starts) and scoped to `/chat`. It lives as long as the
conversation's retention, renewed with each message, and is cleared when the
visitor deletes the chat.

What the helpline keeps is `visitor_id(token)`, a keyed hash under the
helpline's index key; intake then stores only the blind index of that, like a
phone number's. Neither the database nor a backup can give the token back.

Each helpline's page (`/chat` for the default one, `/chat/{slug}` for the
others) has a cookie of its own (`cookie_name`), and the visitor id is keyed
by that helpline's index key: a browser that chats with two regions is two
unrelated visitors, its "Delete this chat" on one page leaves the other alone,
and a reply on one page can never be pushed into the other's stream.

Proof of work (HELPLINE_WEBCHAT_POW_BITS > 0): before the first message the
page fetches a challenge, a random nonce and an expiry signed with a keyed
hash (nothing stored), and finds a counter such that SHA-256 of
`challenge:counter` starts with that many zero bits. A solved challenge opens
one chat; the used ones are remembered in memory until they expire.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict

from helpline.crypto import BlindIndex
from helpline.errors import HelplineError

COOKIE = "helpline_chat"
COOKIE_PATH = "/chat"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
CHALLENGE_SECONDS = 300
_CHALLENGE_RE = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{16})\.([0-9a-f]{32})$")


class ProofRequired(HelplineError):
    status_code = 403
    public_message = "The page has to finish a short check first. Reload the page and try again."


def new_token() -> str:
    return secrets.token_urlsafe(32)


def valid_token(value: str | None) -> str | None:
    return value if value is not None and TOKEN_RE.match(value) else None


def visitor_id(index: BlindIndex, token: str) -> str:
    return index.tag("webchat-session", token)


def cookie_name(slug: str | None) -> str:
    """The default helpline's page keeps the name it always had."""
    return COOKIE if slug is None else f"{COOKIE}_{slug}"


def cookie_header(token: str, *, max_age: int, secure: bool, name: str = COOKIE) -> str:
    parts = [f"{name}={token}", f"Path={COOKIE_PATH}", f"Max-Age={max_age}", "HttpOnly",
             "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clearing_header(*, secure: bool, name: str = COOKIE) -> str:
    return cookie_header("", max_age=0, secure=secure, name=name)


class ProofOfWork:
    def __init__(self, index: BlindIndex, bits: int) -> None:
        self.index = index
        self.bits = bits
        self._used: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def challenge(self, now: float | None = None) -> str:
        expires = int((now or time.time()) + CHALLENGE_SECONDS)
        nonce = secrets.token_urlsafe(12)
        return f"{expires}.{nonce}.{self._sign(expires, nonce)}"

    def _sign(self, expires: int, nonce: str) -> str:
        return self.index.tag("webchat-pow", f"{expires}.{nonce}.{self.bits}")[:32]

    def check(self, challenge: str | None, counter: str | None,
              now: float | None = None) -> None:
        """Raise ProofRequired unless this is a fresh, solved, unused challenge."""
        if self.bits == 0:
            return
        moment = now or time.time()
        match = _CHALLENGE_RE.match(challenge or "")
        if match is None or counter is None or not counter.isdigit() or len(counter) > 12:
            raise ProofRequired()
        expires, nonce, signature = int(match[1]), match[2], match[3]
        if expires < moment or not hmac.compare_digest(signature, self._sign(expires, nonce)):
            raise ProofRequired()
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if int.from_bytes(digest, "big") >> (256 - self.bits) != 0:
            raise ProofRequired()
        with self._lock:
            for old, until in list(self._used.items()):
                if until >= moment:
                    break
                del self._used[old]
            if nonce in self._used:
                raise ProofRequired()
            self._used[nonce] = expires
