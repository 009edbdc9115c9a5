"""A consistent copy of a SQLite registry and its file store, taken while others use it."""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from echelon.errors import OutputError, UsageError
from echelon.registry.core import Registry

TEMPORARY = ".tmp-*"
"""Names of files the store writes under before renaming them (never part of a backup)."""


@dataclass(frozen=True)
class Backup:
    """Where :func:`backup` put the copies.

    Attributes
    ----------
    database : Path
        The copy of the database (``FOLDER/<name>.db``).
    store : Path
        The copy of the file store (``FOLDER/<name>-store``, where a registry opened from the
        copied database finds it by default).
    files : int
        Files copied into ``store``.
    """

    database: Path
    store: Path
    files: int


def backup(registry: Registry, folder: Path | str) -> Backup:
    """Copy a SQLite registry and then its file store into ``folder``.

    The database is copied with SQLite's online backup, consistent while others read and write
    (a ``cp`` of the file misses what is still in its write-ahead log); the store is copied after
    it, so it holds every file the copied database names (a file is stored before the event that
    names it).

    Parameters
    ----------
    registry : Registry
        An open SQLite registry.
    folder : path-like
        Where to put the copies (created if needed); must not hold a copy already.

    Returns
    -------
    Backup

    Raises
    ------
    UsageError
        For a registry that is not a SQLite file (back up PostgreSQL with ``pg_dump``), or a
        folder that already holds a backup of it (a backup never overwrites another).
    OutputError
        A copy could not be written (a disk that fills): names it; nothing is left in
        ``folder`` (the database copy is put in place last, so a backup is never partial).
    """
    url = registry.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise UsageError(
            f"echelon backup copies a SQLite registry file, not {registry.url}: back up a "
            "PostgreSQL registry with pg_dump, then copy its ECHELON_STORE_DIR "
            "(docs/registry.md#backups)"
        )
    source = Path(str(url.database))
    target = Path(folder) / source.name
    store = target.with_name(f"{source.stem}-store")
    taken = [p for p in (target, store) if p.exists()]
    if taken:
        raise UsageError(
            f"{taken[0]} exists: give a new or empty folder (a backup never overwrites another)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial_store = store.with_name(f".{store.name}.partial")
    writing = target
    try:
        _copy_database(registry, partial)
        writing = store
        _copy_store(registry.store.root, partial_store)
        os.replace(partial_store, store)
        writing = target
        os.replace(partial, target)  # last: a backup is complete once its database is there
    except (OSError, sqlite3.Error) as exc:
        if writing == target:
            shutil.rmtree(store, ignore_errors=True)  # placed just before, not complete without it
        raise OutputError(
            f"could not write {writing}: {_reason(exc)}; no backup was made in {target.parent}: "
            "check its free space and write permission and run the backup again"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(partial_store, ignore_errors=True)
    return Backup(target, store, sum(1 for p in store.rglob("*") if p.is_file()))


def _copy_database(registry: Registry, path: Path) -> None:
    """SQLite's online backup of ``registry``'s database to ``path``."""
    raw = registry.engine.raw_connection()
    try:
        live = raw.driver_connection
        assert isinstance(live, sqlite3.Connection)  # the sqlite3 driver's connection
        copy = sqlite3.connect(path)
        try:
            live.backup(copy)
        finally:
            copy.close()
    finally:
        raw.close()


def _copy_store(root: Path, path: Path) -> None:
    """Copy the file store ``root`` (its temporary files left out) to the new folder ``path``."""
    if root.is_dir():
        shutil.copytree(root, path, ignore=shutil.ignore_patterns(TEMPORARY))
    else:  # nothing stored yet
        path.mkdir()


def _reason(exc: OSError | sqlite3.Error) -> str:
    """Why a copy failed: the first file's reason when ``shutil.copytree`` lists several."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        return str(exc.args[0][0][2]) if exc.args[0] else str(exc)
    return str(exc.strerror or exc) if isinstance(exc, OSError) else str(exc)
