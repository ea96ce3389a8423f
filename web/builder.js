import { createField, fieldGroup, h } from "./forms.js";

const ADVANCED = ["bias", "weight_init", "bias_init"];

function shapeText(shape) {
  return `(${shape.join(", ")})`;
}

/**
 * The sidebar's layer editor and model summary over the state's model.layers.
 * @param {HTMLElement} container where the layer cards go
 * @param {HTMLElement} summary where the plan's summary goes
 * @param {import("./state.js").State} state
 */
export class ModelBuilder {
  constructor(container, summary, state) {
    this.container = container;
    this.summary = summary;
    this.state = state;
    this.ctx = { catalog: state.catalog };
    this.openMore = new Set();
    this.numbers = [];
  }

  get layers() {
    return this.state.config.model.layers;
  }

  setLayers(layers) {
    this.state.set("model.layers", layers);
  }

  addLayer(type, at = this.layers.length) {
    const layers = [...this.layers];
    const layer = this.state.layerDefaults(type);
    if (type === "dense") layer.activation = this.activationBefore(at);
    layers.splice(at, 0, layer);
    this.setLayers(layers);
  }

  activationBefore(at) {
    for (const layer of this.layers.slice(0, at).reverse()) {
      if (layer.type === "activation") return Object.keys(layer.params ?? {}).length ? { name: layer.name, ...layer.params } : layer.name;
      if (layer.activation) return layer.activation;
    }
    return "relu";
  }

  addHidden() {
    const last = [...this.layers].reverse().find((layer) => layer.type === "dense");
    const layer = { ...this.state.layerDefaults("dense"), units: last?.units ?? 4, activation: last?.activation ?? "tanh" };
    this.setLayers([...this.layers, layer]);
  }

  removeLast() {
    if (this.layers.length) this.setLayers(this.layers.slice(0, -1));
  }

  changeUnits(index, delta) {
    const layer = this.layers[index];
    const key = layer.type === "conv2d" ? "filters" : "units";
    const param = this.state.catalog.layers[layer.type].params[key];
    const next = Math.min(Math.max(layer[key] + delta, param.minimum ?? 1), param.maximum ?? Infinity);
    this.state.set(`model.layers.${index}.${key}`, next);
  }

  move(index, delta) {
    const layers = [...this.layers];
    const [layer] = layers.splice(index, 1);
    layers.splice(index + delta, 0, layer);
    this.setLayers(layers);
  }

  remove(index) {
    this.setLayers(this.layers.filter((_, i) => i !== index));
  }

  changeType(index, type) {
    const layers = [...this.layers];
    layers[index] = this.state.layerDefaults(type);
    if (type === "dense") layers[index].activation = this.activationBefore(index);
    this.setLayers(layers);
  }

  layerFields(layer, index) {
    const prefix = `model.layers.${index}`;
    const set = (name, value) => this.state.set(`${prefix}.${name}`, value);
    if (layer.type === "activation") {
      const spec = Object.keys(layer.params ?? {}).length ? { name: layer.name, ...layer.params } : layer.name;
      return [createField(this.ctx, {
        path: `${prefix}.name`,
        label: "Function",
        param: this.state.catalog.layers.activation.params.name,
        value: spec,
        onChange: (value) => {
          const { name, ...params } = typeof value === "string" ? { name: value } : value;
          this.state.set(prefix, { type: "activation", name, params });
        },
      })];
    }
    const params = this.state.catalog.layers[layer.type].params;
    const advanced = Object.keys(params).filter((name) => ADVANCED.includes(name));
    const fields = fieldGroup(this.ctx, prefix, params, layer, set, { skip: advanced });
    if (!advanced.length) return fields;
    const more = h("details", { class: "layer-more", open: this.openMore.has(index) },
      h("summary", {}, "Bias and initialization"),
      fieldGroup(this.ctx, prefix, Object.fromEntries(advanced.map((name) => [name, params[name]])), layer, set));
    more.addEventListener("toggle", () => (more.open ? this.openMore.add(index) : this.openMore.delete(index)));
    return [...fields, more];
  }

  render() {
    const focused = document.activeElement?.closest?.("[data-path]")?.dataset.path;
    const types = Object.keys(this.state.catalog.layers);
    const count = this.layers.length;
    const items = this.layers.map((layer, index) =>
      h("li", { class: "layer-card", dataset: { path: `model.layers.${index}` } },
        h("div", { class: "layer-head" },
          h("span", { class: "layer-number", style: "width: auto; min-width: 20px; white-space: nowrap",
            title: "Index in the network (state_dict keys, telemetry)" }, this.numbers[index] ?? ""),
          h("select", { class: "layer-type", "aria-label": `Layer ${index + 1} type`, title: this.state.catalog.layers[layer.type]?.doc,
            onchange: (event) => this.changeType(index, event.target.value) },
          types.map((type) => h("option", { value: type, selected: type === layer.type }, type))),
          h("button", { type: "button", class: "icon", "aria-label": `Move layer ${index + 1} up`, disabled: index === 0,
            onclick: () => this.move(index, -1) }, "↑"),
          h("button", { type: "button", class: "icon", "aria-label": `Move layer ${index + 1} down`, disabled: index === count - 1,
            onclick: () => this.move(index, 1) }, "↓"),
          h("button", { type: "button", class: "icon", "aria-label": `Remove layer ${index + 1}`,
            onclick: () => this.remove(index) }, "✕")),
        h("div", { class: "layer-fields" }, this.layerFields(layer, index))));
    const addSelect = h("select", { id: "add-layer-type", "aria-label": "Type of layer to add" },
      types.map((type) => h("option", { value: type }, type)));
    const output = this.state.config.model;
    this.container.replaceChildren(
      count ? h("ol", { class: "layer-list" }, items) : h("p", { class: "hint" }, "No hidden layers: a linear model."),
      h("div", { class: "add-layer" }, addSelect,
        h("button", { type: "button", id: "add-layer-btn", onclick: () => this.addLayer(addSelect.value) }, "Add layer")),
      h("div", { class: "output-fields" },
        createField(this.ctx, { path: "model.output", label: "Output layer sized to the problem", param: { type: "boolean" },
          value: output.output, onChange: (value) => this.state.set("model.output", value) }),
        output.output ? createField(this.ctx, { path: "model.output_init", label: "Output init", param: { type: "initializer" },
          value: output.output_init, onChange: (value) => this.state.set("model.output_init", value) }) : null),
    );
    if (focused) this.container.querySelector(`[data-path="${CSS.escape(focused)}"] .control`)?.focus();
  }

  /**
   * Number each layer card with the plan's indices of the layers it became ("0–1" for a dense and its activation).
   * @param {object|null} plan the answer of POST /api/plan
   */
  renderNumbers(plan) {
    if (!plan) return;
    this.numbers = this.layers.map((_, source) => {
      const indices = plan.layers.filter((layer) => layer.source === source).map((layer) => layer.index);
      return indices.length > 1 ? `${indices[0]}–${indices.at(-1)}` : `${indices[0] ?? ""}`;
    });
    this.container.querySelectorAll(".layer-card .layer-number").forEach((number, index) => {
      number.textContent = this.numbers[index] ?? "";
    });
  }

  /**
   * The plan as a table (index and type, output shape, parameters) with the loss, or the problem it reports.
   * @param {object|null} plan the answer of POST /api/plan, null when the config cannot run
   * @param {{loc: Array, msg: string}|null} problem the plan's error or first broken server limit
   */
  renderSummary(plan, problem) {
    const errors = problem ? [h("li", {}, problem.msg)] : [];
    if (!plan) {
      this.summary.replaceChildren(h("ul", { class: "summary-errors", role: "alert", id: "model-errors" }, errors));
      return;
    }
    const rows = plan.layers.map((layer) =>
      h("tr", {}, h("td", {}, `${layer.index} ${layer.name ?? layer.type}${layer.inserted ? ` (${layer.inserted})` : ""}`),
        h("td", {}, shapeText(layer.output_shape)), h("td", { class: "num" }, layer.num_parameters.toLocaleString())));
    this.summary.replaceChildren(
      h("table", { class: "summary-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Module"), h("th", { scope: "col" }, "Output"),
          h("th", { scope: "col", class: "num" }, "Params"))),
        h("tbody", {}, h("tr", { class: "input-row" }, h("td", {}, "input"), h("td", {}, shapeText(plan.input_shape)), h("td", {})), rows),
        h("tfoot", {}, h("tr", {}, h("td", { colspan: 2, id: "plan-loss" }, `Total · loss ${plan.loss} · ${plan.output_units} output${plan.output_units === 1 ? "" : "s"}`),
          h("td", { class: "num", id: "param-count" }, plan.num_parameters.toLocaleString())))),
    );
    if (errors.length) this.summary.append(h("ul", { class: "summary-errors", role: "alert", id: "model-errors" }, errors));
  }
}
