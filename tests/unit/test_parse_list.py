"""Docker's lists are decoded a slice at a time, so a listing of 20,000 tasks never holds the loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dashboard.core.docker import MalformedList, parse_list


def ident(item: dict[str, Any]) -> str:
    return str(item["ID"])


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b" [ ] \n",
        b'[{"ID": "a"}]',
        b'[\n  {"ID": "a", "Spec": {"Name": "x,]"}},\n  {"ID": "b"} ,{"ID":"c"}\n]\n',
        json.dumps([{"ID": str(i), "Labels": {"k": "v" * i}} for i in range(1203)]).encode(),
    ],
)
async def test_it_reads_what_json_loads_reads(raw: bytes) -> None:
    assert await parse_list(raw, ident, per_slice=7) == tuple(ident(x) for x in json.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [b"", b"{}", b'{"ID": "a"}', b'[{"ID": "a"}', b'[{"ID": "a"} {"ID": "b"}]', b'[{"ID": "a"},]', b"[1]",
     b'[{"ID": "a"}] x', b"[ ]garbage", b'[{"ID": "a"}]\x0c', b"\xff"],
)  # fmt: skip
async def test_anything_but_a_list_of_objects_is_an_error(raw: bytes) -> None:
    with pytest.raises(MalformedList):
        await parse_list(raw, ident)


async def test_what_the_parser_raises_is_not_called_malformed_json() -> None:
    def refuse(item: dict[str, Any]) -> str:
        raise ValueError("a value the parser refuses")

    with pytest.raises(ValueError, match="the parser refuses") as raised:
        await parse_list(b'[{"ID": "a"}]', refuse)
    assert not isinstance(raised.value, MalformedList)


async def test_other_work_runs_while_a_long_list_is_decoded() -> None:
    raw = json.dumps([{"ID": str(i)} for i in range(5000)]).encode()
    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    runner = asyncio.create_task(other())
    await asyncio.sleep(0)
    parsed = await parse_list(raw, ident, per_slice=500)
    done = True
    await runner
    assert len(parsed) == 5000
    assert turns >= 9  # it yielded after every 500 items
