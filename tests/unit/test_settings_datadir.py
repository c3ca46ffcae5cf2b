"""DATA_DIR is made when the SQLite database lives in it, whether or not a SECRET_KEY is given."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEY = "a-given-secret-key-0123456789abcdefghijkl"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a fresh process, with none of this machine's database settings leaking in."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_URL_FILE", "SECRET_KEY_FILE")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_it_migrates_a_fresh_data_dir_when_the_secret_key_is_given(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    proc = manage("migrate", "--noinput", "-v", "0", DATA_DIR=str(data), SECRET_KEY=KEY)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with sqlite3.connect(data / "db.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM django_migrations").fetchone()[0] > 0
    assert not (data / "secret_key").exists()  # the given key is used, none is generated


def test_it_says_so_clearly_when_the_data_dir_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = manage("migrate", "--noinput", "-v", "0", DATA_DIR=str(blocker / "data"), SECRET_KEY=KEY)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and "DATA_DIR" in last and str(blocker / "data") in last, last
    assert "unable to open database file" not in proc.stderr
