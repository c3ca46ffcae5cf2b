"""The model between processes: any snapshot and patch survive the trip, and anything malformed or
written by another version is refused whole, with a reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from dashboard.core.model import Snapshot, advance, apply, diff
from dashboard.core.shared import codec
from tests.unit.fakedocker import node, service, task
from tests.unit.strategies import snapshots


def _trip(data: dict[str, object]) -> object:
    return codec.loads(codec.dumps(data))


@settings(max_examples=200)
@given(snapshots())
def test_any_snapshot_survives_the_trip(a: Snapshot) -> None:
    b = codec.snapshot_from(_trip(codec.snapshot_data(a)))
    assert b == a
    assert b.seq == a.seq


@settings(max_examples=200)
@given(snapshots(), snapshots())
def test_any_patch_survives_the_trip_and_applies_alike(a: Snapshot, b: Snapshot) -> None:
    patch = diff(a, b)
    again = codec.patch_from(_trip(codec.patch_data(patch)))
    assert again == patch
    assert apply(a, again).same_content(b)


def _small() -> Snapshot:
    one = Snapshot.build(
        seq=0, status=Snapshot().status, nodes=[node("n1")], services=[service("s1")], tasks=[task("t1", "s1", "n1")]
    )
    return advance(Snapshot(), one)[0]


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d.update(format="0-old"), "format"),
        (lambda d: d.update(seq=-1), "seq"),
        (lambda d: d.update(seq=True), "seq"),
        (lambda d: d.update(nodes="n1"), "expected a list"),
        (lambda d: d["nodes"][0].pop(), "fields"),
        (lambda d: d["tasks"][0].__setitem__(2, "one"), "Task"),  # the slot: an int or null
        (lambda d: d["nodes"][0].__setitem__(3, 1), "Node"),  # leader: a bool, never an int
        (lambda d: d["status"].__setitem__(0, "sleeping"), "Status"),  # not a connection state
        (lambda d: d["nodes"][0].__setitem__(13, [["k"]]), "Node"),  # a label without a value
    ],
)
def test_a_malformed_snapshot_is_refused_whole(mangle: object, reason: str) -> None:
    data = json.loads(codec.dumps(codec.snapshot_data(_small())))
    mangle(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=reason):
        codec.snapshot_from(data)


def test_a_malformed_patch_is_refused_whole() -> None:
    s1 = _small()
    data = json.loads(codec.dumps(codec.patch_data(diff(Snapshot(), s1))))
    data["tasks"]["removed"] = [1]
    with pytest.raises(ValueError, match="removed"):
        codec.patch_from(data)
    with pytest.raises(ValueError, match="not JSON"):
        codec.loads(b"{nope")


def test_the_format_names_every_field() -> None:
    # a field added, renamed or retyped changes FORMAT: two versions never read each other's model
    assert codec.FORMAT.startswith("1-") and len(codec.FORMAT) == 14
