import { ApiError, RunStream, api } from "./api.js";
import { ModelBuilder } from "./builder.js";
import { COLORS, FrameScheduler, HistogramChart, ImageGrid, LineChart, ScatterChart, View, decodeRecord, layerColor } from "./charts.js";
import { FeatureMapView } from "./featuremaps.js";
import { parseNumber, setFieldError } from "./forms.js";
import { NetworkView, networkColumns } from "./network.js";
import { DataPanel, TrainingPanel } from "./panels.js";
import { RunsPanel, isFinished } from "./runs.js";
import { State, isObject } from "./state.js";
import { torchSnippet } from "./torch.js";

const $ = (id) => document.getElementById(id);
const LIVE = { "optimizer.lr": "lr", "regularization.rate": "regularization_rate" };
const MAX_HISTORY = 300;
const IMAGE_LAYERS = new Set(["conv2d", "maxpool2d", "avgpool2d", "flatten"]);
const FLAT_LAYERS = new Set(["dense", "maxout"]);
const PLAN_DELAY = 120;
const HISTOGRAM_NAMES = { weight: "weights", grad: "weight gradients", activation: "activations" };
const SMALL_CNN = [
  { type: "conv2d", filters: 8, kernel_size: 3, padding: 1, activation: "relu" },
  { type: "maxpool2d" },
  { type: "flatten" },
];

const randomSeed = () => Math.floor(Math.random() * 2 ** 31);
const inputKind = (config, catalog) => catalog.datasets[config.data.dataset]?.input ?? "2d";

function formatNumber(value, digits = 4) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(2) : value.toFixed(digits);
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

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

class Readout extends View {
  constructor(el, scheduler) {
    super(el, scheduler);
    this.record = null;
    this.status = "ready";
  }

  show(record, status) {
    this.record = record;
    this.status = status;
    this.invalidate();
  }

  flush() {
    const record = this.record;
    $("epoch-counter").textContent = String(record?.epoch ?? 0);
    $("run-status").textContent = this.status;
    $("run-status").className = `run-status ${this.status}`;
    $("train-loss").textContent = formatNumber(record?.train_loss);
    $("test-loss").textContent = formatNumber(record?.test_loss);
    const r2 = record?.metric === "r2";
    $("metric-name").textContent = r2 ? "R² test" : "Accuracy test";
    $("metric-value").textContent = record?.test_metric === null || record?.test_metric === undefined
      ? "–" : r2 ? formatNumber(record.test_metric, 3) : `${(record.test_metric * 100).toFixed(1)}%`;
    const at = record ? ` At epoch ${record.epoch}: train ${formatNumber(record.train_loss)}, test ${formatNumber(record.test_loss)}.` : "";
    $("loss-chart").setAttribute("aria-label", `Train and test loss per epoch.${at}`);
    const metric = record ? ` At epoch ${record.epoch}: test ${$("metric-value").textContent}.` : "";
    $("metric-chart").setAttribute("aria-label", `Train and test ${r2 ? "R²" : "accuracy"} per epoch.${metric}`);
    const running = ["running", "queued", "resuming"].includes(this.status);
    const play = $("play-btn");
    play.classList.toggle("running", running);
    play.setAttribute("aria-label", running ? "Pause" : "Play");
  }
}

class App {
  async start() {
    this.catalog = await api.catalog();
    this.state = new State(this.catalog);
    if (location.hash.length > 1) this.state.fromHash(location.hash);
    const fitted = this.fitNetwork();
    this.scheduler = new FrameScheduler();
    this.info = null;
    this.csvInfo = null;
    this.run = null;
    this.previewKey = "";
    this.createViews();
    this.createPanels();
    this.bindControls();
    this.state.addEventListener("change", (event) => this.onChange(event.detail.path));
    window.addEventListener("hashchange", () => {
      if (location.hash.slice(1) === this.hash) return;
      this.state.fromHash(location.hash);
      this.reportLinkProblems();
    });
    this.clearRunView();
    this.renderAll();
    this.writeHash();
    this.reportLinkProblems(fitted ? [this.fitMessage] : []);
    await this.refreshPreview();
    document.body.dataset.ready = "true";
  }

  createViews() {
    const s = this.scheduler;
    const ui = this.state.ui;
    this.readout = new Readout($("epoch-counter"), s);
    this.boundary = new ScatterChart($("boundary-chart"), s);
    this.preview = new ScatterChart($("preview-chart"), s, { compact: true, alwaysTest: true, markerSize: 3 });
    this.samples = new ImageGrid($("preview-images"), s, { size: 30 });
    const trainTest = [{ name: "train", color: COLORS.train }, { name: "test", color: COLORS.test }];
    this.loss = new LineChart($("loss-chart"), s, { log: ui.logLoss, format: ".4f", legend: false, series: trainTest });
    this.metric = new LineChart($("metric-chart"), s, { format: ".3f", legend: false, series: trainTest });
    this.lr = new LineChart($("lr-chart"), s, { title: "Learning rate", legend: false, format: ".3~g", toZero: true,
      series: [{ name: "lr", color: COLORS.train }] });
    this.grad = new LineChart($("grad-chart"), s, { title: "Gradient L2 norm per layer", log: true });
    this.ratio = new LineChart($("ratio-chart"), s, { title: "Update / weight ratio per layer", log: true });
    this.units = new LineChart($("units-chart"), s, { title: "Dead (ReLU) and saturated (dotted) units", format: ".0%",
      yRange: [0, 1] });
    this.hist = new HistogramChart($("hist-chart"), s);
    this.filters = new ImageGrid($("filters"), s, { size: 44 });
    this.featureMaps = new FeatureMapView($("feature-maps"), s);
    this.network = new NetworkView($("network"), s, {
      onUnits: (index, delta) => this.builder.changeUnits(index, delta),
      onNeuron: (neuron) => this.highlightNeuron(neuron),
    });
    this.runs = new RunsPanel({
      body: $("runs-body"),
      compareButton: $("compare-btn"),
      refreshButton: $("refresh-runs"),
      chartEl: $("compare-chart"),
      scheduler: s,
      onOpen: (id) => this.reopen(id),
      onError: (message) => this.toast(message),
    });
  }

  createPanels() {
    this.builder = new ModelBuilder($("layer-editor"), $("model-summary"), this.state);
    this.dataPanel = new DataPanel($("data-fields"), $("data-extra"), this.state, {
      onUpload: (file) => this.uploadCsv(file),
      onRegenerate: () => this.state.update({ "data.seed": null, seed: randomSeed() }),
    });
    this.trainingPanel = new TrainingPanel($("training-fields"), $("telemetry-fields"), this.state,
      { onNotice: (message) => this.toast(message) });
    const penalty = $("live-penalty");
    for (const name of Object.keys(this.catalog.penalties)) penalty.append(new Option(name === "none" ? "none" : name.toUpperCase(), name));
  }

  bindControls() {
    $("play-btn").addEventListener("click", () => this.play());
    $("step-btn").addEventListener("click", () => this.step());
    $("reset-btn").addEventListener("click", () => this.reset());
    $("add-hidden").addEventListener("click", () => this.builder.addHidden());
    $("remove-hidden").addEventListener("click", () => this.builder.removeLast());
    $("live-lr").addEventListener("change", (event) => this.setLive("optimizer.lr", event.target,
      this.catalog.optimizers[this.state.config.optimizer.name].params.lr));
    $("live-rate").addEventListener("change", (event) => this.setLive("regularization.rate", event.target,
      this.catalog.sections.regularization.rate));
    $("live-penalty").addEventListener("change", (event) => this.changePenalty(event.target));
    $("show-test").addEventListener("change", (event) => this.state.setUi("showTest", event.target.checked));
    $("discretize").addEventListener("change", (event) => this.state.setUi("discretize", event.target.checked));
    $("log-loss").addEventListener("change", (event) => this.state.setUi("logLoss", event.target.checked));
    $("hist-layer").addEventListener("change", (event) => this.state.setUi("histLayer", event.target.value));
    $("hist-kind").addEventListener("change", (event) => this.state.setUi("histKind", event.target.value));
    $("hist-view").addEventListener("change", (event) => this.state.setUi("histView", event.target.value));
    $("banner-close").addEventListener("click", () => { $("banner").hidden = true; });
    $("copy-link").addEventListener("click", async () => {
      await copyText(location.href);
      this.toast("Link copied: it reproduces this setup.");
    });
    $("export-config").addEventListener("click", () =>
      download("nnplay-config.json", `${JSON.stringify(this.state.config, null, 2)}\n`, "application/json"));
    $("import-file").addEventListener("change", (event) => this.importConfig(event.target));
    $("copy-snippet").addEventListener("click", async () => {
      await copyText($("torch-snippet").textContent);
      this.toast("PyTorch code copied.");
    });
    $("download-snippet").addEventListener("click", () => download("nnplay_model.py", $("torch-snippet").textContent, "text/x-python"));
    this.bindTabs();
    document.addEventListener("keydown", (event) => this.shortcut(event));
    window.addEventListener("pagehide", () => {
      if (this.run && !isFinished(this.run.status)) api.stopOnLeave(this.run.id);
    });
  }

  bindTabs() {
    const tablist = document.querySelector('[role="tablist"]');
    const tabs = () => [...tablist.querySelectorAll('[role="tab"]')];
    const select = (tab) => {
      for (const other of tabs()) {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        other.tabIndex = selected ? 0 : -1;
        const panel = document.getElementById(other.getAttribute("aria-controls"));
        if (panel) panel.hidden = !selected;
      }
      if (tab.id === "tab-runs-btn") {
        this.runs.refresh();
        this.updateExport();
      }
    };
    this.selectTab = (id) => select($(id));
    tablist.addEventListener("click", (event) => {
      const tab = event.target.closest('[role="tab"]');
      if (tab) select(tab);
    });
    tablist.addEventListener("keydown", (event) => {
      if (!["ArrowLeft", "ArrowRight"].includes(event.key)) return;
      const all = tabs();
      const next = all[(all.indexOf(document.activeElement) + (event.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
      next.focus();
      select(next);
    });
  }

  shortcut(event) {
    if (event.target !== document.body || event.ctrlKey || event.metaKey || event.altKey) return;
    const actions = { " ": () => this.play(), s: () => this.step(), r: () => this.reset() };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  }

  changePenalty(select) {
    const penalty = select.value;
    const run = this.run;
    if (!run || isFinished(run.status) || this.lastEpoch === 0) {
      this.state.set("regularization.penalty", penalty);
      return;
    }
    select.value = this.state.config.regularization.penalty;
    const name = select.querySelector(`option[value="${penalty}"]`).textContent;
    const running = ["running", "queued", "resuming"].includes(run.status);
    this.ask(`Switching the penalty to ${name} restarts training from epoch 0 (same data and starting weights); the rate beside it applies live.`,
      `Restart with ${name}`, async () => {
        this.state.set("regularization.penalty", penalty);
        if (running) await this.startRun(false);
      });
  }

  ask(text, actionText, onAction) {
    $("banner-text").textContent = text;
    const action = $("banner-action");
    action.textContent = actionText;
    action.hidden = false;
    action.onclick = () => {
      $("banner").hidden = true;
      onAction();
    };
    $("banner").hidden = false;
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

  setLive(path, input, param) {
    const result = parseNumber(input.value, param);
    $("live-error").textContent = result.error ? `${path === "optimizer.lr" ? "Learning rate" : "Rate"} ${result.error}` : "";
    input.toggleAttribute("aria-invalid", Boolean(result.error));
    if (!result.error) this.state.set(path, result.value);
  }

  onChange(path) {
    this.writeHash();
    if (path.startsWith("ui.")) {
      this.applyUi();
      return;
    }
    if (path in LIVE) {
      this.syncLive();
      this.trainingPanel.render(this.info);
      this.sendLive(path);
      return;
    }
    if (["", "data", "data.dataset", "data.images"].includes(path) && this.fitNetwork()) {
      this.toast(this.fitMessage);
      this.writeHash();
    }
    if (this.run) this.discardRun();
    this.renderAll();
    this.refreshPreview();
  }

  writeHash() {
    this.hash = this.state.toHash();
    history.replaceState(null, "", `${location.pathname}${location.search}${this.hash ? `#${this.hash}` : ""}`);
  }

  renderAll() {
    this.dataPanel.render(this.csvInfo);
    this.trainingPanel.render(this.info);
    this.builder.render();
    this.syncLive();
    this.applyUi();
    this.updateSpec();
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

  applyUi() {
    const ui = this.state.ui;
    $("show-test").checked = ui.showTest;
    $("discretize").checked = ui.discretize;
    $("log-loss").checked = ui.logLoss;
    $("hist-kind").value = ui.histKind;
    $("hist-view").value = ui.histView;
    this.boundary.setOptions({ showTest: ui.showTest, discretize: ui.discretize });
    this.loss.setLog(ui.logLoss);
    this.fillHistogramLayers();
    this.drawHistogram();
  }

  updateSpec() {
    const config = this.state.config;
    this.requestPlan();
    const kind = inputKind(config, this.catalog);
    const hidden = config.model.layers.length;
    $("hidden-count").textContent = `${hidden} hidden layer${hidden === 1 ? "" : "s"}`;
    $("remove-hidden").disabled = hidden === 0;
    $("add-hidden").disabled = hidden >= (this.catalog.limits.max_layers ?? Infinity);
    this.boundaryNote = kind === "2d" ? "" : "The decision boundary is drawn for 2-D datasets; this one has more inputs.";
    $("boundary-note").textContent = this.boundaryNote;
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
      if (asked === this.planAsked) this.showPlan(plan, problem ?? plan.limits.problem);
    }, PLAN_DELAY);
  }

  showPlan(plan, problem) {
    this.plan = plan;
    this.planProblem = problem;
    document.body.dataset.plan = plan ? "ready" : "failed";
    this.builder.renderSummary(plan, problem);
    this.builder.renderNumbers(plan);
    this.trainingPanel.showPlan(plan);
    for (const warning of document.querySelectorAll(".sidebar .plan-warning")) warning.remove();
    const field = problem && this.findField(this.pathFromLoc(problem.loc ?? []));
    if (field) field.append(Object.assign(document.createElement("p"), { className: "plan-warning", role: "alert", style: "grid-column: 1 / -1; color: var(--danger, #b3261e); margin: 2px 0", textContent: problem.msg }));
    if (!plan) return;
    this.network.setColumns(networkColumns(plan, this.state.config, inputKind(this.state.config, this.catalog)), this.info?.domain);
    $("conv-section").hidden = !plan.layers.some((layer) => layer.output_shape.length === 3);
    $("filters-block").hidden = !plan.layers.some((layer) => layer.type === "conv2d");
    if (!$("tab-runs").hidden) this.updateExport();
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
    this.boundary.setPoints(points);
    this.samples.setImages(kind === "image"
      ? preview.images.map((image, i) => ({ z: image, gray: true, title: `label ${preview.labels[i]}` })) : []);
    $("preview-chart").hidden = kind !== "2d";
    $("data-info").textContent = !preview ? "Upload a CSV file to use your own data."
      : kind === "table" ? `${preview.rows} rows; columns ${preview.columns.join(", ")}; ${preview.task ?? "task inferred"}.`
        : `${preview.train_samples} train and ${preview.test_samples} test samples, ${preview.task}${
          preview.num_classes ? `, ${preview.num_classes} classes` : ""}.`;
    this.dataPanel.render(this.csvInfo);
    this.trainingPanel.render(this.info);
    this.updateSpec();
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

  clearRunView() {
    this.lastEpoch = 0;
    this.latest = null;
    this.heavy = null;
    this.histories = [];
    this.historyStride = 1;
    this.heavyCount = 0;
    this.layerKey = "";
    this.loss.clear();
    this.metric.clear();
    this.lr.clear();
    this.grad.setSeries([]);
    this.ratio.setSeries([]);
    this.units.setSeries([]);
    this.boundary.setBoundary(null);
    this.network.setRecord(null);
    this.filters.setImages([]);
    this.featureMaps.setMaps(null);
    this.readout.show(null, "ready");
    this.fillHistogramLayers();
    this.drawHistogram();
    $("banner").hidden = true;
  }

  discardRun() {
    const run = this.run;
    this.run = null;
    run.stream?.close();
    if (!isFinished(run.status)) api.control(run.id, "stop").catch(() => {});
    this.clearRunView();
    this.runs.setCurrent(null);
  }

  blockingProblem() {
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

  async play() {
    if (this.busy) return;
    const run = this.run;
    if (run && !isFinished(run.status)) {
      const pausing = ["running", "queued", "resuming"].includes(run.status);
      this.setStatus(pausing ? "pausing" : "resuming");
      await this.control(pausing ? "pause" : "resume");
      return;
    }
    await this.startRun(false);
  }

  async step() {
    if (this.busy) return;
    if (!this.run || isFinished(this.run.status)) {
      if (!(await this.startRun(true))) return;
    }
    await this.control("step");
  }

  reset() {
    const config = this.state.config;
    this.state.update({ "data.seed": config.data.seed ?? config.seed, seed: randomSeed() });
  }

  async startRun(paused) {
    const problemText = this.blockingProblem();
    if (problemText) {
      this.toast(problemText);
      return false;
    }
    if (this.run) this.discardRun();
    this.busy = true;
    try {
      const created = await api.createRun(this.state.config, { paused });
      this.attach(created);
      return true;
    } catch (error) {
      this.showRequestError(error);
      return false;
    } finally {
      this.busy = false;
    }
  }

  attach(run) {
    this.clearRunView();
    this.run = { id: run.id, status: run.status, message: run.message, config: run.config };
    this.readout.show(null, run.status);
    this.runs.setCurrent(run.id);
    this.run.stream = new RunStream(run.id, {
      onMessage: (message) => this.onMessage(message),
      onClose: () => {
        if (this.run?.id === run.id && !isFinished(this.run.status)) this.toast("The connection to the run closed.");
      },
    });
  }

  async control(action, params = {}) {
    const run = this.run;
    try {
      await api.control(run.id, action, params);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) return;
      this.toast(`Could not ${action} the run: ${error.message}`);
    }
  }

  sendLive(path) {
    const run = this.run;
    if (!run || isFinished(run.status)) return;
    this.control("set", { [LIVE[path]]: this.state.get(path) });
  }

  onMessage(message) {
    switch (message.type) {
      case "history":
        for (const record of message.epochs) this.ingest(record);
        if (message.latest) this.applyHeavy(decodeRecord(message.latest));
        if (message.run) this.setStatus(message.run.status, message.run.message);
        break;
      case "epoch":
        this.ingest(message.record);
        break;
      case "epochs":
        for (const record of message.records) this.ingest(record);
        break;
      case "status":
        this.setStatus(message.status, message.message);
        break;
      case "done":
        this.setStatus(message.status, message.message);
        this.run.stream.close();
        break;
      case "error":
        this.toast(message.detail);
        break;
      default:
        break;
    }
  }

  setStatus(status, message) {
    if (!this.run) return;
    this.run.status = status;
    if (message) this.run.message = message;
    this.readout.show(this.latest, status);
    if (!$("tab-runs").hidden) this.updateExport();
    if (status === "diverged") this.showDiverged(message);
    else if (["stopped", "failed"].includes(status) && message) this.toast(`Run ${status}: ${message}`);
  }

  ingest(record) {
    if (record.epoch <= this.lastEpoch) {
      if (record.heavy && record.epoch === this.lastEpoch && this.heavy?.epoch !== record.epoch) this.applyHeavy(decodeRecord(record));
      return;
    }
    this.lastEpoch = record.epoch;
    this.latest = record;
    this.loss.extend(record.epoch, [record.train_loss, record.test_loss]);
    this.metric.extend(record.epoch, [record.train_metric, record.test_metric]);
    this.lr.extend(record.epoch, [record.lr]);
    if (record.metric) $("metric-title").textContent = record.metric === "r2" ? "R²" : "Accuracy";
    if (record.heavy) this.applyHeavy(decodeRecord(record));
    this.readout.show(record, this.run?.status ?? "ready");
    if (record.status === "diverged") this.showDiverged(record.message);
  }

  applyHeavy(record) {
    this.heavy = record;
    if (record.boundary) this.boundary.setBoundary(record.boundary);
    this.network.setRecord(record);
    if (record.layers?.length) this.addLayerTelemetry(record);
    this.showFilters(record);
    this.showFeatureMaps(record);
  }

  addLayerTelemetry(record) {
    const layers = record.layers;
    const key = layers.map((layer) => layer.label).join("|");
    if (key !== this.layerKey) {
      this.layerKey = key;
      const having = (key) => layers.filter((layer) => typeof layer[key] === "number");
      const weighted = having("grad_norm");
      const dead = having("dead_fraction");
      const saturated = having("saturated_fraction");
      this.weightedIndex = weighted.map((layer) => layer.index);
      this.deadIndex = dead.map((layer) => layer.index);
      this.saturatedIndex = saturated.map((layer) => layer.index);
      const series = (list, suffix = "", dash = "solid") =>
        list.map((layer, i) => ({ name: `${layer.label}${suffix}`, color: layerColor(i, list.length), dash }));
      this.grad.setSeries(series(weighted));
      this.ratio.setSeries(series(weighted));
      this.units.setSeries([...series(dead, " dead"), ...series(saturated, " saturated", "dot")]);
      this.fillHistogramLayers(layers);
    }
    const byIndex = new Map(layers.map((layer) => [layer.index, layer]));
    const pick = (indices, key) => indices.map((index) => byIndex.get(index)?.[key] ?? null);
    this.grad.extend(record.epoch, pick(this.weightedIndex, "grad_norm"));
    this.ratio.extend(record.epoch, pick(this.weightedIndex, "update_ratio"));
    this.units.extend(record.epoch, [...pick(this.deadIndex, "dead_fraction"), ...pick(this.saturatedIndex, "saturated_fraction")]);
    this.heavyCount += 1;
    if (this.heavyCount % this.historyStride === 0) {
      this.histories.push({ epoch: record.epoch, layers });
      if (this.histories.length > MAX_HISTORY) {
        this.histories = this.histories.filter((_, i) => i % 2 === 1);
        this.historyStride *= 2;
      }
    }
    this.scheduleHistogram();
  }

  fillHistogramKinds(layers) {
    const kinds = [...new Set(layers.flatMap((layer) => Object.keys(layer).filter((key) => layer[key]?.histogram?.counts)))];
    const select = $("hist-kind");
    if (select.options.length !== kinds.length || kinds.some((kind, i) => select.options[i].value !== kind)) {
      select.replaceChildren(...kinds.map((kind) => new Option(HISTOGRAM_NAMES[kind] ?? kind, kind)));
    }
    select.disabled = kinds.length === 0;
    select.value = kinds.includes(this.state.ui.histKind) ? this.state.ui.histKind : kinds[0] ?? "";
    return select.value;
  }

  fillHistogramLayers(layers = this.histories.at(-1)?.layers ?? []) {
    const kind = this.fillHistogramKinds(layers);
    const select = $("hist-layer");
    const options = layers.filter((layer) => layer[kind]);
    select.replaceChildren(...options.map((layer) => new Option(layer.label, String(layer.index))));
    select.disabled = options.length === 0;
    const wanted = this.state.ui.histLayer;
    select.value = options.some((layer) => String(layer.index) === wanted) ? wanted : options[0] ? String(options[0].index) : "";
  }

  scheduleHistogram() {
    if (this.histogramTimer) return;
    this.histogramTimer = setTimeout(() => {
      this.histogramTimer = 0;
      this.drawHistogram();
    }, 250);
  }

  drawHistogram() {
    const layer = $("hist-layer").value;
    const kind = $("hist-kind").value;
    const entries = this.histories.map((entry) => ({
      epoch: entry.epoch,
      stats: entry.layers.find((item) => String(item.index) === layer)?.[kind] ?? null,
    }));
    const label = $("hist-layer").selectedOptions[0]?.textContent ?? "";
    const title = entries.length ? `${$("hist-kind").selectedOptions[0]?.textContent ?? "values"} of ${label}` : "Train to see histograms";
    this.hist.setData(entries, this.state.ui.histView, title);
  }

  highlightNeuron(neuron) {
    const domain = this.info?.domain;
    if (!neuron || !domain) {
      this.boundary.setHighlight(null);
      $("boundary-note").textContent = this.boundaryNote;
      return;
    }
    const n = neuron.z.length;
    const axis = (low, high) => Array.from({ length: n }, (_, i) => low + ((high - low) * i) / (n - 1));
    const limit = Math.max(1e-9, ...neuron.z.flat().map(Math.abs));
    this.boundary.setHighlight({
      x: axis(domain[0], domain[1]),
      y: axis(domain[2], domain[3]),
      z: neuron.z,
      kind: neuron.output && this.heavy?.boundary?.kind !== "value" ? "probability" : "value",
      limit,
    });
    $("boundary-note").textContent = `Showing ${neuron.title} over the input plane.`;
  }

  showFilters(record) {
    const conv = this.plan?.layers.find((layer) => layer.type === "conv2d");
    const weight = conv ? record.weights?.[String(conv.index)]?.weight : null;
    if (!Array.isArray(weight)) return;
    const limit = Math.max(1e-9, ...weight.flat(3).map(Math.abs));
    this.filters.setImages(weight.map((filter, i) => ({ z: filter[0], scale: limit, title: `filter ${i + 1}` })));
  }

  showFeatureMaps(record) {
    const off = this.run?.config?.telemetry?.feature_maps === false;
    const labels = new Map((record.layers ?? []).map((layer) => [layer.index, layer.label]));
    this.featureMaps.setMaps(record.feature_maps ?? null,
      { labels, empty: off ? "Feature maps are off: turn them on under Telemetry." : undefined });
  }

  showDiverged(message) {
    const config = this.run?.config ?? this.state.config;
    const optimizer = config.optimizer;
    const defaultLr = this.catalog.optimizers[optimizer.name].params.lr.default;
    const hints = [];
    if (optimizer.lr >= 10 * defaultLr) {
      hints.push(`The learning rate ${optimizer.lr} is ${Math.round(optimizer.lr / defaultLr)}× ${optimizer.name}'s usual ${defaultLr}.`);
    }
    const norms = (this.heavy?.layers ?? []).filter((layer) => typeof layer.grad_norm === "number");
    const worst = norms.reduce((best, layer) => (best && best.grad_norm >= layer.grad_norm ? best : layer), null);
    if (worst && worst.grad_norm > 1e3) {
      hints.push(`Gradients exploded (norm ${worst.grad_norm.toExponential(1)} at layer ${worst.label}): use a smaller learning rate or initialization, or add batchnorm.`);
    }
    if (!hints.length) hints.push("Lower the learning rate, or add regularization.");
    const reason = (message ?? "the loss is no longer a finite number").replace(/^diverged at epoch \d+: /, "");
    $("banner-text").textContent = `Training diverged at epoch ${this.lastEpoch}: ${reason}. ${hints.join(" ")}`;
    const suggestion = Math.min(defaultLr, optimizer.lr / 10);
    const action = $("banner-action");
    action.textContent = `Use learning rate ${suggestion}`;
    action.hidden = false;
    action.onclick = () => {
      $("banner").hidden = true;
      this.state.set("optimizer.lr", suggestion);
      if (this.run) this.discardRun();
    };
    $("banner").hidden = false;
  }

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

  async reopen(id) {
    try {
      const run = await api.run(id);
      this.state.replaceConfig(run.config);
      this.selectTab("tab-play-btn");
      if (!isFinished(run.status)) {
        this.attach(run);
        return;
      }
      this.clearRunView();
      this.run = { id: run.id, status: run.status, message: run.message, config: run.config };
      this.runs.setCurrent(run.id);
      const records = await api.epochs(id, true);
      if (this.run?.id !== id) return;
      for (const record of records) this.ingest(record);
      this.setStatus(run.status, run.message);
    } catch (error) {
      this.toast(`Could not open the run: ${error.message}`);
    }
  }

  async importConfig(input) {
    const [file] = input.files;
    input.value = "";
    if (!file) return;
    try {
      const parsed = JSON.parse(await file.text());
      const config = parsed.config && parsed.state_dict ? parsed.config : parsed;
      if (!config || typeof config !== "object" || Array.isArray(config)) throw new Error("the file is not a JSON object");
      const { paused, ...rest } = config;
      this.state.replaceConfig(rest);
      this.toast(`Imported ${file.name}.`);
    } catch (error) {
      this.toast(`Could not import ${file.name}: ${error.message}`);
    }
  }

  updateExport() {
    const run = this.run;
    $("torch-snippet").textContent = this.plan ? torchSnippet(this.plan) : `# ${this.planProblem?.msg ?? "planning the network…"}`;
    for (const [id, format] of [["download-json", null], ["download-npz", "npz"]]) {
      const link = $(id);
      if (run) {
        link.href = api.modelUrl(run.id, format);
        link.setAttribute("download", `nnplay-${run.id}.${format ?? "json"}`);
        link.removeAttribute("aria-disabled");
      } else {
        link.removeAttribute("href");
        link.setAttribute("aria-disabled", "true");
      }
    }
    $("export-run").textContent = run
      ? `Run ${run.id.slice(0, 8)} (${run.status}, ${this.lastEpoch} epochs). Save the model JSON as model.json beside the code.`
      : "Train or reopen a run to download its model; the code below rebuilds the current setup.";
  }

  toast(message) {
    const toast = $("toast");
    toast.textContent = message;
    toast.classList.add("visible");
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => toast.classList.remove("visible"), Math.max(2500, message.length * 60));
  }
}

const app = new App();
window.nnplay = app;
const runControls = $("play-btn").parentElement;
const runButtons = [...runControls.querySelectorAll("button")];
runControls.setAttribute("aria-busy", "true");
for (const button of runButtons) button.disabled = true;
$("play-btn").title = "Loading…";
app.start().then(() => {
  runControls.removeAttribute("aria-busy");
  for (const button of runButtons) button.disabled = false;
  $("play-btn").title = "Play / pause (space)";
}).catch((error) => {
  document.body.dataset.ready = "error";
  const banner = $("banner");
  $("banner-text").textContent = `nnplay could not start: ${error.message}`;
  banner.hidden = false;
});
