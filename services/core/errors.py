"""Named domain errors. Pages catch LoopdeckError and show its message; never a traceback."""


class LoopdeckError(Exception):
    """Base class: the message is meant for the user."""


class PermissionDenied(LoopdeckError):
    pass


class InvalidInput(LoopdeckError):
    pass


class NotFound(LoopdeckError):
    pass


class Conflict(LoopdeckError):
    """Someone else changed the object first (optimistic version check) or it already exists."""


class AuthenticationFailed(LoopdeckError):
    pass


class AccountLocked(AuthenticationFailed):
    pass


class AccountDisabled(AuthenticationFailed):
    pass


class SelfApprovalError(PermissionDenied):
    pass


class DatabaseUnavailable(LoopdeckError):
    """The database cannot be opened. The message is for the operator (it names the cause, never the
    password); `hint` says what to do; screens show signed-out visitors only a generic line."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint
