// @ts-check
// The secrets page stays live: when the swarm's secrets, configs or their services change, the
// tables are fetched again from the server (which renders them; nothing here builds markup).
import { byId } from "./draw.js";
import { socketUrl } from "./live.js";

const tables = () => byId("secret-tables");
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
let seq = Number(tables().dataset.seq || 0);

function usersShown() {
  const users = document.querySelectorAll("#secret-tables [data-service-id]");
  return new Set([...users].map((e) => /** @type {HTMLElement} */ (e).dataset.serviceId));
}

function refresh() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const response = await fetch(`${location.pathname}?fragment=tables`, { credentials: "same-origin" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("secret-tables");
    if (fresh) tables().replaceWith(fresh);
  }, 250);
}

/** @param {any} msg a message of the swarm socket */
function touched(msg) {
  if (msg.type !== "patch") return msg.type === "snapshot" && msg.seq !== seq;
  /** @param {{upsert: unknown[], removed: string[]} | undefined} part */
  const any = (part) => part && (part.upsert.length || part.removed.length);
  if (any(msg.secrets) || any(msg.configs) || any(msg.services)) return true;
  const shown = usersShown();
  return msg.tasks.upsert.some((/** @type {{service_id: string}} */ t) => shown.has(t.service_id));
}

let backoff = 500;
function connect() {
  const socket = new WebSocket(socketUrl("ws/swarm"));
  socket.addEventListener("message", (event) => {
    const msg = JSON.parse(event.data);
    if (touched(msg)) refresh();
    if (msg.seq) seq = msg.seq;
  });
  socket.addEventListener("open", () => { backoff = 500; });
  socket.addEventListener("close", () => { setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 10000); });
}
connect();
