// The pages' pure helpers for what node agents report: bar scales, sample expiry and coalescing,
// sparkline points, and what a task's error says.
//   node --test tests/js/usage.test.js   (./sv test runs it)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { barScale, errorText, sparkPoints } from "../../static/dashboard/draw.js";
import { USAGE_KEPT_FOR, UsageStore } from "../../static/dashboard/live.js";

// a store whose notices wait for flush(): one per "animation frame"
function storeWithFrames() {
  const due = [];
  const store = new UsageStore((run) => due.push(run));
  const heard = { count: 0 };
  store.listen(() => { heard.count += 1; });
  return { store, heard, flush: () => { for (const run of due.splice(0)) run(); } };
}

describe("barScale", () => {
  it("is the share of the capacity", () => assert.equal(barScale(0.5, 2), 0.25));
  it("is full when over the capacity (a task above its node's count: a burst)", () => assert.equal(barScale(3, 2), 1));
  it("is empty without a known capacity", () => {
    assert.equal(barScale(1, 0), 0);
    assert.equal(barScale(1, NaN), 0);
  });
  it("is empty for nothing or junk", () => {
    assert.equal(barScale(0, 2), 0);
    assert.equal(barScale(-1, 2), 0);
    assert.equal(barScale(NaN, 2), 0);
  });
});

describe("UsageStore", () => {
  it("keeps each sample until a newer one and drops it once older than a few `every`", () => {
    const { store } = storeWithFrames();
    store.apply({ every: 2, nodes: { n1: [0.5, 2, 100, 1000] }, tasks: { t1: [0.25, 10, 0] } }, 1000);
    assert.deepEqual(store.task("t1", 1000), [0.25, 10, 0]);
    // a frame that names t1 no more leaves its sample as it was
    store.apply({ every: 2, tasks: { t2: [0.1, 5, 64] } }, 3000);
    assert.deepEqual(store.task("t1", 3000), [0.25, 10, 0]);
    const bound = USAGE_KEPT_FOR * 2000;
    assert.deepEqual(store.task("t1", 1000 + bound), [0.25, 10, 0]);
    assert.equal(store.task("t1", 1001 + bound), undefined);
    assert.equal(store.node("n1", 1001 + bound), undefined);
    assert.deepEqual(store.task("t2", 1001 + bound), [0.1, 5, 64]);
  });

  it("tells its listeners once per frame, however many frames and parts came", () => {
    const { store, heard, flush } = storeWithFrames();
    store.apply({ every: 5, nodes: { n1: [0, 1, 0, 1] }, tasks: { t1: [0, 1, 0] } }, 0);
    store.apply({ every: 5, tasks: { t2: [0, 1, 0] } }, 0); // the second part of one large frame
    assert.equal(heard.count, 0);
    flush();
    assert.equal(heard.count, 1);
    assert.deepEqual([store.task("t1", 0), store.task("t2", 0), store.node("n1", 0)], [[0, 1, 0], [0, 1, 0], [0, 1, 0, 1]]);
    flush();
    assert.equal(heard.count, 1);
  });

  it("tells its listeners when samples expired (an agent gone quiet)", () => {
    const { store, heard, flush } = storeWithFrames();
    store.apply({ every: 1, nodes: { n1: [0, 1, 0, 1] }, tasks: { t1: [0, 1, 0] } }, 0);
    flush();
    store.expire(3000);
    flush();
    assert.equal(heard.count, 1); // still fresh: nothing to say
    store.expire(3001);
    flush();
    assert.equal(heard.count, 2);
    assert.equal(store.frames.length, 0);
    assert.equal(store.task("t1", 3001), undefined);
  });

  it("keeps a bounded number of frames, whatever the pace", () => {
    const { store } = storeWithFrames();
    for (let i = 0; i < 2000; i++) store.apply({ every: 1000, tasks: { [`t${i}`]: [0, 1, 0] } }, i);
    assert.ok(store.frames.length <= 512);
    assert.deepEqual(store.task("t1999", 2000), [0, 1, 0]);
  });

  it("refuses samples of the wrong shape or with junk in them", () => {
    const { store } = storeWithFrames();
    store.apply({ every: 5, nodes: { a: [1, 2, 3], b: "x" }, tasks: { c: [1, "2", 3], d: [1, -2, 3], e: [1, 2, 3] } }, 0);
    assert.deepEqual(["a", "b"].map((id) => store.node(id, 0)), [undefined, undefined]);
    assert.deepEqual(["c", "d", "e", "constructor", "__proto__"].map((id) => store.task(id, 0)),
      [undefined, undefined, [1, 2, 3], undefined, undefined]);
    store.apply({ every: 5, tasks: [[1, 2, 3]] }, 0); // not an object of samples
    assert.deepEqual(store.task("0", 0), undefined);
  });
});

describe("sparkPoints", () => {
  it("places samples by time and value in the box, leaving out those outside the window", () => {
    const samples = [[90, 1], [100, 0], [150, 1], [200, 2]];
    assert.equal(sparkPoints(samples, 1, { from: 100, to: 200, max: 2, w: 100, h: 14 }), "0.0,12.0 50.0,7.0 100.0,2.0");
  });
  it("clamps a value over the top", () => {
    assert.equal(sparkPoints([[0, 5]], 1, { from: 0, to: 1, max: 1, w: 10, h: 10 }), "0.0,2.0");
  });
});

describe("errorText", () => {
  const task = { error: "task: non-zero exit (137)", exit_code: 137, state: "failed", oom_killed: true };
  it("says OOM killed for a failed task its agent saw killed for memory", () => assert.equal(errorText(task), "OOM killed"));
  it("says Docker's error otherwise", () => assert.equal(errorText({ ...task, oom_killed: false }), "task: non-zero exit (137)"));
  it("does not call a running task OOM killed", () => assert.equal(errorText({ ...task, state: "running", error: "" }), "exit 137"));
});
