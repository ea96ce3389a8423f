import { request, token } from "./api.js";
import { COLORS, FONT, FrameScheduler, PLOT_CONFIG, ScatterChart, decodeRecord } from "./charts.js";
import { h } from "./forms.js";

const PATHS = ["optimizer.lr", "optimizer.weight_decay", "model.layers.0.activation", "model.layers.0.units",
  "training.batch_size", "training.epochs", "data.noise", "seed"];
const KINDS = [["values", "grid values"], ["log_uniform", "log-uniform"], ["uniform", "uniform"], ["int", "integer"],
  ["choice", "choice"]];
const FINISHED = new Set(["completed", "stopped", "diverged", "failed", "interrupted"]);
const TOP_RUNS = 6;
const LAST_HEAVY = 2 ** 31 - 1;
const SWEEP_KEY = "nnplay-sweep";
const STARTED = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
const SETUP_IDS = ["data-fields", "layer-editor", "training-fields"];
const LIVE_PATHS = { "live-lr": "optimizer.lr", "live-penalty": "regularization.penalty", "live-rate": "regularization.rate" };
const AXIS_PATHS = { "training.batch_size.n": "training.batch_size" };
const RATES = /^(lr|rate|weight_decay|eps|lr_decay|eta_min)$/;
const BATCH_SIZES = ["full", 1, 10, 50];

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

function configValue(config, path) {
  return path.split(".").reduce((node, key) => (node === null || node === undefined ? undefined : node[key]), config);
}

function round3(value) {
  return Number(value.toPrecision(3));
}

/**
 * Values to sweep a playground field over: a select's choices; for numbers, log-spaced around a rate,
 * four seeds from the current one, halves and doubles of a count, a spread within the field's bounds.
 * @param {string} path the field's config path
 * @param {*} value its current value
 * @param {HTMLInputElement|HTMLSelectElement} control the field's control (a select's choices, an input's bounds)
 * @returns {Array<string|number>}
 */
export function suggestValues(path, value, control) {
  if (control.tagName === "SELECT") {
    if (path === "training.batch_size") return BATCH_SIZES;
    return [...control.options].filter((option) => option.value !== "" && !option.textContent.endsWith("(unknown)"))
      .map((option) => option.value);
  }
  const name = path.split(".").pop();
  const given = value === null || value === undefined || value === "" ? Number.parseFloat(control.placeholder) : Number(value);
  const number = Number.isFinite(given) || name !== "seed" ? given : 0;
  if (!Number.isFinite(number)) return [];
  const min = control.min === "" ? -Infinity : Number(control.min);
  const max = control.max === "" ? Infinity : Number(control.max);
  let values;
  if (name === "seed") values = [0, 1, 2, 3].map((offset) => number + offset);
  else if (RATES.test(name)) values = number > 0 ? [0.1, 0.3, 1, 3, 10].map((factor) => round3(number * factor)) : [0, 0.0001, 0.001, 0.01];
  else if (control.step === "1") values = [Math.round(number / 2), number, number * 2];
  else if (number === 0) values = [0, 0.1, 0.5];
  else if (max <= 1) values = [round3(number / 2), number, round3((number + max) / 2)];
  else values = [round3(number / 2), number, round3(number * 2)];
  return [...new Set(values.filter((candidate) => candidate >= min && candidate <= max))];
}

function listText(values) {
  return values.map((value) => (typeof value === "string" ? value : JSON.stringify(value))).join(", ");
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
    this.topTitle = h("h3", { id: "sweep-top-title" });
    this.top = h("div", { id: "sweep-top", class: "sweep-top" });
    this.topKey = "";
    this.topData = new Map();
    this.scheduler = new FrameScheduler();
    this.listBody = h("tbody", { id: "sweep-list" });
    this.listNote = h("p", { id: "sweep-list-note", class: "hint" });
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
      this.chartsTitle, this.parcoords, this.scatters, this.topTitle, this.top);
    const list = h("section", { class: "card sweep-list", "aria-labelledby": "sweep-list-title" },
      h("h2", { id: "sweep-list-title" }, "Sweeps on this server"),
      h("div", { class: "table-wrap" }, h("table", { class: "runs-table" },
        h("thead", {}, h("tr", {}, ...["Started", "Axes", "Status", "Finished", ""].map((text) => h("th", { scope: "col" }, text)))),
        this.listBody)),
      this.listNote);
    panel.append(h("div", { class: "sweeps-layout" }, h("div", { class: "sweep-side" }, form, list), results));
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
    this.loadList();
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
    this.socket = null;
    localStorage.setItem(SWEEP_KEY, table.id);
    this.startButton.disabled = table.status === "running";
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
    this.loadList();
  }

  /** Lists the server's sweeps, newest first, each with a button that reopens it here. */
  async loadList() {
    let sweeps;
    try {
      sweeps = await request("GET", "/api/sweeps");
    } catch (error) {
      this.listNote.textContent = `Could not list the sweeps: ${error.message}`;
      return [];
    }
    this.listNote.textContent = sweeps.length ? "" : "No sweeps yet.";
    this.listBody.replaceChildren(...sweeps.map((sweep) => {
      const current = sweep.id === this.sweep?.id;
      const axes = sweep.name ?? sweep.axes.map((axis) => axis.path).join(" × ");
      const started = new Date(sweep.created_at * 1000).toLocaleString([], STARTED);
      return h("tr", { dataset: { id: sweep.id, status: sweep.status }, "aria-current": current ? "true" : null },
        h("td", {}, started), h("td", {}, axes), h("td", {}, sweep.status),
        h("td", { class: "num" }, `${sweep.finished} of ${sweep.total}`),
        h("td", {}, h("button", { type: "button", disabled: current, "aria-label": `Open the sweep of ${axes} started ${started}`,
          onclick: () => this.open(sweep.id) }, "Open")));
    }));
    return sweeps;
  }

  /** Shows the sweep followed before the page loaded, or else the newest running one. */
  async reattach() {
    const sweeps = await this.loadList();
    if (this.sweep) return;
    const remembered = localStorage.getItem(SWEEP_KEY);
    const chosen = sweeps.find((sweep) => sweep.id === remembered) ?? sweeps.find((sweep) => sweep.status === "running");
    if (chosen) await this.open(chosen.id);
  }

  async open(id) {
    this.error.textContent = "";
    try {
      this.follow(await request("GET", `/api/sweeps/${id}`));
      this.loadList();
    } catch (error) {
      this.error.textContent = `Could not open the sweep: ${error.message}`;
    }
  }

  /** Opens this tab with the playground's setup as the base and one axis on `path`, over sensible values. */
  sweepThis(path, control) {
    const config = window.nnplay?.state?.config ?? {};
    const axisPath = AXIS_PATHS[path] ?? path;
    const current = configValue(config, axisPath);
    const values = suggestValues(path, current ?? control.value, control);
    for (const axis of this.axes) axis.el.remove();
    this.axes = [];
    this.addAxis(axisPath, listText(values));
    this.mode.value = "grid";
    if (!(Number(this.budget.value) >= values.length)) this.budget.value = String(values.length);
    if (config.training?.epochs) this.epochs.value = String(config.training.epochs);
    this.prefilled = true;
    this.error.textContent = "";
    document.getElementById("tab-sweeps-btn").click();
    this.axes[0].values.focus();
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
      localStorage.removeItem(SWEEP_KEY);
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
    this.drawTop(table, scored, metric);
  }

  /** Small multiples of the best finished runs: loss curves and decision boundary; a click opens the run. */
  drawTop(table, scored, metric) {
    const ranked = [...scored].sort((a, b) => b.best_test_metric - a.best_test_metric).slice(0, TOP_RUNS);
    const key = `${table.id}:${ranked.map((row) => row.run_id).join(",")}`;
    if (key === this.topKey) return;
    this.topKey = key;
    for (const node of this.top.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(node);
    this.topTitle.textContent = ranked.length ? `Top ${ranked.length} runs by best test ${metric}` : "";
    this.top.replaceChildren(...ranked.map((row, rank) => this.topCard(row, rank, table.axes, metric)));
  }

  topCard(row, rank, axes, metric) {
    const loss = h("div", { class: "sweep-top-loss", role: "img", "aria-label": `Loss curves of run ${row.index}` });
    const boundary = h("div", { class: "sweep-top-boundary", role: "img", "aria-label": `Decision boundary of run ${row.index}` });
    const open = () => window.nnplay?.reopen(row.run_id);
    const settings = axes.map((axis) => `${axis.path} ${shown(row.params[axis.path])}`).join(", ");
    const card = h("article", { class: "sweep-top-card", tabindex: "0", dataset: { runId: row.run_id, index: String(row.index) },
      title: `Open run ${row.index} in the playground`, onclick: open, onkeydown: (event) => event.key === "Enter" && open() },
    h("h4", {}, `${rank + 1}. run ${row.index}: ${metric} ${shown(row.best_test_metric)}`),
    h("p", { class: "hint" }, settings), h("div", { class: "sweep-top-charts" }, loss, boundary));
    this.fillCard(row.run_id, loss, boundary);
    return card;
  }

  topRun(runId) {
    if (!this.topData.has(runId)) {
      const data = Promise.all([request("GET", `/api/runs/${runId}/epochs`),
        request("GET", `/api/runs/${runId}/epochs?heavy=1&every=${LAST_HEAVY}`)])
        .then(([scalars, heavy]) => ({ scalars, boundary: decodeRecord(heavy.at(-1))?.boundary ?? null }));
      data.catch(() => this.topData.delete(runId));
      this.topData.set(runId, data);
    }
    return this.topData.get(runId);
  }

  async fillCard(runId, lossNode, boundaryNode) {
    let data;
    try {
      data = await this.topRun(runId);
    } catch (error) {
      lossNode.textContent = `Could not load the run: ${error.message}`;
      return;
    }
    if (!lossNode.isConnected) return;
    const epochs = data.scalars.map((record) => record.epoch);
    const trace = (name, key, color) => ({ type: "scatter", mode: "lines", name, x: epochs,
      y: data.scalars.map((record) => record[key]), line: { color, width: 1.5 } });
    window.Plotly.react(lossNode, [trace("train", "train_loss", COLORS.train), trace("test", "test_loss", COLORS.test)],
      { font: FONT, height: 130, margin: { l: 36, r: 6, t: 6, b: 22 }, showlegend: false, paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "rgba(0,0,0,0)", xaxis: { gridcolor: COLORS.grid }, yaxis: { gridcolor: COLORS.grid } }, PLOT_CONFIG);
    if (data.boundary) new ScatterChart(boundaryNode, this.scheduler, { compact: true }).setBoundary(data.boundary);
    else boundaryNode.replaceWith(h("p", { class: "hint sweep-top-boundary" }, "No decision boundary: the input is not 2-D."));
  }
}

/** Adds a "sweep this" button beside every numeric and choice field of the playground's setup and live controls. */
function installSweepThis(sweeps) {
  const button = (path, label) => h("button", { type: "button", class: "sweep-this", dataset: { path },
    "aria-label": `Sweep ${label}`, title: `Sweep this: open the Sweeps tab with an axis on ${AXIS_PATHS[path] ?? path}` }, "⇶");
  const sweepable = (control) => control?.tagName === "SELECT" || (control?.tagName === "INPUT" && control.type === "number");
  const decorate = (root) => {
    for (const field of root.querySelectorAll(".field[data-path]")) {
      const control = field.querySelector(":scope > .control");
      const group = field.parentElement;
      const subParameter = group?.classList.contains("spec-field") && group.firstElementChild !== field;
      if (!sweepable(control) || subParameter || field.querySelector(":scope > .sweep-this")) continue;
      const add = button(field.dataset.path, field.dataset.label ?? field.dataset.path);
      add.addEventListener("click", () => sweeps.sweepThis(field.dataset.path, control));
      field.classList.add("sweepable");
      control.after(add);
    }
  };
  for (const [id, path] of Object.entries(LIVE_PATHS)) {
    const control = document.getElementById(id);
    if (!control) continue;
    const label = control.labels?.[0];
    const add = button(path, label?.textContent ?? path);
    add.addEventListener("click", () => sweeps.sweepThis(path, control));
    (label ?? control).after(add);
  }
  const roots = SETUP_IDS.map((id) => document.getElementById(id)).filter(Boolean);
  const observer = new MutationObserver(() => roots.forEach(decorate));
  for (const root of roots) {
    decorate(root);
    observer.observe(root, { childList: true, subtree: true });
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
  installSweepThis(sweeps);
  sweeps.reattach();
}

install();
