// @ts-check
import { mountPanel } from "./task.js";
import { LiveSwarm, Tally, basePath } from "./live.js";
import {
  FAILED, age, boxBars, byId, cmp, dockerLoss, el, errorText, find, healthMark, hhmmss, imageRef, imageTag, nodeBarsOf,
  nodeOrder, parseTime, serviceName, serviceOrder, setText, slotText, stateIcon, taskAttrs, taskKey, visible as visibleAt,
} from "./draw.js";
import { keyOf, keyed, setKey } from "./keyed.js";
import { matchText, matcher, parseQuery } from "./filter.js";
import { filterField, keepInUrl, keysDialog, roving } from "./keys.js";
import { problemsFollow } from "./problems.js";

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
const hideToggle = /** @type {HTMLInputElement} */ (byId("hide-unmatched"));
const group = grid.dataset.group || ""; // ?group=: the node label the columns are banded by
const BAND = "\u0002"; // a band header's key in the grid starts so (a node id never does)
const STACK = "\u0002"; // and a stack's in the legend (a service id never does)

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
for (const item of legendList.querySelectorAll("li.stack-item")) {
  if (item instanceof HTMLElement) setKey(item, STACK + (item.dataset.stack || ""));
}
for (const band of grid.querySelectorAll(":scope > .band")) {
  if (band instanceof HTMLElement) setKey(band, BAND + (band.dataset.band || ""));
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

// the filter (?q=, the field in the navigation bar): its terms, and the test of a task they make
// with the model as it is (made anew when services or nodes change: their names and labels count)
const filterInput = /** @type {HTMLInputElement} */ (byId("filter"));
let terms = parseQuery(filterInput.value);
/** @type {((t: Task) => boolean) | null} */
let match = null;
/** @param {Task} t */
function matches(t) { return !match || match(t); }
const rover = roving(grid, {
  columns: "section.node", boxes: ".task", shown: (box) => !grid.classList.contains("hide-unmatched") || box.dataset.match !== "false",
});
/** @type {HTMLElement | null} */
let refocus = null; // a focused box drawn anew: focus goes to its new self once it is on the page

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
function boxVersion(t) { return `${t.updated_at}${t.orphaned ? 1 : 0}${t.health}${t.oom_killed ? 1 : 0}`; }

/** @param {Task} t */
function taskBox(t) {
  const svc = model.services.get(t.service_id);
  const state = t.state; // the wire already says "orphaned"
  const name = serviceName(t, svc);
  const slot = slotText(t);
  const error = errorText(t);
  const title = `${name}${slot} · ${state}${error ? ` · ${error}` : ""}${t.message ? ` · ${t.message}` : ""}`;
  return el("div", {
    ...taskAttrs(t, svc, "task"), tabindex: "-1", "data-match": String(matches(t)), "data-since": t.status_at,
    "data-v": boxVersion(t), title,
  },
  el("span", { class: "svc" }, name), el("span", { class: "slot" }, slot),
  el("span", { class: "img", title: imageRef(t.image) }, `:${imageTag(t.image)}`),
  el("span", { class: "st" }, el("i", { "aria-hidden": "true" }, stateIcon(state)), ` ${state}`, healthMark(t.health)),
  el("span", { class: "age" }, age(Date.now() - parseTime(t.status_at))),
  error ? el("span", { class: "err", title: error }, "!") : null,
  boxBars(el("span", { class: "use", "aria-hidden": "true" }), t, model, live.usage));
}

// --- resource use: bars from the node agents' samples, on the boxes and columns in view ------------

// a filled column's header: what its running tasks reserve, use and what the node has
/** @param {string} id */
function columnBars(id) {
  const n = model.nodes.get(id);
  const col = columns.get(id);
  const header = col && col.sec.querySelector("header");
  if (!n || !header) return;
  const found = header.querySelector(".node-usage");
  const holder = found instanceof HTMLElement ? found : header.appendChild(el("div", { class: "node-usage" }));
  const tasks = [];
  for (const box of col.tasks.children) {
    const t = model.tasks.get(keyOf(box) || "");
    if (t) tasks.push(t);
  }
  nodeBarsOf(holder, n, tasks, model, live.usage);
}

// new samples: the bars of the boxes and columns on the page, a few hundred at most whatever the
// swarm's size (the grid holds boxes only for the columns near the view)
live.usage.listen(() => {
  for (const [id, box] of boxes) {
    const holder = box.lastElementChild;
    const t = model.tasks.get(id);
    if (t && holder instanceof HTMLElement && holder.classList.contains("use")) boxBars(holder, t, model, live.usage);
  }
  for (const id of filled) columnBars(id);
});

// "agents on 2 of 3 nodes": of the nodes that should run one (ready, not drained: Docker stops a
// drained node's agent too); nothing when no node has one
function syncAgents() {
  let on = 0;
  let of = 0;
  for (const n of model.nodes.values()) {
    if (n.agent) on += 1;
    if (n.agent || (n.state === "ready" && n.availability !== "drain")) of += 1;
  }
  const out = byId("n-agents");
  out.hidden = on === 0;
  setText("n-agents", on ? `agents on ${on} of ${of} nodes` : "");
}

/** @param {SwarmNode} n */
function nodeHeader(n) {
  const badges = el("div", { class: "badges" }, el("span", { class: "badge role" }, n.role));
  if (n.leader) badges.append(el("span", { class: "badge leader", title: "swarm leader" }, "★ leader"));
  badges.append(el("span", { class: `badge state-${n.state}` }, n.state));
  if (n.availability !== "active") badges.append(el("span", { class: `badge avail-${n.availability}` }, n.availability));
  if (n.agent) badges.append(el("span", { class: "badge agent", title: AGENT_TITLE }, "agent"));
  const memory = n.memory_bytes ? `${(n.memory_bytes / 2 ** 30).toFixed(1)} GiB` : "";
  const facts = [n.cpus ? `${n.cpus} CPU` : "", memory, n.engine_version].filter(Boolean).join(" · ");
  return el("header", {}, el("h2", { title: n.id }, n.hostname || n.id.slice(0, 12)), badges,
    el("div", { class: "facts" }, facts), el("div", { class: "node-usage", hidden: "" }));
}
const AGENT_TITLE = "a node agent runs here: health, OOM kills and resource use come from this node";

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
  const look = [n.hostname, n.role, n.leader, n.state, n.availability, n.cpus, n.memory_bytes, n.engine_version, n.agent].join("\u0001");
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
  keyed(grid, columnOrder(), {
    create: (key) => (key.startsWith(BAND) ? bandHeader(key.slice(BAND.length)) : column(key).sec),
  });
  return cameOrWent;
}

// The grid's children in order: the node columns, by node order, in bands by the label `group`
// (one per value, in order, the nodes without it last) each after its header; then the tasks no
// node has taken, so that their coming and going moves no node's column.
function columnOrder() {
  const nodes = [...model.nodes.values()].sort(nodeOrder);
  if (!group) return [...nodes.map((n) => n.id), ""];
  /** @type {Map<string, string[]>} */
  const per = new Map();
  for (const n of nodes) {
    const value = (n.labels && Object.hasOwn(n.labels, group) && n.labels[group]) || ""; // group=__proto__ is a name too
    const col = column(n.id).sec;
    if (col.dataset.band !== value) col.dataset.band = value;
    const ids = per.get(value);
    if (ids) ids.push(n.id); else per.set(value, [n.id]);
  }
  const values = [...per.keys()].sort((a, b) => Number(a === "") - Number(b === "") || cmp(a, b));
  return [...values.flatMap((v) => [BAND + v, .../** @type {string[]} */ (per.get(v))]), ""];
}

// as render.py's band_header
/** @param {string} value */
function bandHeader(value) {
  return el("h2", { class: "band", "data-band": value }, value ? `${group}=${value}` : `no ${group}`);
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
      if (box.dataset.v === boxVersion(tasks[i])) return box;
      const fresh = remember(taskBox(tasks[i]));
      if (rover.replaced(box, fresh)) refocus = fresh;
      return fresh;
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
    "data-stack": s.stack, title: [s.image, ...Object.entries(s.labels).map(([k, v]) => `${k}=${v}`)].join("\n") },
  el("span", { class: "swatch" }), el("span", { class: "name" }, s.name), " ",
  el("span", { class: "count" }, `${r}/${d === null ? "∞" : d}`));
}

// a stack's header in the legend: a button that filters by it (as render.py's stack_item)
/** @param {string} stack */
function stackItem(stack) {
  return el("li", { class: "stack-item", "data-stack": stack }, el("button", {
    type: "button", class: "link", "data-q": /[\s"]/.test(stack) ? `stack:"${stack}"` : `stack:${stack}`,
    title: "show only this stack",
  }, stack));
}

// the legend and the summary: only the services whose counts or specs moved are touched
// touched: the services whose counts may have moved (tally.apply; null: all of them)
/**
 * @param {Changes} changes
 * @param {Set<string> | null} touched
 */
function syncLegend(changes, touched) {
  if (changes.full || changes.services.size) {
    legendOrder = [];
    let stack = "";
    for (const s of [...model.services.values()].sort(serviceOrder)) {
      if (s.stack && s.stack !== stack) legendOrder.push(STACK + s.stack);
      stack = s.stack;
      legendOrder.push(s.id);
    }
  }
  const recheck = changes.full || !touched ? null : new Set([...touched, ...changes.services.keys()]);
  /** @type {(id: string) => Service} */
  const service = (id) => /** @type {Service} */ (model.services.get(id));
  keyed(legendList, legendOrder, {
    create: (id) => (id.startsWith(STACK) ? stackItem(id.slice(STACK.length)) : legendItem(service(id))),
    update(item, id) {
      if (id.startsWith(STACK) || (recheck && !recheck.has(id))) return item;
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
  problemsFollow(model.seq);
  const full = changes.full;
  const now = Date.now();
  // the counts first: they must follow every frame's changes, whatever happens to the DOM below
  if (full) {
    tally = new Tally(model.tasks.values());
    sortKeys = new WeakMap();
  }
  const touched = full ? null : tally.apply(changes.tasks, model.tasks);
  // a service's or node's name and labels count for the filter: the test is made anew
  const retest = full || changes.services.size > 0 || changes.nodes.size > 0;
  if (retest) match = matcher(terms, model);
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
  if (retest) markBoxes();
  if (terms.length && (retest || changes.tasks.size)) countMatches(now);
  rover.settle();
  if (refocus) {
    if (refocus.isConnected) refocus.focus({ preventScroll: true });
    refocus = null;
  }
  if (openPanel && (full || changes.tasks.has(openPanel.taskId))) openPanel.refresh();
  if (full || changes.services.size || changes.tasks.size) syncLegend(changes, touched);
  if (changes.nodes.size) setText("n-nodes", model.nodes.size);
  const unassigned = column("");
  unassigned.sec.hidden = unassigned.tasks.children.length === 0;
  if (full || changes.nodes.size) syncAgents();
  for (const id of filled) columnBars(id); // a column's running tasks, or the column itself, may be new
}

// every box on the page marked as the filter finds its task
function markBoxes() {
  for (const [id, box] of boxes) {
    const t = model.tasks.get(id);
    const mark = String(!t || matches(t));
    if (box.dataset.match !== mark) box.dataset.match = mark;
  }
}

// "312 of 20,000 tasks match": of the tasks the grid shows (with finished ones, if asked)
/** @param {number} now */
function countMatches(now) {
  const out = byId("n-match");
  out.hidden = terms.length === 0;
  if (!match) return;
  let shown = 0;
  let matching = 0;
  for (const t of model.tasks.values()) {
    if (!visible(t, now)) continue;
    shown += 1;
    if (match(t)) matching += 1;
  }
  setText("n-match", matchText(matching, shown));
}

// a keystroke in the filter narrows the page at once
const filter = filterField(filterInput, (text) => {
  terms = parseQuery(text);
  if (!live.installed) return; // the first model applies it
  match = matcher(terms, model);
  markBoxes();
  countMatches(Date.now());
  rover.settle();
});
legendList.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-q]") : null;
  if (!(button instanceof HTMLElement)) return;
  const q = button.dataset.q || "";
  filter.set(filterInput.value.trim() === q ? "" : q); // a second click shows everything again
});
hideToggle.addEventListener("change", () => {
  grid.classList.toggle("hide-unmatched", hideToggle.checked);
  keepInUrl("hide", hideToggle.checked ? "1" : null);
  rover.settle();
});
keysDialog(/** @type {HTMLDialogElement} */ (byId("keys")), byId("keys-open"));

historyToggle.addEventListener("change", () => {
  showHistory = historyToggle.checked;
  keepInUrl("history", showHistory ? "1" : null);
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
  if (!openPanel && panelBox.hidden) return;
  const taskId = openPanel ? openPanel.taskId : undefined;
  if (openPanel) openPanel.close();
  openPanel = null;
  panelBox.hidden = true;
  panelBox.replaceChildren();
  const box = taskId === undefined ? undefined : boxes.get(taskId);
  if (box && box.isConnected) box.focus(); // the keyboard goes on from where it was
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
  openPanel = mountPanel(panel, live.usage);
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
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !(event.target instanceof Element && event.target.closest("dialog"))) closePanel();
  });
}

live.start();
