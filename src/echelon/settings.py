"""Echelon's one settings object.

Nothing is read at import time: call :func:`get_settings` (or build :class:`Settings` yourself)
where a setting is needed. Environment variables use the prefix ``ECHELON_``, e.g.
``ECHELON_DB_URL``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_URL = "sqlite:///echelon.db"


class Settings(BaseSettings):
    """Runtime configuration.

    Attributes
    ----------
    db_url : str
        SQLAlchemy URL of the registry. Default: SQLite file ``./echelon.db``. PostgreSQL:
        ``postgresql+psycopg://user@host:5432/dbname`` (needs the ``postgres`` extra).
    store_dir : Path or None
        Folder for content-addressed files (raw tester files, ``.bdf.parquet`` time series,
        recycling lot records). Default: next to a SQLite database (``echelon.db`` →
        ``echelon-store/``). A server database (PostgreSQL) has no default: set
        ``ECHELON_STORE_DIR`` to an absolute path every station reaches, or the commands that
        read or write files refuse to run (a folder beside each working directory would split
        the files).
    catalog_dir : Path or None
        Optional folder whose ``*.toml`` files override the packaged catalogue records by name.
    workers : int
        Worker processes for batch intake (0 = run in-process).
    """

    model_config = SettingsConfigDict(env_prefix="ECHELON_", extra="ignore")

    db_url: str = DEFAULT_DB_URL
    store_dir: Path | None = None
    catalog_dir: Path | None = None
    workers: int = Field(default=2, ge=0, le=256)


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit keyword overrides applied last."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]


def default_store_dir(db_url: str) -> Path | None:
    """Where content-addressed files live for a given database URL, when no store is set.

    Parameters
    ----------
    db_url : str
        SQLAlchemy URL.

    Returns
    -------
    Path or None
        ``<db stem>-store`` beside a SQLite file; ``./echelon-store`` for in-memory SQLite;
        ``None`` for a server database, whose store must be set (``ECHELON_STORE_DIR``): a
        default relative to the working directory would put each station's files elsewhere.
    """
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url[len(prefix) :] not in ("", ":memory:"):
        db_path = Path(db_url[len(prefix) :])
        return db_path.with_name(db_path.stem + "-store")
    if db_url.startswith("sqlite:"):
        return Path("echelon-store")
    return None
