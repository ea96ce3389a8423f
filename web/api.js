const token = new URLSearchParams(location.search).get("token");

export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.describe(status, detail));
    this.status = status;
    this.detail = detail;
  }

  static describe(status, detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
    }
    if (detail && typeof detail === "object") return detail.message || JSON.stringify(detail);
    return `request failed with status ${status}`;
  }

  get fieldErrors() {
    return Array.isArray(this.detail) ? this.detail : [];
  }
}

export function withToken(path) {
  if (!token) return path;
  const url = new URL(path, location.origin);
  url.searchParams.set("token", token);
  return url.pathname + url.search;
}

async function request(method, path, { json } = {}) {
  const init = { method, headers: {} };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const response = await fetch(withToken(path), init);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data && typeof data === "object" ? data.detail ?? data : data);
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const api = {
  health: () => request("GET", "/api/health"),
  catalog: () => request("GET", "/api/catalog"),
  dataset: (name, params) => request("GET", `/api/datasets/${encodeURIComponent(name)}${query(params)}`),
  uploadCsv: (name, csv) => request("POST", "/api/datasets", { json: { name, csv } }),
  createRun: (config, { paused = false } = {}) => request("POST", "/api/runs", { json: { ...config, paused } }),
  control: (id, action, params = {}) =>
    request("POST", `/api/runs/${id}/control`, { json: { action, ...params } }),
  runs: (params = {}) => request("GET", `/api/runs${query(params)}`),
  run: (id) => request("GET", `/api/runs/${id}`),
  epochs: (id, full = false) => request("GET", `/api/runs/${id}/epochs${query({ full: full ? 1 : null })}`),
  deleteRun: (id) => request("DELETE", `/api/runs/${id}`),
  modelUrl: (id, format) => withToken(`/api/runs/${id}/model${query({ format })}`),
  stopOnLeave: (id) => navigator.sendBeacon(withToken(`/api/runs/${id}/control`),
    new Blob([JSON.stringify({ action: "stop" })], { type: "application/json" })),
};

export class RunStream {
  constructor(id, { onMessage, onClose }) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(`${scheme}//${location.host}${withToken(`/api/runs/${id}/stream`)}`);
    this.closed = false;
    this.socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
    this.socket.addEventListener("close", () => {
      if (!this.closed) onClose?.();
      this.closed = true;
    });
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  close() {
    this.closed = true;
    this.socket.close();
  }
}
