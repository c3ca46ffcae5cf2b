// @ts-check
// The live model of the swarm over /ws/swarm, shared by the grid and the wall.
//
// The server sends the model (a `snapshot`, then `tasks` chunks of nodes, services and tasks while `more`), then `patch`es in
// seq order, and a `heartbeat` after every few quiet seconds. This module assembles the model,
// applies patches once per animation frame (a burst of patches costs one render), asks for the
// model again when it sees a seq gap, reconnects with backoff when the socket drops or goes
// silent, and says how fresh the model is. A page renders from `onFrame(changes)`.
//
// Fresh means: Docker answered the dashboard recently. The socket being open proves only that the
// dashboard is there; the snapshot and every heartbeat say how long ago Docker last answered it
// (a patch follows an answer by construction), and a model whose last answer from Docker is older
// than the stale bound is stale, whatever the socket says. A socket that closes (a server restart,
// an upgrade) is reconnected quietly: the page says it is not live only once nothing has come for
// longer than the bound. A server that serves other page scripts than this page's reloads it.
//
// The server closes a socket on purpose with a code (dashboard/live/protocol.py), after an `error`
// frame that says why: 4401 (signed out, password changed, session over) and 4403 (no longer
// allowed: deactivated, another role, a revoked kiosk token) end the page's connection for good: it
// says why, with a link to sign in again or reload, and stops reconnecting. 4408 (the page read too
// slowly, a phone on a bad line) reconnects at once; 4429 (too many messages) after a pause. The
// server may `ping` a page that sends: it answers with a `pong` of the same id.

import { parseTime } from "./draw.js";

// --- the model, as the server sends it (dashboard/live/wire.py) -------------------------------------

/**
 * @typedef {object} Task
 * @property {string} id
 * @property {string} service_id
 * @property {string} node_id "" while unassigned
 * @property {number | null} slot null for a global service's task
 * @property {string} desired_state
 * @property {string} state Docker's Status.State, or "orphaned" for an active task on a down node
 * @property {string} docker_state Docker's Status.State, always
 * @property {boolean} orphaned
 * @property {string} message
 * @property {string} error
 * @property {number | null} exit_code
 * @property {string} container_id
 * @property {string} image
 * @property {string} created_at
 * @property {string} updated_at
 * @property {string} status_at when the task entered its state
 * @property {string} health "healthy" | "unhealthy" | "starting" | "" (from its node's agent)
 * @property {boolean} [oom_killed] its node's agent saw its container OOM-killed
 */

/**
 * @typedef {object} SwarmNode a node of the swarm
 * @property {string} id
 * @property {string} hostname
 * @property {string} role "manager" | "worker"
 * @property {string} state Docker's Status.State: "ready", "down", ...
 * @property {string} availability "active" | "pause" | "drain"
 * @property {boolean} leader
 * @property {number} cpus
 * @property {number} memory_bytes
 * @property {string} engine_version
 * @property {Record<string, string>} [labels] masked as every viewer sees them; none for a screen not shown labels
 * @property {boolean} [agent] a node agent of this node is connected
 */

/**
 * @typedef {object} Service
 * @property {string} id
 * @property {string} name
 * @property {string} stack
 * @property {string} mode "replicated" | "global" | ...
 * @property {number | null} replicas
 * @property {number | null} [desired_tasks]
 * @property {number} hue one of 36, from the name
 * @property {string} image
 * @property {Record<string, string>} labels
 * @property {string} update_state
 * @property {string} updated_at
 * @property {[number, number]} [reservations] what each task asks of its node: CPU cores, memory bytes
 */

/**
 * @typedef {object} Status the dashboard's connection to Docker
 * @property {string} state "live", "connecting", "reconnecting", ...
 * @property {string} since
 * @property {string} reason
 * @property {string} kind
 */

/**
 * @typedef {object} Model
 * @property {number} seq
 * @property {number | null} epoch which model the seq belongs to (a new leader's is another); null: none yet
 * @property {Status} status
 * @property {Map<string, SwarmNode>} nodes
 * @property {Map<string, Service>} services
 * @property {Map<string, Task>} tasks
 */

/**
 * What changed since the last frame: id -> the item as it was before (undefined: it is new).
 * @typedef {object} Changes
 * @property {boolean} full everything may have changed: render it all
 * @property {Omit<Model, "seq" | "epoch"> | null} previous the model a new snapshot replaced
 * @property {Status | null} status the status before, when it changed
 * @property {Map<string, SwarmNode | undefined>} nodes
 * @property {Map<string, Service | undefined>} services
 * @property {Map<string, Task | undefined>} tasks
 */

/**
 * How fresh the model is (see LiveSwarm.connection).
 * @typedef {object} Connection
 * @property {"connecting" | "resuming" | "reconnecting" | "stale" | "silent" | "live" | "ended"} state
 * @property {number} since ms
 * @property {string} reason
 * @property {boolean} [dockerLost]
 */

// the path the dashboard is served under ("/" unless behind a prefix)
export function basePath() { return document.body.dataset.base || "/"; }

// a websocket URL of the dashboard: path is relative to its base ("ws/swarm")
/** @param {string} path */
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${basePath()}${path}`;
}

const BACKOFF_FIRST = 500;
const BACKOFF_SOON = 1000; // the most between two tries while the model is still within the stale bound
const BACKOFF_MAX = 10000;
const DEFAULT_BOUND = 15000;
const DOCKER_SLACK = 2000; // a re-list's own time, and timers a busy page runs late
// a page that reloaded for a new version does not do it again this soon: a deploy whose pages and
// sockets disagree for good (two versions behind one balancer) must not reload screens in a loop
const RELOAD_GUARD = 10 * 60000;
const RELOADED_AT = "swarm-visualizer:version-reload";
const CONNECT_TIMEOUT = 10000; // a server that accepts the connection and never answers
const WATCH_EVERY = 1000;
// Renders are spaced so that they keep the main thread busy this share of the time at most: a
// frame that cost 2 ms (a small swarm) may be followed 40 ms later, one that cost 20 ms (a large
// grid under churn) 400 ms later. Patches meanwhile are batched into the next frame.
const FRAME_SHARE = 0.05;
const FRAME_GAP_MAX = 1000;

// close codes of dashboard/live/protocol.py
const CLOSE_BAD_REQUEST = 4400;
const CLOSE_SIGNED_OUT = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_TOO_SLOW = 4408;
const CLOSE_TOO_MANY = 4429;
/** @type {Record<number, string>} */
const ENDED_BECAUSE = {
  [CLOSE_SIGNED_OUT]: "You are signed out.",
  [CLOSE_FORBIDDEN]: "The dashboard no longer lets this page watch the swarm.",
  [CLOSE_BAD_REQUEST]: "The page's address asks for something the dashboard cannot show.",
};

/**
 * The connection ended for good (4400, 4401, 4403): say why on the page, with a link to go on.
 * @param {number} code
 * @param {string} reason the server's own words, or ""
 */
function showEnded(code, reason) {
  let box = document.getElementById("socket-ended");
  if (!box) {
    box = document.createElement("div");
    box.id = "socket-ended";
    box.className = "socket-ended";
    box.setAttribute("role", "alert");
    document.body.prepend(box);
  }
  // the page itself: it sends a browser that is signed out to the sign-in form and back here, and
  // shows one still signed in (another tab changed the password and kept its session) at once
  const link = document.createElement("a");
  link.href = location.pathname + location.search;
  link.textContent = code === CLOSE_SIGNED_OUT ? "Sign in again" : "Reload the page";
  const text = reason ? `${reason.charAt(0).toUpperCase()}${reason.slice(1)}.` : ENDED_BECAUSE[code];
  box.dataset.code = String(code);
  box.replaceChildren(`${text} This page no longer follows the swarm. `, link);
}

/**
 * A packed model's tasks: by column (``task_fields`` and one list of values per field, what the
 * server sends: alike values together compress far better) or, when their shapes differ, as rows.
 * @param {{tasks?: any[], task_fields?: string[], task_columns?: any[][]}} body
 * @returns {any[]}
 */
export function packedTasks(body) {
  const fields = body.task_fields;
  const columns = body.task_columns;
  if (!Array.isArray(fields) || !Array.isArray(columns)) return body.tasks ?? [];
  const count = columns.length ? columns[0].length : 0;
  const tasks = new Array(count);
  for (let i = 0; i < count; i++) {
    /** @type {Record<string, any>} */
    const task = {};
    for (let f = 0; f < fields.length; f++) task[fields[f]] = columns[f][i];
    tasks[i] = task;
  }
  return tasks;
}

// Per service: the tasks really running on live nodes and the tasks desired, as the server's
// state.counts (Docker's own count would include tasks on a dead node). Kept up to date from each
// frame's changes, so a task change costs a few map updates, not a pass over every task.
export class Tally {
  /** @param {Iterable<Task>} tasks */
  constructor(tasks = []) {
    /** @type {Map<string, number>} service id -> its tasks running */
    this.running = new Map();
    /** @type {Map<string, number>} service id -> its tasks meant to run */
    this.desiredRunning = new Map();
    for (const t of tasks) this.add(t, 1);
  }

  /**
   * @param {Task} t
   * @param {1 | -1} sign
   */
  add(t, sign) {
    if (t.desired_state !== "running") return;
    this.desiredRunning.set(t.service_id, (this.desiredRunning.get(t.service_id) || 0) + sign);
    if (t.state === "running") this.running.set(t.service_id, (this.running.get(t.service_id) || 0) + sign);
  }

  // changed: task id -> the task before the frame (undefined: new); tasks: the model's tasks now.
  // Returns the ids of the services whose counts may have moved.
  /**
   * @param {Map<string, Task | undefined>} changed
   * @param {Map<string, Task>} tasks
   * @returns {Set<string>}
   */
  apply(changed, tasks) {
    const touched = new Set();
    for (const [id, before] of changed) {
      if (before) { this.add(before, -1); touched.add(before.service_id); }
      const now = tasks.get(id);
      if (now) { this.add(now, 1); touched.add(now.service_id); }
    }
    return touched;
  }

  // [running, desired (null: unbounded)]
  /**
   * @param {Service} s
   * @returns {[number, number | null]}
   */
  of(s) {
    const desired = s.mode === "replicated" ? s.replicas
      : s.mode === "global" ? this.desiredRunning.get(s.id) || 0 : s.desired_tasks;
    return [this.running.get(s.id) || 0, desired === undefined ? null : desired];
  }
}

// service id -> [running, desired] over the given tasks
/**
 * @param {Model} model
 * @param {Iterable<Service>} [services]
 * @param {Iterable<Task>} [tasks]
 */
export function serviceCounts(model, services = model.services.values(), tasks = model.tasks.values()) {
  const tally = new Tally(tasks);
  return new Map([...services].map((s) => [s.id, tally.of(s)]));
}

// --- resource use (the `usage` frames: dashboard/live/protocol.py) ---------------------------------

// a sample is kept until a newer one comes, and dropped once this many `every` old: its agent is gone
export const USAGE_KEPT_FOR = 3;
const USAGE_FRAMES_MAX = 512; // frames (parts of frames) kept at most, whatever the pace

/**
 * @param {unknown} sample
 * @param {number} size
 * @returns {sample is number[]}
 */
function validSample(sample, size) {
  if (!Array.isArray(sample) || sample.length !== size) return false;
  for (const v of sample) if (typeof v !== "number" || !(v >= 0)) return false;
  return true;
}

/**
 * The latest sample of each node and task, by the page's own clock (the server's may differ): a
 * sample is as old as the frame that brought it. A frame is kept as it came and read only for
 * what the page shows (a few hundred boxes), newest first: at 20,000 tasks a frame costs its
 * parsing and nothing per task. Listeners hear that samples changed once per animation frame at
 * most, however many frames (or parts of one) came meanwhile.
 */
export class UsageStore {
  /** @param {(run: () => void) => void} [later] how a notice waits (the next animation frame) */
  constructor(later = (run) => requestAnimationFrame(run)) {
    /** @type {{at: number, nodes: Record<string, unknown>, tasks: Record<string, unknown>}[]} oldest first */
    this.frames = [];
    this.everyMs = 0;
    this.later = later;
    /** @type {(() => void)[]} */
    this.listeners = [];
    this.dirty = false;
    this.noticeDue = false;
  }

  /** @param {() => void} fn */
  listen(fn) { this.listeners.push(fn); }

  /** @param {() => void} fn */
  unlisten(fn) { this.listeners = this.listeners.filter((f) => f !== fn); }

  // how long a sample counts (ms); nothing counts before the first frame says the pace
  keptFor() { return USAGE_KEPT_FOR * this.everyMs; }

  /**
   * A `usage` frame (or a part of one) that came at `now` (ms).
   * @param {{every?: unknown, nodes?: unknown, tasks?: unknown}} msg
   * @param {number} now
   */
  apply(msg, now) {
    if (typeof msg.every === "number" && msg.every > 0) this.everyMs = msg.every * 1000;
    const part = (/** @type {unknown} */ x) => (x && typeof x === "object" && !Array.isArray(x)
      ? /** @type {Record<string, unknown>} */ (x) : {});
    this.frames.push({ at: now, nodes: part(msg.nodes), tasks: part(msg.tasks) });
    if (this.frames.length > USAGE_FRAMES_MAX) this.frames.splice(0, this.frames.length - USAGE_FRAMES_MAX);
    this.dirty = true;
    this.notice();
  }

  /**
   * A node's latest sample, [cpu, cpus, memory, memory_total], while fresh.
   * @param {string} id
   * @param {number} [now]
   */
  node(id, now = Date.now()) { return this.latest("nodes", id, 4, now); }

  /**
   * A task's latest sample, [cpu, memory, memory_limit], while fresh.
   * @param {string} id
   * @param {number} [now]
   */
  task(id, now = Date.now()) { return this.latest("tasks", id, 3, now); }

  /**
   * @param {"nodes" | "tasks"} kind
   * @param {string} id
   * @param {number} size
   * @param {number} now
   * @returns {number[] | undefined}
   */
  latest(kind, id, size, now) {
    const bound = this.keptFor();
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const frame = this.frames[i];
      if (now - frame.at > bound) return undefined;
      if (!Object.hasOwn(frame[kind], id)) continue;
      const sample = frame[kind][id];
      return validSample(sample, size) ? sample : undefined;
    }
    return undefined;
  }

  // drops the frames too old to count (their agents have gone quiet); listeners hear of it
  /** @param {number} now */
  expire(now) {
    const bound = this.keptFor();
    let old = 0;
    while (old < this.frames.length && now - this.frames[old].at > bound) old += 1;
    if (!old) return;
    this.frames.splice(0, old);
    this.dirty = true;
    this.notice();
  }

  notice() {
    if (this.noticeDue || !this.dirty) return;
    this.noticeDue = true;
    this.later(() => {
      this.noticeDue = false;
      this.dirty = false;
      for (const fn of this.listeners) fn();
    });
  }
}

/** @returns {Changes} */
function emptyChanges() {
  return { full: false, previous: null, status: null, nodes: new Map(), services: new Map(), tasks: new Map() };
}

// what changed since the last frame: id -> the item as it was before (undefined: it is new)
/**
 * @template {{id: string}} T
 * @param {Map<string, T | undefined>} changed
 * @param {Map<string, T>} map
 * @param {{upsert: T[], removed: string[]}} part
 */
function record(changed, map, part) {
  for (const id of part.removed) {
    if (!changed.has(id)) changed.set(id, map.get(id));
    map.delete(id);
  }
  for (const item of part.upsert) {
    if (!changed.has(item.id)) changed.set(item.id, map.get(item.id));
    map.set(item.id, item);
  }
}

export class LiveSwarm {
  // initial: {seq, status} the server rendered the page from (optional)
  // staleMs: the stale bound - no frame for this long, or no answer from Docker for this long
  //   (never less than the server's own pace of asking it), and the page is not live
  // heartbeatSeconds: the server's heartbeat period, until a heartbeat says it
  /**
   * @param {object} [options]
   * @param {{seq: number, status: Status} | null} [options.initial]
   * @param {number | null} [options.staleMs]
   * @param {number | null} [options.heartbeatSeconds]
   * @param {(changes: Changes) => void} [options.onFrame]
   * @param {() => void} [options.onConnection]
   * @param {Record<string, string>} [options.socketParams] for the socket's URL: a wall's filter, which the server applies
   */
  constructor({ initial = null, staleMs = null, heartbeatSeconds = null, onFrame = () => {},
    onConnection = () => {}, socketParams = {} } = {}) {
    this.socketParams = socketParams;
    /** @type {Model} */
    this.model = {
      seq: initial ? initial.seq : 0,
      epoch: null,
      status: initial ? initial.status : { state: "connecting", since: "", reason: "", kind: "" },
      nodes: new Map(),
      services: new Map(),
      tasks: new Map(),
    };
    this.staleMs = staleMs;
    this.onFrame = onFrame;
    this.onConnection = onConnection;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.openedAt = 0;
    this.backoff = BACKOFF_FIRST;
    /** @type {number | null} */
    this.disconnectedAt = null;
    /** @type {number | null} */
    this.lastHeardAt = null; // Date.now() of the last frame from the server, or of the socket's opening
    /** @type {number | null} */
    this.lastDataAt = null; // Date.now() of the last frame from the server
    this.heartbeatMs = heartbeatSeconds ? heartbeatSeconds * 1000 : null;
    /** @type {number | null} */
    this.dockerHeardAt = null; // Date.now() when Docker last answered the dashboard, as far as we know
    /** @type {number | null} */
    this.dockerEveryMs = null; // how often a healthy dashboard hears from Docker
    this.refused = false; // the server closed the socket on purpose (4xxx: signed out, token revoked)
    /** @type {number | null} */
    this.lastCloseCode = null;
    /** @type {{code: number, reason: string, at: number} | null} */
    this.ended = null; // closed for good (4401, 4403): no more reconnecting
    this.lastError = ""; // what the server's last error frame said
    this.version = document.body.dataset.version || null; // of the scripts this page runs
    this.warnedVersion = false;
    /** @type {string | null} */
    this.serverVersion = null; // of the scripts the server serves, as its last model said
    /** @type {number | null} */
    this.behindSeq = null; // a heartbeat's seq the model had not reached
    /** @type {any} */
    this.pending = null; // a snapshot being assembled from its chunks (the snapshot message, and when it arrived)
    /** @type {{header: any, parts: Blob[]} | null} */
    this.packing = null; // a packed model's header, and the binary parts received of it so far
    /** @type {Promise<void> | null} */
    this.unpacking = null; // a packed model being inflated: what arrives meanwhile waits in `held`
    /** @type {MessageEvent[]} */
    this.held = [];
    this.awaitingSnapshot = true;
    this.installed = false;
    /** @type {any[]} */
    this.queue = []; // patch messages, in seq order
    this.changes = emptyChanges();
    // a frame to come waits on: null (none asked for), "probe" (the last frame's cost), "timer"
    // (the gap that cost sets) or "frame" (the next animation frame)
    /** @type {null | "probe" | "timer" | "frame"} */
    this.waiting = null;
    this.nextFrameAt = 0; // performance.now() before which no frame is rendered
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.frameTimer = undefined;
    // a message posted at the start of a frame is handled after that frame's style, layout and
    // paint: what the frame cost in all sets how long until the next one
    this.frameStart = 0;
    this.costProbe = new MessageChannel();
    this.probing = false; // a frame's cost is not known yet
    this.costProbe.port1.onmessage = () => {
      const cost = performance.now() - this.frameStart;
      this.nextFrameAt = this.frameStart + Math.min(FRAME_GAP_MAX, cost / FRAME_SHARE);
      this.probing = false;
      if (this.waiting === "probe") {
        this.waiting = null;
        this.schedule();
      }
    };
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retry = null;
    // resource use from the node agents, beside the model (never a patch)
    this.usage = new UsageStore((run) => {
      if (document.visibilityState === "hidden") setTimeout(run, 250); else requestAnimationFrame(run);
    });
    window.swarmReady = false;
    window.swarm = this.model;
    window.swarmUsage = this.usage;
  }

  start() {
    this.connect();
    setInterval(() => this.watch(), WATCH_EVERY);
    document.addEventListener("visibilitychange", () => {
      // an animation frame asked for just before the page was hidden never comes
      if (document.visibilityState === "hidden" && this.waiting === "frame") this.waiting = null;
      if (this.queue.length || this.changes.full) this.schedule();
    });
  }

  // render everything again on the next frame
  refresh() {
    this.changes.full = true;
    this.schedule();
  }

  // how fresh the model is: {state, since (ms), reason, dockerLost}; state is one of
  //   connecting    no model yet
  //   resuming      the socket is down or the model is being sent again, and the model is still
  //                 within the stale bound: no alarm (a restart of the server, a resync)
  //   reconnecting  the socket has been down for longer than the bound, or the server refused it
  //   stale         Docker lost: the dashboard says so, or Docker's last answer is older than the bound
  //   silent        the socket is open but nothing has come on it for longer than the bound
  //   live
  /** @returns {Connection} */
  connection(now = Date.now()) {
    if (this.ended) {
      return { state: "ended", since: this.lastDataAt || this.ended.at,
        reason: this.lastError || ENDED_BECAUSE[this.ended.code] };
    }
    if (!this.installed) return { state: "connecting", since: this.disconnectedAt || now, reason: "" };
    const open = this.socket !== null && this.socket.readyState === WebSocket.OPEN;
    const down = !open || this.awaitingSnapshot;
    const heard = this.lastDataAt || this.disconnectedAt || now;
    const quiet = now - heard;
    if (this.refused || (down && quiet > this.bound())) {
      return { state: "reconnecting", since: heard,
        reason: "The connection to the dashboard is down; what you see may be out of date." };
    }
    if (quiet > this.bound()) {
      return { state: "silent", since: heard,
        reason: "Nothing has come from the dashboard for too long; what you see may be out of date." };
    }
    if (this.model.status.state !== "live") return this.dockerStale(now);
    // the server is away for now (its socket closed, or quiet and about to be replaced): Docker's
    // age is not known meanwhile, and the model is still within the bound
    if (down || quiet > this.silentLimit()) return { state: "resuming", since: heard, reason: "" };
    const dockerAt = this.dockerHeardAt;
    if (dockerAt !== null && now - dockerAt > this.dockerBound()) {
      return { state: "stale", since: dockerAt, dockerLost: true,
        reason: "Docker has stopped answering the dashboard; what you see may be out of date." };
    }
    return { state: "live", since: heard, reason: "" };
  }

  // the dashboard itself says it has lost Docker
  /**
   * @param {number} now
   * @returns {Connection}
   */
  dockerStale(now) {
    const since = parseTime(this.model.status.since);
    return { state: "stale", since: Number.isNaN(since) ? now : since, dockerLost: true,
      reason: this.model.status.reason || "The dashboard has lost Docker; what you see may be out of date." };
  }

  // no data for longer than this, and the page says it is not live
  bound() {
    if (this.staleMs !== null) return this.staleMs;
    return this.heartbeatMs !== null ? 3 * this.heartbeatMs : DEFAULT_BOUND;
  }

  // an open socket quiet for this long is replaced: before the bound, so that a new one may
  // bring data in time (a heartbeat comes after every few quiet seconds)
  silentLimit() {
    const bound = this.bound();
    return this.heartbeatMs !== null ? Math.min(bound, 2.5 * this.heartbeatMs) : bound;
  }

  // Docker's last answer may be this old before the model is stale. On an idle swarm the server
  // hears from Docker only every dockerEvery, and the page learns of it at the next heartbeat.
  dockerBound() {
    const pace = this.dockerEveryMs === null ? 0 : this.dockerEveryMs + (this.heartbeatMs || 0) + DOCKER_SLACK;
    return Math.max(this.bound(), pace);
  }

  // the server says Docker answered it `age` seconds before this frame left (null: never)
  /**
   * @param {number | null | undefined} age seconds
   * @param {number} arrivedAt Date.now() when the frame came
   */
  heardFromDocker(age, arrivedAt) {
    if (age === null || age === undefined) return;
    const at = arrivedAt - age * 1000;
    if (this.dockerHeardAt === null || at > this.dockerHeardAt) this.dockerHeardAt = at;
  }

  // --- the socket --------------------------------------------------------------------------------

  connect() {
    this.retry = null;
    if (this.ended) return;
    // a kiosk screen's token is in its session cookie, never in this URL (proxies log it)
    // pack=1: the model comes compressed (once per model on the server, for every page), a
    // seventh of its JSON on the wire
    const query = new URLSearchParams({ ...this.socketParams, heartbeat: "1", pack: "1" });
    const ws = new WebSocket(socketUrl(`ws/swarm?${query}`));
    this.socket = ws;
    this.openedAt = Date.now();
    ws.addEventListener("message", (event) => { if (ws === this.socket) this.onMessage(event); });
    ws.addEventListener("open", () => {
      if (ws !== this.socket) return;
      this.lastError = "";
      this.lastHeardAt = Date.now();
      this.onConnection();
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.socket) return;
      this.lastCloseCode = event.code;
      // 4xxx: the server turned this page away (signed out, kiosk token revoked): say so at once,
      // until a model comes again (a retry is refused with a failed handshake: 1006). Anything
      // else (1006 from a daphne that stops, 1000, 1001, 1012) is worth a quiet retry.
      if (event.code === CLOSE_SIGNED_OUT || event.code === CLOSE_FORBIDDEN || event.code === CLOSE_BAD_REQUEST) {
        this.end(event.code);
        return;
      }
      if (event.code === CLOSE_TOO_SLOW) {
        // not the page's fault (a slow line): a new socket and a fresh model, at once
        this.backoff = 0;
      } else if (event.code === CLOSE_TOO_MANY) {
        this.refused = true;
        this.backoff = BACKOFF_MAX;
      } else if (event.code >= 4000 && event.code < 5000) this.refused = true;
      this.dropped();
    });
  }

  // closed for good: no reconnecting; the model stays on show, marked as no longer followed
  /** @param {number} code */
  end(code) {
    this.ended = { code, reason: this.lastError, at: Date.now() };
    this.socket = null;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    showEnded(code, this.lastError);
    document.body.dataset.ended = String(code);
    this.onConnection();
  }

  // the socket is gone (closed, or given up on): keep the model, mark it stale, try again
  dropped() {
    const ws = this.socket;
    this.socket = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      try { ws.close(); } catch { /* already closing */ }
    }
    if (this.disconnectedAt === null) this.disconnectedAt = this.lastDataAt || Date.now();
    this.awaitingSnapshot = true;
    this.pending = null;
    this.packing = null;
    this.held.length = 0;
    this.queue.length = 0;
    this.behindSeq = null;
    this.onConnection();
    // while the model is within the bound, a restarted server must find the page back in time
    const soon = !this.refused && Date.now() - this.disconnectedAt < this.bound();
    const cap = soon ? BACKOFF_SOON : BACKOFF_MAX;
    const wait = Math.min(this.backoff, cap);
    this.backoff = Math.min(Math.max(this.backoff * 2, BACKOFF_FIRST), cap);
    if (this.retry === null) this.retry = setTimeout(() => this.connect(), wait + Math.random() * 250);
  }

  // a half-open connection (a network drop, a frozen server) never closes by itself
  watch() {
    const ws = this.socket;
    const now = Date.now();
    if (ws && ws.readyState === WebSocket.CONNECTING && now - this.openedAt > CONNECT_TIMEOUT) this.dropped();
    else if (ws && ws.readyState === WebSocket.OPEN) {
      if (this.lastHeardAt !== null && now - this.lastHeardAt > this.silentLimit()) this.dropped();
    }
    this.usage.expire(now);
    // a reload that waited for the guard to pass
    if (this.serverVersion !== null && this.outdated(this.serverVersion)) return;
    this.onConnection();
  }

  resync() {
    this.awaitingSnapshot = true;
    this.queue.length = 0;
    this.behindSeq = null;
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "resync" }));
  }

  /** @param {MessageEvent} event */
  onMessage(event) {
    const now = Date.now();
    this.lastHeardAt = this.lastDataAt = now;
    if (this.unpacking) { this.held.push(event); return; } // after the model being inflated, in order
    if (typeof event.data !== "string") { this.packedPart(event.data); return; }
    let msg;
    try { msg = JSON.parse(event.data); } catch { return; }
    switch (msg.type) {
      case "snapshot":
        if (typeof msg.packed === "number" && msg.packed > 0) {
          this.packing = { header: { ...msg, arrivedAt: now }, parts: [] };
          break;
        }
        this.pending = { ...msg, nodes: [...msg.nodes], services: [...msg.services], tasks: [...msg.tasks],
          arrivedAt: now };
        if (!msg.more) this.install();
        break;
      case "tasks":
        if (!this.pending || this.pending.seq !== msg.seq || this.pending.epoch !== msg.epoch) break;
        for (const kind of ["nodes", "services", "tasks"]) for (const x of msg[kind] || []) this.pending[kind].push(x);
        if (!msg.more) this.install();
        break;
      case "patch":
        if (!this.awaitingSnapshot) {
          // the watcher publishes a patch right after Docker answered it (or with a status that is not live)
          this.heardFromDocker(0, now);
          this.queue.push(msg);
          this.schedule();
        }
        break;
      case "heartbeat":
        this.heartbeat(msg, now);
        break;
      case "usage":
        this.usage.apply(msg, now);
        break;
      case "error":
        this.lastError = String(msg.error || "");
        console.warn("swarm socket:", msg.error);
        break;
      case "ping": // the server asks whether this page still reads what it sends
        if (this.socket && this.socket.readyState === WebSocket.OPEN) {
          this.socket.send(JSON.stringify({ type: "pong", id: msg.id }));
        }
        break;
      default:
        break;
    }
  }

  // a heartbeat may overtake a patch still in flight: ahead once is normal, ahead twice is a gap
  /**
   * @param {{seq: number, epoch: number, every: number, docker_age: number | null}} msg
   * @param {number} arrivedAt
   */
  heartbeat(msg, arrivedAt) {
    this.heartbeatMs = msg.every * 1000;
    this.heardFromDocker(msg.docker_age, arrivedAt);
    if (this.awaitingSnapshot) return;
    // the server holds another model than this page's (a new leader's): a heartbeat carries no
    // patch to wait for, so the page asks for the model now
    if (msg.epoch !== this.model.epoch) { this.resync(); return; }
    const have = this.queue.length ? this.queue[this.queue.length - 1].seq : this.model.seq;
    if (msg.seq <= have) { this.behindSeq = null; return; }
    if (this.behindSeq !== null && this.model.seq < this.behindSeq) { this.resync(); return; }
    this.behindSeq = msg.seq;
  }

  /**
   * One binary part of a packed model; the last one starts its inflating.
   * @param {Blob} part
   */
  packedPart(part) {
    const packing = this.packing;
    if (!packing) return; // a part of a model given up on (a reconnect)
    packing.parts.push(part);
    if (packing.parts.length < packing.header.packed) return;
    this.packing = null;
    this.unpacking = this.unpack(packing.header, packing.parts);
  }

  /**
   * Inflate a packed model (zlib) and install it; then what arrived meanwhile, in order.
   * @param {any} header the snapshot message that announced it
   * @param {Blob[]} parts
   */
  async unpack(header, parts) {
    try {
      const stream = new Blob(parts).stream().pipeThrough(new DecompressionStream("deflate"));
      const body = JSON.parse(await new Response(stream).text());
      this.pending = { ...header, nodes: body.nodes, services: body.services, tasks: packedTasks(body) };
      this.install();
    } catch (error) {
      console.warn("swarm: a packed model could not be read", error);
      this.resync();
    } finally {
      this.unpacking = null;
      for (const event of this.held.splice(0)) this.onMessage(event);
    }
  }

  install() {
    const snap = this.pending;
    this.pending = null;
    if (this.outdated(snap.version)) return;
    this.heardFromDocker(snap.docker_age, snap.arrivedAt);
    if (typeof snap.docker_every === "number") this.dockerEveryMs = snap.docker_every * 1000;
    const m = this.model;
    if (this.installed) {
      this.changes.previous = { status: m.status, nodes: m.nodes, services: m.services, tasks: m.tasks };
    }
    m.seq = snap.seq;
    m.epoch = snap.epoch;
    // patches of the model this one replaces (an old epoch's last ones) would only cost a resync
    const kept = this.queue.filter((p) => p.epoch === snap.epoch);
    this.queue.length = 0;
    this.queue.push(...kept);
    m.status = snap.status;
    m.nodes = new Map(snap.nodes.map((n) => [n.id, n]));
    m.services = new Map(snap.services.map((s) => [s.id, s]));
    m.tasks = new Map(snap.tasks.map((t) => [t.id, t]));
    this.installed = true;
    this.awaitingSnapshot = false;
    this.refused = false;
    this.disconnectedAt = null;
    this.behindSeq = null;
    this.backoff = BACKOFF_FIRST;
    this.changes.full = true;
    this.schedule({ soon: true });
  }

  // The server serves other page scripts than the ones running here (it was upgraded while this
  // page stayed open): reload, unless this page did so a short while ago. Returns whether it reloads.
  /** @param {string | null | undefined} version */
  outdated(version) {
    if (!this.version || !version) return false;
    if (version === this.version) { this.serverVersion = null; return false; }
    this.serverVersion = version;
    let last = 0;
    try { last = Number(sessionStorage.getItem(RELOADED_AT)) || 0; } catch { /* storage refused */ }
    const now = Date.now();
    if (now - last < RELOAD_GUARD) {
      if (!this.warnedVersion) console.warn(`swarm: the server's pages are ${version}, this one is ${this.version}`);
      this.warnedVersion = true;
      return false;
    }
    try { sessionStorage.setItem(RELOADED_AT, String(now)); } catch { return false; } // no guard, no reload
    this.serverVersion = null; // once
    location.reload();
    return true;
  }

  // --- frames ------------------------------------------------------------------------------------

  // soon: render on the next animation frame whatever the last one cost (the user is scrolling,
  // a new model arrived)
  schedule({ soon = false } = {}) {
    if (this.waiting === "frame" || (this.waiting && !soon)) return;
    clearTimeout(this.frameTimer);
    if (this.probing && !soon) { this.waiting = "probe"; return; }
    const wait = soon ? 0 : this.nextFrameAt - performance.now();
    // a hidden page gets no animation frames: patches must not pile up meanwhile
    const hidden = document.visibilityState === "hidden";
    if (wait > 0 || hidden) {
      this.waiting = "timer";
      this.frameTimer = setTimeout(() => this.paint(), hidden ? Math.max(250, wait) : wait);
    } else this.paint();
  }

  // the frame on the next animation frame, or now on a hidden page
  paint() {
    if (document.visibilityState === "hidden") { this.frame(); return; }
    this.waiting = "frame";
    requestAnimationFrame(() => { if (this.waiting === "frame") this.frame(); });
  }

  frame() {
    this.waiting = null;
    this.frameStart = performance.now();
    this.probing = true;
    this.costProbe.port2.postMessage(null);
    const m = this.model;
    const changes = this.changes;
    for (const p of this.queue.splice(0)) {
      // a patch of another model (a new leader's epoch, or the last of an old one): seqs of two
      // models say nothing of each other, so the page asks for the model, whatever the seq
      if (p.epoch !== m.epoch) { this.resync(); break; }
      if (p.seq <= m.seq) continue; // older than the model we hold
      if (p.base_seq !== m.seq) { this.resync(); break; }
      record(changes.nodes, m.nodes, p.nodes);
      record(changes.services, m.services, p.services);
      record(changes.tasks, m.tasks, p.tasks);
      if (p.status) {
        if (changes.status === null) changes.status = m.status;
        m.status = p.status;
      }
      m.seq = p.seq;
    }
    this.changes = emptyChanges();
    this.onFrame(changes);
    this.onConnection();
    document.body.dataset.seq = String(m.seq);
    if (this.installed && !this.awaitingSnapshot) window.swarmReady = true;
  }
}
