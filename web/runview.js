import { COLORS, HistogramChart, ImageGrid, LineChart, ScatterChart, SharedRange, View, decodeRecord, layerColor } from "./charts.js";
import { FeatureMapView } from "./featuremaps.js";
import { h } from "./forms.js";
import { NetworkView } from "./network.js";
import { isRunning } from "./player.js";

const $ = (id) => document.getElementById(id);
const setText = (id, text) => {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
};
const setAttribute = (id, name, value) => {
  const el = $(id);
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
};
const MAX_HISTORY = 300;
const HISTOGRAM_NAMES = { weight: "weights", grad: "weight gradients", activation: "activations" };
const TRAIN_TEST = [{ name: "train", color: COLORS.train }, { name: "test", color: COLORS.test }];
const VALIDATION = { name: "validation", color: COLORS.validation };

function formatNumber(value, digits = 4) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(2) : value.toFixed(digits);
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
    setText("epoch-counter", String(record?.epoch ?? 0));
    setText("run-status", this.status);
    setAttribute("run-status", "class", `run-status ${this.status}`);
    setText("train-loss", formatNumber(record?.train_loss));
    setText("test-loss", formatNumber(record?.test_loss));
    const r2 = record?.metric === "r2";
    setText("metric-name", r2 ? "R² test" : "Accuracy test");
    setText("metric-value", record?.test_metric === null || record?.test_metric === undefined
      ? "–" : r2 ? formatNumber(record.test_metric, 3) : `${(record.test_metric * 100).toFixed(1)}%`);
    const validation = typeof record?.val_loss === "number" ? `, validation ${formatNumber(record.val_loss)}` : "";
    const at = record ? ` At epoch ${record.epoch}: train ${formatNumber(record.train_loss)}, test ${formatNumber(record.test_loss)}${validation}.` : "";
    setAttribute("loss-chart", "aria-label", `Train${validation ? ", test and validation" : " and test"} loss per epoch.${at}`);
    const metric = record ? ` At epoch ${record.epoch}: test ${$("metric-value").textContent}.` : "";
    setAttribute("metric-chart", "aria-label", `Train and test ${r2 ? "R²" : "accuracy"} per epoch.${metric}`);
    const running = isRunning(this.status);
    const play = $("play-btn");
    if (play.classList.contains("running") !== running) play.classList.toggle("running", running);
    setAttribute("play-btn", "aria-label", running ? "Pause" : "Play");
  }
}

/** What a run shows: its curves, heavy fields, layer telemetry, histograms, filters, feature maps and readout. */
export class RunView {
  /**
   * @param {object} options
   * @param {import("./state.js").State} options.state the setup, for the histogram choices and the divergence hints
   * @param {object} options.catalog the server's catalog
   * @param {import("./charts.js").FrameScheduler} options.scheduler
   * @param {(index: number, delta: number) => void} options.onUnits a layer's unit count changed on the diagram
   * @param {(text: string, actionText: string, onAction: () => void) => void} options.ask a banner offering one action
   * @param {(lr: number) => void} options.onUseLearningRate the divergence banner's suggested learning rate was taken
   * @param {(edit: object) => Promise<string|null>} options.onWeight a weight was edited on the diagram
   */
  constructor({ state, catalog, scheduler, onUnits, ask, onUseLearningRate, onWeight }) {
    this.state = state;
    this.catalog = catalog;
    this.ask = ask;
    this.onUseLearningRate = onUseLearningRate;
    this.plan = null;
    this.domain = null;
    this.boundaryNote = "";
    const s = scheduler;
    const ui = state.ui;
    this.readout = new Readout($("epoch-counter"), s);
    this.boundary = new ScatterChart($("boundary-chart"), s);
    this.loss = new LineChart($("loss-chart"), s, { log: ui.logLoss, format: ".4f", legend: false, series: TRAIN_TEST });
    this.validationLegend = h("span", { id: "val-legend", hidden: true },
      h("i", { class: "swatch", style: `background: ${COLORS.validation}` }), "validation");
    $("loss-chart").previousElementSibling?.querySelector(".legend")?.append(" ", this.validationLegend);
    this.metric = new LineChart($("metric-chart"), s, { format: ".3f", legend: false, series: TRAIN_TEST });
    this.lr = new LineChart($("lr-chart"), s, { title: "Learning rate", legend: false, format: ".3~g", toZero: true,
      series: [{ name: "lr", color: COLORS.train }] });
    this.grad = new LineChart($("grad-chart"), s, { title: "Gradient L2 norm per layer", log: true });
    this.ratio = new LineChart($("ratio-chart"), s, { title: "Update / weight ratio per layer", log: true });
    this.units = new LineChart($("units-chart"), s, { title: "Dead (ReLU) and saturated (dotted) units", format: ".0%",
      yRange: [0, 1] });
    this.epochAxis = new SharedRange();
    for (const chart of [this.loss, this.metric, this.lr, this.grad, this.ratio, this.units]) chart.shareX(this.epochAxis);
    this.hist = new HistogramChart($("hist-chart"), s);
    this.filters = new ImageGrid($("filters"), s, { size: 44 });
    this.featureMaps = new FeatureMapView($("feature-maps"), s);
    this.network = new NetworkView($("network"), s, { onUnits, onNeuron: (neuron) => this.highlightNeuron(neuron), onWeight });
    this.scheduler = s;
    this.heavyViews = [this.boundary, this.network, this.grad, this.ratio, this.units, this.hist, this.filters, this.featureMaps];
    this.heavyPending = false;
    /** Called with the epoch once a record's heavy fields are drawn (or skipped, out of view). @type {?(epoch: number) => void} */
    this.onHeavyDrawn = null;
  }

  /**
   * Empties every chart for a new run (or none).
   * @param {object|null} [runConfig] the config the run trains
   * @param {string} [status]
   */
  clear(runConfig = null, status = "ready") {
    this.runConfig = runConfig;
    this.status = status;
    this.setLive(isRunning(status));
    this.lastEpoch = 0;
    this.latest = null;
    this.heavy = null;
    this.histories = [];
    this.historyStride = 1;
    this.heavyCount = 0;
    this.firstHeavy = true;
    this.layerKey = "";
    this.epochAxis.reset();
    const validating = (runConfig?.data?.validation ?? 0) > 0;
    this.loss.setSeries(validating ? [...TRAIN_TEST, VALIDATION] : TRAIN_TEST);
    this.validationLegend.hidden = !validating;
    this.metric.clear();
    this.lr.clear();
    this.grad.setSeries([]);
    this.ratio.setSeries([]);
    this.units.setSeries([]);
    this.boundary.setBoundary(null);
    this.network.setRecord(null);
    this.filters.setImages([]);
    this.featureMaps.setMaps(null);
    this.readout.show(null, status);
    this.fillHistogramLayers();
    this.drawHistogram();
    $("banner").hidden = true;
    if (runConfig && this.initial) this.applyInitial();
    else if (!runConfig) this.initial = null;
  }

  /**
   * Shows the untrained network (epoch 0: pictures and boundary) until a run draws epochs of its own.
   * @param {object|null} record the server's epoch-0 record of the setup (POST /api/preview)
   */
  showInitial(record) {
    this.initial = record && decodeRecord(record);
    if (this.initial && this.lastEpoch === 0) this.applyInitial();
  }

  setLive(live) {
    const charts = [this.boundary, this.loss, this.metric, this.lr, this.grad, this.ratio, this.units, this.hist];
    for (const chart of charts) chart.setLive(live);
    for (const chart of [this.loss, this.metric, this.lr, this.grad, this.ratio, this.units]) {
      chart.xMax = this.runConfig?.training?.epochs;
    }
  }

  applyInitial() {
    this.heavy = this.initial;
    if (this.initial.boundary) this.boundary.setBoundary(this.initial.boundary);
    this.network.setRecord(this.initial);
    document.body.dataset.initial = "shown";
  }

  /**
   * Shows the run's status in the readout, and explains a divergence.
   * @param {string} status
   * @param {string} [message]
   */
  showStatus(status, message) {
    this.status = status;
    this.setLive(isRunning(status));
    this.readout.show(this.latest, status);
    if (status === "diverged") this.showDiverged(message);
  }

  /**
   * Adds one epoch record; an epoch already seen only brings its heavy fields when those are new.
   * @param {object} record an epoch record as the server sends it
   */
  ingest(record) {
    if (record.epoch <= this.lastEpoch) {
      if (record.layers && record.epoch === this.lastEpoch && this.heavy?.epoch !== record.epoch) this.applyHeavy(decodeRecord(record));
      return;
    }
    this.lastEpoch = record.epoch;
    this.latest = record;
    this.loss.extend(record.epoch, [record.train_loss, record.test_loss, record.val_loss]);
    this.metric.extend(record.epoch, [record.train_metric, record.test_metric]);
    this.lr.extend(record.epoch, [record.lr]);
    if (record.metric) setText("metric-title", record.metric === "r2" ? "R²" : "Accuracy");
    if (record.layers) this.applyHeavy(decodeRecord(record));
    this.readout.show(record, this.status);
    if (record.status === "diverged") this.showDiverged(record.message);
  }

  /**
   * Draws a record's heavy fields: boundary, network, layer telemetry, filters and feature maps.
   * @param {object} record a decoded epoch record
   */
  applyHeavy(record) {
    this.heavy = record;
    if (record.boundary) this.boundary.setBoundary(record.boundary);
    this.network.setRecord(record);
    if (record.layers?.length) this.addLayerTelemetry(record);
    this.showFilters(record);
    this.showFeatureMaps(record);
    if (this.firstHeavy) this.scheduler.hurry(this.heavyViews);
    this.firstHeavy = false;
    this.reportWhenDrawn();
  }

  reportWhenDrawn() {
    if (this.heavyPending) return;
    this.heavyPending = true;
    this.scheduler.whenDrawn(this.heavyViews, () => {
      this.heavyPending = false;
      this.onHeavyDrawn?.(this.heavy?.epoch ?? 0);
    });
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
    this.drawHistogram();
  }

  /**
   * Applies the view options (test points, discretized boundary, log loss, histogram choices).
   * @param {object} ui the state's ui settings
   */
  applyUi(ui) {
    this.boundary.setOptions({ showTest: ui.showTest, discretize: ui.discretize });
    this.loss.setLog(ui.logLoss);
    this.fillHistogramLayers();
    this.drawHistogram();
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

  /**
   * Shows the data's points under the decision boundary.
   * @param {object|null} points train and test points, or null for data that is not 2-D
   * @param {number[]|null} domain the input plane [x1 low, x1 high, x2 low, x2 high]
   */
  setData(points, domain) {
    this.domain = domain;
    this.boundary.setPoints(points);
  }

  /**
   * Shows (or clears) the note under the decision boundary when no neuron is highlighted.
   * @param {string} note
   */
  setBoundaryNote(note) {
    this.boundaryNote = note;
    $("boundary-note").textContent = note;
  }

  /**
   * Draws the network diagram and the convolution sections for a plan.
   * @param {object} plan the server's plan of the network
   * @param {object[]} columns the diagram's columns
   */
  showPlan(plan, columns) {
    this.plan = plan;
    this.network.setColumns(columns, this.domain);
    $("conv-section").hidden = !plan.layers.some((layer) => layer.output_shape.length === 3);
    $("filters-block").hidden = !plan.layers.some((layer) => layer.type === "conv2d");
  }

  highlightNeuron(neuron) {
    const domain = this.domain;
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
    const off = this.runConfig?.telemetry?.feature_maps === false;
    const labels = new Map((record.layers ?? []).map((layer) => [layer.index, layer.label]));
    this.featureMaps.setMaps(record.feature_maps ?? null,
      { labels, empty: off ? "Feature maps are off: turn them on under Telemetry." : undefined });
  }

  showDiverged(message) {
    const config = this.runConfig ?? this.state.config;
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
    const suggestion = Math.min(defaultLr, optimizer.lr / 10);
    this.ask(`Training diverged at epoch ${this.lastEpoch}: ${reason}. ${hints.join(" ")}`,
      `Use learning rate ${suggestion}`, () => this.onUseLearningRate(suggestion));
  }
}
