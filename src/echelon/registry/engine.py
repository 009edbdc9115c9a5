"""Opening a registry database: engine settings per backend and Alembic migrations."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError

from echelon.errors import RegistryError

if TYPE_CHECKING:  # Alembic is imported when a database is opened, not when the CLI starts
    from alembic.config import Config

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
"""WAL lets readers run during a batch; NORMAL sync in WAL mode keeps every commit atomic and
durable across application crashes (an OS crash may lose the last commits, never corrupt)."""


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _existing_file_only(engine: Engine) -> None:
    """Open an existing SQLite file so that it is never created again: if it goes away while
    the registry is open (moved, deleted, its disk unmounted), a reconnect fails instead of
    making an empty registry at its path (``mode=rw``). A new file is created on the first open
    as before. The engine's URL is unchanged (messages show what the user gave)."""
    database = engine.url.database
    if not database or database == ":memory:" or not Path(database).is_file():
        return
    target = f"file:{quote(str(Path(database).resolve()))}?mode=rw"

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[:] = [target]
        cparams["uri"] = True


class _AbortedPipelineFilter(logging.Filter):
    """Drops psycopg's "error ignored terminating <Pipeline …>: pipeline aborted" warning: it
    follows a failed bulk write, which the registry retries unit by unit (a concurrent intake's
    units are then skipped), so it is no problem of the user's and not worth a warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


_PIPELINE_FILTER = _AbortedPipelineFilter()


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    """A SQLAlchemy engine for a registry URL.

    Parameters
    ----------
    url : str
        ``sqlite:///path.db`` or ``postgresql+psycopg://user@host:port/db``.
    schema : str, optional
        PostgreSQL schema to use (set as ``search_path``); used by tests to isolate runs.

    Raises
    ------
    RegistryError
        For a malformed URL or a missing database driver.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise RegistryError(
            f"not a database URL: {url!r} ({exc}); e.g. sqlite:///echelon.db"
        ) from exc
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args["timeout"] = 30
    elif parsed.get_backend_name() == "postgresql":
        logging.getLogger("psycopg").addFilter(_PIPELINE_FILTER)  # idempotent
        if schema:
            connect_args["options"] = f"-csearch_path={schema}"
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise RegistryError(
            f"unknown database type {parsed.drivername!r}; use sqlite:///path.db or "
            "postgresql+psycopg://user@host:5432/db"
        ) from exc
    except ModuleNotFoundError as exc:
        raise RegistryError(
            f"no driver for {parsed.drivername} ({exc.name} missing); for PostgreSQL install "
            "the extra: pip install 'echelon[postgres]'"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        _existing_file_only(engine)
    return engine


def refuse_missing_file(engine: Engine) -> None:
    """Refuse a SQLite registry file that does not exist (a mistyped ``--db`` path): opening it
    would create an empty registry there and report it healthy.

    Raises
    ------
    RegistryError
        Naming the file and how to create a registry (``echelon intake`` or ``echelon demo``).
    """
    if engine.url.get_backend_name() != "sqlite":
        return
    database = engine.url.database
    if not database or database == ":memory:" or Path(database).exists():
        return
    url = engine.url.render_as_string(hide_password=True)
    raise RegistryError(
        f"no registry at {Path(database).resolve()}: the file does not exist; check the path "
        f"given with --db / ECHELON_DB_URL, or create a registry there with `echelon intake "
        f"MANIFEST --db {url}` (or `echelon demo`)"
    )


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("echelon.registry") / "migrations")
    )
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _refuse_foreign(connection: Connection) -> None:
    """Refuse a database that holds tables but no Echelon schema version: another application's
    (migrating would add Echelon's tables to it)."""
    tables = sorted(inspect(connection).get_table_names())
    if tables:
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise RegistryError(
            f"{connection.engine.url.render_as_string(hide_password=True)} is not an Echelon "
            f"registry: it holds tables ({shown}) but no Echelon schema version; point --db / "
            "ECHELON_DB_URL at an Echelon registry or at a new, empty database"
        )


def migrate(engine: Engine) -> str:
    """Bring the database schema to the newest revision (no-op when current).

    Returns
    -------
    str
        The revision the database is at afterwards.

    Raises
    ------
    RegistryError
        When the database cannot be reached or migrated.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    head = head_revision()
    try:
        with engine.begin() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None:
                _refuse_foreign(connection)
            if current != head:
                config = _alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
    except DatabaseError as exc:  # unreachable, or not a database (a corrupt or foreign file)
        raise RegistryError(
            f"cannot open the registry at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}; check --db / ECHELON_DB_URL, that the server is running and, for "
            "SQLite, that the file is an Echelon registry (a corrupt file: restore it from a "
            "backup)"
        ) from exc
    return head
