// @ts-check
import { mountPanel } from "./task.js";
import { LiveSwarm, Tally, basePath } from "./live.js";
import {
  FAILED, age, byId, cmp, dockerLoss, el, errorText, find, hhmmss, imageRef, imageTag, nodeOrder, parseTime,
  serviceName, serviceOrder, setText, slotText, stateIcon, taskAttrs, taskKey, visible as visibleAt,
} from "./draw.js";
import { keyOf, keyed, setKey } from "./keyed.js";

/** @import { Changes, SwarmNode, Service, Task } from "./live.js" */

// The live grid. The server renders the first paint; live.js follows the websocket and calls
// render() once per animation frame with what changed, and this module touches only the boxes
// that changed. Every value reaches the page as text, never as markup.
//
// Every node has its column, but only the columns in view (and a screen's width either side) hold
// task boxes: a column is filled as it scrolls into view and emptied once it is far out of view.
// The server fills the first screen. At 500 nodes and 20,000 tasks the page keeps a few hundred
// boxes instead of 20,000, and a change off screen touches no element.

const initial = JSON.parse(byId("initial").textContent || "{}");
const failedWindowMs = initial.failedWindowMinutes * 60000;
const grid = byId("grid");
const historyToggle = /** @type {HTMLInputElement} */ (byId("history"));
const legendList = byId("services");

const live = new LiveSwarm({
  initial, heartbeatSeconds: initial.heartbeatSeconds, onFrame: render, onConnection: syncStatus,
});
const model = live.model;

/**
 * A node's column ("" for the tasks no node has taken).
 * @typedef {object} Column
 * @property {HTMLElement} sec
 * @property {HTMLElement} tasks the element holding its boxes
 * @property {string} look what its header shows ("": not drawn here yet)
 */

/** @type {Map<string, HTMLElement>} */
const boxes = new Map(); // task id -> its box on the page (in filled columns only)
for (const box of grid.querySelectorAll("[data-task-id]")) {
  if (!(box instanceof HTMLElement) || !box.dataset.taskId) continue;
  boxes.set(box.dataset.taskId, box);
  setKey(box, box.dataset.taskId);
}
/** @type {Map<string, Column>} */
const columns = new Map(); // node id -> its column
for (const sec of grid.querySelectorAll("section.node")) {
  if (!(sec instanceof HTMLElement) || sec.dataset.nodeId === undefined) continue;
  columns.set(sec.dataset.nodeId, { sec, tasks: find(sec, ".tasks"), look: "" });
  setKey(sec, sec.dataset.nodeId);
}
for (const item of legendList.querySelectorAll("li[data-service-id]")) {
  if (item instanceof HTMLElement && item.dataset.serviceId) setKey(item, item.dataset.serviceId);
}
const filled = new Set([""]); // the columns holding their boxes; unassigned always does
for (const sec of grid.querySelectorAll("section.node[data-filled='1']")) {
  if (sec instanceof HTMLElement && sec.dataset.nodeId) filled.add(sec.dataset.nodeId);
}
// scrolling or resizing may bring empty columns into view: fill them on the next frame
grid.addEventListener("scroll", () => live.schedule({ soon: true }), { passive: true });
window.addEventListener("resize", () => live.schedule({ soon: true }));
let tally = new Tally();
/** @type {string[]} */
let legendOrder = []; // service ids, in the legend's order
// a task's place in its column, kept with the task as the model holds it (a changed task is a new
// object): a change sorts only the tasks that changed. Made anew by every full render.
/** @type {WeakMap<Task, string>} */
let sortKeys = new WeakMap();

let showHistory = historyToggle.checked;

// --- rendering -----------------------------------------------------------------------------------

/**
 * @param {Task} t
 * @param {number} now
 */
function visible(t, now) { return visibleAt(t, now, failedWindowMs, showHistory); }

/** @param {Task} t */
function sortKey(t) {
  let key = sortKeys.get(t);
  if (key === undefined) {
    key = taskKey(t, model.services);
    sortKeys.set(t, key);
  }
  return key;
}

// what a box shows changes with these (the server's first paint writes the same data-v)
/** @param {Task} t */
function boxVersion(t) { return `${t.updated_at}${t.orphaned ? 1 : 0}`; }

/** @param {Task} t */
function taskBox(t) {
  const svc = model.services.get(t.service_id);
  const state = t.state; // the wire already says "orphaned"
  const name = serviceName(t, svc);
  const slot = slotText(t);
  const error = errorText(t);
  const title = `${name}${slot} · ${state}${error ? ` · ${error}` : ""}${t.message ? ` · ${t.message}` : ""}`;
  return el("div", {
    ...taskAttrs(t, svc, "task"), tabindex: "0", "data-since": t.status_at, "data-v": boxVersion(t), title,
  },
  el("span", { class: "svc" }, name), el("span", { class: "slot" }, slot),
  el("span", { class: "img", title: imageRef(t.image) }, `:${imageTag(t.image)}`),
  el("span", { class: "st" }, el("i", { "aria-hidden": "true" }, stateIcon(state)), ` ${state}`),
  el("span", { class: "age" }, age(Date.now() - parseTime(t.status_at))),
  error ? el("span", { class: "err", title: error }, "!") : null);
}

/** @param {SwarmNode} n */
function nodeHeader(n) {
  const badges = el("div", { class: "badges" }, el("span", { class: "badge role" }, n.role));
  if (n.leader) badges.append(el("span", { class: "badge leader", title: "swarm leader" }, "★ leader"));
  badges.append(el("span", { class: `badge state-${n.state}` }, n.state));
  if (n.availability !== "active") badges.append(el("span", { class: `badge avail-${n.availability}` }, n.availability));
  const memory = n.memory_bytes ? `${(n.memory_bytes / 2 ** 30).toFixed(1)} GiB` : "";
  const facts = [n.cpus ? `${n.cpus} CPU` : "", memory, n.engine_version].filter(Boolean).join(" · ");
  return el("header", {}, el("h2", { title: n.id }, n.hostname || n.id.slice(0, 12)), badges,
    el("div", { class: "facts" }, facts));
}

/** @param {string} nodeId */
function column(nodeId) {
  let col = columns.get(nodeId);
  if (!col) {
    const tasks = el("div", { class: "tasks" });
    const sec = el("section", { class: nodeId ? "node" : "node unassigned", "data-node-id": nodeId },
      nodeId ? el("header") : el("header", {}, el("h2", {}, "unassigned"),
        el("div", { class: "facts" }, "tasks no node has taken")),
      tasks);
    col = { sec, tasks, look: "" };
    columns.set(nodeId, col);
  }
  return col;
}

/** @param {Task} t */
function columnOf(t) { return model.nodes.has(t.node_id) ? t.node_id : ""; }

/** @param {SwarmNode} n */
function syncColumn(n) {
  const col = column(n.id);
  const look = [n.hostname, n.role, n.leader, n.state, n.availability, n.cpus, n.memory_bytes, n.engine_version].join("\u0001");
  if (col.look === look) return;
  col.look = look;
  col.sec.dataset.state = n.state;
  col.sec.dataset.availability = n.availability;
  col.sec.dataset.role = n.role;
  find(col.sec, "header").replaceWith(nodeHeader(n));
}

// changed: node id -> node before (null: every node). Returns whether a node came or went: a
// task then may belong to another column (its node's, or unassigned) without changing itself.
/** @param {Map<string, SwarmNode | undefined> | null} changed */
function syncColumns(changed) {
  let cameOrWent = false;
  for (const id of columns.keys()) {
    if (id && !model.nodes.has(id)) { // its section leaves the page below
      emptyColumn(id);
      columns.delete(id);
      cameOrWent = true;
    }
  }
  for (const id of changed ? changed.keys() : model.nodes.keys()) {
    const n = model.nodes.get(id);
    if (n && !columns.has(id)) cameOrWent = true;
    if (n) syncColumn(n);
  }
  const order = ["", ...[...model.nodes.values()].sort(nodeOrder).map((n) => n.id)];
  keyed(grid, order, { create: (id) => column(id).sec });
  return cameOrWent;
}

// the node columns within a screen's width of the view, either side (columns are laid out in
// page order, so a binary search finds the first one)
function columnsNearView() {
  const left = grid.scrollLeft - grid.clientWidth;
  const right = grid.scrollLeft + 2 * grid.clientWidth;
  const kids = /** @type {HTMLCollectionOf<HTMLElement>} */ (grid.children);
  let lo = 0;
  let hi = kids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (kids[mid].offsetLeft + kids[mid].offsetWidth < left) lo = mid + 1; else hi = mid;
  }
  const near = new Set();
  for (let i = lo; i < kids.length && kids[i].offsetLeft <= right; i += 1) {
    if (kids[i].dataset.nodeId) near.add(kids[i].dataset.nodeId);
  }
  return near;
}

// A filled column shows `tasks` (in column order). Only boxes of the tasks in `recheck` (null:
// all) may have changed: the others stay as they are.
/**
 * @param {string} id
 * @param {Task[]} tasks
 * @param {Set<string> | null} recheck
 */
function showTasks(id, tasks, recheck) {
  const container = column(id).tasks;
  keyed(container, tasks.map((t) => t.id), {
    create(_, i) {
      const t = tasks[i];
      const stray = boxes.get(t.id); // shown in a column it has left, which is not drawn again
      if (stray && stray.parentElement !== container) stray.remove();
      return remember(taskBox(t));
    },
    update(box, key, i) {
      if (recheck && !recheck.has(key)) return box;
      return box.dataset.v === boxVersion(tasks[i]) ? box : remember(taskBox(tasks[i]));
    },
    removed(box, key) { if (key !== undefined && boxes.get(key) === box) boxes.delete(key); },
  });
}

/** @param {HTMLElement} box */
function remember(box) {
  boxes.set(/** @type {string} */ (box.dataset.taskId), box);
  return box;
}

// the tasks in `ids` may have come, gone or changed: the filled columns they were shown in and
// the ones they belong to now are drawn again, each from its boxes and those tasks
/**
 * @param {Iterable<string>} ids
 * @param {number} now
 */
function syncTasks(ids, now) {
  /** @type {Map<string, Set<string>>} */
  const per = new Map(); // column id -> the tasks to look at again there
  /** @type {(col: string | undefined, id: string) => void} */
  const add = (col, id) => {
    if (col === undefined || !filled.has(col)) return;
    const set = per.get(col);
    if (set) set.add(id); else per.set(col, new Set([id]));
  };
  for (const id of ids) {
    const box = boxes.get(id);
    if (box) add(box.parentElement?.parentElement?.dataset.nodeId, id);
    const t = model.tasks.get(id);
    if (t) add(columnOf(t), id);
  }
  for (const [col, recheck] of per) {
    // the boxes left as they are, already in column order (a column is drawn in order, by keys
    // that stay with each task object until a full render makes them anew for every column)
    const tasks = [];
    for (const box of column(col).tasks.children) {
      const id = keyOf(box);
      const t = id === undefined || recheck.has(id) ? undefined : model.tasks.get(id);
      if (t) tasks.push(t);
    }
    for (const id of recheck) {
      const t = model.tasks.get(id);
      if (t && columnOf(t) === col && visible(t, now)) insertInOrder(tasks, t);
    }
    showTasks(col, tasks, recheck);
  }
}

/**
 * @param {Task[]} tasks in column order
 * @param {Task} t
 */
function insertInOrder(tasks, t) {
  const key = sortKey(t);
  let lo = 0;
  let hi = tasks.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sortKey(tasks[mid]) < key) lo = mid + 1; else hi = mid;
  }
  tasks.splice(lo, 0, t);
}

// the boxes of these columns from the model: one pass over the tasks for all of them
/**
 * @param {string[]} ids
 * @param {number} now
 */
function fillColumns(ids, now) {
  /** @type {Map<string, Task[]>} */
  const per = new Map(ids.map((id) => [id, []]));
  for (const t of model.tasks.values()) {
    const list = per.get(columnOf(t));
    if (list && visible(t, now)) list.push(t);
  }
  for (const [id, tasks] of per) {
    showTasks(id, tasks.sort((a, b) => cmp(sortKey(a), sortKey(b))), null);
    filled.add(id);
  }
}

/** @param {string} id */
function emptyColumn(id) {
  const col = columns.get(id);
  if (!col) return;
  for (const box of col.tasks.children) boxes.delete(/** @type {HTMLElement} */ (box).dataset.taskId || "");
  col.tasks.replaceChildren();
  filled.delete(id);
}

/** @param {Service} s */
function legendItem(s) {
  const [r, d] = tally.of(s);
  return el("li", { class: `svc-item h-${s.hue}${d !== null && r < d ? " short" : ""}`, "data-service-id": s.id,
    title: [s.image, ...Object.entries(s.labels).map(([k, v]) => `${k}=${v}`)].join("\n") },
  el("span", { class: "swatch" }), el("span", { class: "name" }, s.name), " ",
  el("span", { class: "count" }, `${r}/${d === null ? "∞" : d}`));
}

// the legend and the summary: only the services whose counts or specs moved are touched
// touched: the services whose counts may have moved (tally.apply; null: all of them)
/**
 * @param {Changes} changes
 * @param {Set<string> | null} touched
 */
function syncLegend(changes, touched) {
  if (changes.full || changes.services.size) {
    legendOrder = [...model.services.values()].sort(serviceOrder).map((s) => s.id);
  }
  const recheck = changes.full || !touched ? null : new Set([...touched, ...changes.services.keys()]);
  /** @type {(id: string) => Service} */
  const service = (id) => /** @type {Service} */ (model.services.get(id));
  keyed(legendList, legendOrder, {
    create: (id) => legendItem(service(id)),
    update(item, id) {
      if (recheck && !recheck.has(id)) return item;
      const fresh = legendItem(service(id));
      return item.isEqualNode(fresh) ? item : fresh;
    },
  });
  let sumRunning = 0;
  let sumDesired = 0;
  for (const s of model.services.values()) {
    const [r, d] = tally.of(s);
    sumRunning += r;
    sumDesired += d || 0;
  }
  setText("n-nodes", model.nodes.size);
  setText("n-services", model.services.size);
  setText("n-running", sumRunning);
  setText("n-desired", sumDesired);
}

function syncStatus() {
  const conn = byId("conn");
  const banner = byId("banner");
  const c = live.connection();
  let state = "live";
  let text = "live";
  if (c.state === "resuming") {
    // a restarting server: the model is still fresh enough to need no banner
    state = "reconnecting";
    text = "reconnecting…";
  } else if (c.state === "connecting" || c.state === "reconnecting") {
    state = "reconnecting";
    text = `reconnecting · stale since ${hhmmss(c.since)}`;
  } else if (c.state === "stale") {
    state = "stale";
    text = `Docker ${dockerLoss(model.status)} · stale since ${hhmmss(c.since)}`;
  } else if (c.state === "silent") {
    state = "stale";
    text = `no word from the dashboard since ${hhmmss(c.since)}`;
  } else if (c.state === "ended") {
    state = "stale";
    text = `disconnected · stale since ${hhmmss(c.since)}`; // live.js says why, with a link
  }
  if (conn.dataset.conn !== state) conn.dataset.conn = state;
  if (conn.textContent !== text) conn.textContent = text;
  if (document.body.dataset.conn !== c.state) document.body.dataset.conn = c.state;
  banner.hidden = state === "live" || c.state === "resuming" || c.state === "ended";
  if (banner.textContent !== c.reason) banner.textContent = c.reason;
}

// --- applying what changed -------------------------------------------------------------------------

/** @param {Changes} changes */
function render(changes) {
  if (!live.installed) return; // the server's first paint stays until the model is here
  const full = changes.full;
  const now = Date.now();
  // the counts first: they must follow every frame's changes, whatever happens to the DOM below
  if (full) {
    tally = new Tally(model.tasks.values());
    sortKeys = new WeakMap();
  }
  const touched = full ? null : tally.apply(changes.tasks, model.tasks);
  const moved = (full || changes.nodes.size > 0) && syncColumns(full ? null : changes.nodes);
  const near = columnsNearView();
  for (const id of [...filled]) if (id && !near.has(id)) emptyColumn(id);
  const toFill = [...near].filter((id) => !filled.has(id));
  if (full || moved) {
    fillColumns([...filled, ...toFill], now);
    if (full) tickAges(now);
  } else {
    syncTasks(changes.tasks.keys(), now);
    if (toFill.length) fillColumns(toFill, now);
  }
  if (openPanel && (full || changes.tasks.has(openPanel.taskId))) openPanel.refresh();
  if (full || changes.services.size || changes.tasks.size) syncLegend(changes, touched);
  if (changes.nodes.size) setText("n-nodes", model.nodes.size);
  const unassigned = column("");
  unassigned.sec.hidden = unassigned.tasks.children.length === 0;
}

historyToggle.addEventListener("change", () => {
  showHistory = historyToggle.checked;
  const url = new URL(location.href);
  if (showHistory) url.searchParams.set("history", "1"); else url.searchParams.delete("history");
  history.replaceState(null, "", url);
  live.refresh();
});

/** @param {number} now */
function tickAges(now) {
  for (const box of boxes.values()) {
    const span = box.querySelector(".age");
    const text = age(now - parseTime(box.dataset.since));
    if (span && span.textContent !== text) span.textContent = text;
  }
}

// ages tick; failed tasks leave the grid once their window has passed
setInterval(() => {
  const now = Date.now();
  tickAges(now);
  if (!live.installed) return; // the server's first paint stays until the model is here
  const failed = [];
  for (const [id, box] of boxes) if (FAILED.has(box.dataset.state || "")) failed.push(id);
  if (failed.length) syncTasks(failed, now);
}, 5000);

// a click on a task opens its details (signed-in users; a kiosk screen only watches)
const panelBox = byId("panel");
/** @type {ReturnType<typeof mountPanel> | null} */
let openPanel = null;
function closePanel() {
  if (openPanel) openPanel.close();
  openPanel = null;
  panelBox.hidden = true;
  panelBox.replaceChildren();
}
/** @param {string} taskId */
async function showTask(taskId) {
  const response = await fetch(`${basePath()}tasks/${encodeURIComponent(taskId)}/panel`, { credentials: "same-origin" });
  closePanel();
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  panelBox.replaceChildren(...doc.body.childNodes);
  panelBox.hidden = false;
  const panel = panelBox.querySelector(".task-panel");
  if (!(panel instanceof HTMLElement)) return; // an error message from the server, shown as it came
  openPanel = mountPanel(panel);
  find(panel, ".close").addEventListener("click", closePanel);
}
/** @param {Event} event */
function boxOf(event) {
  const box = event.target instanceof Element ? event.target.closest("[data-task-id]") : null;
  return box instanceof HTMLElement ? box.dataset.taskId : undefined;
}
if (document.body.dataset.details === "1") { // "0" for read-only viewers (kiosk, anonymous)
  grid.addEventListener("click", (event) => {
    const taskId = boxOf(event);
    if (taskId) showTask(taskId);
  });
  grid.addEventListener("keydown", (event) => {
    const taskId = boxOf(event);
    if (taskId && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); showTask(taskId); }
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closePanel(); });
}

live.start();
