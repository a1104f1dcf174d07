"""Typed errors shared across the service.

Specific errors live next to the code that raises them and subclass
`HelplineError`; one exception handler in `helpline.main` renders them, so a
stranger can never turn a bad request into a 500 with a stack trace.
"""

from __future__ import annotations


class HelplineError(Exception):
    """Base class. `status_code` and `public_message` are what a client sees."""

    status_code: int = 400
    public_message: str = "bad request"
    # True where the message is a fixed sentence written for the signed-in
    # reader of an admin form ("another helpline already has this number"):
    # it is shown instead of `public_message`. Only for routes a stranger
    # cannot reach, and never with the input quoted back.
    explains: bool = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)

    def details(self) -> dict[str, object]:
        """Extra fields for the JSON answer (a machine-readable `code` the
        console translates); nothing a client sent, nothing personal."""
        return {}


class NotFound(HelplineError):
    status_code = 404
    public_message = "not found"


class Forbidden(HelplineError):
    status_code = 403
    public_message = "forbidden"


class Conflict(HelplineError):
    status_code = 409
    public_message = "conflict"


class ServiceUnavailable(HelplineError):
    """The database or another dependency is down: the platform should retry."""

    status_code = 503
    public_message = "temporarily unavailable"
