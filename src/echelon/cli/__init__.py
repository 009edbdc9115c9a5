"""Echelon's command-line interface (an adapter: each command calls library functions).

Exit codes: 0 ok; 1 internal error; 2 usage; 3 bad input (manifest, tester file); 4 not found;
5 registry unavailable; 6 chain verification failed; 7 configuration/catalogue error;
8 analysis impossible (incl. a recycling process that cannot treat a lot); 10 intake finished
but some units failed (recorded as failed); 141 standard output closed early (``… | head``).
"""

from __future__ import annotations

import warnings

import typer

from echelon._version import __version__
from echelon.cli._console import pipe_closed, show_warning
from echelon.cli.diag_cmds import plot_cmd, summarize_cmd
from echelon.cli.flows_cmds import flows_cmd
from echelon.cli.grading_cmds import applications_cmd, certificate_cmd, grade_cmd
from echelon.cli.intake_cmds import demo_cmd, intake_cmd
from echelon.cli.io_cmds import read_cmd, readers_cmd
from echelon.cli.lifetime_cmds import forecast_cmd
from echelon.cli.passport_cmds import passport_cmd
from echelon.cli.recycle_cmds import recycle_cmd, recycle_lots_cmd
from echelon.cli.registry_cmds import backup_cmd, batteries_cmd, show_cmd, verify_cmd
from echelon.cli.regroup_cmds import regroup_cmd
from echelon.cli.serve_cmds import serve_cmd
from echelon.cli.soh_cmds import soh_app

app = typer.Typer(
    name="echelon",
    help="Second life and recycling of lithium batteries: intake → test data → diagnostics → "
    "SOH → grading → routing → regrouping · recycling → registry.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        try:
            print(f"echelon {__version__}", flush=True)
        except BrokenPipeError:
            pipe_closed()
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Echelon command-line interface."""
    warnings.showwarning = show_warning


app.command("demo")(demo_cmd)
app.command("intake")(intake_cmd)
app.command("batteries")(batteries_cmd)
app.command("show")(show_cmd)
app.command("grade")(grade_cmd)
app.command("certificate")(certificate_cmd)
app.command("passport")(passport_cmd)
app.command("applications")(applications_cmd)
app.command("verify")(verify_cmd)
app.command("backup")(backup_cmd)
app.command("read")(read_cmd)
app.command("readers")(readers_cmd)
app.command("regroup")(regroup_cmd)
app.command("recycle")(recycle_cmd)
app.command("recycle-lots")(recycle_lots_cmd)
app.command("forecast")(forecast_cmd)
app.command("flows")(flows_cmd)
app.command("serve")(serve_cmd)
app.command("summarize")(summarize_cmd)
app.command("plot")(plot_cmd)
app.add_typer(soh_app, name="soh")


def main() -> None:
    """Console-script entry point."""
    app()
