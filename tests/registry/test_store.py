"""The file store: a store that cannot be written is named, with what to check."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import polars as pl
import pytest

from echelon.errors import OutputError
from echelon.io.base import RunMetadata
from echelon.registry import store as store_module
from echelon.registry.store import Store


def _full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_store_that_cannot_be_written_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full store disk was an 'unexpected error OSError: [Errno 28] …' of every unit of an
    intake, naming neither the store nor what to do."""
    source = tmp_path / "cell.csv"
    source.write_text("t,v\n0,3.3\n")
    store = Store(tmp_path / "store")
    monkeypatch.setattr(store_module.os, "link", _full)
    monkeypatch.setattr(store_module.shutil, "copyfile", _full)
    with pytest.raises(OutputError) as info:
        store.put_raw(source)
    message = str(info.value)
    assert f"could not keep a copy of {source} in the registry's file store {store.root}" in message
    assert "No space left on device; check the free space and write permission" in message
    assert not list((tmp_path / "store").rglob("*.csv"))  # nothing partial under a final name
    monkeypatch.setattr(store_module.os, "replace", _full)
    frame = pl.DataFrame({"test_time_second": [0.0], "voltage_volt": [3.3]})
    meta = RunMetadata(source_path=str(source), source_sha256="0" * 64, reader="x",
                       reader_version="1")  # fmt: skip
    with pytest.raises(OutputError, match="could not keep the time series read"):
        store.put_bdf(frame, meta)
