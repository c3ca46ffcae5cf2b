"""The scripts evaluated in the page: a stamp for window.swarmReady, a load's figures, a scroll's fill."""

READY_STAMP = """
(() => {
  let ready = false;
  Object.defineProperty(window, "swarmReady", {
    configurable: true,
    get() { return ready; },
    set(value) {
      ready = value;
      if (value === true && window.__readyAt === undefined) window.__readyAt = performance.now();
    },
  });
})();
"""

LOAD_FIGURES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return {
    ready_ms: window.__readyAt,
    ttfb_ms: nav.responseStart,
    html_done_ms: nav.responseEnd,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    first_contentful_paint_ms: fcp ? fcp.startTime : null,
    html_bytes: nav.decodedBodySize,
    html_transfer_bytes: nav.transferSize,
    task_boxes: document.querySelectorAll("#grid [data-task-id]").length,
    node_columns: document.querySelectorAll("#grid section.node[data-node-id]:not(.unassigned)").length,
  };
}"""

# scroll the grid to a fraction of its width; how long until the column in the middle of the view
# holds its boxes (then one more frame, to paint them), and how many boxes the page holds
SCROLL_FILL = """async (fraction) => {
  const g = document.getElementById("grid");
  const t0 = performance.now();
  g.scrollLeft = fraction * (g.scrollWidth - g.clientWidth);
  const mid = g.scrollLeft + g.clientWidth / 2;
  const nodes = [...g.children].filter((s) => !s.hidden && s.dataset.nodeId);
  const col = nodes.filter((s) => s.offsetLeft <= mid).pop() || nodes[0];
  const id = col.dataset.nodeId;
  const want = [...window.swarm.tasks.values()].filter((t) => t.node_id === id && t.state === "running").length;
  const have = () => col.querySelectorAll("[data-task-id][data-state='running']").length;
  while (have() < want && performance.now() - t0 < 5000) await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(r));
  return { ms: performance.now() - t0, shown: have(), want,
    boxes: document.querySelectorAll("#grid [data-task-id]").length,
    filled: [...g.children].filter((s) => s.querySelector("[data-task-id]")).length };
}"""
