import { COLORS, View, drawGrid } from "./charts.js";
import { h, parseNumber } from "./forms.js";

const SVG = "http://www.w3.org/2000/svg";
const MAX_NODES = 16;
const NODE_MIN = 34;
const NODE_MAX = 52;
const HEADER = 58;
const WEIGHTED = new Set(["dense", "maxout", "conv2d"]);
const SHORT = { dense: "D", maxout: "M", conv2d: "C" };
const WEIGHT_PARAM = { type: "number", minimum: -1000, maximum: 1000 };

const FEATURES = {
  x1: (x) => x,
  x2: (x, y) => y,
  "x1^2": (x) => x * x,
  "x2^2": (x, y) => y * y,
  x1x2: (x, y) => x * y,
  sin_x1: (x) => Math.sin(x),
  sin_x2: (x, y) => Math.sin(y),
};

function shapeText(shape) {
  return shape.length === 1 ? `${shape[0]}` : shape.join("×");
}

/**
 * The diagram's columns from the plan: the input, then one per weighted layer with the layers up to the next one.
 * @param {object} plan the answer of POST /api/plan
 * @param {object} config the RunConfig (its 2-D features label the input nodes)
 * @param {string} datasetKind "2d", "table" or "image", from the catalog
 * @returns {object[]} columns for NetworkView.setColumns
 */
export function networkColumns(plan, config, datasetKind) {
  const columns = [];
  const layers = plan.layers;
  const features = config.data.features;
  if (datasetKind === "2d") {
    columns.push({ kind: "input", units: features.length, labels: features, title: "Input", compact: false });
  } else {
    columns.push({ kind: "input", units: 1, title: "Input", compact: true, detail: shapeText(plan.input_shape) });
  }
  const weighted = layers.filter((layer) => WEIGHTED.has(layer.type));
  weighted.forEach((layer, position) => {
    const next = weighted[position + 1]?.index ?? layers.length;
    const between = layers.slice(layer.index + 1, next);
    const output = layer.inserted === "output";
    const units = layer.output_shape[0];
    columns.push({
      kind: output ? "output" : "hidden",
      module: layer,
      units,
      source: layer.source,
      weightIndex: layer.index,
      title: `${layer.index} ${output ? "output" : layer.type}`,
      detail: [shapeText(layer.output_shape), ...between.map((m) => `${m.index} ${m.name ?? m.type}`)].join(" · "),
      compact: layer.type === "conv2d" || units > MAX_NODES,
    });
  });
  return columns;
}

/** The network diagram: nodes with their output thumbnails, weighted links, unit controls and neuron highlight. */
export class NetworkView extends View {
  /**
   * @param {HTMLElement} el
   * @param {import("./charts.js").FrameScheduler} scheduler
   * @param {object} options
   * @param {(source: number, delta: number) => void} options.onUnits a layer's + or − was pressed
   * @param {(neuron: object|null) => void} options.onNeuron a neuron is hovered or focused (null: none)
   * @param {(edit: {layer: number, from_unit: number, to_unit: number, value: number}) => Promise<string|null>}
   *   options.onWeight a weight was edited in the popup; resolves to an error message or null
   */
  constructor(el, scheduler, { onUnits, onNeuron, onWeight }) {
    super(el, scheduler);
    this.onUnits = onUnits;
    this.onNeuron = onNeuron;
    this.onWeight = onWeight;
    this.columns = [];
    this.record = null;
    this.domain = [-6, 6, -6, 6];
    this.header = h("div", { class: "net-header" });
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.classList.add("net-links");
    this.nodes = h("div", { class: "net-nodes" });
    this.tooltip = h("div", { class: "net-tooltip", role: "tooltip", id: "net-tooltip", hidden: true });
    this.popup = this.weightPopup();
    el.append(this.header, this.svg, this.nodes, this.tooltip, this.popup);
    new ResizeObserver(() => this.layoutAgain()).observe(el);
  }

  setColumns(columns, domain) {
    this.columns = columns;
    this.domain = domain ?? this.domain;
    this.built = false;
    this.invalidate();
  }

  setRecord(record) {
    this.record = record;
    if (!record) this.forgetHover();
    this.invalidate();
  }

  forgetHover() {
    this.hideTip();
    if (!this.hovered) return;
    this.hovered = false;
    this.onNeuron(null);
  }

  layoutAgain() {
    const size = `${this.el.clientWidth}x${this.el.clientHeight}`;
    if (size === this.size) return;
    this.size = size;
    this.built = false;
    this.invalidate();
  }

  flush() {
    if (!this.built) this.build();
    this.paint();
  }

  build() {
    this.forgetHover();
    this.closePopup(false);
    this.header.replaceChildren();
    this.nodes.replaceChildren();
    this.svg.replaceChildren();
    this.links = [];
    const width = this.el.clientWidth;
    const height = Math.max(this.el.clientHeight - HEADER, 120);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", height + HEADER);
    const count = this.columns.length;
    const margin = 52;
    this.nodeSize = Math.round(Math.min(NODE_MAX, Math.max(NODE_MIN, height / 15)));
    const nodeSize = this.nodeSize;
    const gap = count > 1 ? (width - margin - 24 - nodeSize) / (count - 1) : 0;
    const tallest = Math.max(...this.columns.map((column) => (column.compact ? 1 : column.units)), 1);
    const pitch = Math.min(nodeSize + 12, (height - 8) / tallest);
    const size = Math.max(Math.min(nodeSize, pitch - 6), 14);
    this.columns.forEach((column, c) => {
      const x = margin + c * gap;
      const center = x + nodeSize / 2;
      column.x = x;
      column.nodes = [];
      const room = Math.min(200, count > 1 ? gap - 6 : width, 2 * center, 2 * (width - center));
      this.header.append(this.columnHeader(column, center, Math.max(room, 24)));
      if (column.compact) {
        const boxHeight = Math.min(height - 8, 160);
        const node = this.makeNode(column, null, x, HEADER + 4, nodeSize, boxHeight);
        column.nodes.push(node);
      } else {
        for (let unit = 0; unit < column.units; unit += 1) {
          column.nodes.push(this.makeNode(column, unit, x, HEADER + 4 + unit * pitch, size, size));
        }
      }
    });
    for (let c = 1; c < count; c += 1) this.connect(this.columns[c - 1], this.columns[c]);
    this.paintInputs();
    this.built = true;
  }

  columnHeader(column, center, room) {
    const detail = column.kind === "input" && !column.compact ? `${column.units} features` : column.detail ?? "";
    const tight = room < column.title.length * 7 + 6;
    const title = tight && column.kind === "hidden" ? `${column.weightIndex} ${SHORT[column.module.type] ?? ""}` : column.title;
    const header = h("div", { class: `net-column-head${tight ? " tight" : ""}`, style: `left:${center}px;max-width:${room}px`,
      title: `${column.title}: ${detail}` },
    h("span", { class: "net-title" }, title),
      h("span", { class: "net-detail" }, detail));
    if (column.kind === "hidden" && typeof column.source === "number") {
      const noun = column.module.type === "conv2d" ? "filter" : "neuron";
      header.prepend(h("div", { class: "net-buttons" },
        h("button", { type: "button", class: "mini", "aria-label": `Add a ${noun} to layer ${column.source + 1}`,
          onclick: () => this.onUnits(column.source, 1) }, "+"),
        h("button", { type: "button", class: "mini", "aria-label": `Remove a ${noun} from layer ${column.source + 1}`,
          onclick: () => this.onUnits(column.source, -1) }, "−")));
    }
    return header;
  }

  makeNode(column, unit, x, y, width, height) {
    const canvas = h("canvas", { width: 20, height: 20 });
    const label = unit === null ? `${column.units}` : column.kind === "input" ? column.labels[unit] : "";
    const name = unit === null ? column.title : column.kind === "input" ? `feature ${column.labels[unit]}` : `${column.title} unit ${unit + 1}`;
    const node = h("div", { class: `net-node ${column.kind}${unit === null ? " compact" : ""}`, tabindex: "0", role: "img",
      "aria-label": name, "aria-describedby": this.tooltip.id,
      style: `left:${x}px;top:${y}px;width:${width}px;height:${height}px` }, canvas,
    label ? h("span", { class: "net-node-label", "aria-hidden": "true" }, label) : null);
    const enter = () => {
      this.hovered = true;
      this.showTip(node, this.nodeText(column, unit));
      this.onNeuron(this.neuronGrid(column, unit));
    };
    node.addEventListener("mouseenter", enter);
    node.addEventListener("focus", enter);
    node.addEventListener("mouseleave", () => this.forgetHover());
    node.addEventListener("blur", () => this.forgetHover());
    this.nodes.append(node);
    return { el: node, canvas, unit, x, y, width, height };
  }

  connect(from, to) {
    const dense = !from.compact && !to.compact;
    const span = (column) => {
      const first = column.nodes[0];
      const last = column.nodes[column.nodes.length - 1];
      return { x: first.x, y: first.y, width: first.width, height: last.y + last.height - first.y, unit: null };
    };
    const pairs = dense ? from.nodes.flatMap((a) => to.nodes.map((b) => [a, b])) : [[span(from), span(to)]];
    for (const [a, b] of pairs) {
      const x0 = a.x + a.width;
      const y0 = a.y + a.height / 2;
      const x1 = b.x;
      const y1 = b.y + b.height / 2;
      const mid = (x0 + x1) / 2;
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", `M${x0},${y0} C${mid},${y0} ${mid},${y1} ${x1},${y1}`);
      path.setAttribute("class", dense ? "link" : "link bundle");
      this.svg.append(path);
      const link = { path, from, to, in: a.unit, out: b.unit, dense, point: { x: mid, y: (y0 + y1) / 2 } };
      const show = () => this.showTip(path, this.linkText(link), link.point);
      path.addEventListener("mouseenter", show);
      path.addEventListener("mouseleave", () => this.hideTip());
      if (dense && to.module?.type === "dense") this.makeEditable(link, show);
      this.links.push(link);
    }
  }

  makeEditable(link, show) {
    const { path } = link;
    path.setAttribute("tabindex", "0");
    path.setAttribute("role", "button");
    path.setAttribute("aria-label", `Weight from ${this.sourceName(link)} to ${link.to.title} unit ${link.out + 1}`);
    path.setAttribute("aria-describedby", this.tooltip.id);
    path.setAttribute("aria-haspopup", "dialog");
    path.classList.add("editable");
    path.addEventListener("focus", show);
    path.addEventListener("blur", () => this.hideTip());
    path.addEventListener("click", () => this.openPopup(link));
    path.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      this.openPopup(link);
    });
  }

  weightPopup() {
    const input = h("input", { type: "number", step: "any", class: "control", id: "weight-input", autocomplete: "off",
      "aria-describedby": "weight-error" });
    const error = h("span", { class: "field-error", id: "weight-error", role: "status" });
    const title = h("p", { class: "weight-title", id: "weight-title" });
    const apply = h("button", { type: "submit" }, "Apply");
    const cancel = h("button", { type: "button", onclick: () => this.closePopup() }, "Cancel");
    const form = h("form", { class: "weight-popup", role: "dialog", "aria-labelledby": "weight-title", hidden: true },
      title, h("label", { for: "weight-input" }, "Weight"), input, error, h("div", { class: "button-row" }, apply, cancel));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.applyWeight();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closePopup();
    });
    Object.assign(this, { popupInput: input, popupError: error, popupTitle: title });
    return form;
  }

  openPopup(link) {
    this.hideTip();
    this.editing = link;
    const w = this.weight(link);
    this.popupTitle.textContent = `${this.sourceName(link)} → ${link.to.title} unit ${link.out + 1}`;
    this.popupInput.value = typeof w === "number" ? String(Number(w.toFixed(4))) : "";
    this.popupError.textContent = "";
    this.popupInput.removeAttribute("aria-invalid");
    const width = this.el.clientWidth;
    this.popup.style.left = `${Math.max(4, Math.min(link.point.x - 90, width - 190))}px`;
    this.popup.style.top = `${Math.max(HEADER, link.point.y - 20)}px`;
    this.popup.hidden = false;
    this.popupInput.focus();
    this.popupInput.select();
  }

  closePopup(refocus = true) {
    if (!this.popup || this.popup.hidden) return;
    this.popup.hidden = true;
    const link = this.editing;
    this.editing = null;
    if (refocus && link?.path.isConnected) link.path.focus();
  }

  async applyWeight() {
    const link = this.editing;
    const result = parseNumber(this.popupInput.value, WEIGHT_PARAM);
    const fail = (message) => {
      this.popupError.textContent = `Weight ${message}`;
      this.popupInput.setAttribute("aria-invalid", "true");
    };
    if (result.error) return fail(result.error);
    const edit = { layer: link.to.weightIndex, from_unit: link.in, to_unit: link.out, value: result.value };
    const problem = await this.onWeight(edit);
    if (problem) return fail(problem);
    const row = this.record?.weights?.[String(edit.layer)]?.weight?.[edit.to_unit];
    if (Array.isArray(row)) row[edit.from_unit] = edit.value;
    this.invalidate();
    this.closePopup();
  }

  sourceName(link) {
    return link.from.kind === "input" ? link.from.labels[link.in] : `${link.from.title} unit ${link.in + 1}`;
  }

  weight(link) {
    const weights = this.record?.weights?.[String(link.to.weightIndex)]?.weight;
    const row = weights?.[link.out];
    return Array.isArray(row) ? row[link.in] : undefined;
  }

  paint() {
    for (const link of this.links) {
      if (!link.dense) continue;
      const w = this.weight(link);
      const drawn = typeof w === "number";
      const stroke = drawn ? (w >= 0 ? COLORS.positive : COLORS.negative) : "";
      const width = drawn ? (0.4 + 5 * Math.min(Math.abs(w), 3) / 3).toFixed(1) : "";
      if (link.stroke !== stroke) link.path.style.stroke = link.stroke = stroke;
      if (link.width !== width) link.path.style.strokeWidth = link.width = width;
    }
    if (!this.record) return;
    const neurons = new Map((this.record.neurons ?? []).map((n) => [`${n.layer}:${n.unit}`, n.z]));
    for (const column of this.columns) {
      if (column.kind === "input") continue;
      if (column.compact) {
        this.paintCompact(column);
        continue;
      }
      const probabilities = column.kind === "output" && this.record.boundary && this.record.boundary.kind !== "value";
      column.nodes.forEach((node) => {
        const z = neurons.get(`${column.weightIndex}:${node.unit}`);
        if (z) drawGrid(node.canvas, probabilities ? z.map((row) => row.map((p) => 2 * p - 1)) : z, { scale: probabilities ? 1 : 0 });
        else if (column.kind === "output" && column.units === 1 && this.record.boundary) this.paintBoundary(node.canvas);
      });
    }
  }

  paintBoundary(canvas) {
    const { z, kind } = this.record.boundary;
    drawGrid(canvas, kind === "probability" ? z.map((row) => row.map((p) => 2 * p - 1)) : z);
  }

  paintCompact(column) {
    const weights = this.record.weights?.[String(column.weightIndex)]?.weight;
    if (!Array.isArray(weights)) return;
    const rows = weights.map((row) => (Array.isArray(row) ? row.flat(3) : [row]));
    drawGrid(column.nodes[0].canvas, rows, { flip: false });
  }

  paintInputs() {
    const input = this.columns[0];
    if (!input || input.compact) return;
    input.nodes.forEach((node, unit) => {
      const rows = this.featureGrid(input.labels[unit], 20);
      if (rows) drawGrid(node.canvas, rows);
    });
  }

  neuronGrid(column, unit) {
    if (unit === null) return null;
    if (column.kind === "input") {
      const z = this.featureGrid(column.labels[unit], 40);
      return z && { z, title: `feature ${column.labels[unit]}` };
    }
    const neuron = (this.record?.neurons ?? []).find((n) => n.layer === column.weightIndex && n.unit === unit);
    return neuron && { z: neuron.z, title: `${column.title} unit ${unit + 1}`, output: column.kind === "output" };
  }

  featureGrid(name, n) {
    const f = FEATURES[name];
    if (!f) return null;
    const [x0, x1, y0, y1] = this.domain;
    const rows = [];
    for (let j = 0; j < n; j += 1) {
      const y = y0 + ((y1 - y0) * j) / (n - 1);
      rows.push(Array.from({ length: n }, (_, i) => f(x0 + ((x1 - x0) * i) / (n - 1), y)));
    }
    return rows;
  }

  nodeText(column, unit) {
    if (column.kind === "input") return column.compact ? `Input ${column.detail}` : `Feature ${column.labels[unit]}`;
    const name = `${column.title} (${column.detail})`;
    if (unit === null) return `${name}: ${column.units} units; the picture is its weight matrix`;
    const bias = this.record?.weights?.[String(column.weightIndex)]?.bias?.[unit];
    const neuron = (this.record?.neurons ?? []).find((n) => n.layer === column.weightIndex && n.unit === unit);
    const flat = neuron ? neuron.z.flat() : [];
    const range = flat.length ? `; output ${Math.min(...flat).toFixed(3)} … ${Math.max(...flat).toFixed(3)}` : "";
    return `${name}, unit ${unit + 1}${typeof bias === "number" ? `; bias ${bias.toFixed(3)}` : ""}${range}`;
  }

  linkText(link) {
    if (!link.dense) return `${link.to.title}: ${link.to.detail}`;
    const w = this.weight(link);
    const value = typeof w === "number" ? w.toFixed(4) : "not drawn yet";
    const edit = link.path.classList.contains("editable") ? " (click or Enter to edit)" : "";
    return `Weight ${this.sourceName(link)} → ${link.to.title} unit ${link.out + 1}: ${value}${edit}`;
  }

  showTip(target, text, point) {
    const box = this.el.getBoundingClientRect();
    const rect = target.getBoundingClientRect();
    const x = point ? point.x : rect.left - box.left + rect.width + 6;
    const y = point ? point.y : rect.top - box.top;
    this.tooltip.textContent = text;
    this.tooltip.style.left = `${Math.min(x, box.width - 220)}px`;
    this.tooltip.style.top = `${y}px`;
    this.tooltip.hidden = false;
  }

  hideTip() {
    this.tooltip.hidden = true;
  }
}
