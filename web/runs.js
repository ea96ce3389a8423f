import { api } from "./api.js";
import { COLORS, LineChart } from "./charts.js";
import { h } from "./forms.js";
import { datasetLabel } from "./panels.js";

const FINISHED = new Set(["completed", "stopped", "diverged", "failed", "interrupted"]);

/**
 * Whether a run's status is final.
 * @param {string} status
 * @returns {boolean}
 */
export function isFinished(status) {
  return FINISHED.has(status);
}

function networkText(config) {
  const layers = config.model.layers.map((layer) => {
    const act = typeof layer.activation === "string" ? layer.activation : layer.activation?.name;
    if (layer.type === "dense" || layer.type === "maxout") return `${layer.units}${act ? ` ${act}` : ""}`;
    if (layer.type === "conv2d") return `conv${layer.filters}`;
    if (layer.type === "activation") return layer.name;
    return layer.type;
  });
  return layers.length ? layers.join(" · ") : "linear";
}

function format(value) {
  return typeof value === "number" ? value.toPrecision(3) : "–";
}

function started(run) {
  const date = new Date(run.started_at ?? run.created_at);
  const today = date.toDateString() === new Date().toDateString();
  return today
    ? date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/**
 * The Runs tab: the stored runs, opening one, and comparing the losses of the selected runs.
 * @param {{body: HTMLElement, compareButton: HTMLButtonElement, refreshButton: HTMLButtonElement,
 *   chartEl: HTMLElement, scheduler: import("./charts.js").FrameScheduler, onOpen: (id: string) => void,
 *   onError: (message: string) => void}} options
 */
export class RunsPanel {
  constructor({ body, compareButton, refreshButton, chartEl, scheduler, onOpen, onError }) {
    this.body = body;
    this.compareButton = compareButton;
    this.onOpen = onOpen;
    this.onError = onError;
    this.selected = [];
    this.currentId = null;
    this.chartEl = chartEl;
    this.chart = new LineChart(chartEl, scheduler, { title: "Loss of the compared runs", xTitle: "epoch", log: true });
    refreshButton.addEventListener("click", () => this.refresh());
    compareButton.addEventListener("click", () => this.compare());
  }

  setCurrent(id) {
    this.currentId = id;
    for (const row of this.body.rows) row.classList.toggle("current", row.dataset.id === id);
  }

  async refresh() {
    try {
      const page = await api.runs({ limit: 100 });
      this.render(page.data);
    } catch (error) {
      this.onError(`Could not load the run history: ${error.message}`);
    }
  }

  render(runs) {
    this.selected = this.selected.filter((id) => runs.some((run) => run.id === id));
    const rows = runs.map((run) => {
      const label = run.name || run.id.slice(0, 8);
      const check = h("input", { type: "checkbox", checked: this.selected.includes(run.id), "aria-label": `Compare run ${label}` });
      check.addEventListener("change", () => this.toggle(run.id, check.checked));
      return h("tr", { dataset: { id: run.id }, class: run.id === this.currentId ? "current" : null },
        h("td", {}, check),
        h("td", { title: run.id }, label),
        h("td", {}, datasetLabel(run.config.data.dataset)),
        h("td", { class: "wrap" }, networkText(run.config)),
        h("td", { title: run.message ?? "" }, run.status),
        h("td", { class: "num" }, String(run.epochs)),
        h("td", { class: "num" }, format(run.last?.train_loss)),
        h("td", { class: "num" }, format(run.last?.test_loss)),
        h("td", {}, started(run)),
        h("td", {}, h("div", { class: "button-row" },
          h("button", { type: "button", "aria-label": `Open run ${label}`, onclick: () => this.onOpen(run.id) }, "Open"),
          h("button", { type: "button", "aria-label": `Delete run ${label}`, onclick: () => this.remove(run.id) }, "Delete"))));
    });
    this.body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 10, class: "hint" }, "No runs yet."))]));
    this.compareButton.disabled = this.selected.length !== 2;
  }

  toggle(id, on) {
    this.selected = on ? [...this.selected.filter((other) => other !== id), id].slice(-2) : this.selected.filter((other) => other !== id);
    for (const row of this.body.rows) {
      const box = row.querySelector("input[type=checkbox]");
      if (box) box.checked = this.selected.includes(row.dataset.id);
    }
    this.compareButton.disabled = this.selected.length !== 2;
  }

  async remove(id) {
    try {
      await api.deleteRun(id);
      await this.refresh();
    } catch (error) {
      this.onError(`Could not delete the run: ${error.message}`);
    }
  }

  async compare() {
    try {
      const runs = await Promise.all(this.selected.map(async (id) => ({ id, epochs: await api.epochs(id) })));
      const names = runs.map((run) => this.body.querySelector(`tr[data-id="${CSS.escape(run.id)}"] td:nth-child(2)`)?.textContent ?? run.id);
      this.chart.setSeries([
        { name: `${names[0]} train`, color: COLORS.train },
        { name: `${names[0]} test`, color: COLORS.train, dash: "dot" },
        { name: `${names[1]} train`, color: COLORS.test },
        { name: `${names[1]} test`, color: COLORS.test, dash: "dot" },
      ]);
      this.chartEl.hidden = false;
      runs.forEach((run, i) => {
        for (const record of run.epochs) {
          const values = [undefined, undefined, undefined, undefined];
          values[2 * i] = record.train_loss;
          values[2 * i + 1] = record.test_loss;
          this.chart.extend(record.epoch, values);
        }
      });
    } catch (error) {
      this.onError(`Could not compare the runs: ${error.message}`);
    }
  }
}
