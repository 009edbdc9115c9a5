"""One place that maps Echelon's exceptions to exit codes and messages (no tracebacks for users)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from echelon.cli._console import pipe_closed
from echelon.cli._console import stderr as stderr  # re-exported
from echelon.errors import (
    CatalogError,
    ChainError,
    ConfigError,
    DiagnosticsError,
    EchelonError,
    EstimationError,
    InfeasibleError,
    InputError,
    NotFoundError,
    OutputError,
    PassportError,
    RecyclingError,
    RegistryError,
    UsageError,
)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_NOT_FOUND = 4
EXIT_REGISTRY = 5
EXIT_VERIFY = 6
EXIT_CONFIG = 7
EXIT_ANALYSIS = 8
EXIT_PARTIAL = 10

EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (UsageError, EXIT_USAGE),
    (OutputError, EXIT_USAGE),
    (InputError, EXIT_INPUT),  # ReaderError, SchemaError, ManifestError
    (NotFoundError, EXIT_NOT_FOUND),
    (ChainError, EXIT_VERIFY),
    (RegistryError, EXIT_REGISTRY),
    (ConfigError, EXIT_CONFIG),
    (CatalogError, EXIT_CONFIG),
    (DiagnosticsError, EXIT_ANALYSIS),
    (EstimationError, EXIT_ANALYSIS),
    (RecyclingError, EXIT_ANALYSIS),
    (PassportError, EXIT_ANALYSIS),
    (InfeasibleError, EXIT_ANALYSIS),
    (EchelonError, EXIT_INTERNAL),
]
"""Exception class → exit code, most specific first (documented in docs/cli.md)."""

P = ParamSpec("P")
R = TypeVar("R")


def exit_code_for(exc: BaseException) -> int:
    """Exit code of an exception (1 for anything unexpected)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command, turning Echelon errors into a message on stderr and an exit code.

    Set ``ECHELON_DEBUG=1`` to see the full traceback instead.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors (typer.BadParameter, …) are Typer's to report: exit code 2
        except EchelonError as exc:
            if os.environ.get("ECHELON_DEBUG"):
                raise
            stderr.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exit_code_for(exc)) from None
        except BrokenPipeError:  # stdout closed early (`… | head -1`): not an error
            pipe_closed()
        except KeyboardInterrupt:
            stderr.print("[yellow]interrupted[/]: committed units are complete; re-run to finish")
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("ECHELON_DEBUG"):
                raise
            stderr.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
                "This is a bug in Echelon; re-run with ECHELON_DEBUG=1 for the traceback and "
                "report it.",
                highlight=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper
