"""Chart specs: the certificate's SOH axis holds the whole interval; the HPPC legend."""

from __future__ import annotations

from echelon.reports.charts import soh_band_chart


def _domain(spec: dict) -> list[float]:  # type: ignore[type-arg]
    return spec["layer"][0]["encoding"]["x"]["scale"]["domain"]  # type: ignore[no-any-return]


def test_the_axis_holds_the_whole_interval() -> None:
    bands = {"A": 80.0, "B": 70.0, "C": 60.0}
    assert _domain(soh_band_chart(90.0, lower_percent=85.0, upper_percent=95.0,
                                  band_minimums=bands)) == [30.0, 105.0]  # fmt: skip
    wide = soh_band_chart(100.9, lower_percent=21.8, upper_percent=120.0, band_minimums=bands)
    assert _domain(wide) == [20.0, 120.0]


def test_hppc_legend_tells_charge_from_discharge() -> None:
    """One legend for the pulse direction, with a marker shape per direction."""
    import polars as pl

    from echelon.reports.diagnostic_charts import hppc_chart

    table = pl.DataFrame(
        {
            "soc": [0.2, 0.5] * 2,
            "kind": ["discharge", "discharge", "charge", "charge"],
            "dcir_10s_ohm": [0.03, 0.028, 0.025, 0.024],
            "temperature_c": [25.0] * 4,
        }
    )
    encoding = hppc_chart(table)["encoding"]
    assert encoding["shape"]["field"] == "kind"
    assert encoding["strokeDash"]["legend"] is None
