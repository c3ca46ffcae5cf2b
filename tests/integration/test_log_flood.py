"""A TTY task that prints without a newline, as fast as it can, followed over the log socket of
daphne as users run it, on the real lab: its lines come cut at 64 KiB and marked, at a bounded
rate, and a page that stops reading is closed while daphne's memory stays flat."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.core.docker.logs import MAX_LINE_BYTES
from dashboard.live.log_socket import MAX_BYTES_PER_SECOND
from tests.browser.conftest import Dashboard
from tests.lab import Lab, Swarm
from tests.rawws import CLOSE, TEXT, RawSocket

STALL = 3  # WS_SEND_STALL_SECONDS of this dashboard
FLOOD = ("sh", "-c", "yes | tr -d '\\n'")  # one endless line
STAMP = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+Z ")


@pytest.fixture(scope="module")
def dashboard(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    d = Dashboard(lab.docker_host, tmp_path_factory.mktemp("flood"), WS_SEND_STALL_SECONDS=str(STALL))
    d.start()
    yield d
    d.stop()


def session_of(d: Dashboard, user: str = "viewer") -> str:
    script = (
        "from django.test import Client; from django.contrib.auth.models import User; c = Client(); "
        f"c.force_login(User.objects.get(username='{user}')); print(c.cookies['sessionid'].value)"
    )
    key = d.manage("shell", "-c", script).strip().splitlines()[-1]
    assert key.isalnum(), key
    return key


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def flooding_task(swarm: Swarm) -> str:
    name = await asyncio.to_thread(swarm.create_service, "flood", command=FLOOD, extra=("--tty",))
    await asyncio.to_thread(swarm.wait_running, name, 1)
    return str((await asyncio.to_thread(swarm.tasks, name))[0]["ID"])


async def test_it_follows_a_tty_task_printing_without_newlines_in_marked_pieces_at_a_bounded_rate(
    dashboard: Dashboard, swarm: Swarm
) -> None:
    task_id = await flooding_task(swarm)
    ws = RawSocket(
        dashboard.port, f"/ws/tasks/{task_id}/logs?tail=0", headers={"Cookie": f"sessionid={session_of(dashboard)}"}
    )
    pieces: list[list[object]] = []
    skipped = 0
    started = time.monotonic()
    while time.monotonic() - started < 5:
        opcode, payload = ws.read_frame(timeout=10)
        assert opcode == TEXT, payload
        message = json.loads(payload)
        assert message["type"] in ("lines", "skipped"), message
        if message["type"] == "lines":
            pieces += message["lines"]
        else:
            skipped += message["count"]
    seconds = time.monotonic() - started
    ws.close()
    texts = [str(p[2]) for p in pieces]
    assert texts and all(len(t.encode()) <= MAX_LINE_BYTES for t in texts)
    assert sum(1 for p in pieces if p[3:] == [1]) >= len(pieces) - 1  # cut at the bound, each marked
    # Docker's log driver stores a TTY's output in 16 KiB messages, each stamped when read back
    assert set(STAMP.sub("", "".join(texts))) <= {"y"}
    assert sum(len(t) for t in texts) <= MAX_BYTES_PER_SECOND * (seconds + 1)  # at most the cap a second
    assert skipped > 0  # the page is told what it did not get


async def test_it_closes_a_log_socket_that_reads_nothing_and_keeps_daphne_s_memory_flat(
    dashboard: Dashboard, swarm: Swarm
) -> None:
    assert dashboard.proc is not None
    task_id = await flooding_task(swarm)
    cookie = {"Cookie": f"sessionid={session_of(dashboard)}"}
    baseline = rss_mib(dashboard.proc.pid)
    readers = [
        RawSocket(dashboard.port, f"/ws/tasks/{task_id}/logs?tail=0", headers=cookie, rcvbuf=4096) for _ in range(3)
    ]
    peak = baseline
    deadline = time.monotonic() + STALL + 15
    while dashboard.log.read_text().count("/logs (4408)") < 3:
        assert time.monotonic() < deadline, f"not closed:\n{dashboard.log.read_text()[-2000:]}"
        peak = max(peak, rss_mib(dashboard.proc.pid))
        await asyncio.sleep(0.2)
    assert peak - baseline < 40, f"daphne grew from {baseline:.0f} to {peak:.0f} MiB"
    for ws in readers:  # reading now ends in the close, or a reset once the server let go
        with pytest.raises((EOFError, ConnectionError)):
            while True:
                opcode, _ = ws.read_frame(timeout=10)
                if opcode == CLOSE:
                    raise EOFError
        ws.close()
