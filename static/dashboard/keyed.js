// @ts-check
// One keyed reconciler for the pages: make a parent's element children the elements of a list of
// keys, in that order. The child a key already has is kept (update may give another element to
// take its place), a key without one gets create's element, children no key wants are removed,
// and only elements out of order move: the longest run of kept children already in order stays
// where it is. A child that is kept and in place is not touched at all (no write, no move: a move
// restarts its animations and loses its focus).
//
// A child's key is remembered here when it is placed; children put on the page by other means
// (the server's first paint) are given theirs with setKey. Text nodes are left alone.

/** @type {WeakMap<Element, string>} */
const KEYS = new WeakMap();

/**
 * @param {Element} el
 * @param {string} key
 */
export function setKey(el, key) { KEYS.set(el, key); }

/** @param {Element} el */
export function keyOf(el) { return KEYS.get(el); }

/**
 * @template {Element} E
 * @typedef {object} Keyed
 * @property {(key: string, i: number) => E} create the element of a key the parent has no child
 *   for: a new one, or one taken from elsewhere on the page (it moves here)
 * @property {(el: E, key: string, i: number) => E} [update] the element of a key the parent has
 *   a child for: that child as it is, or another that replaces it where it stands
 * @property {(el: Element, key: string | undefined) => void} [removed] told of every child that
 *   left the parent (removed, or replaced by update's element)
 */

/**
 * Make parent's element children the elements of `keys`, in order.
 * @template {Element} E
 * @param {Element} parent
 * @param {readonly string[]} keys the children wanted, in order; no key twice
 * @param {Keyed<E>} how
 */
export function keyed(parent, keys, { create, update, removed }) {
  // the common case costs no more than a walk: the children are already these keys, in order
  let first = 0;
  let rest = parent.firstElementChild;
  for (; first < keys.length && rest !== null && KEYS.get(rest) === keys[first]; first++) {
    const next = rest.nextElementSibling;
    if (update) keep(/** @type {E} */ (rest), keys[first], first, update, removed);
    rest = next;
  }
  if (first === keys.length && rest === null) return;

  // from the first difference on
  const wanted = new Set(keys.slice(first));
  /** @type {Map<string, E>} */
  const have = new Map(); // key -> the child kept, in page order
  for (let child = rest; child !== null;) {
    const next = child.nextElementSibling;
    const key = KEYS.get(child);
    if (key === undefined || !wanted.has(key) || have.has(key)) {
      child.remove();
      if (removed) removed(child, key);
    } else {
      have.set(key, /** @type {E} */ (child));
    }
    child = next;
  }
  if (have.size === 0) { // nothing more to keep: the rest goes in at once
    const all = document.createDocumentFragment();
    for (let i = first; i < keys.length; i++) {
      const made = create(keys[i], i);
      KEYS.set(made, keys[i]);
      all.append(made);
    }
    parent.append(all);
    return;
  }
  /** @type {Map<string, number>} */
  const at = new Map(); // key -> the kept child's place among the kept children
  for (const key of have.keys()) at.set(key, at.size);
  /** @type {E[]} */
  const els = [];
  /** @type {number[]} */
  const from = []; // the kept child's place, -1: not a kept child
  let ordered = true;
  let last = -1;
  for (let i = first; i < keys.length; i++) {
    const key = keys[i];
    const child = have.get(key);
    if (child === undefined) {
      const made = create(key, i);
      KEYS.set(made, key);
      els.push(made);
      from.push(-1);
    } else {
      els.push(update ? keep(child, key, i, update, removed) : child);
      const place = /** @type {number} */ (at.get(key));
      if (place < last) ordered = false;
      last = place;
      from.push(place);
    }
  }
  const stays = ordered ? from.map((f) => f >= 0) : longestRun(from);
  // from the end: each element that does not stay goes just before the one that follows it
  /** @type {Element | null} */
  let before = null;
  for (let j = els.length - 1; j >= 0; j--) {
    if (!stays[j]) parent.insertBefore(els[j], before);
    before = els[j];
  }
}

// a child the parent keeps: update's element for it, put in its place when it is another
/**
 * @template {Element} E
 * @param {E} child
 * @param {string} key
 * @param {number} i
 * @param {(el: E, key: string, i: number) => E} update
 * @param {((el: Element, key: string | undefined) => void) | undefined} removed
 * @returns {E}
 */
function keep(child, key, i, update, removed) {
  const kept = update(child, key, i);
  if (kept === child) return child;
  child.replaceWith(kept);
  KEYS.set(kept, key);
  if (removed) removed(child, key);
  return kept;
}

// The kept children that stay put: the longest subsequence of `from` (their old places, -1 for
// elements that are not kept children) that increases. Patience sorting, O(n log n).
/**
 * @param {readonly number[]} from
 * @returns {boolean[]}
 */
function longestRun(from) {
  /** @type {number[]} */
  const tails = []; // tails[k]: the index in `from` that ends the best run of length k + 1
  /** @type {number[]} */
  const prev = new Array(from.length).fill(-1);
  from.forEach((f, i) => {
    if (f < 0) return;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (from[tails[mid]] < f) lo = mid + 1; else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1];
    tails[lo] = i;
  });
  const stays = new Array(from.length).fill(false);
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) stays[i] = true;
  return stays;
}
