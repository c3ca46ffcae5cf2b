"""Several dashboard processes on one Redis: broadcast latency, Docker's load, a reconnect storm.

Everything runs on the simulator (bench.simhost, a process of its own) with a redis-server of its
own (tests.redisd: a unix socket, no persistence) and dashboard processes under daphne sharing it
(REDIS_URL, a fresh REDIS_NAMESPACE), each with its own signed-in viewer. Viewers are lightweight
websocket clients, one process of them per dashboard process (``fleet``: asyncio and aiohttp).

  broadcast  two processes; 500, 1,000 and 2,000 viewers split evenly (opened in steps, 50
             connecting at a time); at each level a steady churn (task failures on node 1, each an
             event: a steady stream of small patches) for a window. A patch's publish time is when a
             probe in this process, blocked on XREAD of the model's Redis stream, receives its entry:
             the moment every process can first see it, before any fan-out, and on no process's
             event loop. Reported: per patch, the time until every viewer had it (p50/p99), per
             delivery (p50/p99), deliveries missed, CPU share and RSS of each process (and of Redis
             and the fleets: a fleet near 100 % would make its own latency).
  docker     1, 2, then 3 processes on one Redis, the same churn each time: Docker requests/s summed
             over the processes' GET /api/metrics ``docker_requests``, and as the simulator counts
             what it served.
  storm      1,000 viewers connecting at once to a fresh process (then to two fresh processes) of a
             500-node / 20,000-task swarm: time until every one holds the model, the process's peak
             RSS (sampled every 0.1 s), the TCP bytes it sent on its viewers' connections (the
             kernel's tcp_info through ``ss -ti``, read before they close) in all and per viewer,
             and the payload the viewers read (after any permessage-deflate).

    .venv/bin/python -m bench.scale_out [--quick] [--only broadcast|docker|storm] [--levels 500,1000,2000]

Modules: book (frames, a viewer's seq bookkeeping, histograms: no I/O), fleet (the viewer process),
cluster (Redis, dashboards, fleets, the stream probe, /proc), runs, cli (arguments, tables, results).
"""
