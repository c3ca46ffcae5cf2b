import { mountPanel } from "./task.js";
import {
  FAILED, ICONS, LiveSwarm, Tally, cmp, el, hhmmss, nodeOrder, parseTime, visible as visibleAt,
} from "./live.js";

// The live grid. The server renders the first paint; live.js follows the websocket and calls
// render() once per animation frame with what changed, and this module touches only the boxes
// that changed. Every value reaches the page as text, never as markup.
//
// Every node has its column, but only the columns in view (and a screen's width either side) hold
// task boxes: a column is filled as it scrolls into view and emptied once it is far out of view.
// The server fills the first screen. At 500 nodes and 20,000 tasks the page keeps a few hundred
// boxes instead of 20,000, and a change off screen touches no element.

const initial = JSON.parse(document.getElementById("initial").textContent);
const failedWindowMs = initial.failedWindowMinutes * 60000;
const grid = document.getElementById("grid");
const historyToggle = document.getElementById("history");
const legendList = document.getElementById("services");

const live = new LiveSwarm({
  initial, heartbeatSeconds: initial.heartbeatSeconds, onFrame: render, onConnection: syncStatus,
});
const model = live.model;

const boxes = new Map(); // task id -> element on the page (in filled columns only)
for (const box of grid.querySelectorAll("[data-task-id]")) boxes.set(box.dataset.taskId, box);
const columns = new Map(); // node id ("" for unassigned) -> section
for (const sec of grid.querySelectorAll("section.node")) columns.set(sec.dataset.nodeId, sec);
const filled = new Set([""]); // the columns holding their boxes; unassigned always does
for (const sec of grid.querySelectorAll("section.node[data-filled='1']")) filled.add(sec.dataset.nodeId);
// scrolling or resizing may bring empty columns into view: fill them on the next frame
grid.addEventListener("scroll", () => live.schedule({ soon: true }), { passive: true });
window.addEventListener("resize", () => live.schedule({ soon: true }));
const legendItems = new Map(); // service id -> legend item
let tally = new Tally();

let showHistory = historyToggle.checked;

// --- rendering -----------------------------------------------------------------------------------

function taskState(t) { return t.state; } // the wire already says "orphaned"

function visible(t, now) { return visibleAt(t, now, failedWindowMs, showHistory); }

function imageTag(image) {
  const last = image.split("/").pop();
  const i = last.indexOf(":");
  return i >= 0 ? last.slice(i + 1) : "latest";
}

function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function sortKey(t) {
  const svc = model.services.get(t.service_id);
  return `${svc ? svc.name : ""}\u0001${String(t.slot || 0).padStart(9, "0")}\u0001${t.created_at}\u0001${t.id}`;
}

function taskBox(t) {
  const svc = model.services.get(t.service_id);
  const state = taskState(t);
  const name = svc ? svc.name : t.service_id.slice(0, 12);
  const slot = t.slot !== null && t.slot !== undefined ? `.${t.slot}` : "";
  const error = t.error || (t.exit_code ? `exit ${t.exit_code}` : "");
  const title = `${name}${slot} · ${state}${error ? ` · ${error}` : ""}${t.message ? ` · ${t.message}` : ""}`;
  const box = el("div", {
    class: `task st-${state} h-${svc ? svc.hue : 0}`, tabindex: "0",
    "data-task-id": t.id, "data-service-id": t.service_id, "data-node-id": t.node_id,
    "data-state": state, "data-desired-state": t.desired_state, "data-since": t.status_at,
    "data-v": `${t.updated_at}${t.orphaned ? 1 : 0}`, title,
  },
  el("span", { class: "svc" }, name), el("span", { class: "slot" }, slot),
  el("span", { class: "img", title: t.image.split("@")[0] }, `:${imageTag(t.image)}`),
  el("span", { class: "st" }, el("i", { "aria-hidden": "true" }, ICONS[state] || "·"), ` ${state}`),
  el("span", { class: "age" }, age(Date.now() - parseTime(t.status_at))),
  error ? el("span", { class: "err", title: error }, "!") : null);
  box._k = sortKey(t);
  return box;
}

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

function column(nodeId) {
  let sec = columns.get(nodeId);
  if (!sec) {
    sec = el("section", { class: nodeId ? "node" : "node unassigned", "data-node-id": nodeId },
      nodeId ? el("header") : el("header", {}, el("h2", {}, "unassigned"),
        el("div", { class: "facts" }, "tasks no node has taken")),
      el("div", { class: "tasks" }));
    columns.set(nodeId, sec);
  }
  return sec;
}

function columnOf(t) { return model.nodes.has(t.node_id) ? t.node_id : ""; }

function syncColumn(n) {
  const sec = column(n.id);
  const look = [n.hostname, n.role, n.leader, n.state, n.availability, n.cpus, n.memory_bytes, n.engine_version].join("\u0001");
  if (sec._look === look) return;
  sec._look = look;
  sec.dataset.state = n.state;
  sec.dataset.availability = n.availability;
  sec.dataset.role = n.role;
  sec.querySelector("header").replaceWith(nodeHeader(n));
}

// put the container's children in the wanted order, moving only those out of place
function arrange(container, wanted) {
  wanted.forEach((child, i) => {
    if (container.children[i] !== child) container.insertBefore(child, container.children[i] || null);
  });
}

// changed: node id -> node before (null: every node). Returns whether a node came or went: a
// task then may belong to another column (its node's, or unassigned) without changing itself.
function syncColumns(changed) {
  let cameOrWent = false;
  for (const [id, sec] of columns) {
    if (id && !model.nodes.has(id)) {
      emptyColumn(id);
      sec.remove();
      columns.delete(id);
      cameOrWent = true;
    }
  }
  for (const id of changed ? changed.keys() : model.nodes.keys()) {
    const n = model.nodes.get(id);
    if (n && !columns.has(id)) cameOrWent = true;
    if (n) syncColumn(n);
  }
  arrange(grid, [column(""), ...[...model.nodes.values()].sort(nodeOrder).map((n) => column(n.id))]);
  return cameOrWent;
}

// the node columns within a screen's width of the view, either side (columns are laid out in
// page order, so a binary search finds the first one)
function columnsNearView() {
  const left = grid.scrollLeft - grid.clientWidth;
  const right = grid.scrollLeft + 2 * grid.clientWidth;
  const kids = grid.children;
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

function insertSorted(container, box) {
  const kids = container.children;
  let lo = 0;
  let hi = kids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (kids[mid]._k < box._k) lo = mid + 1; else hi = mid;
  }
  container.insertBefore(box, kids[lo] || null);
}

function syncTask(id, now) {
  const t = model.tasks.get(id);
  const current = boxes.get(id);
  if (!t || !visible(t, now) || !filled.has(columnOf(t))) {
    if (current) { current.remove(); boxes.delete(id); }
    return;
  }
  const container = column(columnOf(t)).querySelector(".tasks");
  const v = `${t.updated_at}${t.orphaned ? 1 : 0}`;
  const key = sortKey(t);
  // unchanged and in place (a server-rendered box has no key yet: it is right as it stands)
  if (current && current.dataset.v === v && current.parentElement === container && (current._k ?? key) === key) {
    current._k = key;
    return;
  }
  const box = taskBox(t);
  if (current) current.remove();
  insertSorted(container, box);
  boxes.set(id, box);
}

// boxes for the columns that came near the view: one pass over the tasks for all of them
function fillColumns(ids, now) {
  const per = new Map(ids.map((id) => [id, []]));
  for (const t of model.tasks.values()) {
    const list = per.get(columnOf(t));
    if (list && visible(t, now)) list.push(t);
  }
  for (const [id, tasks] of per) {
    const made = tasks.map((t) => {
      boxes.get(t.id)?.remove();
      const box = taskBox(t);
      boxes.set(t.id, box);
      return box;
    });
    made.sort((a, b) => cmp(a._k, b._k));
    column(id).querySelector(".tasks").replaceChildren(...made);
    filled.add(id);
  }
}

function emptyColumn(id) {
  const container = columns.get(id).querySelector(".tasks");
  for (const box of container.children) boxes.delete(box.dataset.taskId);
  container.replaceChildren();
  filled.delete(id);
}

function legendItem(s) {
  const [r, d] = tally.of(s);
  return el("li", { class: `svc-item h-${s.hue}${d !== null && r < d ? " short" : ""}`, "data-service-id": s.id,
    title: [s.image, ...Object.entries(s.labels).map(([k, v]) => `${k}=${v}`)].join("\n") },
  el("span", { class: "swatch" }), el("span", { class: "name" }, s.name), " ",
  el("span", { class: "count" }, `${r}/${d === null ? "∞" : d}`));
}

function setText(id, text) {
  const node = document.getElementById(id);
  if (node.textContent !== String(text)) node.textContent = text;
}

// the legend and the summary: only the services whose counts or specs moved are touched
// touched: the services whose counts may have moved (tally.apply)
function syncLegend(changes, touched) {
  if (changes.full || changes.services.size) {
    for (const id of changes.full ? [...legendItems.keys()] : changes.services.keys()) {
      legendItems.get(id)?.remove();
      legendItems.delete(id);
    }
    touched = changes.full ? model.services.keys() : [...touched, ...changes.services.keys()];
  }
  for (const id of touched) {
    const s = model.services.get(id);
    if (!s) continue;
    const item = legendItem(s);
    const old = legendItems.get(id);
    if (old && old.isEqualNode(item)) continue;
    if (old) old.replaceWith(item);
    legendItems.set(id, item);
  }
  if (changes.full || changes.services.size) {
    if (changes.full) legendList.replaceChildren();
    const order = [...model.services.values()].sort((a, b) => cmp(a.stack, b.stack) || cmp(a.name, b.name));
    arrange(legendList, order.map((s) => legendItems.get(s.id)));
  }
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
  const conn = document.getElementById("conn");
  const banner = document.getElementById("banner");
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
    const docker = model.status.state === "live" ? "lost" : model.status.state;
    text = `Docker ${docker} · stale since ${hhmmss(c.since)}`;
  } else if (c.state === "silent") {
    state = "stale";
    text = `no word from the dashboard since ${hhmmss(c.since)}`;
  }
  if (conn.dataset.conn !== state) conn.dataset.conn = state;
  if (conn.textContent !== text) conn.textContent = text;
  if (document.body.dataset.conn !== c.state) document.body.dataset.conn = c.state;
  banner.hidden = state === "live" || c.state === "resuming";
  if (banner.textContent !== c.reason) banner.textContent = c.reason;
}

// --- applying what changed -------------------------------------------------------------------------

function render(changes) {
  if (!live.installed) return; // the server's first paint stays until the model is here
  const full = changes.full;
  const now = Date.now();
  // the counts first: they must follow every frame's changes, whatever happens to the DOM below
  if (full) tally = new Tally(model.tasks.values());
  const touched = full ? null : tally.apply(changes.tasks, model.tasks);
  const moved = (full || changes.nodes.size) && syncColumns(full ? null : changes.nodes);
  const near = columnsNearView();
  for (const id of [...filled]) if (id && !near.has(id)) emptyColumn(id);
  const toFill = [...near].filter((id) => !filled.has(id));
  if (full || moved) {
    for (const id of boxes.keys()) if (!model.tasks.has(id)) syncTask(id, now);
    for (const id of model.tasks.keys()) syncTask(id, now);
    if (full) tickAges(now);
  } else {
    for (const id of changes.tasks.keys()) syncTask(id, now);
  }
  if (toFill.length) fillColumns(toFill, now);
  if (openPanel && (full || changes.tasks.has(openPanel.taskId))) openPanel.refresh();
  if (full || changes.services.size || changes.tasks.size) syncLegend(changes, touched);
  if (changes.nodes.size) setText("n-nodes", model.nodes.size);
  const unassigned = columns.get("");
  unassigned.hidden = unassigned.querySelector(".tasks").children.length === 0;
}

historyToggle.addEventListener("change", () => {
  showHistory = historyToggle.checked;
  const url = new URL(location.href);
  if (showHistory) url.searchParams.set("history", "1"); else url.searchParams.delete("history");
  history.replaceState(null, "", url);
  live.refresh();
});

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
  for (const [id, box] of boxes) if (FAILED.has(box.dataset.state)) syncTask(id, now);
}, 5000);

// a click on a task opens its details (signed-in users; a kiosk screen only watches)
const panelBox = document.getElementById("panel");
let openPanel = null;
function closePanel() {
  if (openPanel) openPanel.close();
  openPanel = null;
  panelBox.hidden = true;
  panelBox.replaceChildren();
}
async function showTask(taskId) {
  const base = document.body.dataset.base || "/";
  const response = await fetch(`${base}tasks/${encodeURIComponent(taskId)}/panel`, { credentials: "same-origin" });
  closePanel();
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  panelBox.replaceChildren(...doc.body.childNodes);
  panelBox.hidden = false;
  const panel = panelBox.querySelector(".task-panel");
  if (!panel) return; // an error message from the server, shown as it came
  openPanel = mountPanel(panel);
  panel.querySelector(".close").addEventListener("click", closePanel);
}
if (!new URLSearchParams(location.search).get("kiosk") && document.body.dataset.details === "1") {
  grid.addEventListener("click", (event) => {
    const box = event.target.closest("[data-task-id]");
    if (box) showTask(box.dataset.taskId);
  });
  grid.addEventListener("keydown", (event) => {
    const box = event.target.closest("[data-task-id]");
    if (box && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); showTask(box.dataset.taskId); }
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closePanel(); });
}

live.start();
