// keyed.js, the pages' keyed reconciler, on a small DOM of its own that counts every insertion
// and removal: the right children in the right order, and no DOM work for what did not change.
//   node --test tests/js/keyed.test.js   (./sv test runs it)
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

// --- just enough of the DOM for keyed.js ------------------------------------------------------------

let ops = []; // ["insert" | "remove", name]

class FakeNode {
  constructor(name) {
    this.name = name;
    this.parentNode = null;
    this.children = [];
  }

  get firstElementChild() { return this.children[0] || null; }

  get nextElementSibling() {
    const siblings = this.parentNode ? this.parentNode.children : [];
    return siblings[siblings.indexOf(this) + 1] || null;
  }

  detach() {
    if (!this.parentNode) return;
    const siblings = this.parentNode.children;
    siblings.splice(siblings.indexOf(this), 1);
    this.parentNode = null;
  }

  remove() {
    if (this.parentNode) ops.push(["remove", this.name]);
    this.detach();
  }

  insertBefore(node, before) {
    ops.push(["insert", node.name]); // a fragment's children go in at once: one insertion
    const nodes = node instanceof FakeFragment ? node.children.splice(0) : [node];
    if (!(node instanceof FakeFragment)) node.detach();
    const at = before ? this.children.indexOf(before) : this.children.length;
    assert.ok(at >= 0, "insertBefore: the reference is not a child");
    this.children.splice(at, 0, ...nodes);
    for (const n of nodes) n.parentNode = this;
  }

  append(...nodes) { for (const n of nodes) this.insertBefore(n, null); }

  replaceWith(node) {
    const parent = this.parentNode;
    assert.ok(parent, "replaceWith on a detached element does nothing in a browser");
    const next = this.nextElementSibling;
    this.remove();
    parent.insertBefore(node, next);
  }
}

class FakeFragment extends FakeNode {
  append(...nodes) {
    for (const n of nodes) {
      n.detach();
      this.children.push(n);
      n.parentNode = this;
    }
  }
}

globalThis.document = { createDocumentFragment: () => new FakeFragment("#fragment") };
const { keyOf, keyed, setKey } = await import("../../static/dashboard/keyed.js");

// --- helpers ---------------------------------------------------------------------------------------

const names = (parent) => parent.children.map((c) => c.name);

// a parent holding one keyed child per key, named after it
function parentWith(keys) {
  const parent = new FakeNode("parent");
  for (const k of keys) {
    const child = new FakeNode(k);
    setKey(child, k);
    parent.children.push(child);
    child.parentNode = parent;
  }
  return parent;
}

function sync(parent, keys, extra = {}) {
  const created = [];
  ops = [];
  keyed(parent, keys, {
    create: (key) => { created.push(key); return new FakeNode(key); },
    ...extra,
  });
  return created;
}

// the fewest moves that turn `before` (kept keys) into the order of `after`: all but the longest
// common subsequence, which for distinct keys is the longest increasing run of old places
function fewestMoves(before, after) {
  const places = after.filter((k) => before.includes(k)).map((k) => before.indexOf(k));
  const best = places.map(() => 1);
  for (let i = 0; i < places.length; i++) {
    for (let j = 0; j < i; j++) if (places[j] < places[i]) best[i] = Math.max(best[i], best[j] + 1);
  }
  return places.length - (places.length ? Math.max(...best) : 0);
}

// a small pseudo-random generator: the same cases on every run
function random(seed) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

// --- the tests -------------------------------------------------------------------------------------

describe("keyed", () => {
  beforeEach(() => { ops = []; });

  it("fills an empty parent in order, in one insertion", () => {
    const parent = new FakeNode("parent");
    const created = sync(parent, ["a", "b", "c"]);
    assert.deepEqual(names(parent), ["a", "b", "c"]);
    assert.deepEqual(created, ["a", "b", "c"]);
    assert.deepEqual(ops, [["insert", "#fragment"]]);
    assert.equal(keyOf(parent.children[1]), "b");
  });

  it("touches nothing when nothing changed", () => {
    const parent = parentWith(["a", "b", "c"]);
    const before = [...parent.children];
    const updated = [];
    const created = sync(parent, ["a", "b", "c"], { update: (el, key) => { updated.push(key); return el; } });
    assert.deepEqual(created, []);
    assert.deepEqual(ops, []);
    assert.deepEqual(updated, ["a", "b", "c"]);
    assert.ok(parent.children.every((c, i) => c === before[i]), "the same elements");
  });

  it("removes the first child without moving the others", () => {
    const parent = parentWith(["a", "b", "c", "d"]);
    sync(parent, ["b", "c", "d"]);
    assert.deepEqual(names(parent), ["b", "c", "d"]);
    assert.deepEqual(ops, [["remove", "a"]]);
  });

  it("inserts a new child where it belongs, and only it", () => {
    const parent = parentWith(["a", "c"]);
    sync(parent, ["a", "b", "c"]);
    assert.deepEqual(names(parent), ["a", "b", "c"]);
    assert.deepEqual(ops, [["insert", "b"]]);
  });

  it("moves one child for a rotation", () => {
    const parent = parentWith(["a", "b", "c", "d"]);
    sync(parent, ["b", "c", "d", "a"]);
    assert.deepEqual(names(parent), ["b", "c", "d", "a"]);
    assert.deepEqual(ops, [["insert", "a"]]);
  });

  it("replaces a child where it stands when update gives another element", () => {
    const parent = parentWith(["a", "b", "c"]);
    const old = parent.children[1];
    const gone = [];
    sync(parent, ["a", "b", "c"], {
      update: (el, key) => (key === "b" ? new FakeNode("b2") : el),
      removed: (el, key) => gone.push([el, key]),
    });
    assert.deepEqual(names(parent), ["a", "b2", "c"]);
    assert.deepEqual(gone, [[old, "b"]]);
    assert.equal(keyOf(parent.children[1]), "b");
    assert.deepEqual(ops, [["remove", "b"], ["insert", "b2"]]);
  });

  it("asks update once for each kept child, before and after the first difference", () => {
    const parent = parentWith(["a", "b", "c", "d", "e"]);
    const updated = [];
    const created = sync(parent, ["a", "b", "d", "x", "c", "e"], { update: (el, key) => { updated.push(key); return el; } });
    assert.deepEqual(names(parent), ["a", "b", "d", "x", "c", "e"]);
    assert.deepEqual(updated, ["a", "b", "d", "c", "e"]);
    assert.deepEqual(created, ["x"]);
    assert.deepEqual(ops.filter(([op]) => op === "insert").length, 2, "x, and one of c or d");
  });

  it("removes children without a key, and says so", () => {
    const parent = parentWith(["a"]);
    parent.insertBefore(new FakeNode("stranger"), null);
    const gone = [];
    sync(parent, ["a"], { removed: (el, key) => gone.push([el.name, key]) });
    assert.deepEqual(names(parent), ["a"]);
    assert.deepEqual(gone, [["stranger", undefined]]);
  });

  it("takes an element create finds elsewhere on the page", () => {
    const here = parentWith(["a"]);
    const there = parentWith(["x"]);
    const x = there.children[0];
    ops = [];
    keyed(here, ["a", "x"], { create: () => x });
    assert.deepEqual(names(here), ["a", "x"]);
    assert.deepEqual(names(there), []);
    assert.equal(here.children[1], x);
  });

  it("reaches any order with the fewest moves and keeps every element it can", () => {
    const next = random(7);
    for (let round = 0; round < 500; round++) {
      const pool = Array.from({ length: 12 }, (_, i) => `k${i}`);
      const before = pool.filter(() => next() < 0.7).sort(() => next() - 0.5);
      const after = pool.filter(() => next() < 0.7).sort(() => next() - 0.5);
      const parent = parentWith(before);
      const kept = new Map(parent.children.map((c) => [c.name, c]));
      const created = sync(parent, after);
      assert.deepEqual(names(parent), after, `${before} -> ${after}`);
      for (const c of parent.children) if (before.includes(c.name)) assert.equal(c, kept.get(c.name), "kept, not made again");
      assert.deepEqual(created, after.filter((k) => !before.includes(k)));
      const removals = ops.filter(([op]) => op === "remove").map(([, name]) => name);
      assert.deepEqual(removals.sort(), before.filter((k) => !after.includes(k)).sort());
      const moves = ops.filter(([op, name]) => op === "insert" && before.includes(name)).length;
      assert.equal(moves, fewestMoves(before, after), `${before} -> ${after}`);
    }
  });
});
