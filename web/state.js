const UI_DEFAULTS = {
  showTest: false,
  discretize: false,
  logLoss: false,
  histLayer: "",
  histKind: "weight",
  histView: "offset",
  endless: false,
};

const ATOMIC = new Set(["loss", "model.layers", "optimizer", "schedule", "training.batch_size", "training.early_stopping"]);

const clone = (value) => structuredClone(value);

/**
 * Whether a value is a plain object (not null, not an array).
 * @param {*} value
 * @returns {boolean}
 */
export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => deepEqual(a[key], b[key]));
}

function splitPath(path) {
  return path === "" ? [] : path.split(".").map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function getPath(target, path) {
  return splitPath(path).reduce((node, key) => (node == null ? undefined : node[key]), target);
}

function setPath(target, path, value) {
  const keys = splitPath(path);
  const last = keys.pop();
  const parent = keys.reduce((node, key) => (node == null ? undefined : node[key]), target);
  if (parent == null || typeof parent !== "object") return false;
  parent[last] = value;
  return true;
}

function flatten(value, prefix, out) {
  if (isObject(value) && !ATOMIC.has(prefix)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out[prefix] = value;
  }
  return out;
}

function encodeValue(value) {
  if (typeof value === "string") {
    let parsed;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = value;
    }
    if (parsed === value) return encodeComponent(value);
  }
  return encodeComponent(JSON.stringify(value));
}

function encodeComponent(text) {
  return encodeURIComponent(text).replace(/%(2C|3A|5B|5D|7B|7D)/g, (match) => decodeURIComponent(match));
}

function decodeValue(text) {
  const raw = decodeURIComponent(text);
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function paramDefaults(params = {}) {
  return Object.fromEntries(Object.entries(params).map(([name, param]) => [name, clone(param.default)]));
}

/**
 * The setup being edited (a RunConfig) and the view options; dispatches "change" with the changed path.
 * @param {object} catalog the server's catalog (defaults, components, limits)
 */
export class State extends EventTarget {
  constructor(catalog) {
    super();
    this.catalog = catalog;
    this.defaults = clone(catalog.defaults);
    this.config = clone(this.defaults);
    this.ui = { ...UI_DEFAULTS };
    this.problems = [];
  }

  get(path) {
    return getPath(this.config, path);
  }

  set(path, value) {
    if (deepEqual(this.get(path), value)) return;
    setPath(this.config, path, clone(value));
    this.emit(path);
  }

  update(changes) {
    const changed = Object.entries(changes).filter(([path, value]) => !deepEqual(this.get(path), value));
    for (const [path, value] of changed) setPath(this.config, path, clone(value));
    if (changed.length) this.emit(changed.length === 1 ? changed[0][0] : "");
  }

  setUi(key, value) {
    if (this.ui[key] === value) return;
    this.ui[key] = value;
    this.emit(`ui.${key}`);
  }

  replaceConfig(config) {
    this.config = this.normalize(config);
    this.emit("");
  }

  emit(path) {
    this.dispatchEvent(new CustomEvent("change", { detail: { path } }));
  }

  layerDefaults(type) {
    return { type, ...paramDefaults(this.catalog.layers[type]?.params) };
  }

  optimizerDefaults(name) {
    return { name, ...paramDefaults(this.catalog.optimizers[name]?.params) };
  }

  scheduleDefaults(name) {
    return { name, ...paramDefaults(this.catalog.schedules[name]?.params) };
  }

  normalize(config) {
    const merged = clone(this.defaults);
    this.problems = [];
    for (const [key, value] of Object.entries(flatten(config, "", {}))) {
      if (getPath(this.defaults, key) !== undefined) setPath(merged, key, clone(value));
      else this.problems.push(`${key} is not a setting`);
    }
    const known = (path, registry) => {
      const name = getPath(merged, path);
      if (typeof name === "string" && name in registry) return;
      this.problems.push(`${path} ${JSON.stringify(name)} is not one of ${Object.keys(registry).join(", ")}`);
      setPath(merged, path, clone(getPath(this.defaults, path)));
    };
    if (!isObject(merged.optimizer)) merged.optimizer = clone(this.defaults.optimizer);
    if (!isObject(merged.schedule)) merged.schedule = clone(this.defaults.schedule);
    known("data.dataset", this.catalog.datasets);
    known("optimizer.name", this.catalog.optimizers);
    known("schedule.name", this.catalog.schedules);
    const layers = config.model?.layers ?? merged.model.layers;
    merged.model.layers = (Array.isArray(layers) ? layers : []).filter((layer, i) => {
      if (isObject(layer) && layer.type in this.catalog.layers) return true;
      this.problems.push(`model.layers.${i} has no known type (${Object.keys(this.catalog.layers).join(", ")})`);
      return false;
    }).map((layer) => this.expandLayer(layer));
    if (isObject(merged.training.early_stopping)) {
      merged.training.early_stopping = { ...paramDefaults(this.catalog.sections.early_stopping), ...merged.training.early_stopping };
    }
    merged.optimizer = { ...this.optimizerDefaults(merged.optimizer.name), ...merged.optimizer };
    merged.schedule = { ...this.scheduleDefaults(merged.schedule.name), ...merged.schedule };
    return merged;
  }

  expandLayer(layer) {
    return { ...this.layerDefaults(layer.type), ...layer };
  }

  compactLayer(layer) {
    const defaults = this.layerDefaults(layer.type);
    const changed = Object.keys(layer).filter((key) => key !== "type" && !deepEqual(layer[key], defaults[key])).sort();
    return Object.fromEntries([["type", layer.type], ...changed.map((key) => [key, layer[key]])]);
  }

  toHash() {
    const current = flatten(this.config, "", {});
    const defaults = flatten(this.defaults, "", {});
    const parts = [];
    for (const [key, value] of Object.entries(current)) {
      if (deepEqual(value, defaults[key])) continue;
      const encoded = key === "model.layers" ? value.map((layer) => this.compactLayer(layer)) : value;
      parts.push(`${key}=${encodeValue(encoded)}`);
    }
    for (const [key, value] of Object.entries(this.ui)) {
      if (value !== UI_DEFAULTS[key]) parts.push(`ui.${key}=${encodeValue(value)}`);
    }
    return parts.join("&");
  }

  fromHash(hash) {
    const config = clone(this.defaults);
    const ui = { ...UI_DEFAULTS };
    const unknown = [];
    for (const part of hash.replace(/^#/, "").split("&")) {
      const cut = part.indexOf("=");
      if (cut <= 0) continue;
      const key = decodeURIComponent(part.slice(0, cut));
      const value = decodeValue(part.slice(cut + 1));
      if (key.startsWith("ui.")) {
        const name = key.slice(3);
        if (name in UI_DEFAULTS) ui[name] = value;
      } else if (getPath(this.defaults, key) !== undefined) {
        setPath(config, key, value);
      } else {
        unknown.push(`${key} is not a setting`);
      }
    }
    this.config = this.normalize(config);
    this.problems.unshift(...unknown);
    this.ui = ui;
    this.emit("");
  }
}
