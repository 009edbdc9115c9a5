"""Writing a file so that it appears complete or not at all (a temporary file, then a rename)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

NEW_FILE_MODE = 0o666
"""Mode a new output file is opened with; the process umask takes its bits away (022: 0644), as
for any file a program creates. (``tempfile.mkstemp`` uses 0600, which the rename would keep:
outputs readable by their owner only.)"""


def temporary_beside(target: Path | str, *, suffix: str = ".partial") -> Path:
    """Create an empty file with a unique hidden name beside ``target`` and return its path.

    It is created with :data:`NEW_FILE_MODE` less the umask, so the file renamed onto ``target``
    gets the permissions any other output gets. Folders are not created.
    """
    target = Path(target)
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        except FileExistsError:  # 48 random bits taken: draw again
            continue
        os.close(fd)
        return tmp


def write_atomic(path: Path | str, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    Folders are created; the temporary file is removed if ``write`` fails. The file gets the
    usual permissions of a new file (0666 less the umask; see :func:`temporary_beside`).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(target)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
