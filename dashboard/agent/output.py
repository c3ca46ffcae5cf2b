"""A health check's output, cut to a bound without cutting a secret from its key. Pure.

The dashboard masks secrets in an output line by line ("--password x", "DB_PASSWORD=x"): a cut
inside a line could keep a value and drop the key that names it, and the value would reach viewers
in clear. So an output is cut only at a line boundary: the partial first line goes, and CUT says
that something was cut. The agent cuts this way; the dashboard cuts again what arrives over its
bound or cut elsewhere (an older agent cut anywhere), before it masks.
"""

from __future__ import annotations

from dashboard.agent.messages import MAX_OUTPUT_CHARS

CUT = "…\n"  # the first line of an output that was cut: what came before it is gone


def tail(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """The last whole lines of ``text`` that fit ``limit`` characters, after CUT when any went."""
    if len(text) <= limit:
        return text
    if limit < len(CUT):
        return ""
    kept = text[len(text) - (limit - len(CUT)) :]
    _, newline, rest = kept.partition("\n")
    return CUT + rest if newline else CUT


def whole_lines(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """An agent's output as the dashboard keeps it: one that an older agent may have cut inside a
    line (it fills the bound, without CUT) loses its partial first line too."""
    if text.startswith(CUT) or len(text) < limit:
        return text
    _, newline, rest = text.partition("\n")
    return CUT + rest if newline else CUT
