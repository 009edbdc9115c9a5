"""Loading of versioned catalogue tables (TOML) with provenance, and user overrides.

A table is a TOML file ``<name>.toml`` with a ``[meta]`` section (``name``, ``version``, ``as_of``,
optionally ``source``/``description``). Packaged tables live in ``echelon/catalog/data``; a
user folder given by ``catalog_dir=`` or the ``ECHELON_CATALOG_DIR`` setting overrides a
table of the same name.
"""

from __future__ import annotations

import difflib
import functools
import os
import stat
import tomllib
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from echelon.errors import CatalogError, EchelonWarning

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
    """The user's catalogue override folder: ``catalog_dir``, else ``ECHELON_CATALOG_DIR``.

    Raises
    ------
    CatalogError
        If the folder does not exist, or holds a ``.toml`` whose name differs from a packaged
        table's only in case, ``-`` or spaces (e.g. ``routing-economics.toml``): such a file
        would be ignored, so the packaged table would be used without a word.
    """
    if catalog_dir is None:
        # the ECHELON_CATALOG_DIR setting (echelon.settings.Settings.catalog_dir), read directly:
        # tables are loaded in hot loops and building the settings object each time is costly
        env = os.environ.get(CATALOG_DIR_ENV)
        if not env:
            return None
        folder, given = Path(env), f"{CATALOG_DIR_ENV}={env}"
    else:
        folder, given = Path(catalog_dir), f"catalogue folder {catalog_dir}"
    try:
        info = folder.stat()
    except OSError:
        info = None
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise CatalogError(
            f"{given}: no such folder; give an existing folder of catalogue overrides "
            "(or unset it to use the packaged tables)"
        )
    _check_file_names(folder, info.st_mtime_ns)
    return folder


def _normal_name(stem: str) -> str:
    return "_".join(stem.lower().replace("-", " ").replace("_", " ").split())


@functools.lru_cache(maxsize=16)
def _check_file_names(folder: Path, mtime_ns: int) -> None:
    """Refuse near-miss table names in an override folder; warn about close misspellings.

    Checked once per folder state (``mtime_ns`` is part of the cache key only).
    """
    del mtime_ns
    packaged = table_names()
    by_normal = {_normal_name(name): name for name in packaged}
    stems = sorted(p.stem for p in folder.glob("*.toml"))
    wrong = [
        f"{stem}.toml → {by_normal[_normal_name(stem)]}.toml"
        for stem in stems
        if stem not in packaged and _normal_name(stem) in by_normal
    ]
    if wrong:
        raise CatalogError(
            f"catalogue folder {folder}: {', '.join(wrong)}: tables are loaded by their exact "
            "name, so the packaged table would be used instead; rename the file"
        )
    for stem in stems:
        if stem in packaged or stem.startswith("grading_"):
            continue  # a profile, or a table a profile names (e.g. its own economics)
        close = difflib.get_close_matches(stem, packaged, n=1, cutoff=0.85)
        if close:
            warnings.warn(
                f"catalogue folder {folder}: {stem}.toml overrides no packaged table (did you "
                f"mean {close[0]}.toml?); it is used only where a profile names {stem!r}",
                EchelonWarning,
                stacklevel=3,
            )


def resolve_table_path(name: str, *, catalog_dir: Path | None = None) -> Path:
    """The file a table name loads from: the user override if present, else the packaged one."""
    folder = override_dir(catalog_dir)
    if folder is not None:
        candidate = folder / f"{name}.toml"
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
