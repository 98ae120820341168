"""Map errors to one clear paragraph and an exit code, in one place."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from ideamine_core.errors import IdeaMineError

P = ParamSpec("P")
R = TypeVar("R")

USER_ERROR_EXIT = 2
FAILURE_EXIT = 1

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = USER_ERROR_EXIT) -> typer.Exit:
    """Print one paragraph to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def handle_errors(crash_log: Callable[[], Path | None]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a command: IdeaMineError → exit 2 with its explanation; anything else → exit 1, log kept."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except (typer.Exit, typer.Abort):
                raise
            except IdeaMineError as exc:
                raise fail(exc.explain()) from None
            except KeyboardInterrupt:
                raise fail("interrupted; what was written so far is kept", FAILURE_EXIT) from None
            except Exception as exc:  # noqa: BLE001 - last-resort handler: one paragraph, details to a log
                where = _write_crash(crash_log(), exc)
                raise fail(
                    f"unexpected {type(exc).__name__}: {exc}. Details were written to {where}; "
                    "please report it with that file",
                    FAILURE_EXIT,
                ) from None

        return wrapper

    return decorate


def _write_crash(path: Path | None, exc: Exception) -> str:
    if path is None:
        return "nowhere (no writable home folder)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    except OSError:
        return "nowhere (the home folder is not writable)"
    return str(path)
