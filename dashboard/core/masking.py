"""One masking rule for everything a viewer sees of a task, service, container or node.

``mask(document, keys)`` returns a copy of Docker's JSON with these values replaced by ``MASK``:

- every env value: ``"DB_PASSWORD=x"`` becomes ``"DB_PASSWORD=••••••"`` (any ``Env``);
- every driver option value, whatever its key: a CIFS volume's ``o=username=u,password=p`` says
  its secret under the key ``o`` (``Options`` of a ``DriverConfig``, ``LogDriver``,
  ``DriverConfiguration``, ``DriverState`` or IPAM ``Driver``; ``DriverOpts``; a container's
  ``LogConfig.Config``);
- a healthcheck's command (``Healthcheck.Test``) but its form (``CMD``, ``CMD-SHELL``, ``NONE``):
  the form says what kind of check runs and holds nothing, the rest is a command line like any
  other, and a ``curl -u user:pw`` in it cannot be told from a harmless one;
- label values whose key looks secret (``traefik...basicauth.users``, ``db.password``), and in
  any other label value what dashboard.core.masking_text finds secret in a text (a URL's
  password, ``password=x`` among other pairs, ``Authorization: Bearer x``, JSON's secret keys);
- in command lines (``Path``, ``Command``, ``Args``, ``Cmd``, ``Entrypoint``, one line from the
  first to the last), argument by argument, and inside an argument that a shell's ``-c`` makes a
  script: the values of flags that look secret, and the rest of dashboard.core.masking_text;
- placement constraints on a label whose key looks secret (``node.labels.db_password==x``).

Each masked value is named by a JSON Pointer (RFC 6901) to the string that holds it in the
document, e.g. ``/Spec/ContainerSpec/Env/0`` or ``/Spec/LogDriver/Options/splunk-token``:
``Masked.clear`` maps those pointers to the strings as Docker has them, so that an operator can
reveal exactly one (a task's spec never changes, so a pointer into it stays valid).

A key looks secret when one of the patterns (case-insensitive globs) matches it whole or one of
its words: words split at anything but letters and digits and at lowerCamel humps, so that
``key`` catches ``API_KEY``, ``ssh.key`` and ``apiKey`` but neither ``keyboard`` nor ``monkey``,
while ``*token*`` catches any key with "token" anywhere in it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dashboard.core.masking_text import MASK as MASK  # the one mask, for everyone importing the rule
from dashboard.core.masking_text import Line, mask_argument, mask_script, mask_text

# "key" and "auth" as whole words only (not keyboard, author)
DEFAULT_PATTERNS = (
    "*password*", "*passwd*", "*passphrase*", "pass", "pwd", "*secret*", "*token*", "*credential*",
    "auth", "*basicauth*", "*digestauth*", "*oauth*", "authorization", "key", "*apikey*", "*privatekey*",
    "private", "dsn", "*connection*string*", "jwt", "*bearer*",
    # words ending in pass or auth (redis' requirepass and masterauth, dbpass), but not bypass or compass
    "*[!ym]pass", "*auth",
)  # fmt: skip

MAX_DEPTH = 64  # Docker's JSON is about 8 deep: anything deeper is masked whole, never walked
_PATTERN = re.compile(r"[A-Za-z0-9_.*?\[\]!-]{1,100}")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_COMMANDS = frozenset({"Path", "Entrypoint", "Cmd", "Command", "Args"})
_HEALTH_FORMS = frozenset({"NONE", "CMD", "CMD-SHELL"})
_DRIVERS = frozenset({"DriverConfig", "LogDriver", "DriverConfiguration", "DriverState", "Driver"})
_CONSTRAINT = re.compile(r"\s*(?:node|engine)\.labels\.([^\s=!]+)\s*(?:==|!=)\s*")


def parse_patterns(items: Iterable[str]) -> tuple[str, ...]:
    """Patterns as a setting gives them; ValueError naming the first that is not a plain glob."""
    patterns = tuple(p.strip() for p in items)
    for p in patterns:
        if not _PATTERN.fullmatch(p):
            raise ValueError(f"{p!r} is not a pattern: letters, digits, _ . - and the globs * ? [ ] only")
    return patterns


class SecretKeys:
    """Whether a key (a label's, a flag's, an env-like assignment's) looks secret; see the module."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = parse_patterns(patterns)
        either = "|".join(f"(?:{fnmatch.translate(p.lower())})" for p in self.patterns)
        self._regex = re.compile(either) if either else None
        self._seen: dict[str, bool] = {}  # the same few label keys come back on every service

    def __call__(self, key: str) -> bool:
        hit = self._seen.get(key)
        if hit is None:
            hit = self._match(key)
            if len(self._seen) < 10_000 and len(key) <= 200:
                self._seen[key] = hit
        return hit

    def _match(self, key: str) -> bool:
        if self._regex is None:
            return False
        match = self._regex.match
        return bool(match(key.lower())) or any(match(w.lower()) for w in _WORDS.findall(key))


@functools.lru_cache(maxsize=8)
def rule(patterns: tuple[str, ...]) -> SecretKeys:
    """The one SecretKeys for a setting's patterns (compiled once per process)."""
    return SecretKeys(patterns)


DEFAULT_KEYS = rule(DEFAULT_PATTERNS)


@dataclass(frozen=True, slots=True)
class Masked:
    document: Any  # the masked copy
    clear: dict[str, str] = field(default_factory=dict)  # pointer -> the string as Docker has it


def mask(document: Any, keys: SecretKeys = DEFAULT_KEYS) -> Masked:
    clear: dict[str, str] = {}
    return Masked(_Walk(keys, clear).value(document, "", "", 0), clear)


def masked_label(key: str, value: str, keys: SecretKeys = DEFAULT_KEYS) -> str:
    """A label's value as every viewer sees it (a node's, a service's, a secret's, a config's)."""
    return MASK if keys(key) else mask_text(value, keys)


def masked_labels(labels: Iterable[tuple[str, str]], keys: SecretKeys = DEFAULT_KEYS) -> dict[str, str]:
    """A node's or service's labels as the sockets carry them: secret-looking values masked."""
    return {k: masked_label(k, v, keys) for k, v in labels}


def pointer_step(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def valid_pointer(pointer: str) -> bool:
    """A JSON Pointer as ``mask`` writes them: non-empty, at most 1024 characters, escapes well formed."""
    return 0 < len(pointer) <= 1024 and pointer.startswith("/") and re.search(r"~(?![01])", pointer) is None


def _driver_options(key: str, parent: str) -> bool:
    return (key == "Options" and parent in _DRIVERS) or key == "DriverOpts" or (key, parent) == ("Config", "LogConfig")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class _Walk:
    def __init__(self, keys: SecretKeys, clear: dict[str, str]) -> None:
        self.keys = keys
        self.clear = clear

    def hide(self, value: Any, pointer: str) -> str:
        self.clear[pointer] = _text(value)
        return MASK

    def value(self, value: Any, pointer: str, parent: str, depth: int) -> Any:
        if depth > MAX_DEPTH and isinstance(value, dict | list):
            return self.hide(value, pointer)
        if isinstance(value, list):
            return [self.value(v, f"{pointer}/{i}", parent, depth + 1) for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value  # str, int, float, bool, None: immutable
        out: dict[str, Any] = {}
        line = Line()  # Command then Args: one command line (a flag at the end of one, its value in the next)
        for key, v in value.items():
            p = pointer + pointer_step(str(key))
            if v is None:
                out[key] = None
            elif key == "Env":
                out[key] = self.env(v, p)
            elif _driver_options(str(key), parent):
                out[key] = self.every_value(v, p)
            elif key == "Labels" and isinstance(v, dict):
                out[key] = {k: self.label(str(k), x, f"{p}{pointer_step(str(k))}", depth) for k, x in v.items()}
            elif key == "Test" and parent == "Healthcheck":
                out[key] = self.healthcheck(v, p)
            elif key in _COMMANDS:
                out[key] = self.command(v, p, line)
            elif key == "Constraints" and isinstance(v, list):
                out[key] = [self.constraint(c, f"{p}/{i}") for i, c in enumerate(v)]
            else:
                out[key] = self.value(v, p, str(key), depth + 1)
        return out

    def env(self, env: Any, pointer: str) -> Any:
        if isinstance(env, dict):
            return self.every_value(env, pointer)
        if not isinstance(env, list):
            return self.hide(env, pointer)
        out = []
        for i, item in enumerate(env):
            if isinstance(item, str) and "=" not in item:
                out.append(item)  # a name alone: nothing to hide
            elif isinstance(item, str):
                self.clear[f"{pointer}/{i}"] = item
                out.append(f"{item.split('=', 1)[0]}={MASK}")
            else:
                out.append(self.hide(item, f"{pointer}/{i}"))
        return out

    def every_value(self, options: Any, pointer: str) -> Any:
        if not isinstance(options, dict):
            return self.hide(options, pointer)
        return {k: self.hide(v, pointer + pointer_step(str(k))) for k, v in options.items()}

    def label(self, key: str, value: Any, pointer: str, depth: int) -> Any:
        if self.keys(key):
            return self.hide(value, pointer)
        if isinstance(value, str) and (masked := mask_text(value, self.keys)) != value:
            self.clear[pointer] = value
            return masked
        return self.value(value, pointer, "", depth + 1)

    def healthcheck(self, test: Any, pointer: str) -> Any:
        if not isinstance(test, list):
            return self.hide(test, pointer)
        return [
            item if i == 0 and isinstance(item, str) and item in _HEALTH_FORMS else self.hide(item, f"{pointer}/{i}")
            for i, item in enumerate(test)
        ]

    def command(self, command: Any, pointer: str, line: Line) -> Any:
        if isinstance(command, str):  # Path's shape; any other with blanks is a shell line
            script = " " in command.strip()
            masked = mask_script(command, self.keys) if script else mask_argument(command, self.keys, line)
            if masked != command:
                self.clear[pointer] = command
            return masked
        if not isinstance(command, list):
            return self.value(command, pointer, "", 1)
        out = []
        for i, arg in enumerate(command):
            if not isinstance(arg, str):
                out.append(self.hide(arg, f"{pointer}/{i}"))
                continue
            masked = mask_argument(arg, self.keys, line)
            if masked != arg:
                self.clear[f"{pointer}/{i}"] = arg
            out.append(masked)
        return out

    def constraint(self, constraint: Any, pointer: str) -> Any:
        if not isinstance(constraint, str):
            return self.hide(constraint, pointer)
        m = _CONSTRAINT.match(constraint)
        if m is None or not self.keys(m[1]) or not constraint[m.end() :].strip():
            return constraint
        self.clear[pointer] = constraint
        return constraint[: m.end()] + MASK
