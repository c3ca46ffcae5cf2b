"""What every benchmark needs: a swarm lab, the simulator, the dashboard under daphne, viewers, tables.

Everything started here is stopped here, by the object that started it: the lab by its own
SWARMLAB_BASE/SWARMLAB_PREFIX, processes by their pid. SIGTERM becomes KeyboardInterrupt so that
the ``finally`` blocks run.

Modules: process (signals, root, ports), tables (figures, tables, the results files), swarmlab (the
swarm lab and Docker's own API over its socket), sim (the simulator in a process of its own), daphne
(the dashboard under daphne, signed in), viewers (websocket viewers), browser (Chromium).
"""

from bench.harness.browser import CHROMIUM, CHROMIUM_ARGS, chromium, grid_context, need_chromium
from bench.harness.daphne import BENCH_PASSWORD, BENCH_USER, Dashboard, request_rates
from bench.harness.process import ROOT, free_port, interrupt_on_sigterm, need_root
from bench.harness.sim import SimHost
from bench.harness.swarmlab import DockerAPI, TaskPoller, lab, running_ids
from bench.harness.tables import RESULTS, fmt, machine, percentile, save, summary, table
from bench.harness.viewers import WsViewer, ws_viewer

__all__ = [
    "BENCH_PASSWORD",
    "BENCH_USER",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "RESULTS",
    "ROOT",
    "Dashboard",
    "DockerAPI",
    "SimHost",
    "TaskPoller",
    "WsViewer",
    "chromium",
    "fmt",
    "free_port",
    "grid_context",
    "interrupt_on_sigterm",
    "lab",
    "machine",
    "need_chromium",
    "need_root",
    "percentile",
    "request_rates",
    "running_ids",
    "save",
    "summary",
    "table",
    "ws_viewer",
]
