// @ts-check
// The filter of the grid and the wall (the page's ?q=): what a query says, and which tasks it
// matches. Pure: no DOM. dashboard/pages/query.py decides the same for the server's first paint;
// tests/js/filter_cases.json holds the cases both must agree on.
//
// A query is terms separated by spaces, all of which a task must match (AND):
//   web                 free text: in the service's name or stack, the node's hostname, the image,
//                       the state, the task's id or its error (case-insensitive)
//   service:web         the service's name (or id)
//   stack:shop          the service's stack
//   node:worker-1       the node's hostname (or id)
//   state:running       the task's state as the page shows it ("orphaned" on a down node)
//   label:zone=eu-1     a label of the task's service or of its node; label:zone: has the label
//   image:nginx         the image: its whole reference, "nginx:1.25" or "nginx"
// Values of the keyed terms match whole, case-insensitive, with * for any characters
// (service:web* matches web and web-api). "-" before a term negates it (-state:running).
// Double quotes keep spaces in a value: service:"my svc", "two words". A word with an unknown key
// (http://x) is free text. Labels match as the page has them: a masked value matches its mask,
// never the value it hides.

/** @import { Model, Service, SwarmNode, Task } from "./live.js" */

export const MAX_QUERY_CHARS = 500; // as dashboard/pages/nav.py cuts q=
export const MAX_TERMS = 20; // the rest of a longer query is left out
export const KEYS = ["service", "stack", "node", "state", "label", "image"];
// the spaces between terms: these six, as query.py says (JS's \s and Python's isspace differ beyond them)
const SPACES = " \t\n\r\f\v";

/**
 * @typedef {object} Term
 * @property {string} key one of KEYS, or "" for free text
 * @property {string} value as typed, without its quotes
 * @property {boolean} negate
 */

/**
 * The terms of a query, in order.
 * @param {string} text
 * @returns {Term[]}
 */
export function parseQuery(text) {
  /** @type {Term[]} */
  const terms = [];
  const re = /(-?)(?:([a-z]+):)?(?:"([^"]*)"?|([^ \t\n\r\f\v]*))/giy;
  const src = text.slice(0, MAX_QUERY_CHARS);
  let i = 0;
  while (i < src.length && terms.length < MAX_TERMS) {
    if (SPACES.includes(src[i])) { i += 1; continue; }
    re.lastIndex = i;
    const m = re.exec(src);
    if (!m || re.lastIndex === i) break; // cannot happen: a non-space is always taken
    i = re.lastIndex;
    const negate = m[1] === "-";
    const key = (m[2] || "").toLowerCase();
    const value = m[3] !== undefined ? m[3] : m[4] || "";
    if (key && !KEYS.includes(key)) { // free text, as typed
      terms.push({ key: "", value: m[0].slice(negate ? 1 : 0), negate });
    } else if (value || key) {
      terms.push({ key, value, negate });
    }
  }
  return terms.filter((t) => t.value !== "");
}

/**
 * A keyed term's value, matched whole: case-insensitive, * for any characters. Linear in the text
 * (no regular expression: "a*a*a*…b" must not backtrack): the parts between the stars are found in
 * order, the first at the start and the last at the end.
 * @param {string} value
 * @returns {{ test: (text: string) => boolean }}
 */
export function glob(value) {
  const parts = value.toLowerCase().split("*"); // runs of * give empty parts, which are found at once
  const first = parts[0];
  const last = parts[parts.length - 1];
  return {
    test(text) {
      const s = text.toLowerCase();
      if (parts.length === 1) return s === first;
      if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
      let i = first.length;
      const end = s.length - last.length;
      for (let k = 1; k < parts.length - 1; k++) {
        const part = parts[k];
        if (!part) continue;
        const at = s.indexOf(part, i);
        if (at < 0 || at + part.length > end) return false;
        i = at + part.length;
      }
      return true;
    },
  };
}

// "registry:5000/team/web:1.25@sha256:…" -> the names image: tries
/** @param {string} image */
function imageNames(image) {
  const ref = image.split("@")[0];
  const last = ref.split("/").pop() || "";
  const colon = last.indexOf(":");
  return [ref, last, colon >= 0 ? last.slice(0, colon) : last];
}

/**
 * @param {Record<string, string> | undefined} labels
 * @param {string} spec "key=value" or "key"
 */
function hasLabel(labels, spec) {
  if (!labels) return false;
  const eq = spec.indexOf("=");
  const key = (eq >= 0 ? spec.slice(0, eq) : spec).toLowerCase();
  const want = eq >= 0 ? glob(spec.slice(eq + 1)) : null;
  for (const [k, v] of Object.entries(labels)) {
    if (k.toLowerCase() === key && (want === null || want.test(v))) return true;
  }
  return false;
}

/**
 * A test remembered by the key it depends on: 20,000 tasks share a few hundred services, nodes,
 * images and states, so a keystroke costs a map lookup per task and term.
 * @param {(key: string) => boolean} test
 * @returns {(key: string) => boolean}
 */
function remembered(test) {
  /** @type {Map<string, boolean>} */
  const seen = new Map();
  return (key) => {
    let hit = seen.get(key);
    if (hit === undefined) {
      hit = test(key);
      seen.set(key, hit);
    }
    return hit;
  };
}

/**
 * A term as a test of a task, with the model's services and nodes (either may be unknown to the page).
 * @param {Term} term
 * @param {Pick<Model, "services" | "nodes">} model
 * @returns {(t: Task) => boolean}
 */
function compile(term, model) {
  const v = term.value;
  const g = glob(v);
  /** @type {(id: string) => Service | undefined} */
  const svc = (id) => model.services.get(id);
  /** @type {(id: string) => SwarmNode | undefined} */
  const node = (id) => model.nodes.get(id);
  switch (term.key) {
    case "service": {
      const test = remembered((id) => g.test(svc(id)?.name || "") || g.test(id));
      return (t) => test(t.service_id);
    }
    case "stack": {
      const test = remembered((id) => g.test(svc(id)?.stack || ""));
      return (t) => test(t.service_id);
    }
    case "node": {
      const test = remembered((id) => g.test(node(id)?.hostname || "") || g.test(id));
      return (t) => test(t.node_id);
    }
    case "state": {
      const test = remembered((state) => g.test(state));
      return (t) => test(t.state);
    }
    case "label": {
      const bySvc = remembered((id) => hasLabel(svc(id)?.labels, v));
      const byNode = remembered((id) => hasLabel(node(id)?.labels, v));
      return (t) => bySvc(t.service_id) || byNode(t.node_id);
    }
    case "image": {
      const test = remembered((image) => imageNames(image).some((n) => g.test(n)));
      return (t) => test(t.image);
    }
    default: {
      const needle = v.toLowerCase();
      /** @type {(text: string) => boolean} */
      const has = (text) => text.toLowerCase().includes(needle);
      const bySvc = remembered((id) => { const s = svc(id); return !!s && (has(s.name) || has(s.stack)); });
      const byNode = remembered((id) => has(node(id)?.hostname || ""));
      const byImage = remembered((image) => has(image.split("@")[0]));
      const byState = remembered(has);
      return (t) => bySvc(t.service_id) || byNode(t.node_id) || byImage(t.image) || byState(t.state)
        || t.id.includes(needle) || (!!t.error && has(t.error)); // Docker's ids are lower case already
    }
  }
}

/**
 * Whether each task matches the query: a function of the task, null when the query says nothing
 * (every task matches). Made anew when services or nodes change: it remembers what it found.
 * @param {Term[]} terms
 * @param {Pick<Model, "services" | "nodes">} model
 * @returns {((t: Task) => boolean) | null}
 */
export function matcher(terms, model) {
  if (!terms.length) return null;
  const tests = terms.map((term) => compile(term, model));
  const negate = terms.map((term) => term.negate);
  return (t) => {
    for (let i = 0; i < tests.length; i++) if (tests[i](t) === negate[i]) return false;
    return true;
  };
}

// "312 of 20,000 tasks match"
/**
 * @param {number} matching
 * @param {number} all
 */
export function matchText(matching, all) {
  return `${matching.toLocaleString("en")} of ${all.toLocaleString("en")} tasks match`;
}
