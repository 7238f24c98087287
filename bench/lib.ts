/**
 * Shared benchmark machinery: the row type, the table, the results file, and running roles in
 * separate child processes (so the sender and receiver of a measurement do not share a thread or
 * a ZeroMQ I/O thread, see notes/measured-traps.md #9).
 *
 * A suite is a module `bench/<suite>.ts` exporting `run(): Promise<Row[]>`; `bench/run.ts` finds
 * it. A suite that needs child processes also calls {@link childMain} with its roles, and spawns
 * itself with {@link Child.spawn}(import.meta.url, role, args).
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, platform, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as zmq from "zeromq";

/** One measurement: the same quantity for zerokit and for raw zeromq.js, and zerokit/raw. */
export interface Row {
  name: string;
  /** What the numbers count, e.g. "msgs/s", "MB/s", "rt/s" (higher is better). */
  unit: string;
  zerokit: number;
  raw: number;
  /** zerokit / raw: 1.0 means no overhead. */
  ratio: number;
}

/** Builds a {@link Row}, computing the ratio. */
export function row(name: string, unit: string, zerokit: number, raw: number): Row {
  return { name, unit, zerokit, raw, ratio: raw === 0 ? 0 : zerokit / raw };
}

/** `ZK_BENCH_ROWS=regexp` runs only the rows whose name matches (for a quick look at a few). */
export function wanted(label: string): boolean {
  const only = process.env.ZK_BENCH_ROWS;
  return only === undefined || only === "" || new RegExp(only).test(label);
}

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The repository root (this file compiles to dist/bench/lib.js). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** What the results were measured on. */
export interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  zeromq: string;
  libzmq: string;
  platform: string;
}

export function machine(): Machine {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "node_modules", "zeromq", "package.json"), "utf8")) as {
    version: string;
  };
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    node: process.version,
    zeromq: pkg.version,
    libzmq: zmq.version,
    platform: `${platform()} ${release()} ${process.arch}`,
  };
}

const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** Prints the rows as a table with the zerokit/raw ratio of each. */
export function printTable(suite: string, rows: readonly Row[]): void {
  const header = ["benchmark", "unit", "zerokit", "raw", "ratio"];
  // A row without a raw counterpart (raw 0) shows n/a rather than a meaningless 0.00 ratio.
  const cells = rows.map((r) => [
    r.name,
    r.unit,
    fmt.format(r.zerokit),
    r.raw === 0 ? "n/a" : fmt.format(r.raw),
    r.raw === 0 ? "n/a" : r.ratio.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ");
  console.log(`\n${suite}`);
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const c of cells) console.log(line(c));
}

/** Writes `bench/results/<suite>.json` and returns its path. */
export async function writeResults(suite: string, rows: readonly Row[]): Promise<string> {
  const dir = join(repoRoot, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${suite}.json`);
  await writeFile(file, `${JSON.stringify({ suite, rows, machine: machine() }, null, 2)}\n`);
  return file;
}

// --- Child processes ----------------------------------------------------------------------------

/** A role run in a child process: it reports results with `report` and ends when it resolves. */
export type Role = (args: string[], io: RoleIO) => Promise<void>;

export interface RoleIO {
  /** Sends one JSON value to the parent (one line on stdout). */
  report(value: unknown): void;
  /** Resolves when the parent calls {@link Child.finish} (closes our stdin). */
  released: Promise<void>;
}

/** How a process run by {@link runProcess} ended: `code` null when it did not start or was killed. */
export interface ProcessOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command in the repository to its end, killing it after `limitMs`, and resolves with its
 * exit code and output (never rejects: a process that cannot start has code null and the reason
 * in stderr). For the reference implementations the suites run beside zerokit (Python's zerorpc
 * CLI, ZProc).
 */
export function runProcess(command: string, args: readonly string[], limitMs = 300_000): Promise<ProcessOutput> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: error.message });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * When the module at `moduleUrl` is the process entry (`node dist/bench/x.js <role> ...args`),
 * runs that role and exits; otherwise does nothing, so a suite can be imported by the runner.
 */
export function childMain(moduleUrl: string, roles: Record<string, Role>): void {
  const entry = process.argv[1];
  if (!entry || pathToFileURL(resolve(entry)).href !== moduleUrl) return;
  const [name = "", ...args] = process.argv.slice(2);
  const role = roles[name];
  if (!role) {
    console.error(`unknown role ${JSON.stringify(name)}; expected one of ${Object.keys(roles).join(", ")}`);
    process.exit(2);
  }
  const released = new Promise<void>((done) => {
    process.stdin.on("end", done).on("close", done).resume();
  });
  const io: RoleIO = { report: (value) => process.stdout.write(`${JSON.stringify(value)}\n`), released };
  role(args, io).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/** A role running in a child process, talking JSON lines on stdout. */
export class Child {
  readonly #process: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  readonly #exit: Promise<number | null>;
  #stderr = "";

  private constructor(script: string, role: string, args: readonly (string | number)[]) {
    this.#process = spawn(process.execPath, [script, role, ...args.map(String)], { stdio: "pipe" });
    // A child that already exited cannot be released; that is not an error.
    this.#process.stdin.on("error", () => undefined);
    this.#process.stderr.on("data", (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.#lines = createInterface({ input: this.#process.stdout })[Symbol.asyncIterator]();
    this.#exit = new Promise((done) => this.#process.on("close", (code) => done(code)));
  }

  /** Starts `node <module> <role> ...args`; `module` is a suite's `import.meta.url` or a path. */
  static spawn(module: string, role: string, args: readonly (string | number)[] = []): Child {
    return new Child(module.startsWith("file:") ? fileURLToPath(module) : module, role, args);
  }

  /** The next JSON value the child reports. */
  async next<T>(): Promise<T> {
    const { value, done } = await this.#lines.next();
    if (done) {
      const code = await this.#exit;
      throw new Error(`child exited (code ${code}) before reporting\n${this.#stderr}`);
    }
    return JSON.parse(value) as T;
  }

  /** Releases the child (closes its stdin) and waits for it to exit cleanly. */
  async finish(): Promise<void> {
    this.#process.stdin.end();
    const code = await this.#exit;
    if (code !== 0) throw new Error(`child exited with code ${code}\n${this.#stderr}`);
  }

  /** Kills the child (after a failure elsewhere). */
  kill(): void {
    this.#process.kill("SIGKILL");
  }
}

/** Runs one role in a child process and returns the first value it reports. */
export async function runInChild<T>(module: string, role: string, args: readonly (string | number)[] = []): Promise<T> {
  const child = Child.spawn(module, role, args);
  try {
    const result = await child.next<T>();
    await child.finish();
    return result;
  } catch (error) {
    child.kill();
    throw error;
  }
}
