let nextId = 0;

/**
 * A new element id, unique in the page.
 * @param {string} [prefix]
 * @returns {string}
 */
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * Creates an element: on* attrs listen, text fills textContent, dataset fills data-*, other non-string values
 * set properties, the rest attributes (true as ""; null, undefined and false skipped); children are appended.
 * @param {string} tag
 * @param {Object<string, *>} [attrs]
 * @param {...(Node|string|Array|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

const LABELS = {
  lr: "Learning rate",
  n_samples: "Samples",
  train_ratio: "Train ratio",
  weight_init: "Weight init",
  bias_init: "Bias init",
  kernel_size: "Kernel",
  lr_decay: "LR decay",
  eps: "ε",
  t_max: "T max",
  eta_min: "η min",
  min_delta: "Min Δ",
  p: "Drop p",
};

function humanize(name) {
  return LABELS[name] ?? name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ");
}

function bound(value, param) {
  if (param.minimum !== undefined && value < param.minimum) return `must be ≥ ${param.minimum}`;
  if (param.exclusiveMinimum !== undefined && value <= param.exclusiveMinimum) return `must be > ${param.exclusiveMinimum}`;
  if (param.maximum !== undefined && value > param.maximum) return `must be ≤ ${param.maximum}`;
  if (param.exclusiveMaximum !== undefined && value >= param.exclusiveMaximum) return `must be < ${param.exclusiveMaximum}`;
  return null;
}

/**
 * Reads a number typed for a catalog parameter, checking its type and bounds.
 * @param {string} text
 * @param {object} param the catalog's parameter (type, nullable, minimum, maximum, ...)
 * @returns {{value?: number|null, error?: string}}
 */
export function parseNumber(text, param) {
  const trimmed = text.trim();
  if (trimmed === "") return param.nullable ? { value: null } : { error: "is required" };
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { error: "must be a number" };
  if (param.type === "integer" && !Number.isInteger(value)) return { error: "must be a whole number" };
  const error = bound(value, param);
  return error ? { error } : { value };
}

function parseArray(text, param) {
  const parts = text.split(",").map((part) => part.trim()).filter(Boolean);
  const values = parts.map(Number);
  if (values.some((value) => !Number.isFinite(value))) return { error: "must be numbers separated by commas" };
  const error = values.map((value) => bound(value, param)).find(Boolean);
  return error ? { error } : { value: values };
}

function parseCombo(text, param) {
  const trimmed = text.trim();
  if (param.choices.includes(trimmed)) return { value: trimmed };
  const result = parseNumber(trimmed, { ...param, type: "number" });
  return result.error ? { error: `must be a number or one of ${param.choices.join(", ")}` } : result;
}

function parseSpec(text) {
  const trimmed = text.trim();
  const value = Number(trimmed);
  return { value: trimmed !== "" && Number.isFinite(value) ? value : trimmed };
}

/**
 * Shows (or clears, with null) a field's error and marks it invalid.
 * @param {HTMLElement} wrapper the .field element
 * @param {string|null} message
 */
export function setFieldError(wrapper, message) {
  const error = wrapper.querySelector(":scope > .field-error");
  const control = wrapper.querySelector(":scope > .control");
  if (error) error.textContent = message ?? "";
  if (control) control.toggleAttribute("aria-invalid", Boolean(message));
  wrapper.classList.toggle("invalid", Boolean(message));
}

function wrap(path, labelText, control, { inline = false, title } = {}) {
  const errorId = uid("err");
  control.classList.add("control");
  control.setAttribute("aria-describedby", errorId);
  const label = h("label", { for: control.id, title }, labelText);
  const wrapper = h(
    "div",
    { class: inline ? "field inline" : "field", dataset: { path, label: labelText } },
    inline ? [control, label] : [label, control],
    h("span", { class: "field-error", id: errorId, role: "status" }),
  );
  return wrapper;
}

function textField(path, labelText, param, value, onChange, parse, display) {
  const input = h("input", {
    id: uid(),
    type: param.type === "integer" || param.type === "number" ? "number" : "text",
    value: display(value),
    step: param.type === "integer" ? "1" : "any",
    min: param.minimum ?? null,
    max: param.maximum ?? null,
    placeholder: param.nullable ? "auto" : null,
    autocomplete: "off",
  });
  const wrapper = wrap(path, labelText, input, { title: param.description });
  const initial = parse(display(value), param);
  if (initial.error) setFieldError(wrapper, `${labelText} ${initial.error}`);
  input.addEventListener("change", () => {
    const result = parse(input.value, param);
    setFieldError(wrapper, result.error && `${labelText} ${result.error}`);
    if (!result.error) onChange(result.value);
  });
  return wrapper;
}

/**
 * A labelled select; a value not among the options is shown and flagged.
 * @param {string} path the config path the field edits
 * @param {string} labelText
 * @param {[string, string][]} options value and text of each choice
 * @param {*} value
 * @param {(value: string) => void} onChange
 * @param {string} [title]
 * @returns {HTMLElement} the .field element
 */
export function selectField(path, labelText, options, value, onChange, title) {
  const known = options.some(([optionValue]) => optionValue === value);
  const choices = known ? options : [[String(value), `${value} (unknown)`], ...options];
  const select = h(
    "select",
    { id: uid() },
    choices.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)),
  );
  select.value = String(value);
  select.addEventListener("change", () => onChange(select.value));
  const wrapper = wrap(path, labelText, select, { title });
  if (!known) setFieldError(wrapper, `${labelText} must be one of ${options.map(([, text]) => text).join(", ")}`);
  return wrapper;
}

/**
 * A labelled checkbox; a value that is not a boolean is flagged.
 * @param {string} path the config path the field edits
 * @param {string} labelText
 * @param {*} value
 * @param {(checked: boolean) => void} onChange
 * @param {string} [title]
 * @returns {HTMLElement} the .field element
 */
export function checkboxField(path, labelText, value, onChange, title) {
  const input = h("input", { id: uid(), type: "checkbox", checked: Boolean(value) });
  input.addEventListener("change", () => {
    setFieldError(wrapper, null);
    onChange(input.checked);
  });
  const wrapper = wrap(path, labelText, input, { inline: true, title });
  if (typeof value !== "boolean") setFieldError(wrapper, `${labelText} must be true or false, not ${JSON.stringify(value)}`);
  return wrapper;
}

/**
 * A registered component's spec: its name alone when every parameter is at its catalog default, else {name, ...the others}.
 * @param {string} name
 * @param {Object<string, *>} values the parameters set so far
 * @param {Object<string, {default: *}>} params the catalog's parameters of `name`
 * @returns {string | object}
 */
export function specOf(name, values, params) {
  const changed = Object.entries(values).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(params[key]?.default));
  return changed.length ? { name, ...Object.fromEntries(changed) } : name;
}

function specField(ctx, path, labelText, param, value, onChange) {
  const registry = param.type === "activation" ? ctx.catalog.activations : ctx.catalog.initializers;
  const name = value === null || value === undefined ? "" : typeof value === "string" ? value : value.name;
  const extra = value && typeof value === "object" ? value : {};
  const options = Object.keys(registry).map((key) => [key, key]);
  if (param.nullable) options.unshift(["", "none"]);
  const group = h("div", { class: "spec-field" });
  group.append(
    selectField(path, labelText, options, name, (next) => onChange(next || null), registry[name]?.doc),
  );
  const specParams = registry[name]?.params ?? {};
  const current = Object.fromEntries(Object.keys(specParams).filter((key) => key in extra).map((key) => [key, extra[key]]));
  for (const [key, sub] of Object.entries(specParams)) {
    group.append(
      createField(ctx, {
        path: `${path}.${key}`,
        label: humanize(key),
        param: sub,
        value: key in current ? current[key] : sub.default,
        onChange: (next) => onChange(specOf(name, { ...current, [key]: next }, specParams)),
      }),
    );
  }
  return group;
}

/**
 * The field for a catalog parameter, by its type (boolean, enum, activation, initializer, array, number, text).
 * @param {{catalog: object}} ctx
 * @param {{path: string, label?: string, param: object, value: *, onChange: (value: *) => void}} field
 * @returns {HTMLElement}
 */
export function createField(ctx, { path, label, param, value, onChange }) {
  const labelText = label ?? humanize(path.split(".").pop());
  switch (param.type) {
    case "boolean":
      return checkboxField(path, labelText, value, onChange, param.description);
    case "enum":
      if (!param.choices.includes(param.default)) {
        return textField(path, labelText, param, value, onChange, (text) => parseCombo(text, param),
          (v) => (v === null || v === undefined ? "" : String(v)));
      }
      return selectField(path, labelText, param.choices.map((choice) => [String(choice), String(choice)]), String(value),
        (next) => onChange(param.choices.find((choice) => String(choice) === next)), param.description);
    case "activation":
    case "initializer":
      return specField(ctx, path, labelText, param, value, onChange);
    case "array":
      return textField(path, labelText, param, value, onChange, parseArray, (v) => (Array.isArray(v) ? v.join(", ") : String(v ?? "")));
    case "spec":
      return textField(path, labelText, param, value, onChange, parseSpec, (v) => (v === null || v === undefined ? "" : String(v)));
    case "integer":
    case "number":
      return textField(path, labelText, param, value, onChange, parseNumber, (v) => (v === null || v === undefined ? "" : String(v)));
    default:
      return textField(path, labelText, param, value, onChange, (text) => ({ value: text }), (v) => v ?? "");
  }
}

const ORDER = ["lr", "units", "filters", "kernel_size", "stride", "padding", "pieces", "p", "activation", "momentum", "eps",
  "bias", "weight_init", "bias_init"];

function rank(name) {
  const position = ORDER.indexOf(name);
  return position === -1 ? ORDER.length : position;
}

/**
 * Fields for a component's parameters, in the usual order.
 * @param {{catalog: object}} ctx
 * @param {string} prefix the config path of the component
 * @param {Object<string, object>} params the catalog's parameters
 * @param {Object<string, *>} values
 * @param {(name: string, value: *) => void} onChange
 * @param {{skip?: string[]}} [options] parameters left out
 * @returns {HTMLElement[]}
 */
export function fieldGroup(ctx, prefix, params, values, onChange, { skip = [] } = {}) {
  return Object.entries(params)
    .filter(([name]) => !skip.includes(name))
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([name, param]) =>
      createField(ctx, {
        path: `${prefix}.${name}`,
        param,
        value: values[name],
        onChange: (value) => onChange(name, value),
      }),
    );
}
