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
import warnings
from typing import Any, Final

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


class SafeConsole(Console):
    """A rich console whose markup is limited to :data:`STYLE_TAGS`, and that does not cut
    tables to 80 columns when its output is piped."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if not self.is_terminal and "COLUMNS" not in os.environ and "width" not in options:
            self.width = PIPED_WIDTH

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
