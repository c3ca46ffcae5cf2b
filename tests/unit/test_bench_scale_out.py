"""bench.scale_out's pure parts: a viewer reads the server's frames, keeps its seq as the page does,
and latencies add up across viewer processes."""

from __future__ import annotations

import json
import random

from bench.harness import percentile
from bench.scale_out.book import READ_WHOLE_BELOW, Frame, Histogram, Viewer, read_frame
from bench.scale_out.fleet import Socket, retry_after
from bench.scale_out.runs import latency_figures
from dashboard.live.frames import with_tasks as _with_tasks
from dashboard.live.protocol import SnapshotMessage, TasksMessage


def patch(seq: int, base: int | None = None, epoch: int = 3) -> Frame:
    return Frame("patch", seq=seq, epoch=epoch, base_seq=seq - 1 if base is None else base)


def model(seq: int, epoch: int = 3, more: bool = False) -> Frame:
    return Frame("snapshot", seq=seq, epoch=epoch, more=more)


def test_a_patch_is_read_whole() -> None:
    text = {"type": "patch", "epoch": 2, "base_seq": 40, "seq": 41, "nodes": {"upsert": [], "removed": []}}
    assert read_frame(json.dumps(text).encode()) == Frame("patch", seq=41, epoch=2, base_seq=40)
    assert read_frame(b"not json").type == "unreadable"


def test_a_chunk_of_the_model_is_read_by_its_head_and_its_more_flag() -> None:
    """Frames as the server builds them (its own splice of task texts), past the size read whole."""
    tasks = [json.dumps({"id": f"t{i}", "state": "running", "labels": {"more": "true"}}) for i in range(4000)]
    first = SnapshotMessage(
        type="snapshot", seq=812, epoch=7, status={"state": "live"}, nodes=[], services=[], tasks=[], more=True,
        docker_age=0.5, docker_every=8.0, version="v1",
    )  # fmt: skip
    last = TasksMessage(type="tasks", seq=812, epoch=7, nodes=[], services=[], tasks=[], more=False)
    big_first = _with_tasks(first, tasks).encode()
    big_last = _with_tasks(last, tasks).encode()
    assert len(big_first) > READ_WHOLE_BELOW
    assert read_frame(big_first) == Frame("snapshot", seq=812, epoch=7, more=True)
    assert read_frame(big_last) == Frame("tasks", seq=812, epoch=7, more=False)


def test_a_viewer_counts_each_patch_once_and_applies_them_in_order() -> None:
    v = Viewer()
    assert v.take(patch(5)) == (False, False)  # before its first model: that model is on its way
    assert not v.loaded
    v.take(model(10, more=True))
    assert not v.loaded
    v.take(Frame("tasks", seq=10, epoch=3, more=False))
    assert v.models == 1 and v.seq == 10
    assert v.take(patch(9)) == (True, False)  # heard, but older than the model: dropped
    assert v.stale == 1
    assert v.take(patch(11)) == (True, False)
    assert v.take(patch(11)) == (False, False)  # heard before
    assert v.seq == 11 and v.patches == 1


def test_a_gap_asks_for_the_model_once_and_the_next_model_resumes() -> None:
    v = Viewer()
    v.take(model(10))
    assert v.take(patch(13, base=12)) == (True, True)
    assert v.take(patch(14)) == (True, False)  # one resync at a time; still a delivery to time
    assert v.gaps == 1
    v.take(model(14))
    assert v.take(patch(14)) == (False, False)
    assert v.take(patch(15)) == (True, False)
    assert v.seq == 15 and v.models == 2


def test_another_epoch_asks_for_the_model_and_restarts_the_count() -> None:
    v = Viewer()
    v.take(model(100, epoch=1))
    v.take(patch(101, epoch=1))
    assert v.take(patch(5, epoch=2)) == (False, True)
    assert v.foreign == 1
    v.take(model(5, epoch=2))
    assert v.take(patch(6, epoch=2)) == (True, False)  # a lower seq, but a new epoch: a new arrival
    assert (v.epoch, v.seq) == (2, 6)


def test_the_histogram_percentiles_match_the_exact_ones_and_merge() -> None:
    rng = random.Random(4)
    values = [rng.expovariate(1 / 0.05) for _ in range(5001)]
    one, two = Histogram(), Histogram()
    one.extend(values[:2500])
    two.extend(values[2500:])
    one.merge(Histogram(json.loads(json.dumps(two.to_json()))))  # as a viewer process sends it
    assert one.n == len(values)
    for q in (50, 99, 100):
        assert abs(one.percentile(q) - percentile(values, q) * 1000) <= 0.5  # type: ignore[operator]
    assert Histogram().percentile(50) is None


def test_latency_is_to_the_last_viewer_and_misses_are_counted() -> None:
    published = {"1:10": 100.0, "1:11": 101.0}
    fleet_a = {"seqs": {"1:10": [2, 100.010, 100.020], "1:11": [2, 101.005, 101.400]}, "hist": {"10": 1, "20": 1}}
    fleet_b = {"seqs": {"1:10": [1, 100.015, 100.050]}, "hist": {"15": 1}}
    f = latency_figures(published, [fleet_a, fleet_b], viewers=3)
    assert f["patches"] == 2 and f["complete"] == 1 and f["missed_deliveries"] == 1
    assert f["every_p50_ms"] == f["every_max_ms"] == 50
    assert f["delivery_n"] == 3 and f["delivery_p50_ms"] == 15
    fallback = latency_figures({}, [fleet_a, fleet_b], viewers=3)
    assert fallback["clock"] == "first viewer" and fallback["every_max_ms"] == 40


def test_a_dropped_viewer_waits_as_the_page_does() -> None:
    """live.js: 0.5 s, doubling, at most 1 s apart for the first 15 s without a model, 10 s after."""
    sock = Socket()
    waits = [retry_after(sock, t) for t in (0.0, 1.0, 2.0, 3.0)]
    assert waits == [0.5, 1.0, 1.0, 1.0]
    assert [retry_after(sock, t) for t in (16.0, 30.0, 60.0, 90.0, 120.0)] == [1.0, 2.0, 4.0, 8.0, 10.0]
