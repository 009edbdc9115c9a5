"""Shared CLI options, the console and progress bars."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from echelon.cli._console import console as console  # re-exported: the commands import it here
from echelon.domain import Grade, Level, Status
from echelon.errors import RegistryError, UsageError
from echelon.io.atomic import write_atomic
from echelon.recycling.compliance import REPORTING_YEARS, reporting_year
from echelon.registry import Registry, open_registry
from echelon.routing import Economics, load_economics, parse_overrides
from echelon.routing.economics import overrides_for_profiles

if TYPE_CHECKING:
    from echelon.grading import GradingProfile

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
"""Suffixes of a plain ``--db`` path taken as a SQLite file (``--db d2/d2.db``)."""


def db_url(value: str | None) -> str | None:
    """Typer callback of ``--db``: a URL as given, a plain path to a SQLite file as its
    ``sqlite:///`` URL (``d2/d2.db`` → ``sqlite:///d2/d2.db``).

    Raises
    ------
    typer.BadParameter
        Exit code 2: neither a URL nor a path ending in ``.db``, ``.sqlite`` or ``.sqlite3``; the
        message gives the URL to write.
    """
    if value is None or "://" in value:
        return value
    if Path(value).suffix.lower() in SQLITE_SUFFIXES:
        return f"sqlite:///{value}"
    raise typer.BadParameter(
        f"{value!r} is not a database URL: give sqlite:///{value} for a SQLite file (a path "
        f"ending in {_either(SQLITE_SUFFIXES)} is taken as one), or "
        "postgresql+psycopg://user@host:5432/db"
    )


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Registry URL (default: ECHELON_DB_URL or sqlite:///echelon.db); a path ending in "
        ".db, .sqlite or .sqlite3 is a SQLite file.",
        show_default=False,
        callback=db_url,
    ),
]
WorkersOption = Annotated[
    int, typer.Option("--workers", "-j", min=0, help="Worker processes (0 = in-process).")
]


PROFILES_HELP = "Grading profile: eu, cn, us, baseline or a TOML path"
"""The start of every ``--profile`` help; each command says its own default."""
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", help=f"{PROFILES_HELP} (default: each unit's region).", show_default=False
    ),
]
EconomicsOption = Annotated[
    Path | None,
    typer.Option(
        "--economics",
        help="Prices and costs TOML (copy of catalogue table routing_economics).",
        show_default=False,
    ),
]
GRADES = ", ".join(g.value for g in Grade)
"""The grades a ``--grade`` filter takes, for its help."""
STATUS_HELP = f"Derived status: {', '.join(s.value for s in Status)} (any case)."
StatusFilter = Annotated[str | None, typer.Option(help=STATUS_HELP)]
"""``--status`` of ``batteries`` (``regroup --from-registry`` takes the same, default routed):
checked by :func:`echelon.registry.select_units`, which names the closest value of a typo."""
ChemistryFilter = Annotated[
    str | None,
    typer.Option(help="e.g. LFP, LiFePO4, NMC622; a family (NMC, ternary) selects all of it."),
]
LevelFilter = Annotated[
    str | None,
    typer.Option(help=f"Level: {', '.join(v.value for v in Level)} (any case)."),
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Date for calendar-expiry checks YYYY-MM-DD (default today)."),
]
"""Parse with :func:`echelon.domain.parse.parse_date` (``option="--as-of"``): exit 2 if not a
date."""
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override one price or cost for this run, e.g. price.ess=9.5, labour.EU=45 "
        "(repeatable; recorded on every decision).",
        show_default=False,
    ),
]


def profile_from_option(value: str | None) -> GradingProfile | None:
    """The grading profile of ``--profile``, loaded and validated now, before any work is done
    (None: each unit's region chooses).

    Raises
    ------
    UsageError
        Exit code 2: no profile of that name (the available ones named).
    CatalogError, ConfigError
        Exit code 7: a TOML path that does not exist, or an invalid profile.
    """
    from echelon.grading import load_profile

    return None if value is None else load_profile(value)


def economics_from_options(path: Path | None, overrides: list[str] | None) -> Economics | None:
    """The economics of ``--economics``/``--set`` (None: each profile's own table).

    ``--set`` without ``--economics`` overrides numbers of the table each profile names (its
    ``[routing] economics``), not of the packaged one.
    """
    values = parse_overrides(overrides or [])
    if path is None:
        return overrides_for_profiles(values) if values else None
    return load_economics(path, overrides=values)


TABLE_SUFFIXES = (".csv", ".parquet")
"""File types a command's ``-o`` table output can be (``grade``, ``batteries``)."""


def _either(suffixes: Sequence[str]) -> str:
    """``.csv or .parquet``; ``.png, .svg or .html``."""
    return " or ".join([", ".join(suffixes[:-1]), suffixes[-1]] if suffixes[1:] else suffixes)


def _check_folder(folder: Path, path: Path, option: str) -> None:
    """Refuse ``folder`` (to be created for ``path``) when it, or a folder above it, is a file,
    or when the nearest existing folder takes no new file (``/proc``, a read-only mount, no
    permission): found by creating a nameless temporary file there, which leaves nothing."""
    for above in (folder, *folder.parents):
        if above.exists():
            where = "" if above == path else f"{path}: "
            if not above.is_dir():
                raise typer.BadParameter(
                    f"{where}{above} is a file, not a folder", param_hint=option
                )
            try:
                with tempfile.TemporaryFile(dir=above):
                    pass
            except OSError as exc:
                raise typer.BadParameter(
                    f"{where}cannot write in {above} ({exc.strerror or exc}); give a folder you "
                    "can write to",
                    param_hint=option,
                ) from None
            return


def check_output(
    path: Path | None, suffixes: Sequence[str], *, option: str = "-o/--output"
) -> None:
    """Refuse an output file the command cannot write, before any work is done.

    Parameters
    ----------
    path : Path, optional
        The file given (None: no such output, nothing to check).
    suffixes : sequence of str
        The suffixes (lower case, with the dot) the command writes.
    option : str
        The option that names the file, for the message.

    Raises
    ------
    typer.BadParameter
        Exit code 2: a suffix not in ``suffixes`` (naming the accepted ones), a path that is a
        folder, one under a file, or one where no file can be written.
    """
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise typer.BadParameter(
            f"{path}: cannot write {path.suffix or 'a file without a suffix'}; "
            f"give a {_either(suffixes)} file",
            param_hint=option,
        )
    if path.is_dir():
        raise typer.BadParameter(
            f"{path} is a folder; give a {_either(suffixes)} file", param_hint=option
        )
    _check_folder(path.parent, path, option)


def check_output_folder(path: Path, *, option: str = "-o/--output") -> None:
    """Refuse an output folder that is a file (or lies under one), or where no file can be
    written (``/proc/…``, a read-only mount, no permission), before any work is done.

    Raises
    ------
    typer.BadParameter
        Exit code 2, naming the file in the way or the folder that cannot be written.
    """
    _check_folder(path, path, option)


def check_year(value: int | None) -> int | None:
    """Typer callback of a year option (``recycle``, ``recycle-lots``, ``flows --price-year``).

    Raises
    ------
    typer.BadParameter
        Exit code 2, before any work, for a year
        :func:`~echelon.recycling.compliance.reporting_year` refuses (the range named).
    """
    if value is None:
        return None
    try:
        return reporting_year(value)
    except UsageError:
        first, last = REPORTING_YEARS
        raise typer.BadParameter(f"{value}: give a year from {first} to {last}") from None


def check_table_output(path: Path | None, *, option: str = "-o/--output") -> None:
    """Refuse an ``-o`` file that is not ``.csv`` or ``.parquet`` before any work is done
    (:func:`check_output` with :data:`TABLE_SUFFIXES`; ``option`` names it in the message).

    Raises
    ------
    typer.BadParameter
        Exit code 2, naming the file and the suffixes accepted.
    """
    check_output(path, TABLE_SUFFIXES, option=option)


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV or Parquet (by suffix), atomically: the file appears complete."""
    csv = path.suffix.lower() == ".csv"
    write_atomic(path, frame.write_csv if csv else frame.write_parquet)


def open_db(url: str | None, *, create: bool = False, store: bool = False) -> Registry:
    """Open the registry named by ``--db`` (or the default).

    Parameters
    ----------
    url : str, optional
        ``--db`` (None: ``ECHELON_DB_URL``, else ``sqlite:///echelon.db``).
    create : bool
        Create a new, empty SQLite registry when the file does not exist (``intake``,
        ``demo``); every other command refuses a missing file (exit 5) rather than read an empty
        registry made at a mistyped path.
    store : bool
        The command reads or writes the file store (``intake``, ``demo``, ``recycle``'s lot
        records): refuse a server database without one now, before any work is done.

    Raises
    ------
    RegistryError
        Exit code 5: the database cannot be opened, its SQLite file does not exist (unless
        ``create``), or (``store``) it has no usable file store.
    """
    registry = open_registry(url, create=create)
    if store:
        try:
            registry.store  # noqa: B018 - refuses a server database without ECHELON_STORE_DIR
        except RegistryError:
            registry.close()
            raise
    return registry


class StageProgress:
    """A rich progress display with one bar per pipeline stage, fed by ``(stage, done, total)``."""

    def __init__(self, progress: Progress, labels: dict[str, str]) -> None:
        self.progress = progress
        self.labels = labels
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(self.labels.get(stage, stage), total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


@contextmanager
def stage_progress(labels: dict[str, str], *, enabled: bool = True) -> Iterator[StageProgress]:
    """Progress bars for a multi-stage batch (transient; hidden when not a terminal)."""
    progress = Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
    with progress:
        yield StageProgress(progress, labels)
