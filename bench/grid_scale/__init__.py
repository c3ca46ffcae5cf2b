"""The grid at scale in real headless Chromium: the simulator at 500 nodes / 20,000 tasks, and the lab.

The dashboard runs under daphne with DOCKER_HOST pointing at the simulator's socket (the simulator
in a process of its own). Measured with the Chrome DevTools Protocol (a CDP session of the page):

  first render   navigation start -> window.swarmReady (the server-rendered page, then the whole
                 model over the websocket, applied); with the HTML size, time to first byte,
                 DOMContentLoaded and first contentful paint; several loads
  main thread    busy share = delta Performance.getMetrics TaskDuration / wall time, idle and under
                 churn (each failure also starts a replacement task, which steps through its states):
                   "any node"  10 failures/s anywhere: the manager hears of most of them only at
                               the periodic reconcile, so they arrive in bursts
                   "node 1"    failures on the manager's own node: each is an event, so a steady
                               stream of small patches; 2.5 failures/s (about 10 task changes/s
                               on the wire) and 10 failures/s (about 40)
                 then a Chrome trace of each kind (main-thread self time by trace event, and the
                 cost of each rendering update)
  scrolling      the grid scrolled to points along its width: time until the column in the
                 middle of the view shows its boxes, and how many boxes the page holds then
  wire           Network.webSocketFrameReceived payload sizes: bytes per task change under churn,
                 and the frames of single changes (a task on node 1 fails; then its replacement
                 steps through its states one task change at a time)
  JS heap        Performance.getMetrics JSHeapUsedSize after the first render and after the churn
  dashboard CPU  the daphne process's CPU share in each phase (/proc/PID/stat)

Then the same first-render measure on a small swarm on the lab (3 nodes).

    .venv/bin/python -m bench.grid_scale [--quick] [--only sim|lab] [--nodes 500] [--tasks 20000]

Modules: probes (the scripts evaluated in the page), cdp (what the DevTools protocol measures: the
wire, the phases, the traces), runs (the simulator's run and the lab's), report (the tables), cli.
"""
