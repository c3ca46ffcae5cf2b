"""deploy/entrypoint.sh as the container runs it: an empty database, the admin from a secret file, daphne."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.deploy.probe import Session
from tests.deploy.serve import ENTRYPOINT, environment, serving


def test_it_creates_the_first_admin_from_the_secret_then_leaves_it_alone(tmp_path: Path) -> None:
    password = tmp_path / "admin_password"
    password.write_text("first-admin-pass-1234\n")
    env = environment(tmp_path, DJANGO_SUPERUSER_USERNAME="boss", DJANGO_SUPERUSER_PASSWORD_FILE=str(password))
    with serving(env) as url:
        Session(url).login("boss", "first-admin-pass-1234")
    assert "created the admin 'boss'" in env["LOG"]

    # a restart on the same database, with another password in the secret: nothing changes, no crash
    password.write_text("changed-in-the-secret-5678\n")
    with serving(env) as url:
        Session(url).login("boss", "first-admin-pass-1234")
    assert "users exist; nothing to do" in env["LOG"]


def test_it_starts_on_an_empty_database_without_an_admin_password(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with serving(env):
        pass
    assert "no user yet and no DJANGO_SUPERUSER_PASSWORD" in env["LOG"]


def test_it_runs_a_given_command_instead_of_serving(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["sh", str(ENTRYPOINT), "python", "manage.py", "check", "--deploy", "--fail-level", "CRITICAL"],
        env=environment(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "data" / "db.sqlite3").exists(), "a command override must not migrate"


def test_it_refuses_to_start_with_a_weak_first_admin_password(tmp_path: Path) -> None:
    env = environment(tmp_path, DJANGO_SUPERUSER_USERNAME="boss", DJANGO_SUPERUSER_PASSWORD="trustno1")
    proc = subprocess.run(["sh", str(ENTRYPOINT)], env={**env, "PORT": "1"}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "DJANGO_SUPERUSER_PASSWORD(_FILE) is refused" in proc.stderr
    assert "at least 12 characters" in proc.stderr and "too common" in proc.stderr
    assert "trustno1" not in proc.stderr + proc.stdout, "the refused password was echoed"
    database = tmp_path / "data" / "db.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM auth_user").fetchone() == (0,)
