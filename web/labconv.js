import { request } from "./api.js";
import { COLORS } from "./charts.js";
import { h } from "./forms.js";
import { draw, field, number, select, titled } from "./lab.js";

const SVG = "http://www.w3.org/2000/svg";
const CELL = 22;
const FIELDS = [["height", "Input height"], ["width", "Input width"], ["kernel_size", "Kernel"], ["padding", "Padding"],
  ["stride", "Stride"], ["pool_size", "Pool size"], ["pool_stride", "Pool stride"]];
const LIMITS = { height: [1, 64], width: [1, 64], kernel_size: [1, 11], padding: [0, 5], stride: [1, 8], pool_size: [1, 8],
  pool_stride: [1, 8] };

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function grid(rows, cols, x0, fill) {
  const group = svg("g");
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      group.append(svg("rect", { x: x0 + c * CELL, y: 24 + r * CELL, width: CELL - 2, height: CELL - 2, rx: 2, fill: fill(r, c),
        stroke: "#c9ced6" }));
    }
  }
  return group;
}

function label(text, x) {
  const node = svg("text", { x, y: 14, "font-size": 12, fill: COLORS.ink });
  node.textContent = text;
  return node;
}

/** The Lab's convolution explorer's methods (build, pick an example, refresh, draw a window), mixed into ConvExplorer. */
export const convMethods = {
  build() {
    const examples = this.lab.index.conv_examples;
    this.example = select([...Object.keys(examples).map((key) => [key, `notes: ${key}`]), ["custom", "custom"]], "padding",
      () => this.pickExample());
    this.example.id = "lab-conv-example";
    this.inputs = Object.fromEntries(FIELDS.map(([key]) => {
      const [min, max] = LIMITS[key];
      const input = number(0, { min, max, step: 1, id: `lab-conv-${key.replace("_", "-")}`, onchange: () => {
        this.example.value = "custom";
        this.quote.replaceChildren();
        this.refresh();
      } });
      return [key, input];
    }));
    this.inputs.pool_stride.placeholder = "auto";
    this.inputs.pool_stride.title = "empty: the pool size, as PyTorch";
    this.quote = h("blockquote", { class: "lab-quote" });
    this.controls.append(h("div", { class: "lab-row" }, field("Example", this.example),
      ...FIELDS.map(([key, text]) => field(text, this.inputs[key]))), this.quote);
    this.formula = h("div", { class: "lab-formula", role: "status" });
    this.stepper = h("input", { type: "range", min: 0, max: 0, value: 0, step: 1, "aria-label": "window position" });
    this.stepper.addEventListener("input", () => this.drawWindow(Number(this.stepper.value)));
    this.position = h("output", { class: "lab-position" });
    const previous = h("button", { type: "button", text: "◀", "aria-label": "previous position",
      onclick: () => this.drawWindow(this.index - 1) });
    const next = h("button", { type: "button", text: "▶", "aria-label": "next position", onclick: () => this.drawWindow(this.index + 1) });
    this.picture = svg("svg", { class: "lab-conv-picture", role: "img" });
    this.shiftSeed = number(0, { min: 0, step: 1, "aria-label": "shift seed", class: "lab-seed" });
    this.shiftVerdict = h("p", { class: "lab-verdict", role: "status" });
    const check = h("button", { type: "button", class: "primary", text: "Run the check", onclick: () => this.shiftCheck(check) });
    this.body.append(this.formula, h("div", { class: "lab-row" }, previous, this.stepper, next, this.position),
      h("div", { class: "lab-conv-scroll" }, this.picture),
      h("h3", { class: "lab-subtitle", text: "Max pooling and a 1-pixel shift" }),
      h("p", { class: "hint", text: "Digits images go through a conv layer (8 random 3×3 He filters, padding 1) and ReLU, then 2×2 max "
        + "pooling. Shift each image right by 0 to 3 pixels and measure how much the feature maps change, before and after "
        + "pooling: ‖F(shifted) − F(x)‖ / ‖F(x)‖ over 64 images. The check passes when a 1-pixel shift changes the pooled maps by "
        + "at most 0.8× as much and at least twice the share of their active values stays exactly the same." }),
      h("div", { class: "button-row" }, h("label", { class: "hint", text: "seed " }, this.shiftSeed), check), this.shiftVerdict,
      h("div", { class: "lab-grid two" }, this.plot("shift-change", "Relative change against shift"),
        this.plot("shift-kept", "Unchanged values against shift")));
    this.pickExample(false);
  },

  pickExample(refresh = true) {
    const example = this.lab.index.conv_examples[this.example.value];
    if (!example) return;
    for (const [key] of FIELDS) this.inputs[key].value = example.sizes[key] ?? "";
    this.quote.replaceChildren(h("span", { lang: "zh", text: `“${example.quote}”` }), ` — ${example.english}. ${example.inferred}.`);
    if (refresh) this.refresh();
  },

  body_() {
    const body = {};
    for (const [key] of FIELDS) {
      const text = this.inputs[key].value.trim();
      if (key === "pool_stride" && text === "") continue;
      body[key] = Number(text);
    }
    return body;
  },

  invalid() {
    for (const [key] of FIELDS) {
      const input = this.inputs[key];
      input.removeAttribute("aria-invalid");
      if (key === "pool_stride" && input.value.trim() === "") continue;
      const [min, max] = LIMITS[key];
      const value = Number(input.value);
      if (input.value.trim() === "" || !Number.isInteger(value) || value < min || value > max) {
        input.setAttribute("aria-invalid", "true");
        return `${key}: a whole number from ${min} to ${max}`;
      }
    }
    return null;
  },

  refresh() {
    return this.run(async () => {
      const ticket = this.ticket;
      const problem = this.invalid();
      if (problem) throw new Error(problem);
      let result;
      try {
        result = await request("POST", "/api/lab/conv", { json: this.body_() });
      } catch (error) {
        if (ticket !== this.ticket) return;
        const key = Array.isArray(error.detail) ? error.detail[0]?.loc?.[1] : undefined;
        this.inputs[key]?.setAttribute("aria-invalid", "true");
        this.formula.replaceChildren();
        this.picture.replaceChildren();
        throw error;
      }
      if (ticket !== this.ticket) return;
      this.result = result;
      const { conv, pool, engine, agrees } = result;
      const shape = (stage) => `(1, ${stage.rows.output}, ${stage.cols.output})`;
      this.formula.replaceChildren(
        h("p", { text: `conv2d, output = floor((n + 2p − k) / s) + 1 — ${conv.rows.formula}; ${conv.cols.formula}` }),
        h("p", { text: `maxpool2d (no padding) — ${pool.rows.formula}; ${pool.cols.formula}` }),
        h("p", { class: agrees ? "passed" : "failed", text: `${agrees ? "✓" : "✗"} the engine's layers give conv2d (1, ${engine.conv2d[1]}, `
          + `${engine.conv2d[2]}) and maxpool2d (1, ${engine.maxpool2d[1]}, ${engine.maxpool2d[2]}); the formula gives ${shape(conv)} and `
          + `${shape(pool)}${conv.rows.unused || conv.cols.unused ? `; the floor leaves ${conv.rows.unused} row(s) and ${conv.cols.unused} `
          + "column(s) of the padded input that no window reaches" : ""}.` }));
      this.stepper.max = String(conv.positions.length - 1);
      this.drawWindow(0);
    });
  },

  drawWindow(index) {
    const { conv, pool } = this.result;
    this.index = Math.max(0, Math.min(conv.positions.length - 1, index));
    const [top, left] = conv.positions[this.index];
    const k = conv.kernel;
    const p = conv.padding;
    const outCols = conv.cols.output;
    const row = Math.floor(this.index / outCols);
    const col = this.index % outCols;
    const padded = [conv.rows.padded, conv.cols.padded];
    const inside = (r, c) => r >= p && c >= p && r < padded[0] - p && c < padded[1] - p;
    const covered = (r, c) => r >= top && r < top + k && c >= left && c < left + k;
    const LABEL = 120;
    const outX = Math.max(padded[1] * CELL, LABEL) + CELL;
    const poolX = outX + Math.max(outCols * CELL, LABEL) + CELL;
    const poolK = pool.kernel;
    const poolHit = pool.positions.findIndex(([r, c]) => row >= r && row < r + poolK && col >= c && col < c + poolK);
    const [pr, pc] = poolHit >= 0 ? pool.positions[poolHit] : [-1, -1];
    this.picture.replaceChildren(
      label(`padded input ${padded[0]}×${padded[1]}`, 0),
      grid(padded[0], padded[1], 0, (r, c) => (covered(r, c) ? "rgba(8,119,189,0.55)" : inside(r, c) ? "#ffffff" : "#eceff3")),
      svg("rect", { x: left * CELL - 1, y: 24 + top * CELL - 1, width: k * CELL, height: k * CELL, fill: "none",
        stroke: COLORS.positive, "stroke-width": 2.5, class: "lab-window" }),
      label(`conv output ${conv.rows.output}×${outCols}`, outX),
      grid(conv.rows.output, outCols, outX, (r, c) => (r === row && c === col ? COLORS.positive
        : r >= pr && r < pr + poolK && c >= pc && c < pc + poolK ? "rgba(245,147,34,0.35)" : "#ffffff")),
      label(`pooled ${pool.rows.output}×${pool.cols.output}`, poolX),
      grid(pool.rows.output, pool.cols.output, poolX, (r, c) => (poolHit >= 0 && r * pool.cols.output + c === poolHit
        ? COLORS.negative : "#ffffff")),
    );
    const height = 24 + Math.max(padded[0], conv.rows.output) * CELL + 4;
    const width = poolX + Math.max(pool.cols.output * CELL, LABEL) + 4;
    this.picture.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.picture.setAttribute("width", String(width));
    this.picture.setAttribute("height", String(height));
    this.picture.setAttribute("aria-label", `kernel ${k}×${k} at row ${top}, column ${left} of the padded input gives output `
      + `(${row}, ${col})`);
    this.stepper.value = String(this.index);
    this.position.textContent = `position ${this.index + 1} of ${conv.positions.length}: window at (${top}, ${left}) → output (${row}, ${col})`;
    this.el.dataset.position = String(this.index);
  },

  async shiftCheck(button) {
    button.disabled = true;
    this.shiftVerdict.textContent = "computing…";
    this.shiftVerdict.className = "lab-verdict";
    try {
      const result = await request("POST", "/api/lab/pool-shift", { json: { seed: Number(this.shiftSeed.value) || 0 } });
      const { verdict, shifts, quote } = result;
      this.shiftVerdict.textContent = `${verdict.passed ? "✓ reproduced" : "✗ not reproduced"}: ${verdict.summary}. Notes: ${quote}`;
      this.shiftVerdict.classList.add(verdict.passed ? "passed" : "failed");
      const x = shifts.map((row) => row.shift);
      const line = (name, key, color) => ({ type: "scatter", mode: "lines+markers", name, x, y: shifts.map((row) => row[key]),
        line: { color, width: 2 } });
      const axes = (yTitle) => ({ xaxis: { title: { text: "shift (pixels)" }, dtick: 1, gridcolor: COLORS.grid, zeroline: false,
        automargin: true }, yaxis: { title: { text: yTitle }, gridcolor: COLORS.grid, zeroline: false, automargin: true,
        tickformat: ".0%" } });
      await draw(this.body.querySelector("#lab-conv-shift-change"), [line("conv + ReLU", "conv_change", COLORS.positive),
        line("after max pooling", "pool_change", COLORS.negative)], titled("relative change of the feature maps", axes("change")));
      await draw(this.body.querySelector("#lab-conv-shift-kept"), [line("conv + ReLU", "conv_unchanged", COLORS.positive),
        line("after max pooling", "pool_unchanged", COLORS.negative)], titled("active values left exactly the same", axes("share")));
      this.el.dataset.shift = verdict.passed ? "passed" : "failed";
    } catch (error) {
      this.shiftVerdict.textContent = error.message;
      this.shiftVerdict.classList.add("failed");
    } finally {
      button.disabled = false;
    }
  },
};
