"""Errors the engine reports to its callers (the web layer turns them into HTTP answers)."""


class EngineError(Exception):
    status = 400


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    """Someone else changed the thing first, or it is no longer in a state that allows this."""
    status = 409


class Forbidden(EngineError):
    status = 403


class InvalidData(EngineError):
    """Submitted data breaks a rule; `errors` maps a dotted field path to its messages."""
    status = 422

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.errors = errors or {}
