"""Reading tester files into BDF, writing ``.bdf.parquet``, and intake manifests.

Readers are plug-ins (:class:`echelon.io.base.Reader`) selected automatically by
:func:`read`; third parties register theirs under the entry-point group ``echelon.readers``.
"""

from echelon.io.base import (
    Reader,
    RunMetadata,
    available_readers,
    detect_reader,
    get_reader,
    read,
    sha256_file,
)
from echelon.io.bdf import read_run_metadata, validate_bdf, write_bdf_csv, write_bdf_parquet
from echelon.io.columnmap import ColumnMapReader, ColumnSpec
from echelon.io.manifest import Manifest, ManifestUnit, TestFileRef, read_manifest

__all__ = [
    "ColumnMapReader",
    "ColumnSpec",
    "Manifest",
    "ManifestUnit",
    "Reader",
    "RunMetadata",
    "TestFileRef",
    "available_readers",
    "detect_reader",
    "get_reader",
    "read",
    "read_manifest",
    "read_run_metadata",
    "sha256_file",
    "validate_bdf",
    "write_bdf_csv",
    "write_bdf_parquet",
]
