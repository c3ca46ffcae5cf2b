"""Settings helpers refuse junk instead of guessing, and read *_FILE for Docker secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from visualizer.env import env_bool, env_float, env_int, env_list, env_optional, env_str


def test_it_reads_booleans_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, value in [
        ("1", True),
        ("true", True),
        ("ON", True),
        ("0", False),
        ("False", False),
        ("off", False),
    ]:
        monkeypatch.setenv("SV_FLAG", raw)
        assert env_bool("SV_FLAG", not value) is value
    monkeypatch.setenv("SV_FLAG", "yes")
    with pytest.raises(ImproperlyConfigured, match="SV_FLAG='yes'"):
        env_bool("SV_FLAG", False)


def test_it_uses_the_default_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SV_X", raising=False)
    assert env_str("SV_X", "d") == "d"
    monkeypatch.setenv("SV_X", "")
    assert env_int("SV_X", 7) == 7
    assert env_optional("SV_X") is None


def test_it_refuses_numbers_out_of_range_or_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SV_N", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("SV_N", 1)
    monkeypatch.setenv("SV_N", "1.5")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("SV_N", 1)
    monkeypatch.setenv("SV_N", "nan")
    with pytest.raises(ImproperlyConfigured):
        env_float("SV_N", 1.0)
    monkeypatch.setenv("SV_N", "0.25")
    assert env_float("SV_N", 1.0) == 0.25


def test_it_reads_a_file_variant_for_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret-value\n")
    monkeypatch.delenv("SV_KEY", raising=False)
    monkeypatch.setenv("SV_KEY_FILE", str(secret))
    assert env_str("SV_KEY", "") == "s3cret-value"
    monkeypatch.setenv("SV_KEY", "other")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_str("SV_KEY", "")


def test_it_names_an_unreadable_file_without_its_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SV_KEY", raising=False)
    monkeypatch.setenv("SV_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_str("SV_KEY", "")


def test_it_splits_lists_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SV_L", " a.example , b.example,,")
    assert env_list("SV_L", []) == ["a.example", "b.example"]
