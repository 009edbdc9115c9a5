"""The CLI's consoles: rich markup for Echelon's own styling only.

Messages, column names and values printed by the CLI carry square brackets of their own — units
(``duration [h]``, ``column 'U [mV]'``), notes (``[assumption]``) — which rich would take for
style tags and silently drop. :class:`SafeConsole` escapes every bracketed word that is not one of
the styles the CLI itself uses (:data:`STYLE_TAGS`), wherever the text comes from (``print``,
table headers and cells).
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from typing import Any, Final, NoReturn

from rich.console import Console
from rich.text import Text

_python_show_warning = warnings.showwarning

STYLE_TAGS: Final = frozenset({"", "bold", "bold red", "green", "red", "yellow", "dim", "italic"})
"""Tags the CLI writes on purpose (``[green]✓[/]``); anything else in brackets is text."""
_TAG = re.compile(r"(?<!\\)\[([a-zA-Z#/@][^\[\]]*)\]")


def escape_text_tags(text: str) -> str:
    """``text`` with every ``[…]`` that is not a CLI style tag escaped (shown as written)."""

    def keep_or_escape(match: re.Match[str]) -> str:
        tag = match.group(1)
        name = tag[1:] if tag.startswith("/") else tag
        if name in STYLE_TAGS or name.startswith(("progress.", "bar.", "repr.")):
            return match.group(0)
        return "\\" + match.group(0)

    return _TAG.sub(keep_or_escape, text)


PIPED_WIDTH: Final = 200
"""Columns of output that goes to a file or a pipe (rich would assume 80 and cut tables);
``COLUMNS`` overrides."""


EXIT_PIPE_CLOSED: Final = 141
"""Exit code when standard output is closed before the command is done (``echelon recycle … |
head -1``): 128 + SIGPIPE, what a shell reports for a program a closed pipe stopped. Nothing is
printed: the reader chose to stop reading. Python (and rich, click) would exit 1, Echelon's code
for an internal error."""


def pipe_closed() -> NoReturn:
    """Stop quietly because standard output was closed by its reader: later writes, and the
    flush at exit, go to ``/dev/null`` (no ``BrokenPipeError`` message); exit
    :data:`EXIT_PIPE_CLOSED`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (tests capture it): nothing to flush
        pass
    raise SystemExit(EXIT_PIPE_CLOSED)


class SafeConsole(Console):
    """A rich console whose markup is limited to :data:`STYLE_TAGS`, and that does not cut
    tables to 80 columns when its output is piped."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if not self.is_terminal and "COLUMNS" not in os.environ and "width" not in options:
            self.width = PIPED_WIDTH

    def on_broken_pipe(self) -> None:
        """Standard output was closed early: stop quietly (:func:`pipe_closed`)."""
        self.quiet = True
        pipe_closed()

    def render_str(self, text: str, **options: Any) -> Text:
        if options.get("markup") is not False:
            text = escape_text_tags(text)
        return super().render_str(text, **options)


console = SafeConsole()
stderr = SafeConsole(stderr=True)


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for the CLI: Echelon's own warnings as one ``warning:`` line on
    stderr (not Python's file:line form); others as Python shows them."""
    from echelon.errors import EchelonWarning

    if issubclass(category, EchelonWarning):
        stderr.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)
