"""Error hierarchy: every error a user can cause names its cause and its fix."""

from __future__ import annotations

from enum import StrEnum


class RetryClass(StrEnum):
    """How an error should be retried."""

    TRANSIENT = "transient"
    RATE_LIMIT = "rate_limit"
    VALIDATION = "validation"
    FATAL = "fatal"


class IdeaMineError(Exception):
    """Base class of IdeaMine's errors; `fix` tells the user what to do."""

    retry_class: RetryClass = RetryClass.FATAL

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def explain(self) -> str:
        """One paragraph: the cause and, if known, the fix."""
        return f"{self.message}. Fix: {self.fix}" if self.fix else self.message


class UserInputError(IdeaMineError):
    """Bad input from the command line (empty idea, unknown phase, ...)."""


class ConfigError(IdeaMineError):
    """A phase configuration file is malformed; the message names file, field and fix."""

    def __init__(self, file: str, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{file}: field `{field}`: {problem}", fix=fix)
        self.file = file
        self.field = field
        self.problem = problem


class StorageError(IdeaMineError):
    """The home folder or a store cannot be written or read."""


class ServiceUnavailableError(IdeaMineError):
    """A required service (database, Redis, model endpoint) cannot be reached."""

    retry_class = RetryClass.TRANSIENT


class ModelOutputError(IdeaMineError):
    """A model's output did not validate against the agent's output schema."""

    retry_class = RetryClass.VALIDATION


class PhaseFailedError(IdeaMineError):
    """A phase failed (agent error or gate failure) and stopped the run."""


class StaleFencingTokenError(IdeaMineError):
    """A write came from a worker whose lease was taken over (its fencing token is stale)."""

    def __init__(self, task_id: str, token: int, current: int) -> None:
        super().__init__(
            f"task {task_id} wrote with fencing token {token}, but the current token is {current}: "
            "its lease was taken over by another worker",
            fix="nothing to do: the worker that holds the current lease continues the task",
        )
        self.task_id, self.token, self.current = task_id, token, current
