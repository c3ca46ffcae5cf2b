// @ts-check
// The task panel: revealing masked values (operators), live logs over a websocket, and live details.
// Used inside the grid's side panel (grid.js calls mountPanel) and on the /tasks/<id>/ page.
import { bytesText, coresText, el, find, sparkPoints } from "./draw.js";
import { UsageStore, basePath, socketUrl } from "./live.js";

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

const RECONNECT_FIRST = 1000; // ms before the first try to open a log stream again
const RECONNECT_MAX = 15000;
const RECONNECT_TRIES = 20; // then the stream stays closed: the page's own socket says why

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

  /** @param {MessageEvent} event */
  function received(event) {
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
  }

  // a server restart or a dropped connection (not a close the server gave a reason for, 4xxx):
  // open it again after a backoff; the server sends the tail again, so the lines start over
  /** @type {WebSocket} */
  let socket;
  let backoff = RECONNECT_FIRST;
  let tries = 0;
  function open() {
    socket = new WebSocket(socketUrl(path));
    socket.addEventListener("open", () => { backoff = RECONNECT_FIRST; following(); });
    socket.addEventListener("message", (event) => {
      if (tries) { tries = 0; box.replaceChildren(); } // the tail again, after a reconnect
      received(event);
    });
    socket.addEventListener("close", (event) => {
      if (closed || finished) return;
      if (event.code >= 4000 || tries >= RECONNECT_TRIES) { say("closed", "the log stream closed"); return; }
      tries += 1;
      say("waiting", `the log stream closed: trying again in ${Math.round(backoff / 1000)} s`);
      setTimeout(() => { if (!closed) open(); }, backoff);
      backoff = Math.min(backoff * 2, RECONNECT_MAX);
    });
  }
  open();
  return () => { closed = true; socket.close(); };
}

const WINDOW = 15 * 60; // seconds of samples the charts show (what GET /tasks/<id>/usage keeps)
const MAX_SAMPLES = 2000; // a bound on what the page keeps, whatever the pace
const SVG = "http://www.w3.org/2000/svg";
const W = 300;
const H = 60;

/**
 * The task's CPU and memory over the last 15 minutes: its node agent's samples as the dashboard
 * kept them, then each new one from the page's usage frames while the panel is open.
 * @param {HTMLElement} panel
 * @param {string} taskId
 * @param {UsageStore} usage
 * @returns {() => void} stops following
 */
function followUsage(panel, taskId, usage) {
  const section = panel.querySelector("section.usage");
  if (!(section instanceof HTMLElement)) return () => {};
  const status = find(section, ".usage-status");
  const charts = find(section, ".usage-charts");
  /** @type {number[][]} [unix time, cpu, memory] */
  let samples = [];
  let limit = 0;
  let closed = false;
  /** @type {Record<string, {svg: SVGSVGElement, line: SVGPolylineElement, caption: HTMLElement}>} */
  const shown = {};

  /**
   * @param {string} key
   * @param {string} name
   */
  function chart(key, name) {
    if (!shown[key]) {
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("class", `spark ${key}`);
      svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("role", "img");
      const line = document.createElementNS(SVG, "polyline");
      svg.append(line);
      const caption = el("figcaption", {}, name);
      charts.append(el("figure", { class: `spark-${key}` }, svg, caption));
      shown[key] = { svg, line, caption };
    }
    return shown[key];
  }

  function draw() {
    const to = Date.now() / 1000;
    samples = samples.filter((s) => s[0] >= to - WINDOW).slice(-MAX_SAMPLES);
    if (!samples.length) {
      status.textContent = "no samples: no agent reports this task's node, or its container is not running";
      charts.hidden = true;
      return;
    }
    status.textContent = "";
    charts.hidden = false;
    // a task younger than the window: its lines span the width from its first sample (a minute at least)
    const from = Math.max(to - WINDOW, Math.min(samples[0][0], to - 60));
    const last = samples[samples.length - 1];
    const cpuPeak = Math.max(...samples.map((s) => s[1]));
    const memPeak = Math.max(...samples.map((s) => s[2]));
    const cpu = chart("cpu", "CPU");
    cpu.line.setAttribute("points", sparkPoints(samples, 1, { from, to, max: Math.max(cpuPeak * 1.2, 0.01), w: W, h: H }));
    const cpuText = `CPU ${coresText(last[1])} cores now, peak ${coresText(cpuPeak)}`;
    cpu.caption.textContent = cpuText;
    cpu.svg.setAttribute("aria-label", `${cpuText}, over the last 15 minutes`);
    const mem = chart("mem", "memory");
    // each line is scaled by its peak, so that a small use still shows its shape; the words say the limit
    mem.line.setAttribute("points", sparkPoints(samples, 2, { from, to, max: Math.max(memPeak * 1.2, 1), w: W, h: H }));
    const memText = `memory ${bytesText(last[2])} now, peak ${bytesText(memPeak)}${limit > 0 ? `, limit ${bytesText(limit)}` : ""}`;
    mem.caption.textContent = memText;
    mem.svg.setAttribute("aria-label", `${memText}, over the last 15 minutes`);
  }

  /** @type {number[] | undefined} */
  let lastSample;
  const onUsage = () => {
    const sample = usage.task(taskId);
    if (!sample || sample === lastSample) return; // a frame that did not name it
    lastSample = sample;
    limit = sample[2];
    samples.push([Date.now() / 1000, sample[0], sample[1]]);
    draw();
  };
  status.textContent = "loading…";
  fetch(section.dataset.usageUrl || "", { credentials: "same-origin", cache: "no-store" }).then(async (response) => {
    if (closed) return;
    if (!response.ok) { status.textContent = "resource use could not be read"; return; }
    const body = await response.json();
    // before what came on the socket meanwhile (the page's clock and the dashboard's are taken as one)
    if (Array.isArray(body.samples)) samples = [...body.samples.slice(-MAX_SAMPLES), ...samples];
    if (typeof body.memory_limit === "number") limit = body.memory_limit;
    draw();
  }).catch(() => { if (!closed) status.textContent = "resource use could not be read"; });
  usage.listen(onUsage);
  return () => { closed = true; usage.unlisten(onUsage); };
}

/**
 * @param {HTMLElement} panel a task panel (task_panel.html)
 * @param {UsageStore} [usage] the page's resource use from the node agents
 */
export function mountPanel(panel, usage = new UsageStore()) {
  const taskId = panel.dataset.taskId || "";
  bindReveal(panel);
  const stopLogs = followLogs(panel, `ws/tasks/${encodeURIComponent(taskId)}/logs?tail=200`);
  const stopUsage = followUsage(panel, taskId, usage);
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let refreshing;
  return {
    taskId,
    close() { stopLogs(); stopUsage(); },
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
  const usage = new UsageStore();
  const mounted = mountPanel(panel, usage);
  find(panel, ".close").hidden = true;
  const swarm = new WebSocket(socketUrl("ws/swarm"));
  swarm.addEventListener("message", (event) => {
    if (typeof event.data !== "string") return;
    const msg = JSON.parse(event.data);
    if (msg.type === "usage") usage.apply(msg, Date.now());
    else if (msg.type === "patch" && msg.tasks.upsert.some((/** @type {{id: string}} */ t) => t.id === mounted.taskId)) mounted.refresh();
  });
}
