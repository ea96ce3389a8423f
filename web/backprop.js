import { request } from "./api.js";
import { h } from "./forms.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 1100;
const HEIGHT = 470;
const TOP = 46;
const BOTTOM = 24;
const SIDE = 56;
const RADIUS = 17;
const PLAYGROUND = "playground";
const RUN = "run";

const fmt = (value) => {
  if (value === null || value === undefined) return "–";
  if (value === 0) return "0";
  const size = Math.abs(value);
  return size >= 1e4 || size < 1e-3 ? value.toExponential(3) : Number(value.toPrecision(4)).toString();
};
const paren = (value) => (value < 0 ? `(${fmt(value)})` : fmt(value));

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function row(...cells) {
  return h("tr", {}, ...cells.map((cell) => h("td", {}, cell)));
}

/** Backprop step by step: the graph of a small dense net on one example, stepped node by node. */
export class BackpropExplorer {
  constructor(lab) {
    this.lab = lab;
    this.name = "backprop";
    this.built = false;
    this.step = 0;
    this.status = h("p", { class: "lab-status", role: "status" });
    this.controls = h("div", { class: "lab-controls" });
    this.body = h("div", { class: "lab-body" });
    this.el = h("section", { class: "lab-section", id: "lab-backprop", "aria-label": "Backprop step by step", hidden: true,
      "data-state": "idle" },
    h("p", { class: "hint" }, "The network as a graph of scalar operations on one training example: each weighted sum z = Σ w·a + b, "
      + "each activation a = f(z), and the loss L. Forward, every node's value is computed from its inputs; backward, from ∂L/∂L = 1, "
      + "every node's gradient is the sum over its children of the child's gradient times the local derivative on the edge "
      + "(the chain rule), and each weight receives ∂L/∂z × (the input it multiplies). Step with the buttons or the ← → keys."),
    this.controls, this.status, this.body);
    document.addEventListener("keydown", (event) => this.key(event));
    document.head.append(h("link", { rel: "stylesheet", href: "backprop.css" }));
  }

  show() {
    if (this.built) return;
    this.built = true;
    this.build();
    this.refresh();
  }

  build() {
    const presets = Object.keys(this.lab.index.backprop_presets ?? {});
    this.source = h("select", { id: "lab-backprop-source", onchange: () => this.refresh() },
      ...presets.map((name) => h("option", { value: `preset:${name}` }, name)),
      h("option", { value: PLAYGROUND }, "the playground's network (its seed's initial weights)"),
      h("option", { value: RUN }, "the playground's run (its latest weights)"));
    this.example = h("input", { type: "number", id: "lab-backprop-example", min: "0", step: "1", value: "0",
      onchange: () => this.refresh() });
    const open = h("button", { type: "button", class: "primary", onclick: () => this.refresh() }, "Open");
    this.first = h("button", { type: "button", onclick: () => this.go(0) }, "First");
    this.previous = h("button", { type: "button", onclick: () => this.go(this.step - 1) }, "◀ Previous");
    this.next = h("button", { type: "button", onclick: () => this.go(this.step + 1) }, "Next ▶");
    this.last = h("button", { type: "button", onclick: () => this.go(this.steps().length - 1) }, "Last");
    this.scrub = h("input", { type: "range", min: "0", max: "0", value: "0", step: "1", "aria-label": "backprop step",
      oninput: () => this.go(Number(this.scrub.value)) });
    this.counter = h("output", { id: "lab-backprop-counter" });
    this.controls.append(
      h("div", { class: "lab-row" },
        h("div", { class: "lab-field" }, h("label", { for: "lab-backprop-source" }, "Network"), this.source),
        h("div", { class: "lab-field" }, h("label", { for: "lab-backprop-example" }, "Training example"), this.example), open),
      h("div", { class: "lab-row backprop-steps", role: "group", "aria-label": "Backprop steps" },
        this.first, this.previous, this.next, this.last, this.scrub, this.counter));
    this.graph = svg("svg", { id: "lab-backprop-graph", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
      "aria-label": "Computational graph" });
    this.detail = h("div", { id: "lab-backprop-detail", class: "backprop-detail", "aria-live": "polite" });
    this.cost = h("table", { id: "lab-backprop-cost", class: "lab-table" });
    this.check = h("p", { id: "lab-backprop-check", class: "lab-summary" });
    this.body.append(h("div", { class: "backprop-graph" }, this.graph), this.detail,
      h("div", { class: "backprop-foot" }, h("div", {}, h("h4", {}, "Forward mode vs reverse mode on this graph"), this.cost),
        this.check));
  }

  requestBody() {
    const example = Number(this.example.value) || 0;
    const source = this.source.value;
    if (source === PLAYGROUND) return { config: window.nnplay?.state?.config ?? {}, example };
    if (source === RUN) {
      const id = window.nnplay?.run?.id;
      if (!id) throw new Error("The playground has no run yet: press play there first, or pick another network.");
      return { run_id: id, example };
    }
    return { config: this.lab.index.backprop_presets[source.slice("preset:".length)], example };
  }

  refresh() {
    return this.run(async () => {
      this.result = await request("POST", "/api/lab/backprop", { json: this.requestBody() });
      this.layout();
      this.scrub.max = String(this.steps().length - 1);
      this.drawCost();
      this.go(0);
    });
  }

  async run(task) {
    this.el.dataset.state = "loading";
    this.status.textContent = "computing…";
    this.status.classList.remove("error");
    try {
      await task();
      this.el.dataset.state = "ready";
      this.status.textContent = "";
    } catch (error) {
      this.el.dataset.state = "error";
      this.status.textContent = error.message;
      this.status.classList.add("error");
    }
  }

  steps() {
    return this.result?.steps ?? [];
  }

  key(event) {
    if (this.el.hidden || !this.result || event.altKey || event.ctrlKey || event.metaKey) return;
    if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName) && event.target !== this.scrub) return;
    const moves = { ArrowRight: this.step + 1, ArrowLeft: this.step - 1, Home: 0, End: this.steps().length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.go(moves[event.key]);
  }

  layout() {
    const { columns, nodes } = this.result;
    this.nodes = Object.fromEntries(nodes.map((node) => [node.id, node]));
    this.order = nodes.map((node) => node.id);
    const counts = columns.map((_, c) => nodes.filter((node) => node.column === c).length);
    const gap = (WIDTH - 2 * SIDE) / (columns.length - 1);
    this.position = {};
    for (const node of nodes) {
      const span = (HEIGHT - TOP - BOTTOM) / counts[node.column];
      this.position[node.id] = [SIDE + node.column * gap, TOP + span * (node.unit + 0.5)];
    }
    this.graph.replaceChildren();
    const edges = svg("g", { class: "bp-edges" });
    this.edgeLines = {};
    for (const node of nodes) {
      for (const input of node.inputs) {
        const [x1, y1] = this.position[input.from];
        const [x2, y2] = this.position[node.id];
        const line = svg("line", { x1: x1 + RADIUS, y1, x2: x2 - RADIUS, y2, class: "bp-edge" });
        line.append(svg("title", {}, input.param ? `${input.param} = ${fmt(input.local)}` : `∂${node.label}/∂${this.nodes[input.from].label}`));
        edges.append(line);
        this.edgeLines[`${input.from}>${node.id}`] = line;
      }
    }
    const heads = svg("g", { class: "bp-columns" });
    columns.forEach((title, c) => heads.append(svg("text", { x: SIDE + c * gap, y: 16, class: "bp-column", "text-anchor": "middle" },
      title)));
    const circles = svg("g", { class: "bp-nodes" });
    this.nodeGroups = {};
    for (const node of nodes) {
      const [x, y] = this.position[node.id];
      const group = svg("g", { class: `bp-node bp-${node.kind}`, "data-node": node.id });
      group.append(svg("circle", { cx: x, cy: y, r: RADIUS }),
        svg("text", { x, y: y + 4, "text-anchor": "middle", class: "bp-label" }, node.label),
        svg("text", { x, y: y - RADIUS - 4, "text-anchor": "middle", class: "bp-value" }),
        svg("text", { x, y: y + RADIUS + 12, "text-anchor": "middle", class: "bp-grad" }));
      circles.append(group);
      this.nodeGroups[node.id] = group;
    }
    this.graph.append(heads, edges, circles);
  }

  go(index) {
    const steps = this.steps();
    if (!steps.length) return;
    this.step = Math.max(0, Math.min(steps.length - 1, index));
    const { phase, node: id } = steps[this.step];
    const position = this.order.indexOf(id);
    const forwardDone = phase === "forward" ? position : this.order.length - 1;
    const backwardFrom = phase === "backward" ? position : this.order.length;
    this.order.forEach((nodeId, i) => {
      const node = this.nodes[nodeId];
      const group = this.nodeGroups[nodeId];
      group.querySelector(".bp-value").textContent = i <= forwardDone ? fmt(node.value) : "";
      group.querySelector(".bp-grad").textContent = i >= backwardFrom ? `∂ ${fmt(node.grad)}` : "";
      group.classList.toggle("bp-current", nodeId === id);
      group.classList.toggle("bp-done", i <= forwardDone);
    });
    for (const line of Object.values(this.edgeLines)) line.classList.remove("bp-active", "bp-back");
    const node = this.nodes[id];
    if (phase === "forward") node.inputs.forEach((input) => this.edgeLines[`${input.from}>${id}`].classList.add("bp-active"));
    else node.chain.forEach((term) => this.edgeLines[`${id}>${term.to}`].classList.add("bp-back"));
    this.el.dataset.step = String(this.step);
    this.el.dataset.current = id;
    this.el.dataset.phase = phase;
    this.scrub.value = String(this.step);
    this.counter.value = `step ${this.step + 1} of ${steps.length}: ${phase} · ${node.label}`;
    this.previous.disabled = this.first.disabled = this.step === 0;
    this.next.disabled = this.last.disabled = this.step === steps.length - 1;
    this.detail.replaceChildren(...(phase === "forward" ? this.forwardDetail(node) : this.backwardDetail(node)));
  }

  forwardDetail(node) {
    const label = (id) => this.nodes[id].label;
    const result = this.result;
    if (node.kind === "input") {
      return [h("p", {}, h("strong", {}, `${node.label} = ${fmt(node.value)}`), ` — feature ${node.label} of example ${result.example}.`)];
    }
    if (node.kind === "sum") {
      const bias = node.params.find((p) => p.param.includes(".bias"));
      const terms = node.inputs.map((input) => `${paren(input.local)}·${paren(this.nodes[input.from].value)}`);
      return [h("p", {}, h("strong", {}, `${node.label} = Σ w·a + b`), ` = ${terms.join(" + ")}${bias ? ` + ${paren(bias.value)}` : ""} `
        + `= ${fmt(node.value)}`),
      h("p", { class: "hint" }, `weights ${node.inputs.map((input) => input.param).join(", ")}${bias ? `; bias ${bias.param}` : ""}. `
        + `Local derivatives: ∂${node.label}/∂a = the weight on each edge, ∂${node.label}/∂w = the input a it multiplies, ∂${node.label}/∂b = 1.`)];
    }
    if (node.kind === "activation") {
      const inputs = node.inputs.map((input) => `∂${node.label}/∂${label(input.from)} = ${fmt(input.local)}`);
      return [h("p", {}, h("strong", {}, `${node.label} = ${node.op}(${node.inputs.length === 1 ? label(node.inputs[0].from) : "z"})`),
        ` = ${fmt(node.value)}`),
      h("p", {}, `Local derivative (${result.derivatives[node.op]}): ${inputs.join(", ")}`)];
    }
    const outputs = node.inputs.map((input) => `∂L/∂${label(input.from)} = ${fmt(input.local)}`);
    return [h("p", {}, h("strong", {}, `L = ${fmt(node.value)}`), ` (${result.loss.name}: ${result.loss.formula}; target ${JSON.stringify(result.target)})`),
      h("p", {}, `Local derivative ${result.loss.derivative}: ${outputs.join(", ")}`)];
  }

  backwardDetail(node) {
    if (node.kind === "loss") return [h("p", {}, h("strong", {}, "∂L/∂L = 1"), " — the backward pass starts at the loss.")];
    const label = (id) => this.nodes[id].label;
    const products = node.chain.map((term) => `${paren(term.upstream)}·${paren(term.local)}`);
    const parts = [h("p", {}, h("strong", {}, `∂L/∂${node.label} = Σ ∂L/∂child · ∂child/∂${node.label}`),
      ` = ${products.join(" + ")} = ${fmt(node.grad)}`),
    h("p", { class: "hint" }, `children: ${node.chain.map((term) => label(term.to)).join(", ")}`)];
    if (node.params.length) {
      const table = h("table", { class: "lab-table bp-params" },
        h("tr", {}, ...["parameter", "value", `∂${node.label}/∂parameter`, `× ∂L/∂${node.label}`, "= gradient"].map((t) => h("th", {}, t))));
      for (const p of node.params) {
        const cell = h("td", { "data-param": p.param, "data-grad": String(p.grad) }, fmt(p.grad));
        table.append(h("tr", {}, h("td", {}, p.param), h("td", {}, fmt(p.value)), h("td", {}, fmt(p.local)),
          h("td", {}, fmt(node.grad)), cell));
      }
      parts.push(h("p", {}, "The gradient arriving at each parameter of this node:"), table);
    }
    return parts;
  }

  drawCost() {
    const { cost } = this.result;
    this.cost.replaceChildren(
      h("tr", {}, ...["", "passes", "multiply-adds"].map((t) => h("th", {}, t))),
      row("reverse mode (backprop)", `${cost.reverse.passes} (1 forward, 1 backward)`, String(cost.reverse.multiply_adds)),
      row("forward mode", `${cost.forward.passes} (one per parameter)`, String(cost.forward.multiply_adds)));
    this.cost.dataset.reverse = String(cost.reverse.multiply_adds);
    this.cost.dataset.forward = String(cost.forward.multiply_adds);
    this.check.textContent = `All ${cost.parameters} parameter gradients: reverse mode needs one backward pass (${cost.reverse.backward_pass} `
      + `multiply-adds after the forward pass's ${cost.forward_pass}), forward mode one pass per parameter carrying one tangent `
      + `(${(cost.forward.multiply_adds / cost.reverse.multiply_adds).toFixed(1)}× the work; both give the same gradients, to `
      + `${fmt(this.result.forward_mode_difference)}). This graph's gradients equal the engine's own backward pass `
      + `(largest difference ${fmt(this.result.engine_difference)}).`;
  }
}
