import { api, request } from "./api.js";
import { BackpropExplorer } from "./backprop.js";
import { CLASS_COLORS, COLORS, FONT, PLOT_CONFIG } from "./charts.js";
import { h } from "./forms.js";
import { convMethods } from "./labconv.js";
import { drawFigures } from "./labfigures.js";
import { State } from "./state.js";

const SCHEDULE_PARAMS = {
  constant: {},
  step: { step_size: 50, gamma: 0.5 },
  exponential: { gamma: 0.99 },
  cosine: { t_max: 300 },
};
const RACER_EXTRA = { momentum: "momentum", nesterov: "momentum", rmsprop: "alpha", adam: "betas" };
const ZERO_GRADIENT = "rgba(198, 40, 40, 0.13)";
const SUPERSEDED = Symbol("superseded");
const SATURATING = "rgba(245, 147, 34, 0.16)";

function field(label, control) {
  const id = control.id || `lab-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "lab-field" }, h("label", { for: id, text: label }), control);
}

function select(options, value, onchange) {
  const node = h("select", { onchange });
  for (const option of options) {
    const [key, text] = Array.isArray(option) ? option : [option, option];
    node.append(h("option", { value: key, text, selected: key === value }));
  }
  return node;
}

function number(value, attrs = {}) {
  return h("input", { type: "number", step: "any", value: String(value), ...attrs });
}

function layout(extra = {}) {
  const { xTitle, yTitle, logY, ...rest } = extra;
  return {
    margin: { l: 52, r: 12, t: 26, b: 38 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: FONT,
    legend: { orientation: "h", y: 1.02, yanchor: "bottom", x: 1, xanchor: "right", font: { size: 10 } },
    xaxis: { title: xTitle ? { text: xTitle } : undefined, gridcolor: COLORS.grid, zeroline: false, automargin: true },
    yaxis: { title: yTitle ? { text: yTitle } : undefined, gridcolor: COLORS.grid, zeroline: false, automargin: true,
      type: logY ? "log" : "linear", exponentformat: "power" },
    ...rest,
  };
}

function draw(node, data, plotLayout) {
  return Plotly.react(node, data, plotLayout, PLOT_CONFIG);
}

const color = (i) => CLASS_COLORS[(i + 1) % CLASS_COLORS.length];
const fmt = (value) => (value === null || value === undefined ? "–" : Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3)
  ? value.toExponential(2) : Number(value.toFixed(4)).toString());
const intervals = (list) => (list.length ? list.map(([a, b]) => `[${fmt(a)}, ${fmt(b)}]`).join(" ") : "none");

class Explorer {
  constructor(lab, name, title, intro) {
    this.lab = lab;
    this.name = name;
    this.controls = h("div", { class: "lab-controls" });
    this.status = h("p", { class: "lab-status", role: "status" });
    this.body = h("div", { class: "lab-body" });
    this.el = h("section", { class: "lab-section", id: `lab-${name}`, "aria-label": title, hidden: true, "data-state": "idle" },
      h("p", { class: "hint", text: intro }), this.controls, this.status, this.body);
    this.built = false;
  }

  plot(id, label) {
    return h("div", { id: `lab-${this.name}-${id}`, class: `lab-plot lab-plot-${id}`, "aria-label": label });
  }

  show() {
    if (!this.built) {
      this.built = true;
      this.build();
      this.refresh();
    }
  }

  /**
   * Runs `task(latest)`: each step it awaits through `latest` ends the task once a newer run has started, so a
   * superseded request or drawing never touches the view.
   * @param {(latest: <T>(step: Promise<T>) => Promise<T>) => Promise<void>} task
   */
  async run(task) {
    const ticket = (this.ticket = (this.ticket ?? 0) + 1);
    const latest = async (step) => {
      const value = await step;
      if (ticket !== this.ticket) throw SUPERSEDED;
      return value;
    };
    this.el.dataset.state = "loading";
    this.status.textContent = "computing…";
    this.status.classList.remove("error");
    try {
      await task(latest);
      if (ticket !== this.ticket) return;
      this.el.dataset.state = "ready";
      if (this.status.textContent === "computing…") this.status.textContent = "";
    } catch (error) {
      if (error === SUPERSEDED || ticket !== this.ticket) return;
      this.el.dataset.state = "error";
      this.status.textContent = error.message;
      this.status.classList.add("error");
    }
  }

  debounced(fn, wait = 150) {
    return () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(fn, wait);
    };
  }
}

class ActivationExplorer extends Explorer {
  constructor(lab) {
    super(lab, "activations", "Activation explorer",
      "Each activation f(x) and its derivative f'(x), computed by the engine's own layers. Shaded on the derivative: "
      + "red where the gradient is exactly zero, orange where it saturates (below 5% of its peak).");
  }

  build() {
    const groups = Object.keys(this.lab.index.activation_groups);
    this.specs = structuredClone(this.lab.index.activation_groups[groups[0]]).map((s) => (typeof s === "string" ? { name: s } : s));
    this.xMin = number(-6, { min: -50, max: 50, onchange: () => this.refresh() });
    this.xMax = number(6, { min: -50, max: 50, onchange: () => this.refresh() });
    const add = select([["", "add an activation…"], ...this.lab.index.activations.map((n) => [n, n])], "", (event) => {
      if (!event.target.value) return;
      this.specs.push(event.target.value === "maxout" ? { name: "maxout", ...this.lab.index.maxout } : { name: event.target.value });
      event.target.value = "";
      this.renderCurves();
      this.refresh();
    });
    const group = select(groups, groups[0], (event) => {
      this.specs = structuredClone(this.lab.index.activation_groups[event.target.value]).map((s) => (typeof s === "string" ? { name: s } : s));
      this.renderCurves();
      this.refresh();
    });
    group.id = "lab-activation-group";
    this.curves = h("div", { class: "lab-curves" });
    this.controls.append(h("div", { class: "lab-row" }, field("Compare", group), field("x from", this.xMin), field("to", this.xMax),
      h("div", { class: "lab-field" }, add)), this.curves);
    this.regions = h("ul", { class: "lab-regions" });
    this.notes = h("div", { class: "lab-notes" });
    this.body.append(h("div", { class: "lab-grid two" }, this.plot("f", "Activation values f(x)"), this.plot("df", "Derivatives f'(x)")),
      this.regions, this.notes);
    this.renderCurves();
  }

  renderCurves() {
    this.curves.replaceChildren(...this.specs.map((spec, i) => this.curveControls(spec, i)));
  }

  curveControls(spec, i) {
    const row = h("div", { class: "lab-curve", style: `border-left-color: ${color(i)}` }, h("strong", { text: spec.name }));
    const refresh = this.debounced(() => this.refresh());
    if (spec.name === "maxout") {
      for (const key of ["slopes", "intercepts"]) {
        const input = h("input", { type: "text", value: spec[key].join(", "), "aria-label": `maxout ${key}` });
        input.addEventListener("change", () => {
          spec[key] = input.value.split(",").map(Number);
          refresh();
        });
        row.append(field(key, input));
      }
    }
    const params = this.lab.catalog.activations[spec.name]?.params ?? {};
    for (const [key, param] of Object.entries(params)) {
      if (param.choices) {
        row.append(field(key, select(param.choices, spec[key] ?? param.default, (event) => {
          spec[key] = event.target.value;
          refresh();
        })));
      } else if (param.minimum !== undefined && param.maximum !== undefined) {
        const value = spec[key] ?? param.default;
        const output = h("output", { text: fmt(value) });
        const slider = h("input", { type: "range", min: param.minimum, max: param.maximum, step: (param.maximum - param.minimum) / 200,
          value: String(value), "aria-label": `${spec.name} ${key}` });
        slider.addEventListener("input", () => {
          spec[key] = Number(slider.value);
          output.textContent = fmt(spec[key]);
          refresh();
        });
        row.append(h("div", { class: "lab-field lab-slider" }, h("label", { text: key }), slider, output));
      }
    }
    row.append(h("button", { type: "button", class: "icon", "aria-label": `remove ${spec.name}`, text: "✕", onclick: () => {
      this.specs.splice(i, 1);
      this.renderCurves();
      this.refresh();
    } }));
    return row;
  }

  refresh() {
    const query = new URLSearchParams({ x_min: this.xMin.value, x_max: this.xMax.value, n: "401" });
    for (const spec of this.specs) query.append("spec", JSON.stringify(spec));
    return this.run(async (latest) => {
      if (!this.specs.length) return;
      const result = await latest(request("GET", `/api/lab/activations?${query}`));
      const lines = (key) => result.curves.map((curve, i) => ({ type: "scatter", mode: "lines", name: curve.label, x: result.x,
        y: curve[key], line: { color: color(i), width: 2 } }));
      const shapes = result.curves.flatMap((curve) => [
        ...curve.zero_gradient.map(([a, b]) => ({ a, b, fill: ZERO_GRADIENT })),
        ...curve.saturating.map(([a, b]) => ({ a, b, fill: SATURATING })),
      ]).map(({ a, b, fill }) => ({ type: "rect", xref: "x", yref: "paper", x0: a, x1: b, y0: 0, y1: 1, fillcolor: fill, line: { width: 0 },
        layer: "below" }));
      await latest(draw(this.body.querySelector("#lab-activations-f"), lines("y"), titled("f(x)", { xTitle: "x" })));
      await latest(draw(this.body.querySelector("#lab-activations-df"), lines("dy"), titled("f'(x)", { xTitle: "x", shapes })));
      this.regions.replaceChildren(...result.curves.map((curve, i) => h("li", { style: `border-left-color: ${color(i)}` },
        h("strong", { text: curve.label }),
        ` zero gradient: ${intervals(curve.zero_gradient)}; saturating: ${intervals(curve.saturating)}`,
        i > 0 ? `; max |f − ${result.curves[0].label}| = ${fmt(curve.max_deviation)}` : "")));
      const hard = result.curves.some((curve) => ["hardsigmoid", "hard_logistic"].includes(curve.name));
      this.notes.replaceChildren(...(hard ? [note(this.lab.index.notes_vs_torch.hard_logistic)] : []));
    });
  }
}

class RaceExplorer extends Explorer {
  constructor(lab) {
    super(lab, "race", "Optimizer race",
      "The engine's optimizers start from the same point of a 2-D test surface and follow its gradient, one step at a time. "
      + "Edit each one's learning rate, pick a schedule (stepped every iteration), then race.");
  }

  build() {
    const surfaces = Object.keys(this.lab.index.surfaces);
    this.surface = select(surfaces, "rosenbrock", () => {
      this.renderRacers();
      this.renderCheck();
      this.refresh();
    });
    this.surface.id = "lab-race-surface";
    this.steps = number(300, { min: 1, max: 2000, step: 1, id: "lab-race-steps" });
    this.startX = number(0, { min: -1000, max: 1000, id: "lab-race-start-x", title: "or click on the contour" });
    this.startY = number(0, { min: -1000, max: 1000, id: "lab-race-start-y", title: "or click on the contour" });
    this.check = h("div", { class: "lab-row lab-race-check" });
    this.schedule = select(Object.keys(SCHEDULE_PARAMS), "constant", () => this.renderSchedule());
    this.scheduleFields = h("span", { class: "lab-inline" });
    this.racers = h("div", { class: "lab-racers" });
    this.scrub = h("input", { type: "range", min: 0, max: 300, value: 0, step: 1, "aria-label": "step" });
    this.scrub.addEventListener("input", () => {
      this.stop();
      this.frame = Number(this.scrub.value);
      this.drawFrame();
    });
    this.counter = h("output", { text: "step 0" });
    const race = h("button", { type: "button", class: "primary", text: "Race", onclick: () => this.refresh() });
    const replay = h("button", { type: "button", text: "Replay", onclick: () => this.animate(0) });
    this.controls.append(h("div", { class: "lab-row" }, field("Surface", this.surface), field("Steps", this.steps),
      field("Start x", this.startX), field("Start y", this.startY), field("Schedule", this.schedule), this.scheduleFields, race,
      replay), this.racers, this.check,
    note(this.lab.index.notes_vs_torch.momentum), note(this.lab.index.notes_vs_torch.adagrad));
    this.table = h("table", { class: "lab-table" });
    this.body.append(h("div", { class: "lab-grid race" }, this.plot("contour", "Contour with trajectories"),
      this.plot("loss", "Loss per step")), h("div", { class: "lab-row" }, this.scrub, this.counter), this.table);
    this.renderSchedule();
    this.renderRacers();
    this.renderCheck();
  }

  renderCheck() {
    const surface = this.lab.index.surfaces[this.surface.value];
    [this.startX.value, this.startY.value] = surface.start.map(String);
    if (!surface.check) {
      this.check.replaceChildren(h("span", { class: "hint", text: surface.doc }));
      return;
    }
    const seed = number(0, { min: 0, step: 1, "aria-label": "check seed", class: "lab-seed" });
    const verdict = h("p", { class: "lab-verdict", role: "status" });
    const run = h("button", { type: "button", class: "primary", text: "Run the check", onclick: async () => {
      run.disabled = true;
      verdict.textContent = "computing…";
      verdict.className = "lab-verdict";
      try {
        const result = await request("POST", "/api/lab/race/check", { json: { surface: this.surface.value, seed: Number(seed.value) || 0 } });
        verdict.textContent = `${result.verdict.passed ? "✓ reproduced" : "✗ not reproduced"}: ${result.verdict.summary}`;
        verdict.classList.add(result.verdict.passed ? "passed" : "failed");
      } catch (error) {
        verdict.textContent = error.message;
        verdict.classList.add("failed");
      } finally {
        run.disabled = false;
      }
    } });
    this.check.replaceChildren(h("span", { class: "hint", text: surface.doc }),
      h("label", { class: "hint", text: "seed " }, seed), run, verdict);
  }

  pickStart(node, event) {
    const drag = node.querySelector(".nsewdrag");
    const layout = node._fullLayout;
    const [downX, downY] = this.pressed ?? [event.clientX, event.clientY];
    if (!drag || !layout || Math.hypot(event.clientX - downX, event.clientY - downY) > 4) return;
    const box = drag.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) return;
    const x = layout.xaxis.p2c(event.clientX - box.left);
    const y = layout.yaxis.p2c(event.clientY - box.top);
    this.startX.value = String(Number(x.toFixed(3)));
    this.startY.value = String(Number(y.toFixed(3)));
    this.refresh();
  }

  renderSchedule() {
    const params = SCHEDULE_PARAMS[this.schedule.value];
    this.scheduleInputs = Object.fromEntries(Object.entries(params).map(([key, value]) => [key, number(value, { min: 0 })]));
    this.scheduleFields.replaceChildren(...Object.entries(this.scheduleInputs).map(([key, input]) => field(key, input)));
  }

  renderRacers() {
    const racers = this.lab.index.surfaces[this.surface.value].racers;
    this.racerInputs = Object.entries(racers).map(([label, spec], i) => {
      const enabled = h("input", { type: "checkbox", checked: true, "aria-label": `race ${label}` });
      const lr = number(spec.lr, { min: 0, max: 10, "aria-label": `${label} learning rate` });
      const key = RACER_EXTRA[label];
      const extraValue = key === "betas" ? spec.betas?.[0] ?? 0.9 : spec[key] ?? (key === "alpha" ? 0.99 : 0.9);
      const extra = key ? number(extraValue, { min: 0, max: 0.999, "aria-label": `${label} ${key === "betas" ? "beta1" : key}` }) : null;
      const row = h("label", { class: "lab-racer", style: `border-left-color: ${color(i)}` }, enabled, h("span", { text: label }),
        h("span", { class: "hint", text: "lr" }), lr, key ? h("span", { class: "hint", text: key === "betas" ? "β1" : key }) : null, extra);
      return { label, spec, enabled, lr, key, extra, row };
    });
    this.racers.replaceChildren(...this.racerInputs.map((r) => r.row));
  }

  requestBody() {
    const optimizers = {};
    for (const r of this.racerInputs) {
      if (!r.enabled.checked) continue;
      const spec = { ...r.spec, lr: Number(r.lr.value) };
      if (r.key === "betas") spec.betas = [Number(r.extra.value), spec.betas?.[1] ?? 0.999];
      else if (r.key) spec[r.key] = Number(r.extra.value);
      optimizers[r.label] = spec;
    }
    const schedule = { name: this.schedule.value };
    for (const [key, input] of Object.entries(this.scheduleInputs)) schedule[key] = Number(input.value);
    return { surface: this.surface.value, steps: Number(this.steps.value), schedule, grid: 81,
      start: [Number(this.startX.value), Number(this.startY.value)], optimizers: Object.keys(optimizers).length ? optimizers : null };
  }

  refresh() {
    return this.run(async (latest) => {
      this.stop();
      this.result = await latest(request("POST", "/api/lab/race", { json: this.requestBody() }));
      const { grid, runs } = this.result;
      const log = grid.log_scale;
      const z = grid.z.map((row) => row.map((v) => (v === null ? null : log ? Math.log10(1 + v) : v)));
      const contour = { type: "contour", x: grid.x, y: grid.y, z, ncontours: 28, showscale: false, hoverinfo: "skip",
        colorscale: [[0, "#f7fbff"], [0.5, "#c6dbef"], [1, "#2171b5"]], contours: { coloring: "heatmap", showlines: true },
        line: { width: 0.5, color: "rgba(40,60,90,0.35)" } };
      const marks = { type: "scatter", mode: "markers", name: "minimum", x: grid.minima.map((m) => m[0]), y: grid.minima.map((m) => m[1]),
        marker: { symbol: "star", size: 12, color: "#2ca02c", line: { color: "#fff", width: 1 } }, hoverinfo: "skip" };
      const paths = runs.map((run, i) => ({ type: "scatter", mode: "lines+markers", name: run.label, x: [], y: [],
        line: { color: color(i), width: 2 }, marker: { size: 3 } }));
      const start = { type: "scatter", mode: "markers", name: "start", x: [this.result.start[0]], y: [this.result.start[1]],
        marker: { symbol: "circle-open", size: 11, color: COLORS.ink, line: { width: 2 } }, hoverinfo: "skip" };
      const [x0, x1, y0, y1] = grid.box;
      const contourNode = this.body.querySelector("#lab-race-contour");
      if (!contourNode.dataset.pick) {
        contourNode.dataset.pick = "true";
        contourNode.addEventListener("mousedown", (event) => { this.pressed = [event.clientX, event.clientY]; });
        contourNode.addEventListener("click", (event) => this.pickStart(contourNode, event));
      }
      await latest(draw(contourNode, [contour, marks, start, ...paths], layout({
        xaxis: { range: [x0, x1], zeroline: false }, yaxis: { range: [y0, y1], zeroline: false, scaleanchor: "x" },
        legend: { orientation: "h", x: 0, y: -0.1, yanchor: "top", font: { size: 10 } }, margin: { l: 52, r: 12, t: 26, b: 60 },
        title: { text: `${this.surface.value}${log ? ": contours of log10(1 + f)" : ""}`, font: { size: 12 }, x: 0.02 } })));
      const positive = runs.every((run) => run.loss.every((v) => v === null || v > 0));
      await latest(draw(this.body.querySelector("#lab-race-loss"), runs.map((run, i) => ({ type: "scatter", mode: "lines", name: run.label,
        x: [], y: [], line: { color: color(i), width: 1.6 } })), layout({ xTitle: "step", yTitle: "f", logY: positive, showlegend: false,
        title: { text: "loss per step", font: { size: 12 } } })));
      this.steps_ = Math.max(...runs.map((run) => run.x.length - 1));
      this.scrub.max = String(this.steps_);
      const minimum = (index) => (index === null || index === undefined ? "–"
        : `★ (${grid.minima[index].map(fmt).join(", ")})`);
      this.table.replaceChildren(h("tr", {}, ...["optimizer", "status", "steps", "final x", "final y", "final f", "ends in"]
        .map((t) => h("th", { text: t }))),
        ...runs.map((run, i) => h("tr", {}, h("td", { style: `color: ${color(i)}`, text: run.label }), h("td", { text: run.status }),
          h("td", { text: String(run.x.length - 1) }), h("td", { text: fmt(run.x.at(-1)) }), h("td", { text: fmt(run.y.at(-1)) }),
          h("td", { text: fmt(run.loss.at(-1)) }), h("td", { text: minimum(run.minimum) }))));
      this.animate(0);
    });
  }

  animate(from) {
    if (!this.result) return;
    this.stop();
    const start = performance.now();
    const duration = Math.min(4000, Math.max(1200, 10 * (this.steps_ - from)));
    const tick = (now) => {
      this.frame = Math.min(this.steps_, from + Math.floor(((now - start) / duration) * (this.steps_ - from)));
      this.drawFrame();
      this.animation = this.frame < this.steps_ ? requestAnimationFrame(tick) : null;
    };
    this.animation = requestAnimationFrame(tick);
  }

  stop() {
    if (this.animation) cancelAnimationFrame(this.animation);
    this.animation = null;
  }

  drawFrame() {
    const runs = this.result.runs;
    const upto = (list) => list.slice(0, this.frame + 1);
    const contour = this.body.querySelector("#lab-race-contour");
    const loss = this.body.querySelector("#lab-race-loss");
    const first = contour.data.length - runs.length;
    Plotly.restyle(contour, { x: runs.map((r) => upto(r.x)), y: runs.map((r) => upto(r.y)) }, runs.map((_, i) => first + i));
    Plotly.restyle(loss, { x: runs.map((r) => upto(r.loss).map((_, t) => t)), y: runs.map((r) => upto(r.loss)) },
      runs.map((_, i) => i));
    this.scrub.value = String(this.frame);
    this.counter.textContent = `step ${this.frame}`;
    this.el.dataset.frame = String(this.frame);
  }
}

class InitExplorer extends Explorer {
  constructor(lab) {
    super(lab, "init", "Initialization explorer",
      "A fresh stack of dense + activation layers, one forward pass on N(0, 1) inputs and one backward pass: how the "
      + "initializer shapes each layer's activations and weight gradients before any training.");
  }

  build() {
    const activations = Object.keys(this.lab.catalog.activations).filter((name) => name !== "softmax");
    const presets = Object.keys(this.lab.index.init_presets);
    const initializers = Object.keys(this.lab.catalog.initializers);
    const refresh = () => this.refresh();
    this.activation = select(activations, "tanh", refresh);
    this.activation.id = "lab-init-activation";
    this.initializer = select([...presets, ...initializers.filter((n) => !presets.includes(n))], "xavier", refresh);
    this.initializer.id = "lab-init-initializer";
    this.depth = number(10, { min: 1, max: 20, step: 1, onchange: refresh });
    this.width = number(256, { min: 2, max: 512, step: 1, onchange: refresh });
    this.controls.append(h("div", { class: "lab-row" }, field("Activation", this.activation), field("Initializer", this.initializer),
      field("Layers", this.depth), field("Units", this.width)));
    this.summary = h("p", { class: "lab-summary" });
    this.body.append(h("div", { class: "lab-grid three" }, this.plot("stats", "Activation mean and std per layer"),
      this.plot("grads", "Weight-gradient norm per layer"), this.plot("hist", "Activation histograms per layer")), this.summary);
  }

  refresh() {
    const body = { activation: this.activation.value, initializer: this.initializer.value, depth: Number(this.depth.value),
      width: Number(this.width.value) };
    return this.run(async (latest) => {
      const result = await latest(request("POST", "/api/lab/init", { json: body }));
      const layers = result.layers.map((l) => l.layer);
      const line = (name, y, c) => ({ type: "scatter", mode: "lines+markers", name, x: layers, y, line: { color: c, width: 2 } });
      await latest(draw(this.body.querySelector("#lab-init-stats"), [line("std", result.layers.map((l) => l.std), COLORS.positive),
        line("mean", result.layers.map((l) => l.mean), COLORS.negative)],
      titled("activations", { xTitle: "layer" })));
      const norms = result.layers.map((l) => (l.grad_norm > 0 ? l.grad_norm : null));
      await latest(draw(this.body.querySelector("#lab-init-grads"), [line("‖dL/dW‖", norms, COLORS.train)],
        layout({ xTitle: "layer", logY: norms.some((v) => v !== null), showlegend: false, title: { text: "weight-gradient norm", font: { size: 12 } } })));
      const centers = result.edges.slice(1).map((e, i) => (e + result.edges[i]) / 2);
      const z = result.layers.map((l) => {
        const peak = Math.max(1, ...l.histogram);
        return l.histogram.map((c) => c / peak);
      });
      await latest(draw(this.body.querySelector("#lab-init-hist"), [{ type: "heatmap", x: centers, y: layers, z, showscale: false,
        colorscale: [[0, "#ffffff"], [1, COLORS.positive]], hovertemplate: "layer %{y}, value %{x:.3g}<extra></extra>" }],
      layout({ xTitle: "activation value", yTitle: "layer", title: { text: "histograms (each row scaled to its peak)", font: { size: 12 } } })));
      const last = result.layers.at(-1);
      const parts = [`${result.activation}, ${result.initializer}: std from ${fmt(result.layers[0].std)} (layer 1) to ${fmt(last.std)} (layer ${last.layer})`,
        `gradient norm from ${fmt(result.layers[0].grad_norm)} to ${fmt(last.grad_norm)}`,
        `distinct units in the last layer: ${last.distinct_units} of ${result.width}`];
      if (last.saturated_fraction !== null) parts.push(`saturated: ${(100 * last.saturated_fraction).toFixed(0)}% in the last layer`);
      if (last.dead_fraction !== null) parts.push(`dead units: ${(100 * last.dead_fraction).toFixed(0)}% in the last layer`);
      this.summary.textContent = `${parts.join("; ")}.`;
    });
  }
}

const OFF_PLANE = 0.5;
const BOTTOM_LEGEND = { orientation: "h", x: 0, xanchor: "left", yref: "container", y: 0.01, yanchor: "bottom", font: { size: 10 } };

function titled(text, extra = {}) {
  return layout({ title: { text, font: { size: 12 }, x: 0.01, xanchor: "left", y: 0.98, yanchor: "top", yref: "container" },
    margin: { l: 52, r: 12, t: 34, b: 96 }, legend: BOTTOM_LEGEND, ...extra });
}

function note(text) {
  return h("p", { class: "hint lab-note", text: `Notes vs PyTorch: ${text}` });
}

class LandscapeExplorer extends Explorer {
  constructor(lab) {
    super(lab, "landscape", "Loss landscape",
      "The training loss around a run's weights on a plane through them. Principal directions (PCA) are the two directions "
      + "along which the recorded training path moved most (Li et al., 2018, §7), scaled to the weights' norm; random "
      + "directions are filter-normalised (each weight row scaled to the norm of the row it perturbs) and usually miss most of "
      + "the path. The share of the path's motion the plane holds is shown; hollow markers are epochs mostly off the plane, "
      + "where the contour under the path is not the loss the path had (the lower chart compares the two).");
  }

  build() {
    this.runSelect = h("select", { id: "lab-landscape-run" });
    this.n = number(21, { min: 5, max: 41, step: 1 });
    this.span = number(1, { min: 0.05, max: 10 });
    this.seed = number(0, { min: 0, step: 1 });
    this.dims = select([["2", "2-D slice"], ["1", "1-D line"]], "2");
    this.basis = select([["auto", "PCA of the path (if recorded)"], ["pca", "PCA of the path"], ["random", "random, filter-normalised"]],
      "auto");
    this.basis.id = "lab-landscape-basis";
    const compute = h("button", { type: "button", class: "primary", text: "Compute", onclick: () => this.refresh() });
    const reload = h("button", { type: "button", text: "Refresh runs", onclick: () => this.loadRuns() });
    this.controls.append(h("div", { class: "lab-row" }, field("Run", this.runSelect), reload, field("Directions", this.basis),
      field("Grid", this.n), field("Span", this.span), field("Seed", this.seed), field("Slice", this.dims), compute));
    this.body.append(h("div", { class: "lab-grid two" }, this.plot("contour", "Loss contour with the training path"),
      this.plot("surface", "Loss surface")), h("div", { class: "lab-grid" }, this.plot("path", "Loss along the training path")));
  }

  async loadRuns() {
    const runs = (await api.runs({ limit: 100 })).data.filter((run) => run.status !== "queued");
    const current = window.nnplay?.run?.id;
    this.runSelect.replaceChildren(...runs.map((run) => h("option", { value: run.id, selected: run.id === current,
      text: `${run.name ?? run.id.slice(0, 8)} · ${run.config.data.dataset} · ${run.status} · ${run.epochs} epochs` })));
    return runs.length;
  }

  pathTraces(result, y) {
    const path = result.path;
    const part = (off) => path.x.map((_, i) => ((path.off_plane[i] > OFF_PLANE) === off ? i : null)).filter((i) => i !== null);
    const on = part(false);
    const off = part(true);
    const pick = (list, index) => index.map((i) => list[i]);
    const text = result.epochs.map((e, i) => `epoch ${e}: ${(100 * (1 - path.off_plane[i])).toFixed(0)}% on the plane`);
    return [
      { type: "scatter", mode: "lines", name: "training path", x: path.x, y: y(path), line: { color: COLORS.negative, width: 2 },
        hoverinfo: "skip" },
      { type: "scatter", mode: "markers", name: "on the plane", x: pick(path.x, on), y: pick(y(path), on), text: pick(text, on),
        marker: { size: 6, color: COLORS.negative } },
      { type: "scatter", mode: "markers", name: "off the plane", x: pick(path.x, off), y: pick(y(path), off), text: pick(text, off),
        marker: { size: 7, color: "rgba(0,0,0,0)", line: { color: COLORS.negative, width: 1.5 } } },
    ];
  }

  refresh() {
    return this.run(async (latest) => {
      if (!this.runSelect.options.length && !(await latest(this.loadRuns()))) {
        this.status.textContent = "No runs yet: train one in the playground (or load an experiment), then come back.";
        return;
      }
      const directions = Number(this.dims.value);
      const result = await latest(request("POST", "/api/lab/landscape", { json: { run_id: this.runSelect.value, n: Number(this.n.value),
        span: Number(this.span.value), seed: Number(this.seed.value), directions, basis: this.basis.value } }));
      const contour = this.body.querySelector("#lab-landscape-contour");
      const surface = this.body.querySelector("#lab-landscape-surface");
      const along = this.body.querySelector("#lab-landscape-path");
      const path = result.path;
      const basis = result.basis === "pca" ? "PCA directions" : "random directions";
      const captured = path ? `; the plane holds ${(100 * path.captured).toFixed(0)}% of the path's motion` : "";
      if (directions === 1) {
        await latest(draw(contour, [{ type: "scatter", mode: "lines", name: "loss on the line", x: result.x, y: result.z,
          line: { color: COLORS.positive, width: 2 } }, ...(path ? this.pathTraces(result, (p) => p.plane_loss) : [])],
        titled(`1-D slice along ${basis}`, { xaxis: { title: { text: "α" }, gridcolor: COLORS.grid, zeroline: false, automargin: true },
          yaxis: { title: { text: "loss" }, gridcolor: COLORS.grid, zeroline: false, automargin: true } })));
        Plotly.purge(surface);
        surface.replaceChildren(h("p", { class: "hint", text: "The 3-D surface needs the 2-D slice." }));
      } else {
        await latest(draw(contour, [{ type: "contour", x: result.x, y: result.y, z: result.z, ncontours: 24, colorscale: "Viridis", name: "loss",
          showlegend: false, colorbar: { thickness: 10, len: 0.8 }, contours: { coloring: "heatmap" } },
        ...(path ? this.pathTraces(result, (p) => p.y) : []),
        { type: "scatter", mode: "markers", name: "current weights", x: [0], y: [0], marker: { symbol: "x", size: 10, color: "#fff",
          line: { color: "#000", width: 1 } } }],
        titled(`loss on ${basis} (centre ${fmt(result.center)})`, {
          xaxis: { title: { text: "α" }, gridcolor: COLORS.grid, zeroline: false, automargin: true },
          yaxis: { title: { text: "β" }, gridcolor: COLORS.grid, zeroline: false, automargin: true } })));
        if (!surface.data) surface.replaceChildren();
        const path3d = path ? [{ type: "scatter3d", mode: "lines+markers", name: "training path (its projection's loss)", x: path.x,
          y: path.y, z: path.plane_loss, line: { color: COLORS.negative, width: 5 }, marker: { size: 2, color: COLORS.negative } }] : [];
        await latest(draw(surface, [{ type: "surface", x: result.x, y: result.y, z: result.z, colorscale: "Viridis", showscale: false,
          opacity: 0.92, name: "loss" }, ...path3d], layout({ margin: { l: 0, r: 0, t: 10, b: 0 }, showlegend: false,
          scene: { xaxis: { title: { text: "α" } }, yaxis: { title: { text: "β" } }, zaxis: { title: { text: "loss" } } } })));
      }
      if (path) {
        if (!along.data) along.replaceChildren();
        await latest(draw(along, [
          { type: "scatter", mode: "lines+markers", name: "the path's own loss", x: result.epochs, y: path.loss,
            line: { color: COLORS.negative, width: 2 }, marker: { size: 4 } },
          { type: "scatter", mode: "lines", name: "loss where it lands on the plane", x: result.epochs, y: path.plane_loss,
            line: { color: COLORS.positive, width: 2, dash: "dot" } },
        ], titled(`loss along the training path${captured}`, {
          xaxis: { title: { text: "epoch" }, gridcolor: COLORS.grid, zeroline: false, automargin: true },
          yaxis: { title: { text: "loss" }, gridcolor: COLORS.grid, zeroline: false, automargin: true } })));
        along.dataset.captured = String(path.captured);
      } else {
        Plotly.purge(along);
        along.replaceChildren(h("p", { class: "hint", text: "No recorded weights: no path to draw." }));
      }
      this.status.textContent = `${result.points} training points; ${basis}${path ? `; path of ${path.x.length} recorded epochs${captured}`
        : "; no recorded weights for a path"}.`;
    });
  }
}

class ExperimentList extends Explorer {
  constructor(lab) {
    super(lab, "experiments", "Experiments",
      "Each experiment reproduces a claim of the course notes. Load a configuration into the playground to watch it train, "
      + "or run the check here: the engine trains every configuration and tests the claim on the telemetry.");
  }

  build() {
    this.list = h("div", { class: "lab-experiments" });
    this.body.append(this.list);
  }

  refresh() {
    return this.run(async (latest) => {
      const experiments = await latest(request("GET", "/api/lab/experiments"));
      this.list.replaceChildren(...experiments.map((experiment) => this.card(experiment)));
    });
  }

  card(experiment) {
    const verdict = h("p", { class: "lab-verdict", role: "status" });
    const chart = h("div", { class: "lab-plot lab-plot-experiment", id: `lab-experiment-${experiment.name}` });
    const caption = h("p", { class: "hint lab-caption" });
    const figures = h("div", { class: "lab-figures", id: `lab-figures-${experiment.name}` });
    const loads = Object.entries(experiment.configs).map(([label, config]) => h("button", { type: "button",
      text: `Load “${label}”`, onclick: () => this.lab.load(config) }));
    const seed = number(0, { min: 0, step: 1, "aria-label": `${experiment.name} seed`, class: "lab-seed" });
    const check = h("button", { type: "button", class: "primary", text: "Run the check", onclick: async () => {
      check.disabled = true;
      verdict.textContent = "training…";
      verdict.className = "lab-verdict";
      try {
        const result = await request("POST", `/api/lab/experiments/${experiment.name}/run`, { json: { seed: Number(seed.value) || 0 } });
        verdict.textContent = `${result.verdict.passed ? "✓ reproduced" : "✗ not reproduced"}: ${result.verdict.summary}`;
        verdict.classList.add(result.verdict.passed ? "passed" : "failed");
        if (result.figures?.length) await drawFigures(figures, result.figures, experiment.name);
        else await this.drawRuns(chart, caption, result.runs);
      } catch (error) {
        verdict.textContent = error.message;
        verdict.classList.add("failed");
      } finally {
        check.disabled = false;
      }
    } });
    return h("article", { class: "lab-experiment", "data-name": experiment.name }, h("h3", { text: experiment.title }),
      h("p", { text: experiment.claim }), ...(experiment.notes_vs_torch ?? []).map(note),
      h("div", { class: "button-row" }, ...loads, h("label", { class: "hint", text: "seed " }, seed), check), verdict, chart, caption, figures);
  }

  drawRuns(node, caption, runs) {
    const labels = Object.keys(runs);
    const extra = Object.keys(runs[labels[0]].series).find((key) => !["epoch", "lr", "train_loss", "test_loss", "train_metric",
      "test_metric", "val_loss", "val_metric"].includes(key));
    const key = extra ?? "train_loss";
    const validation = !extra && labels.some((label) => runs[label].series.val_loss);
    const traces = labels.flatMap((label, i) => [
      { type: "scatter", mode: "lines", name: label, x: runs[label].series.epoch, y: runs[label].series[key], line: { color: color(i), width: 2 } },
      ...(extra ? [] : [{ type: "scatter", mode: "lines", name: `${label} (test)`, x: runs[label].series.epoch,
        y: runs[label].series.test_loss, line: { color: color(i), width: 1, dash: "dot" }, showlegend: false }]),
      ...(validation && runs[label].series.val_loss ? [{ type: "scatter", mode: "lines", name: `${label} (validation)`,
        x: runs[label].series.epoch, y: runs[label].series.val_loss, line: { color: color(i), width: 1, dash: "dash" }, showlegend: false }] : []),
    ]);
    node.classList.add("drawn");
    caption.textContent = extra ? "" : `Solid: training loss; dotted: test loss${validation ? "; dashed: validation loss" : ""}.`;
    return draw(node, traces, layout({ xTitle: "epoch", yTitle: extra ? key.replace("_", " ") : "loss", logY: key !== "dead_fraction",
      height: 220 }));
  }
}

class ConvExplorer extends Explorer {
  constructor(lab) {
    super(lab, "conv", "Conv arithmetic",
      "How big a convolution's output is: output = floor((n + 2·padding − kernel) / stride) + 1 per axis, as PyTorch computes "
      + "it, checked against the engine's own conv2d and maxpool2d layers. Step the kernel's window through its positions.");
  }
}
Object.assign(ConvExplorer.prototype, convMethods);

class Lab {
  constructor(panel) {
    this.panel = panel;
    this.explorers = [ActivationExplorer, RaceExplorer, InitExplorer, LandscapeExplorer, ConvExplorer, BackpropExplorer, ExperimentList].map((E) => new E(this));
    this.nav = h("div", { class: "lab-nav", role: "group", "aria-label": "Lab explorers" },
      ...this.explorers.map((explorer) => h("button", { type: "button", "data-section": explorer.name,
        text: explorer.el.getAttribute("aria-label"), onclick: () => this.open(explorer.name) })));
    this.status = h("p", { class: "lab-status", role: "status" });
    panel.append(h("div", { class: "lab" }, this.nav, this.status, ...this.explorers.map((explorer) => explorer.el)));
    this.ready = null;
  }

  start() {
    this.ready ??= Promise.all([request("GET", "/api/lab"), api.catalog()]).then(([index, catalog]) => {
      this.index = index;
      this.catalog = catalog;
      this.open(this.current ?? "activations");
    }).catch((error) => {
      this.ready = null;
      this.status.textContent = `The lab could not start: ${error.message}`;
    });
    return this.ready;
  }

  open(name) {
    this.current = name;
    if (!this.index) return;
    for (const explorer of this.explorers) {
      const active = explorer.name === name;
      explorer.el.hidden = !active;
      this.nav.querySelector(`[data-section="${explorer.name}"]`).setAttribute("aria-pressed", String(active));
      if (active) explorer.show();
    }
  }

  async load(config) {
    const state = new State(this.catalog);
    state.replaceConfig(config);
    location.hash = state.toHash();
    document.getElementById("tab-play-btn")?.click();
  }
}

function install() {
  const panel = h("section", { id: "tab-lab", role: "tabpanel", "aria-labelledby": "tab-lab-btn", class: "tab-panel", hidden: true });
  document.querySelector("main").append(panel);
  document.head.append(h("link", { rel: "stylesheet", href: "lab.css" }));
  const lab = new Lab(panel);
  new MutationObserver(() => {
    if (!panel.hidden) lab.start();
  }).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
  window.nnplayLab = lab;
}

install();

export { draw, field, number, select, titled };
