/**
 * Benchmark runner: `node dist/bench/run.js [suite...]` (or `npm run bench -- messaging`).
 * A suite is any module `bench/<suite>.ts` that exports `run(): Promise<Row[]>`; with no
 * arguments every suite found next to this file runs. Each prints a table and writes
 * `bench/results/<suite>.json`. Finding suites imports every module here, so a helper module
 * must do no work on import (or be named `_<name>.ts`, which is skipped).
 */
import { readdir } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { printTable, type Row, writeResults } from "./lib.js";

interface Suite {
  run(): Promise<Row[]>;
}

const here = dirname(fileURLToPath(import.meta.url));
const NOT_SUITES = new Set(["run", "lib", "state-work"]);

async function load(name: string): Promise<Suite | undefined> {
  const module = (await import(`./${name}.js`)) as Partial<Suite>;
  return typeof module.run === "function" ? (module as Suite) : undefined;
}

/** Every module in this directory that exports `run`. */
async function discover(): Promise<string[]> {
  const names = (await readdir(here))
    .filter((file) => file.endsWith(".js"))
    .map((file) => file.slice(0, -3))
    .filter((name) => !NOT_SUITES.has(name) && !name.startsWith("_"))
    .sort();
  const suites: string[] = [];
  for (const name of names) if (await load(name)) suites.push(name);
  return suites;
}

const requested = process.argv.slice(2);
const available = await discover();
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(", ")}; available: ${available.join(", ") || "none"}`);
  process.exit(2);
}
for (const name of requested.length > 0 ? requested : available) {
  const suite = (await load(name))!;
  const rows = await suite.run();
  printTable(name, rows);
  console.log(`results: ${await writeResults(name, rows)}`);
}
