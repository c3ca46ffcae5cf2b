// @ts-check
// The problems as the bar and the grid show them, kept live: when the model moves, /api/problems is
// asked again (one request at a time, at most one per MIN_GAP: a burst of patches costs one), the
// bar's count (#nav-problems) is redrawn and, on the grid, the strip of the newest (#problems-strip:
// a link per problem, at most STRIP_SHOWN, "N more" to the problems page). Only a signed-in user's
// bar has #nav-problems: without it this does nothing. Problems are text, never markup.
import { basePath } from "./live.js";
import { el } from "./draw.js";
import { paced } from "./paced.js";

const MIN_GAP = 1000; // ms between two requests
const STRIP_SHOWN = 5;

/**
 * @typedef {object} Problem as /api/problems gives it
 * @property {string} kind
 * @property {string} title
 * @property {string} detail
 * @property {string} url
 */

let askedSeq = -1;

/** @param {number} total */
function drawCount(total) {
  const link = document.getElementById("nav-problems");
  if (!link) return;
  let count = link.querySelector(".count");
  if (!total) { count?.remove(); return; }
  if (!count) { count = el("span", { class: "count" }); link.append(" ", count); }
  count.setAttribute("data-problems", String(total));
  count.textContent = `(${total})`;
}

/**
 * @param {Problem[]} problems newest first
 * @param {number} total
 */
function drawStrip(problems, total) {
  const strip = document.getElementById("problems-strip");
  if (!strip) return;
  const list = el("ul", { class: "problems-strip-list" });
  for (const p of problems.slice(0, STRIP_SHOWN)) {
    const link = el("a", { href: p.url, title: p.detail }, p.title);
    list.append(el("li", { class: `kind-${p.kind}`, "data-kind": p.kind }, el("span", { class: "kind" }, p.kind), " ", link));
  }
  const more = total - Math.min(problems.length, STRIP_SHOWN);
  const all = el("a", { href: `${basePath()}problems/` }, more > 0 ? `${more} more` : "all problems");
  // always one line, there or not: a problem that comes or goes must not move the grid below it
  if (total === 0) strip.replaceChildren(el("h2", { class: "strip-title" }, "Problems"), " ", el("span", { class: "none" }, "none"));
  else strip.replaceChildren(el("h2", { class: "strip-title" }, "Problems"), list, all);
  strip.classList.toggle("clear", total === 0);
}

const ask = paced(async () => {
  try {
    const response = await fetch(`${basePath()}api/problems`, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return; // signed out, or the server is going: the next model change asks again
    const body = await response.json();
    drawCount(Number(body.total) || 0);
    drawStrip(Array.isArray(body.problems) ? body.problems : [], Number(body.total) || 0);
  } catch {
    // the network went: the next model change asks again
  }
}, MIN_GAP);

/**
 * Ask again if the model moved since the last time (call it on each frame of the swarm socket).
 * @param {number} seq the model's seq
 */
export function problemsFollow(seq) {
  if (seq === askedSeq || !document.getElementById("nav-problems")) return;
  askedSeq = seq;
  ask();
}
