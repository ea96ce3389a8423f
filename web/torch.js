function py(value) {
  if (typeof value === "boolean") return value ? "True" : "False";
  if (value === null || value === undefined) return "None";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

function kwargs(params, defaults) {
  return Object.entries(defaults)
    .map(([key, fallback]) => `${key}=${py(params[key] ?? fallback)}`)
    .join(", ");
}

const CUSTOM = {
  Step: `class Step(nn.Module):
    def forward(self, x):
        return (x > 0).to(x.dtype)`,
  HardLogistic: `class HardLogistic(nn.Module):
    def forward(self, x):
        return nn.functional.hardtanh(0.25 * x + 0.5, 0.0, 1.0)`,
  Swish: `class Swish(nn.Module):
    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)`,
  Maxout: `class Maxout(nn.Module):
    def __init__(self, in_features, units, pieces):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.weight = nn.Parameter(torch.empty(units * pieces, in_features))
        self.bias = nn.Parameter(torch.empty(units * pieces))

    def forward(self, x):
        y = nn.functional.linear(x, self.weight, self.bias)
        return y.view(-1, self.units, self.pieces).max(dim=2).values`,
};

function activation(name, params, used) {
  switch (name) {
    case "identity": return "nn.Identity()";
    case "step": used.add("Step"); return "Step()";
    case "sigmoid": return "nn.Sigmoid()";
    case "hardsigmoid": return "nn.Hardsigmoid()";
    case "hard_logistic": used.add("HardLogistic"); return "HardLogistic()";
    case "tanh": return "nn.Tanh()";
    case "hardtanh": return `nn.Hardtanh(${kwargs(params, { min_val: -1.0, max_val: 1.0 })})`;
    case "relu": return "nn.ReLU()";
    case "leaky_relu": return `nn.LeakyReLU(${kwargs(params, { negative_slope: 0.01 })})`;
    case "prelu": return `nn.PReLU(${kwargs(params, { init: 0.25 })})`;
    case "rrelu": return `nn.RReLU(${kwargs(params, { lower: 0.125, upper: 1 / 3 })})`;
    case "elu": return `nn.ELU(${kwargs(params, { alpha: 1.0 })})`;
    case "selu": return "nn.SELU()";
    case "gelu": return `nn.GELU(${kwargs(params, { approximate: "none" })})`;
    case "silu": return "nn.SiLU()";
    case "swish":
      if ((params.beta ?? 1) === 1) return "nn.SiLU()";
      used.add("Swish");
      return `Swish(beta=${py(params.beta)})`;
    case "softplus": return `nn.Softplus(${kwargs(params, { beta: 1.0, threshold: 20.0 })})`;
    case "softsign": return "nn.Softsign()";
    case "softmax": return "nn.Softmax(dim=1)";
    default: throw new Error(`no PyTorch equivalent for activation ${name}`);
  }
}

function moduleCode(module, used) {
  const layer = module.layer;
  switch (module.type) {
    case "dense":
      return `nn.Linear(${module.in[0]}, ${layer.units}${layer.bias === false ? ", bias=False" : ""})`;
    case "maxout":
      used.add("Maxout");
      return `Maxout(${module.in[0]}, ${layer.units}, ${layer.pieces})`;
    case "conv2d":
      return `nn.Conv2d(${module.in[0]}, ${layer.filters}, kernel_size=${layer.kernel_size}, stride=${layer.stride}, ` +
        `padding=${layer.padding}${layer.bias === false ? ", bias=False" : ""})`;
    case "maxpool2d":
    case "avgpool2d": {
      const name = module.type === "maxpool2d" ? "MaxPool2d" : "AvgPool2d";
      return `nn.${name}(kernel_size=${layer.kernel_size}${layer.stride ? `, stride=${layer.stride}` : ""})`;
    }
    case "flatten":
      return "nn.Flatten()";
    case "dropout":
      return `nn.Dropout(p=${py(layer.p)})`;
    case "batchnorm":
      return `nn.BatchNorm${module.in.length === 3 ? "2d" : "1d"}(${module.in[0]}, eps=${py(layer.eps)}, momentum=${py(layer.momentum)})`;
    case "activation":
      return activation(layer.name, layer.params ?? {}, used);
    default:
      throw new Error(`no PyTorch equivalent for layer ${module.type}`);
  }
}

const FEATURE_CODE = {
  x1: "x1",
  x2: "x2",
  "x1^2": "x1 ** 2",
  "x2^2": "x2 ** 2",
  x1x2: "x1 * x2",
  sin_x1: "torch.sin(x1)",
  sin_x2: "torch.sin(x2)",
};

function exampleCode(config, spec, datasetKind) {
  const loss = spec.loss;
  const reading = loss === "bce_with_logits"
    ? "torch.sigmoid(out))  # probability of class 1"
    : loss === "cross_entropy" ? "torch.softmax(out, dim=1))  # class probabilities" : "out)";
  if (datasetKind === "2d") {
    const features = config.data.features.map((name) => FEATURE_CODE[name]).join(", ");
    return `def features(points):
    x1, x2 = points[:, 0], points[:, 1]
    return torch.stack([${features}], dim=1)


points = torch.tensor([[-2.0, 1.5], [0.5, 0.5], [4.0, -3.0]], dtype=DTYPE)
with torch.no_grad():
    out = model(features(points))
print(${reading}`;
  }
  return `x = torch.zeros(1, ${spec.input.join(", ")}, dtype=DTYPE)  # one input of shape ${JSON.stringify(spec.input)}
with torch.no_grad():
    out = model(x)
print(${reading}`;
}

export function torchSnippet(config, spec, datasetKind) {
  const used = new Set();
  const lines = spec.modules.map((module) => `    ${moduleCode(module, used)},  # ${module.index}`);
  const custom = [...used].map((name) => `${CUSTOM[name]}\n\n`).join("\n");
  return `"""Rebuild the nnplay network in PyTorch and load its trained weights.

Save the run's "Model JSON" download next to this file as model.json.
"""
import json

import torch
from torch import nn

DTYPE = torch.${config.dtype}


${custom}model = nn.Sequential(
${lines.join("\n")}
).to(DTYPE)

with open("model.json") as f:
    saved = json.load(f)
state = {
    key: torch.tensor(entry["values"], dtype=torch.float64).reshape(entry["shape"])
    for key, entry in saved["state_dict"].items()
}
model.load_state_dict(state)
model.eval()

${exampleCode(config, spec, datasetKind)}
`;
}
