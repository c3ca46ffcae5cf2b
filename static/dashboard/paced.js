// @ts-check
// A fetch the page makes again when the model moves: at most one at a time, at least `gap` ms
// apart; asked again while one runs, it runs once more after it (a burst of patches costs one).

/** @param {number} ms */
const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * @param {() => Promise<void>} run
 * @param {number} gap ms between the starts of two runs
 * @returns {() => Promise<void>} asks for a run
 */
export function paced(run, gap) {
  let running = false;
  let again = false;
  let lastAt = 0;
  const ask = async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      await pause(Math.max(0, lastAt + gap - Date.now()));
      lastAt = Date.now();
      await run();
    } finally {
      running = false;
      if (again) { again = false; ask(); }
    }
  };
  return ask;
}
