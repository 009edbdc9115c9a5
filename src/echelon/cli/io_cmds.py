"""``echelon read`` and ``echelon readers``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from echelon.cli._common import console
from echelon.cli._errors import guarded
from echelon.io import available_readers, read, write_bdf_parquet


@guarded
def read_cmd(
    file: Annotated[Path, typer.Argument(help="Tester file to read (format detected).")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Output .bdf.parquet (default: ./<name>.bdf.parquet)."),
    ] = None,
    reader: Annotated[
        str | None, typer.Option(help="Force a reader by name (see `echelon readers`).")
    ] = None,
) -> None:
    """Read a tester file into Battery Data Format and write it as .bdf.parquet."""
    frame, meta = read(file, reader=reader)
    target = output or Path(file.name.split(".")[0] + ".bdf.parquet")
    digest = write_bdf_parquet(frame, target, meta)
    duration = frame["test_time_second"][-1] - frame["test_time_second"][0]
    console.print(
        f"[green]✓[/] {file} → {target}  ({meta.reader}, {frame.height:,} rows, "
        f"{duration / 3600:.2f} h, sha256 {digest[:12]}…)"
    )
    console.print(f"  columns: {', '.join(frame.columns)}")
    if meta.unmapped_columns:
        console.print(
            f"  [yellow]not converted[/] (kept in the raw file): {', '.join(meta.unmapped_columns)}"
        )


def readers_cmd() -> None:
    """List the installed tester-file readers (built-in and plug-ins)."""
    table = Table("name", "version", "kind")
    for reader in available_readers():
        table.add_row(reader.name, reader.version, type(reader).__name__)
    console.print(table)
