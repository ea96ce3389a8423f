import { api } from "./api.js";
import { CLASS_COLORS, COLORS } from "./charts.js";
import { checkboxField, createField, fieldGroup, h, selectField, specOf, uid } from "./forms.js";
import { isObject } from "./state.js";

const THUMB_SIZE = 44;
const CLIP_DEFAULT = 1;
const thumbPoints = new Map();

/** Draws a 2-D dataset's points (fetched once per name) on a small canvas, TF-Playground's dataset picker. */
async function paintThumb(canvas, name) {
  if (!thumbPoints.has(name)) thumbPoints.set(name, api.dataset(name, { n_samples: 200, seed: 0 }));
  const preview = await thumbPoints.get(name);
  const [x0, x1, y0, y1] = preview.domain;
  const scale = window.devicePixelRatio || 1;
  canvas.width = canvas.height = THUMB_SIZE * scale;
  const context = canvas.getContext("2d");
  context.scale(scale, scale);
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, THUMB_SIZE, THUMB_SIZE);
  const regression = preview.task === "regression";
  preview.train.x.forEach(([x, y], i) => {
    const label = preview.train.y[i];
    context.fillStyle = regression ? (label >= 0 ? COLORS.positive : COLORS.negative) : CLASS_COLORS[label % CLASS_COLORS.length];
    context.fillRect(((x - x0) / (x1 - x0)) * (THUMB_SIZE - 3), ((y1 - y) / (y1 - y0)) * (THUMB_SIZE - 3), 3, 3);
  });
  canvas.dataset.painted = "true";
}

const DATASET_NAMES = {
  circle: "Circle",
  xor: "Exclusive or",
  gauss: "Two Gaussians",
  spiral: "Spiral",
  plane: "Plane (regression)",
  multi_gauss: "Bumps (regression)",
  blobs: "Blobs",
  moons: "Moons",
  digits: "Digits 8×8 (images)",
  csv: "Your CSV",
};

/**
 * A dataset's name as people read it.
 * @param {string} name
 * @returns {string}
 */
export function datasetLabel(name) {
  return DATASET_NAMES[name] ?? name;
}

function focusKeeper(root) {
  const active = document.activeElement;
  const focused = active?.closest?.("[data-path]");
  const path = root.contains(focused) ? focused.dataset.path : null;
  const part = active?.classList.contains("slider") ? ".slider" : ".control";
  return () => {
    if (path) root.querySelector(`[data-path="${CSS.escape(path)}"] ${part}`)?.focus();
  };
}

function withSlider(wrapper, { min, max, step }, onChange) {
  const number = wrapper.querySelector(":scope > .control");
  const value = Number(number.value);
  const slider = h("input", { type: "range", class: "slider", min, max, step, value: Number.isFinite(value) ? value : min,
    "aria-label": `${wrapper.dataset.label} slider` });
  slider.addEventListener("input", () => { number.value = slider.value; });
  slider.addEventListener("change", () => onChange(Number(slider.value)));
  wrapper.insertBefore(slider, wrapper.querySelector(":scope > .field-error"));
  return wrapper;
}

/**
 * The Data section: dataset, its parameters, features, CSV upload and target.
 * @param {HTMLElement} fields
 * @param {HTMLElement} extra
 * @param {import("./state.js").State} state
 * @param {{onUpload: (file: File) => void, onRegenerate: () => void}} handlers
 */
export class DataPanel {
  constructor(fields, extra, state, { onUpload, onRegenerate }) {
    this.fields = fields;
    this.extra = extra;
    this.state = state;
    this.onUpload = onUpload;
    this.onRegenerate = onRegenerate;
    this.upload = { text: "", error: false };
  }

  setUploadMessage(text, error = false) {
    this.upload = { text, error };
    const message = this.extra.querySelector(".upload-message");
    if (message) {
      message.textContent = text;
      message.classList.toggle("error", error);
    }
  }

  render(csvInfo) {
    const restore = focusKeeper(this.fields.parentElement);
    const { catalog, config } = this.state;
    const data = config.data;
    const params = catalog.sections.data;
    const ctx = { catalog };
    const dataset = catalog.datasets[data.dataset];
    const set = (name) => (value) => this.state.set(`data.${name}`, value);
    const field = (name, label) => createField(ctx, { path: `data.${name}`, label, param: params[name], value: data[name], onChange: set(name) });
    const options = Object.keys(catalog.datasets).map((name) => [name, datasetLabel(name)]);
    const samples = field("n_samples", "Samples");
    const samplesInput = samples.querySelector("input");
    samplesInput.placeholder = dataset.default_samples ? `${dataset.default_samples} (default)` : "all rows";
    const rows = [
      selectField("data.dataset", "Dataset", options, data.dataset, set("dataset"), dataset.doc),
      samples,
      withSlider(field("noise", "Noise %"), { min: 0, max: 50, step: 1 }, set("noise")),
      withSlider(field("train_ratio", "Train ratio"), { min: 0.1, max: 0.9, step: 0.05 }, set("train_ratio")),
      withSlider(field("validation", "Validation"), { min: 0, max: 0.5, step: 0.05 }, set("validation")),
      field("seed", "Data seed"),
    ];
    if (["spiral", "blobs"].includes(data.dataset)) rows.push(field("classes", "Classes"));
    if (dataset.input === "image") rows.push(field("images", "As images (1×8×8)"));
    if (dataset.input === "table") {
      const columns = csvInfo?.columns ?? [];
      const targets = [["", "last column"], ...columns.map((column) => [column, column])];
      rows.push(selectField("data.target", "Target column", targets, data.target ?? "", (value) => this.state.set("data.target", value || null)));
      rows.push(field("task", "Task"), field("standardize", "Standardize"));
    }
    const thumbsFocused = Boolean(document.activeElement?.closest?.(".dataset-thumbs"));
    this.fields.replaceChildren(this.datasetThumbs(data.dataset), ...rows);
    this.extra.replaceChildren(...this.extraRows(data, dataset));
    restore();
    if (thumbsFocused) this.fields.querySelector('.dataset-thumbs [aria-checked="true"]')?.focus();
  }

  /** The 2-D datasets as pictures to pick from: a radio group (arrow keys move and pick, Enter or Space pick). */
  datasetThumbs(current) {
    const names = Object.keys(this.state.catalog.datasets).filter((name) => this.state.catalog.datasets[name].input === "2d");
    const pick = (name) => {
      if (name !== this.state.config.data.dataset) this.state.set("data.dataset", name);
    };
    const focusable = names.includes(current) ? current : names[0];
    const buttons = names.map((name) => {
      const canvas = h("canvas", { "aria-hidden": "true" });
      paintThumb(canvas, name).catch(() => {});
      return h("button", { type: "button", role: "radio", class: "dataset-thumb", "aria-checked": String(name === current),
        "aria-label": datasetLabel(name), title: datasetLabel(name), tabindex: name === focusable ? "0" : "-1",
        dataset: { name }, onclick: () => pick(name) }, canvas);
    });
    const group = h("div", { class: "dataset-thumbs", role: "radiogroup", "aria-label": "Datasets" }, buttons);
    group.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      const at = names.indexOf(event.target.dataset.name);
      pick(names[(at + step + names.length) % names.length]);
    });
    return group;
  }

  extraRows(data, dataset) {
    const rows = [
      h("div", { class: "button-row" },
        h("button", { type: "button", id: "regenerate-btn", onclick: this.onRegenerate, title: "New data and new weights: a new random seed for both" },
          "Regenerate")),
    ];
    if (dataset.input === "2d") rows.push(this.featureChecks(data.features));
    const fileId = uid("csv");
    const fileInput = h("input", { type: "file", id: fileId, accept: ".csv,text/csv,text/plain", class: "csv-file" });
    fileInput.addEventListener("change", () => {
      const [file] = fileInput.files;
      if (file) this.onUpload(file);
      fileInput.value = "";
    });
    rows.push(h("div", { class: "upload" },
      h("label", { for: fileId }, "Upload a CSV (numeric columns, a header row, the target last)"),
      fileInput,
      h("p", { class: `upload-message${this.upload.error ? " error" : ""}`, role: "alert", id: "csv-message" }, this.upload.text)));
    return rows;
  }

  featureChecks(selected) {
    const { catalog } = this.state;
    const error = h("span", { class: "field-error", role: "status" });
    const boxes = catalog.features.map((name) => {
      const input = h("input", { type: "checkbox", checked: selected.includes(name), "aria-label": `Feature ${name}`,
        dataset: { feature: name } });
      input.addEventListener("change", () => {
        const next = catalog.features.filter((feature) => (feature === name ? input.checked : selected.includes(feature)));
        if (next.length === 0) {
          input.checked = true;
          error.textContent = "Keep at least one feature.";
          return;
        }
        this.state.set("data.features", next);
      });
      return h("label", {}, input, name);
    });
    return h("fieldset", { class: "checks", dataset: { path: "data.features" } }, h("legend", {}, "Features"), boxes, error);
  }
}

/**
 * The Training and Telemetry sections: loss, optimizer, schedule, regularization, stopping, telemetry.
 * @param {HTMLElement} fields
 * @param {HTMLElement} telemetry
 * @param {import("./state.js").State} state
 * @param {{onNotice: (message: string) => void}} handlers
 */
export class TrainingPanel {
  constructor(fields, telemetry, state, { onNotice }) {
    this.fields = fields;
    this.telemetry = telemetry;
    this.state = state;
    this.onNotice = onNotice;
    this.plan = null;
  }

  /**
   * Word the loss choice from the plan: the task's losses and what "auto" resolves to.
   * @param {object|null} plan the answer of POST /api/plan
   */
  showPlan(plan) {
    this.plan = plan ?? this.plan;
    if (plan && plan.task !== this.task) this.render(this.info);
    const auto = this.fields.querySelector('.field[data-path="loss"] option[value="auto"]');
    if (auto) auto.textContent = this.autoLoss();
  }

  autoLoss() {
    return this.plan && this.state.config.loss === "auto" ? `auto (${this.plan.loss})` : "auto";
  }

  chooseOptimizer(name) {
    const before = this.state.config.optimizer.lr;
    const next = this.state.optimizerDefaults(name);
    this.state.set("optimizer", next);
    if (next.lr !== before) this.onNotice(`${name} starts from its usual learning rate ${next.lr} (it was ${before}).`);
  }

  chooseSchedule(name) {
    const next = this.state.scheduleDefaults(name);
    if ("t_max" in next) next.t_max = this.state.config.training.epochs;
    this.state.set("schedule", next);
  }

  setEpochs(epochs) {
    const { schedule, training } = this.state.config;
    const follows = schedule.name === "cosine" && schedule.t_max === training.epochs;
    this.state.update({ "training.epochs": epochs, ...(follows ? { "schedule.t_max": epochs } : {}) });
  }

  render(info) {
    const restore = focusKeeper(this.fields.parentElement.parentElement);
    const { catalog, config } = this.state;
    const ctx = { catalog };
    this.info = info;
    const task = this.plan?.task ?? info?.task ?? catalog.datasets[config.data.dataset]?.task ?? "classification";
    this.task = task;
    const optimizer = config.optimizer;
    const schedule = config.schedule;
    const training = config.training;
    const sections = catalog.sections;
    const rows = [
      ...this.lossFields(ctx, task),
      selectField("optimizer.name", "Optimizer", Object.keys(catalog.optimizers).map((name) => [name, name]), optimizer.name,
        (name) => this.chooseOptimizer(name), catalog.optimizers[optimizer.name]?.doc),
      ...fieldGroup(ctx, "optimizer", catalog.optimizers[optimizer.name].params, optimizer,
        (name, value) => this.state.set(`optimizer.${name}`, value)),
      selectField("schedule.name", "LR schedule", Object.keys(catalog.schedules).map((name) => [name, name]), schedule.name,
        (name) => this.chooseSchedule(name), catalog.schedules[schedule.name]?.doc),
      ...fieldGroup(ctx, "schedule", catalog.schedules[schedule.name].params, schedule,
        (name, value) => this.state.set(`schedule.${name}`, value)),
      ...this.batchFields(training.batch_size, sections.training.batch_size),
      this.epochsField(ctx, sections.training.epochs, training.epochs),
      checkboxField("training.shuffle", "Shuffle every epoch", training.shuffle, (value) => this.state.set("training.shuffle", value)),
      checkboxField("training.early_stopping", "Early stopping", training.early_stopping !== null, (on) =>
        this.state.set("training.early_stopping", on ? Object.fromEntries(
          Object.entries(sections.early_stopping).map(([name, param]) => [name, param.default])) : null)),
    ];
    if (training.early_stopping) {
      rows.push(...fieldGroup(ctx, "training.early_stopping", sections.early_stopping, training.early_stopping,
        (name, value) => this.state.set(`training.early_stopping.${name}`, value)));
    }
    rows.push(...this.clipFields(ctx, sections.training.clip_grad_norm, training.clip_grad_norm));
    rows.push(
      createField(ctx, { path: "seed", label: "Seed", param: { type: "integer", minimum: 0, maximum: 2 ** 32 - 1 }, value: config.seed,
        onChange: (value) => this.state.set("seed", value) }),
      selectField("dtype", "Precision", [["float32", "float32"], ["float64", "float64"]], config.dtype, (value) => this.state.set("dtype", value)),
    );
    this.fields.replaceChildren(...rows);
    this.telemetry.replaceChildren(...fieldGroup(ctx, "telemetry", sections.telemetry, config.telemetry,
      (name, value) => this.state.set(`telemetry.${name}`, value)));
    restore();
  }

  /** The Loss select ("auto" or a loss of the task) and the chosen loss's parameters: the loss is a name or {name, ...params}. */
  lossFields(ctx, task) {
    const { catalog, config } = this.state;
    const { name, ...params } = isObject(config.loss) ? config.loss : { name: config.loss };
    const loss = catalog.losses[name];
    const choices = Object.entries(catalog.losses).filter(([, entry]) => entry.task === task).map(([key]) => [key, key]);
    const rows = [selectField("loss", "Loss", [["auto", this.autoLoss()], ...choices], name, (next) => this.state.set("loss", next), loss?.doc)];
    if (!loss) return rows;
    const values = { ...Object.fromEntries(Object.entries(loss.params).map(([key, param]) => [key, param.default])), ...params };
    const setParam = (key, value) => this.state.set("loss", specOf(name, { ...params, [key]: value }, loss.params));
    return [...rows, ...fieldGroup(ctx, "loss", loss.params, values, setParam)];
  }

  /** The Epochs field with its ∞ toggle: train in chunks of that many epochs until paused or stopped. */
  epochsField(ctx, param, epochs) {
    const wrapper = createField(ctx, { path: "training.epochs", label: "Epochs", param, value: epochs,
      onChange: (value) => this.setEpochs(value) });
    const endless = this.state.ui.endless;
    const hint = h("p", { class: "hint endless-hint", id: "endless-hint", hidden: !endless },
      `∞: trains ${epochs} epochs at a time, on and on, until you pause or stop it (at most ${param.maximum ?? 10000} epochs).`);
    const toggle = h("button", { type: "button", class: "mini endless-toggle", id: "endless-btn", "aria-pressed": String(endless),
      "aria-label": "Train until paused (∞ epochs)", "aria-describedby": "endless-hint", title: "Train until paused (∞)" }, "∞");
    toggle.addEventListener("click", () => {
      const on = !this.state.ui.endless;
      toggle.setAttribute("aria-pressed", String(on));
      hint.hidden = !on;
      this.state.setUi("endless", on);
    });
    wrapper.insertBefore(toggle, wrapper.querySelector(":scope > .field-error"));
    wrapper.append(hint);
    return wrapper;
  }

  /** Gradient clipping: a checkbox (off: null), and when on the largest total gradient norm, torch's clip_grad_norm_. */
  clipFields(ctx, param, value) {
    const set = (next) => this.state.set("training.clip_grad_norm", next);
    const rows = [checkboxField("training.clip_grad_norm.on", "Clip gradients", value !== null, (on) => set(on ? CLIP_DEFAULT : null),
      "Scale each step's gradients so their total 2-norm is at most the max norm (torch.nn.utils.clip_grad_norm_)")];
    if (value !== null) {
      rows.push(createField(ctx, { path: "training.clip_grad_norm", label: "Max grad norm", param: { ...param, nullable: false }, value,
        onChange: set }));
    }
    return rows;
  }

  batchFields(batch, param) {
    const mode = batch === "full" ? "full" : batch === 1 ? "one" : "mini";
    const rows = [
      selectField("training.batch_size", "Batch", [["full", "full batch (GD)"], ["one", "1 (SGD)"], ["mini", "mini-batch"]], mode,
        (next) => this.state.set("training.batch_size", next === "full" ? "full" : next === "one" ? 1 : 10)),
    ];
    if (mode === "mini") {
      const set = (value) => this.state.set("training.batch_size", value);
      rows.push(withSlider(createField({ catalog: this.state.catalog }, {
        path: "training.batch_size.n",
        label: "Batch size",
        param: { type: "integer", minimum: param.minimum ?? 1, maximum: param.maximum },
        value: batch,
        onChange: set,
      }), { min: 1, max: 100, step: 1 }, set));
    }
    return rows;
  }
}
