"""Messages as they travel: compact JSON, one object per text frame, measured in bytes."""

from __future__ import annotations

import json


def encode(message: object) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def size(message: object) -> int:
    return len(encode(message).encode())
