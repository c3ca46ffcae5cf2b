"""The model's cost at scale: one task change and a full reconcile, on the simulator at 500 nodes / 20,000 tasks.

The simulator runs in a process of its own (bench.simhost), so what is timed here is the dashboard's
work only (plus the wait for the simulator's answer, shown apart as wall vs CPU). The dashboard's
Watcher is driven step by step with its own methods, as its refresher runs them:

  one task change   a task on node 1 fails (its replacement starts); then the refresher's work
                    for that hint: _targeted (GET /tasks?filters={"service":[id]}, parse, the
                    watcher's task bookkeeping) and _publish (Snapshot.build, advance =
                    same_content + diff, and the subscriber's patch_json + json.dumps, which is
                    what dashboard.runtime sends to the group); measured for the failure itself
                    (2 tasks change: the failed one and its replacement) and for the replacement's
                    next state step (1 task changes)
  full reconcile    _reconcile(full=True) (nodes, services, tasks) + _publish; and the periodic
                    tasks-only reconcile; with the longest the event loop went without running
                    another task meanwhile (a probe that asks for a turn every millisecond), which
                    is how long every websocket and heartbeat of the process waits
  event to patch    a running Watcher: from the failure to the published patch (includes the
                    /events hop and the 20 ms coalescing window)

Stage times come from timing wrappers around the client's requests and state's build/advance as the
watcher calls them; "the rest" is the watcher's own bookkeeping (its task table, the lists of nodes
and services in a full reconcile).
A cProfile pass over the one-change path then says where the time goes.

    .venv/bin/python -m bench.model_cost [--nodes 500] [--tasks 20000] [--trials 30] [--quick]

Modules: timing (the stage clock, the timing wrappers, the patch sink, the stall probe), measure
(the runs on the simulator), report (the tables), cli.
"""
