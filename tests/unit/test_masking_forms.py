"""The masking rule against the forms a secret takes in practice (redis, mysql, curl, libpq, JSON
labels, quoted shell words), in linear time, and wherever a viewer sees labels or a health check's
output: the secrets page, the grid's labels, the task panel."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard import access
from dashboard.core import masking
from dashboard.core.details import parse_detail
from dashboard.core.domain import Config, Secret
from dashboard.core.masking import DEFAULT_KEYS, MASK, mask, masked_labels
from dashboard.core.masking_text import mask_output
from dashboard.core.model import Snapshot, Status
from dashboard.live import wire
from dashboard.live.wire import labels_json, service_json
from tests.unit.fakedocker import service

S = "hunter2"


def shown(args: list[str], command: list[str] | None = None) -> list[str]:
    """The arguments as a viewer sees them, after checking that every masked one can be revealed."""
    spec: dict[str, Any] = {"Args": args} if command is None else {"Command": command, "Args": args}
    masked = mask({"Spec": {"ContainerSpec": spec}})
    out = masked.document["Spec"]["ContainerSpec"]
    for pointer, clear in masked.clear.items():
        key, index = pointer.split("/")[-2:]
        assert spec[key][int(index)] == clear
    return [*out.get("Command", []), *out["Args"]]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["redis-server", "--requirepass", S], ["redis-server", "--requirepass", MASK]),
        (["redis-server", "--masterauth", S], ["redis-server", "--masterauth", MASK]),
        (["app", "--dbpass", S], ["app", "--dbpass", MASK]),
        (["mysqldump", "-uroot", f"-p{S}", "shop"], ["mysqldump", "-uroot", f"-p{MASK}", "shop"]),
        (["/usr/bin/mariadb-dump", f"-p{S}"], ["/usr/bin/mariadb-dump", f"-p{MASK}"]),
        (["mysql", "-p", "shop"], ["mysql", "-p", "shop"]),  # -p alone asks for the password
        (["app", "-p", "8080"], ["app", "-p", "8080"]),
        (["app", "-p8080"], ["app", "-p8080"]),  # attached, but not mysql's
        (["app", "--password", f"-{S}"], ["app", "--password", MASK]),  # a value may start with a dash
        (["app", "--no-auth", "--verbose"], ["app", "--no-auth", "--verbose"]),  # a long flag is no value
        # exec form: Docker hands the argument over whole, ; & | included
        (["app", f"--password=ab&cd;{S}|x"], ["app", f"--password={MASK}"]),
        (["app", f"--password=correct horse {S}"], ["app", f"--password={MASK}"]),
        (["app", "--db", f"redis://:p@{S}@cache:6379/0"], ["app", "--db", f"redis://:{MASK}@cache:6379/0"]),
        (["app", "--config", f'{{"password": "{S}"}}'], ["app", "--config", f'{{"password": "{MASK}"}}']),
        (["app", "--db", f"host=db user=app password={S} sslmode=off"],
         ["app", "--db", f"host=db user=app password={MASK} sslmode=off"]),
        (["curl", "-u", f"admin:{S}", "http://x"], ["curl", "-u", f"admin:{MASK}", "http://x"]),
        (["curl", f"--user=admin:{S}", f"-uadmin:{S}"], ["curl", f"--user=admin:{MASK}", f"-uadmin:{MASK}"]),
        (["sudo", "-u", "app:web", "id"], ["sudo", "-u", "app:web", "id"]),  # only curl's -u is a password
        (["curl", "-H", f"Authorization: Bearer {S}.x"], ["curl", "-H", f"Authorization: Bearer {MASK}"]),
        (["wget", f"--header=Authorization: Basic {S}"], ["wget", f"--header=Authorization: Basic {MASK}"]),
        (["app", f"X-Api-Key: {S}"], ["app", f"X-Api-Key: {MASK}"]),
        (["app", "Content-Type: text/plain"], ["app", "Content-Type: text/plain"]),
    ],
)  # fmt: skip
def test_it_masks_the_forms_secrets_take_in_exec_form(args: list[str], expected: list[str]) -> None:
    assert shown(args) == expected
    assert S not in json.dumps(expected)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (f"app --password 'correct horse {S}' -v", f"app --password '{MASK}' -v"),
        (f'app --password="correct horse {S}"; echo ok', f"app --password={MASK}; echo ok"),
        (f"mysql --password={S}&&echo --token {S}|x", f"mysql --password={MASK}&&echo --token {MASK}|x"),
        (f"redis-server --requirepass {S} --masterauth {S}", f"redis-server --requirepass {MASK} --masterauth {MASK}"),
        (f"mysqldump -p{S} shop | gzip; app -p 8080", f"mysqldump -p{MASK} shop | gzip; app -p 8080"),
        (f"curl -fsS -H 'Authorization: Bearer {S}' http://x", f"curl -fsS -H 'Authorization: Bearer {MASK}' http://x"),
        (f"curl -u admin:{S} http://x", f"curl -u admin:{MASK} http://x"),
        (f"exec app --db 'redis://:p@{S}@db'", f"exec app --db 'redis://:{MASK}@db'"),
        (f"app --password 'never closed {S}", f"app --password {MASK}"),  # the rest is the value
        (f"sh -c 'app --token {S}'", f"sh -c 'app --token {MASK}'"),  # a script in a script
        (f"PGPASSWORD={S} psql -h db", f"PGPASSWORD={MASK} psql -h db"),
    ],
)
def test_it_masks_a_shell_script_word_by_word_as_the_shell_splits_it(script: str, expected: str) -> None:
    assert shown([script], ["/bin/sh", "-ec"]) == ["/bin/sh", "-ec", expected]
    assert shown(["sh", "-c", script]) == ["sh", "-c", expected]  # the image's entrypoint runs sh


def test_it_masks_what_labels_hold_in_json_pairs_urls_and_headers() -> None:
    labels = {
        "app.config": json.dumps({"db_password": S, "nested": {"api_key": S, "port": 5432}, "n": [f"token={S}"]}),
        "db": f"host=db password={S} dbname=shop",
        "cifs": f"user=u,password={S},domain=d",
        "cache": f"redis://:p@{S}@cache:6379",
        "proxy": f"X-Api-Key: {S}",
        "docs": '{"url": "https://example.com", "port": 8080}',
        "plain": "tier=web zone=eu",
    }
    out = masked_labels(labels.items())
    assert json.loads(out["app.config"]) == {
        "db_password": MASK, "nested": {"api_key": MASK, "port": 5432}, "n": [f"token={MASK}"]
    }  # fmt: skip
    assert out["db"] == f"host=db password={MASK} dbname=shop"
    assert out["cifs"] == f"user=u,password={MASK}"
    assert out["cache"] == f"redis://:{MASK}@cache:6379"
    assert out["proxy"] == f"X-Api-Key: {MASK}"
    assert (out["docs"], out["plain"]) == (labels["docs"], labels["plain"])  # nothing secret: as written


def test_its_default_patterns_catch_words_ending_in_pass_or_auth_but_not_common_keys() -> None:
    for key in ("requirepass", "masterauth", "dbpass", "DB_PASS", "smtpPass", "redis.masterauth", "forwardauth"):
        assert DEFAULT_KEYS(key), key
    harmless = [
        "bypass", "compass", "com.example.bypass-cache", "com.docker.compose.project", "com.docker.stack.namespace",
        "org.opencontainers.image.authors", "org.opencontainers.image.source", "traefik.enable", "author",
        "traefik.http.routers.web.entrypoints", "traefik.http.services.web.loadbalancer.server.port", "max-file",
        "max-size", "passthrough", "port", "mode", "version", "maintainer", "surname", "impasse",
    ]  # fmt: skip
    assert [k for k in harmless if DEFAULT_KEYS(k)] == []


HOSTILE = [
    "a" * 1_000_000 + "://x",
    "x://" + "a" * 1_000_000,
    "x://" + ":" * 1_000_000,
    "x://a:" + "@" * 1_000_000,
    "a://" * 250_000,
    " password=" * 100_000,
    "token: " * 140_000,
    "x:" * 500_000,
    "password='" + "a" * 1_000_000,
    "[" * 500_000 + "]" * 500_000,
    "{" + '"a":' * 250_000,
    "&a=" * 250_000 + "?",
    "a=b," * 250_000,
    "a" * 1_000_000 + "=x",
    '"' * 1_000_000,
    "-a " * 330_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:12]))
def test_it_masks_a_hostile_megabyte_label_or_argument_in_half_a_second(value: str) -> None:
    """Labels are masked on every snapshot, resync and patch (once per value: see the next test)."""
    started = time.process_time()
    masked_labels([("k", value)])
    assert time.process_time() - started < 0.5
    started = time.process_time()
    mask({"Spec": {"ContainerSpec": {"Args": [value]}}})
    assert time.process_time() - started < 0.5


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:12]))
def test_it_masks_a_hostile_megabyte_script_or_health_output_in_linear_time(value: str) -> None:
    """Word by word, so slower than a label, but linear: and Linux runs no argument over 128 KiB."""
    started = time.process_time()
    mask({"Spec": {"ContainerSpec": {"Command": ["sh", "-c", value]}}})
    mask_output(value, DEFAULT_KEYS)
    assert time.process_time() - started < 2 * 2


def test_repeated_snapshots_mask_each_label_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = masking.masked_label

    def counted(key: str, value: str, keys: Any) -> str:
        calls.append(key)
        return real(key, value, keys)

    monkeypatch.setattr(wire, "masked_label", counted)
    wire._cached_label.cache_clear()
    svc = dataclasses.replace(service("s1"), labels=(("db.url", f"postgres://u:{S}@db/x"), ("huge", "x" * 5000)))
    for _ in range(3):
        assert service_json(svc)["labels"]["db.url"] == f"postgres://u:{MASK}@db/x"
    assert calls.count("db.url") == 1  # remembered
    assert calls.count("huge") == 3  # too large to keep: masked each time, in linear time
    assert wire._cached_label.cache_info().maxsize == wire.CACHED_LABELS


def test_the_task_panel_masks_the_last_health_checks_output() -> None:
    output = (
        f"connecting to redis://:{S}@cache:6379 with --password {S}\n"
        f"> GET /health HTTP/1.1\nAuthorization: Bearer {S}\nDB_PASSWORD={S} password: {S} {S}\nOK"
    )
    raw = {"ID": "t1", "ServiceID": "s1", "Status": {"State": "running"}, "Spec": {"ContainerSpec": {"Image": "x"}}}
    container = {"State": {"Health": {"Status": "healthy", "Log": [{"Output": "old"}, {"Output": output}]}}}
    detail, _ = parse_detail(raw, None, (), container)
    assert S not in detail.health_output
    assert detail.health_output.splitlines() == [
        f"connecting to redis://:{MASK}@cache:6379 with --password {MASK}",
        "> GET /health HTTP/1.1",
        f"Authorization: Bearer {MASK}",
        f"DB_PASSWORD={MASK} password: {MASK}",
        "OK",
    ]


@pytest.fixture
def labelled(static_model: Any) -> Any:
    secret = Secret("sec1", "db", (("api_token", S), ("db.url", f"postgres://u:{S}@db/x"), ("team", "core")), "",
                    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")  # fmt: skip
    config = Config("cfg1", "app.conf", (("app.config", f'{{"db_password": "{S}"}}'), ("env", "prod")),
                    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")  # fmt: skip
    static_model.snapshot = Snapshot.build(
        seq=1,
        status=Status(state="live", since="2026-01-01T00:00:00Z"),
        nodes=[],
        services=[],
        tasks=[],
        secrets=[secret],
        configs=[config],
    )
    return static_model


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_the_secrets_page_masks_secret_looking_labels_for_every_role(labelled: Any, role: str) -> None:
    user = get_user_model().objects.create_user(username=role, password="a-long-password-1234")
    access.set_role(user, role)
    client = Client()
    client.force_login(user)
    for url in ("/secrets/", "/secrets/?fragment=tables"):
        page = client.get(url)
        text = page.content.decode()
        assert page.status_code == 200 and S not in text, url
        assert f"api_token={MASK}" in text and f"db.url=postgres://u:{MASK}@db/x" in text and "team=core" in text
        assert "db_password&quot;: &quot;" + MASK in text and "env=prod" in text
    assert labels_json((("api_token", S),)) == {"api_token": MASK}
