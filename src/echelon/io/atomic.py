"""Writing a file so that it appears complete or not at all (a temporary file, then a rename),
and a set of files written before and put in place after another step (:func:`staged_files`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echelon.errors import OutputError

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


def not_written(target: Path, exc: OSError) -> str:
    """``could not write TARGET: REASON`` (the start of an :class:`OutputError`'s message)."""
    return f"could not write {target}: {exc.strerror or exc}"


def write_atomic(path: Path | str, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    Folders are created; the temporary file keeps the target's suffix (a chart's format is
    chosen by it) and is removed if ``write`` fails. The file gets the usual permissions of a
    new file (0666 less the umask; see :func:`temporary_beside`).

    Raises
    ------
    OutputError
        The file could not be written or renamed (a disk that fills, a permission withdrawn):
        names ``path``, which is left as it was.
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_beside(target, suffix=f".partial{target.suffix}")
        write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(not_written(target, exc)) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return target


def utf8_writer(text: str) -> Callable[[Path], object]:
    """A ``write`` (for :func:`write_atomic` or :func:`staged_files`) of ``text`` as UTF-8, byte
    for byte (no newline translation: the file holds the bytes a hash of ``text`` was taken of)."""
    data = text.encode("utf-8")
    return lambda tmp: tmp.write_bytes(data)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, utf8_writer(text))


@dataclass
class StagedFiles:
    """Complete files written beside their targets, not yet in place (see :func:`staged_files`).

    Attributes
    ----------
    moves : list of (Path, Path)
        ``(temporary, target)`` per file, in the order given.
    placed : int
        Files put in place so far by :meth:`place`.
    kept : bool
        A rename failed: the files not in place are kept (the error names them).
    """

    moves: list[tuple[Path, Path]] = field(default_factory=list)
    placed: int = 0
    kept: bool = False

    def place(self) -> list[Path]:
        """Rename every temporary onto its target, in order; return the targets.

        Raises
        ------
        OutputError
            A rename failed: names the file, the files put in place before it and where the
            complete files not in place are (they are kept, to be renamed by hand).
        """
        for tmp, target in self.moves[self.placed :]:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                self.kept = True
                done = ", ".join(str(t) for _, t in self.moves[: self.placed])
                pending = ", ".join(f"{t} → {p}" for t, p in self.moves[self.placed :])
                raise OutputError(
                    f"could not put {target} in place: {exc.strerror or exc}"
                    f"{f' (in place: {done})' if done else ''}; the files not in place are "
                    f"complete at {pending}: rename them"
                ) from exc
            self.placed += 1
        return [target for _, target in self.moves]


@contextmanager
def staged_files(files: Sequence[tuple[Path, Callable[[Path], object]]]) -> Iterator[StagedFiles]:
    """Write every file of ``files`` (``(target, write)``, as for :func:`write_atomic`) to a
    temporary beside its target, then yield them for :meth:`StagedFiles.place`.

    A step between the two (a registry recording) can thus run only once every file is written,
    and the files appear only after it succeeded. Temporaries keep their target's suffix (a
    chart's format is chosen by it). Leaving the block without placing the files removes them;
    files that :meth:`StagedFiles.place` failed to rename are kept (its error names them).

    Raises
    ------
    OutputError
        A file could not be written (a disk that fills, a permission withdrawn): named, and no
        file of ``files`` is left.
    """
    staged = StagedFiles()
    try:
        for target, write in files:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = temporary_beside(target, suffix=f".partial{target.suffix}")
                staged.moves.append((tmp, target))
                write(tmp)
            except OSError as exc:
                raise OutputError(
                    f"{not_written(target, exc)} (no file of this run was written)"
                ) from exc
        yield staged
    finally:
        if not staged.kept:
            for tmp, _ in staged.moves[staged.placed :]:
                tmp.unlink(missing_ok=True)


def write_recorded(
    files: Sequence[tuple[Path, Callable[[Path], object]]],
    record: Callable[[], str] | None,
    *,
    see: str,
) -> list[Path]:
    """Write ``files`` (as for :func:`staged_files`) so that, with ``record``, they appear only
    once ``record`` succeeded; return their targets.

    Every file is first written complete beside its target, then ``record`` runs (it records
    them, e.g. their hashes in the registry, and returns what it recorded, for a message), then
    the files are put in place. An error of ``record`` (a recording refused) propagates and
    leaves no file, and earlier files at the targets as they were.

    Parameters
    ----------
    files : sequence of (Path, callable)
        ``(target, write)``; ``write(tmp)`` writes the complete file to ``tmp``.
    record : callable or None
        Runs between writing and placing; None: the files are only written.
    see : str
        How to see what was recorded (ends the message of a file not put in place after it).

    Raises
    ------
    OutputError
        A file could not be written (the message says nothing was recorded), or put in place
        after the recording (it says what was recorded, where the complete files are, then
        ``see``).
    """
    recorded: str | None = None  # what record() recorded, once it has
    try:
        with staged_files(files) as staged:
            recorded = record() if record is not None else None
            return staged.place()
    except OutputError as exc:
        if record is None:
            raise
        if recorded is None:
            raise OutputError(f"{exc}; nothing was recorded") from exc
        raise OutputError(f"{recorded}, but {exc}; {see}") from exc
