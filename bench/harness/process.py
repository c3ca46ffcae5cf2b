"""Process hygiene: SIGTERM as KeyboardInterrupt (so that ``finally`` blocks run), root, a free port."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[2]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _raise_interrupt)


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        sys.exit(f"{what} needs root (the swarm lab starts dockerd in network namespaces)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
