"""What every CLI command module shares: the console, the crash-log location and the error decorator."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from pydantic import ValidationError
from rich.console import Console

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import UserInputError
from ideamine_core.settings import Settings
from ideamine_dagster.cli.errors import handle_errors

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False, soft_wrap=True)


def crash_log() -> Path | None:
    """Where an unexpected error's traceback is written (None without a usable home)."""
    try:
        return Settings.from_env().home / "logs" / f"crash-{os.getpid()}.log"
    except ValidationError:
        return None


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so user errors end in one paragraph and exit 2, crashes in a log and exit 1."""
    return handle_errors(crash_log)(fn)


def parse_submission(idea: str, users: list[str], constraints: list[str]) -> IdeaSubmission:
    """The submission, or a UserInputError with the validation message (empty or huge idea)."""
    try:
        return IdeaSubmission(idea=idea, users=users, constraints=constraints)
    except ValidationError as exc:
        raise UserInputError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
