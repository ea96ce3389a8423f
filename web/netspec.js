const FLAT_ONLY = new Set(["dense", "maxout"]);
const IMAGE_ONLY = new Set(["conv2d", "maxpool2d", "avgpool2d"]);

export function activationName(spec) {
  if (!spec) return null;
  return typeof spec === "string" ? spec : spec.name;
}

function activationParams(spec) {
  if (!spec || typeof spec === "string") return {};
  const { name, ...params } = spec;
  return params;
}

export function datasetKind(config, catalog) {
  return catalog.datasets[config.data.dataset]?.input ?? "2d";
}

function inputShape(config, catalog, info) {
  const kind = datasetKind(config, catalog);
  if (kind === "image") return config.data.images ? [1, 8, 8] : [64];
  if (kind === "table") return [info?.inputs ?? 1];
  return [config.data.features.length];
}

export function problem(config, catalog, info) {
  const dataset = config.data.dataset;
  const declared = config.data.task !== "auto" ? config.data.task : null;
  const task = declared ?? info?.task ?? catalog.datasets[dataset]?.task ?? "classification";
  if (task === "regression") return { task, classes: null, targets: info?.targets ?? 1 };
  const classes = info?.classes ?? (dataset === "digits" ? 10 : ["spiral", "blobs"].includes(dataset) ? config.data.classes : 2);
  return { task, classes, targets: 1 };
}

export function resolveLoss(config, prob) {
  if (config.loss !== "auto") return config.loss;
  if (prob.task === "regression") return "mse";
  return prob.classes > 2 ? "cross_entropy" : "bce_with_logits";
}

function outputUnits(config, prob) {
  if (prob.task === "regression") return prob.targets;
  return ["bce", "bce_with_logits"].includes(resolveLoss(config, prob)) ? 1 : prob.classes;
}

const product = (shape) => shape.reduce((a, b) => a * b, 1);

function convOut(size, kernel, stride, padding) {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

function layerModule(layer, shape) {
  const type = layer.type;
  if (FLAT_ONLY.has(type) && shape.length !== 1) {
    throw new Error(`${type} needs a flat input of shape (features,), got (${shape.join(", ")}): add a flatten layer before it`);
  }
  if (IMAGE_ONLY.has(type) && shape.length !== 3) {
    throw new Error(`${type} needs an image input (channels, height, width), got (${shape.join(", ")})`);
  }
  switch (type) {
    case "dense":
      return { out: [layer.units], params: shape[0] * layer.units + (layer.bias ? layer.units : 0), units: layer.units };
    case "maxout":
      return { out: [layer.units], params: (shape[0] + 1) * layer.units * layer.pieces, units: layer.units };
    case "conv2d": {
      const [channels, height, width] = shape;
      const h = convOut(height, layer.kernel_size, layer.stride, layer.padding);
      const w = convOut(width, layer.kernel_size, layer.stride, layer.padding);
      if (h < 1 || w < 1) throw new Error(`conv2d kernel ${layer.kernel_size} does not fit a ${height}×${width} input`);
      const params = layer.filters * channels * layer.kernel_size ** 2 + (layer.bias ? layer.filters : 0);
      return { out: [layer.filters, h, w], params, units: layer.filters };
    }
    case "maxpool2d":
    case "avgpool2d": {
      const [channels, height, width] = shape;
      const stride = layer.stride ?? layer.kernel_size;
      const h = convOut(height, layer.kernel_size, stride, 0);
      const w = convOut(width, layer.kernel_size, stride, 0);
      if (h < 1 || w < 1) throw new Error(`pool size ${layer.kernel_size} does not fit a ${height}×${width} input`);
      return { out: [channels, h, w], params: 0 };
    }
    case "flatten":
      return { out: [product(shape)], params: 0 };
    case "batchnorm":
      return { out: shape, params: 2 * shape[0] };
    case "activation":
      return { out: shape, params: layer.name === "prelu" ? 1 : 0, activation: layer.name };
    default:
      return { out: shape, params: 0 };
  }
}

export function expand(config, catalog, info) {
  const prob = problem(config, catalog, info);
  const loss = resolveLoss(config, prob);
  const stack = config.model.layers.map((layer, index) => ({ layer, source: index }));
  if (config.model.output) {
    stack.push({ layer: { type: "dense", units: outputUnits(config, prob), bias: true }, source: "output" });
    if (loss === "bce") stack.push({ layer: { type: "activation", name: "sigmoid", params: {} }, source: "output" });
  }
  const modules = [];
  const errors = [];
  let shape = inputShape(config, catalog, info);
  const input = shape;
  for (const { layer, source } of stack) {
    if (source === "output" && layer.type === "dense" && shape.length > 1) {
      modules.push({ index: modules.length, type: "flatten", source, layer: { type: "flatten" }, in: shape,
        out: [product(shape)], params: 0 });
      shape = [product(shape)];
    }
    let module;
    try {
      module = layerModule(layer, shape);
    } catch (error) {
      errors.push({ layer: source, message: error.message });
      break;
    }
    modules.push({ index: modules.length, type: layer.type, source, layer, in: shape, ...module });
    shape = module.out;
    const shorthand = activationName(layer.activation);
    if (shorthand && layer.type !== "activation") {
      const activation = { type: "activation", name: shorthand, params: activationParams(layer.activation) };
      modules.push({ index: modules.length, type: "activation", source, layer: activation, in: shape, out: shape,
        params: shorthand === "prelu" ? 1 : 0, activation: shorthand });
    }
  }
  const total = modules.reduce((sum, module) => sum + module.params, 0);
  const limits = catalog.limits ?? {};
  const maxLayers = limits.max_layers;
  const maxParams = limits.max_params ?? limits.max_parameters;
  if (maxLayers && config.model.layers.length > maxLayers) {
    errors.push({ layer: null, message: `${config.model.layers.length} layers: the limit is ${maxLayers}` });
  }
  if (maxParams && total > maxParams) {
    errors.push({ layer: null, message: `${total.toLocaleString()} parameters: the limit is ${maxParams.toLocaleString()}` });
  }
  if (!config.model.output && errors.length === 0 && shape.length === 1 && shape[0] !== outputUnits(config, prob)) {
    errors.push({ layer: null, message: `the last layer gives ${shape[0]} outputs; ${loss} on this data needs ${outputUnits(config, prob)}` });
  }
  return { input, modules, total, errors, problem: prob, loss, output: shape };
}

export function moduleLabel(module) {
  return `${module.index} ${module.activation ?? module.type}`;
}
