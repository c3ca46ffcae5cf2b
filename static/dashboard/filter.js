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
  const re = /(-?)(?:([a-z]+):)?(?:"([^"]*)"?|(\S*))/giy;
  const src = text.slice(0, MAX_QUERY_CHARS);
  let i = 0;
  while (i < src.length && terms.length < MAX_TERMS) {
    if (/\s/.test(src[i])) { i += 1; continue; }
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

// a keyed term's value: whole, case-insensitive, * for any characters
/** @param {string} value */
export function glob(value) {
  const body = value.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return new RegExp(`^${body}$`, "is");
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
 * A term as a test of a task, given its service and node (either may be unknown to the page).
 * @param {Term} term
 * @returns {(t: Task, svc: Service | undefined, node: SwarmNode | undefined) => boolean}
 */
function compile(term) {
  const v = term.value;
  const g = glob(v);
  switch (term.key) {
    case "service": return (t, svc) => g.test(svc ? svc.name : "") || g.test(t.service_id);
    case "stack": return (_, svc) => g.test(svc ? svc.stack : "");
    case "node": return (t, _, node) => g.test(node ? node.hostname : "") || g.test(t.node_id);
    case "state": return (t) => g.test(t.state);
    case "label": return (_, svc, node) => hasLabel(svc && svc.labels, v) || hasLabel(node && node.labels, v);
    case "image": return (t) => imageNames(t.image).some((n) => g.test(n));
    default: {
      const needle = v.toLowerCase();
      return (t, svc, node) => [svc ? svc.name : "", svc ? svc.stack : "", node ? node.hostname : "",
        t.image.split("@")[0], t.state, t.id, t.error || ""].some((hay) => hay.toLowerCase().includes(needle));
    }
  }
}

/**
 * Whether each task matches the query: a function of the task, null when the query says nothing
 * (every task matches). What a term decides for a service or a node alone is remembered, so a
 * keystroke over 20,000 tasks costs a map lookup per task for those terms.
 * @param {Term[]} terms
 * @param {Pick<Model, "services" | "nodes">} model
 * @returns {((t: Task) => boolean) | null}
 */
export function matcher(terms, model) {
  if (!terms.length) return null;
  const tests = terms.map(compile);
  /** @type {Map<string, boolean>[]} */
  const memo = terms.map(() => new Map());
  /** @type {(term: Term) => "service" | "node" | "both" | ""} */
  const scope = (term) => (term.key === "service" || term.key === "stack" ? "service"
    : term.key === "node" ? "node" : term.key === "label" ? "both" : "");
  const scopes = terms.map(scope);
  return (t) => {
    const svc = model.services.get(t.service_id);
    const node = model.nodes.get(t.node_id);
    for (let i = 0; i < terms.length; i++) {
      let hit;
      const s = scopes[i];
      if (s) {
        const key = s === "service" ? t.service_id : s === "node" ? t.node_id : `${t.service_id}\u0001${t.node_id}`;
        hit = memo[i].get(key);
        if (hit === undefined) {
          hit = tests[i](t, svc, node);
          memo[i].set(key, hit);
        }
      } else {
        hit = tests[i](t, svc, node);
      }
      if (hit === terms[i].negate) return false;
    }
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
