import { ApiError, RunStream, api } from "./api.js";
import { decodeRecord } from "./charts.js";
import { isFinished } from "./runs.js";

const RUNNING = ["running", "queued", "resuming"];
const HEAVY_ON_REOPEN = 200;
const READY_RESEND_MS = 1000;

/**
 * A fresh random seed for the data and the weights.
 * @returns {number}
 */
export const randomSeed = () => Math.floor(Math.random() * 2 ** 31);

/**
 * Whether a run's status means it is training or about to.
 * @param {string} status
 * @returns {boolean}
 */
export const isRunning = (status) => RUNNING.includes(status);

/** Plays, pauses, steps and resets runs, attaches to a run's websocket and follows its status. */
export class Player {
  /**
   * @param {object} options
   * @param {import("./state.js").State} options.state the setup a new run trains
   * @param {import("./runview.js").RunView} options.runView where the attached run is drawn
   * @param {import("./runs.js").RunsPanel} options.runs the runs table, which marks the current run
   * @param {() => string|null} options.problemBeforeRun why the setup cannot start a run, or null
   * @param {(error: Error) => void} options.onRequestError a run could not be created
   * @param {(status: string) => void} options.onStatus the run's status changed
   * @param {() => void} options.onReopen a stored run was opened
   * @param {(message: string) => void} options.toast
   */
  constructor({ state, runView, runs, problemBeforeRun, onRequestError, onStatus, onReopen, toast }) {
    this.state = state;
    this.runView = runView;
    this.runs = runs;
    this.problemBeforeRun = problemBeforeRun;
    this.onRequestError = onRequestError;
    this.onStatus = onStatus;
    this.onReopen = onReopen;
    this.toast = toast;
    this.run = null;
    this.busy = false;
    runView.onHeavyDrawn = () => this.ready(this.run);
  }

  /** Starts a run, or pauses or resumes the current one. */
  async play() {
    if (this.busy) return;
    const run = this.run;
    if (run?.continuing) {
      this.pauseAsked = !this.pauseAsked;
      this.setStatus(this.pauseAsked ? "pausing" : "resuming");
      return;
    }
    if (run && !isFinished(run.status)) {
      const pausing = isRunning(run.status);
      this.pauseAsked = pausing;
      this.setStatus(pausing ? "pausing" : "resuming");
      await this.control(pausing ? "pause" : "resume");
      return;
    }
    this.pauseAsked = false;
    if (run && this.continues(run)) {
      await this.continueEndless();
      return;
    }
    await this.startRun(false);
  }

  /** Whether an ended run goes on as ∞ training: it completed its chunk (not early stopping) and ∞ is on. */
  continues(run) {
    return this.state.ui.endless && run.chunkDone === true;
  }

  /** ∞ epochs: continues the completed run for another chunk of training.epochs (POST /api/runs/{id}/continue). */
  async continueEndless() {
    const run = this.run;
    run.continuing = true;
    try {
      const continued = await api.continueRun(run.id, this.state.config.training.epochs);
      if (this.run !== run) {
        api.control(run.id, "stop").catch(() => {});
        return;
      }
      run.chunkDone = false;
      this.follow(run);
      this.setStatus(continued.status, continued.message);
      if (this.pauseAsked) await this.control("pause");
    } catch (error) {
      if (this.run !== run) return;
      this.setStatus("completed");
      this.toast(`∞ training ends at epoch ${this.runView.lastEpoch}: ${error.message}`);
    } finally {
      run.continuing = false;
    }
  }

  /** Trains one epoch, starting a paused run first when there is none. */
  async step() {
    if (this.busy) return;
    if (!this.run || isFinished(this.run.status)) {
      if (!(await this.startRun(true))) return;
    }
    await this.control("step");
  }

  /** New starting weights on the same data: the data keeps its seed, the run gets a new one. */
  reset() {
    const config = this.state.config;
    this.state.update({ "data.seed": config.data.seed ?? config.seed, seed: randomSeed() });
  }

  /**
   * Creates a run of the current setup and attaches to it.
   * @param {boolean} paused whether the run waits for play or step
   * @returns {Promise<boolean>} whether the run was created
   */
  async startRun(paused) {
    const problemText = this.problemBeforeRun();
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
      this.onRequestError(error);
      return false;
    } finally {
      this.busy = false;
    }
  }

  /**
   * Follows a run over its websocket from its first epoch.
   * @param {object} run the server's run (id, status, message, config)
   */
  attach(run) {
    this.runView.clear(run.config, run.status);
    this.run = { id: run.id, status: run.status, message: run.message, config: run.config };
    this.runs.setCurrent(run.id);
    this.follow(this.run);
  }

  /**
   * Opens the run's websocket; epochs already drawn are skipped when the history comes again.
   * @param {object} run the current run
   */
  follow(run) {
    run.stream = new RunStream(run.id, {
      onOpen: () => this.ready(run),
      onMessage: (message) => this.onMessage(message),
      onClose: () => {
        if (this.run?.id === run.id && !isFinished(this.run.status)) this.toast("The connection to the run closed.");
      },
    });
  }

  /**
   * Tells the server the page is ready for the run's next heavy frame (it computes one only then), and
   * says it again after READY_RESEND_MS without a drawn frame, so a lost message never stalls the view.
   * @param {object|null} run the run whose stream asks
   */
  ready(run) {
    if (!run || run !== this.run || !run.stream || run.stream.closed) return;
    run.stream.send({ type: "ready" });
    clearTimeout(run.readyTimer);
    run.readyTimer = setTimeout(() => this.ready(run), READY_RESEND_MS);
  }

  /**
   * Opens a stored run: follows it when it still trains, else draws its stored epochs.
   * @param {string} id
   */
  async reopen(id) {
    try {
      const run = await api.run(id);
      this.state.replaceConfig(run.config);
      this.onReopen();
      if (!isFinished(run.status)) {
        this.attach(run);
        return;
      }
      this.runView.clear(run.config, run.status);
      this.run = { id: run.id, status: run.status, message: run.message, config: run.config };
      this.runs.setCurrent(run.id);
      const scalars = await api.epochs(id);
      const kept = scalars.filter((record) => record.heavy).length;
      const every = Math.max(1, Math.ceil(kept / HEAVY_ON_REOPEN));
      const heavy = kept ? await api.epochs(id, { heavy: 1, every }) : [];
      if (this.run?.id !== id) return;
      const full = new Map(heavy.map((record) => [record.epoch, record]));
      for (const record of scalars) this.runView.ingest(full.get(record.epoch) ?? record);
      this.setStatus(run.status, run.message);
    } catch (error) {
      this.toast(`Could not open the run: ${error.message}`);
    }
  }

  /** Stops following the current run (stopping it on the server when it trains) and clears the view. */
  discardRun() {
    const run = this.run;
    this.run = null;
    run.stream?.close();
    if (!isFinished(run.status)) api.control(run.id, "stop").catch(() => {});
    this.runView.clear();
    this.runs.setCurrent(null);
  }

  /**
   * Sends a live setting to the current run, if it still trains.
   * @param {string} name the control API's name of the setting
   * @param {number} value
   */
  setLive(name, value) {
    const run = this.run;
    if (!run || isFinished(run.status)) return;
    this.control("set", { [name]: value });
  }

  /**
   * Sets one dense weight of the current run, starting a paused run of the setup first when there is none.
   * @param {{layer: number, from_unit: number, to_unit: number, value: number}} edit
   * @returns {Promise<string|null>} why it failed, or null once the server took it
   */
  async setWeight(edit) {
    if (!this.run || isFinished(this.run.status)) {
      if (this.busy || !(await this.startRun(true))) return "the run could not start";
    }
    try {
      await api.control(this.run.id, "weight", edit);
      return null;
    } catch (error) {
      return error.message;
    }
  }

  /** Asks the server to stop the current run when the page is left. */
  stopOnLeave() {
    if (this.run && !isFinished(this.run.status)) api.stopOnLeave(this.run.id);
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

  onMessage(message) {
    switch (message.type) {
      case "history":
        for (const record of message.epochs) this.runView.ingest(record);
        if (message.latest) this.runView.applyHeavy(decodeRecord(message.latest));
        if (message.run) this.setStatus(message.run.status, message.run.message);
        break;
      case "epoch":
        this.runView.ingest(message.record);
        break;
      case "epochs":
        for (const record of message.records) this.runView.ingest(record);
        break;
      case "status":
        this.setStatus(message.status, message.message);
        break;
      case "done":
        this.run.stream.close();
        this.run.chunkDone = message.status === "completed" && !message.message;
        if (this.continues(this.run) && !this.pauseAsked) this.continueEndless();
        else this.setStatus(message.status, message.message);
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
    this.runView.showStatus(status, message);
    this.onStatus(status);
    if (["stopped", "failed"].includes(status) && message) this.toast(`Run ${status}: ${message}`);
  }
}
