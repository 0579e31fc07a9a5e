// Reads the checks.json files the conformance package wrote (its -o directory) and prints
// one line per check. Exits 1 when a check failed, when no checks were written, or when a
// required check did not succeed (a skipped code-grant check proves nothing).
//
// Usage: node report.mjs RESULTS_DIR REQUIRED_CHECK_ID...

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, ...required] = process.argv.slice(2);
const checks = [];
for (const entry of readdirSync(dir, { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  let file;
  try {
    file = readFileSync(join(dir, entry.name, "checks.json"), "utf8");
  } catch {
    continue;
  }
  checks.push(...JSON.parse(file));
}

const counts = {};
for (const check of checks) {
  counts[check.status] = (counts[check.status] ?? 0) + 1;
  const note = check.errorMessage ? ` (${check.errorMessage})` : "";
  console.log(`  ${check.status.padEnd(8)} ${check.id}${note}`);
}
const summary = Object.entries(counts)
  .map(([status, n]) => `${n} ${status.toLowerCase()}`)
  .join(", ");
console.log(`conformance: ${checks.length} checks: ${summary || "none"}`);

let ok = checks.length > 0 && !counts.FAILURE;
for (const id of required) {
  const found = checks.filter((c) => c.id === id);
  if (found.length === 0 || found.some((c) => c.status !== "SUCCESS")) {
    console.log(`conformance: required check ${id} did not succeed`);
    ok = false;
  }
}
process.exit(ok ? 0 : 1);
