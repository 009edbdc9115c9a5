"""Reading a SOH model file (``.npz``: arrays and a JSON header; pickled data is never loaded),
with errors that say what the file is instead and where models come from."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Final

import numpy as np

from echelon.errors import SchemaError

MODEL_SOURCE: Final = "models are written by `echelon soh train DATA -o NAME.soh.npz`"


def not_a_model(why: str) -> str:
    """The message for a file given as a model that is not one: why, and where models come from."""
    return f"not an Echelon SOH model file ({why}); {MODEL_SOURCE}"


def model_arrays(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays of a model file and its JSON header.

    Parameters
    ----------
    path : Path
        The file given as a model.

    Returns
    -------
    tuple of dict
        Arrays by name, and the header (the model card, method and family layout).

    Raises
    ------
    SchemaError
        If the file is not an ``.npz`` archive with the header
        :meth:`echelon.estimation.model.SohModel.save` writes.
    """
    if not zipfile.is_zipfile(path):
        raise SchemaError(path, [not_a_model("the file is not an .npz archive")])
    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
    if not members or not all(m.endswith(".npy") for m in members):
        raise SchemaError(
            path, [not_a_model("a ZIP file such as a workbook, not an .npz archive of arrays")]
        )
    if "header.npy" not in members:
        raise SchemaError(path, [not_a_model("an .npz archive without a model header")])
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        header = json.loads(str(arrays["header"]))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # ValueError includes object arrays, which would need pickle: never loaded
        raise SchemaError(path, [not_a_model("its arrays or header cannot be read")]) from exc
    if not isinstance(header, dict):
        raise SchemaError(path, [not_a_model("its model header is not a JSON object")])
    return arrays, header
