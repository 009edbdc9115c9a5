"""``echelon read`` and ``echelon readers``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from echelon.cli._common import check_output, console
from echelon.cli._errors import guarded
from echelon.io import available_readers
from echelon.io.convert import convert_to_bdf


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
    column_map: Annotated[
        Path | None,
        typer.Option("--map", help="YAML/TOML column map describing the file (docs/readers.md)."),
    ] = None,
) -> None:
    """Read a tester file into Battery Data Format and write it as .bdf.parquet.

    Text exports are streamed (files larger than memory convert), validated in the written
    Parquet, and the output only appears when the whole file is valid.
    """
    check_output(output, (".parquet",))
    target = output or Path(file.name.split(".")[0] + ".bdf.parquet")
    result = convert_to_bdf(file, target, reader=reader, column_map=column_map)
    meta = result.metadata
    console.print(
        f"[green]✓[/] {file} → {target}  ({meta.reader}, {result.n_rows:,} rows, "
        f"sha256 {result.sha256[:12]}…)",
        soft_wrap=True,
    )
    console.print(f"  columns: {', '.join(result.columns)}")
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
