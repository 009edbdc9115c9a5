"""``echelon soh``: train, evaluate and apply state-of-health estimators from short tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import polars as pl
import typer
from rich.table import Table

from echelon.cli._common import check_output, console, stage_progress
from echelon.cli._errors import guarded
from echelon.estimation.evaluate import Evaluation, cross_validate, summary, with_truth
from echelon.estimation.model import PREDICTION_COLUMNS, SohModel, fit_soh_model, prepare
from echelon.estimation.readers import read_samples
from echelon.estimation.samples import BATCH
from echelon.estimation.zoo import available_models, load_model
from echelon.io.atomic import write_atomic
from echelon.reports.charts import CHART_SUFFIXES, save_chart
from echelon.reports.soh_charts import parity_chart

soh_app = typer.Typer(
    help="State of health from short tests (pulse, relaxation, EIS, partial charge): train a "
    "model, evaluate it with splits grouped by physical cell, predict SOH ± interval.",
    no_args_is_help=True,
)

MethodName = Literal["pulse", "relaxation", "eis", "partial_charge"]
DataArgument = Annotated[
    list[Path],
    typer.Argument(
        help="PulseBat-format workbooks, sample tables (.csv/.parquet), raw pulse-test or EIS "
        "files.",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="A shipped model's name (see `echelon soh models`) or a file."
    ),
]
ChemistryOption = Annotated[
    str | None,
    typer.Option(help="Chemistry of every row (for files that do not say it).", show_default=False),
]
NominalOption = Annotated[
    float | None,
    typer.Option(
        "--nominal-capacity-ah",
        min=1e-6,
        help="Rated capacity [A·h] (raw test files).",
        show_default=False,
    ),
]
CoverageOption = Annotated[
    float, typer.Option(min=0.5, max=0.999, help="Nominal coverage of the intervals.")
]


def _read(
    data: list[Path],
    chemistry: str | None,
    nominal: float | None,
    method: str | None = None,
    *,
    labelled: bool = False,
) -> pl.DataFrame:
    with console.status(f"reading {len(data)} file(s)"):
        return read_samples(
            data,
            chemistry=chemistry,
            nominal_capacity_ah=nominal,
            method=method,
            labelled=labelled,
        )


def _named(data: list[Path]) -> str:
    """The DATA files, as validation errors name them."""
    return ", ".join(str(p) for p in data)


def _metrics_table(table: pl.DataFrame, title: str) -> Table:
    out = Table(title=title)
    for header in ("level", "group", "cells", "samples", "MAPE %", "RMSE pts", "worst pts"):
        out.add_column(header, justify="left" if header in ("level", "group") else "right")
    for header in ("coverage", "95 % CI (by cell)", "mean width pts", "out of domain", "refused"):
        out.add_column(header, justify="right")
    for row in table.iter_rows(named=True):
        out.add_row(
            row.get("level", ""),
            str(row["group"]),
            str(row["n_cells"]),
            str(row["n_samples"]),
            f"{row['mape_percent']:.2f}",
            f"{row['rmse_points']:.2f}",
            f"{row['worst_points']:.1f}",
            f"{row['coverage']:.1%}",
            f"{row['coverage_ci_low']:.0%}–{row['coverage_ci_high']:.0%}",
            f"{row['mean_width_points']:.1f}",
            f"{row['ood_share']:.1%}",
            str(row["n_refused"]),
        )
    return out


def _model_table(model: SohModel, title: str) -> Table:
    table = Table(title=title)
    for header in (
        "family",
        "cells",
        "samples",
        "formats",
        "CV MAPE %",
        "CV RMSE pts",
        "±90 % pts",
    ):
        table.add_column(header, justify="left" if header in ("family", "formats") else "right")
    for name, fam in model.families.items():
        cv = fam.summary.get("cross_validation", {})
        table.add_row(
            name,
            str(fam.summary.get("n_cells", "")),
            str(fam.summary.get("n_samples", "")),
            ", ".join(fam.summary.get("format_cells", {})),
            f"{cv['mape_percent']:.2f}" if cv else "—",
            f"{cv['rmse_points']:.2f}" if cv else "—",
            f"{cv['half_width_90_points']:.1f}" if cv else "—",
        )
    return table


@soh_app.command("train")
@guarded
def train_cmd(
    data: DataArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write (.soh.npz).")],
    method: Annotated[MethodName, typer.Option(help="Estimation method.")] = "pulse",
    name: Annotated[str | None, typer.Option(help="Model name in its card.")] = None,
    chemistry: ChemistryOption = None,
    nominal_capacity_ah: NominalOption = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds (by cell).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of folds and subsamples.")] = 0,
) -> None:
    """Train a SOH model on labelled data; intervals are calibrated by grouped cross-validation."""
    check_output(output, (".npz",))
    samples = _read(data, chemistry, nominal_capacity_ah, method, labelled=True)
    with console.status("fitting") as status:
        model = fit_soh_model(
            samples,
            method=method,
            n_folds=folds,
            seed=seed,
            name=name or output.name.removesuffix(".soh.npz").removesuffix(".npz"),
            source=_named(data),
            progress=lambda message: status.update(message),
        )
    model.card["data"] = [str(p) for p in data]
    path = write_atomic(output, model.save)
    console.print(_model_table(model, f"{model.name} ({method})"))
    console.print(f"wrote {path}")


def _evaluate_fixed(
    model: SohModel, samples: pl.DataFrame, coverage: float, source: str
) -> Evaluation:
    """Score a trained model on labelled data, saying so when the data's batches are batches
    the model was trained on (then it is held out only if its cells were not in training)."""
    table = prepare(samples, model.method, labelled=True, source=source)
    scored = with_truth(table, model.predict(table, coverage=coverage), 0)
    trained = {b for part in model.card.get("training", {}).values() for b in part["batches"]}
    seen = sorted(trained & set(table.get_column(BATCH).cast(pl.String).to_list()))
    split = "held-out data"
    if seen:
        split = f"data of trained batches {', '.join(seen)}"
        console.print(
            f"[yellow]warning:[/] {model.name} was trained on batch(es) {', '.join(seen)}: "
            "these scores are held-out only if DATA's cells were not in its training data "
            "(its card lists the data: `echelon soh models NAME`); use --split to "
            "cross-validate by cell instead",
            highlight=False,
        )
    return Evaluation(scored, summary(scored), split, model.method.name, coverage)


@soh_app.command("evaluate")
@guarded
def evaluate_cmd(
    data: DataArgument,
    model: ModelOption,
    split: Annotated[
        Literal["cells", "soc", "chemistry"] | None,
        typer.Option(
            help="Cross-validate the model's method on DATA: unseen cells, unseen cells and SOC "
            "levels, or leave one chemistry/format batch out. Without it the trained model is "
            "scored on DATA as it is (DATA must not be its training data).",
            show_default=False,
        ),
    ] = None,
    references: Annotated[
        int, typer.Option(min=0, help="--split chemistry: reference units per held-out batch.")
    ] = 0,
    folds: Annotated[int, typer.Option(min=2, help="Folds of the cells/soc splits.")] = 5,
    coverage: CoverageOption = 0.9,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Metrics CSV.", show_default=False)
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option(help="Per-sample predictions CSV.", show_default=False)
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Parity chart (.svg, .png or .html).", show_default=False),
    ] = None,
    chemistry: ChemistryOption = None,
    nominal_capacity_ah: NominalOption = None,
    seed: Annotated[int, typer.Option(help="Seed of folds and reference draws.")] = 0,
) -> None:
    """Evaluate SOH estimates against measured labels (MAPE, RMSE, worst case, coverage, width)."""
    check_output(output, (".csv",))
    check_output(predictions, (".csv",), option="--predictions")
    check_output(plot, CHART_SUFFIXES, option="--plot")
    trained = load_model(model)
    samples = _read(data, chemistry, nominal_capacity_ah, trained.method.name, labelled=True)
    if split is None:
        result = _evaluate_fixed(trained, samples, coverage, _named(data))
    else:
        with stage_progress({"cv": f"{split} split"}) as bars:
            result = cross_validate(
                samples,
                method=trained.method,
                split=split,
                n_folds=folds,
                coverage=coverage,
                references=references,
                seed=seed,
                progress=lambda done, total, _: bars("cv", done, total),
                source=_named(data),
            )
    title = f"{result.method}: {result.split} ({coverage:.0%} intervals)"
    console.print(_metrics_table(result.metrics, title))
    for target, frame in ((output, result.metrics), (predictions, result.predictions)):
        if target is not None:
            write_atomic(target, frame.write_csv)
            console.print(f"wrote {target}")
    if plot is not None:
        chart = parity_chart(result.predictions, title=title)
        write_atomic(plot, lambda tmp: save_chart(chart, tmp))
        console.print(f"wrote {plot}")


@soh_app.command("predict")
@guarded
def predict_cmd(
    data: DataArgument,
    model: ModelOption,
    output: Annotated[Path, typer.Option("-o", "--output", help="Predictions CSV.")] = Path(
        "predictions.csv"
    ),
    coverage: CoverageOption = 0.9,
    out_of_domain: Annotated[
        Literal["widen", "refuse"],
        typer.Option(
            "--out-of-domain",
            help="Outside the training domain: widen the interval (to the shift error for an "
            "untrained SOC of a trained batch, else the transfer error), or refuse (no number).",
        ),
    ] = "widen",
    references: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labelled samples of capacity-tested reference units of the same batch "
            "(repeatable); at least 9 units per batch for 90 %.",
            show_default=False,
        ),
    ] = None,
    chemistry: ChemistryOption = None,
    nominal_capacity_ah: NominalOption = None,
    batch: Annotated[
        str | None,
        typer.Option(
            help="The delivery DATA (and --references) belong to. A batch the model was not "
            "trained on is out of domain whatever its features (another make of a trained "
            "format included). Default: a batch column, else chemistry + rated capacity.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Predict SOH [%] with an interval; writes sample_id, soh_percent, soh_lower_percent, …"""
    check_output(output, (".csv",))
    trained = load_model(model)
    name = trained.method.name
    samples = _read(data, chemistry, nominal_capacity_ah, name)
    refs = (
        _read(references, chemistry, nominal_capacity_ah, name, labelled=True)
        if references
        else None
    )
    if batch is not None:
        samples = samples.with_columns(pl.lit(batch).alias("batch"))
        refs = None if refs is None else refs.with_columns(pl.lit(batch).alias("batch"))
    pred = trained.predict(
        samples,
        coverage=coverage,
        out_of_domain=out_of_domain,
        references=refs,
        source=_named(data),
        references_source=_named(references or []),
    )
    write_atomic(output, pred.select(PREDICTION_COLUMNS).write_csv)
    ood = int(pred.get_column("out_of_domain").sum())
    refused = int(pred.get_column("soh_percent").null_count())
    console.print(
        f"{pred.height} sample(s) estimated with {trained.name}: {ood} out of domain, "
        f"{refused} without an estimate; wrote {output}"
    )
    if ood:
        first = pred.filter(pl.col("out_of_domain")).get_column("reason")[0]
        console.print(f"[yellow]out of domain[/], e.g.: {first}")
    cells = per_cell(pred)
    if cells.height:
        console.print(_per_cell_table(cells))


def per_cell(pred: pl.DataFrame) -> pl.DataFrame:
    """Per cell with several estimates (the pulse blocks or SOC levels of one file): how many,
    their median and their spread (lowest and highest estimate), and how many are out of domain.

    The median of a cell's estimates is a summary, not an estimate with a calibrated interval:
    the estimates of one cell share its errors (one cell, one test, one model), so their spread
    says how much they disagree, not where the cell's SOH lies with a known coverage.
    """
    return (
        pred.filter(pl.col("soh_percent").is_not_null() & pl.col("cell_id").is_not_null())
        .group_by("cell_id", maintain_order=True)
        .agg(
            pl.len().alias("estimates"),
            pl.col("soh_percent").median().alias("median_soh_percent"),
            pl.col("soh_percent").min().alias("lowest_soh_percent"),
            pl.col("soh_percent").max().alias("highest_soh_percent"),
            pl.col("out_of_domain").sum().alias("out_of_domain"),
        )
        .filter(pl.col("estimates") >= 2)
    )


def _per_cell_table(cells: pl.DataFrame, *, shown: int = 20) -> Table:
    table = Table(
        "cell_id",
        "estimates",
        "median SOH %",
        "spread (lowest–highest) %",
        "out of domain",
        title=f"Per cell ({min(shown, cells.height)} of {cells.height}): the median of its "
        "estimates and their spread — a summary, not a calibrated interval (docs/soh.md)",
    )
    for row in cells.head(shown).iter_rows(named=True):
        table.add_row(
            str(row["cell_id"]),
            str(row["estimates"]),
            f"{row['median_soh_percent']:.1f}",
            f"{row['lowest_soh_percent']:.1f}–{row['highest_soh_percent']:.1f}",
            str(row["out_of_domain"]),
        )
    return table


@soh_app.command("models")
@guarded
def models_cmd(
    name: Annotated[
        str | None, typer.Argument(help="Show one model's card.", show_default=False)
    ] = None,
) -> None:
    """List the shipped SOH models, or show one model's card."""
    if name is not None:
        model = load_model(name)
        console.print(_model_table(model, f"{model.name} ({model.method.name})"))
        for key in ("version", "created", "data", "calibration", "validation", "notes"):
            value = model.card.get(key)
            if isinstance(value, list):
                console.print(f"[bold]{key}[/]:")
                for item in value:
                    console.print(f"  • {item}")
            elif value is not None:
                console.print(f"[bold]{key}[/]: {value}")
        return
    table = Table(title="SOH models")
    for header in ("name", "method", "families", "created"):
        table.add_column(header)
    for info in available_models():
        families = ", ".join(info.card.get("training", {}) or ["any"])
        table.add_row(
            info.name, str(info.card.get("method")), families, str(info.card.get("created"))
        )
    console.print(table)
