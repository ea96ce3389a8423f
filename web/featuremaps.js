import { View, drawGrid } from "./charts.js";
import { h } from "./forms.js";

const MAX_CHANNELS = 32;
const TARGET = 64;
const MIN_SIZE = 20;
const GAP = 4;
const LABEL_WIDTH = 130;
const MORE_WIDTH = 64;
const EMPTY = "Train to see the feature maps of one sample.";

function extent(maps) {
  let limit = 1e-9;
  for (const map of maps) for (const row of map) for (const value of row) if (Number.isFinite(value)) limit = Math.max(limit, Math.abs(value));
  return limit;
}

function sizeText(maps) {
  return `${maps.length}×${maps[0]?.length ?? 0}×${maps[0]?.[0]?.length ?? 0}`;
}

/**
 * The feature maps of one test image, one row of channels per layer.
 * @param {HTMLElement} el
 * @param {import("./charts.js").FrameScheduler} scheduler
 */
export class FeatureMapView extends View {
  constructor(el, scheduler) {
    super(el, scheduler);
    this.data = null;
    this.labels = new Map();
    this.empty = EMPTY;
    this.key = null;
    this.canvases = [];
    new ResizeObserver(() => this.invalidate()).observe(el);
  }

  setMaps(data, { labels = new Map(), empty } = {}) {
    this.data = data;
    this.labels = labels;
    this.empty = empty ?? EMPTY;
    this.invalidate();
  }

  rows() {
    const { input, label, layers } = this.data;
    return [
      { name: "input", detail: `label ${label}`, maps: input, gray: true },
      ...layers.map((layer) => ({
        name: this.labels.get(layer.layer)?.replace(/ [\dx]+$/, "") ?? `${layer.layer} ${layer.type}`,
        detail: sizeText(layer.maps),
        maps: layer.maps,
        gray: false,
      })),
    ];
  }

  build(rows, width) {
    const largest = Math.max(...rows.flatMap((row) => [row.maps[0]?.length ?? 0, row.maps[0]?.[0]?.length ?? 0]));
    const cell = Math.max(2, Math.min(8, Math.floor(TARGET / Math.max(largest, 1))));
    const room = width - LABEL_WIDTH;
    this.canvases = [];
    this.el.replaceChildren(...rows.map((row) => {
      const shown = row.maps.slice(0, MAX_CHANNELS);
      const more = row.maps.length - shown.length;
      const side = Math.max(row.maps[0]?.length ?? 0, row.maps[0]?.[0]?.length ?? 0, 1);
      const fit = Math.floor((room - (more > 0 ? MORE_WIDTH : 0)) / shown.length) - GAP - 2;
      const zoom = Math.max(MIN_SIZE / side, Math.min(cell, fit / side));
      const canvases = shown.map((map, channel) => {
        const title = row.gray ? `input, ${row.detail}` : `${row.name}, channel ${channel + 1}`;
        const canvas = h("canvas", { role: "img", "aria-label": title, title });
        canvas.style.width = `${Math.round((map[0]?.length ?? 0) * zoom)}px`;
        canvas.style.height = `${Math.round(map.length * zoom)}px`;
        return canvas;
      });
      this.canvases.push(canvases);
      const range = h("span", { class: "fmap-scale" });
      return h("div", { class: "fmap-row", role: "group", "aria-label": row.name },
        h("div", { class: "fmap-label" }, h("span", { class: "fmap-name" }, row.name),
          h("span", { class: "fmap-detail" }, row.detail), range),
        h("div", { class: "fmap-maps" }, canvases, more > 0 ? h("span", { class: "hint" }, `+${more} more`) : null));
    }));
  }

  flush() {
    if (!this.data) {
      this.key = null;
      this.el.replaceChildren(h("p", { class: "hint" }, this.empty));
      return;
    }
    const rows = this.rows();
    const width = this.el.clientWidth;
    const key = [width, ...rows.map((row) => `${row.name}:${row.detail}`)].join("|");
    if (key !== this.key) {
      this.key = key;
      this.build(rows, width);
    }
    rows.forEach((row, r) => {
      const limit = extent(row.maps);
      this.canvases[r].forEach((canvas, channel) => drawGrid(canvas, row.maps[channel], { scale: limit, flip: false, gray: row.gray }));
      this.el.children[r].querySelector(".fmap-scale").textContent = row.gray ? `0 to ${limit.toPrecision(2)}` : `±${limit.toPrecision(2)}`;
    });
  }
}
