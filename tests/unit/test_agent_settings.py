"""The agent's settings: only its own variables, strictly read; a missing or bad one is one clear line
and exit code 2, never a traceback and never the token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.agent.config import AgentSettingsError, dashboard_url, load

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cr3t-agent-token-do-not-print"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("AGENT_DASHBOARD_URL", "AGENT_TOKEN", "AGENT_TOKEN_FILE", "AGENT_STATS_EVERY", "AGENT_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENT_DASHBOARD_URL", "ws://visualizer:8000")
    monkeypatch.setenv("AGENT_TOKEN", TOKEN)
    return monkeypatch


def test_it_appends_the_agent_path_unless_the_url_ends_with_it() -> None:
    assert dashboard_url("ws://visualizer:8000") == "ws://visualizer:8000/ws/agent"
    assert dashboard_url("ws://visualizer:8000/") == "ws://visualizer:8000/ws/agent"
    assert dashboard_url("wss://swarm.example.com/visualizer") == "wss://swarm.example.com/visualizer/ws/agent"
    assert dashboard_url("wss://swarm.example.com/ws/agent") == "wss://swarm.example.com/ws/agent"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://visualizer:8000", "expected ws://"),
        ("visualizer:8000", "expected ws://"),
        ("ws://", "no host"),
        ("ws://user:pw@visualizer", "no user or password"),
        ("ws://visualizer/?token=x", "no query"),
        ("ws://visualizer:http", "port"),
    ],
)
def test_it_refuses_a_url_it_cannot_dial(url: str, says: str) -> None:
    with pytest.raises(AgentSettingsError, match=says) as e:
        dashboard_url(url)
    assert "pw" not in str(e.value)


def test_it_reads_the_token_from_a_docker_secret_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "agent_token"
    secret.write_text(TOKEN + "\n")
    env.delenv("AGENT_TOKEN")
    env.setenv("AGENT_TOKEN_FILE", str(secret))
    settings = load()
    assert settings.token == TOKEN and settings.stats_every == 5.0
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"AGENT_TOKEN": ""}, "set AGENT_TOKEN or AGENT_TOKEN_FILE"),
        ({"AGENT_TOKEN_FILE": "/nonexistent/token"}, "set AGENT_TOKEN or AGENT_TOKEN_FILE, not both"),
        ({"AGENT_TOKEN": "two words, long enough to pass"}, "printable ASCII"),
        ({"AGENT_TOKEN": "t\u00f6ken-long-enough-to-pass"}, "printable ASCII"),
        ({"AGENT_TOKEN": "too-short"}, "at least 16 characters"),
        ({"AGENT_DASHBOARD_URL": ""}, "set AGENT_DASHBOARD_URL"),
        ({"AGENT_STATS_EVERY": "0.1"}, "at least 1.0"),
        ({"AGENT_STATS_EVERY": "often"}, "expected a number"),
        ({"AGENT_CA_FILE": "/etc/hostname"}, "for wss:// only"),
    ],
)
def test_it_refuses_bad_settings_clearly(env: pytest.MonkeyPatch, variables: dict[str, str], says: str) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(AgentSettingsError, match=says) as e:
        load()
    assert TOKEN not in str(e.value)


def test_a_ca_file_that_is_not_pem_is_refused_at_start(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    env.setenv("AGENT_DASHBOARD_URL", "wss://swarm.example.com")
    env.setenv("AGENT_CA_FILE", str(bogus))
    with pytest.raises(AgentSettingsError, match="AGENT_CA_FILE"):
        load()
    env.delenv("AGENT_CA_FILE")
    assert load().ssl_context() is not None  # the system's CAs


def run_agent(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py agent` with nothing but ``env``: no SECRET_KEY, no database, DATA_DIR unwritable
    (the dashboard's settings would try to write a key there)."""
    return subprocess.run(
        [sys.executable, "manage.py", "agent", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATA_DIR": "/proc/no-data-here", **env},
    )  # fmt: skip


def test_manage_py_agent_says_what_is_missing_in_one_line_and_exits_2(tmp_path: Path) -> None:
    missing = run_agent({"AGENT_DASHBOARD_URL": "ws://127.0.0.1:9"}, tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "agent: set AGENT_TOKEN or AGENT_TOKEN_FILE (the token the dashboard expects from agents)"
    )
    bad = run_agent({"AGENT_DASHBOARD_URL": "https://x", "AGENT_TOKEN": TOKEN}, tmp_path)
    assert (bad.returncode, bad.stderr.count("\n")) == (2, 1)
    assert "AGENT_DASHBOARD_URL" in bad.stderr and TOKEN not in bad.stderr + bad.stdout
    docker = run_agent({"AGENT_DASHBOARD_URL": "ws://x", "AGENT_TOKEN": TOKEN, "DOCKER_HOST": "ftp://x"}, tmp_path)
    assert (docker.returncode, docker.stderr.count("\n")) == (2, 1) and "DOCKER_HOST" in docker.stderr
    level = run_agent({"AGENT_DASHBOARD_URL": "ws://x", "AGENT_TOKEN": TOKEN, "LOG_LEVEL": "chatty"}, tmp_path)
    assert (level.returncode, level.stderr.count("\n")) == (2, 1) and "LOG_LEVEL" in level.stderr
    # what the entrypoint passes on after `agent` reaches the agent (not Django), which refuses it
    extra = run_agent({"AGENT_DASHBOARD_URL": "ws://x", "AGENT_TOKEN": TOKEN}, tmp_path, "--verbose")
    assert (extra.returncode, extra.stderr.count("\n")) == (2, 1) and "unexpected arguments '--verbose'" in extra.stderr
