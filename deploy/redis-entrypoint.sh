#!/bin/sh
# deploy/Dockerfile.redis's entrypoint: write Redis's configuration, with the password of the file
# REDIS_PASSWORD_FILE (a Docker secret), into a folder only this user reads; then serve.
#
# The password is in that file and nowhere else: not in the environment, not on the command line (where
# `ps` and `docker inspect` show it). Nothing is kept on disk (no snapshots, no append-only file): what
# the dashboard keeps here, its replicas rebuild within seconds after a restart.
set -eu
conf_dir=${REDIS_CONF_DIR:-/run/redis}
die() { echo "redis-entrypoint: $*" >&2; exit 1; }

file=${REDIS_PASSWORD_FILE:-}
[ -n "$file" ] || die "no REDIS_PASSWORD_FILE: give the password as a Docker secret"
[ -r "$file" ] || die "REDIS_PASSWORD_FILE=$file cannot be read (the secret's uid must be $(id -u))"
# the first line, as the dashboard's *_FILE settings read a secret (a trailing newline is no part of it)
password=$(head -n 1 "$file")
[ -n "$password" ] || die "REDIS_PASSWORD_FILE=$file is empty"
[ -z "$(tail -n +2 "$file")" ] || die "REDIS_PASSWORD_FILE=$file has more than one line"
[ "${#password}" -ge 16 ] || die "the password in REDIS_PASSWORD_FILE is shorter than 16 characters"

umask 077
mkdir -p "$conf_dir"
# a quoted string in redis.conf: a backslash and a double quote are escaped, everything else is literal
# printf is the shell's own: the password is in no process's arguments
quoted=$(printf '%s' "$password" | sed 's/[\\"]/\\&/g')
cat > "$conf_dir/redis.conf" <<CONF
# written by redis-entrypoint.sh at start
port 6379
# every address of the container: in the stack that is its one (internal, overlay) network and loopback
bind * -::*
requirepass "$quoted"
# nothing on disk: no RDB snapshots, no append-only file
save ""
appendonly no
dir $conf_dir
daemonize no
logfile ""
CONF
unset password quoted
exec redis-server "$conf_dir/redis.conf" "$@"
