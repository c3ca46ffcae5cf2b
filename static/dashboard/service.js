// @ts-check
// A service's page: its merged logs (every task, every node, in timestamp order), followed live over
// ws/services/<id>/logs with the task panel's log view (task.js). ops.js keeps the rest live.
import { byId, find } from "./draw.js";
import { followLogs } from "./task.js";

const page = find(document.body, ".service-page");
followLogs(page, byId("service-logs").dataset.socket || "", true);
