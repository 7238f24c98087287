/**
 * Helpers for the CLI tests: run `bin/zerokit.js` / `bin/zerorpc.js` as child processes, start
 * servers and wait for their `serving "name" on EP` line (never a sleep), wait for text on a
 * child's stderr, and stop children for sure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, vectorsDir } from "../helpers.js";

/** The recorded zerorpc vectors, copied into the repository (test/fixtures/vectors). */
export const zerorpcVectors = join(vectorsDir, "zerorpc");

/** The reference service, as TypeScript source (loaded through tsx) and compiled JavaScript. */
export const anchorTs = "./test/fixtures/anchor.ts";
export const anchorJs = "./dist/test/fixtures/anchor.js";
/** A plain JavaScript service whose default export is a class. */
export const workerMjs = "./test/fixtures/cli/worker.mjs";

export type Bin = "zerokit" | "zerorpc";

function binPath(bin: Bin): string {
  return join(repoRoot, "bin", `${bin}.js`);
}

/** A unique ipc endpoint under the temp dir. */
export function ipcEndpoint(tag = "cli"): string {
  return `ipc://${join(tmpdir(), `zk-${tag}-${process.pid}-${randomBytes(4).toString("hex")}.sock`)}`;
}

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** A running CLI process whose output is collected as it comes. */
export class Cli {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: (() => void)[] = [];

  /**
   * Runs `bin/<bin>.js ...args`, or `node ...args` when `bin` is `"node"`, in the repository (or
   * `options.cwd`), with `options.env` added to the environment. `options.detached` gives the
   * child its own process group, as a terminal gives its foreground job ({@link Cli.signalGroup}).
   */
  constructor(
    args: readonly string[],
    bin: Bin | "node" = "zerokit",
    options: { env?: Record<string, string>; cwd?: string; detached?: boolean } = {},
  ) {
    this.child = spawn(process.execPath, bin === "node" ? [...args] : [binPath(bin), ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      detached: options.detached === true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(this.child);
    this.child.stdout?.setEncoding("utf8");
    this.child.stderr?.setEncoding("utf8");
    this.child.stdout?.on("data", (text: string) => {
      this.stdout += text;
      this.#notify();
    });
    this.child.stderr?.on("data", (text: string) => {
      this.stderr += text;
      this.#notify();
    });
    this.exited = new Promise((resolveExit) => {
      this.child.on("close", (code, signal) => {
        children.delete(this.child);
        resolveExit({ code, signal });
        this.#notify();
      });
    });
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Resolves with the first match of `pattern` in stdout or stderr; rejects when the process
   * exits first or after `timeoutMs`.
   */
  async waitFor(stream: "stdout" | "stderr", pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    while (true) {
      const match = this[stream].match(pattern);
      if (match) return match;
      if (exited) {
        throw new Error(
          `process exited before ${pattern} appeared on ${stream}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${pattern} on ${stream}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
        );
      }
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  }

  /** Sends `signal` to the child's whole process group (it must be `detached`), as a closing terminal does. */
  signalGroup(signal: NodeJS.Signals): void {
    process.kill(-(this.child.pid as number), signal);
  }

  /** Stops the process (SIGTERM, then SIGKILL if it does not go) and waits for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A CLI server that printed its `serving` line. */
export interface Served {
  cli: Cli;
  name: string;
  /** Every endpoint of the serving line, in order. */
  endpoints: string[];
  /** The first one. */
  address: string;
}

/** Starts `zerokit rpc --server ...args` (with `env` added) and waits until it serves. */
export async function startServer(
  args: readonly string[],
  bin: Bin = "zerokit",
  env: Record<string, string> = {},
): Promise<Served> {
  const cli = new Cli(bin === "zerokit" ? ["rpc", "--server", ...args] : ["--server", ...args], bin, { env });
  try {
    const match = await cli.waitFor("stdout", /^serving "(.*)" on (.+)$/m);
    const endpoints = (match[2] as string).split(", ");
    return { cli, name: match[1] as string, endpoints, address: endpoints[0] as string };
  } catch (error) {
    await cli.stop();
    throw error;
  }
}

/** The outcome of a finished CLI run. */
export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (killing it after `timeoutMs`), with `env` added to its environment. */
export async function runCli(
  args: readonly string[],
  bin: Bin = "zerokit",
  timeoutMs = 15_000,
  env: Record<string, string> = {},
): Promise<Ran> {
  const cli = new Cli(args, bin, { env });
  const timer = setTimeout(() => cli.child.kill("SIGKILL"), timeoutMs);
  const { code, signal } = await cli.exited;
  clearTimeout(timer);
  return { code, signal, stdout: cli.stdout, stderr: cli.stderr };
}

/** `zerokit rpc ...args`. */
export function rpc(args: readonly string[], timeoutMs?: number): Promise<Ran> {
  return runCli(["rpc", ...args], "zerokit", timeoutMs);
}
