"""A Docker Engine API simulator of a large swarm, for scale benchmarks and tests.

It serves on a unix socket what a swarm dashboard uses - /_ping, /version, /info, nodes, services,
tasks, /events, secrets and configs (list, inspect, create, remove), service updates, task logs and
the containers of node 1 - in the JSON shapes Docker sends (tests/integration/test_simulator_shapes.py
holds them against a real daemon), and it changes the swarm as Docker would: tasks fail and are
replaced in their slot, services scale and roll, nodes go down and drain, each with the events a
manager's /events carries. Like a real manager, it is "served from" node 1: container events and
container inspection exist only for tasks on node 1.

``engine`` picks the daemon it answers as (bench/simulator/profiles.py, docs/engine-api.md):
"20.10" (Engine 20.10.24, API 1.41, minimum 1.12) or "29" (Engine 29.0.2, API 1.52, minimum 1.44,
which refuses older clients with a 400, and the newer shapes).

Left out on purpose: networks, volumes, images, service create/remove over HTTP (drive those with the
methods), network events, restart delays and update parallelism (replacements start at once, one
state step every ``step_delay`` seconds).

    sim = Simulator(nodes=500, tasks=20000, managers=3, seed=1, engine="29")
    await sim.start("/tmp/sim.sock")   # DOCKER_HOST=unix:///tmp/sim.sock
    sim.scale(service_id, 40)
    await sim.stop()

    python -m bench.simulator --socket /tmp/sim.sock --nodes 500 --tasks 20000 --churn 10 --engine 29

Modules: model (objects, constants), profiles (what each engine answers), state (storage, lookups,
events, cached JSON), lifecycle (tasks, rollouts, churn), swarm (the public changes), docs and
containers (the JSON documents), events, routes, writes and logs (HTTP), server (Simulator), cli.
"""

from bench.simulator.model import ApiError
from bench.simulator.profiles import PROFILES, Profile
from bench.simulator.server import Simulator

__all__ = ["PROFILES", "ApiError", "Profile", "Simulator"]
