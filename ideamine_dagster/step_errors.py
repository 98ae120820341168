"""Errors as Dagster records them: class name and redacted message, original traceback kept.

Dagster stores a failed or retried step's exception — message and chained causes — in its event
log and shows it in the UI. An error may quote a secret (an exception from a library that echoes a
URL with its password, a key in a request object), so what crosses the Dagster boundary is a
redacted stand-in, never the original exception.
"""

from __future__ import annotations

from ideamine_core.redaction import redact


class StepError(Exception):
    """An error of a step as Dagster sees it: '<original class>: <redacted message>'."""


def step_error(exc: BaseException) -> StepError:
    """A redacted stand-in for `exc` carrying its traceback (raise it, or chain a Failure from it)."""
    error = StepError(f"{type(exc).__name__}: {redact(str(exc))}")
    return error.with_traceback(exc.__traceback__)


def redacted(text: str) -> str:
    """`text` without any secret of this environment (for Failure descriptions and error records)."""
    return str(redact(text))
