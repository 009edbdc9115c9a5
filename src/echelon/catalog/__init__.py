"""Versioned reference data with provenance, loadable by name and overridable by users.

Every number (voltage window, threshold, price, composition, yield) lives in a TOML table under
``echelon/catalog/data`` with its source and as-of date. Put a table of the same name in the folder
named by ``ECHELON_CATALOG_DIR`` (or pass ``catalog_dir=``) to override it.
"""

from echelon.catalog._loader import load_table, resolve_table_path, table_names
from echelon.catalog.chemistry import (
    FAMILIES,
    ChemistryRecord,
    OcvTable,
    chemistries,
    chemistry,
    generic_chemistry,
    resolve_chemistry,
)

__all__ = [
    "FAMILIES",
    "ChemistryRecord",
    "OcvTable",
    "chemistries",
    "chemistry",
    "generic_chemistry",
    "load_table",
    "resolve_chemistry",
    "resolve_table_path",
    "table_names",
]
