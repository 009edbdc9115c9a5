"""Mass-flow (Sankey) chart of a recycling lot as a Vega specification.

Vega-Lite has no Sankey mark, so the layout is computed here — nodes in columns (feed materials
→ dismantling / pre-treatment / smelter → black-mass recovery → products and losses), ribbons as
cubic Bézier bands whose width is the mass — and drawn by Vega ``rect`` and ``path`` marks. The
spec is plain JSON: it renders in the self-contained HTML report (the Vega runtime is inlined)
and to SVG with vl-convert, and it is testable without a browser."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import polars as pl

STAGE_LABELS = {
    "dismantling": "dismantling",
    "preprocessing": "mechanical pre-treatment",
    "pyro": "pyrometallurgy (smelter)",
    "hydro": "hydrometallurgy",
    "direct": "direct recycling",
}
LOSS_LABELS = {
    "solid_waste": "solid waste",
    "slag": "slag",
    "flue_dust": "flue dust",
    "off_gas": "burned / off-gas",
}
WIDTH, HEIGHT, NODE_W, GAP = 560.0, 460.0, 14.0, 8.0  # ≈ 850 px with a lot's labels
LABEL_PITCH = 13.0
"""Least vertical distance between the tops of two nodes of a column [px] (an 11 px label each)."""


@dataclass
class _Node:
    name: str
    column: int
    kind: str  # input, stage, product, loss
    value: float = 0.0
    x: float = 0.0
    y: float = 0.0
    h: float = 0.0


def sankey_links(
    flows: pl.DataFrame, product_names: dict[str, str]
) -> list[tuple[str, str, float]]:
    """Links ``(source, target, kg)`` of a lot's flows (stage, group, destination, product)."""
    links: dict[tuple[str, str], float] = defaultdict(float)
    stages = [s for s in STAGE_LABELS if s in set(flows.get_column("stage"))]
    cm = [s for s in stages if s in ("hydro", "direct")]
    for stage, group, dest, product, kg in flows.select(
        "stage", "group", "destination", "product", "kg"
    ).iter_rows():
        if kg <= 0:
            continue
        entry = STAGE_LABELS["preprocessing"] if stage in cm else STAGE_LABELS[stage]
        links[(f"in: {group}", entry)] += kg
        if stage in cm:
            links[(STAGE_LABELS["preprocessing"], STAGE_LABELS[stage])] += kg
        target = product_names.get(product, product) if dest == "product" else LOSS_LABELS[dest]
        links[(STAGE_LABELS[stage], target)] += kg
    return [(s, t, v) for (s, t), v in links.items()]


def _layout(links: list[tuple[str, str, float]], losses: set[str]) -> dict[str, _Node]:
    nodes: dict[str, _Node] = {}
    stage_column = {label: i + 1 for i, label in enumerate(STAGE_LABELS.values())}
    stage_column[STAGE_LABELS["dismantling"]] = 1
    stage_column[STAGE_LABELS["preprocessing"]] = 1
    stage_column[STAGE_LABELS["pyro"]] = 1
    stage_column[STAGE_LABELS["hydro"]] = 2
    stage_column[STAGE_LABELS["direct"]] = 2
    for s, t, _ in links:
        for name in (s, t):
            if name in nodes:
                continue
            if name.startswith("in: "):
                nodes[name] = _Node(name, 0, "input")
            elif name in stage_column:
                nodes[name] = _Node(name, stage_column[name], "stage")
            else:
                nodes[name] = _Node(name, 3, "loss" if name in losses else "product")
    inflow: dict[str, float] = defaultdict(float)
    outflow: dict[str, float] = defaultdict(float)
    for s, t, v in links:
        outflow[s] += v
        inflow[t] += v
    for node in nodes.values():
        node.value = max(inflow[node.name], outflow[node.name])
    columns = sorted({n.column for n in nodes.values()})
    x_of = {c: i * (WIDTH - NODE_W) / max(1, len(columns) - 1) for i, c in enumerate(columns)}
    per_column: dict[int, list[_Node]] = defaultdict(list)
    for node in nodes.values():
        per_column[node.column].append(node)
    scale = min(  # room for every node's gap or label pitch, whichever is larger
        (HEIGHT - LABEL_PITCH * len(ns)) / sum(n.value for n in ns) for ns in per_column.values()
    )
    for column, ns in per_column.items():
        ns.sort(key=lambda n: (n.kind == "loss", -n.value))
        y = 0.0
        for node in ns:
            node.x, node.y, node.h = x_of[column], y, node.value * scale
            y += max(node.h + GAP, LABEL_PITCH)  # tiny nodes' labels do not overlap
    return nodes


def sankey_spec(
    flows: pl.DataFrame, *, product_names: dict[str, str], title: str = "Mass flow"
) -> dict[str, Any]:
    """Vega spec of a lot's mass flow.

    Parameters
    ----------
    flows : pl.DataFrame
        ``LotResult.flows``.
    product_names : dict
        Product key → label.
    title : str

    Returns
    -------
    dict
        A Vega v5 specification with ``nodes`` and ``links`` data (masses in kg).
    """
    links = sankey_links(flows, product_names)
    nodes = _layout(links, set(LOSS_LABELS.values()))
    scale = min((n.h / n.value) for n in nodes.values() if n.value > 0)
    out_y: dict[str, float] = {n.name: n.y for n in nodes.values()}
    in_y: dict[str, float] = {n.name: n.y for n in nodes.values()}
    link_rows = []
    order = sorted(links, key=lambda link: (nodes[link[0]].y, nodes[link[1]].y))
    for s, t, v in order:
        a, b, w = nodes[s], nodes[t], v * scale
        x0, x1 = a.x + NODE_W, b.x
        y0, y1 = out_y[s], in_y[t]
        out_y[s] += w
        in_y[t] += w
        xm = (x0 + x1) / 2
        path = (
            f"M{x0:.1f},{y0:.2f}C{xm:.1f},{y0:.2f} {xm:.1f},{y1:.2f} {x1:.1f},{y1:.2f}"
            f"L{x1:.1f},{y1 + w:.2f}C{xm:.1f},{y1 + w:.2f} {xm:.1f},{y0 + w:.2f} "
            f"{x0:.1f},{y0 + w:.2f}Z"
        )
        link_rows.append(
            {
                "source": s,
                "target": t,
                "kg": round(v, 3),
                "path": path,
                "colour": "#d6604d" if b.kind == "loss" else "#4393c3",
            }
        )
    node_rows = [
        {
            "name": n.name.removeprefix("in: "),
            "kind": n.kind,
            "kg": round(n.value, 3),
            "x": n.x,
            "y": n.y,
            "h": max(n.h, 1.0),
            "right": n.column == 3,
            "middle": n.column in (1, 2),  # process stages: labelled above, clear of the inputs'
        }
        for n in nodes.values()
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega/v6.json",  # the Vega the reports embed
        "description": title,
        "width": WIDTH,
        "height": HEIGHT,
        # the default autosize ("pad") already widens the view to hold the labels and title;
        # padding is added outside that, so it is only a margin
        "padding": 10,
        "title": {"text": title, "anchor": "start"},
        "data": [{"name": "nodes", "values": node_rows}, {"name": "links", "values": link_rows}],
        "scales": [
            {
                "name": "colour",
                "type": "ordinal",
                "domain": ["input", "stage", "product", "loss"],
                "range": ["#4575b4", "#7f7f7f", "#1a9850", "#d73027"],
            }
        ],
        "marks": [
            {
                "type": "path",
                "from": {"data": "links"},
                "encode": {
                    "enter": {
                        "path": {"field": "path"},
                        "fill": {"field": "colour"},
                        "fillOpacity": {"value": 0.45},
                        "tooltip": {
                            "signal": "datum.source + ' → ' + datum.target + ': ' "
                            "+ format(datum.kg, ',.1f') + ' kg'"
                        },
                    },
                    "update": {"fillOpacity": {"value": 0.45}},
                    "hover": {"fillOpacity": {"value": 0.9}},
                },
            },
            {
                "type": "rect",
                "from": {"data": "nodes"},
                "encode": {
                    "enter": {
                        "x": {"field": "x"},
                        "width": {"value": NODE_W},
                        "y": {"field": "y"},
                        "height": {"field": "h"},
                        "fill": {"scale": "colour", "field": "kind"},
                        "tooltip": {
                            "signal": "datum.name + ': ' + format(datum.kg, ',.1f') + ' kg'"
                        },
                    }
                },
            },
            {
                "type": "text",
                "from": {"data": "nodes"},
                "encode": {
                    "enter": {
                        "x": {
                            "signal": f"datum.middle ? datum.x + {NODE_W / 2} : datum.right ? "
                            f"datum.x + {NODE_W + 4} : datum.x - 4"
                        },
                        "y": {"signal": "datum.middle ? datum.y - 4 : datum.y + datum.h / 2"},
                        "align": {
                            "signal": "datum.middle ? 'center' : datum.right ? 'left' : 'right'"
                        },
                        "baseline": {"signal": "datum.middle ? 'bottom' : 'middle'"},
                        "fontSize": {"value": 11},
                        "text": {"signal": "datum.name + ' (' + format(datum.kg, ',.0f') + ' kg)'"},
                    }
                },
            },
        ],
    }
