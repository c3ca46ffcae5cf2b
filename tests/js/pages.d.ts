// What the page scripts put on `window` for tests and external checks (DESIGN.md's testability
// contract): checked with the scripts themselves, see tsconfig.json.

interface Window {
  /** true once the first model is applied */
  swarmReady: boolean;
  /** the live model (live.js) */
  swarm: import("../../static/dashboard/live.js").Model;
  /** resource use from the node agents (live.js): the latest sample of each node and task */
  swarmUsage: import("../../static/dashboard/live.js").UsageStore;
  /** the wall's layout (wall.js): density, text size, tiles and pages */
  wall: {
    mode: string;
    u: number;
    columns: number;
    rows: number;
    page: number;
    pages: string[][];
  };
}
