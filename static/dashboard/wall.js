// @ts-check
import { LiveSwarm, serviceCounts } from "./live.js";
import {
  FAILED, ago, alarming, boxBars, byId, cmp, dockerLoss, el, errorText, healthMark, hhmmss, imageName, nodeBarsOf,
  nodeOrder, serviceName, setText, shortServiceName, slotText, stateIcon, stateLabel, taskAttrs, taskKey, visible,
} from "./draw.js";
import { keyed } from "./keyed.js";
import { matcher, parseQuery } from "./filter.js";

/** @import { Changes, Connection, Service, Status, SwarmNode, Task } from "./live.js" */

// The wall screen: the whole swarm on one screen, unattended. live.js keeps the model; this module
// chooses a density that fits the screen (full boxes, compact boxes, per-service counts, pips
// only, then pages), renders the page's tiles with keyed updates, pulses what changed, keeps a
// ticker of events, and says loudly when what it shows is not live. Every value reaches the page
// as text, never as markup.

const config = JSON.parse(byId("wall-config").textContent || "{}");
const MIN_FONT = config.minFontPx;
const MODES = ["full", "compact", "counts", "pips"];
const TARGET_ASPECT = 0.8; // tiles a little taller than wide read like the grid's node columns
const MAX_EVENTS = 20; // more than one line of the ticker shows
const REPLAN_EVERY = 60000; // a layout kept for stability is reconsidered this often
const CONNECTING_GRACE = 2000;
const GROW = 1.5; // text may grow to this many times the screen's own size when there is room

const params = new URLSearchParams(location.search);
/** @param {string} name */
function listParam(name) {
  const values = params.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  return values.length ? new Set(values) : null;
}
/**
 * @param {string} name
 * @param {number} fallback
 * @param {number} minimum
 */
function secondsParam(name, fallback, minimum) {
  const n = Number(params.get(name));
  return Number.isFinite(n) && n > 0 ? Math.max(n, minimum) : fallback;
}
const options = {
  stacks: listParam("stack"),
  services: listParam("service"),
  terms: parseQuery(params.get("q") || ""), // the grid's filter (static/dashboard/filter.js): a view put on the wall
  group: (params.get("group") || "").trim().slice(0, 200), // a node label: the tiles in bands, one per value (as grid.py bounds it)
  density: MODES.find((m) => m === params.get("density")) || "auto",
  pageMs: secondsParam("page", config.pageSeconds, 3) * 1000,
  // never below two heartbeats: an idle swarm must not look stale
  staleMs: secondsParam("stale", config.staleSeconds, 2 * config.heartbeatSeconds) * 1000,
  theme: params.get("theme") === "light" ? "light" : "dark",
};
const failedWindowMs = config.failedWindowMinutes * 60000;
document.documentElement.dataset.theme = options.theme;

const main = byId("w-tiles");
const eventsList = byId("w-events");
const startedAt = Date.now();

// the server sends only what the filter selects; the page filters again below all the same
/** @type {Record<string, string>} */
const socketParams = {};
if (options.stacks) socketParams.stack = [...options.stacks].join(",");
if (options.services) socketParams.service = [...options.services].join(",");
const live = new LiveSwarm({
  staleMs: options.staleMs, heartbeatSeconds: config.heartbeatSeconds, onFrame: render, onConnection: tick,
  socketParams,
});
const model = live.model;

/**
 * A tile: a node's tasks ("" for those no node has taken).
 * @typedef {object} Tile
 * @property {HTMLElement} el
 * @property {HTMLElement} header
 * @property {HTMLElement} body
 * @property {string | null} sig what its header shows
 * @property {string} [mode] the density its body is drawn in
 * @property {Map<string, Row>} rows service id -> its row (density "counts")
 */
/**
 * A service's row in a tile (density "counts").
 * @typedef {object} Row
 * @property {HTMLElement} el
 * @property {HTMLElement} count
 * @property {HTMLElement} pips
 * @property {boolean} named whether its service was known when it was made
 */
/** @typedef {ReturnType<typeof dims>} Dims */
/** @typedef {ReturnType<typeof plan>} Layout */
/** @typedef {{n: number, maxTasks: number, maxServices: number, ids: string[]}} Stats */
/** @typedef {Map<string, Task[]>} Groups tile id -> its visible tasks, in order */

/** @type {Layout | null} */
let layout = null; // see plan()
let page = 0;
let plannedAt = 0;
/** @type {Groups} */
let lastGroups = new Map();
let rendered = false;
let forcePlan = true;
/** @type {Map<string, Tile>} */
const tiles = new Map(); // tile id ("" = unassigned) -> its tile
/** @type {Map<string, HTMLElement>} */
let boxes = new Map(); // task id -> its element on the page (box or pip)
/** @type {WeakMap<Element, string>} */
const drawn = new WeakMap(); // a task's element -> what it shows (the density and the task's version)
/** @type {{at: number, kind: string, text: string, el: HTMLElement}[]} */
const events = []; // newest first

// --- options: which services the wall shows -------------------------------------------------------

const filtered = options.stacks !== null || options.services !== null || options.terms.length > 0;
const BAND = "\u0002"; // a band's tile id starts so (a node id never does)

/** @param {Service | undefined} svc */
function shown(svc) {
  if (!filtered) return true;
  if (!svc) return false;
  if (options.stacks !== null && !options.stacks.has(svc.stack)) return false;
  return options.services === null || options.services.has(svc.name) || options.services.has(svc.id);
}

if (filtered) {
  const parts = [];
  if (options.stacks) parts.push(`stack ${[...options.stacks].join(", ")}`);
  if (options.services) parts.push(`service ${[...options.services].join(", ")}`);
  if (options.terms.length) parts.push(/** @type {string} */ (params.get("q")).trim());
  byId("w-filter").textContent = parts.join(" · ");
  byId("w-filter").hidden = false;
}

// --- geometry --------------------------------------------------------------------------------------

// every size in whole pixels, from the text size u, so that the arithmetic below is what the
// browser lays out: no tile can overflow its cell, and nothing scrolls
/** @param {number} u */
function dims(u) {
  const lh = Math.ceil(u * 1.25);
  const fpad = Math.max(2, Math.round(u * 0.2));
  const cpad = Math.max(1, Math.round(u * 0.12));
  return {
    u, lh, fpad, cpad,
    g: Math.max(4, Math.round(u * 0.4)), // between tiles
    p: Math.max(3, Math.round(u * 0.3)), // inside a tile
    b: 2, // tile border
    hh: lh + Math.max(2, Math.round(u * 0.2)), // tile header
    fw: Math.round(u * 8.5), fh: 2 * lh + 2 * fpad + 2, fg: Math.max(3, Math.round(u * 0.3)), // full boxes
    cw: Math.round(u * 7), ch: lh + 2 * cpad + 2, cg: Math.max(2, Math.round(u * 0.25)), // compact boxes
    rw: Math.round(u * 10), rh: lh + Math.max(2, Math.round(u * 0.15)), rg: Math.max(4, Math.round(u * 0.6)), // rows
    ps: Math.max(6, Math.round(u * 0.6)), pg: 2, // pips
  };
}

/**
 * @param {string} mode
 * @param {Dims} d
 * @returns {[number, number, number]} width, height, gap
 */
function boxSize(mode, d) { return mode === "full" ? [d.fw, d.fh, d.fg] : [d.cw, d.ch, d.cg]; }

// the height a tile of width tileW needs for the busiest tile's content; Infinity: too narrow
/**
 * @param {string} mode
 * @param {Dims} d
 * @param {number} tileW
 * @param {Stats} st
 */
function need(mode, d, tileW, st) {
  const iw = tileW - 2 * d.b - 2 * d.p;
  if (iw < d.u * 4) return Infinity; // a header needs room for a few characters
  const base = 2 * d.b + 2 * d.p + d.hh;
  if (mode === "full" || mode === "compact") {
    const [w, h, g] = boxSize(mode, d);
    const perRow = Math.floor((iw + g) / (w + g));
    if (perRow < 1) return Infinity;
    const rows = Math.ceil(st.maxTasks / perRow);
    return base + (rows ? rows * h + (rows - 1) * g : 0);
  }
  if (mode === "counts") {
    const cols = Math.floor((iw + d.rg) / (d.rw + d.rg));
    if (cols < 1) return Infinity;
    return base + Math.ceil(st.maxServices / cols) * d.rh;
  }
  const perRow = Math.floor((iw + d.pg) / (d.ps + d.pg));
  const rows = Math.ceil(st.maxTasks / perRow);
  return base + d.rh + (rows ? rows * d.ps + (rows - 1) * d.pg : 0);
}

// the columns x rows of n tiles that fit, the one whose tiles are closest to TARGET_ASPECT
/**
 * @param {string} mode
 * @param {Dims} d
 * @param {number} n
 * @param {number} W
 * @param {number} H
 * @param {Stats} st
 */
function arrange(mode, d, n, W, H, st) {
  /** @type {{C: number, R: number, tileW: number, tileH: number, score: number} | null} */
  let best = null;
  for (let C = 1; C <= n; C++) {
    const tileW = Math.floor((W - (C - 1) * d.g) / C);
    if (tileW < d.u * 4) break;
    const R = Math.ceil(n / C);
    const tileH = Math.floor((H - (R - 1) * d.g) / R);
    if (tileH < 1 || need(mode, d, tileW, st) > tileH) continue;
    const score = Math.abs(Math.log(tileW / tileH / TARGET_ASPECT));
    if (best === null || score < best.score) best = { C, R, tileW, tileH, score };
  }
  return best;
}

// the most detailed density, at the largest text, that shows every tile at once; else pages:
// the fewest pages, and among those the most detail and the largest text
/**
 * @param {Stats} st
 * @param {number} W
 * @param {number} H
 * @param {number} prefU
 */
function plan(st, W, H, prefU) {
  const modes = options.density === "auto" ? MODES : [options.density];
  /**
   * @param {string} mode
   * @param {Dims} d
   * @param {{C: number, R: number, tileW: number, tileH: number}} a
   * @param {number} perPage
   * @param {number} pages
   */
  const make = (mode, d, a, perPage, pages, clipped = false) => ({ mode, d, ...a, perPage, pages, clipped });
  if (st.n === 0) return make(modes[0], dims(prefU), { C: 1, R: 1, tileW: W, tileH: H }, 1, 1);
  for (const mode of modes) {
    // a small swarm gets larger text than the screen's own size: the room is there
    for (let u = Math.round(prefU * GROW); u >= MIN_FONT; u--) {
      const d = dims(u);
      const a = arrange(mode, d, st.n, W, H, st);
      if (a) return make(mode, d, a, st.n, 1);
    }
  }
  let fewest = Infinity;
  /** @type {{mode: string, d: Dims, pages: number}[]} */
  const candidates = [];
  for (const mode of modes) {
    for (let u = prefU; u >= MIN_FONT; u--) {
      const d = dims(u);
      let most = 0;
      for (let C = 1; C <= st.n; C++) {
        const tileW = Math.floor((W - (C - 1) * d.g) / C);
        if (tileW < d.u * 4) break;
        const h = need(mode, d, tileW, st);
        if (h > H) continue;
        most = Math.max(most, C * Math.floor((H + d.g) / (h + d.g)));
      }
      if (most > 0) {
        const pages = Math.ceil(st.n / most);
        fewest = Math.min(fewest, pages);
        candidates.push({ mode, d, pages });
      }
    }
  }
  const chosen = candidates.find((o) => o.pages === fewest);
  if (chosen) {
    const perPage = Math.ceil(st.n / chosen.pages);
    const a = arrange(chosen.mode, chosen.d, perPage, W, H, st);
    if (a) return make(chosen.mode, chosen.d, a, perPage, Math.ceil(st.n / perPage));
  }
  // one tile holds more than the whole screen: one tile a page, its overflow cut off
  const d = dims(MIN_FONT);
  return make(modes[modes.length - 1], d, { C: 1, R: 1, tileW: W, tileH: H }, 1, st.n, true);
}

/**
 * @param {Layout | null} l
 * @param {Stats} st
 */
function stillFits(l, st) {
  if (l === null || l.clipped) return false;
  const pages = Math.ceil(st.n / l.perPage);
  if (pages !== l.pages && (pages > 1 || l.pages > 1)) return false;
  if (st.n > l.C * l.R * l.pages) return false;
  // on one page, a row or a column left empty is room the tiles should have
  if (l.pages === 1 && st.n > 0 && (Math.ceil(st.n / l.C) !== l.R || st.n < l.C)) return false;
  return need(l.mode, l.d, l.tileW, st) <= l.tileH;
}

function chromeUnit() {
  return Math.max(MIN_FONT, Math.floor(Math.min(innerHeight / 54, innerWidth / 96)));
}

function applyChrome() {
  const uc = chromeUnit();
  const root = document.documentElement.style;
  root.setProperty("--uc", `${uc}px`);
  root.setProperty("--ulh", `${Math.ceil(uc * 1.25)}px`);
  root.setProperty("--mp", `${Math.max(4, Math.round(uc * 0.35))}px`);
  return uc;
}

/** @param {Layout} l */
function applyLayout(l) {
  const s = main.style;
  const d = l.d;
  /** @param {number} v */
  const px = (v) => `${v}px`;
  s.setProperty("--u", px(d.u));
  s.setProperty("--lh", px(d.lh));
  s.setProperty("--g", px(d.g));
  s.setProperty("--p", px(d.p));
  s.setProperty("--hh", px(d.hh));
  s.setProperty("--fpad", px(d.fpad));
  s.setProperty("--cpad", px(d.cpad));
  s.setProperty("--rh", px(d.rh));
  s.setProperty("--rg", px(d.rg));
  s.setProperty("--ps", px(d.ps));
  s.setProperty("--pg", px(d.pg));
  const iw = l.tileW - 2 * d.b - 2 * d.p;
  if (l.mode === "full" || l.mode === "compact") {
    const [w, h, g] = boxSize(l.mode, d);
    const perRow = Math.max(1, Math.floor((iw + g) / (w + g)));
    s.setProperty("--bw", px(Math.floor((iw - (perRow - 1) * g) / perRow)));
    s.setProperty("--bh", px(h));
    s.setProperty("--bg", px(g));
  } else if (l.mode === "counts") {
    s.setProperty("--cols", String(Math.max(1, Math.floor((iw + d.rg) / (d.rw + d.rg)))));
  }
  s.gridTemplateColumns = `repeat(${l.C}, ${l.tileW}px)`;
  s.gridTemplateRows = `repeat(${l.R}, ${l.tileH}px)`;
  main.dataset.mode = l.mode;
  const b = document.body.dataset;
  b.density = l.mode;
  b.u = String(d.u);
  b.pages = String(l.pages);
  b.clipped = l.clipped ? "1" : "0";
}

// --- the model, as the wall shows it -----------------------------------------------------------

/**
 * @param {Task} t
 * @param {Service | undefined} svc
 */
function taskVersion(t, svc) {
  return `${t.updated_at}|${t.state}|${t.desired_state}|${svc ? 1 : 0}|${t.health}|${t.oom_killed ? 1 : 0}`;
}

// tile id -> its visible tasks, in the order tiles and boxes are shown
/**
 * @param {number} now
 * @returns {Groups}
 */
function group(now) {
  /** @type {Groups} */
  const byTile = new Map();
  const match = matcher(options.terms, model); // the wall hides what the filter does not match
  for (const t of model.tasks.values()) {
    if (!visible(t, now, failedWindowMs) || !shown(model.services.get(t.service_id))) continue;
    if (match && !match(t)) continue;
    const id = model.nodes.has(t.node_id) ? t.node_id : "";
    let list = byTile.get(id);
    if (!list) { list = []; byTile.set(id, list); }
    list.push(t);
  }
  /** @type {Groups} */
  const ordered = new Map();
  for (const [band, nodes] of bands()) {
    if (band !== null) ordered.set(BAND + band, []);
    for (const n of nodes) if (byTile.has(n.id) || !filtered) ordered.set(n.id, byTile.get(n.id) || []);
  }
  if (options.group) { // a band left without a tile under a filter goes too
    for (const id of [...ordered.keys()]) if (id.startsWith(BAND) && !nextIsNode(ordered, id)) ordered.delete(id);
  }
  // the tasks no node has taken come last: their coming and going moves no node's tile
  const unassigned = byTile.get("");
  if (unassigned) ordered.set("", unassigned);
  /** @type {Map<Task, string>} */
  const keys = new Map();
  for (const list of ordered.values()) {
    for (const t of list) keys.set(t, taskKey(t, model.services));
    list.sort((a, b) => cmp(/** @type {string} */ (keys.get(a)), /** @type {string} */ (keys.get(b))));
  }
  return ordered;
}

// the nodes in tile order, in bands by the label options.group (one per value, in order, the
// nodes without it last; band null: no bands), as the grid's columns
/** @returns {[string | null, SwarmNode[]][]} */
function bands() {
  const nodes = [...model.nodes.values()].sort(nodeOrder);
  if (!options.group) return [[null, nodes]];
  /** @type {Map<string, SwarmNode[]>} */
  const per = new Map();
  for (const n of nodes) {
    const value = (n.labels && Object.hasOwn(n.labels, options.group) && n.labels[options.group]) || ""; // group=__proto__ is a name too
    const list = per.get(value);
    if (list) list.push(n); else per.set(value, [n]);
  }
  return [...per.entries()].sort(([a], [b]) => Number(a === "") - Number(b === "") || cmp(a, b));
}

/**
 * @param {Groups} groups
 * @param {string} id
 */
function nextIsNode(groups, id) {
  const ids = [...groups.keys()];
  const next = ids[ids.indexOf(id) + 1];
  return next !== undefined && !next.startsWith(BAND);
}

/**
 * @param {Groups} groups
 * @returns {Stats}
 */
function statsOf(groups) {
  let maxTasks = 0;
  let maxServices = 0;
  for (const list of groups.values()) {
    maxTasks = Math.max(maxTasks, list.length);
    maxServices = Math.max(maxServices, new Set(list.map((t) => t.service_id)).size);
  }
  return { n: groups.size, maxTasks, maxServices, ids: [...groups.keys()] };
}

// --- rendering ------------------------------------------------------------------------------------

// a task's attributes on the wall: under a filter (?q=) every task shown is one it matches
/**
 * @param {Task} t
 * @param {Service | undefined} svc
 * @param {string} cls
 */
function attrs(t, svc, cls) {
  const out = taskAttrs(t, svc, cls);
  if (options.terms.length) out["data-match"] = "true";
  return out;
}

/**
 * @param {Task} t
 * @param {Service | undefined} svc
 * @param {string} mode
 */
function makeBox(t, svc, mode) {
  if (mode === "full") {
    const why = FAILED.has(t.state) && (t.oom_killed || t.exit_code) ? ` · ${errorText(t)}` : "";
    return el("div", attrs(t, svc, "box full"),
      el("span", { class: "l1" }, el("span", { class: "nm" }, serviceName(t, svc)),
        el("span", { class: "sl" }, slotText(t)), healthMark(t.health)),
      el("span", { class: "l2" }, el("i", { "aria-hidden": "true" }, stateIcon(t.state)), ` ${stateLabel(t.state)}${why}`),
      boxBars(el("span", { class: "use", "aria-hidden": "true" }), t, model, live.usage));
  }
  if (mode === "compact") {
    return el("div", attrs(t, svc, "box compact"), el("i", { "aria-hidden": "true" }, stateIcon(t.state)),
      healthMark(t.health), el("span", { class: "nm" }, shortServiceName(t, svc)), el("span", { class: "sl" }, slotText(t)));
  }
  return el("i", attrs(t, svc, "pip"));
}

// a node tile's bars at the fuller densities: reserved (a tick), used, out of what it has
/**
 * @param {Tile} tile
 * @param {string} id
 * @param {Task[]} list the tile's tasks
 */
function tileBars(tile, id, list) {
  const n = model.nodes.get(id);
  const mode = layout ? layout.mode : "";
  const found = tile.header.querySelector(".node-usage");
  if (!n || (mode !== "full" && mode !== "compact")) { found?.remove(); return; }
  const holder = found instanceof HTMLElement ? found : tile.header.appendChild(el("div", { class: "node-usage" }));
  nodeBarsOf(holder, n, list, model, live.usage);
}

// the element of a task for this frame: the one on the page when it is still right
/**
 * @param {Task} t
 * @param {string} mode
 * @param {Map<string, HTMLElement>} next the elements of this frame, by task id
 * @param {Map<string, string>} pulses task id -> the pulse it gets
 */
function boxFor(t, mode, next, pulses) {
  const svc = model.services.get(t.service_id);
  const v = `${mode}|${taskVersion(t, svc)}`;
  let box = boxes.get(t.id);
  const pulse = pulses.get(t.id);
  if (!box || drawn.get(box) !== v || pulse) {
    box = makeBox(t, svc, mode);
    drawn.set(box, v);
    if (pulse) box.classList.add(pulse);
  }
  next.set(t.id, box);
  return box;
}

// a parent's children: the elements of these tasks, in order
/**
 * @param {HTMLElement} parent
 * @param {Task[]} list
 * @param {string} mode
 * @param {Map<string, HTMLElement>} next
 * @param {Map<string, string>} pulses
 */
function showTasks(parent, list, mode, next, pulses) {
  /** @type {(key: string, i: number) => HTMLElement} */
  const box = (_, i) => boxFor(list[i], mode, next, pulses);
  keyed(parent, list.map((t) => t.id), { create: box, update: (_, key, i) => box(key, i) });
}

const measure = /** @type {CanvasRenderingContext2D} */ (document.createElement("canvas").getContext("2d"));
const FONT_FAMILY = getComputedStyle(document.documentElement).fontFamily; // the stylesheet came first

// a host name that does not fit keeps its end, where names usually differ: "sim-node-117" -> "si…-117"
/**
 * @param {string} text
 * @param {number} width
 * @param {number} u
 */
function fitName(text, width, u) {
  measure.font = `700 ${u}px ${FONT_FAMILY}`;
  if (measure.measureText(text).width <= width) return text;
  for (let keep = text.length - 1; keep >= 2; keep--) {
    const head = Math.max(1, Math.floor(keep / 3));
    const short = `${text.slice(0, head)}…${text.slice(text.length - (keep - head))}`;
    if (measure.measureText(short).width <= width) return short;
  }
  return `…${text.slice(-1)}`;
}

/**
 * @param {string} id
 * @param {Layout} l
 */
function tileFor(id, l) {
  let tile = tiles.get(id);
  if (!tile) {
    const header = el("header");
    const body = el("div", { class: "body" });
    const band = id.startsWith(BAND) ? id.slice(BAND.length) : null;
    const section = band === null ? el("section", { class: "tile", "data-node-id": id }, header, body)
      : el("section", { class: "tile w-band", "data-band": band }, header, body);
    tile = { el: section, header, body, sig: null, rows: new Map() };
    tiles.set(id, tile);
  }
  const n = model.nodes.get(id);
  const d = l.d;
  const band = id.startsWith(BAND) ? id.slice(BAND.length) : null;
  const bandName = band ? `${options.group}=${band}` : `no ${options.group}`;
  const what = n ? `${n.hostname}|${n.state}|${n.availability}|${n.role}|${n.leader}|${n.agent}` : band === null ? "unassigned" : bandName;
  const sig = `${what}|${l.tileW}|${d.u}`;
  if (tile.sig !== sig) {
    tile.sig = sig;
    /** @type {[string, string, string?][]} */
    const tags = [];
    if (n) {
      tile.el.dataset.state = n.state;
      tile.el.dataset.availability = n.availability;
      tile.el.dataset.role = n.role;
      if (n.leader) tags.push(["leader", "★"]);
      if (n.state !== "ready") tags.push(["bad", n.state.toUpperCase()]);
      if (n.availability !== "active") tags.push(["warn", n.availability.toUpperCase()]);
      if (n.agent) tags.push(["agent", "A", "a node agent runs here: health, OOM kills and resource use come from this node"]);
    } else if (band === null) {
      tile.el.classList.add("unassigned");
    }
    const name = n ? n.hostname || n.id.slice(0, 12) : band === null ? "unassigned" : bandName;
    measure.font = `700 ${d.u}px ${FONT_FAMILY}`;
    const tagsWidth = tags.reduce((w, [, text]) => w + measure.measureText(text).width + 0.9 * d.u, 0);
    const room = l.tileW - 2 * d.b - 2 * d.p - tagsWidth - 0.3 * d.u - 2; // 0.3u: the gap before the tags
    tile.header.replaceChildren(el("span", { class: "host", title: name }, fitName(name, room, d.u)),
      el("span", { class: "tags" }, ...tags.map(([cls, text, title]) => el("span", title ? { class: `tag ${cls}`, title } : { class: `tag ${cls}` }, text))));
  }
  return tile;
}

/**
 * @param {Tile} tile
 * @param {Task[]} list
 * @param {string} mode
 * @param {Map<string, HTMLElement>} next
 * @param {Map<string, string>} pulses
 */
function fillBoxes(tile, list, mode, next, pulses) {
  tile.rows.clear();
  showTasks(tile.body, list, mode, next, pulses);
}

/**
 * @param {Tile} tile
 * @param {Task[]} list
 * @param {Map<string, HTMLElement>} next
 * @param {Map<string, string>} pulses
 */
function fillCounts(tile, list, next, pulses) {
  /** @type {Map<string, Task[]>} */
  const bySvc = new Map();
  for (const t of list) {
    let l = bySvc.get(t.service_id);
    if (!l) { l = []; bySvc.set(t.service_id, l); }
    l.push(t);
  }
  /** @type {Map<string, Row>} */
  const rows = new Map();
  for (const [sid, l] of bySvc) {
    const svc = model.services.get(sid);
    let row = tile.rows.get(sid);
    if (!row || row.named !== Boolean(svc)) { // a service may arrive after its first tasks
      const pips = el("span", { class: "pips" });
      const count = el("span", { class: "n" });
      row = { el: el("div", { class: `row h-${svc ? svc.hue : 0}`, "data-service-id": sid },
        el("span", { class: "swatch" }), el("span", { class: "nm" }, serviceName(l[0], svc)), count, pips),
      count, pips, named: Boolean(svc) };
    }
    const running = l.filter((t) => t.state === "running").length;
    const text = running === l.length ? String(l.length) : `${running}/${l.length}`;
    if (row.count.textContent !== text) row.count.textContent = text;
    row.el.classList.toggle("short", running < l.length);
    showTasks(row.pips, l, "pip", next, pulses);
    rows.set(sid, row);
  }
  tile.rows = rows;
  /** @type {(sid: string) => HTMLElement} */
  const rowOf = (sid) => /** @type {Row} */ (rows.get(sid)).el;
  keyed(tile.body, [...rows.keys()], { create: rowOf, update: (_, sid) => rowOf(sid) });
}

/** @type {[string, string, (t: Task) => boolean][]} */
const SUMMARY = [
  ["ok", "▶", (t) => t.state === "running"],
  ["bad", "✖", (t) => alarming(t.state)],
  ["wait", "↻", () => true],
];
/** @type {WeakMap<Element, string>} */
const summed = new WeakMap(); // a tile's summary -> the totals it shows

/**
 * @param {Tile} tile
 * @param {Task[]} list
 * @param {Map<string, HTMLElement>} next
 * @param {Map<string, string>} pulses
 */
function fillPips(tile, list, next, pulses) {
  tile.rows.clear();
  const totals = SUMMARY.map(() => 0);
  for (const t of list) totals[SUMMARY.findIndex(([, , test]) => test(t))] += 1;
  keyed(tile.body, ["sum", "pips"], { create: (cls) => el("div", { class: cls }) });
  const [summary, pips] = /** @type {HTMLCollectionOf<HTMLElement>} */ (tile.body.children);
  const sig = totals.join(",");
  if (summed.get(summary) !== sig) {
    summed.set(summary, sig);
    /** @type {HTMLElement[]} */
    const parts = [];
    SUMMARY.forEach(([cls, icon], i) => {
      if (totals[i]) parts.push(el("span", { class: `sum-${cls}` }, `${totals[i]}${icon}`));
    });
    summary.replaceChildren(...(parts.length ? parts : [el("span", { class: "sum-none" }, "no tasks")]));
  }
  showTasks(pips, list, "pip", next, pulses);
}

const NO_TILES = "\u0000none"; // the key of the line that says why there are no tiles

/**
 * @param {Groups} groups
 * @param {Map<string, string>} pulses
 */
function renderPage(groups, pulses) {
  if (!layout) return;
  const l = layout;
  const ids = l.pages > 1 ? [...groups.keys()].slice(page * l.perPage, (page + 1) * l.perPage)
    : [...groups.keys()];
  /** @type {Map<string, HTMLElement>} */
  const next = new Map();
  const mode = l.mode;
  for (const id of ids) {
    const tile = tileFor(id, l);
    const list = groups.get(id) || [];
    if (tile.mode !== mode) { tile.body.replaceChildren(); tile.rows.clear(); tile.mode = mode; }
    if (mode === "counts") fillCounts(tile, list, next, pulses);
    else if (mode === "pips") fillPips(tile, list, next, pulses);
    else fillBoxes(tile, list, mode, next, pulses);
    tileBars(tile, id, list);
  }
  const keep = new Set(ids);
  for (const id of tiles.keys()) if (!keep.has(id)) tiles.delete(id);
  const keys = ids.length === 0 && rendered ? [NO_TILES] : ids;
  keyed(main, keys, {
    create: (id) => (id === NO_TILES
      ? el("p", { class: "empty" }, filtered ? "no task matches this wall's filter" : "no nodes")
      : /** @type {Tile} */ (tiles.get(id)).el),
  });
  boxes = next;
  document.body.dataset.page = String(page);
  const pageEl = byId("w-page");
  pageEl.hidden = l.pages <= 1;
  pageEl.textContent = `page ${page + 1}/${l.pages}`;
  window.wall = { mode, u: l.d.u, columns: l.C, rows: l.R, page,
    pages: Array.from({ length: l.pages },
      (_, i) => [...groups.keys()].slice(i * l.perPage, (i + 1) * l.perPage)) };
}

// a layout fitted to the swarm of this very moment would change with every task that comes and
// goes: once on the wall, a layout gives way only when it no longer fits, or to a better one that
// fits with room to spare
const HEADROOM = 1.1;

/**
 * @param {Stats} st
 * @returns {Stats}
 */
function roomy(st) {
  return { ...st, maxTasks: Math.ceil(st.maxTasks * HEADROOM), maxServices: Math.ceil(st.maxServices * HEADROOM) };
}

/**
 * @param {Layout} a
 * @param {Layout} b
 */
function better(a, b) {
  /** @param {Layout} l */
  const rank = (l) => [l.pages, MODES.indexOf(l.mode), -l.d.u];
  const [x, y] = [rank(a), rank(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i];
  return false;
}

/** @param {Groups} groups */
function relayout(groups, { force = false } = {}) {
  const st = statsOf(groups);
  const now = Date.now();
  const fits = stillFits(layout, st);
  if (!force && fits && now - plannedAt < REPLAN_EVERY) return false;
  const prefU = applyChrome();
  const W = main.clientWidth - 2 * parseFloat(getComputedStyle(main).paddingLeft);
  const H = main.clientHeight - 2 * parseFloat(getComputedStyle(main).paddingTop);
  let next = plan(st, W, H, prefU);
  plannedAt = now;
  if (!force) {
    const spacious = plan(roomy(st), W, H, prefU);
    if (spacious.pages === next.pages) next = spacious;
    if (fits && layout && !better(next, layout)) return false;
  }
  const same = layout && next.mode === layout.mode && next.d.u === layout.d.u && next.C === layout.C
    && next.R === layout.R && next.pages === layout.pages && next.perPage === layout.perPage
    && next.tileW === layout.tileW && next.tileH === layout.tileH;
  layout = next;
  if (page >= layout.pages) page = 0;
  if (!same) applyLayout(layout);
  return !same;
}

/** @param {Groups} groups */
function renderHeader(groups) {
  const services = [...model.services.values()].filter(shown);
  const tasks = [];
  for (const list of groups.values()) for (const t of list) tasks.push(t);
  const counts = serviceCounts(model, services, filtered ? tasks : model.tasks.values());
  let running = 0;
  let desired = 0;
  for (const [r, d] of counts.values()) { running += r; desired += d || 0; }
  const nodes = [...groups.keys()].filter((id) => id !== "" && !id.startsWith(BAND)).map((id) => model.nodes.get(id));
  const down = nodes.filter((n) => n && n.state !== "ready").length;
  setText("w-nodes", down ? `${nodes.length} (${down} down)` : String(nodes.length));
  byId("w-nodes").classList.toggle("bad", down > 0);
  setText("w-services", String(services.length));
  setText("w-running", String(running));
  setText("w-desired", String(desired));
  byId("w-running").classList.toggle("bad", running < desired);
  // "agents 2/3", of the nodes that should run one (ready, not drained); nothing when none has one
  const agents = nodes.filter((n) => n && n.agent).length;
  const due = nodes.filter((n) => n && (n.agent || (n.state === "ready" && n.availability !== "drain"))).length;
  const out = byId("w-agents");
  out.hidden = agents === 0;
  setText("w-agents", agents ? `agents ${agents}/${due}` : "");
  out.classList.toggle("warn", agents > 0 && agents < due);
}

// new samples: only what this page shows, the boxes of full density and the tiles' bars
live.usage.listen(() => {
  if (!layout || (layout.mode !== "full" && layout.mode !== "compact")) return;
  if (layout.mode === "full") {
    for (const [id, box] of boxes) {
      const t = model.tasks.get(id);
      const holder = box.lastElementChild;
      if (t && holder instanceof HTMLElement && holder.classList.contains("use")) boxBars(holder, t, model, live.usage);
    }
  }
  for (const [id, tile] of tiles) if (model.nodes.has(id)) tileBars(tile, id, lastGroups.get(id) || []);
});

// --- what happened: pulses and the ticker ------------------------------------------------------------

/**
 * @param {Task} a
 * @param {Task} b
 */
function sameTask(a, b) { return a.updated_at === b.updated_at && a.state === b.state; }
/**
 * @param {unknown} a
 * @param {unknown} b
 */
function sameJson(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

/**
 * @template T
 * @param {Map<string, T>} before
 * @param {Map<string, T>} after
 * @param {(a: T, b: T) => boolean} same
 * @returns {Map<string, T | undefined>}
 */
function diffMaps(before, after, same) {
  /** @type {Map<string, T | undefined>} */
  const changed = new Map();
  for (const [id, old] of before) {
    const now = after.get(id);
    if (!now || !same(old, now)) changed.set(id, old);
  }
  for (const id of after.keys()) if (!before.has(id)) changed.set(id, undefined);
  return changed;
}

/**
 * What happened since the last frame: id -> the item before (undefined: it is new).
 * @typedef {object} Happened
 * @property {Status | null} status the status before, when its state changed
 * @property {Map<string, SwarmNode | undefined>} nodes
 * @property {Map<string, Service | undefined>} services
 * @property {Map<string, Task | undefined>} tasks
 * @property {boolean} [reconnected] the model was sent again
 */

// after a resync the model was replaced: what changed is the difference with the one before
/**
 * @param {Changes} changes
 * @returns {Happened}
 */
function whatChanged(changes) {
  if (!changes.previous) return changes;
  const p = changes.previous;
  return {
    status: p.status.state !== model.status.state ? p.status : null,
    nodes: diffMaps(p.nodes, model.nodes, sameJson),
    services: diffMaps(p.services, model.services, sameJson),
    tasks: diffMaps(p.tasks, model.tasks, sameTask),
    reconnected: true,
  };
}

/**
 * @param {Happened} changes
 * @returns {Map<string, string>} task id -> its pulse
 */
function pulsesFrom(changes) {
  const pulses = new Map();
  for (const [id, old] of changes.tasks) {
    const t = model.tasks.get(id);
    if (!t) continue;
    if (alarming(t.state)) {
      if (!old || old.state !== t.state) pulses.set(id, "pulse-bad");
    } else if (!old) pulses.set(id, "pulse-new");
    else if (old.state !== t.state) pulses.set(id, "pulse-change");
  }
  return pulses;
}

/** @param {string} nodeId */
function hostOf(nodeId) {
  const n = model.nodes.get(nodeId);
  return n ? n.hostname : "no node";
}

/**
 * @param {Happened} changes
 * @returns {{kind: string, text: string}[]} the ticker's new lines, oldest first
 */
function eventsFrom(changes) {
  /** @type {{kind: string, text: string}[]} */
  const found = [];
  /**
   * @param {string} kind
   * @param {string} text
   */
  const add = (kind, text) => found.push({ kind, text });
  if (changes.reconnected) add("ok", "reconnected to the dashboard");
  if (changes.status) {
    if (model.status.state === "live") add("ok", "Docker connection live again");
    else {
      const why = model.status.reason ? `: ${model.status.reason}` : "";
      add("bad", `the dashboard lost Docker (${model.status.state})${why}`);
    }
  }
  for (const [id, old] of changes.nodes) {
    const n = model.nodes.get(id);
    // under a filter the server sends only the nodes that hold the filter's tasks: one comes and
    // goes with them, which says nothing about the swarm
    if (!n) { if (!filtered) add("warn", `node ${old ? old.hostname : id.slice(0, 12)} left the swarm`); continue; }
    if (!old) { if (!filtered) add("ok", `node ${n.hostname} joined the swarm`); continue; }
    if (old.state !== n.state) add(n.state === "ready" ? "ok" : "bad", `node ${n.hostname} is ${n.state}`);
    if (old.availability !== n.availability) {
      add(n.availability === "active" ? "ok" : "warn", `node ${n.hostname} availability: ${n.availability}`);
    }
    if (!old.leader && n.leader) add("warn", `node ${n.hostname} is the leader now`);
  }
  for (const [id, old] of changes.services) {
    const s = model.services.get(id);
    if (!s) { if (old && shown(old)) add("warn", `service ${old.name} removed`); continue; }
    if (!shown(s)) continue;
    if (!old) { add("ok", `service ${s.name} created (${imageName(s.image)})`); continue; }
    if (old.image !== s.image) add("warn", `service ${s.name} updated: ${imageName(old.image)} → ${imageName(s.image)}`);
    else if (old.replicas !== s.replicas) add("ok", `service ${s.name} scaled ${old.replicas} → ${s.replicas}`);
    else if (old.update_state !== s.update_state && s.update_state) {
      const bad = s.update_state.startsWith("rollback") || s.update_state === "paused";
      const kind = bad ? "bad" : s.update_state === "completed" ? "ok" : "warn";
      add(kind, `service ${s.name} update ${s.update_state.replace("_", " ")}`);
    } else if (old.updated_at !== s.updated_at) add("warn", `service ${s.name} updated`);
  }
  const failures = [];
  for (const [id, old] of changes.tasks) {
    const t = model.tasks.get(id);
    if (!t || !FAILED.has(t.state) || (old && old.state === t.state)) continue;
    const svc = model.services.get(t.service_id);
    if (!shown(svc)) continue;
    const error = errorText(t);
    failures.push(`${serviceName(t, svc)}${slotText(t)} ${t.state} on ${hostOf(t.node_id)}${error ? `: ${error}` : ""}`);
  }
  // a burst (a node's tasks, a resync after a long break) is one line, not a flood
  if (failures.length > 3) add("bad", `${failures.length} tasks failed: ${failures.slice(0, 3).join(" · ")} …`);
  else for (const f of failures) add("bad", `task ${f}`);
  return found;
}

/** @param {{kind: string, text: string}[]} found */
function addEvents(found) {
  const at = Date.now();
  for (const { kind, text } of found) {
    const item = el("li", { class: `ev-${kind}` }, el("time", {}, hhmmss(at).slice(0, 5)), el("span", {}, text));
    events.unshift({ at, kind, text, el: item });
    eventsList.prepend(item);
  }
  while (events.length > MAX_EVENTS) events.pop()?.el.remove();
  if (found.length) for (const quiet of eventsList.querySelectorAll(".ev-none")) quiet.remove();
}

// --- frames and the clock ----------------------------------------------------------------------

/** @param {Changes} changes */
function render(changes) {
  const now = Date.now();
  /** @type {Map<string, string>} */
  let pulses = new Map();
  if (rendered) {
    const what = whatChanged(changes);
    addEvents(eventsFrom(what));
    pulses = pulsesFrom(what);
  }
  const groups = group(now);
  lastGroups = groups;
  // what changed pulses even when it changes the arrangement too (a new task's first frame is often
  // in the unassigned tile, which comes and goes with it); boxes only re-laid out do not
  relayout(groups, { force: forcePlan });
  forcePlan = false;
  rendered = true;
  renderPage(groups, pulses);
  renderHeader(groups);
  tick();
}

/** @type {Record<string, string>} */
const BANNERS = {
  connecting: "connecting to the dashboard…",
  reconnecting: "the connection to the dashboard is down",
  stale: "the dashboard has lost its connection to Docker",
  silent: "nothing has come from the dashboard",
  ended: "this screen no longer follows the swarm",
};

/** @param {Connection} c */
function label(c) {
  if (c.state === "live") return "LIVE";
  if (c.state === "resuming") return "RECONNECTING";
  if (c.state === "stale") return `DOCKER ${dockerLoss(model.status).toUpperCase()}`;
  return c.state.toUpperCase();
}

function tick() {
  const now = Date.now();
  const c = live.connection(now);
  setText("w-clock", hhmmss(now));
  const conn = byId("w-conn");
  // a server that restarts within the stale bound is no alarm: the pill waits, the banner stays down
  const pill = c.state === "resuming" ? "connecting" : c.state;
  if (conn.dataset.conn !== pill) conn.dataset.conn = pill;
  setText("w-conn", label(c));
  document.body.dataset.conn = c.state;
  const notLive = c.state !== "live" && c.state !== "resuming"
    && !(c.state === "connecting" && now - startedAt < CONNECTING_GRACE);
  document.body.dataset.stale = notLive ? "1" : "0";
  const banner = byId("w-banner");
  if (banner.hidden === notLive) banner.hidden = !notLive;
  if (c.state === "connecting") {
    setText("w-age", "");
    setText("w-banner-text", BANNERS.connecting);
  } else if (c.state === "live" || c.state === "resuming") {
    setText("w-age", `updated ${ago(now - c.since)} ago`);
  } else {
    setText("w-age", `data from ${hhmmss(c.since)}`);
    const why = model.status.state === "live" ? "no answer from Docker" : model.status.reason;
    const reason = c.state === "stale" && why ? `: ${why}` : c.state === "ended" ? `: ${c.reason}` : "";
    setText("w-banner-text", `${BANNERS[c.state]}${reason} since ${hhmmss(c.since)} (${ago(now - c.since)}). `
      + "This screen shows the last state it knew, which may be out of date.");
  }
}

// a pulse ends with its animation: a box moved later in the page must not pulse again
main.addEventListener("animationend", (event) => {
  if (event.target instanceof Element) event.target.classList.remove("pulse-new", "pulse-change", "pulse-bad");
});

/** @type {ReturnType<typeof setTimeout> | undefined} */
let resizeTimer;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (relayout(lastGroups, { force: true })) renderPage(lastGroups, new Map());
  }, 200);
});

setInterval(() => {
  if (!layout || layout.pages <= 1) return;
  page = (page + 1) % layout.pages;
  renderPage(lastGroups, new Map());
}, options.pageMs);

// failed tasks leave once their window has passed; a layout kept for stability is reconsidered
setInterval(() => live.refresh(), 30000);

eventsList.append(el("li", { class: "ev-none" }, el("time", {}, hhmmss(startedAt).slice(0, 5)),
  el("span", {}, "watching")));
applyChrome();
tick();
live.start();
