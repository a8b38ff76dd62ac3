// Writes dashboards/{graphite-web,grafana}/*.json from scripts/demo/dashboards.ts:
//   node --import tsx scripts/demo/build-dashboards.ts
// test/integration/demo/dashboards.test.ts fails when the files and the definitions differ.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { dashboardFiles } from "./dashboards.ts";

const DASHBOARDS_DIR = fileURLToPath(new URL("../../dashboards/", import.meta.url));

for (const [path, text] of await dashboardFiles()) {
  const file = join(DASHBOARDS_DIR, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote dashboards/${path}`);
}
