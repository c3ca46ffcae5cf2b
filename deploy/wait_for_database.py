"""Wait, bounded, until the database answers: the entrypoint runs this before the migrations.

A swarm has no ``depends_on``: the stack's PostgreSQL may start after the dashboard, or restart under
it. Connection errors are retried for DATABASE_WAIT_SECONDS (default 60), with a log line now and
then; after that the container exits and the swarm starts it again. A refused password or a missing
database is a configuration error: no retry. SQLite answers at once.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPORT_EVERY = 10.0  # seconds between two "still waiting" lines
RETRY_EVERY = 1.0
# What no waiting cures: a refused login, a database or role that does not exist. A connection the server
# refuses carries no SQLSTATE (libpq reports only the server's text), so the text it is; a server that
# words these in another language is waited for, up to the bound, like one that does not answer.
FATAL = ("password authentication failed", "no pg_hba.conf entry", "does not exist")


def main() -> int:
    # run as a script, its own folder is on sys.path; the project is one level up
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visualizer.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.utils import OperationalError

    from visualizer.env import env_float

    limit = env_float("DATABASE_WAIT_SECONDS", 60.0)
    settings = connection.settings_dict
    where = (
        f"{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
        if connection.vendor == "postgresql"
        else str(settings["NAME"])
    )  # never the password
    started = time.monotonic()
    reported = -REPORT_EVERY
    while True:
        try:
            connection.ensure_connection()
        except OperationalError as e:
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            waited = time.monotonic() - started
            if any(text in str(e) for text in FATAL):
                print(f"wait_for_database: the database at {where} refused us: {reason}", file=sys.stderr)
                return 1
            if waited >= limit:
                print(
                    f"wait_for_database: no database at {where} after {waited:.0f} s (DATABASE_WAIT_SECONDS={limit:g}):"
                    f" {reason}",
                    file=sys.stderr,
                )
                return 1
            if waited - reported >= REPORT_EVERY:
                print(f"wait_for_database: waiting for the database at {where}: {reason}", file=sys.stderr)
                reported = waited
            connection.close()
            time.sleep(min(RETRY_EVERY, max(limit - waited, 0.0)))
            continue
        if time.monotonic() - started >= RETRY_EVERY:
            print(f"wait_for_database: the database at {where} answers", file=sys.stderr)
        connection.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
