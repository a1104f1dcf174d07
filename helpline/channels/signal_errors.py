"""What a failed send to signal-cli-rest-api means for the outbox: retry,
pause the channel, or fail the message. signal-cli reports most failures as
a 400 with an error text, so the texts are matched (never passed on: they
carry the recipient's number).

https://bbernhard.github.io/signal-cli-rest-api/
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import httpx
from pydantic import ValidationError

from helpline.channels.base import ChannelSendError
from helpline.channels.signal_payloads import _ErrorBody, _RpcError, _SendResultItem

# signal-cli error texts, matched case-insensitively. The texts themselves carry
# the recipient's number, so they are only ever matched, never passed on.
_CAPTCHA_MARKERS: Final = ("proof required", "proofrequired", "challenge")
_RATE_LIMIT_MARKERS: Final = ("rate limit", "ratelimit", "[429]", "[413]")
_UNREGISTERED_MARKERS: Final = ("unregistered user", "unregistereduser")
_INVALID_RECIPIENT_MARKERS: Final = (
    "invalid number",
    "invalidnumberexception",
    "missingseparatorexception",
    "invalid username",
)
# Our own account is gone or unknown to the bridge: nothing will go through
# until an operator registers or links it again.
_ACCOUNT_MARKERS: Final = (
    "specified account does not exist",
    "not registered with json-rpc",
    "is not registered",
    "authorizationfailedexception",
)
_UNTRUSTED_MARKERS: Final = ("untrusted identity", "untrustedidentity")
_NETWORK_MARKERS: Final = ("network failure",)

_WAIT_SECONDS: Final = re.compile(r"wait\W{0,3}(\d{1,7})\W{0,3}seconds", re.IGNORECASE)


def retry_after(header: str | None, results: Sequence[_SendResultItem], text: str) -> float | None:
    if header and header.strip().isdigit():
        return float(header.strip())
    for item in results:
        if item.retry_after_seconds is not None and item.retry_after_seconds > 0:
            return item.retry_after_seconds
    match = _WAIT_SECONDS.search(text)
    if match and int(match.group(1)) > 0:
        return float(match.group(1))
    return None


def result_error(
    results: Sequence[_SendResultItem], retry_after: float | None
) -> ChannelSendError | None:
    """The error the per-recipient results of signal-cli report, if any."""
    if not results or any(item.type == "SUCCESS" for item in results):
        return None
    types = {item.type for item in results}
    if any(item.token for item in results):
        return ChannelSendError("pause", "signal:captcha_required", retry_after)
    if "RATE_LIMIT_FAILURE" in types:
        return ChannelSendError("pause", "signal:rate_limited", retry_after)
    if "UNREGISTERED_FAILURE" in types:
        return ChannelSendError("fail", "signal:unregistered")
    if "IDENTITY_FAILURE" in types:
        return ChannelSendError("fail", "signal:untrusted_identity")
    return ChannelSendError("retry", "signal:network_failure")


def classify_error(response: httpx.Response) -> ChannelSendError:
    """Map a failed bridge response to what the outbox should do."""
    status = response.status_code
    try:
        body = _ErrorBody.model_validate(response.json())
    except (ValueError, ValidationError):
        body = _ErrorBody()
    results: list[_SendResultItem] = []
    if isinstance(body.error, _RpcError):
        text = body.error.message or ""
        if body.error.data and body.error.data.response:
            results = body.error.data.response.results
    else:
        text = body.error or ""
    lowered = text.lower()
    wait = retry_after(response.headers.get("retry-after"), results, text)

    # Captcha before rate limit: signal-cli ends a proof-required error with
    # "Failed to send message due to rate limiting" too.
    if body.challenge_tokens is not None:
        captcha = any(body.challenge_tokens)
    else:
        captcha = any(item.token for item in results) or any(
            marker in lowered for marker in _CAPTCHA_MARKERS
        )
    if captcha:
        return ChannelSendError("pause", "signal:captcha_required", wait)
    if (
        status == 429
        or any(marker in lowered for marker in _RATE_LIMIT_MARKERS)
        or any(item.type == "RATE_LIMIT_FAILURE" for item in results)
    ):
        return ChannelSendError("pause", "signal:rate_limited", wait)
    from_results = result_error(results, wait)
    if from_results is not None:
        return from_results
    if any(marker in lowered for marker in _UNREGISTERED_MARKERS):
        return ChannelSendError("fail", "signal:unregistered")
    if any(marker in lowered for marker in _INVALID_RECIPIENT_MARKERS):
        return ChannelSendError("fail", "signal:invalid_recipient")
    if any(marker in lowered for marker in _ACCOUNT_MARKERS):
        return ChannelSendError("pause", "signal:account_unavailable")
    if any(marker in lowered for marker in _UNTRUSTED_MARKERS):
        # The texter's safety number changed (new phone, or someone else holds
        # it now); only an operator can decide to trust it again.
        return ChannelSendError("fail", "signal:untrusted_identity")
    if any(marker in lowered for marker in _NETWORK_MARKERS):
        return ChannelSendError("retry", "signal:network_failure")
    if status >= 500:
        return ChannelSendError("retry", f"signal:http_{status}")
    if status in {401, 403, 404}:
        # A proxy refusing us or a bridge too old for the endpoint: every send
        # will fail the same way until someone fixes the deployment.
        return ChannelSendError("pause", f"signal:http_{status}")
    if status == 400:
        # The bridge answers 400 for nearly every signal-cli failure, transient
        # ones included; the outbox's backoff bounds the retries.
        return ChannelSendError("retry", "signal:http_400")
    return ChannelSendError("fail", f"signal:http_{status}")
