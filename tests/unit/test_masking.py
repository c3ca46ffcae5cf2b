"""The one masking rule (dashboard.core.masking): what it hides in Docker's JSON, how each hidden value
is named for an operator's reveal, which keys look secret, and how it holds up against JSON that is
not Docker's shape."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.core.details import Value, parse_detail
from dashboard.core.masking import (
    DEFAULT_KEYS,
    DEFAULT_PATTERNS,
    MASK,
    MAX_DEPTH,
    SecretKeys,
    mask,
    masked_labels,
    parse_patterns,
    valid_pointer,
)
from dashboard.live.wire import node_json, service_json
from dashboard.pages.render import service_title
from tests.unit.fakedocker import node, service
from visualizer.settings import _secret_patterns

S = "hunter2"


def resolve(document: Any, pointer: str) -> Any:
    for step in pointer.split("/")[1:]:
        step = step.replace("~1", "/").replace("~0", "~")
        document = document[int(step)] if isinstance(document, list) else document[step]
    return document


def assert_hidden(document: Any) -> Any:
    """The masked copy holds no ``S``; every clear value is named by a pointer that finds it in the original."""
    before = copy.deepcopy(document)
    masked = mask(document)
    assert document == before, "the original is left as it was"
    assert S not in json.dumps(masked.document, ensure_ascii=False)
    for pointer, clear in masked.clear.items():
        original = resolve(document, pointer)
        assert clear == (original if isinstance(original, str) else json.dumps(original))
        assert resolve(masked.document, pointer) != original
    return masked


@pytest.mark.parametrize("key", ["DB_PASSWORD", "db.password", "Db_Password", "apiKey", "API_KEY", "ssh.key",
                                 "HTTPToken", "splunk-token", "SENTRY_DSN", "DB_CONNECTION_STRING", "smtp.pass",
                                 "traefik.http.middlewares.a.basicauth.users", "OAUTH_CLIENT", "Authorization",
                                 "aws_secret_access_key", "mysql-pwd", "credentials", "jwt"])  # fmt: skip
def test_it_takes_these_keys_for_secret(key: str) -> None:
    assert DEFAULT_KEYS(key)


PLAIN_KEYS = ["keyboard", "monkey", "org.opencontainers.image.authors", "com.docker.stack.namespace", "max-size",
              "tier", "compass", "bypass", "traefik.http.routers.web.rule", ""]  # fmt: skip


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_it_leaves_these_keys_alone(key: str) -> None:
    assert not DEFAULT_KEYS(key)


def test_it_masks_every_env_value_and_names_each() -> None:
    masked = assert_hidden({"Spec": {"ContainerSpec": {"Env": [f"A={S}", "B", f"C=x={S}", "D="]}}})
    assert masked.document["Spec"]["ContainerSpec"]["Env"] == [f"A={MASK}", "B", f"C={MASK}", f"D={MASK}"]
    assert masked.clear["/Spec/ContainerSpec/Env/0"] == f"A={S}"
    assert "/Spec/ContainerSpec/Env/1" not in masked.clear  # a name alone holds nothing


def test_it_masks_every_driver_option_whatever_its_key() -> None:
    task = {
        "Spec": {
            "ContainerSpec": {"Mounts": [{"VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {
                "type": "cifs", "o": f"username=u,password={S}"}}}}]},
            "LogDriver": {"Name": "splunk", "Options": {"splunk-token": S, "splunk-url": S}},
            "Networks": [{"Target": "n", "DriverOpts": {"x": S}}],
        },
        "NetworksAttachments": [{"Network": {
            "Spec": {"DriverConfiguration": {"Name": "overlay", "Options": {"encrypted": S}}},
            "DriverState": {"Name": "overlay", "Options": {"com.docker.network.driver.overlay.vxlanid_list": S}},
            "IPAMOptions": {"Driver": {"Name": "default", "Options": {"o": S}}},
        }}],
    }  # fmt: skip
    masked = assert_hidden(task)
    assert masked.document["Spec"]["LogDriver"] == {
        "Name": "splunk",
        "Options": {"splunk-token": MASK, "splunk-url": MASK},
    }
    mounts = "/Spec/ContainerSpec/Mounts/0/VolumeOptions/DriverConfig/Options/o"
    assert masked.clear[mounts] == f"username=u,password={S}"
    assert len(masked.clear) == 8


def test_it_masks_a_containers_log_config_and_its_env_command_and_labels_too() -> None:
    container = {
        "Path": "app", "Args": ["--token", S],
        "Config": {"Env": [f"X={S}"], "Cmd": [f"--api-key={S}"], "Labels": {"vault.token": S, "a": "b"},
                   "Healthcheck": {"Test": ["CMD", "check", S]}},
        "HostConfig": {"LogConfig": {"Type": "fluentd", "Config": {"fluentd-address": S}}},
    }  # fmt: skip
    masked = assert_hidden(container)
    assert masked.document["Config"]["Labels"] == {"vault.token": MASK, "a": "b"}
    assert masked.document["Config"]["Healthcheck"]["Test"] == ["CMD", MASK, MASK]


@pytest.mark.parametrize(
    ("test", "shown"),
    [
        (["CMD-SHELL", f"curl -u me:{S} localhost"], ["CMD-SHELL", MASK]),
        (["CMD", "curl", S], ["CMD", MASK, MASK]),
        (["NONE"], ["NONE"]),
        ([S, "x"], [MASK, MASK]),  # not a form Docker knows: not kept
        (f"curl {S}", MASK),
        ([["nested", S]], [MASK]),
        ({"what": S}, MASK),
    ],
)
def test_it_masks_a_healthchecks_command_but_its_form(test: Any, shown: Any) -> None:
    masked = assert_hidden({"Spec": {"ContainerSpec": {"Healthcheck": {"Test": test, "Interval": 1000000000}}}})
    assert masked.document["Spec"]["ContainerSpec"]["Healthcheck"] == {"Test": shown, "Interval": 1000000000}


def test_it_masks_the_values_of_labels_whose_key_looks_secret_in_any_case() -> None:
    labels = {"DB_PASSWORD": S, "Api.Key": S, "apiKey": S, "tier": "web", "n": 3, "none": None,
              "db.url": f"postgres://app:{S}@db:5432/app", "hook": f"https://h/x?api_key={S}&page=2",
              "docs": "https://example.com/a?b=c"}  # fmt: skip
    masked = assert_hidden({"Spec": {"Labels": labels}})
    assert masked.document["Spec"]["Labels"] == {
        "DB_PASSWORD": MASK, "Api.Key": MASK, "apiKey": MASK, "tier": "web", "n": 3, "none": None,
        "db.url": f"postgres://app:{MASK}@db:5432/app", "hook": f"https://h/x?api_key={MASK}&page=2",
        "docs": "https://example.com/a?b=c",
    }  # fmt: skip
    assert masked.clear["/Spec/Labels/db.url"] == f"postgres://app:{S}@db:5432/app"


@pytest.mark.parametrize(
    ("command", "args", "shown"),
    [
        ([], ["--password=" + S], ["--password=" + MASK]),
        ([], ["--password", S, "-v"], ["--password", MASK, "-v"]),
        (["app", "--db-token"], [S], ["app", "--db-token", MASK]),  # the value is the first of Args
        ([], ["--no-auth", "--verbose"], ["--no-auth", "--verbose"]),  # a flag after a flag is no value
        ([], [f"DB_PASSWORD={S}", "MODE=x"], [f"DB_PASSWORD={MASK}", "MODE=x"]),
        ([], ["-p", "8080"], ["-p", "8080"]),  # one letter: a port as often as a password
        (
            ["sh", "-c"],
            [f"mysql --password={S}; echo --token {S} API_KEY={S}|x"],
            ["sh", "-c", f"mysql --password={MASK}; echo --token {MASK} API_KEY={MASK}|x"],
        ),
        (
            [],
            [f"--dsn=postgres://u:{S}@h/db", f"--url=postgres://u:{S}@h/db"],
            [f"--dsn={MASK}", f"--url=postgres://u:{MASK}@h/db"],
        ),
        ([], ["--token"], ["--token"]),
    ],
)
def test_it_masks_the_values_of_secret_looking_arguments(command: list[str], args: list[str], shown: list[str]) -> None:
    spec = {"Command": command, "Args": args} if command else {"Args": args}
    masked = assert_hidden({"Spec": {"ContainerSpec": spec}})
    out = masked.document["Spec"]["ContainerSpec"]
    assert [*out.get("Command", []), *out["Args"]] == shown


def test_it_masks_constraints_on_secret_looking_labels() -> None:
    constraints = [f"node.labels.db_password=={S}", f"engine.labels.api_key != {S}", "node.role==manager",
                   "node.labels.zone==eu", 7]  # fmt: skip
    masked = assert_hidden({"Spec": {"Placement": {"Constraints": constraints}}})
    assert masked.document["Spec"]["Placement"]["Constraints"] == [
        f"node.labels.db_password=={MASK}", f"engine.labels.api_key != {MASK}", "node.role==manager",
        "node.labels.zone==eu", MASK,
    ]  # fmt: skip


def test_it_masks_what_is_not_dockers_shape_rather_than_show_it() -> None:
    hostile = {
        "Env": {"A": S}, "Labels": {"token": {"deep": S}, "ok": ["x"]}, "Args": [f"--password={S}", 5, None, {"a": S}],
        "Command": f"run --secret {S}", "DriverOpts": [S], "LogDriver": {"Options": S},
        "Healthcheck": {"Test": None}, "5": {"Env": [7, None, [S]]},
    }  # fmt: skip
    masked = assert_hidden({"Spec": hostile, "Env": S})
    assert masked.document["Spec"]["Healthcheck"] == {"Test": None}
    assert masked.document["Spec"]["Labels"]["ok"] == ["x"]


def test_it_masks_json_deeper_than_docker_ever_nests_whole() -> None:
    deep: Any = {"Env": [f"A={S}"], "Labels": {"x": S}}
    for _ in range(MAX_DEPTH + 50):
        deep = {"a": [deep]}
    masked = assert_hidden(deep)
    assert MASK in json.dumps(masked.document, ensure_ascii=False)


def test_it_names_keys_with_slashes_and_tildes_by_escaped_pointers() -> None:
    masked = assert_hidden({"Spec": {"Labels": {"a/b~token": S}}})
    assert list(masked.clear) == ["/Spec/Labels/a~1b~0token"]
    assert valid_pointer("/Spec/Labels/a~1b~0token")


@pytest.mark.parametrize("pointer", ["", "Spec", "/Spec/~2", "/a~", "/" + "x" * 1024])
def test_it_refuses_malformed_pointers(pointer: str) -> None:
    assert not valid_pointer(pointer)


def test_it_masks_a_huge_task_in_linear_time() -> None:
    env = [f"V{i}={S}" for i in range(100_000)]
    args = ["--password", S] * 50_000
    started = time.process_time()
    masked = mask({"Spec": {"ContainerSpec": {"Env": env, "Args": args}}})
    assert time.process_time() - started < 5
    assert len(masked.clear) == 150_000
    assert S not in json.dumps(masked.document)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.just(f"--token={S}"),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "Env",
                        "Labels",
                        "Args",
                        "Options",
                        "DriverOpts",
                        "Test",
                        "Healthcheck",
                        "LogDriver",
                        "Constraints",
                        "Command",
                        "x/~y",
                        "Spec",
                    ]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=30,
    )
)
def test_it_takes_any_json_and_names_every_value_it_masks(document: Any) -> None:
    before = copy.deepcopy(document)
    masked = mask(document)
    assert document == before
    for pointer, clear in masked.clear.items():
        assert valid_pointer(pointer)
        original = resolve(document, pointer)
        assert clear == (original if isinstance(original, str) else json.dumps(original))


def test_its_patterns_are_globs_and_refuse_anything_else() -> None:
    keys = SecretKeys(["vault*", "sig"])
    assert keys("VAULT_ADDR") and keys("webhook.sig") and not keys("password")
    assert not SecretKeys([])("password")
    for junk in ["", "a b", "pass,word", "x" * 101, "a(b)"]:
        with pytest.raises(ValueError):
            parse_patterns([junk])


def test_the_setting_replaces_or_extends_the_default_patterns() -> None:
    assert _secret_patterns([]) == DEFAULT_PATTERNS
    assert _secret_patterns(["vault*", "sig"]) == ("vault*", "sig")
    assert _secret_patterns(["+vault*", "sig"]) == (*DEFAULT_PATTERNS, "vault*", "sig")
    with pytest.raises(ImproperlyConfigured, match="SECRET_PATTERNS"):
        _secret_patterns(["pass word"])


def test_labels_travel_to_the_pages_masked_by_the_configured_patterns() -> None:
    labels = (("db.password", S), ("vault", S), ("tier", "web"))
    svc = dataclasses.replace(service("s1"), labels=labels)
    manager = dataclasses.replace(node("n1"), labels=labels)
    assert (
        service_json(svc)["labels"] == node_json(manager)["labels"] == {"db.password": MASK, "vault": S, "tier": "web"}
    )
    with override_settings(SECRET_PATTERNS=(*DEFAULT_PATTERNS, "vault")):
        assert service_json(svc)["labels"] == {"db.password": MASK, "vault": MASK, "tier": "web"}
        assert service_title(svc) == f"local/busybox:1\ndb.password={MASK}\nvault={MASK}\ntier=web"


def test_the_details_panel_shows_only_masked_values_each_with_its_path() -> None:
    raw = {
        "ID": "t1", "ServiceID": "s1", "Slot": 1, "Status": {"State": "running"}, "DesiredState": "running",
        "Spec": {
            "ContainerSpec": {
                "Image": "busybox", "Command": ["sh"], "Args": ["--token", S], "Env": [f"A={S}"],
                "Labels": {"api_key": S, "role": "web"}, "Healthcheck": {"Test": ["CMD-SHELL", S]},
                "Mounts": [{"Type": "volume", "Source": "v", "Target": "/d", "VolumeOptions": {
                    "DriverConfig": {"Name": "local", "Options": {"device": S}}}}],
            },
            "LogDriver": {"Name": "json-file", "Options": {"labels": S}},
            "Placement": {"Constraints": [f"node.labels.db_password=={S}"]},
        },
    }  # fmt: skip
    detail, inspect = parse_detail(raw, None, (), None)
    assert S not in repr(detail) and S not in json.dumps(inspect)
    cs = "/Spec/ContainerSpec"
    assert detail.command == (Value("sh"), Value("--token"), Value(MASK, f"{cs}/Args/1"))
    assert detail.env == (Value(f"A={MASK}", f"{cs}/Env/0"),)
    assert detail.labels == (("api_key", Value(MASK, f"{cs}/Labels/api_key")), ("role", Value("web")))
    assert detail.healthcheck == (Value("CMD-SHELL"), Value(MASK, f"{cs}/Healthcheck/Test/1"))
    assert detail.mounts[0].driver == "local"
    assert detail.mounts[0].options == (
        ("device", Value(MASK, f"{cs}/Mounts/0/VolumeOptions/DriverConfig/Options/device")),
    )
    assert (detail.log_driver, detail.log_options) == (
        "json-file",
        (("labels", Value(MASK, "/Spec/LogDriver/Options/labels")),),
    )
    assert detail.constraints == (Value(f"node.labels.db_password=={MASK}", "/Spec/Placement/Constraints/0"),)
    assert masked_labels((("a", "b"),)) == {"a": "b"}
