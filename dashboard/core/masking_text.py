"""What the masking rule (dashboard.core.masking) hides inside one string.

In any text (a label's value, an argument, a word of a shell script, a health check's output):

- a URL's password: ``redis://:••••••@host`` - the user info runs to the last ``@`` before the
  host, as urllib.parse.urlsplit reads it, so a password holding ``@`` is masked whole;
- a secret-looking query parameter (``?api_key=••••••``) or ``key=value`` pair among others
  (libpq's ``host=db password=••••••``, a value in quotes masked whole);
- a secret-looking header or ``key: value`` line (``Authorization: Bearer ••••••``,
  ``X-Api-Key: ••••••``): to the end of the line, the scheme (``Bearer``, ``Basic``) kept;
- in JSON (``{"db_password": "••••••"}``) the values of secret-looking keys, and the text rule in
  every string (the JSON is then shown re-serialized).

In a command line, word by word: the value of a flag that looks secret (``--password=x``,
``--password x``, ``--password -x``: the next word unless it is a long flag itself),
``KEY=value`` where KEY looks secret, mysql's ``-pVALUE`` (attached only: ``-p 8080`` stays),
curl's ``-u user:pw`` (the part after the colon), and the text rule above. An exec-form argument
is one word whatever it holds - Docker hands it to the program as it is, so ``--password=a&b``
is masked whole; the argument after a shell's ``-c`` is a script, split into words as a POSIX
shell does (the quoting rules of shlex, with positions kept so the rest of the script is shown
as written; an unclosed quote runs to the end, so its content is one word, masked whole when it
is a secret's value).

Everything here runs in linear time: labels come back with every snapshot, and a label's value
may be as large as Docker takes. Keys in a text are at most 100 characters long, so that no
search runs over a whole value from each of its characters.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MASK = "••••••"
Keys = Callable[[str], bool]

_FLAG_VALUE = re.compile(r"(-{1,2}([A-Za-z][\w.-]*)=)(.*)", re.S)
_ASSIGN = re.compile(r"(([A-Za-z_][\w.-]*)=)(.*)", re.S)
_FLAG = re.compile(r"-{1,2}([A-Za-z][\w.-]*)")
_SHELL_C = re.compile(r"-[A-Za-z]*c[A-Za-z]*")  # sh -c, -ec, -lc, -xec ...
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"})
_PREFIXES = frozenset({"exec", "env", "sudo", "nice", "nohup", "time", "command", "su-exec", "gosu", "tini"})
_MYSQL = re.compile(r"(?:mysql|mariadb)[\w-]*")  # mysql, mysqldump, mysqladmin, mariadb-dump ...
_CURL_USER = frozenset({"u", "user", "U", "proxy-user"})
_AUTHORITY_END = re.compile(r"[/?#\s]")
_QUERY = re.compile(r"([?&;]([\w.-]{1,100})=)([^&#;\s]+)")
_PAIR = re.compile(r"(?<![^\s,;])([A-Za-z_][\w.-]{0,99})=")
_PAIR_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"|\S+")
_HEADER = re.compile(r"(?<![\w.-])([A-Za-z][\w.-]{0,99}):[ \t]*")
_SCHEME = re.compile(r"(?:Bearer|Basic|Digest|Token|Negotiate|AWS4-HMAC-SHA256)[ \t]+", re.I)
_INERT = re.compile(r"[\w./+,]*")
# a word: plain characters, '...', "..." (with backslash escapes) and \x; a quote left open runs to the end
_SHELL_TOKEN = re.compile(r"""([;&|()\n])|((?:[^\s;&|()<>'"\\]+|'[^']*'?|"(?:[^"\\]|\\.?)*"?|\\.?)+)""", re.S)
_OUTPUT_TOKEN = re.compile(r"([;&|()\n])|([^\s;&|()<>]+)")  # a program's output: quotes are no quotes
_QUOTING = re.compile(r"""['"\\]""")
_PIECE = re.compile(r"""'([^']*)'?|"((?:[^"\\]|\\.?)*)"?|\\(.?)|([^'"\\]+)""", re.S)
_ESCAPED = re.compile(r"""\\(["\\$`\n])""")
MAX_DEPTH = 16  # JSON in a label, a script in a script: deeper is masked whole


def mask_text(text: str, keys: Keys, depth: int = 0) -> str:
    """``text`` with URL passwords, secret-looking pairs, headers and JSON values masked."""
    if depth > MAX_DEPTH:
        return MASK
    shown = _json(text, keys, depth)
    if shown is not None:
        return shown
    if "://" in text:
        text = _userinfo(text)
    if "=" in text:
        text = _QUERY.sub(lambda m: m[1] + MASK if keys(m[2]) else m[0], text)
        text = _values(text, keys, _PAIR)
    if ":" in text:
        text = _values(text, keys, _HEADER)
    return text


def _values(text: str, keys: Keys, key: re.Pattern[str]) -> str:
    """The values after each secret-looking ``key=`` (to the next blank, or in quotes) or ``key:``
    (to the end of the line, an auth scheme kept). Only keys are searched for, so a value that
    holds another pair (``user=u,password=p``) is searched too."""
    out, at = [], 0
    for m in key.finditer(text):
        if m.start() < at or not keys(m[1]):
            continue
        if key is _PAIR:
            value = _PAIR_VALUE.match(text, m.end())
            start, end = m.end(), value.end() if value else m.end()
        else:
            eol = text.find("\n", m.end())
            eol = len(text) if eol == -1 else eol
            end = m.end() + len(text[m.end() : eol].rstrip())
            scheme = _SCHEME.match(text, m.end(), end)
            start = scheme.end() if scheme else m.end()
        if end <= start or text[start:end] == MASK:
            continue
        out.append(text[at:start])
        out.append(MASK)
        at = end
    out.append(text[at:])
    return "".join(out)


def mask_output(text: str, keys: Keys) -> str:
    """A health check's output, masked as a script's words are (quotes being no quotes in output),
    then by the text rule as a whole (``password: a b`` to the end of its line)."""
    return mask_text(_script(text, keys, 0, quotes=False), keys)


@dataclass(slots=True)
class Line:
    """Where a command line is, word by word (Command, then Args, go on one line)."""

    program: str = ""  # the basename of the program the words go to
    expect_program: bool = True  # the next word names the program
    pending: str = ""  # "value": the next word is a secret's value; "user": curl's user:password
    script_next: bool = False  # the next word is a shell script (it follows sh's -c)


def mask_argument(arg: str, keys: Keys, line: Line) -> str:
    """One exec-form argument, masked: a shell script when it follows a shell's ``-c``, else one word."""
    if line.script_next:
        line.script_next = False
        line.pending = ""
        return _script(arg, keys, 1)
    return _word(arg, keys, line, 0)


def mask_script(script: str, keys: Keys) -> str:
    """A whole command line given as one string (not Docker's shape, but a shell line all the same)."""
    return _script(script, keys, 1)


def _script(script: str, keys: Keys, depth: int, *, quotes: bool = True) -> str:
    if depth > MAX_DEPTH:
        return MASK
    line = Line()
    out: list[str] = []
    at = 0
    for start, end, word in _shell_words(script, quotes):
        if word is None:  # ; & | ( ) or a new line: a new command begins
            line = Line()
            continue
        if line.script_next:
            line.script_next = False
            shown = _script(word, keys, depth + 1)
        else:
            shown = _word(word, keys, line, depth)
        if shown != word:
            out.append(script[at:start])
            out.append(_respan(script[start:end], word, shown))
            at = end
    out.append(script[at:])
    return "".join(out)


def _word(word: str, keys: Keys, line: Line, depth: int) -> str:
    if not (line.pending or line.expect_program or line.program in _SHELLS) and _INERT.fullmatch(word):
        return word  # most words of a script: nothing here could be or start a secret
    pending, line.pending = line.pending, ""
    if pending == "value" and not word.startswith("--"):
        return MASK  # "-x" is a value too: a password may start with a dash
    if pending == "user" and not word.startswith("-"):
        return _after_colon(word)
    if line.expect_program and not word.startswith("-") and not _ASSIGN.fullmatch(word):
        line.program = os.path.basename(word).lower()
        line.expect_program = line.program in _PREFIXES
    if line.program in _SHELLS and _SHELL_C.fullmatch(word):
        line.script_next = True
        return word
    if (m := _FLAG_VALUE.fullmatch(word)) and keys(m[2]):
        return m[1] + MASK
    if m and line.program == "curl" and m[2] in _CURL_USER:
        return m[1] + _after_colon(m[3])
    if (m := _ASSIGN.fullmatch(word)) and keys(m[2]):
        return m[1] + MASK
    if word.startswith("-p") and len(word) > 2 and _MYSQL.fullmatch(line.program):
        return "-p" + MASK  # mysql's password, attached: "-p secret" would ask for one instead
    if word.startswith(("-u", "-U")) and len(word) > 2 and line.program == "curl":
        return word[:2] + _after_colon(word[2:])
    if m := _FLAG.fullmatch(word):
        if keys(m[1]):
            line.pending = "value"
        elif line.program == "curl" and m[1] in _CURL_USER:
            line.pending = "user"
        return word
    return mask_text(word, keys, depth)


def _after_colon(value: str) -> str:
    user, colon, _ = value.partition(":")
    return user + colon + MASK if colon else value


def _respan(span: str, word: str, shown: str) -> str:
    """A word of a script as masked, written back where it stood: quotes kept when they simply
    wrap it (``'••••••'``), else what the quotes held, as masked (it is shown, never run)."""
    if span == word:
        return shown
    if len(span) >= 2 and span[0] == span[-1] and span[0] in "'\"" and span[1:-1] == word:
        return span[0] + shown + span[0]
    common = 0
    for a, b in zip(word, shown, strict=False):
        if a != b:
            break
        common += 1
    if span.startswith(word[:common]):
        return word[:common] + shown[common:]
    return shown


def _shell_words(text: str, quotes: bool) -> Iterator[tuple[int, int, str | None]]:
    """(start, end, word without its quotes) for each word of a POSIX shell line, and
    (i, i + 1, None) for each operator that ends a command. One regex finds them all: linear."""
    for m in (_SHELL_TOKEN if quotes else _OUTPUT_TOKEN).finditer(text):
        if m[1] is not None:
            yield m.start(), m.end(), None
        else:
            word = m[2]
            yield m.start(), m.end(), _unquote(word) if quotes and _QUOTING.search(word) else word


def _unquote(word: str) -> str:
    out = []
    for m in _PIECE.finditer(word):
        if m[1] is not None:
            out.append(m[1])
        elif m[2] is not None:
            out.append(_ESCAPED.sub(r"\1", m[2]))  # in double quotes \ escapes only these
        else:
            out.append(m[3] if m[3] is not None else m[4])
    return "".join(out)


def _userinfo(text: str) -> str:
    """Each URL's password masked, found with str.find: a regex over "a" * 40000 + "://" is quadratic."""
    out, at = [], 0
    sep = text.find("://")
    while sep != -1:
        start = sep + 3
        found = _AUTHORITY_END.search(text, start)
        end = found.start() if found else len(text)
        if sep > 0 and text[sep - 1].isalnum():
            last_at = text.rfind("@", start, end)
            colon = text.find(":", start, last_at) if last_at != -1 else -1
            if colon != -1 and colon + 1 < last_at and text[colon + 1 : last_at] != MASK:
                out.append(text[at : colon + 1])
                out.append(MASK)
                at = last_at
        sep = text.find("://", max(end, start))
    out.append(text[at:])
    return "".join(out)


def _json(text: str, keys: Keys, depth: int) -> str | None:
    """The text as JSON with secret-looking keys' values masked, or None: not JSON, or nothing masked."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    changed = [False]
    shown = _json_value(document, keys, depth + 1, changed)
    return json.dumps(shown, ensure_ascii=False) if changed[0] else None


def _json_value(value: Any, keys: Keys, depth: int, changed: list[bool]) -> Any:
    if isinstance(value, str):
        shown = mask_text(value, keys, depth)
    elif depth > MAX_DEPTH and isinstance(value, dict | list):
        shown = MASK
    elif isinstance(value, list):
        return [_json_value(v, keys, depth + 1, changed) for v in value]
    elif isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if keys(k) and v is not None:
                out[k], changed[0] = MASK, True
            else:
                out[k] = _json_value(v, keys, depth + 1, changed)
        return out
    else:
        return value
    changed[0] = changed[0] or shown != value
    return shown
