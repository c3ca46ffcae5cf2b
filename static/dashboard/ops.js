// @ts-check
// The operator's pages (services, a service, nodes, a node, problems) stay live. The server renders
// them from the model; this script follows the swarm socket (live.js) and, when the model has moved
// past what the page shows, fetches the page's live part again (#live, ?fragment=live) and puts it
// in place: one renderer (the server's templates), and nothing here builds markup from the model.
// At most one fetch runs at a time and they are MIN_GAP apart: a burst of patches costs one fetch.
import { byId } from "./draw.js";
import { LiveSwarm } from "./live.js";
import { paced } from "./paced.js";
import { problemsFollow } from "./problems.js";

const MIN_GAP = 500; // ms between two fetches of the live part
const initial = JSON.parse(byId("initial").textContent || "{}");
let shownSeq = Number(byId("live").dataset.seq || 0);

/** @param {string} text the trouble; "" when the last fetch went well */
function trouble(text) {
  const banner = byId("banner");
  banner.hidden = !text;
  if (banner.textContent !== text) banner.textContent = text;
}

/** @param {string} fragment "" for the whole page */
async function fetchPage(fragment) {
  const url = new URL(location.href);
  if (fragment) url.searchParams.set("fragment", fragment);
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  } catch {
    trouble("The page could not be updated: the server is not answering. The next change tries again.");
    return null;
  }
  if (!response.ok) {
    trouble(response.status === 404 ? "This is gone from the swarm." : `The page could not be updated (${response.status}).`);
    return null;
  }
  const text = await response.text().catch(() => null);
  if (text === null) { trouble("The page could not be updated: the answer broke off."); return null; }
  trouble(""); // a later success clears an earlier failure's banner
  return new DOMParser().parseFromString(text, "text/html");
}

// the scroll positions of the live part's scrolled boxes (a wide matrix), kept across a swap
/** @param {Element} root */
const scrolled = (root) => [...root.querySelectorAll(".matrix-wrap")];

const refresh = paced(async () => {
  const doc = await fetchPage("live");
  const fresh = doc && doc.getElementById("live");
  const shown = byId("live");
  // fetched one at a time, so the last one is the newest (a new leader's model may count from lower)
  if (fresh) {
    const positions = scrolled(shown).map((box) => [box.scrollLeft, box.scrollTop]);
    const specChanged = fresh.dataset.updatedAt !== shown.dataset.updatedAt;
    shown.replaceWith(fresh);
    scrolled(fresh).forEach((box, i) => { if (positions[i]) [box.scrollLeft, box.scrollTop] = positions[i]; });
    shownSeq = Number(fresh.dataset.seq || 0);
    document.body.dataset.shownSeq = String(shownSeq);
    // a service's spec is read from Docker: the page reads it again once the model says it changed
    if (specChanged && document.getElementById("spec")) {
      const spec = (await fetchPage(""))?.getElementById("spec");
      if (spec) byId("spec").replaceWith(spec);
    }
  }
}, MIN_GAP);

const live = new LiveSwarm({
  initial,
  heartbeatSeconds: initial.heartbeatSeconds,
  onFrame: () => {
    document.body.dataset.seq = String(live.model.seq);
    problemsFollow(live.model.seq);
    if (live.model.seq !== shownSeq) refresh();
  },
  onConnection: () => {
    const c = live.connection();
    const state = c.state === "live" ? "live" : c.state === "stale" || c.state === "silent" || c.state === "ended" ? "stale" : "reconnecting";
    const conn = byId("conn");
    if (conn.dataset.conn !== state) { conn.dataset.conn = state; conn.textContent = state; }
    document.body.dataset.conn = c.state;
  },
});
live.start();

// "/" focuses the filter, as on the grid (submitting it opens the grid filtered)
document.addEventListener("keydown", (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target.isContentEditable;
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    byId("filter").focus();
  }
});
