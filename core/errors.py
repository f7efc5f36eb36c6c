"""The one domain error type: services raise it, views and admin actions show its message."""


class BlinnoError(Exception):
    """A refusal a person can act on. `code` is stable for API clients and tests."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
