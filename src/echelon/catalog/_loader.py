"""Loading of versioned catalogue tables (TOML) with provenance, and user overrides.

A table is a TOML file ``<name>.toml`` with a ``[meta]`` section (``name``, ``version``, ``as_of``,
optionally ``source``/``description``). Packaged tables live in ``echelon/catalog/data``; a
user folder given by ``catalog_dir=`` or the ``ECHELON_CATALOG_DIR`` setting overrides a
table of the same name.
"""

from __future__ import annotations

import functools
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from echelon.errors import CatalogError

REQUIRED_META = ("name", "version", "as_of")
CATALOG_DIR_ENV = "ECHELON_CATALOG_DIR"


def packaged_table_path(name: str) -> Path:
    """Path of a packaged table (``data/<name>.toml``)."""
    return Path(str(resources.files("echelon.catalog") / "data" / f"{name}.toml"))


def table_names() -> list[str]:
    """Names of the packaged tables (sub-folders as ``folder/name``)."""
    root = packaged_table_path("x").parent
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.toml"))


def override_dir(catalog_dir: Path | None = None) -> Path | None:
    """The user's catalogue override folder: ``catalog_dir``, else ``ECHELON_CATALOG_DIR``."""
    if catalog_dir is not None:
        return Path(catalog_dir)
    # the ECHELON_CATALOG_DIR setting (echelon.settings.Settings.catalog_dir), read directly:
    # tables are loaded in hot loops and building the settings object each time is costly
    env = os.environ.get(CATALOG_DIR_ENV)
    return Path(env) if env else None


def resolve_table_path(name: str, *, catalog_dir: Path | None = None) -> Path:
    """The file a table name loads from: the user override if present, else the packaged one."""
    catalog_dir = override_dir(catalog_dir)
    if catalog_dir is not None:
        candidate = Path(catalog_dir) / f"{name}.toml"
        if candidate.is_file():
            return candidate
    path = packaged_table_path(name)
    if not path.is_file():
        raise CatalogError(
            f"no catalogue table named {name!r}; available: {', '.join(table_names())}"
        )
    return path


def load_table(name: str, *, catalog_dir: Path | None = None) -> dict[str, Any]:
    """Load a catalogue table by name (user override first), checking its ``[meta]`` block.

    Parameters
    ----------
    name : str
        Table name, e.g. ``"chemistries"``.
    catalog_dir : Path, optional
        Folder of user overrides (default: the ``ECHELON_CATALOG_DIR`` setting).

    Returns
    -------
    dict
        The parsed TOML document.

    Raises
    ------
    CatalogError
        If the file is missing, not valid TOML, or lacks ``meta.name/version/as_of``.
    """
    return load_toml_file(resolve_table_path(name, catalog_dir=catalog_dir))


@functools.lru_cache(maxsize=64)
def _cached(path: Path, mtime_ns: int) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc
    meta = doc.get("meta")
    missing = [k for k in REQUIRED_META if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise CatalogError(
            f"{path}: [meta] lacks {', '.join(missing)}; every table records its name, version "
            "and as_of date"
        )
    return doc


def load_toml_file(path: Path) -> dict[str, Any]:
    """Parse and check one table file (cached until the file changes)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such catalogue file")
    return _cached(path.resolve(), path.stat().st_mtime_ns)
