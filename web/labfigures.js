// An experiment's figures as the engine describes them: {id, title, x_title, y_title, log_x, log_y, traces}.
import { CLASS_COLORS, COLORS, FONT, PLOT_CONFIG } from "./charts.js";

const HEIGHT = 300;
const LEGEND_ROW = 18;
const LEGEND_SWATCH = 46;
const CHAR_WIDTH = 6.2;
const MARKERS = "rgba(59, 66, 80, 0.35)";

const color = (i) => CLASS_COLORS[(i + 1) % CLASS_COLORS.length];

function trace(spec, i, categorical) {
  const base = { name: spec.name, x: spec.x, y: spec.y };
  if (spec.kind === "bar") {
    return { ...base, type: "bar", marker: { color: color(i) }, opacity: categorical ? 1 : 0.55 };
  }
  if (spec.kind === "markers") {
    return { ...base, type: "scatter", mode: "markers", marker: { color: MARKERS, size: 4 } };
  }
  return { ...base, type: "scatter", mode: "lines", line: { color: color(i), width: 2, dash: spec.dash ?? "solid" } };
}

/** Rows a horizontal legend needs at this width: entries are laid left to right and wrap. */
function legendRows(traces, width) {
  let rows = 1;
  let used = 0;
  for (const t of traces) {
    const entry = LEGEND_SWATCH + CHAR_WIDTH * t.name.length;
    if (used > 0 && used + entry > width) {
      rows += 1;
      used = 0;
    }
    used += entry;
  }
  return rows;
}

function axis(title, log, categorical = false) {
  return { title: { text: title, standoff: 6 }, type: categorical ? "category" : log ? "log" : undefined, gridcolor: COLORS.grid, zeroline: false,
    automargin: true, exponentformat: "power" };
}

/** The layout: title at the top left, axis titles beside their axes, the legend in its own band at the bottom. */
function figureLayout(figure, width) {
  const rows = legendRows(figure.traces, width - 20);
  const legendBand = rows * LEGEND_ROW + 8;
  const categorical = typeof figure.traces[0].x[0] === "string";
  return {
    height: HEIGHT + legendBand,
    margin: { l: 56, r: 14, t: 34, b: 44 + legendBand },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: FONT,
    title: { text: figure.title, font: { size: 12 }, x: 0.01, xanchor: "left", y: 0.99, yanchor: "top", yref: "container" },
    legend: { orientation: "h", x: 0, xanchor: "left", y: 0, yanchor: "bottom", yref: "container", font: { size: 10 } },
    barmode: categorical ? "group" : "overlay",
    bargap: categorical ? 0.25 : 0,
    xaxis: axis(figure.x_title, figure.log_x, categorical),
    yaxis: axis(figure.y_title, figure.log_y),
  };
}

/**
 * Draw every figure into container (one plot each, stacked), replacing what it held.
 * @param {HTMLElement} container
 * @param {object[]} figures the experiment's figures (traces, titles, axes)
 * @param {string} name the experiment's name, for the figures' ids
 * @returns {Promise<void>}
 */
export async function drawFigures(container, figures, name) {
  for (const node of container.querySelectorAll(".lab-figure")) Plotly.purge(node);
  const nodes = figures.map((figure) => {
    const node = document.createElement("div");
    node.className = "lab-figure";
    node.id = `lab-figure-${name}-${figure.id}`;
    node.setAttribute("role", "img");
    node.setAttribute("aria-label", figure.title);
    return node;
  });
  container.replaceChildren(...nodes);
  await Promise.all(figures.map((figure, i) => {
    const categorical = typeof figure.traces[0].x[0] === "string";
    const data = figure.traces.map((spec, j) => trace(spec, j, categorical));
    return Plotly.newPlot(nodes[i], data, figureLayout(figure, nodes[i].clientWidth || 400), PLOT_CONFIG);
  }));
}
