/** The playground's colours: sign of a value, train and test, ink and grid. @type {Object<string, string>} */
export const COLORS = {
  negative: "#f59322",
  positive: "#0877bd",
  middle: "#e8eaeb",
  train: "#334e7a",
  test: "#e0731c",
  validation: "#1f9d5b",
  ink: "#3b4250",
  grid: "#e6e8ec",
};

/** One colour per class, in class order. @type {string[]} */
export const CLASS_COLORS = ["#c75000", "#0868ac", "#1f9d5b", "#e068a0", "#67170c", "#6775fb", "#680065", "#2c1327",
  "#4600a3", "#4613ff"];

const DIVERGING = [[0, COLORS.negative], [0.5, COLORS.middle], [1, COLORS.positive]];

/** Plotly's font for every chart. @type {object} */
export const FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, Ubuntu, sans-serif", size: 11, color: COLORS.ink };
/** Plotly's config for every chart: no logo, no mode bar, responsive. @type {object} */
export const PLOT_CONFIG = { displaylogo: false, displayModeBar: false, responsive: true };

/**
 * The array an encoded telemetry field holds: {dtype, shape, data} with data base64 of little-endian float32,
 * or of uint8 levels q standing for low + (high - low) * q / 255. Anything else is returned as it is.
 * @param {{dtype: string, shape: number[], data: string, low?: number, high?: number} | *} encoded
 * @returns {Float32Array | *}
 */
export function decodeArray(encoded) {
  if (typeof encoded?.data !== "string") return encoded;
  const text = atob(encoded.data);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  if (encoded.dtype !== "uint8") return new Float32Array(bytes.buffer, 0, bytes.length >> 2);
  const values = new Float32Array(bytes.length);
  const step = (encoded.high - encoded.low) / 255;
  for (let i = 0; i < bytes.length; i += 1) values[i] = encoded.low + bytes[i] * step;
  return values;
}

function split(flat, shape, offset, plain) {
  if (shape.length <= 1) {
    const row = flat.subarray(offset, offset + (shape[0] ?? flat.length));
    return plain ? Array.from(row) : row;
  }
  const size = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] }, (_, i) => split(flat, shape.slice(1), offset + i * size, plain));
}

/**
 * An encoded array as rows: arrays of Float32Array views of one buffer (plain nested arrays when `plain`).
 * @param {object | *} encoded an encoded array (anything else is returned as it is)
 * @param {boolean} [plain]
 * @returns {Float32Array[] | Array | number | *}
 */
export function decodeNested(encoded, plain = false) {
  if (typeof encoded?.data !== "string") return encoded;
  const flat = decodeArray(encoded);
  return encoded.shape.length === 0 ? flat[0] : split(flat, encoded.shape, 0, plain);
}

function decodeEnvelopes(value) {
  if (typeof value.data === "string" && Array.isArray(value.shape)) return decodeNested(value, value.lists === true);
  if (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) {
      if (item !== null && typeof item === "object") value[key] = decodeEnvelopes(item);
    }
  }
  return value;
}

/**
 * Decode a heavy record in place, naming no field: every encoded array {dtype, shape, data} in it becomes its
 * values, plain nested arrays when the envelope says `lists` (weights, thumbnails), else rows of Float32Array
 * views (grids, feature maps; a 1-D array is one Float32Array).
 * @param {object|null} record an epoch record
 * @returns {object|null} the same record
 */
export function decodeRecord(record) {
  return record?.heavy ? decodeEnvelopes(record) : record;
}

/**
 * A viridis-like colour for the layer at a position among count layers.
 * @param {number} position
 * @param {number} count
 * @returns {string} an rgb() colour
 */
export function layerColor(position, count) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [190, 190, 40]];
  const t = count <= 1 ? 0 : position / (count - 1);
  const scaled = t * (stops.length - 1);
  const low = Math.min(Math.floor(scaled), stops.length - 2);
  const mix = scaled - low;
  const rgb = stops[low].map((value, i) => Math.round(value + (stops[low + 1][i] - value) * mix));
  return `rgb(${rgb.join(",")})`;
}

function baseLayout({ title, xTitle, yTitle, log = false, legend = true, height, yRange, toZero = false } = {}) {
  return {
    title: title ? { text: title, font: { size: 12 }, x: 0.02, xanchor: "left", y: 0.97 } : undefined,
    height,
    margin: { l: 48, r: 12, t: title ? 28 : 8, b: 32 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: FONT,
    showlegend: legend,
    legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", font: { size: 10 }, bgcolor: "rgba(0,0,0,0)" },
    hovermode: "x unified",
    xaxis: { title: xTitle ? { text: xTitle, standoff: 4 } : undefined, gridcolor: COLORS.grid, zeroline: false },
    yaxis: { title: yTitle ? { text: yTitle, standoff: 4 } : undefined, type: log ? "log" : "linear", gridcolor: COLORS.grid,
      zeroline: false, exponentformat: "power", dtick: log ? 1 : undefined, range: yRange,
      autorange: yRange ? false : undefined, rangemode: toZero ? "tozero" : "normal" },
  };
}

const PACING = 8;
const MAX_PACING_WAIT = 1000;
const FRAME_BUDGET = 12;
const CHEAP_FLUSH = 4;
const DRAW_INTERVAL = 1000 / 20;

/**
 * Flushes changed views on animation frames at most 20 times a second (the frames between stay idle, so the page
 * renders less), only when visible. After a costly flush (a Plotly redraw) every costly view waits PACING times
 * its cost (at most MAX_PACING_WAIT ms, so one slow first draw does not hold every chart back for seconds),
 * whichever view it was: drawing takes at most 1/(PACING + 1) of the main thread however many charts are in view,
 * and cheap views (readouts, canvases) flush on every drawing frame. Hurried views (a run's first heavy record) flush
 * first on the next drawing frame, waiting for neither the pacing nor the frame budget.
 */
export class FrameScheduler {
  constructor() {
    this.dirty = new Set();
    this.waiters = [];
    this.frame = 0;
    this.lastDraw = -Infinity;
    this.nextCostly = 0;
    this.hurried = new Set();
    this.views = new WeakMap();
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const view = this.views.get(entry.target);
        view.visible = entry.isIntersecting;
        if (view.visible && this.dirty.has(view)) this.request();
      }
    });
  }

  observe(view) {
    this.views.set(view.el, view);
    this.observer.observe(view.el);
  }

  invalidate(view) {
    this.dirty.add(view);
    this.request();
  }

  /**
   * Draws these views, when they wait to be drawn and are in view, first on the next drawing frame, whatever the
   * pacing after a costly flush.
   * @param {View[]} views
   */
  hurry(views) {
    for (const view of views) this.hurried.add(view);
    this.request();
  }

  request() {
    if (!this.frame) this.frame = requestAnimationFrame((time) => this.run(time));
  }

  /**
   * Calls back once, on a frame where none of the views waits to be drawn while in view (drawn, or skipped unseen).
   * @param {View[]} views
   * @param {() => void} callback
   */
  whenDrawn(views, callback) {
    this.waiters.push({ views, callback });
    this.request();
  }

  settle() {
    const waiting = (views) => views.some((view) => view.visible && this.dirty.has(view));
    const ready = this.waiters.filter((waiter) => !waiting(waiter.views));
    this.waiters = this.waiters.filter((waiter) => waiting(waiter.views));
    for (const waiter of ready) waiter.callback();
  }

  run(time) {
    this.frame = 0;
    if (time - this.lastDraw < DRAW_INTERVAL - 4) {
      this.request();
      return;
    }
    this.lastDraw = time;
    const frameStart = performance.now();
    const hurried = [...this.hurried].filter((view) => this.dirty.has(view));
    this.hurried.clear();
    for (const view of new Set([...hurried, ...this.dirty])) {
      if (!view.visible) continue;
      const start = performance.now();
      const waiting = view.cost > CHEAP_FLUSH && start < this.nextCostly;
      if (!hurried.includes(view) && (waiting || start - frameStart > FRAME_BUDGET)) {
        this.request();
        continue;
      }
      this.dirty.delete(view);
      view.flush();
      const end = performance.now();
      view.cost = end - start;
      if (view.cost > CHEAP_FLUSH) this.nextCostly = end + Math.min(PACING * view.cost, MAX_PACING_WAIT);
    }
    this.settle();
  }
}

/**
 * Something drawn on the scheduler's frames: invalidate() asks for a flush().
 * @param {HTMLElement} el
 * @param {FrameScheduler} scheduler
 * @param {{lazy?: boolean}} [options] lazy views draw only while on screen
 */
export class View {
  constructor(el, scheduler, { lazy = true } = {}) {
    this.el = el;
    this.scheduler = scheduler;
    this.visible = !lazy;
    this.cost = 0;
    if (lazy) scheduler.observe(this);
  }

  invalidate() {
    this.scheduler.invalidate(this);
  }
}

function extent(traces, key, log) {
  let low = Infinity;
  let high = -Infinity;
  for (const trace of traces) {
    for (const value of trace[key]) {
      if (value === null || !Number.isFinite(value) || (log && value <= 0)) continue;
      const v = log ? Math.log10(value) : value;
      if (v < low) low = v;
      if (v > high) high = v;
    }
  }
  return low <= high ? [low, high] : null;
}

function fromZero(data, log) {
  return data && !log && data[0] >= 0 ? [0, data[1]] : data;
}

/**
 * The axis range to draw data spanning [low, high]: the current one while it holds the data and the data fill
 * at least half of it, else the data padded (`pad` of its span below, `grow` above), so the axes change rarely.
 * @param {number[]|null} current
 * @param {number[]|null} data [low, high]
 * @param {{pad?: number, grow?: number, high?: number}} [options] high: the most the range grows to while the data
 *   stay below it (a run's last epoch)
 * @returns {number[]|null}
 */
export function stickyRange(current, data, { pad = 0.08, grow = 0.08, high: most } = {}) {
  if (!data) return current;
  const [low, high] = data;
  const span = high - low || Math.abs(low) * 0.1 || 1;
  if (current && low >= current[0] && high <= current[1] && span >= 0.5 * (current[1] - current[0])) return current;
  const top = high + grow * span;
  return [low === 0 ? 0 : low - pad * span, most >= high ? Math.min(top, most) : top];
}

function tracePath(context, trace, px, py, close) {
  let open = false;
  for (let i = 0; i < trace.x.length; i += 1) {
    const y = trace.y[i];
    const X = px(trace.x[i]);
    const Y = y === null ? NaN : py(y);
    if (!Number.isFinite(X) || !Number.isFinite(Y)) {
      if (!close) open = false;
      continue;
    }
    if (open) context.lineTo(X, Y);
    else context.moveTo(X, Y);
    open = true;
  }
}

const DASHES = { solid: [], dot: [2, 3], dash: [6, 4] };
const TICK_FONT = `${FONT.size}px ${FONT.family}`;
const EXPONENT_FONT = `${FONT.size - 2}px ${FONT.family}`;

function niceStep(rough) {
  const base = 10 ** Math.floor(Math.log10(rough));
  const scaled = rough / base;
  return base * (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10);
}

function linearLabel(value, step) {
  const magnitude = Math.max(Math.abs(value), step);
  if (magnitude >= 1e4 || step < 1e-3) {
    const exponent = Math.floor(Math.log10(magnitude));
    const mantissa = value / 10 ** exponent;
    const digits = Math.max(0, Math.min(3, Math.ceil(-Math.log10(step / 10 ** exponent) - 1e-9)));
    return value === 0 ? { text: "0" } : { text: `${Number(mantissa.toFixed(digits))}×10`, exponent };
  }
  const digits = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  const text = value.toFixed(digits);
  return { text: Number(text) === 0 ? "0" : text };
}

/**
 * Ticks of an axis drawn over `length` pixels, about one per 80 px on x and 40 px on y as Plotly spaces them:
 * round steps (1, 2 or 5 times a power of ten), decades on a log axis (its range in log10 units).
 * @param {number[]} range [start, end], reversed for a reversed axis
 * @param {number} length
 * @param {{log?: boolean, vertical?: boolean}} [options]
 * @returns {{value: number, text: string, exponent?: number}[]} value: in axis units (log10 on a log axis)
 */
export function axisTicks(range, length, { log = false, vertical = false } = {}) {
  const low = Math.min(range[0], range[1]);
  const high = Math.max(range[0], range[1]);
  if (!(high > low) || !Number.isFinite(low) || !Number.isFinite(high)) return [];
  const count = Math.max(4, Math.min(9, length / (vertical ? 40 : 80))) + 1;
  const eps = (high - low) * 1e-9;
  if (log && Math.floor(high + eps) - Math.ceil(low - eps) >= 1) {
    const step = Math.max(1, Math.ceil((high - low) / count));
    const ticks = [];
    for (let e = Math.ceil((low - eps) / step) * step; e <= high + eps; e += step) {
      ticks.push(e === 0 ? { value: 0, text: "1" } : e === 1 ? { value: 1, text: "10" } : { value: e, text: "10", exponent: e });
    }
    return ticks;
  }
  if (log) {
    const ticks = [];
    for (let e = Math.floor(low); e <= Math.ceil(high); e += 1) {
      for (const m of [1, 2, 5]) {
        const value = Math.log10(m) + e;
        if (value >= low - eps && value <= high + eps) ticks.push({ value, ...linearLabel(m * 10 ** e, 10 ** Math.min(e, 0)) });
      }
    }
    return ticks;
  }
  const step = niceStep((high - low) / count);
  const ticks = [];
  for (let i = Math.ceil((low - eps) / step); i * step <= high + eps; i += 1) {
    ticks.push({ value: i * step, ...linearLabel(i * step, step) });
  }
  return ticks;
}

function drawLabel(context, { text, exponent }, x, y, align) {
  context.font = TICK_FONT;
  const width = context.measureText(text).width;
  const raised = exponent === undefined ? "" : String(exponent).replace("-", "\u2212");
  context.font = EXPONENT_FONT;
  const extra = raised ? context.measureText(raised).width : 0;
  const left = align === "right" ? x - width - extra : x - (width + extra) / 2;
  context.textAlign = "left";
  context.font = TICK_FONT;
  context.fillText(text, left, y);
  if (!raised) return;
  context.font = EXPONENT_FONT;
  context.fillText(raised, left + width, y - 5);
}

function paintAxes(context, axes, width, height) {
  const xTicks = axes.x.range ? axisTicks(axes.x.range, width, { log: axes.x.log }) : [];
  const yTicks = axes.y.range ? axisTicks(axes.y.range, height, { log: axes.y.log, vertical: true }) : [];
  context.strokeStyle = COLORS.grid;
  context.lineWidth = 1;
  context.setLineDash([]);
  context.beginPath();
  for (const tick of xTicks) {
    const x = Math.round(axes.x.toPixel(tick.value)) + 0.5;
    context.moveTo(x, 0);
    context.lineTo(x, height);
  }
  for (const tick of yTicks) {
    const y = Math.round(axes.y.toPixel(tick.value)) + 0.5;
    context.moveTo(0, y);
    context.lineTo(width, y);
  }
  context.stroke();
  context.fillStyle = COLORS.ink;
  context.textBaseline = "top";
  for (const tick of xTicks) drawLabel(context, tick, axes.x.toPixel(tick.value), height + 5, "center");
  context.textBaseline = "middle";
  for (const tick of yTicks) drawLabel(context, tick, -4, axes.y.toPixel(tick.value), "right");
}

const LEGEND_FONT = `10px ${FONT.family}`;

function paintLegend(context, traces, width) {
  context.font = LEGEND_FONT;
  const items = traces.map((trace) => ({ trace, width: 18 + context.measureText(trace.name ?? "").width }));
  const rows = [[]];
  let used = 0;
  for (const item of items) {
    if (used + item.width > width && rows.at(-1).length) {
      rows.push([]);
      used = 0;
    }
    rows.at(-1).push(item);
    used += item.width + 8;
  }
  context.textAlign = "left";
  context.textBaseline = "middle";
  rows.forEach((row, i) => {
    const y = -8 + 13 * i;
    let x = width - row.reduce((sum, item) => sum + item.width + 8, -8);
    for (const { trace, width: itemWidth } of row) {
      const line = trace.line ?? {};
      context.strokeStyle = line.color;
      context.lineWidth = Math.min(line.width ?? 2, 3);
      context.setLineDash(DASHES[line.dash] ?? []);
      context.beginPath();
      context.moveTo(x, y);
      context.lineTo(x + 14, y);
      context.stroke();
      context.fillStyle = COLORS.ink;
      context.fillText(trace.name ?? "", x + 18, y);
      x += itemWidth + 8;
    }
  });
  context.setLineDash([]);
}

function liveAxis(range, length, log, vertical) {
  const [start, end] = range ?? [0, 1];
  const scale = length / (end - start || 1);
  const toPixel = vertical ? (value) => length - (value - start) * scale : (value) => (value - start) * scale;
  const toData = log ? (value) => (value > 0 ? Math.log10(value) : NaN) : (value) => value;
  return { range, log, toPixel, toData };
}

/**
 * Paints a Plotly chart's axes (gridlines and tick labels for the given ranges), Plotly scatter traces (lines with
 * their dash, width and opacity; fills toself, tozeroy and tonexty) and rect and line shapes (xref x, yref paper)
 * on a canvas over the whole chart, placed by the chart's margins, and the traces' legend above the plot area.
 * @param {HTMLCanvasElement} canvas
 * @param {object} fullLayout the chart's _fullLayout (its size and its axes' _offset and _length place the plot area)
 * @param {{x: number[]|null, y: number[]|null, logX?: boolean, logY?: boolean}} ranges each axis's [start, end]
 *   in Plotly's units (log10 on a log axis; a reversed axis starts high)
 * @param {object[]} traces
 * @param {object[]} [shapes]
 * @param {{legend?: boolean}} [options] legend: name each trace, right-aligned above the plot area
 */
export function paintTraces(canvas, fullLayout, ranges, traces, shapes = [], { legend = false } = {}) {
  const xa = fullLayout.xaxis;
  const ya = fullLayout.yaxis;
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(fullLayout.width * ratio);
  const height = Math.round(fullLayout.height * ratio);
  if (canvas.width !== width || canvas.height !== height || canvas.style.display !== "block") {
    canvas.width = width;
    canvas.height = height;
    Object.assign(canvas.style, { left: "0px", top: "0px", width: `${fullLayout.width}px`, height: `${fullLayout.height}px`,
      display: "block" });
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, fullLayout.width, fullLayout.height);
  context.translate(xa._offset, ya._offset);
  const axes = { x: liveAxis(ranges.x, xa._length, ranges.logX, false), y: liveAxis(ranges.y, ya._length, ranges.logY, true) };
  paintAxes(context, axes, xa._length, ya._length);
  if (legend) paintLegend(context, traces, xa._length);
  if (!ranges.x || !ranges.y) return;
  context.save();
  context.beginPath();
  context.rect(0, 0, xa._length, ya._length);
  context.clip();
  const px = (value) => axes.x.toPixel(axes.x.toData(value));
  const py = (value) => axes.y.toPixel(axes.y.toData(value));
  for (const shape of shapes) {
    const x0 = px(shape.x0);
    const x1 = px(shape.x1);
    context.globalAlpha = 1;
    if (shape.type === "rect") {
      context.fillStyle = shape.fillcolor;
      context.fillRect(Math.min(x0, x1), 0, Math.abs(x1 - x0), ya._length);
    } else {
      context.strokeStyle = shape.line.color;
      context.lineWidth = shape.line.width;
      context.setLineDash(DASHES[shape.line.dash] ?? []);
      context.beginPath();
      context.moveTo(x0, 0);
      context.lineTo(x1, ya._length);
      context.stroke();
    }
  }
  traces.forEach((trace, i) => {
    context.globalAlpha = trace.opacity ?? 1;
    if (trace.fill && trace.fill !== "none") {
      context.beginPath();
      tracePath(context, trace, px, py, true);
      if (trace.fill === "tozeroy" && trace.x.length) {
        context.lineTo(px(trace.x[trace.x.length - 1]), py(0));
        context.lineTo(px(trace.x[0]), py(0));
      } else if (trace.fill === "tonexty" && i > 0) {
        const previous = traces[i - 1];
        const back = { x: Array.from(previous.x).reverse(), y: Array.from(previous.y).reverse() };
        tracePath(context, back, px, py, true);
      }
      context.closePath();
      context.fillStyle = trace.fillcolor;
      context.fill();
    }
    const line = trace.line ?? {};
    if (line.width === 0) return;
    context.beginPath();
    tracePath(context, trace, px, py, false);
    context.strokeStyle = line.color;
    context.lineWidth = line.width ?? 2;
    context.setLineDash(DASHES[line.dash] ?? []);
    context.lineJoin = "round";
    context.stroke();
  });
  context.restore();
  context.globalAlpha = 1;
  context.setLineDash([]);
}

/**
 * One x range shared by charts over the same axis (epochs), so their live axes line up: the stickyRange of all
 * their data together; when it moves, the other charts sharing it redraw.
 */
export class SharedRange {
  constructor() {
    this.views = new Set();
    this.reset();
  }

  /** Forgets the data and the range (a new run). */
  reset() {
    this.data = null;
    this.range = null;
  }

  /**
   * The range for data [low, high] of one chart, together with what the others showed.
   * @param {number[]|null} data
   * @param {object} options stickyRange's options
   * @param {View} [from] the chart asking (not redrawn when the range moves)
   * @returns {number[]|null}
   */
  fit(data, options, from) {
    if (data) this.data = this.data ? [Math.min(this.data[0], data[0]), Math.max(this.data[1], data[1])] : data;
    const range = stickyRange(this.range, this.data, options);
    if (range !== this.range) {
      this.range = range;
      for (const view of this.views) if (view !== from && view.live) view.invalidate();
    }
    return range;
  }
}

/**
 * A Plotly chart. While live (a run trains) and not under the pointer, Plotly's own drawing stays as it was (its
 * gridlines, tick labels, traces, shapes and legend hidden by the `live-axes` class) and a canvas over the whole
 * chart shows the axes (ranges from stickyRange, or a SharedRange), the traces and their legend: a redraw of about a
 * millisecond, and no Plotly call while a run trains unless its titles or margins change (not for a log scale or a
 * range). At rest (or hovered) Plotly draws everything.
 */
class PlotView extends View {
  constructor(el, scheduler) {
    super(el, scheduler);
    this.live = false;
    this.hovered = false;
    this.ranges = null;
    this.plottedKey = "";
    this.canvasShown = false;
    this.sharedX = null;
    el.addEventListener("pointerenter", () => {
      this.hovered = true;
      if (this.live) this.invalidate();
    });
    el.addEventListener("pointerleave", () => {
      this.hovered = false;
      if (this.live) this.invalidate();
    });
  }

  setLive(live) {
    if (this.live === live) return;
    this.live = live;
    this.invalidate();
  }

  /**
   * Draws the x axis with other charts while live.
   * @param {SharedRange} shared
   */
  shareX(shared) {
    this.sharedX = shared;
    shared.views.add(this);
  }

  plot(data, layout) {
    if (this.el.data) Plotly.react(this.el, data, layout, PLOT_CONFIG);
    else Plotly.newPlot(this.el, data, layout, PLOT_CONFIG);
  }

  /** Draws traces and layout: all with Plotly at rest, on the canvas over Plotly's unchanged frame while live. */
  draw(traces, layout, { shapes = [], pad = {} } = {}) {
    const key = JSON.stringify([layout.title, layout.xaxis.title, layout.yaxis.title, layout.margin, layout.height]);
    if (!this.live || this.hovered) {
      if (this.canvas) this.canvas.style.display = "none";
      if (this.el.classList.contains("live-axes")) this.el.classList.remove("live-axes");
      this.canvasShown = false;
      this.ranges = null;
      this.plottedKey = key;
      this.plot(traces, shapes.length ? { ...layout, shapes } : layout);
      return;
    }
    const logX = layout.xaxis.type === "log";
    const logY = layout.yaxis.type === "log";
    const reversed = layout.yaxis.autorange === "reversed" && !layout.yaxis.range;
    const previous = this.ranges ?? {};
    const xData = extent(traces, "x", logX);
    const x = layout.xaxis.range
      ?? (this.sharedX ? this.sharedX.fit(xData, pad.x, this) : stickyRange(previous.x, xData, pad.x));
    const y = layout.yaxis.range ?? stickyRange(previous.y, fromZero(extent(traces, "y", logY), logY), pad.y);
    this.ranges = { x, y };
    if (key !== this.plottedKey || !this.el._fullLayout) {
      this.plottedKey = key;
      this.plot([], layout);
    }
    if (!this.el.classList.contains("live-axes")) this.el.classList.add("live-axes");
    if (!this.canvas) {
      this.canvas = document.createElement("canvas");
      this.canvas.className = "live-traces";
      this.el.append(this.canvas);
    }
    this.canvasShown = true;
    paintTraces(this.canvas, this.el._fullLayout, { x, y: y && reversed ? [y[1], y[0]] : y, logX, logY }, traces, shapes,
      { legend: layout.showlegend !== false });
  }
}

const MAX_LINE_POINTS = 1000;

/**
 * At most `limit` points of a line: each of limit / 2 runs of consecutive points keeps its lowest and highest
 * (in order), and the last point stays, so a Plotly redraw costs the same at epoch 500 and at epoch 10,000.
 * @param {number[]} xs
 * @param {(number|null)[]} ys
 * @param {number} limit
 * @returns {[number[], (number|null)[]]}
 */
export function thinLine(xs, ys, limit = MAX_LINE_POINTS) {
  if (xs.length <= limit) return [xs.slice(), ys.slice()];
  const runs = Math.floor(limit / 2);
  const x = [];
  const y = [];
  for (let run = 0; run < runs; run += 1) {
    const from = Math.floor((run * xs.length) / runs);
    const to = Math.floor(((run + 1) * xs.length) / runs);
    let low = from;
    let high = from;
    for (let i = from; i < to; i += 1) {
      if (ys[i] === null) continue;
      if (ys[low] === null || ys[i] < ys[low]) low = i;
      if (ys[high] === null || ys[i] > ys[high]) high = i;
    }
    for (const i of low === high ? [low] : [Math.min(low, high), Math.max(low, high)]) {
      x.push(xs[i]);
      y.push(ys[i]);
    }
  }
  if (x.at(-1) !== xs.at(-1)) {
    x.push(xs.at(-1));
    y.push(ys.at(-1));
  }
  return [x, y];
}

/**
 * Lines over epochs, one per series, extended point by point; past MAX_LINE_POINTS drawn thinned (thinLine).
 * @param {HTMLElement} el
 * @param {FrameScheduler} scheduler
 * @param {object} [options] title, axis titles, log, legend, format, yRange, toZero and the series ({name, color, dash})
 */
export class LineChart extends PlotView {
  constructor(el, scheduler, options = {}) {
    super(el, scheduler);
    this.options = options;
    this.log = Boolean(options.log);
    this.setSeries(options.series ?? []);
  }

  setSeries(series) {
    this.series = series;
    this.xs = series.map(() => []);
    this.ys = series.map(() => []);
    this.pending = null;
    this.stale = true;
    this.invalidate();
  }

  clear() {
    this.setSeries(this.series);
  }

  setLog(log) {
    if (this.log === log) return;
    this.log = log;
    this.stale = true;
    this.invalidate();
  }

  extend(x, values) {
    if (!this.pending) this.pending = { x: this.series.map(() => []), y: this.series.map(() => []) };
    values.forEach((value, i) => {
      if (i >= this.series.length || value === undefined) return;
      const y = Number.isFinite(value) ? value : null;
      this.xs[i].push(x);
      this.ys[i].push(y);
      this.pending.x[i].push(x);
      this.pending.y[i].push(y);
    });
    this.invalidate();
  }

  traces() {
    return this.series.map((serie, i) => {
      const [x, y] = thinLine(this.xs[i], this.ys[i]);
      return {
        type: "scatter",
        mode: "lines",
        name: serie.name,
        x,
        y,
        line: { color: serie.color, width: serie.width ?? 1.6, dash: serie.dash ?? "solid" },
        hovertemplate: `%{y:${this.options.format ?? ".4~g"}}<extra>${serie.name}</extra>`,
        connectgaps: false,
      };
    });
  }

  flush() {
    if (this.live || this.stale || !this.el.data || this.canvasShown || this.xs.some((xs) => xs.length > MAX_LINE_POINTS)) {
      this.stale = false;
      this.pending = null;
      this.draw(this.traces(), baseLayout({ ...this.options, log: this.log }), { pad: { x: { pad: 0, grow: 1, high: this.xMax } } });
      return;
    }
    if (!this.pending) return;
    const indices = this.series.map((_, i) => i);
    Plotly.extendTraces(this.el, { x: this.pending.x, y: this.pending.y }, indices);
    this.pending = null;
  }
}

/**
 * The data's points over the decision boundary heatmap (or a highlighted neuron's output).
 * While live and not under the pointer, both are painted on a canvas behind Plotly's axes (Plotly's points and
 * image hidden), so new boundaries and the test toggle cost a canvas repaint, not a Plotly redraw.
 * @param {HTMLElement} el
 * @param {FrameScheduler} scheduler
 * @param {{compact?: boolean, alwaysTest?: boolean, markerSize?: number}} [options]
 */
export class ScatterChart extends PlotView {
  constructor(el, scheduler, options = {}) {
    super(el, scheduler);
    this.options = options;
    this.points = null;
    this.boundary = null;
    this.showTest = false;
    this.discretize = false;
    this.pointsChanged = true;
    this.highlight = null;
    this.canvas = document.createElement("canvas");
    this.scaled = document.createElement("canvas");
  }

  setPoints(points) {
    this.points = points;
    this.pointsChanged = true;
    this.invalidate();
  }

  setBoundary(boundary) {
    this.boundary = boundary;
    this.invalidate();
  }

  setOptions({ showTest, discretize }) {
    this.pointsChanged ||= this.showTest !== showTest;
    this.showTest = showTest;
    this.discretize = discretize;
    this.invalidate();
  }

  markers(split, name, hollow) {
    const regression = this.points.task === "regression";
    const [low, high] = this.points.range ?? [-1, 1];
    return {
      type: "scatter",
      mode: "markers",
      name,
      x: split.x1,
      y: split.x2,
      hovertemplate: regression ? "(%{x:.2f}, %{y:.2f}) → %{marker.color:.3f}<extra></extra>" : "(%{x:.2f}, %{y:.2f})<extra></extra>",
      marker: {
        size: this.options.markerSize ?? 5,
        color: regression ? split.label : split.label.map((label) => CLASS_COLORS[label % CLASS_COLORS.length]),
        colorscale: regression ? DIVERGING : undefined,
        cmin: regression ? low : undefined,
        cmax: regression ? high : undefined,
        line: { color: hollow ? COLORS.ink : "#ffffff", width: hollow ? 1.2 : 0.8 },
        opacity: 0.9,
      },
    };
  }

  setHighlight(grid) {
    this.highlight = grid;
    this.invalidate();
  }

  paintHeatmap() {
    const { x, y, z, kind, limit: own } = this.highlight ?? this.boundary;
    const [low, high] = this.points?.range ?? [-1, 1];
    const limit = own ?? Math.max(Math.abs(low), Math.abs(high));
    let color;
    if (kind === "class") color = (value) => CLASS_RGB[Math.round(value) % CLASS_RGB.length];
    else if (kind === "probability") color = (value) => mixColor(this.discretize ? (value >= 0.5 ? 1 : -1) : 2 * value - 1);
    else color = (value) => mixColor(this.discretize ? Math.round((4 * value) / limit) / 4 : value / limit);
    paintCanvas(this.canvas, z, color, true, 0.4);
    const dx = (x[x.length - 1] - x[0]) / Math.max(x.length - 1, 1);
    const dy = (y[y.length - 1] - y[0]) / Math.max(y.length - 1, 1);
    return { smooth: !this.discretize && kind !== "class", left: x[0] - dx / 2, top: y[y.length - 1] + dy / 2,
      width: dx * x.length, height: dy * y.length };
  }

  /**
   * The points as Plotly's markers would show them (size, class or diverging colour, outline, opacity), on a canvas
   * the size of the plot area; repainted only when the points, the test toggle or the plot area change.
   * @returns {HTMLCanvasElement}
   */
  pointsLayer(xa, ya, ratio) {
    const layer = this.pointsCanvas ??= document.createElement("canvas");
    const key = JSON.stringify([xa._length, ya._length, xa.range, ya.range, ratio, this.showTest]);
    if (key === this.pointsKey && this.points === this.pointsPainted) return layer;
    this.pointsKey = key;
    this.pointsPainted = this.points;
    Object.assign(layer, { width: Math.round(xa._length * ratio), height: Math.round(ya._length * ratio) });
    const context = layer.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (!this.points) return layer;
    const regression = this.points.task === "regression";
    const [low, high] = this.points.range ?? [-1, 1];
    const colorOf = regression
      ? (label) => `rgb(${mixColor((2 * (label - low)) / (high - low || 1) - 1).map(Math.round).join(",")})`
      : (label) => CLASS_COLORS[label % CLASS_COLORS.length];
    const splits = [[this.points.train, false]];
    if (this.showTest || this.options.alwaysTest) splits.push([this.points.test, !this.options.alwaysTest]);
    const radius = (this.options.markerSize ?? 5) / 2;
    context.globalAlpha = 0.9;
    for (const [split, hollow] of splits) {
      context.lineWidth = hollow ? 1.2 : 0.8;
      context.strokeStyle = hollow ? COLORS.ink : "#ffffff";
      split.x1.forEach((x1, i) => {
        context.beginPath();
        context.arc(xa.c2p(x1), ya.c2p(split.x2[i]), radius, 0, 2 * Math.PI);
        context.fillStyle = colorOf(split.label[i]);
        context.fill();
        context.stroke();
      });
    }
    return layer;
  }

  /** Paints the heatmap (and, with `points`, the points over it) on the canvas behind Plotly's frame. */
  paintLive(points) {
    const back = this.back ??= Object.assign(document.createElement("canvas"), { className: "live-heatmap" });
    if (!back.isConnected) this.el.append(back);
    const { xaxis: xa, yaxis: ya } = this.el._fullLayout;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(xa._length * ratio);
    const height = Math.round(ya._length * ratio);
    if (back.width !== width || back.height !== height) Object.assign(back, { width, height });
    Object.assign(back.style, { left: `${xa._offset}px`, top: `${ya._offset}px`, width: `${xa._length}px`,
      height: `${ya._length}px`, display: "block" });
    const context = back.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, xa._length, ya._length);
    if (this.boundary || this.highlight) {
      const image = this.paintHeatmap();
      const left = xa.c2p(image.left);
      const top = ya.c2p(image.top);
      context.imageSmoothingEnabled = image.smooth;
      context.imageSmoothingQuality = "high";
      context.drawImage(this.canvas, left, top, xa.c2p(image.left + image.width) - left, ya.c2p(image.top - image.height) - top);
    }
    if (points) context.drawImage(this.pointsLayer(xa, ya, ratio), 0, 0, xa._length, ya._length);
  }

  heatmapImage() {
    const image = this.paintHeatmap();
    this.scaled.width = this.canvas.width * 4;
    this.scaled.height = this.canvas.height * 4;
    const context = this.scaled.getContext("2d");
    context.imageSmoothingEnabled = image.smooth;
    context.imageSmoothingQuality = "high";
    context.drawImage(this.canvas, 0, 0, this.scaled.width, this.scaled.height);
    return {
      source: this.scaled.toDataURL(),
      xref: "x",
      yref: "y",
      x: image.left,
      y: image.top,
      sizex: image.width,
      sizey: image.height,
      sizing: "stretch",
      xanchor: "left",
      yanchor: "top",
      layer: "below",
      opacity: 1,
    };
  }

  flush() {
    const live = this.live;
    const livePoints = live && !this.hovered;
    this.drawnLive = live;
    if (this.el.classList.contains("live-boundary") !== live) this.el.classList.toggle("live-boundary", live);
    if (this.el.classList.contains("live-points") !== livePoints) this.el.classList.toggle("live-points", livePoints);
    if (live && this.el.data && (livePoints || !this.pointsChanged)) {
      this.paintLive(livePoints);
      return;
    }
    if (this.back) this.back.style.display = "none";
    const images = !live && (this.boundary || this.highlight) ? [this.heatmapImage()] : [];
    if (this.el.data && !this.pointsChanged) {
      Plotly.relayout(this.el, { images });
      return;
    }
    this.pointsChanged = false;
    const data = [];
    if (this.points) {
      data.push(this.markers(this.points.train, "train", false));
      if (this.showTest || this.options.alwaysTest) data.push(this.markers(this.points.test, "test", !this.options.alwaysTest));
    }
    const domain = this.points?.domain ?? [-6, 6, -6, 6];
    const axis = { zeroline: false, showgrid: false, ticks: "outside", ticklen: 3, showline: true, linecolor: "#c9ced6", mirror: true };
    const compact = this.options.compact;
    this.plot(data, {
      margin: compact ? { l: 4, r: 4, t: 4, b: 4 } : { l: 32, r: 8, t: 8, b: 26 },
      paper_bgcolor: "rgba(0,0,0,0)",
      font: FONT,
      showlegend: false,
      hovermode: "closest",
      plot_bgcolor: "#ffffff",
      images,
      xaxis: { ...axis, range: [domain[0], domain[1]], showticklabels: !compact, constrain: "domain" },
      yaxis: { ...axis, range: [domain[2], domain[3]], showticklabels: !compact, scaleanchor: "x", constrain: "domain" },
    });
    if (live) this.paintLive(livePoints);
  }
}

const BAND_PAIRS = [[0, 8], [1, 7], [2, 6], [3, 5]];
const OLD_RGB = [198, 219, 239];
const NEW_RGB = [8, 48, 107];

function recencyColor(recency, alpha = 1) {
  const rgb = OLD_RGB.map((value, i) => Math.round(value + (NEW_RGB[i] - value) * recency));
  return `rgba(${rgb.join(",")},${alpha})`;
}

/**
 * A layer's histograms over epochs, as offset curves or percentile bands.
 * @param {HTMLElement} el
 * @param {FrameScheduler} scheduler
 */
export class HistogramChart extends PlotView {
  constructor(el, scheduler) {
    super(el, scheduler);
    this.entries = [];
    this.view = "offset";
    this.title = "";
  }

  setData(entries, view, title) {
    this.entries = entries;
    this.view = view;
    this.title = title;
    this.invalidate();
  }

  offsetTraces(entries) {
    const step = Math.max(1, Math.ceil(entries.length / 24));
    const shown = entries.filter((_, i) => (entries.length - 1 - i) % step === 0);
    const overlay = this.view === "overlay";
    const peak = Math.max(1e-12, ...shown.map((entry) => Math.max(...entry.stats.histogram.counts)));
    const gap = shown.length > 1 ? (shown[shown.length - 1].epoch - shown[0].epoch) / (shown.length - 1) : 1;
    const height = 2.5 * gap;
    return shown.map((entry, i) => {
      const { low, high, counts } = entry.stats.histogram;
      const width = (high - low) / Math.max(counts.length, 1);
      const recency = shown.length > 1 ? i / (shown.length - 1) : 1;
      const newest = i === shown.length - 1;
      const x = new Float64Array(counts.length + 2);
      const y = new Float64Array(counts.length + 2);
      x[0] = low;
      x[counts.length + 1] = high;
      const base = overlay ? 0 : entry.epoch;
      const scale = overlay ? 1 : -height / peak;
      y[0] = y[counts.length + 1] = base;
      for (let k = 0; k < counts.length; k += 1) {
        x[k + 1] = low + (k + 0.5) * width;
        y[k + 1] = base + counts[k] * scale;
      }
      if (overlay) {
        return {
          type: "scatter", mode: "lines", x, y, name: `epoch ${entry.epoch}`,
          fill: newest ? "tozeroy" : "none", fillcolor: recencyColor(1, 0.35),
          line: { color: recencyColor(recency), width: newest ? 2 : 1 }, opacity: newest ? 1 : 0.25 + 0.6 * recency,
          hovertemplate: `epoch ${entry.epoch}: %{y} near %{x:.3g}<extra></extra>`,
        };
      }
      return {
        type: "scatter", mode: "lines", name: `epoch ${entry.epoch}`, x, y,
        fill: "toself", fillcolor: recencyColor(recency, 0.9),
        line: { color: recencyColor(Math.min(1, recency + 0.35)), width: newest ? 1.6 : 0.8 },
        hovertemplate: `epoch ${entry.epoch}<extra></extra>`,
      };
    });
  }

  percentileShapes(entry) {
    const p = entry.stats.percentiles;
    if (p.length < 9) return [];
    const band = (low, high, alpha) => ({ type: "rect", xref: "x", yref: "paper", x0: p[low], x1: p[high], y0: 0, y1: 1,
      fillcolor: `rgba(8, 104, 172, ${alpha})`, line: { width: 0 }, layer: "below" });
    const shapes = BAND_PAIRS.map(([low, high], i) => band(low, high, (0.04 + 0.045 * i).toFixed(3)));
    shapes.push({ type: "line", xref: "x", yref: "paper", x0: p[4], x1: p[4], y0: 0, y1: 1,
      line: { color: "#05446b", width: 1.4, dash: "dot" } });
    return shapes;
  }

  distributionTraces(entries) {
    const x = entries.map((entry) => entry.epoch);
    const percentile = (k) => entries.map((entry) => entry.stats.percentiles[k]);
    const traces = [];
    BAND_PAIRS.forEach(([low, high], band) => {
      const alpha = 0.18 + band * 0.14;
      const fill = `rgba(8, 119, 189, ${alpha.toFixed(2)})`;
      traces.push({ type: "scatter", mode: "lines", x, y: percentile(low), line: { width: 0 }, hoverinfo: "skip", showlegend: false });
      traces.push({ type: "scatter", mode: "lines", x, y: percentile(high), fill: "tonexty", fillcolor: fill, line: { width: 0 },
        hoverinfo: "skip", showlegend: false });
    });
    traces.push({ type: "scatter", mode: "lines", x, y: percentile(4), name: "median", line: { color: "#05446b", width: 1.6 },
      hovertemplate: "epoch %{x}: median %{y:.3g}<extra></extra>" });
    return traces;
  }

  flush() {
    const entries = this.entries.filter((entry) => entry.stats);
    const distribution = this.view === "distribution";
    const traces = entries.length === 0 ? [] : distribution ? this.distributionTraces(entries) : this.offsetTraces(entries);
    const layout = baseLayout({
      title: this.title,
      xTitle: distribution ? "epoch" : "value",
      yTitle: distribution ? "value" : this.view === "offset" ? "epoch" : "count",
      legend: false,
    });
    layout.hovermode = "closest";
    if (this.view === "offset") layout.yaxis.autorange = "reversed";
    const shapes = this.view === "overlay" && entries.length ? this.percentileShapes(entries[entries.length - 1]) : [];
    this.draw(traces, layout, { shapes, pad: { x: { pad: 0.1, grow: 0.1 }, y: { pad: 0.1, grow: 0.5 } } });
  }
}

/**
 * A grid of small images (filters, digits), each a 2-D array drawn on a canvas.
 * @param {HTMLElement} el
 * @param {FrameScheduler} scheduler
 * @param {{size?: number}} [options] each image's size in CSS pixels
 */
export class ImageGrid extends View {
  constructor(el, scheduler, { size = 48 } = {}) {
    super(el, scheduler, { lazy: false });
    this.size = size;
    this.images = [];
  }

  setImages(images) {
    this.images = images;
    this.invalidate();
  }

  flush() {
    const canvases = [...this.el.querySelectorAll("canvas")];
    while (canvases.length < this.images.length) {
      const canvas = document.createElement("canvas");
      canvas.style.width = canvas.style.height = `${this.size}px`;
      this.el.append(canvas);
      canvases.push(canvas);
    }
    canvases.slice(this.images.length).forEach((canvas) => canvas.remove());
    this.images.forEach((image, i) => {
      drawGrid(canvases[i], image.z, { scale: image.scale, flip: false, gray: image.gray });
      canvases[i].title = image.title;
    });
  }
}

function hexToRgb(hex) {
  const value = parseInt(hex.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

const CLASS_RGB = CLASS_COLORS.map(hexToRgb);
const MIDDLE_RGB = hexToRgb(COLORS.middle);
const NEGATIVE_RGB = hexToRgb(COLORS.negative);
const POSITIVE_RGB = hexToRgb(COLORS.positive);

function mixColor(value) {
  const t = Math.max(-1, Math.min(1, value || 0));
  const end = t < 0 ? NEGATIVE_RGB : POSITIVE_RGB;
  const a = Math.abs(t);
  return MIDDLE_RGB.map((start, i) => start + (end[i] - start) * a);
}

function paintCanvas(canvas, rows, color, flip, lighten = 0) {
  const height = rows.length;
  const width = rows[0]?.length ?? 0;
  if (!height || !width) return;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let y = 0; y < height; y += 1) {
    const row = rows[flip ? height - 1 - y : y];
    for (let x = 0; x < width; x += 1) {
      const rgb = color(row[x]);
      const offset = (y * width + x) * 4;
      for (let i = 0; i < 3; i += 1) image.data[offset + i] = rgb[i] + (255 - rgb[i]) * lighten;
      image.data[offset + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
}

/**
 * Paints a 2-D array on a canvas, one pixel per value, in the diverging colours (or gray).
 * @param {HTMLCanvasElement} canvas
 * @param {ArrayLike<number>[]} rows
 * @param {{scale?: number, flip?: boolean, gray?: boolean}} [options] scale: the value drawn at full colour
 *   (default the largest magnitude); flip: first row at the bottom
 */
export function drawGrid(canvas, rows, { scale, flip = true, gray = false } = {}) {
  let limit = scale;
  if (!limit) {
    limit = 1e-9;
    for (const row of rows) for (const value of row) if (Number.isFinite(value)) limit = Math.max(limit, Math.abs(value));
  }
  const color = gray ? (value) => Array(3).fill(255 * (1 - Math.max(0, value) / limit)) : (value) => mixColor(value / limit);
  paintCanvas(canvas, rows, color, flip);
}
