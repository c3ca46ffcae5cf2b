"""deploy/stack.socket-proxy.yml, deployed with `docker stack deploy` on a real 3-manager swarm, reached
the way a user reaches it: the host-mode port at a node's address. deploy/stack.yml, its failover to
another manager and the database all its replicas share: tests/deploy/test_shared_database.py."""

from __future__ import annotations

import json
import time

import pytest

from tests.deploy.conftest import record
from tests.deploy.stack import Stack

pytestmark = pytest.mark.deploy


def test_it_reads_docker_only_through_the_read_only_socket_proxy(proxied_stack: Stack) -> None:
    stack = proxied_stack
    t0 = time.monotonic()
    stack.deploy()
    stack.wait_healthy(stack.service("socket-proxy"), timeout=120)
    node = stack.wait_healthy(stack.service(), timeout=120)
    record("socket-proxy stack deploy to healthy", t0)

    seen = stack.probe_until_served(node)
    expected = [f"swarm-n{n}" for n in range(1, stack.lab.nodes + 1)]
    assert seen["snapshot_nodes"] == expected
    assert (seen["ws_type"], seen["ws_nodes"]) == ("snapshot", expected)

    # from inside the dashboard's container: the proxy reads, and refuses a write and the join tokens
    container = stack.lab.docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack.service()}", node=node
    ).split()[0]
    asked = stack.lab.docker("exec", container, "python", "-c", _ASK_PROXY, node=node, timeout=60)
    assert json.loads(asked) == {"GET /v1.41/nodes": 200, "POST /v1.41/services/create": 403, "GET /v1.41/swarm": 403}
    assert not stack.lab.docker("exec", container, "ls", "/var/run/docker.sock", node=node, check=False)


_ASK_PROXY = """
import http.client, json
out = {}
for method, path in [("GET", "/v1.41/nodes"), ("POST", "/v1.41/services/create"), ("GET", "/v1.41/swarm")]:
    c = http.client.HTTPConnection("socket-proxy", 2375, timeout=10)
    c.request(method, path, body=b"{}" if method == "POST" else None)
    out[f"{method} {path}"] = c.getresponse().status
print(json.dumps(out))
"""
