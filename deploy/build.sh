#!/usr/bin/env bash
# build.sh - build the Swarm Visualizer image (and the socket proxy's, PostgreSQL's, Redis's) from a small, clean context.
#
#   deploy/build.sh [--tag TAG] [--base-image IMAGE] [--wheelhouse DIR] [--extra "PKG ..."] [--proxy-tag TAG]
#                   [--db-tag TAG] [--db-base-image IMAGE] [--redis-tag TAG] [--redis-base-image IMAGE]
#   deploy/build.sh --download-wheels DIR [--extra "PKG ..."]
#
# --tag          the image (default swarm-visualizer:latest)
# --base-image   BASE_IMAGE of the dashboard's and the proxy's Dockerfiles (default: an official python:3.11 slim image)
# --wheelhouse   install the Python packages from DIR only, with no index (for builders without PyPI)
# --extra        more pip requirements for the dashboard's image
# --proxy-tag    also build deploy/Dockerfile.socket-proxy under this tag
# --db-tag       also build deploy/Dockerfile.postgres (the stacks' database) under this tag
# --db-base-image  its BASE_IMAGE (default: debian:bookworm-slim; a base with postgresql-15 needs no apt mirror)
# --redis-tag    also build deploy/Dockerfile.redis (deploy/stack.ha.yml's Redis) under this tag
# --redis-base-image  its BASE_IMAGE (default: debian:bookworm-slim; a base with redis-server needs no apt mirror)
# --download-wheels DIR   fill DIR with the wheels for Linux x86_64 CPython 3.11 (needs PyPI), then exit
#
# The docker CLI comes from $DOCKER (default: docker on PATH) and talks to DOCKER_HOST as usual.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=${DOCKER:-docker}
PY=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}
tag=swarm-visualizer:latest base="" wheels="" extra="" proxy_tag="" download="" db_tag="" db_base=""
redis_tag="" redis_base=""

die() { echo "build.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=${2:?}; shift 2 ;;
    --base-image) base=${2:?}; shift 2 ;;
    --wheelhouse) wheels=${2:?}; shift 2 ;;
    --extra) extra=${2:?}; shift 2 ;;
    --proxy-tag) proxy_tag=${2:?}; shift 2 ;;
    --db-tag) db_tag=${2:?}; shift 2 ;;
    --db-base-image) db_base=${2:?}; shift 2 ;;
    --redis-tag) redis_tag=${2:?}; shift 2 ;;
    --redis-base-image) redis_base=${2:?}; shift 2 ;;
    --download-wheels) download=${2:?}; shift 2 ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

if [ -n "$download" ]; then
  mkdir -p "$download"
  # pip evaluates markers with the Python running it: redis needs async-timeout on Python < 3.11.3,
  # Debian 12's 3.11.2 among them, whatever Python downloads the wheels.
  # pip does not widen a PEP 600 tag to older glibc versions: name each one up to bookworm's glibc 2.36
  platforms=""
  for p in manylinux2014 manylinux_2_17 manylinux_2_24 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_36; do
    platforms="$platforms --platform ${p}_x86_64"
  done
  # shellcheck disable=SC2086
  "$PY" -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 $platforms -d "$download" -r "$ROOT/requirements.txt" \
    -r "$ROOT/deploy/requirements-postgres.txt" $extra \
    "async-timeout>=4.0.3" ||
    die "pip download failed"
  exit 0
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/visualizer-build.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.pyc' -cf - \
  manage.py pyproject.toml requirements.txt visualizer dashboard static deploy | tar -C "$ctx" -xf -
if [ -n "$wheels" ]; then
  [ -n "$(find "$wheels" -maxdepth 1 -name '*.whl' -print -quit)" ] || die "no wheels in $wheels"
  mkdir "$ctx/wheelhouse" && cp "$wheels"/*.whl "$ctx/wheelhouse/"
fi
args=()
[ -n "$base" ] && args+=(--build-arg "BASE_IMAGE=$base")
"$DOCKER" build -q -f "$ctx/deploy/Dockerfile" -t "$tag" "${args[@]}" --build-arg "EXTRA_PACKAGES=$extra" "$ctx" >/dev/null
echo "$tag"
if [ -n "$proxy_tag" ]; then
  "$DOCKER" build -q -f "$ctx/deploy/Dockerfile.socket-proxy" -t "$proxy_tag" "${args[@]}" "$ctx" >/dev/null
  echo "$proxy_tag"
fi
if [ -n "$db_tag" ]; then
  db_args=()
  [ -n "$db_base" ] && db_args+=(--build-arg "BASE_IMAGE=$db_base")
  "$DOCKER" build -q -f "$ctx/deploy/Dockerfile.postgres" -t "$db_tag" "${db_args[@]}" "$ctx" >/dev/null
  echo "$db_tag"
fi
if [ -n "$redis_tag" ]; then
  redis_args=()
  [ -n "$redis_base" ] && redis_args+=(--build-arg "BASE_IMAGE=$redis_base")
  "$DOCKER" build -q -f "$ctx/deploy/Dockerfile.redis" -t "$redis_tag" "${redis_args[@]}" "$ctx" >/dev/null
  echo "$redis_tag"
fi
