"""The sign-in throttle across processes: two dashboards started as the image starts them
(deploy/entrypoint.sh) on one database, as two replicas or a Redis scale-out run.

The peer is 127.0.0.1, a trusted proxy here (TRUSTED_PROXIES), so X-Forwarded-For gives each
attempt the client address it plays.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.deploy.serve import environment, serving
from tests.deploy.test_client_address import ADMIN, PASSWORD, Response, raw, try_login


@contextmanager
def two_dashboards(tmp_path: Path, **extra: str) -> Iterator[tuple[int, int, Path]]:
    env = environment(
        tmp_path, DJANGO_SUPERUSER_USERNAME=ADMIN, DJANGO_SUPERUSER_PASSWORD=PASSWORD, TRUSTED_PROXIES="127.0.0.1",
        **extra,
    )  # fmt: skip
    with ExitStack() as stack:
        first = stack.enter_context(serving(dict(env)))
        second = stack.enter_context(serving(dict(env)))  # the same DATA_DIR: one SQLite database
        yield int(first.rsplit(":", 1)[1]), int(second.rsplit(":", 1)[1]), Path(env["DATA_DIR"]) / "db.sqlite3"


@pytest.fixture
def dashboards(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    with two_dashboards(tmp_path, LOGIN_FAILURES_ALLOWED="5") as served:
        yield served


def admin_login(port: int, password: str, address: str) -> Response:
    page = raw(port, "GET", "/admin/login/", [("X-Forwarded-For", address)])
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert match, page.status
    form = {"csrfmiddlewaretoken": match.group(1).decode(), "username": ADMIN, "password": password, "next": "/admin/"}
    headers = [
        ("X-Forwarded-For", address),
        ("Cookie", f"csrftoken={page.cookies()['csrftoken']}"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    return raw(port, "POST", "/admin/login/", headers, urllib.parse.urlencode(form).encode())


def signed_in(response: Response) -> bool:
    return response.status == 302 and "sessionid" in response.cookies()


def test_it_shares_one_allowance_between_two_processes(dashboards: tuple[int, int, Path]) -> None:
    a, b, _ = dashboards
    for port in (a, b, a, b, a):  # five wrong passwords, split 3 and 2: each process alone would allow more
        wrong = try_login(port, "wrong-password", "203.0.113.9")
        assert wrong.status == 200 and b"Please enter a correct" in wrong.body
    for port in (b, a):
        right = try_login(port, PASSWORD, "203.0.113.9")
        assert not signed_in(right), f"process on {port} let the name in past the shared allowance"
        assert b"Too many failed sign-ins" in right.body
    # the admin's sign-in shares the count
    admin = admin_login(a, PASSWORD, "203.0.113.9")
    assert not signed_in(admin) and b"Too many failed sign-ins" in admin.body
    # another address's sign-in neither is locked out nor unlocks this one
    assert signed_in(try_login(b, PASSWORD, "203.0.113.10"))
    assert not signed_in(try_login(a, PASSWORD, "203.0.113.9"))


def test_it_loses_no_failure_when_two_processes_count_at_once(tmp_path: Path) -> None:
    with two_dashboards(tmp_path, LOGIN_FAILURES_ALLOWED="1000") as (a, b, database):
        attempts = [a, b] * 12
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda port: try_login(port, "wrong-password", "203.0.113.44").status, attempts))
        assert answers == [200] * len(attempts)
        with sqlite3.connect(database, timeout=20) as db:
            rows = db.execute("SELECT address, username, failures FROM dashboard_loginfailure").fetchall()
        assert rows == [("203.0.113.44", ADMIN, len(attempts))], "failures counted at the same time were lost"
