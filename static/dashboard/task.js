// @ts-check
// The task panel: revealing masked values (operators), live logs over a websocket, and live details.
// Used inside the grid's side panel (grid.js calls mountPanel) and on the /tasks/<id>/ page.
import { el, find } from "./draw.js";
import { basePath, socketUrl } from "./live.js";

const MAX_LINES = 5000; // in the page: older lines go, so a chatty task cannot fill the memory

/**
 * @param {string} stream "stdout" | "stderr"
 * @param {string} ts
 * @param {string} text
 * @param {number} [split] 1: a line longer than the server's bound, cut here and going on in the next
 * @param {string} [who] the task it came from ("name.slot@node"), in a service's merged logs
 */
function line(stream, ts, text, split = 0, who = "") {
  return el("div", { class: `log-line ${stream}${split ? " split" : ""}` }, el("span", { class: "ts" }, ts),
    ...(who ? [el("span", { class: "who" }, who)] : []), el("span", { class: "text" }, text));
}

/**
 * Operators' reveal buttons: one POST per masked value, named by its path; the answer replaces the
 * mask in place (never stored: it goes when the panel closes or refreshes).
 * @param {ParentNode} root
 */
function bindReveal(root) {
  const form = root.querySelector("form.reveal-form");
  if (!(form instanceof HTMLFormElement)) return;
  for (const button of root.querySelectorAll("button.reveal")) {
    if (!(button instanceof HTMLButtonElement)) continue;
    button.addEventListener("click", async () => {
      const target = find(/** @type {HTMLElement} */ (button.parentElement), ".masked");
      const body = new FormData(form);
      body.set("path", button.dataset.path || "");
      button.disabled = true;
      try {
        const response = await fetch(form.action, { method: "POST", body, credentials: "same-origin", cache: "no-store" });
        const data = await response.json();
        target.textContent = response.ok ? data.value : `(${data.error})`;
        if (response.ok) {
          target.dataset.revealed = "true";
          button.remove();
        }
      } catch {
        target.textContent = "(the value could not be read)";
      } finally {
        button.disabled = false;
      }
    });
  }
}

/**
 * Follows a log socket into a panel's .logs section: a task's (lines [stream, ts, text, split?]) or,
 * with `merged`, a service's (lines [stream, ts, "name.slot@node", text, split?]).
 * @param {HTMLElement} panel
 * @param {string} path the socket's path, relative to the dashboard's base
 * @param {boolean} [merged]
 * @returns {() => void} stops following
 */
export function followLogs(panel, path, merged = false) {
  const box = find(panel, ".log-lines");
  const status = find(panel, ".logs-status");
  const filter = /** @type {HTMLInputElement} */ (find(panel, ".logs-filter"));
  const pause = find(panel, ".logs-pause");
  const stamps = /** @type {HTMLInputElement} */ (find(panel, ".logs-ts"));
  const started = find(panel, ".logs").dataset.started !== "0";
  let paused = false;
  /** @type {HTMLElement[]} */
  let held = [];
  let closed = false;
  let finished = false; // the server said how the stream ended: that stays on show
  let needle = "";

  // data-state: waiting | following | paused | ended | error | closed
  /**
   * @param {string} state
   * @param {string} text
   */
  function say(state, text, title = "") {
    status.dataset.state = state;
    status.textContent = text;
    status.title = title;
  }
  const following = () => (started ? say("following", "following") : say("waiting", "no container yet: lines appear once the task starts"));

  /** @param {Element} row */
  const matches = (row) => !needle || (row.lastChild?.textContent || "").toLowerCase().includes(needle)
    || (row.querySelector(".who")?.textContent || "").toLowerCase().includes(needle);
  /** @param {HTMLElement[]} rows */
  function append(rows) {
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    for (const row of rows) {
      row.hidden = !matches(row);
      box.append(row);
    }
    while (box.childElementCount > MAX_LINES) box.firstElementChild?.remove();
    if (stick) box.scrollTop = box.scrollHeight;
  }
  filter.addEventListener("input", () => {
    needle = filter.value.toLowerCase();
    for (const row of /** @type {HTMLCollectionOf<HTMLElement>} */ (box.children)) row.hidden = !matches(row);
  });
  stamps.addEventListener("change", () => box.classList.toggle("with-ts", stamps.checked));
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "resume" : "pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      append(held);
      held = [];
      if (!finished) following();
    }
  });

  const socket = new WebSocket(socketUrl(path));
  socket.addEventListener("open", following);
  socket.addEventListener("message", (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "lines") {
      /** @type {HTMLElement[]} */
      const rows = msg.lines.map((/** @type {any[]} */ l) =>
        (merged ? line(l[0], l[1], l[3], l[4], l[2]) : line(l[0], l[1], l[2], l[3])));
      if (paused) {
        held.push(...rows);
        if (held.length > MAX_LINES) held = held.slice(-MAX_LINES);
        if (!finished) say("paused", `paused · ${held.length} new line(s) held`);
      } else {
        append(rows);
      }
    } else if (msg.type === "skipped") {
      say("following", `${msg.count} line(s) skipped: the task writes faster than a page can follow`);
    } else if (msg.type === "end") {
      finished = true;
      say("ended", msg.cut ? `ended: ${msg.reason}` : "ended", msg.reason);
    } else if (msg.type === "notice") {
      append([line("stderr", "", msg.text, 0, "dashboard")]);
    } else if (msg.type === "error") {
      finished = true;
      say("error", msg.error);
    }
  });
  socket.addEventListener("close", () => {
    if (!closed && !finished) say("closed", "the log stream closed");
  });
  return () => { closed = true; socket.close(); };
}

/** @param {HTMLElement} panel a task panel (task_panel.html) */
export function mountPanel(panel) {
  const taskId = panel.dataset.taskId || "";
  bindReveal(panel);
  const stopLogs = followLogs(panel, `ws/tasks/${encodeURIComponent(taskId)}/logs?tail=200`);
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let refreshing;
  return {
    taskId,
    close() { stopLogs(); },
    // the task changed: fetch its details again, keep the logs as they are
    refresh() {
      clearTimeout(refreshing);
      refreshing = setTimeout(async () => {
        const response = await fetch(`${basePath()}tasks/${encodeURIComponent(taskId)}/panel?part=details`, { credentials: "same-origin" });
        if (!response.ok) return;
        const slot = find(panel, ".detail-slot");
        const doc = new DOMParser().parseFromString(await response.text(), "text/html");
        slot.replaceChildren(...doc.body.childNodes);
        bindReveal(slot);
      }, 200);
    },
  };
}

// the standalone page follows its task's changes on the swarm socket
const page = document.getElementById("task-page");
if (page) {
  const panel = find(page, ".task-panel");
  const mounted = mountPanel(panel);
  find(panel, ".close").hidden = true;
  const swarm = new WebSocket(socketUrl("ws/swarm"));
  swarm.addEventListener("message", (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "patch" && msg.tasks.upsert.some((/** @type {{id: string}} */ t) => t.id === mounted.taskId)) mounted.refresh();
  });
}
