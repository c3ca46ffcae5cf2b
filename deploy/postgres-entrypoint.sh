#!/bin/sh
# deploy/Dockerfile.postgres's entrypoint: on an empty data folder, make the cluster (superuser POSTGRES_USER,
# its password from the file POSTGRES_PASSWORD_FILE, a Docker secret, and the database POSTGRES_DB); then serve.
#
# Clients authenticate with the password (scram-sha-256), and only from the networks this container is on
# ("samenet"): in the stack that is the internal overlay network the dashboard shares with it, and no port is
# published. The container's own unix socket is trusted, for pg_isready, pg_dump and psql through docker exec.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-visualizer}
db=${POSTGRES_DB:-$user}

die() { echo "postgres-entrypoint: $*" >&2; exit 1; }

# names go into SQL below: plain identifiers only
for name in "$user" "$db"; do
  case "$name" in
    ''|[!a-z_]*|*[!a-z0-9_]*) die "POSTGRES_USER and POSTGRES_DB must be lower-case identifiers ([a-z_][a-z0-9_]*), not '$name'" ;;
  esac
done

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD_FILE:-}" ] || die "no POSTGRES_PASSWORD_FILE: give the password as a Docker secret"
  [ -r "$POSTGRES_PASSWORD_FILE" ] || die "POSTGRES_PASSWORD_FILE=$POSTGRES_PASSWORD_FILE cannot be read (the secret's uid must be $(id -u))"
  [ -s "$POSTGRES_PASSWORD_FILE" ] || die "POSTGRES_PASSWORD_FILE=$POSTGRES_PASSWORD_FILE is empty"
  echo "postgres-entrypoint: initialising a new cluster in $PGDATA (user $user, database $db)" >&2
  # initdb reads the password's first line from the file itself: it never appears in an argument or the environment
  initdb -D "$PGDATA" -U "$user" --pwfile="$POSTGRES_PASSWORD_FILE" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  cat > "$PGDATA/pg_hba.conf" <<EOF
# written by postgres-entrypoint.sh at initialisation
local all all trust
host all all samenet scram-sha-256
EOF
  if [ "$db" != postgres ]; then
    # single-user mode: no server, no socket, nothing can connect before the database exists
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | postgres --single -j -D "$PGDATA" postgres >/dev/null
  fi
fi

# settings on the command line, not in postgresql.conf: a newer image changes them for an old data folder too.
# jit=off: the dashboard's queries are tiny, and the image may carry no LLVM.
exec postgres -D "$PGDATA" -c listen_addresses='*' -c jit=off -c unix_socket_directories=/var/run/postgresql "$@"
