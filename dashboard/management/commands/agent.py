"""`manage.py agent`: the node agent (dashboard.agent). One per node, pointed at its node's daemon
(DOCKER_HOST) and at the dashboard (AGENT_DASHBOARD_URL, AGENT_TOKEN or AGENT_TOKEN_FILE).

manage.py starts the agent before Django is set up (dashboard.agent.main says why); this command is
the same entry when the agent is started through Django (`django-admin agent`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Report this node's swarm task containers (events, health, stats) to the dashboard, for ever."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        from dashboard.agent.main import main

        raise SystemExit(main())
