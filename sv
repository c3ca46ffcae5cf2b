#!/usr/bin/env bash
# sv - run, test and demo Swarm Visualizer.
#
#   ./sv run             serve the dashboard (DOCKER_HOST, default the local socket) on HOST:PORT
#   ./sv test            the whole test suite: lint, types, unit, real-swarm and browser tests (root)
#   ./sv unit            the fast unit tier only (no root, no Docker)
#   ./sv demo            a real local 3-node swarm with sample services, and the dashboard on it (root)
#   ./sv lab CMD ...     the swarm lab itself (deploy/lab/swarmlab: up, down, kill N, restart N, status)
#   ./sv manage ARGS...  manage.py in the project's virtualenv (createsuperuser, adduser, ...)
#   ./sv help            this list
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
APT_TEST_PACKAGES="docker.io busybox-static iproute2 iptables util-linux chromium redis-server python3-venv debootstrap nginx"

say() { echo "sv: $*" >&2; }
die() { say "$*"; exit 1; }

venv() {  # venv REQUIREMENTS: a virtualenv holding that pinned set (re-installed when a pin changes)
  local req=$1 stamp
  command -v "$PY" >/dev/null || die "$PY not found: install Python 3.11+ (apt-get install -y python3 python3-venv)"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11+ needed, $PY is $("$PY" -V 2>&1)"
  stamp=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
  # the dev set includes the runtime set, so a current dev stamp serves `run` too
  for s in "$req" requirements-dev.txt; do
    [ "$(cat "$VENV/.stamp-$s" 2>/dev/null)" = "$stamp-$(sha256sum < "$s" | cut -c1-16)" ] && return 0
  done
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv in $VENV"
    "$PY" -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; die "cannot create a virtualenv: apt-get install -y python3-venv"; }
  fi
  say "installing $req into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req" || die "pip install -r $req failed"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . || die "pip install -e . failed"
  echo "$stamp-$(sha256sum < "$req" | cut -c1-16)" > "$VENV/.stamp-$req"
}

system_packages() {  # install what the real-swarm and browser tests need, when missing and allowed
  local missing="" c
  for c in dockerd busybox ip iptables nsenter chromium redis-server debootstrap nginx; do
    command -v "$c" >/dev/null || missing="$missing $c"
  done
  "$PY" -m venv --help >/dev/null 2>&1 || missing="$missing python3-venv"
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages (missing:$missing)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q $APT_TEST_PACKAGES >/dev/null ||
      die "apt-get install failed; install by hand: apt-get install -y $APT_TEST_PACKAGES"
  else
    say "missing:$missing - the real-swarm and browser tests need: apt-get install -y $APT_TEST_PACKAGES (as root)"
  fi
}

first_user() {  # a dashboard needs someone to log in: create the first admin when there is none
  local n
  n=$("$VENV/bin/python" manage.py shell -c 'from django.contrib.auth import get_user_model; print(get_user_model().objects.count())' 2>/dev/null | tail -1)
  [ "$n" = 0 ] || return 0
  if [ -n "${DJANGO_SUPERUSER_USERNAME:-}" ] && { [ -n "${DJANGO_SUPERUSER_PASSWORD:-}" ] || [ -n "${DJANGO_SUPERUSER_PASSWORD_FILE:-}" ]; }; then
    # the image's own step: it refuses a password the validators refuse (createsuperuser --noinput takes any)
    DJANGO_SUPERUSER_EMAIL=${DJANGO_SUPERUSER_EMAIL:-admin@localhost} "$VENV/bin/python" deploy/first_admin.py || exit 1
  elif [ -t 0 ]; then
    say "no user yet: create the first admin"
    "$VENV/bin/python" manage.py createsuperuser
  else
    say "no user yet: set DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD, or run ./sv manage createsuperuser"
  fi
}

serve() {
  "$VENV/bin/python" manage.py checkdocker || exit 1
  "$VENV/bin/python" manage.py migrate --noinput -v 0
  first_user
  local host=${HOST:-127.0.0.1} port=${PORT:-8000}
  say "serving on http://$host:$port/ (Ctrl-C stops)"
  # daphne's own access log would print wall-screen URLs with their kiosk token: the app logs access itself, masked.
  # No websocket timeout: daphne would close every socket after a day (its default), and a wall stays open for weeks.
  # visualizer.serve: daphne with request bodies capped (MAX_REQUEST_BYTES) and never written to disk.
  exec "$VENV/bin/python" -m visualizer.serve --access-log /dev/null --websocket_timeout -1 -b "$host" -p "$port" \
    visualizer.asgi:application
}

check_js() {  # the page scripts (static/dashboard): tsc --noEmit (checkJs) and eslint, pinned in tests/js
  local js=tests/js stamp node_ok out
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    [ "${CI:-}" = true ] && die "npm not found: the page scripts cannot be checked. Install Node.js 20.19+ with npm (e.g. NodeSource's nodejs 20 or 22)"
    say "WARNING: npm not found, the page scripts are NOT checked: install Node.js 20.19+ with npm"
    return 0
  fi
  # eslint 10 wants node ^20.19 || ^22.13 || >=24 (Debian 12's own nodejs is 18)
  node_ok='const [a, b] = process.versions.node.split(".").map(Number); process.exit(a === 20 && b >= 19 || a === 22 && b >= 13 || a >= 24 ? 0 : 1)'
  node -e "$node_ok" || die "node $(node --version) is too old for the page checks: install Node.js 20.19+ (e.g. NodeSource's nodejs 20 or 22)"
  stamp=$(sha256sum < "$js/package-lock.json" | cut -c1-16)
  if [ "$(cat "$js/node_modules/.sv-stamp" 2>/dev/null)" != "$stamp" ]; then
    say "installing the page checkers (npm ci --prefix $js)"
    npm ci --prefix "$js" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci --prefix $js failed"
    echo "$stamp" > "$js/node_modules/.sv-stamp"
  fi
  "$js/node_modules/.bin/tsc" --noEmit -p "$js/tsconfig.json" || die "tsc found problems in the page scripts"
  "$js/node_modules/.bin/eslint" --config "$js/eslint.config.js" --max-warnings 0 static/dashboard "$js" ||
    die "eslint found problems in the page scripts"
  out=$(node --test "$js"/*.test.js 2>&1) || { echo "$out" >&2; die "the page scripts' unit tests failed (node --test $js/*.test.js)"; }
}

run_tests() {  # run_tests PYTEST-ARGS...
  venv requirements-dev.txt
  local t0=$SECONDS
  "$VENV/bin/ruff" check . || die "ruff found problems"
  "$VENV/bin/ruff" format --check . >/dev/null || die "ruff format: files need formatting (.venv/bin/ruff format .)"
  "$VENV/bin/mypy" --no-error-summary visualizer dashboard tests bench || die "mypy found problems"
  check_js
  say "lint and types clean in $((SECONDS - t0))s"
  "$VENV/bin/python" -m pytest "$@"
}

case "${1:-}" in
  run) venv requirements.txt; serve ;;
  test) shift; system_packages; run_tests "$@" ;;
  unit) shift; venv requirements-dev.txt; "$VENV/bin/python" -m pytest -m "not lab and not browser" "$@" ;;
  demo) shift; [ "$(id -u)" = 0 ] || die "the demo starts a real swarm of dockerd daemons: run it as root (sudo ./sv demo)"
        command -v dockerd >/dev/null || die "dockerd is missing: apt-get install -y docker.io busybox-static iproute2 iptables"
        venv requirements.txt; exec "$VENV/bin/python" -m dashboard.demo "$@" ;;
  lab) shift; exec "$ROOT/deploy/lab/swarmlab" "$@" ;;
  manage) shift; venv requirements.txt; exec "$VENV/bin/python" manage.py "$@" ;;
  help|-h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
