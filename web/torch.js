function example(plan) {
  const reading = plan.loss === "bce_with_logits"
    ? "torch.sigmoid(out))  # probability of class 1"
    : plan.loss === "cross_entropy" ? "torch.softmax(out, dim=1))  # class probabilities" : "unscale(out))";
  const features = plan.feature_names ? `  # features: ${plan.feature_names.join(", ")}` : "";
  const classes = plan.class_names ? `\n# classes, in output order: ${plan.class_names.join(", ")}` : "";
  return `x = prepare(torch.zeros(1, ${plan.input_shape.join(", ")}))${features}
with torch.no_grad():
    out = model(x)${classes}
print(${reading}`;
}

/**
 * The PyTorch export: the plan's torch.nn.Sequential code, loading a run's "Model JSON" (model.json).
 * @param {object} plan the answer of POST /api/plan
 * @returns {string} a runnable Python script
 */
export function torchSnippet(plan) {
  return `"""Rebuild the nnplay network in PyTorch and load its trained weights.

Save the run's "Model JSON" download next to this file as model.json.
"""
import json

${plan.torch}
DTYPE = torch.${plan.dtype}

with open("model.json") as f:
    saved = json.load(f)
state = {
    key: torch.tensor(entry["values"], dtype=torch.float64).reshape(entry["shape"])
    for key, entry in saved["state_dict"].items()
}
model.load_state_dict(state)
model.eval()
scaling = saved.get("scaling") or {}


def prepare(rows):
    """Inputs as the model saw them in training: CSV columns standardized with the run's mean and std."""
    x = torch.as_tensor(rows, dtype=torch.float64)
    if "x_mean" in scaling:
        mean, std = torch.tensor(scaling["x_mean"]), torch.tensor(scaling["x_std"])
        x = ((x.reshape(len(x), -1) - mean) / std).reshape(x.shape)
    return x.to(DTYPE)


def unscale(out):
    """Regression outputs in the target's units (CSV targets are standardized for training)."""
    if "y_mean" in scaling:
        return out.double() * torch.tensor(scaling["y_std"]) + torch.tensor(scaling["y_mean"])
    return out


${example(plan)}
`;
}
