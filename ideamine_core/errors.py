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


class LedgerConflictError(IdeaMineError):
    """A ledger write reused an idempotency key with different content (a bug in the key scheme)."""

    def __init__(self, run_id: str, key: str) -> None:
        super().__init__(
            f"ledger of run {run_id}: idempotency key {key!r} was already used for a different entry",
            fix="give each distinct ledger entry its own idempotency key (retries of one write share it)",
        )
        self.run_id, self.key = run_id, key


class LedgerNotFoundError(UserInputError):
    """A command named a run that has no ledger entries."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run {run_id} has no ledger entries in this database",
            fix="check the run id with `ideamine status`, and DATABASE_URL if the run used another database",
        )
        self.run_id = run_id


# --- model calls (providers, cache, retry policy, fallback ladder) ---------------------------------


class ModelConfigError(UserInputError):
    """A model id, an API key or a model endpoint is wrong; found before any call is made."""


class ModelRequestsDisabledError(ModelConfigError):
    """A real-provider request was attempted while IDEAMINE_ALLOW_MODEL_REQUESTS forbids it."""


class ModelCallError(IdeaMineError):
    """A model call failed; says which provider and model, and whether and when to retry.

    `non_retryable` stops the retry loop at once (the fallback ladder may still move on);
    `retry_after` is how long the provider asked to wait, in seconds.
    """

    retry_class = RetryClass.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        fix: str | None = None,
        retry_after: float | None = None,
        non_retryable: bool = False,
    ) -> None:
        super().__init__(message, fix=fix)
        self.provider, self.model = provider, model
        self.retry_after, self.non_retryable = retry_after, non_retryable


class ModelHTTPError(ModelCallError):
    """The provider answered with an HTTP error: 408/409/429/5xx are retryable, other 4xx are not."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        status: int,
        fix: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        retryable = (status in (408, 409, 429) or status >= 500) if should_retry is None else should_retry
        super().__init__(
            message,
            provider=provider,
            model=model,
            fix=fix,
            retry_after=retry_after,
            non_retryable=not retryable,
        )
        self.status, self.should_retry = status, should_retry
        if status == 429:
            self.retry_class = RetryClass.RATE_LIMIT
        elif not retryable:
            self.retry_class = RetryClass.FATAL


class RateLimitedError(ModelHTTPError):
    """The provider refused the request because a rate limit was reached (HTTP 429)."""

    retry_class = RetryClass.RATE_LIMIT


class ModelUnavailableError(ModelCallError):
    """The provider could not be reached or did not answer in time (connection refused, timeout)."""


class ContextLengthExceededError(ModelCallError):
    """The input is longer than the model's context window; resending it unchanged cannot succeed."""

    retry_class = RetryClass.FATAL

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        fix: str | None = None,
        limit_tokens: int | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model, fix=fix, non_retryable=True)
        # the context window and the request's size, in the provider's tokens, when its error said so
        self.limit_tokens, self.prompt_tokens = limit_tokens, prompt_tokens


class ModelCallRefusedError(ModelCallError):
    """The call guard (circuit breaker) refused to call this provider now; the ladder may move on."""

    def __init__(self, message: str, *, provider: str, model: str, fix: str | None = None) -> None:
        super().__init__(message, provider=provider, model=model, fix=fix, non_retryable=True)


class ReplayMissError(ModelCallError):
    """Replay mode: a request is not in the response cache, and replay never calls a provider."""

    retry_class = RetryClass.FATAL

    def __init__(self, message: str, *, provider: str, model: str, request_hash: str, fix: str) -> None:
        super().__init__(message, provider=provider, model=model, fix=fix, non_retryable=True)
        self.request_hash = request_hash


class ModelOutputInvalidError(ModelOutputError):
    """The model kept returning output that fails the agent's schema, after every repair attempt.

    Carries the evidence: `attempts`, the last raw output, the last validation error and the tokens used.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        attempts: int,
        last_raw_output: str | None,
        validation_error: str | None,
        tokens_in: int,
        tokens_out: int,
    ) -> None:
        raw = (last_raw_output or "")[:2000]
        super().__init__(
            f"{message}; after {attempts} attempt(s) the last output was: {raw!r}"
            + (f" ({validation_error})" if validation_error else ""),
            fix="raise the repair attempts, choose a stronger model, or simplify the agent's prompt",
        )
        self.provider, self.model, self.attempts = provider, model, attempts
        self.last_raw_output, self.validation_error = last_raw_output, validation_error
        self.tokens_in, self.tokens_out = tokens_in, tokens_out


class LeaseHeldError(IdeaMineError):
    """A task's lease is held by another live worker, so it cannot be acquired now."""

    retry_class = RetryClass.TRANSIENT

    def __init__(self, task_id: str, owner: str, expires_at: float) -> None:
        super().__init__(
            f"task {task_id} is leased by {owner} until {expires_at:.3f} (epoch seconds)",
            fix="wait for the lease to expire, or let the supervisor take the task over",
        )
        self.task_id, self.owner, self.expires_at = task_id, owner, expires_at


class TaskTakenOverError(IdeaMineError):
    """The supervisor declared a task stalled and fenced its worker out; the task is run again."""

    retry_class = RetryClass.TRANSIENT

    def __init__(self, task_id: str) -> None:
        super().__init__(
            f"task {task_id} was declared stalled by the supervisor while it ran; its result was discarded",
            fix="nothing to do: it is retried (raise heartbeat.max_silence_seconds if it was only slow)",
        )
        self.task_id = task_id


class BudgetExceededError(IdeaMineError):
    """A phase budget (tokens, tool minutes, wall-clock minutes or cost) is, or would be, exceeded."""

    def __init__(self, budget: str, limit: float, used: float, *, phase: str, requested: float = 0.0) -> None:
        need = f"; the next call needs about {requested:g} more" if requested else ""
        super().__init__(
            f"phase {phase}: budget `{budget}` exhausted: used {used:g} of {limit:g}{need}",
            fix=f"raise `budgets.{budget}` in {phase}.yaml or configure a cheaper model for the phase, "
            "then `ideamine resume RUN`",
        )
        self.budget, self.limit, self.used, self.phase, self.requested = budget, limit, used, phase, requested
        self.model: str | None = None
        """The model ('provider:model') whose call was refused, when the fallback ladder saw it."""
        self.ladder_exhausted = False
        """True when the ladder had no later model to degrade to (set by the fallback ladder)."""

    @property
    def refused_before_call(self) -> bool:
        """True when a call was refused before it was made because its estimate would not fit (a
        cheaper model's smaller estimate may), not because a budget is already spent."""
        return self.requested > 0


# --- the code workspace, the sandbox and the scanners ---------------------------------------------


class WorkspaceError(IdeaMineError):
    """The run's code workspace (its files or its git repository) cannot be written or read."""


class PathPolicyError(WorkspaceError):
    """A proposed file path breaks the workspace path policy; `rule` names the rule it broke."""

    retry_class = RetryClass.VALIDATION

    def __init__(self, path: object, rule: str, reason: str, *, fix: str) -> None:
        shown = repr(path) if len(repr(path)) <= 120 else repr(path)[:117] + "..."
        super().__init__(f"workspace path {shown} rejected [{rule}]: {reason}", fix=fix)
        self.path, self.rule, self.reason = path, rule, reason


class SandboxError(IdeaMineError):
    """The test sandbox could not be prepared or its command could not be started."""


class ToolError(IdeaMineError):
    """A scanner or test tool failed to run, timed out or produced output that cannot be read."""
