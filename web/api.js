const TOKEN_KEY = "nnplay-token";

/** The access token from the page's #token= (kept for the session), or null when the server asks none. @type {string|null} */
export const token = takeToken();

function takeToken() {
  const parts = location.hash.slice(1).split("&");
  const given = parts.find((part) => part.startsWith("token="));
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given.slice("token=".length));
    const rest = parts.filter((part) => part !== given).join("&");
    history.replaceState(history.state, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function headers(json) {
  const result = json === undefined ? {} : { "Content-Type": "application/json" };
  if (token) result.Authorization = `Bearer ${token}`;
  return result;
}

/**
 * A failed API request: its HTTP status and the server's detail (a message, or field errors with loc and msg).
 * @param {number} status
 * @param {string|object[]|object|null} detail
 */
export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.describe(status, detail));
    this.status = status;
    this.detail = detail;
  }

  static describe(status, detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body").join(".");
        return where ? `${where}: ${d.msg}` : d.msg;
      }).join("; ");
    }
    if (detail && typeof detail === "object") return detail.message || JSON.stringify(detail);
    return `request failed with status ${status}`;
  }

  get fieldErrors() {
    return Array.isArray(this.detail) ? this.detail : [];
  }
}

/**
 * Calls the server's API with the token; throws ApiError on a non-2xx answer.
 * @param {string} method
 * @param {string} path
 * @param {{json?: *}} [options] a body sent as JSON
 * @returns {Promise<*>} the parsed JSON answer (or its text, or null when empty)
 */
export async function request(method, path, { json } = {}) {
  const init = { method, headers: headers(json) };
  if (json !== undefined) init.body = JSON.stringify(json);
  const response = await fetch(path, init);
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

/** The server's REST API, one function per endpoint; each returns a Promise of the answer (modelUrl returns a URL). */
export const api = {
  health: () => request("GET", "/api/health"),
  catalog: () => request("GET", "/api/catalog"),
  plan: (config) => request("POST", "/api/plan", { json: config }),
  preview: (config) => request("POST", "/api/preview", { json: config }),
  continueRun: (id, epochs) => request("POST", `/api/runs/${id}/continue`, { json: { epochs } }),
  dataset: (name, params) => request("GET", `/api/datasets/${encodeURIComponent(name)}${query(params)}`),
  uploadCsv: (name, csv) => request("POST", "/api/datasets", { json: { name, csv } }),
  createRun: (config, { paused = false } = {}) => request("POST", "/api/runs", { json: { ...config, paused } }),
  control: (id, action, params = {}) =>
    request("POST", `/api/runs/${id}/control`, { json: { action, ...params } }),
  runs: (params = {}) => request("GET", `/api/runs${query(params)}`),
  run: (id) => request("GET", `/api/runs/${id}`),
  epochs: (id, params = {}) => request("GET", `/api/runs/${id}/epochs${query(params)}`),
  deleteRun: (id) => request("DELETE", `/api/runs/${id}`),
  modelUrl: (id, format) => `/api/runs/${id}/model${query({ format })}`,
  stopOnLeave: (id) => fetch(`/api/runs/${id}/control`, {
    method: "POST", keepalive: true, headers: headers({}), body: JSON.stringify({ action: "stop" }),
  }).catch(() => {}),
};

/**
 * A run's websocket: onOpen once it is open, every message parsed and passed on; onClose once when the server closes it.
 * @param {string} id the run's id
 * @param {{onOpen?: () => void, onMessage: (message: object) => void, onClose?: () => void}} handlers
 */
export class RunStream {
  constructor(id, { onOpen, onMessage, onClose }) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const protocols = token ? ["nnplay", `token.${token}`] : ["nnplay"];
    this.socket = new WebSocket(`${scheme}//${location.host}/api/runs/${id}/stream?pull=1`, protocols);
    this.closed = false;
    if (onOpen) this.socket.addEventListener("open", () => onOpen());
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
