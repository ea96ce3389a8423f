import { request, token } from "./api.js";
import { COLORS, FONT, PLOT_CONFIG } from "./charts.js";
import { h } from "./forms.js";

const PATHS = ["optimizer.lr", "optimizer.weight_decay", "model.layers.0.activation", "model.layers.0.units",
  "training.batch_size", "training.epochs", "data.noise", "seed"];
const KINDS = [["values", "grid values"], ["log_uniform", "log-uniform"], ["uniform", "uniform"], ["int", "integer"],
  ["choice", "choice"]];
const FINISHED = new Set(["completed", "stopped", "diverged", "failed", "interrupted"]);

function parseList(text) {
  return text.split(",").map((part) => part.trim()).filter((part) => part !== "").map((part) => {
    try {
      return JSON.parse(part);
    } catch {
      return part;
    }
  });
}

function shown(value) {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(3);
  if (value === null || value === undefined) return "–";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function isLogAxis(axis, values) {
  const rate = /(^|\.)(lr|weight_decay|eps)$/.test(axis.path) || axis.distribution === "log_uniform";
  return rate && values.length > 0 && values.every((value) => typeof value === "number" && value > 0);
}

function labeled(text, control) {
  control.id ||= `sweep-${Math.random().toString(36).slice(2, 9)}`;
  return h("div", { class: "sweep-field" }, h("label", { for: control.id }, text), control);
}

class AxisRow {
  constructor(path, values, onRemove) {
    this.path = h("input", { type: "text", value: path, list: "sweep-paths", spellcheck: false, "aria-label": "Axis path" });
    this.kind = h("select", { "aria-label": "Axis kind", onchange: () => this.sync() },
      ...KINDS.map(([value, text]) => h("option", { value }, text)));
    this.values = h("input", { type: "text", value: values, "aria-label": "Axis values", placeholder: "0.01, 0.03, 0.1" });
    this.low = h("input", { type: "number", step: "any", value: "0.001", "aria-label": "Axis low" });
    this.high = h("input", { type: "number", step: "any", value: "0.3", "aria-label": "Axis high" });
    this.el = h("div", { class: "sweep-axis" }, labeled("Path", this.path), labeled("Kind", this.kind),
      labeled("Values", this.values), labeled("Low", this.low), labeled("High", this.high),
      h("button", { type: "button", class: "icon", "aria-label": "Remove axis", onclick: () => onRemove(this) }, "✕"));
    this.sync();
  }

  sync() {
    const kind = this.kind.value;
    this.values.parentElement.hidden = !["values", "choice"].includes(kind);
    this.low.parentElement.hidden = this.high.parentElement.hidden = ["values", "choice"].includes(kind);
  }

  spec() {
    const path = this.path.value.trim();
    const kind = this.kind.value;
    if (kind === "values") return { path, values: parseList(this.values.value) };
    if (kind === "choice") return { path, distribution: "choice", choices: parseList(this.values.value) };
    return { path, distribution: kind, low: Number(this.low.value), high: Number(this.high.value) };
  }
}

class SweepsPanel {
  constructor(panel) {
    this.panel = panel;
    this.axes = [];
    this.sweep = null;
    this.socket = null;
    this.axisList = h("div", { class: "sweep-axes" });
    this.mode = h("select", { id: "sweep-mode" }, h("option", { value: "grid" }, "grid"), h("option", { value: "random" }, "random"));
    this.budget = h("input", { id: "sweep-budget", type: "number", min: "1", step: "1", value: "16" });
    this.concurrency = h("input", { id: "sweep-concurrency", type: "number", min: "1", step: "1", value: "2" });
    this.epochs = h("input", { id: "sweep-epochs", type: "number", min: "1", step: "1", value: "" });
    this.startButton = h("button", { type: "submit", id: "sweep-start", class: "primary" }, "Start sweep");
    this.stopButton = h("button", { type: "button", id: "sweep-stop", disabled: true, onclick: () => this.stop() }, "Stop");
    this.error = h("p", { id: "sweep-error", class: "sweep-error", role: "alert" });
    this.status = h("p", { id: "sweep-status", class: "hint", role: "status" });
    this.csv = h("a", { id: "sweep-csv", class: "button", "aria-disabled": "true" }, "Download CSV");
    this.body = h("tbody", { id: "sweep-body" });
    this.head = h("tr");
    this.parcoords = h("div", { id: "sweep-parcoords", class: "sweep-parcoords", role: "img",
      "aria-label": "Parallel coordinates of the hyperparameters and the best test metric" });
    this.chartsTitle = h("h3", { id: "sweep-charts-title" });
    this.scatters = h("div", { id: "sweep-scatters", class: "sweep-scatters" });
    const form = h("form", { class: "card sweep-form", "aria-labelledby": "sweep-title", novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        this.start();
      } },
    h("h2", { id: "sweep-title" }, "Sweep the current setup"),
    h("p", { class: "hint" }, "Each axis is a config path; every run starts from the playground's current setup."),
    h("datalist", { id: "sweep-paths" }, ...PATHS.map((path) => h("option", { value: path }))),
    this.axisList,
    h("div", { class: "button-row" }, h("button", { type: "button", id: "sweep-add-axis", onclick: () => this.addAxis("seed", "0, 1, 2") },
      "Add axis")),
    h("div", { class: "sweep-settings" }, labeled("Mode", this.mode), labeled("Budget (runs)", this.budget),
      labeled("Concurrency", this.concurrency), labeled("Epochs per run", this.epochs)),
    h("div", { class: "button-row" }, this.startButton, this.stopButton, this.csv),
    this.error, this.status);
    const results = h("section", { class: "card sweep-results", "aria-labelledby": "sweep-results-title" },
      h("h2", { id: "sweep-results-title" }, "Runs"),
      h("p", { class: "hint" }, "Click a row to open that run in the playground."),
      h("div", { class: "table-wrap" }, h("table", { class: "runs-table sweep-table" }, h("thead", {}, this.head), this.body)),
      this.chartsTitle, this.parcoords, this.scatters);
    panel.append(h("div", { class: "sweeps-layout" }, form, results));
    this.addAxis("optimizer.lr", "0.01, 0.03, 0.1");
    this.prefilled = false;
  }

  addAxis(path, values) {
    const row = new AxisRow(path, values, (removed) => {
      this.axes = this.axes.filter((axis) => axis !== removed);
      removed.el.remove();
    });
    this.axes.push(row);
    this.axisList.append(row.el);
  }

  show() {
    if (this.prefilled) return;
    const epochs = window.nnplay?.state?.config?.training?.epochs;
    if (epochs && !this.epochs.value) this.epochs.value = String(epochs);
    this.prefilled = true;
  }

  baseConfig() {
    const base = structuredClone(window.nnplay?.state?.config ?? {});
    const epochs = Number.parseInt(this.epochs.value, 10);
    if (Number.isFinite(epochs)) base.training = { ...(base.training ?? {}), epochs };
    return base;
  }

  showError(error) {
    this.error.textContent = error.message;
    const where = error.fieldErrors?.[0]?.loc ?? (Array.isArray(error.detail?.loc) ? error.detail.loc : []);
    const index = where[1] === "axes" && Number.isInteger(where[2]) ? where[2] : null;
    this.axes.forEach((axis, i) => axis.path.toggleAttribute("aria-invalid", i === index));
  }

  async start() {
    this.error.textContent = "";
    for (const axis of this.axes) axis.path.removeAttribute("aria-invalid");
    const spec = {
      base: this.baseConfig(),
      axes: this.axes.map((axis) => axis.spec()),
      mode: this.mode.value,
      budget: Number.parseInt(this.budget.value, 10),
      concurrency: Number.parseInt(this.concurrency.value, 10),
    };
    this.startButton.disabled = true;
    try {
      const table = await request("POST", "/api/sweeps", { json: spec });
      this.follow(table);
    } catch (error) {
      this.showError(error);
      this.startButton.disabled = false;
    }
  }

  follow(table) {
    this.socket?.close();
    this.render(table);
    this.stopButton.disabled = false;
    this.csv.href = `/api/sweeps/${table.id}/csv`;
    this.csv.setAttribute("download", `sweep-${table.id}.csv`);
    this.csv.removeAttribute("aria-disabled");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const protocols = token ? ["nnplay", `token.${token}`] : ["nnplay"];
    const socket = new WebSocket(`${scheme}//${location.host}/api/sweeps/${table.id}/stream`, protocols);
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return;
      const message = JSON.parse(event.data);
      if (message.type === "sweep" && this.sweep?.id === message.sweep.id) this.render(message.sweep);
      else if (message.type === "done" || message.type === "error") this.finish(message.status);
    });
    socket.addEventListener("close", () => {
      if (this.socket === socket && this.sweep?.status === "running") this.finish("disconnected");
    });
  }

  finish(status) {
    this.stopButton.disabled = true;
    this.startButton.disabled = false;
    if (this.sweep) this.sweep.status = status;
    this.socket = null;
    this.updateStatus();
  }

  async stop() {
    if (!this.sweep) return;
    const id = this.sweep.id;
    this.stopButton.disabled = true;
    try {
      await request("DELETE", `/api/sweeps/${id}`);
      const socket = this.socket;
      this.finish("stopped");
      socket?.close();
      this.csv.removeAttribute("href");
      this.csv.setAttribute("aria-disabled", "true");
    } catch (error) {
      this.error.textContent = `Could not stop the sweep: ${error.message}`;
      this.stopButton.disabled = false;
    }
  }

  updateStatus() {
    const sweep = this.sweep;
    this.status.textContent = `Sweep ${sweep.id.slice(0, 8)}: ${sweep.status}, ${sweep.finished} of ${sweep.total} runs finished.`;
    this.panel.dataset.state = sweep.status;
  }

  render(table) {
    this.sweep = table;
    const paths = table.axes.map((axis) => axis.path);
    const metric = table.runs.find((row) => row.metric)?.metric ?? "metric";
    this.head.replaceChildren(h("th", { scope: "col", class: "num" }, "#"), ...paths.map((path) => h("th", { scope: "col" }, path)),
      h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "num" }, "Epochs"),
      h("th", { scope: "col", class: "num" }, `Best test ${metric}`), h("th", { scope: "col", class: "num" }, "Final test loss"));
    this.body.replaceChildren(...table.runs.map((row) => {
      const open = row.run_id && window.nnplay?.reopen ? () => window.nnplay.reopen(row.run_id) : null;
      return h("tr", { dataset: { index: String(row.index), status: row.status }, class: open ? "clickable" : null,
        tabindex: open ? "0" : null, title: open ? `Open run ${row.run_id}` : null, onclick: open,
        onkeydown: open ? (event) => event.key === "Enter" && open() : null },
      h("td", { class: "num" }, String(row.index)), ...paths.map((path) => h("td", {}, shown(row.params[path]))),
      h("td", {}, row.status), h("td", { class: "num" }, shown(row.epochs)),
      h("td", { class: "num" }, shown(row.best_test_metric)), h("td", { class: "num" }, shown(row.final_test_loss)));
    }));
    this.updateStatus();
    this.draw(table, metric);
  }

  draw(table, metric) {
    const scored = table.runs.filter((row) => typeof row.best_test_metric === "number" && FINISHED.has(row.status));
    const best = scored.map((row) => row.best_test_metric);
    const dimensions = table.axes.map((axis) => {
      const values = scored.map((row) => row.params[axis.path]);
      if (values.every((value) => typeof value === "number")) {
        const log = isLogAxis(axis, values);
        const shownValues = log ? values.map(Math.log10) : values;
        return { label: log ? `log10 ${axis.path}` : axis.path, values: shownValues };
      }
      const names = [...new Set(values.map(shown))];
      return { label: axis.path, values: values.map((value) => names.indexOf(shown(value))), tickvals: names.map((_, i) => i),
        ticktext: names };
    });
    dimensions.push({ label: `best test ${metric}`, values: best });
    this.chartsTitle.textContent = scored.length ? `Hyperparameters against the best test ${metric}` : "Finished runs appear here.";
    const layout = { font: FONT, margin: { l: 60, r: 60, t: 40, b: 20 }, height: 300, paper_bgcolor: "rgba(0,0,0,0)" };
    window.Plotly.react(this.parcoords, [{ type: "parcoords", dimensions,
      line: { color: best, colorscale: "Viridis", showscale: scored.length > 0, colorbar: { title: { text: metric } } } }], layout, PLOT_CONFIG);
    this.parcoords.dataset.lines = String(scored.length);
    const plots = table.axes.map((axis, i) => {
      let node = this.scatters.children[i];
      if (!node) {
        node = h("div", { class: "sweep-scatter", role: "img" });
        this.scatters.append(node);
      }
      node.setAttribute("aria-label", `Best test ${metric} against ${axis.path}`);
      const values = scored.map((row) => row.params[axis.path]);
      const numeric = values.every((value) => typeof value === "number");
      const x = numeric ? values : values.map(shown);
      const xaxis = { title: { text: axis.path }, type: numeric ? (isLogAxis(axis, values) ? "log" : "linear") : "category" };
      window.Plotly.react(node, [{ type: "scatter", mode: "markers", x, y: best, marker: { color: COLORS.train, size: 8 },
        text: scored.map((row) => `run ${row.index}`), hovertemplate: "%{text}: %{x} → %{y}<extra></extra>" }],
      { font: FONT, height: 240, margin: { l: 50, r: 10, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", xaxis,
        yaxis: { title: { text: `best test ${metric}` } } }, PLOT_CONFIG);
      return node;
    });
    for (const extra of [...this.scatters.children].slice(plots.length)) {
      window.Plotly.purge(extra);
      extra.remove();
    }
  }
}

function install() {
  const panel = h("section", { id: "tab-sweeps", role: "tabpanel", "aria-labelledby": "tab-sweeps-btn", class: "tab-panel", hidden: true });
  document.querySelector("main").append(panel);
  const sweeps = new SweepsPanel(panel);
  new MutationObserver(() => {
    if (!panel.hidden) sweeps.show();
  }).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
  window.nnplaySweeps = sweeps;
}

install();
