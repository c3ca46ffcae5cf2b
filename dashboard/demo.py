"""`./sv demo`: a real local 3-node swarm with sample services, and the dashboard serving it.

Everything it starts is stopped on Ctrl-C: the dashboard, then the lab (deploy/lab/swarmlab down).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "deploy" / "lab" / "swarmlab"
LAB_ENV = {"SWARMLAB_BASE": "/tmp/swarmlab-demo", "SWARMLAB_PREFIX": "demo"}  # noqa: S108 - the lab folder, root only
IMAGE = "local/busybox:1"

# name, extra `docker service create` options, command
SAMPLES: list[tuple[str, list[str], list[str]]] = [
    ("web", ["--replicas", "6", "--label", "tier=frontend"], ["sleep", "1000000"]),
    ("api", ["--replicas", "3", "--label", "tier=backend", "--env", "DB_PASSWORD=demo-only"], ["sleep", "1000000"]),
    (
        "crasher",
        ["--replicas", "1", "--restart-delay", "5s", "--label", "demo=fails with exit code 3"],
        ["sh", "-c", "echo starting; sleep 3; echo giving up >&2; exit 3"],
    ),
    ("gpu-job", ["--replicas", "1", "--constraint", "node.labels.gpu==true"], ["sleep", "1000000"]),
    ("node-agent", ["--mode", "global"], ["sleep", "1000000"]),
]


def lab(*args: str) -> str:
    proc = subprocess.run(
        [str(LAB), *args], env={**os.environ, **LAB_ENV}, capture_output=True, text=True, timeout=180, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"demo: swarmlab {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout.strip()


def docker(sock: str, *args: str) -> None:
    docker_bin = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    subprocess.run([docker_bin, "-H", f"unix://{sock}", *args], check=True, capture_output=True, timeout=60)


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("demo: it starts a real swarm of dockerd daemons in network namespaces: run it as root")
    if Path(LAB_ENV["SWARMLAB_BASE"], "state").exists():
        print("demo: cleaning up a demo lab left from an earlier run", file=sys.stderr)
        lab("down")
    sock = lab("up", "3", "1")
    daphne: subprocess.Popen[bytes] | None = None

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # leave whatever wait() we are in; the finally below cleans up

    signal.signal(signal.SIGTERM, interrupted)
    try:
        for name, options, command in SAMPLES:
            docker(sock, "service", "create", "-d", "-q", "--no-resolve-image", "--stop-grace-period", "1s",
                   "--name", name, *options, IMAGE, *command)  # fmt: skip
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "CLUSTER_NAME": os.environ.get("CLUSTER_NAME", "demo")}
        env.setdefault("DATA_DIR", str(ROOT / "data" / "demo"))
        py = sys.executable
        subprocess.run([py, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        user = os.environ.get("DEMO_USER", "demo")
        password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
        subprocess.run(
            [py, "manage.py", "shell", "-c", _ENSURE_USER], cwd=ROOT, check=True,
            env={**env, "DEMO_USER": user, "DEMO_PASSWORD": password},
        )  # fmt: skip
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
        print(
            f"\ndemo: a 3-node swarm is up (DOCKER_HOST=unix://{sock})\n"
            f"demo: open http://{host}:{port}/ and sign in as {user} / {password} (a demo account)\n"
            "demo: Ctrl-C stops the dashboard and the swarm\n",
            file=sys.stderr,
        )
        daphne = subprocess.Popen(
            # no daphne access log: it would print kiosk tokens; dashboard.access.accesslog logs them masked.
            # visualizer.serve: daphne with request bodies capped and never on disk, as the image runs it
            [
                py,
                "-m",
                "visualizer.serve",
                "--access-log",
                "/dev/null",
                "-b",
                host,
                "-p",
                port,
                "visualizer.asgi:application",
            ],
            cwd=ROOT,
            env=env,
        )
        daphne.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if daphne is not None and daphne.poll() is None:
            daphne.terminate()
            try:
                daphne.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daphne.kill()
        print("\ndemo: stopping the lab", file=sys.stderr)
        lab("down")


_ENSURE_USER = """
import os
from django.contrib.auth import get_user_model
User = get_user_model()
u, _ = User.objects.get_or_create(username=os.environ["DEMO_USER"], defaults={"is_staff": True, "is_superuser": True})
u.set_password(os.environ["DEMO_PASSWORD"])
u.save()
"""

if __name__ == "__main__":
    main()
