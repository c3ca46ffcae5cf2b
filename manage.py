#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    # the node agent runs on every node without the dashboard's secrets, database or data folder
    agent = sys.argv[1:2] == ["agent"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visualizer.agent_settings" if agent else "visualizer.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
