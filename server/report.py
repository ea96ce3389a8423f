"""A standalone HTML report of a run: curves, weight distributions over time, final histograms, boundary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from engine.telemetry import decode
from engine.trainer import EpochRecord

BANDS = (
    (0, 8, "rgba(31,119,180,0.15)"),
    (1, 7, "rgba(31,119,180,0.25)"),
    (2, 6, "rgba(31,119,180,0.35)"),
    (3, 5, "rgba(31,119,180,0.5)"),
)


def slim(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a record the report uses: scalars, and per-layer weight statistics."""
    kept = {k: v for k, v in record.items() if k not in EpochRecord.HEAVY_FIELDS}
    if record.get("layers"):
        kept["layers"] = [
            {"label": layer.get("label"), "weight": layer["weight"]}
            for layer in record["layers"]
            if "weight" in layer
        ]
    return kept


def curves(records: list[dict[str, Any]]) -> go.Figure:
    metric = records[-1]["metric"] if records else "accuracy"
    figure = make_subplots(rows=1, cols=3, subplot_titles=("loss", metric, "learning rate"))
    epochs = [r["epoch"] for r in records]
    for col, quantity in ((1, "loss"), (2, "metric")):
        for split, color in (("train", "#1f77b4"), ("test", "#ff7f0e")):
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[r[f"{split}_{quantity}"] for r in records],
                    name=f"{split} {metric if quantity == 'metric' else 'loss'}",
                    line={"color": color},
                ),
                row=1,
                col=col,
            )
    figure.add_trace(
        go.Scatter(x=epochs, y=[r["lr"] for r in records], name="lr", line={"color": "#2ca02c"}), 1, 3
    )
    figure.update_xaxes(title_text="epoch")
    figure.update_layout(height=380, margin={"t": 40})
    return figure


def _weight_layers(records: list[dict[str, Any]]) -> list[str]:
    heavy = [r for r in records if r.get("layers")]
    return [layer["label"] for layer in heavy[-1]["layers"]] if heavy else []


def distributions(records: list[dict[str, Any]]) -> go.Figure | None:
    """TensorBoard-style bands: weight percentiles (0, 6.68, ..., 100) of each layer over the epochs."""
    labels = _weight_layers(records)
    if not labels:
        return None
    figure = make_subplots(
        rows=len(labels),
        cols=2,
        subplot_titles=[
            title
            for label in labels
            for title in (f"{label}: weights over epochs", f"{label}: final weights")
        ],
    )
    heavy = [r for r in records if r.get("layers")]
    for row, label in enumerate(labels, start=1):
        points = [
            (r["epoch"], layer["weight"]) for r in heavy for layer in r["layers"] if layer["label"] == label
        ]
        epochs = [epoch for epoch, _ in points]
        percentiles = [decode(stats["percentiles"]).tolist() for _, stats in points]
        for low, high, color in BANDS:
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[p[high] for p in percentiles],
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row,
                1,
            )
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[p[low] for p in percentiles],
                    mode="lines",
                    fill="tonexty",
                    fillcolor=color,
                    line={"width": 0},
                    showlegend=False,
                ),
                row,
                1,
            )
        figure.add_trace(
            go.Scatter(
                x=epochs,
                y=[p[4] for p in percentiles],
                name="median",
                showlegend=False,
                line={"color": "#1f77b4"},
            ),
            row,
            1,
        )
        histogram = points[-1][1]["histogram"]
        counts = decode(histogram["counts"]).tolist()
        width = (histogram["high"] - histogram["low"]) / max(len(counts), 1)
        figure.add_trace(
            go.Bar(
                x=[histogram["low"] + (i + 0.5) * width for i in range(len(counts))],
                y=counts,
                width=width,
                showlegend=False,
                marker={"color": "#1f77b4"},
            ),
            row,
            2,
        )
    figure.update_layout(height=260 * len(labels), margin={"t": 40}, bargap=0)
    return figure


def boundary(grid: dict[str, Any] | None) -> go.Figure | None:
    if not grid:
        return None
    figure = go.Figure(
        go.Heatmap(
            x=decode(grid["x"]).tolist(),
            y=decode(grid["y"]).tolist(),
            z=decode(grid["z"]).tolist(),
            colorscale="RdBu",
            colorbar={"title": grid.get("kind")},
        )
    )
    figure.update_layout(title="decision boundary (last epoch)", height=420, width=480, margin={"t": 40})
    return figure


def write_report(
    path: Path,
    config: dict[str, Any],
    records: list[dict[str, Any]],
    status: str,
    message: str | None,
    last_boundary: dict[str, Any] | None = None,
) -> None:
    """Write one HTML file with plotly.js inlined, so it opens offline."""
    figures = [f for f in (curves(records), distributions(records), boundary(last_boundary)) if f is not None]
    last = records[-1] if records else {}
    title = html.escape(config.get("name") or "nnplay run")
    facts = (
        f"status <b>{html.escape(status)}</b>{': ' + html.escape(message) if message else ''} &middot; "
        f"{len(records)} epochs &middot; dataset {html.escape(config['data']['dataset'])} &middot; "
        f"optimizer {html.escape(config['optimizer']['name'])} &middot; "
        f"final test {html.escape(str(last.get('metric', '')))}: {last.get('test_metric')}"
    )
    parts = [figure.to_html(full_html=False, include_plotlyjs=False) for figure in figures]
    Path(path).write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + title + "</title>"
        "<script>" + get_plotlyjs() + "</script>"
        "<style>body{font-family:system-ui,sans-serif;margin:1.5rem}</style></head><body>"
        f"<h1>{title}</h1><p>{facts}</p>" + "".join(parts) + "</body></html>",
        encoding="utf-8",
    )
