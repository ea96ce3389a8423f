import { api } from "./api.js";
import { FrameScheduler } from "./charts.js";
import { Editors } from "./editors.js";
import { Player } from "./player.js";
import { RunView } from "./runview.js";
import { RunsPanel } from "./runs.js";
import { State } from "./state.js";
import { torchSnippet } from "./torch.js";

const $ = (id) => document.getElementById(id);

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

class App {
  async start() {
    this.catalog = await api.catalog();
    this.state = new State(this.catalog);
    if (location.hash.length > 1) this.state.fromHash(location.hash);
    const scheduler = new FrameScheduler();
    const toast = (message) => this.toast(message);
    const ask = (text, actionText, onAction) => this.ask(text, actionText, onAction);
    this.runView = new RunView({
      state: this.state,
      catalog: this.catalog,
      scheduler,
      onUnits: (index, delta) => this.editors.builder.changeUnits(index, delta),
      ask,
      onUseLearningRate: (lr) => {
        this.state.set("optimizer.lr", lr);
        if (this.player.run) this.player.discardRun();
      },
      onWeight: (edit) => this.player.setWeight(edit),
    });
    this.runs = new RunsPanel({
      body: $("runs-body"),
      compareButton: $("compare-btn"),
      refreshButton: $("refresh-runs"),
      chartEl: $("compare-chart"),
      scheduler,
      onOpen: (id) => this.player.reopen(id),
      onError: toast,
    });
    this.player = new Player({
      state: this.state,
      runView: this.runView,
      runs: this.runs,
      problemBeforeRun: () => this.editors.problemBeforeRun(),
      onRequestError: (error) => this.editors.showRequestError(error),
      onStatus: () => this.refreshExport(),
      onReopen: () => this.selectTab("tab-play-btn"),
      toast,
    });
    this.editors = new Editors({
      state: this.state,
      catalog: this.catalog,
      scheduler,
      runView: this.runView,
      player: this.player,
      onPlan: () => this.refreshExport(),
      toast,
      ask,
    });
    this.bindControls();
    await this.editors.start();
    document.body.dataset.ready = "true";
  }

  get run() { return this.player.run; }
  get info() { return this.editors.info; }
  get planProblem() { return this.editors.planProblem; }
  get boundary() { return this.runView.boundary; }
  get heavy() { return this.runView.heavy; }
  get latest() { return this.runView.latest; }
  get lastEpoch() { return this.runView.lastEpoch; }
  get histories() { return this.runView.histories; }

  reopen(id) {
    return this.player.reopen(id);
  }

  bindControls() {
    $("play-btn").addEventListener("click", () => this.player.play());
    $("step-btn").addEventListener("click", () => this.player.step());
    $("reset-btn").addEventListener("click", () => this.player.reset());
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
    window.addEventListener("pagehide", () => this.player.stopOnLeave());
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
    const player = this.player;
    const actions = { " ": () => player.play(), s: () => player.step(), r: () => player.reset() };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
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

  refreshExport() {
    if (!$("tab-runs").hidden) this.updateExport();
  }

  updateExport() {
    const run = this.player.run;
    const { plan, planProblem } = this.editors;
    $("torch-snippet").textContent = plan ? torchSnippet(plan) : `# ${planProblem?.msg ?? "planning the network…"}`;
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
