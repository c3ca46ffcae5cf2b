// filter.js, the grid's and the wall's ?q=: the cases dashboard/pages/query.py must agree with
// (filter_cases.json), and what a keystroke costs at 20,000 tasks.
//   node --test tests/js/filter.test.js   (./sv test runs it)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { MAX_TERMS, matchText, matcher, parseQuery } from "../../static/dashboard/filter.js";

const cases = JSON.parse(readFileSync(new URL("./filter_cases.json", import.meta.url), "utf8"));
const model = {
  services: new Map(cases.services.map((s) => [s.id, s])),
  nodes: new Map(cases.nodes.map((n) => [n.id, n])),
};

/** @param {string} q */
function matching(q) {
  const match = matcher(parseQuery(q), model);
  return cases.tasks.filter((t) => !match || match(t)).map((t) => t.id);
}

describe("parseQuery", () => {
  for (const [q, want] of cases.parse) {
    it(`reads ${JSON.stringify(q)}`, () => {
      assert.deepEqual(parseQuery(q).map((t) => [t.key, t.value, t.negate]), want);
    });
  }

  it("takes at most MAX_TERMS terms", () => {
    assert.equal(parseQuery("a ".repeat(100)).length, MAX_TERMS);
  });

  it("is not fooled by a hostile pattern (a glob is text, no regular expression)", () => {
    assert.deepEqual(matching("service:(a+)+$"), []);
    assert.deepEqual(matching("service:.*"), []);
  });
});

describe("matcher", () => {
  for (const [q, want] of cases.match) {
    it(`${JSON.stringify(q)} matches ${want.join(", ") || "nothing"}`, () => assert.deepEqual(matching(q), want));
  }

  it("is null for an empty query: every task matches without a test", () => {
    assert.equal(matcher(parseQuery("  "), model), null);
  });

  it("decides hostile globs in linear time (no regular expression to backtrack)", () => {
    // a regular expression of service:**********! took seconds per service id in the browser
    const { id, queries, services: count, bound_ms: bound } = cases.hostile;
    const services = new Map();
    const tasks = [];
    for (let i = 0; i < count; i++) {
      services.set(`${id}${i}`, { id: `${id}${i}`, name: `${id}${i}`, stack: id, labels: { zone: id } });
      tasks.push({ id: `t${i}`, service_id: `${id}${i}`, node_id: id, state: "running", image: id, error: "" });
    }
    const big = { services, nodes: new Map([[id, { id, hostname: id, labels: { zone: id } }]]) };
    const t0 = performance.now();
    for (const q of queries) {
      const match = matcher(parseQuery(q), big);
      assert.ok(match && !tasks.some((t) => match(t)), q);
    }
    const elapsed = performance.now() - t0;
    assert.ok(elapsed < bound, `${elapsed.toFixed(0)} ms for ${queries.length} hostile queries`);
  });

  it("decides 20,000 tasks within a few milliseconds per keystroke", () => {
    const tasks = [];
    for (let i = 0; i < 20000; i++) {
      tasks.push({ ...cases.tasks[i % cases.tasks.length], id: `task${i}`, service_id: `s${1 + (i % 3)}` });
    }
    const t0 = performance.now();
    let hits = 0;
    for (const q of ["s", "sh", "sho", "shop", "stack:shop state:running", "label:zone=eu-*"]) {
      const match = matcher(parseQuery(q), model);
      for (const t of tasks) if (!match || match(t)) hits += 1;
    }
    const perKeystroke = (performance.now() - t0) / 6;
    assert.ok(hits > 0);
    assert.ok(perKeystroke < 25, `${perKeystroke.toFixed(1)} ms per keystroke`);
  });
});

it("says how many match", () => assert.equal(matchText(312, 20000), "312 of 20,000 tasks match"));
