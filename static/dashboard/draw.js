// @ts-check
// What the grid and the wall both draw: the order of nodes and tasks, a task's text (service,
// slot, image, error), states with their icons and labels, ages, and the small DOM helpers that
// build it all. The server's first paint of the grid (dashboard/pages/render.py) draws the same. Every
// value reaches the page as text, never as markup.

/** @import { Model, Service, Status, SwarmNode, Task, UsageStore } from "./live.js" */

// --- states ----------------------------------------------------------------------------------------

/** @type {Readonly<Record<string, string>>} */
export const ICONS = {
  new: "+", allocated: "+", pending: "…", assigned: "→", accepted: "→", preparing: "↻", ready: "↻",
  starting: "↻", running: "▶", complete: "✔", shutdown: "■", failed: "✖", rejected: "⊘", remove: "■",
  orphaned: "?",
};
export const HIDDEN_WHEN_DONE = new Set(["shutdown", "complete", "remove"]);
export const FAILED = new Set(["failed", "rejected"]);

/** @param {string} state Docker's task state, or "orphaned" (the wire says so for a task on a down node) */
export function stateIcon(state) { return ICONS[state] || "·"; }

// where a word has the room, a task on a node that is down says so rather than "orphaned"
/** @param {string} state */
export function stateLabel(state) { return state === "orphaned" ? "node down" : state; }

// a task that needs someone's attention: it failed, or its node is down
/** @param {string} state */
export function alarming(state) { return FAILED.has(state) || state === "orphaned"; }

// the Docker side of a model that is not live: "lost" when the dashboard still calls it live
// (Docker has stopped answering), else the dashboard's own word for it
/** @param {Status} status */
export function dockerLoss(status) { return status.state === "live" ? "lost" : status.state; }

// --- time ------------------------------------------------------------------------------------------

// Docker's nanoseconds cut to what Date.parse reads; NaN for none
/** @param {string | null | undefined} text */
export function parseTime(text) { return text ? Date.parse(text.replace(/(\.\d{3})\d+/, "$1")) : NaN; }

/** @param {number} ms */
export function hhmmss(ms) { return new Date(ms).toTimeString().slice(0, 8); }

// a box's age, in the fewest characters: "42s", "3m", "5h", "2d"
/** @param {number} ms */
export function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// a duration read across a room: "42 s", "3 min", "5 h", "2 days"
/** @param {number} ms */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

// finished history is hidden; failures stay for the failed window so they are never missed
/**
 * @param {Task} t
 * @param {number} now
 * @param {number} failedWindowMs
 */
export function visible(t, now, failedWindowMs, showHistory = false) {
  if (showHistory) return true;
  if (HIDDEN_WHEN_DONE.has(t.state)) return false; // the wire already says "orphaned"
  if (FAILED.has(t.state)) {
    const since = parseTime(t.status_at);
    return Number.isNaN(since) || now - since <= failedWindowMs;
  }
  return true;
}

// --- order -----------------------------------------------------------------------------------------

/**
 * @param {string} a
 * @param {string} b
 */
export function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

// managers first, then by host name
/**
 * @param {SwarmNode} a
 * @param {SwarmNode} b
 */
export function nodeOrder(a, b) {
  return Number(a.role !== "manager") - Number(b.role !== "manager") || cmp(a.hostname, b.hostname) || cmp(a.id, b.id);
}

// by stack, then by name
/**
 * @param {Service} a
 * @param {Service} b
 */
export function serviceOrder(a, b) { return cmp(a.stack, b.stack) || cmp(a.name, b.name); }

// A task's place among its node's tasks: by service name, slot, creation, id (as render.py's
// task_sort_key), as one string that compares with < (the slot padded).
/**
 * @param {Task} t
 * @param {Map<string, Service>} services
 */
export function taskKey(t, services) {
  const svc = services.get(t.service_id);
  return `${svc ? svc.name : ""}\u0001${String(t.slot || 0).padStart(9, "0")}\u0001${t.created_at}\u0001${t.id}`;
}

// --- a task's text ---------------------------------------------------------------------------------

/**
 * @param {Task} t
 * @param {Service | undefined} svc its service (a service may arrive after its first tasks)
 */
export function serviceName(t, svc) { return svc ? svc.name : t.service_id.slice(0, 12); }

// where room is short a stack's services drop the stack's prefix: "shop_api" -> "api" (its hue stays)
/**
 * @param {Task} t
 * @param {Service | undefined} svc
 */
export function shortServiceName(t, svc) {
  const name = serviceName(t, svc);
  return svc && svc.stack && name.startsWith(`${svc.stack}_`) ? name.slice(svc.stack.length + 1) : name;
}

// ".3"; "" for a global service's task
/** @param {Task} t */
export function slotText(t) { return t.slot !== null && t.slot !== undefined ? `.${t.slot}` : ""; }

// A container its node's kernel killed for memory is said so: Docker's own error is then only an
// exit code (as render.py's error_text)
/** @param {Task} t */
export function errorText(t) {
  if (t.oom_killed && !ACTIVE.has(t.state)) return "OOM killed";
  return t.error || (t.exit_code ? `exit ${t.exit_code}` : "");
}
const ACTIVE = new Set(["new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"]);

// --- health and resource use (from the node agents) ---------------------------------------------

// a container's health as a mark that reads without colour: its shape, and its name for a screen
// reader (as render.py's HEALTH_MARKS); none when no healthcheck or no agent says it
/** @type {Readonly<Record<string, string>>} */
export const HEALTH = { healthy: "♥", unhealthy: "⚠", starting: "◔" };

/** @param {string | undefined} health */
export function healthMark(health) {
  const mark = health ? HEALTH[health] : undefined;
  if (!mark) return null;
  return el("span", { class: `hm hm-${health}`, role: "img", "aria-label": `health: ${health}`, title: `health: ${health}` },
    mark);
}

// a bar's fill, 0..1, of value out of capacity: none for an unknown capacity, full when over it
/**
 * @param {number} value
 * @param {number} capacity
 */
export function barScale(value, capacity) {
  if (!(capacity > 0) || !(value > 0)) return 0;
  return Math.min(1, value / capacity);
}

// "0.25" cores; "512 MiB", "1.5 GiB"
/** @param {number} cores */
export function coresText(cores) { return cores >= 10 ? cores.toFixed(0) : cores >= 1 ? cores.toFixed(1) : cores.toFixed(2); }

/** @param {number} bytes */
export function bytesText(bytes) {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${Math.round(bytes / 2 ** 20)} MiB`;
  return `${Math.round(bytes / 2 ** 10)} KiB`;
}

/**
 * A task's CPU and memory bars: cpu against the cores of its node, memory against its own limit
 * or else its node's memory. Sizes go through the CSSOM (the pages' CSP allows no inline style).
 * @param {HTMLElement} holder the element that holds the bars (made empty when there is no sample)
 * @param {number[] | undefined} sample [cpu, memory, memory_limit]
 * @param {number} nodeCpus
 * @param {number} nodeMemory
 */
export function taskBars(holder, sample, nodeCpus, nodeMemory) {
  if (!sample) {
    if (holder.firstChild) holder.replaceChildren();
    holder.hidden = true;
    return;
  }
  const [cpu, memory, limit] = sample;
  const memCap = limit > 0 ? limit : nodeMemory;
  if (!holder.firstChild) holder.append(el("span", { class: "ubar cpu" }, el("span")), el("span", { class: "ubar mem" }, el("span")));
  holder.hidden = false;
  fill(/** @type {HTMLElement} */ (holder.firstChild?.firstChild), barScale(cpu, nodeCpus));
  fill(/** @type {HTMLElement} */ (holder.lastChild?.firstChild), barScale(memory, memCap));
  const title = `cpu ${coresText(cpu)}${nodeCpus ? ` of ${nodeCpus} cores` : " cores"} · memory ${bytesText(memory)}`
    + (limit > 0 ? ` of its ${bytesText(limit)} limit` : nodeMemory ? ` of ${bytesText(nodeMemory)}` : "");
  if (holder.title !== title) holder.title = title;
}

/**
 * A task box's bars from the latest samples of the task and its node (the node's capacity scales them).
 * @param {HTMLElement} holder
 * @param {Task} t
 * @param {Model} model
 * @param {UsageStore} usage
 */
export function boxBars(holder, t, model, usage) {
  const n = model.nodes.get(t.node_id);
  const node = n ? usage.node(n.id) : undefined;
  taskBars(holder, usage.task(t.id), node ? node[1] : n?.cpus || 0, node ? node[3] : n?.memory_bytes || 0);
  return holder;
}

/**
 * A node's bars (its grid column's header, its wall tile): what its running tasks among `tasks`
 * reserve by their services, what its agent says they use, what the node has.
 * @param {HTMLElement} holder
 * @param {SwarmNode} n
 * @param {Iterable<Task>} tasks the node's tasks on the page
 * @param {Model} model
 * @param {UsageStore} usage
 */
export function nodeBarsOf(holder, n, tasks, model, usage) {
  /** @type {[number, number]} */
  const requested = [0, 0];
  for (const t of tasks) {
    if (t.state !== "running") continue;
    const asks = model.services.get(t.service_id)?.reservations;
    if (asks) { requested[0] += asks[0]; requested[1] += asks[1]; }
  }
  nodeBars(holder, { requested, used: usage.node(n.id), cpus: n.cpus, memory: n.memory_bytes });
}

/**
 * @param {HTMLElement} bar
 * @param {number} scale 0..1
 */
function fill(bar, scale) {
  const width = `${(scale * 100).toFixed(1)}%`;
  if (bar.style.width !== width) bar.style.width = width;
}

/**
 * A node's bars, one per resource: what its running tasks reserve (a tick), what they use (the
 * fill, from its agent), out of what it has. Each bar says it in words too.
 * @param {HTMLElement} holder
 * @param {{requested: [number, number], used: number[] | undefined, cpus: number, memory: number}} u
 *   used: its agent's sample [cpu, cpus, memory, memory_total], undefined when none is fresh
 */
export function nodeBars(holder, { requested, used, cpus, memory }) {
  const capCpu = used && used[1] > 0 ? used[1] : cpus;
  const capMem = used && used[3] > 0 ? used[3] : memory;
  const show = Boolean(used) || requested[0] > 0 || requested[1] > 0;
  holder.hidden = !show;
  if (!show) { if (holder.firstChild) holder.replaceChildren(); return; }
  /** @type {[string, number | undefined, number, number, (v: number) => string][]} */
  const rows = [
    ["cpu", used && used[0], requested[0], capCpu, coresText],
    ["mem", used && used[2], requested[1], capMem, bytesText],
  ];
  if (holder.children.length !== rows.length) {
    holder.replaceChildren(...rows.map(([key]) => el("div", { class: `nu nu-${key}` }, el("span", { class: "nu-k" }, key),
      el("span", { class: "nbar", "aria-hidden": "true" }, el("span", { class: "used" }), el("span", { class: "req" })),
      el("span", { class: "nu-v" }))));
  }
  rows.forEach(([key, value, req, cap, text], i) => {
    const row = /** @type {HTMLElement} */ (holder.children[i]);
    const bar = /** @type {HTMLElement} */ (row.children[1]);
    fill(/** @type {HTMLElement} */ (bar.children[0]), value === undefined ? 0 : barScale(value, cap));
    const tick = /** @type {HTMLElement} */ (bar.children[1]);
    const left = `${(barScale(req, cap) * 100).toFixed(1)}%`;
    if (tick.style.left !== left) tick.style.left = left;
    tick.hidden = !(req > 0);
    const words = `${value === undefined ? "–" : text(value)}/${cap ? text(cap) : "?"}${req > 0 ? ` · req ${text(req)}` : ""}`;
    const out = /** @type {HTMLElement} */ (row.children[2]);
    if (out.textContent !== words) out.textContent = words;
    const title = `${key === "cpu" ? "CPU cores" : "memory"}: ${value === undefined ? "no sample" : text(value)} used`
      + ` of ${cap ? text(cap) : "?"}, ${text(req)} requested by its running tasks`;
    if (row.title !== title) row.title = title;
  });
}

// "registry:5000/team/web:1.25" -> "1.25"; an image without a tag -> "latest" (as render.py's image_tag)
/** @param {string} image */
export function imageTag(image) {
  const last = image.split("/").pop() || "";
  const i = last.indexOf(":");
  return i >= 0 ? last.slice(i + 1) : "latest";
}

// "registry:5000/team/web:1.25@sha256:…" -> "registry:5000/team/web:1.25"
/** @param {string} image */
export function imageRef(image) { return image.split("@")[0]; }

// "registry:5000/team/web:1.2" -> "web:1.2"
/** @param {string | null | undefined} image */
export function imageName(image) { return (image || "?").split("/").pop() || ""; }

// the attributes every task element carries, whatever its size: the testability contract's
// data-task-id, data-state, data-desired-state and data-service-id, and the classes of its
// state's colour and its service's hue
/**
 * @param {Task} t
 * @param {Service | undefined} svc
 * @param {string} cls the element's own classes
 * @returns {Record<string, string>}
 */
export function taskAttrs(t, svc, cls) {
  return {
    class: `${cls} st-${t.state} h-${svc ? svc.hue : 0}`,
    "data-task-id": t.id, "data-service-id": t.service_id, "data-node-id": t.node_id,
    "data-state": t.state, "data-desired-state": t.desired_state,
  };
}

// --- the DOM ---------------------------------------------------------------------------------------

/**
 * An element with attributes (class: its className) and children (text or elements; null and
 * undefined are left out).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string> | null} [attrs]
 * @param {...(Node | string | null | undefined)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// an element the page's template always has: its absence is a bug to hear of at once
/** @param {string} id */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found;
}

// the element under root that its template always has
/**
 * @param {ParentNode} root
 * @param {string} selector
 * @returns {HTMLElement}
 */
export function find(root, selector) {
  const found = root.querySelector(selector);
  if (!(found instanceof HTMLElement)) throw new Error(`${selector} is missing from the page`);
  return found;
}

// the text of the element with that id, written only when it changed
/**
 * @param {string} id
 * @param {string | number} text
 */
export function setText(id, text) {
  const node = byId(id);
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

const SPARK_PAD = 2;

// A sparkline's points in a w x h box: x from `from` to `to` (unix seconds), y from 0 (bottom) to
// max (top), 2 units inside the box so that a line at either end shows; the samples outside the
// window are left out.
/**
 * @param {number[][]} samples [unix time, ...values], oldest first
 * @param {number} index which value
 * @param {{from: number, to: number, max: number, w: number, h: number}} box
 */
export function sparkPoints(samples, index, { from, to, max, w, h }) {
  const span = to - from;
  if (!(span > 0)) return "";
  const top = max > 0 ? max : 1;
  const points = [];
  for (const s of samples) {
    if (s[0] < from || s[0] > to) continue;
    const x = ((s[0] - from) / span) * w;
    const y = h - SPARK_PAD - Math.min(1, Math.max(0, s[index] / top)) * (h - 2 * SPARK_PAD);
    points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  return points.join(" ");
}
