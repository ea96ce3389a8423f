import { ApiError, api } from "./api.js";
import { ModelBuilder } from "./builder.js";
import { ImageGrid, ScatterChart } from "./charts.js";
import { parseNumber, setFieldError } from "./forms.js";
import { networkColumns } from "./network.js";
import { DataPanel, TrainingPanel } from "./panels.js";
import { isRunning, randomSeed } from "./player.js";
import { isFinished } from "./runs.js";
import { isObject } from "./state.js";

const $ = (id) => document.getElementById(id);
const LIVE = new Set(["optimizer.lr", "regularization.rate"]);
const IMAGE_LAYERS = new Set(["conv2d", "maxpool2d", "avgpool2d", "flatten"]);
const FLAT_LAYERS = new Set(["dense", "maxout"]);
const PLAN_DELAY = 120;
const SMALL_CNN = [
  { type: "conv2d", filters: 8, kernel_size: 3, padding: 1, activation: "relu" },
  { type: "maxpool2d" },
  { type: "flatten" },
];

const inputKind = (config, catalog) => catalog.datasets[config.data.dataset]?.input ?? "2d";

function toPoints(preview) {
  const split = (part) => ({ x1: part.x.map((point) => point[0]), x2: part.x.map((point) => point[1]), label: part.y });
  const train = split(preview.train);
  const test = split(preview.test);
  let range = [-1, 1];
  if (preview.task === "regression") {
    const limit = Math.max(1e-9, ...train.label.map(Math.abs), ...test.label.map(Math.abs));
    range = [-limit, limit];
  }
  return { train, test, task: preview.task, classes: preview.num_classes, domain: preview.domain, range };
}

/** The setup's editors: sidebar panels, live fields, the URL, the data preview and the server's plan of the network. */
export class Editors {
  /**
   * @param {object} options
   * @param {import("./state.js").State} options.state the setup being edited
   * @param {object} options.catalog the server's catalog
   * @param {import("./charts.js").FrameScheduler} options.scheduler
   * @param {import("./runview.js").RunView} options.runView where the plan and the data are drawn
   * @param {import("./player.js").Player} options.player the run a setup change discards or updates live
   * @param {() => void} options.onPlan a plan (or its problem) arrived
   * @param {(message: string) => void} options.toast
   * @param {(text: string, actionText: string, onAction: () => void) => void} options.ask a banner offering one action
   */
  constructor({ state, catalog, scheduler, runView, player, onPlan, toast, ask }) {
    this.state = state;
    this.catalog = catalog;
    this.runView = runView;
    this.player = player;
    this.onPlan = onPlan;
    this.toast = toast;
    this.ask = ask;
    this.info = null;
    this.csvInfo = null;
    this.dataPreview = null;
    this.previewKey = "";
    this.plan = null;
    this.planProblem = null;
    this.preview = new ScatterChart($("preview-chart"), scheduler, { compact: true, alwaysTest: true, markerSize: 3 });
    this.samples = new ImageGrid($("preview-images"), scheduler, { size: 30 });
    this.builder = new ModelBuilder($("layer-editor"), $("model-summary"), state);
    this.dataPanel = new DataPanel($("data-fields"), $("data-extra"), state, {
      onUpload: (file) => this.uploadCsv(file),
      onRegenerate: () => state.update({ "data.seed": null, seed: randomSeed() }),
    });
    this.trainingPanel = new TrainingPanel($("training-fields"), $("telemetry-fields"), state,
      { onNotice: (message) => this.toast(message) });
    const penalty = $("live-penalty");
    for (const name of Object.keys(catalog.penalties)) penalty.append(new Option(name === "none" ? "none" : name.toUpperCase(), name));
    this.bindControls();
  }

  /** Fits the network to the linked data, draws every editor and loads the data preview. */
  async start() {
    const fitted = this.fitNetwork();
    this.state.addEventListener("change", (event) => this.onChange(event.detail.path));
    window.addEventListener("hashchange", () => {
      if (location.hash.slice(1) === this.hash) return;
      this.state.fromHash(location.hash);
      this.reportLinkProblems();
    });
    this.runView.clear();
    this.renderAll();
    this.writeHash();
    this.reportLinkProblems(fitted ? [this.fitMessage] : []);
    await this.refreshPreview();
  }

  bindControls() {
    const catalog = this.catalog;
    const setUi = (id, key, read) => $(id).addEventListener("change", (event) => this.state.setUi(key, read(event.target)));
    $("add-hidden").addEventListener("click", () => this.builder.addHidden());
    $("remove-hidden").addEventListener("click", () => this.builder.removeLast());
    $("live-lr").addEventListener("change", (event) => this.setLive("optimizer.lr", event.target,
      catalog.optimizers[this.state.config.optimizer.name].params.lr));
    $("live-rate").addEventListener("change", (event) => this.setLive("regularization.rate", event.target,
      catalog.sections.regularization.rate));
    $("live-penalty").addEventListener("change", (event) => this.changePenalty(event.target));
    setUi("show-test", "showTest", (input) => input.checked);
    setUi("discretize", "discretize", (input) => input.checked);
    setUi("log-loss", "logLoss", (input) => input.checked);
    setUi("hist-layer", "histLayer", (select) => select.value);
    setUi("hist-kind", "histKind", (select) => select.value);
    setUi("hist-view", "histView", (select) => select.value);
  }

  onChange(path) {
    this.writeHash();
    if (path.startsWith("ui.")) {
      this.applyUi();
      return;
    }
    if (LIVE.has(path)) {
      this.syncLive();
      this.trainingPanel.render(this.info);
      const [section, field] = path.split(".");
      this.player.setLive(section, { [field]: this.state.get(path) });
      return;
    }
    if (["", "data", "data.dataset", "data.images"].includes(path) && this.fitNetwork()) {
      this.toast(this.fitMessage);
      this.writeHash();
    }
    if (this.player.run) this.player.discardRun();
    this.renderAll();
    this.refreshPreview();
  }

  writeHash() {
    this.hash = this.state.toHash();
    history.replaceState(null, "", `${location.pathname}${location.search}${this.hash ? `#${this.hash}` : ""}`);
  }

  reportLinkProblems(notes = []) {
    const problems = this.state.problems;
    const messages = problems.length ? [`The link had settings nnplay cannot use: ${problems.join("; ")}.`, ...notes] : notes;
    if (messages.length) this.toast(messages.join(" "));
  }

  fitNetwork() {
    const config = this.state.config;
    const layers = config.model.layers;
    const imageInput = inputKind(config, this.catalog) === "image" && config.data.images;
    const imageNet = layers.some((layer) => IMAGE_LAYERS.has(layer.type));
    const misfit = layers.some((layer) => (imageInput ? FLAT_LAYERS : IMAGE_LAYERS).has(layer.type) && layer.type !== "flatten");
    if (imageInput === imageNet || !misfit) return false;
    if (imageInput) {
      this.flatLayers = layers;
      config.model.layers = SMALL_CNN.map((layer) => this.state.expandLayer(layer));
      this.fitMessage = "Digits are 8×8 images: the network is now a small CNN (conv2d 8 filters, relu → maxpool → flatten).";
    } else {
      config.model.layers = this.flatLayers ?? structuredClone(this.state.defaults.model.layers);
      this.fitMessage = "This data is not images: the network is back to dense layers.";
    }
    return true;
  }

  renderAll() {
    this.dataPanel.render(this.csvInfo);
    this.trainingPanel.render(this.info);
    this.builder.render();
    this.syncLive();
    this.applyUi();
    this.updateSpec();
  }

  setLive(path, input, param) {
    const result = parseNumber(input.value, param);
    $("live-error").textContent = result.error ? `${path === "optimizer.lr" ? "Learning rate" : "Rate"} ${result.error}` : "";
    input.toggleAttribute("aria-invalid", Boolean(result.error));
    if (!result.error) this.state.set(path, result.value);
  }

  syncLive() {
    const config = this.state.config;
    const errors = [];
    const live = [
      ["live-lr", "Learning rate", config.optimizer.lr, this.catalog.optimizers[config.optimizer.name].params.lr],
      ["live-rate", "Rate", config.regularization.rate, this.catalog.sections.regularization.rate],
    ];
    for (const [id, label, value, param] of live) {
      const input = $(id);
      if (document.activeElement !== input) input.value = String(value);
      const error = parseNumber(String(value ?? ""), param).error;
      input.toggleAttribute("aria-invalid", Boolean(error));
      if (error) errors.push(`${label} ${error}`);
    }
    const penalty = $("live-penalty");
    const known = config.regularization.penalty in this.catalog.penalties;
    penalty.value = known ? config.regularization.penalty : "";
    penalty.toggleAttribute("aria-invalid", !known);
    if (!known) errors.push(`Regularization must be one of ${Object.keys(this.catalog.penalties).join(", ")}`);
    $("live-error").textContent = errors.join("; ");
  }

  changePenalty(select) {
    const penalty = select.value;
    const run = this.player.run;
    if (!run || isFinished(run.status) || this.runView.lastEpoch === 0) {
      this.state.set("regularization.penalty", penalty);
      return;
    }
    select.value = this.state.config.regularization.penalty;
    const name = select.querySelector(`option[value="${penalty}"]`).textContent;
    const running = isRunning(run.status);
    this.ask(`Switching the penalty to ${name} restarts training from epoch 0 (same data and starting weights); the rate beside it applies live.`,
      `Restart with ${name}`, async () => {
        this.state.set("regularization.penalty", penalty);
        if (running) await this.player.startRun(false);
      });
  }

  applyUi() {
    const ui = this.state.ui;
    $("show-test").checked = ui.showTest;
    $("discretize").checked = ui.discretize;
    $("log-loss").checked = ui.logLoss;
    $("hist-kind").value = ui.histKind;
    $("hist-view").value = ui.histView;
    this.runView.applyUi(ui);
  }

  updateSpec() {
    const config = this.state.config;
    this.requestPlan();
    this.showDataInfo();
    const kind = inputKind(config, this.catalog);
    const hidden = config.model.layers.length;
    $("hidden-count").textContent = `${hidden} hidden layer${hidden === 1 ? "" : "s"}`;
    $("remove-hidden").disabled = hidden === 0;
    $("add-hidden").disabled = hidden >= (this.catalog.limits.max_layers ?? Infinity);
    this.runView.setBoundaryNote(kind === "2d" ? "" : "The decision boundary is drawn for 2-D datasets; this one has more inputs.");
    $("boundary-chart").hidden = kind !== "2d";
    $("output-toggles").hidden = kind !== "2d";
  }

  requestPlan() {
    const config = structuredClone(this.state.config);
    const asked = (this.planAsked ?? 0) + 1;
    this.planAsked = asked;
    clearTimeout(this.planTimer);
    document.body.dataset.plan = "pending";
    if (config.data.dataset === "csv" && !config.data.csv_id) {
      this.showPlan(null, { loc: ["data", "csv_id"], msg: "upload a CSV file first" });
      return;
    }
    this.planTimer = setTimeout(async () => {
      if (document.querySelector(".sidebar .field.invalid") || $("live-error").textContent) {
        document.body.dataset.plan = "invalid";
        return;
      }
      let plan = null;
      let problem = null;
      try {
        plan = await api.plan(config);
      } catch (error) {
        problem = error instanceof ApiError && error.fieldErrors.length ? error.fieldErrors[0] : { loc: [], msg: error.message };
      }
      if (asked !== this.planAsked) return;
      this.showPlan(plan, problem ?? plan.limits.problem);
      if (plan && !plan.limits.problem) this.requestInitial(config, asked);
    }, PLAN_DELAY);
  }

  /**
   * Asks for the setup's untrained network (epoch 0) and shows it while no run is attached; one request at a
   * time, the newest setup next.
   * @param {object} config the setup the plan was made for
   * @param {number} asked the plan request it follows; a later one makes this answer stale
   */
  async requestInitial(config, asked) {
    this.initialWanted = { config, asked };
    if (this.initialBusy) return;
    this.initialBusy = true;
    while (this.initialWanted) {
      const wanted = this.initialWanted;
      this.initialWanted = null;
      let record = null;
      try {
        record = await api.preview(wanted.config);
      } catch {
        record = null;
      }
      if (wanted.asked === this.planAsked && !this.player.run) this.runView.showInitial(record);
    }
    this.initialBusy = false;
  }

  showPlan(plan, problem) {
    this.plan = plan;
    this.planProblem = problem;
    document.body.dataset.plan = plan ? "ready" : "failed";
    this.showDataInfo();
    this.builder.renderSummary(plan, problem);
    this.builder.renderNumbers(plan);
    this.trainingPanel.showPlan(plan);
    for (const warning of document.querySelectorAll(".sidebar .plan-warning")) warning.remove();
    const field = problem && this.findField(this.pathFromLoc(problem.loc ?? []));
    if (field) field.append(Object.assign(document.createElement("p"), { className: "plan-warning", role: "alert", style: "grid-column: 1 / -1; color: var(--danger, #b3261e); margin: 2px 0", textContent: problem.msg }));
    if (!plan) return;
    this.runView.showPlan(plan, networkColumns(plan, this.state.config, inputKind(this.state.config, this.catalog)));
    this.onPlan();
  }

  previewRequest() {
    const config = this.state.config;
    const data = config.data;
    if (data.dataset === "csv") return [data.csv_id, {}];
    return [data.dataset, {
      n_samples: data.n_samples,
      noise: data.noise,
      train_ratio: data.train_ratio,
      classes: data.classes,
      seed: data.seed ?? config.seed,
    }];
  }

  async refreshPreview() {
    const data = this.state.config.data;
    const [name, params] = this.previewRequest();
    const key = JSON.stringify([name, params]);
    if (key === this.previewKey) return;
    this.previewKey = key;
    if (!name) {
      this.applyPreview(null);
      return;
    }
    try {
      const preview = await api.dataset(name, params);
      if (key === this.previewKey) this.applyPreview(preview);
    } catch (error) {
      if (key !== this.previewKey) return;
      this.applyPreview(null);
      $("data-info").textContent = data.dataset === "csv"
        ? `The uploaded CSV is not available: ${error.message}. Upload it again.`
        : `No preview: ${error.message}`;
    }
  }

  applyPreview(preview) {
    const kind = preview?.input;
    this.info = preview && {
      task: preview.task,
      classes: preview.num_classes ?? null,
      inputs: kind === "table" ? preview.columns.length - 1 : null,
      domain: preview.domain ?? null,
    };
    if (kind === "table") this.csvInfo = preview;
    const points = kind === "2d" ? toPoints(preview) : null;
    this.preview.setPoints(points);
    this.runView.setData(points, this.info?.domain ?? null);
    this.samples.setImages(kind === "image"
      ? preview.images.map((image, i) => ({ z: image, gray: true, title: `label ${preview.labels[i]}` })) : []);
    $("preview-chart").hidden = kind !== "2d";
    this.dataPreview = preview;
    if (!preview) $("data-info").textContent = "Upload a CSV file to use your own data.";
    this.dataPanel.render(this.csvInfo);
    this.trainingPanel.render(this.info);
    this.updateSpec();
  }

  /** The data info line: sample counts (and what data.validation holds out, counted by the plan), task and classes. */
  showDataInfo() {
    const preview = this.dataPreview;
    if (!preview) return;
    const fraction = this.state.config.data.validation;
    const plan = document.body.dataset.plan === "ready" ? this.plan : null;
    const validation = !(fraction > 0) ? ""
      : plan ? ` Validation holds out ${plan.validation_samples} of the ${plan.train_samples + plan.validation_samples} training samples.`
        : ` Validation holds out ${Math.round(fraction * 100)}% of the training samples.`;
    $("data-info").textContent = (preview.input === "table"
      ? `${preview.rows} rows; columns ${preview.columns.join(", ")}; ${preview.task ?? "task inferred"}.`
      : `${preview.train_samples} train and ${preview.test_samples} test samples, ${preview.task}${
        preview.num_classes ? `, ${preview.num_classes} classes` : ""}.`) + validation;
  }

  async uploadCsv(file) {
    const limit = this.catalog.limits.max_upload_bytes;
    if (limit && file.size > limit) {
      this.dataPanel.setUploadMessage(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; the limit is ${(limit / 1e6).toFixed(1)} MB.`, true);
      return;
    }
    try {
      const uploaded = await api.uploadCsv(file.name, await file.text());
      this.csvInfo = uploaded;
      const target = uploaded.num_classes ? `${uploaded.num_classes} classes (${uploaded.class_names.join(", ")})` : uploaded.task;
      this.dataPanel.setUploadMessage(`Loaded ${file.name}: ${uploaded.rows} rows, columns ${uploaded.columns.join(", ")}; ${target}.`);
      this.state.set("data", { ...this.state.config.data, dataset: "csv", csv_id: uploaded.id, target: null, task: "auto" });
    } catch (error) {
      const reasons = error instanceof ApiError && error.fieldErrors.length
        ? error.fieldErrors.map((detail) => detail.msg.replace(/^the CSV cannot be used: /, "")).join("; ") : error.message;
      this.dataPanel.setUploadMessage(`Could not use ${file.name}: ${reasons}.`, true);
    }
  }

  /**
   * Why the setup cannot start a run (focusing the invalid field), or null when it can.
   * @returns {string|null}
   */
  problemBeforeRun() {
    const invalid = document.querySelector(".field.invalid");
    if (invalid) {
      invalid.closest("details")?.setAttribute("open", "");
      invalid.querySelector(".control")?.focus();
      return invalid.querySelector(".field-error").textContent || "A setting is invalid.";
    }
    if (this.state.config.data.dataset === "csv" && !this.state.config.data.csv_id) return "Upload a CSV file first.";
    if ($("live-error").textContent) return $("live-error").textContent;
    return null;
  }

  /**
   * Places a failed run request's field errors on their fields; what has no field goes to a toast.
   * @param {Error} error
   */
  showRequestError(error) {
    const details = error instanceof ApiError ? error.fieldErrors : [];
    const unplaced = [];
    for (const detail of details) {
      const path = this.pathFromLoc(detail.loc ?? []);
      const field = this.findField(path);
      if (field) {
        field.closest("details")?.setAttribute("open", "");
        setFieldError(field, `${field.dataset.label}: ${detail.msg}`);
      } else {
        unplaced.push(`${path || "request"}: ${detail.msg}`);
      }
    }
    if (!details.length) this.toast(`Could not start the run: ${error.message}`);
    else if (unplaced.length) this.toast(`Could not start the run: ${unplaced.join("; ")}`);
    else this.toast("Could not start the run: see the highlighted setting.");
  }

  pathFromLoc(loc) {
    const keys = loc[0] === "body" ? loc.slice(1) : loc;
    const path = [];
    let node = this.state.config;
    for (const key of keys) {
      if (isObject(node) && !(key in node) && (node.type === key || node.name === key)) continue;
      path.push(key);
      node = node?.[key];
    }
    return path.join(".");
  }

  findField(path) {
    const parts = path.split(".");
    while (parts.length && parts[0] !== "") {
      const prefix = parts.join(".");
      const exact = document.querySelector(`.sidebar .field[data-path="${CSS.escape(prefix)}"]`);
      const child = exact ?? document.querySelector(`.sidebar .field[data-path^="${CSS.escape(`${prefix}.`)}"]`);
      if (child) return child;
      parts.pop();
    }
    return null;
  }
}
