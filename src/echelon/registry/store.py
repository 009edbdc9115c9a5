"""Content-addressed file store for raw tester files and ``.bdf.parquet`` time series.

Layout under the store root::

    raw/<h0h1>/<sha256><suffix>          byte-identical copies of the tester files
    timeseries/<h0h1>/<sha256>.bdf.parquet

Files are written to a temporary name and renamed, so a crash never leaves a partial file under a
final name; writing the same content twice is a no-op. Orphans (files no event references, e.g.
after a crash) are harmless.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from sqlalchemy.engine import URL

from echelon.errors import OutputError
from echelon.io.base import RunMetadata, sha256_file
from echelon.io.bdf import write_bdf_parquet

STORE_ADVICE = (
    "check the free space and write permission of that folder (the store is ECHELON_STORE_DIR "
    "when it is set, else the folder beside a SQLite registry)"
)
"""What to check when the file store cannot be written."""


class Store:
    """A content-addressed file store rooted at ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """An OSError while keeping ``what`` becomes an :class:`OutputError` naming the store
        (a full disk was an "unexpected error OSError" of every unit of an intake)."""
        try:
            yield
        except OSError as exc:
            raise OutputError(
                f"could not keep {what} in the registry's file store {self.root}: "
                f"{exc.strerror or exc}; {STORE_ADVICE}"
            ) from exc

    def raw_path(self, sha256: str, suffix: str = "") -> Path:
        """Where a raw file with this hash lives."""
        return self.root / "raw" / sha256[:2] / f"{sha256}{suffix.lower()}"

    def bdf_path(self, sha256: str) -> Path:
        """Where a time series with this hash lives."""
        return self.root / "timeseries" / sha256[:2] / f"{sha256}.bdf.parquet"

    def put_raw(self, source: Path, sha256: str | None = None) -> str:
        """Keep a byte-identical copy of a raw file; returns its SHA-256.

        A hard link is used when the store is on the same file system, else a copy.
        """
        source = Path(source)
        digest = sha256 or sha256_file(source)
        target = self.raw_path(digest, source.suffix)
        if target.exists():
            return digest
        with self._writing(f"a copy of {source}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            os.close(fd)
            Path(tmp).unlink()
            try:
                try:
                    os.link(source, tmp)
                except OSError:
                    shutil.copyfile(source, tmp)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
        return digest

    def put_bdf(self, frame: pl.DataFrame, metadata: RunMetadata) -> str:
        """Store a BDF frame as ``.bdf.parquet``; returns the file's SHA-256."""
        staging = self.root / "timeseries" / "staging"
        with self._writing("the time series read"):
            staging.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".bdf.parquet", dir=staging)
            os.close(fd)
            try:
                digest = write_bdf_parquet(frame, tmp, metadata)
                target = self.bdf_path(digest)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
        return digest

    def read_bdf(self, sha256: str) -> pl.DataFrame:
        """Load a stored time series."""
        return pl.read_parquet(self.bdf_path(sha256))


def server_store_problem(url: URL, root: Path | None, given_as: str) -> str:
    """Why the registry at ``url`` cannot use ``root`` as its file store ("" when it can).

    A SQLite registry always can (its default store lies beside the file). A server database
    cannot without a store (``root`` None) or with a relative one: each working directory would
    hold a part of the files.

    Parameters
    ----------
    url : sqlalchemy.engine.URL
        The database's URL.
    root : Path or None
        The store's folder, if one is set.
    given_as : str
        Where ``root`` was given (``ECHELON_STORE_DIR``, ``store_dir``), for the message.
    """
    if url.get_backend_name() == "sqlite" or (root is not None and root.is_absolute()):
        return ""
    shown = url.render_as_string(hide_password=True)
    why = (
        "no file store is set"
        if root is None
        else f"its file store {given_as}={str(root)!r} is a relative path"
    )
    return (
        f"the registry at {shown} is a server database and {why}: its raw tester files and "
        "recycling lot records must live in one folder that every station uses, not beside "
        "each working directory; set ECHELON_STORE_DIR to that folder's absolute path (e.g. "
        "`export ECHELON_STORE_DIR=/srv/echelon-store`, on a share every station mounts) and "
        "run the command again (docs/registry.md#file-store)"
    )
