"""What a page holds, as the tests follow it: the model from its snapshot and every patch after it,
checked as the page checks them (the epoch, the seq), with what went wrong recorded."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.swarmtruth import model_of_json


class PageModel:
    """What a page holds: the model from its snapshot and every patch after it, and what went wrong."""

    def __init__(self) -> None:
        self.model: dict[str, dict[str, Any]] = {"nodes": {}, "services": {}, "tasks": {}}
        self.seq = -1
        self.epoch = -1
        self.snapshots: list[int] = []  # the epoch of each whole model it was sent
        self.patches = 0
        self.gaps: list[str] = []  # a patch whose base is not the page's seq, in its own epoch
        self.foreign: list[str] = []  # a patch of another epoch than the page's model
        self.closed = ""
        self.loading = True
        self.changed = asyncio.Event()

    def frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "snapshot":
            self.snapshots.append(frame["epoch"])
            self.model = {"nodes": {}, "services": {}, "tasks": {}}
            self.epoch = frame["epoch"]
        if kind in ("snapshot", "tasks"):
            for k in self.model:
                self.model[k].update({item["id"]: item for item in frame.get(k, [])})
            self.seq, self.loading = frame["seq"], frame["more"]
        elif kind == "patch":
            if frame["epoch"] != self.epoch:
                self.foreign.append(f"epoch {frame['epoch']} seq {frame['seq']} on epoch {self.epoch}")
                return
            self.patches += 1
            if frame["base_seq"] != self.seq:
                self.gaps.append(f"{frame['base_seq']}->{frame['seq']} on {self.seq}")
            for k in self.model:
                for item in frame[k]["upsert"]:
                    self.model[k][item["id"]] = item
                for gone in frame[k]["removed"]:
                    self.model[k].pop(gone, None)
            self.seq = frame["seq"]
        self.changed.set()

    def view(self) -> dict[str, Any]:
        return model_of_json({k: list(v.values()) for k, v in self.model.items()})
