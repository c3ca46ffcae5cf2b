#!/bin/sh
# The image's entrypoint: prepare the database, create the first admin when no user exists yet, serve.
# Given a command instead (docker run IMAGE python manage.py createsuperuser), it runs that; `agent` is
# the node agent (python manage.py agent): no database, no migration, no first admin.
set -eu
cd "$(dirname "$0")/.."  # /app in the image
if [ "${1:-}" = agent ]; then
  shift
  exec python manage.py agent "$@"
fi
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
# SQLite creates its file, not the folder around it
if [ -n "${DATA_DIR:-}" ]; then mkdir -p "$DATA_DIR"; fi
# a swarm has no depends_on: the stack's database may come up after this container (bounded wait)
python deploy/wait_for_database.py
python manage.py migrate --noinput -v 0
python deploy/first_admin.py
# no daphne access log: wall-screen URLs carry kiosk tokens; the app logs access itself, masked.
# No websocket timeout: daphne would close every socket after a day (its default), and a wall stays open for weeks.
# No --proxy-headers: daphne would take X-Forwarded-For's leftmost entry, which the client writes. The app
# reads the header itself, from the right, past TRUSTED_PROXIES only (dashboard/access/proxies.py).
# visualizer.serve is daphne with request bodies capped (MAX_REQUEST_BYTES: a 413 before they are read) and
# held in memory only: bare daphne buffers any body, to a temporary file above 100 KB, without a limit.
exec python -m visualizer.serve --access-log /dev/null --websocket_timeout -1 -b "${BIND:-0.0.0.0}" -p "${PORT:-8000}" \
  visualizer.asgi:application
