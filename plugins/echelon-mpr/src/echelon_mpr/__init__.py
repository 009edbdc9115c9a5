"""BioLogic EC-Lab ``.mpr`` reader for Echelon, through galvani (GPL-3.0-or-later).

SPDX-License-Identifier: GPL-3.0-or-later

The binary ``.mpr`` format is undocumented; galvani reverse-engineered it. This plug-in decodes a
file with :class:`galvani.BioLogic.MPRfile` and hands the columns to Echelon's column map for
BioLogic exports (the ``.mpt`` names galvani uses), so units, signs and unmapped-column
reporting are those of the ``.mpt`` reader.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from echelon.errors import ReaderError
from echelon.io.base import RunMetadata
from echelon.io.biologic import BIOLOGIC_COLUMNS, BIOLOGIC_IGNORED
from echelon.io.columnmap import ColumnMapReader

__version__ = "0.1.0"
MAGIC = b"BIO-LOGIC MODULAR FILE\x1a"


def _decode(path: Path) -> Any:
    """galvani's parse of ``path`` (any failure becomes a :class:`ReaderError` naming it)."""
    try:
        from galvani.BioLogic import MPRfile
    except ImportError as exc:  # the plug-in was installed without its dependency
        raise ReaderError(path, ["the .mpr plug-in needs galvani: pip install galvani"]) from exc
    try:
        with path.open("rb") as handle:  # galvani leaves a file it opened itself open
            return MPRfile(handle)
    except Exception as exc:  # galvani raises ValueError, OSError, AssertionError, …
        raise ReaderError(
            path,
            [
                f"galvani could not decode the file ({type(exc).__name__}: {exc}); if EC-Lab "
                "opens it, export it as .mpt text and read that"
            ],
        ) from exc


def mpr_frame(mpr: Any) -> pl.DataFrame:
    """The columns of a decoded file under their ``.mpt`` names (flags unpacked)."""
    data = mpr.data
    columns: dict[str, Any] = {
        name: np.asarray(data[name]) for name in data.dtype.names if name != "flags"
    }
    for flag in mpr.flags_dict:
        columns[flag] = mpr.get_flag(flag)
    return pl.DataFrame(columns)


def start_time(mpr: Any) -> dt.datetime | None:
    """The LOG module's timestamp, else midnight of the settings date."""
    stamp = getattr(mpr, "timestamp", None)
    if isinstance(stamp, dt.datetime):
        return stamp
    start = getattr(mpr, "startdate", None)
    return dt.datetime.combine(start, dt.time()) if isinstance(start, dt.date) else None


class MprReader:
    """Reader ``biologic_mpr``: EC-Lab binary files recognised by their magic bytes."""

    name = "biologic_mpr"
    version = __version__

    def can_read(self, path: Path) -> bool:
        """``.mpr`` suffix and the BioLogic modular-file magic."""
        path = Path(path)
        if path.suffix.lower() != ".mpr":
            return False
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """Decode with galvani, then map and convert like an ``.mpt`` export."""
        path = Path(path)
        mpr = _decode(path)
        frame = mpr_frame(mpr)
        mapping = ColumnMapReader(
            name=self.name,
            version=self.version,
            columns=BIOLOGIC_COLUMNS,
            signature=frozenset(),
            suffixes=(".mpr",),
            format="frame",
            loader=lambda _: frame,
            ignored=BIOLOGIC_IGNORED,
            instrument="BioLogic",
            metadata_hook=lambda _path, _raw: {
                "start_time": start_time(mpr),
                "mpr_data_version": int(mpr.version),
            },
        )
        return mapping.read(path)
