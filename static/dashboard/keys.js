// @ts-check
// The keyboard of the pages that show tasks: "/" focuses the filter (Esc in it clears it), "?"
// opens the list of keys, and the arrows move between task boxes. The boxes of a page are one
// tab stop (a roving tabindex): Tab reaches the box last moved to, the arrows go on from there in
// the page's own order (columns left to right, boxes top to bottom), so that Tab leaves the
// thousands of boxes in one step.

// a key pressed while typing in a field is the field's
/** @param {EventTarget | null} target */
export function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement
      || target instanceof HTMLSelectElement);
}

/**
 * The filter field: "/" anywhere focuses it, Esc in it clears it; `onChange` hears every change
 * at once (the page narrows as you type), and the page's URL keeps its value as ?q= (a view to
 * share or put on a wall), written once typing pauses.
 * @param {HTMLInputElement} input
 * @param {(text: string) => void} onChange
 */
export function filterField(input, onChange) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pending;
  const changed = () => {
    onChange(input.value);
    clearTimeout(pending);
    pending = setTimeout(() => keepInUrl("q", input.value), 250);
  };
  input.addEventListener("input", changed);
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation(); // the page's own Esc (closing a panel) is not meant
    if (input.value) {
      input.value = "";
      changed();
    } else {
      input.blur();
    }
  });
  // the page is live: Enter does not load it again
  if (input.form) input.form.addEventListener("submit", (event) => event.preventDefault());
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    event.preventDefault();
    input.focus();
    input.select();
  });
  return {
    /** @param {string} text the field's new value, as if typed */
    set(text) {
      input.value = text;
      changed();
    },
  };
}

/**
 * This page's URL with its parameter `name` set to `value` ("" or null: removed), in place.
 * @param {string} name
 * @param {string | null} value
 */
export function keepInUrl(name, value) {
  const url = new URL(location.href);
  if (value) url.searchParams.set(name, value); else url.searchParams.delete(name);
  if (url.href !== location.href) history.replaceState(history.state, "", url);
}

/**
 * "?" opens the dialog listing the keys (a button may too); Esc closes it and focus returns.
 * @param {HTMLDialogElement} dialog
 * @param {HTMLElement | null} button
 */
export function keysDialog(dialog, button) {
  const open = () => { if (!dialog.open) dialog.showModal(); };
  if (button) button.addEventListener("click", open);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "?" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    event.preventDefault();
    open();
  });
}

/**
 * Arrow keys between the boxes of `root`: its columns are `columnSelector`, each column's boxes
 * `boxSelector`; `shown` says whether a box is there to be moved to (not hidden by the filter).
 * @param {HTMLElement} root
 * @param {{ columns: string, boxes: string, shown: (box: HTMLElement) => boolean }} how
 */
export function roving(root, how) {
  /** @type {HTMLElement | null} */
  let current = root.querySelector(`${how.boxes}[tabindex="0"]`);

  /** @param {Element} col */
  const boxesOf = (col) => /** @type {HTMLElement[]} */ ([...col.querySelectorAll(how.boxes)]).filter(how.shown);

  /** @param {HTMLElement} box */
  function take(box) {
    if (current && current !== box) current.tabIndex = -1;
    box.tabIndex = 0;
    current = box;
  }

  /**
   * @param {HTMLElement} box
   * @param {string} key
   * @returns {HTMLElement | undefined}
   */
  function next(box, key) {
    const col = box.closest(how.columns);
    if (!col) return undefined;
    const mine = boxesOf(col);
    const i = mine.indexOf(box);
    if (key === "ArrowUp") return mine[i - 1];
    if (key === "ArrowDown") return mine[i + 1];
    if (key === "Home") return mine[0];
    if (key === "End") return mine[mine.length - 1];
    const cols = [...root.querySelectorAll(how.columns)];
    const step = key === "ArrowRight" ? 1 : -1;
    for (let c = cols.indexOf(col) + step; c >= 0 && c < cols.length; c += step) {
      const theirs = boxesOf(cols[c]);
      if (theirs.length) return theirs[Math.min(Math.max(i, 0), theirs.length - 1)];
    }
    return undefined;
  }

  root.addEventListener("focusin", (event) => {
    const box = event.target instanceof HTMLElement ? event.target.closest(how.boxes) : null;
    if (box instanceof HTMLElement) take(box);
  });
  root.addEventListener("keydown", (event) => {
    if (!["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
    const box = event.target instanceof HTMLElement ? event.target.closest(how.boxes) : null;
    if (!(box instanceof HTMLElement)) return;
    event.preventDefault();
    const to = next(box, event.key);
    if (to) {
      take(to);
      to.focus();
    }
  });

  return {
    /** a box replaced another on the page (the same task, drawn anew): it keeps its tab stop and focus
     * @param {HTMLElement} old
     * @param {HTMLElement} fresh */
    replaced(old, fresh) {
      if (old !== current) return false;
      take(fresh);
      return document.activeElement === old;
    },
    // after a render: the tab stop left with its box, the first box shown takes it
    settle() {
      if (current && current.isConnected && how.shown(current)) return;
      current = null;
      const first = [...root.querySelectorAll(how.boxes)].find((b) => b instanceof HTMLElement && how.shown(b));
      if (first instanceof HTMLElement) take(first);
    },
  };
}
