// The packed model's tasks as the page rebuilds them: by column, or as rows.
import { test } from "node:test";
import assert from "node:assert/strict";
import { packedTasks } from "../../static/dashboard/live.js";

test("tasks sent by column come back as the rows they were", () => {
  const rows = [
    { id: "a", state: "running", slot: 1, exit_code: null, orphaned: false },
    { id: "b", state: "failed", slot: 2, exit_code: 137, orphaned: true },
  ];
  const fields = Object.keys(rows[0]);
  const columns = fields.map((f) => rows.map((r) => r[/** @type {keyof typeof r} */ (f)]));
  assert.deepEqual(packedTasks({ task_fields: fields, task_columns: columns }), rows);
});

test("no tasks by column is no tasks", () => {
  assert.deepEqual(packedTasks({ task_fields: [], task_columns: [] }), []);
});

test("tasks sent as rows are taken as they are", () => {
  const rows = [{ id: "a" }, { id: "b", extra: 1 }];
  assert.deepEqual(packedTasks({ tasks: rows }), rows);
});
