#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["agent"]:
        # the node agent runs on every node with none of the dashboard's settings, secrets or
        # database, and without Django's apps (dashboard.agent.main); it refuses any argument
        from dashboard.agent.main import main as agent

        sys.exit(agent(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visualizer.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
