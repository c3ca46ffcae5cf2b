"""deploy/stack.yml on a real 3-manager swarm: it runs on a manager, comes back on another when its node is
drained, and there knows what the old one knew: users and kiosk tokens are in the stack's PostgreSQL.

With the former stack (SQLite in a volume local to each node) the moved dashboard started on an empty
database: the first admin came back from the secret although it had been deactivated, every other user
and every kiosk token was gone, and a password changed before the move was the old one again.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pytest

from tests.deploy.conftest import record
from tests.deploy.stack import ADMIN, WAITING, Stack

pytestmark = pytest.mark.deploy

OPERATOR = "ops"


def kiosk_token(created: str) -> str:
    """The token in the URL `manage.py kiosk create` prints (shown once)."""
    match = re.search(r"[?&]kiosk=([\w-]+)", created)
    assert match, f"no kiosk URL in {created!r}"
    return match.group(1)


def test_it_comes_back_on_another_manager_when_drained_and_keeps_revoked_tokens_and_users_out(stack: Stack) -> None:
    t0 = time.monotonic()
    stack.deploy()
    first = stack.wait_healthy(stack.service(), timeout=150)
    record("stack deploy to healthy", t0, f"dashboard n{first}, database n{stack.db_node}")
    assert stack.wait_healthy(stack.service("db"), timeout=60) == stack.db_node  # the stack's pg_isready check
    # swarm has no depends_on: the dashboard started before its database had a node, waited, went on
    log = stack.logs(first)
    assert 0 <= log.find(WAITING) < log.find("wait_for_database: the database at db:5432/visualizer answers"), log

    # the first admin from the secret signs in; the grid lists the lab's nodes, read through the socket
    seen = stack.probe_until_served(first)
    lab_nodes = [f"swarm-n{n}" for n in range(1, stack.lab.nodes + 1)]
    assert seen["healthz"] == 200
    assert seen["after_login"].endswith(f":{stack.port}/"), "the login did not lead to the grid"
    assert seen["snapshot_nodes"] == lab_nodes, "the dashboard did not list the lab's nodes through its socket"
    assert (seen["ws_type"], seen["ws_nodes"]) == ("snapshot", lab_nodes)

    # what operators do on the first manager: a wall screen's token revoked, another kept, the shared
    # first admin switched off once people have their own accounts, a password changed
    revoked = kiosk_token(stack.manage(first, "kiosk", "create", "lobby-wall"))
    kept = kiosk_token(stack.manage(first, "kiosk", "create", "ops-wall"))
    assert stack.manage(first, "kiosk", "revoke", "lobby-wall") == "revoked lobby-wall"
    old_password, new_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    stack.manage(first, "adduser", OPERATOR, "--role", "admin", env={"ADDUSER_PASSWORD": old_password})
    stack.manage(first, "adduser", OPERATOR, "--role", "admin", env={"ADDUSER_PASSWORD": new_password})
    stack.manage(first, "shell", "-c", _DEACTIVATE.format(name=ADMIN))

    checks = {
        "revoked kiosk token": ["kiosk", revoked],
        "kept kiosk token": ["kiosk", kept],
        "deactivated first admin": ["user", ADMIN, stack.password],
        "operator, password before the change": ["user", OPERATOR, old_password],
        "operator, password after the change": ["user", OPERATOR, new_password],
    }
    expected: dict[str, Any] = {
        # the socket says why in an error frame, then closes (4401): no model
        "revoked kiosk token": {"page": "login", "ws": "error"},
        "kept kiosk token": {"page": "grid", "ws": "snapshot"},
        "deactivated first admin": False,
        "operator, password before the change": False,
        "operator, password after the change": True,
    }
    # the checks tell these apart on the manager where it all happened
    assert stack.who_gets_in(first, checks) == expected

    t0 = time.monotonic()
    stack.swarm.drain(f"swarm-n{first}")
    second = stack.wait_healthy(stack.service(), timeout=120, not_on=frozenset({first}))
    record("failover after drain (to healthy on another manager)", t0, f"n{first} -> n{second}")
    assert stack.lab.api(f"/nodes/swarm-n{second}")["Spec"]["Role"] == "manager"

    # the same answers from the dashboard's new replica, on the other manager
    assert stack.who_gets_in(second, checks) == expected, stack.diagnosis()
    seen = stack.probe_until_served(second, user=OPERATOR, password=new_password)
    assert seen["snapshot_nodes"] == lab_nodes
    assert (seen["ws_type"], seen["ws_nodes"]) == ("snapshot", lab_nodes)

    # the stack's node agents (a global service) found the dashboard where it went: one on every
    # node but the drained one (Docker removes a drained node's global tasks too)
    t0 = time.monotonic()
    undrained = [n for n in lab_nodes if n != f"swarm-n{first}"]
    assert stack.wait_agents(second, undrained, user=OPERATOR, password=new_password) == undrained
    record("an agent on every undrained node, after the failover", t0)


_DEACTIVATE = """
from django.contrib.auth import get_user_model
user = get_user_model().objects.get(username={name!r})
user.is_active = False
user.save()
"""
