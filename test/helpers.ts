/**
 * The one shared test helper module: the transports every socket test runs over, fresh endpoints
 * for each, the recorded vectors, child processes, and waits that synchronise on real messages
 * instead of sleeps, and the CLI run as a child process. (test/zre and test/zio keep only the
 * child peers and nodes that are theirs alone.)
 */
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import type { Message } from "../src/index.js";

// Tests must never hang at exit on an undelivered message (measured-traps.md #2).
zmq.context.blocky = false;

/** Every transport a socket test runs over. */
export const transports = ["tcp", "ipc", "inproc"] as const;
export type TestTransport = (typeof transports)[number];

/** The transports that reach another process (what a client/server test runs over). */
export const networkTransports = ["tcp", "ipc"] as const;

let counter = 0;

// libzmq 4.3 leaves an ipc socket file behind after close/unbind: remove ours when the test exits.
const ipcPaths: string[] = [];
process.on("exit", () => {
  for (const path of ipcPaths) rmSync(path, { force: true });
});

/**
 * A fresh endpoint to bind on: `tcp://127.0.0.1:*` (bind() returns the real port), a unique ipc
 * path under the OS temp dir, or a unique inproc name.
 */
export function freshEndpoint(transport: TestTransport): string {
  const unique = `${process.pid}-${++counter}-${randomBytes(4).toString("hex")}`;
  switch (transport) {
    case "tcp":
      return "tcp://127.0.0.1:*";
    case "ipc": {
      const path = join(tmpdir(), `zk-test-${unique}.sock`);
      ipcPaths.push(path);
      return `ipc://${path}`;
    }
    case "inproc":
      return `inproc://zk-test-${unique}`;
  }
}

/** The repository root (this file compiles to dist/test/helpers.js). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The recorded wire vectors, kept in the repository (`test/fixtures/vectors`). */
export const vectorsDir = join(repoRoot, "test", "fixtures", "vectors");

/** The compiled tree, `<repo>/dist`. */
export const distDir = join(repoRoot, "dist");

/** A recorded vector file, parsed (`name` relative to `test/fixtures/vectors`). */
export function readVector<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(join(vectorsDir, name), "utf8")) as T;
}

/** Turns the `{"$bin": hex}` markers of the recorded vectors back into Buffers. */
export function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const bin = (value as { $bin?: string }).$bin;
    if (typeof bin === "string") return Buffer.from(bin, "hex");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

/**
 * Starts a compiled script (`script` relative to `dist/test`, e.g. `"rpc/child-server.js"`) as a
 * child process and waits for its first stdout line.
 */
export async function startChild(script: string, args: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [join(distDir, "test", script), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await Promise.race([
    once(lines, "line"),
    once(child, "exit").then(([code]) => {
      throw new Error(`${script} exited with ${code} before printing`);
    }),
  ])) as [string];
  return { child, line };
}

/** Kills a child and waits until it is gone. */
export async function kill(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}

/** Frames as strings, for readable assertions. */
export function texts(message: readonly Uint8Array[]): string[] {
  return message.map((frame) => Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString("utf8"));
}

/** A socket that can receive with a timeout, as far as {@link publishUntilReceived} needs. */
interface Receiver {
  receive(options?: { timeout?: number; signal?: AbortSignal }): Promise<Message>;
}

/**
 * Publishes `make(i)` again and again until `receiver` gets a message, and returns that first
 * message. This is how a PUB/SUB test waits for the subscription to reach the publisher (the
 * "slow joiner"), without sleeping. Gives up after `deadlineMs`.
 */
export async function publishUntilReceived(
  send: (i: number) => Promise<void>,
  receiver: Receiver,
  deadlineMs = 5000,
): Promise<Message> {
  const deadline = Date.now() + deadlineMs;
  for (let i = 0; ; i++) {
    await send(i);
    try {
      return await receiver.receive({ timeout: 20 });
    } catch (error) {
      if ((error as { code?: string }).code !== "ETIMEDOUT" || Date.now() > deadline) throw error;
    }
  }
}

/** How a child process ended: its exit code or signal, its output, and how long it ran. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  elapsedMs: number;
  /** True when it was killed for running past the limit. */
  killed: boolean;
}

/** Runs `node script ...args`, killing it after `limitMs`, and reports how it ended. */
export async function runNode(script: string, args: readonly string[], limitMs: number): Promise<ChildResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let killed = false;
  const killer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, limitMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("close", (c, s) => resolve([c, s])),
  );
  clearTimeout(killer);
  return { code, signal, output, elapsedMs: performance.now() - started, killed };
}

/** Waits for the first item `match` accepts on an iterator subscribed earlier (events, changes). */
export async function nextMatching<T>(items: AsyncIterator<T>, match: (item: T) => boolean): Promise<T> {
  for (;;) {
    const { value, done } = await items.next();
    if (done) throw new Error("the stream ended");
    if (match(value)) return value;
  }
}

/**
 * A compiled test script (`script` relative to `dist/test`) in its own process, driven by JSON
 * lines: commands go to its stdin, and every line it prints is kept, parsed, for `waitLine`.
 * Discovery children run with `ZSYS_INTERFACE=lo`.
 */
export class JsonLinesChild<L extends { type: string }> {
  readonly process: ChildProcessWithoutNullStreams;
  readonly lines: L[] = [];
  #waiters: (() => void)[] = [];
  output = "";

  constructor(script: string, args: readonly string[]) {
    this.process = spawn(process.execPath, [join(distDir, "test", script), ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ZSYS_INTERFACE: "lo" },
    });
    let partial = "";
    this.process.stdout.on("data", (chunk: Buffer) => {
      partial += chunk.toString();
      let newline = partial.indexOf("\n");
      while (newline >= 0) {
        this.lines.push(JSON.parse(partial.slice(0, newline)) as L);
        partial = partial.slice(newline + 1);
        newline = partial.indexOf("\n");
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.process.stderr.on("data", (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.process.on("exit", () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  get gone(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  /** Waits until a line `match` accepts has been printed, at or after line `from`. */
  async waitLine(match: (line: L) => boolean, from = 0): Promise<L> {
    for (;;) {
      const found = this.lines.slice(from).find(match);
      if (found) return found;
      if (this.gone) throw new Error(`child exited: ${this.output}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  send(command: Record<string, unknown>): void {
    this.process.stdin.write(`${JSON.stringify(command)}\n`);
  }

  async exited(): Promise<void> {
    if (this.gone) return;
    await new Promise<void>((resolve) => this.process.once("exit", () => resolve()));
  }

  kill(): void {
    this.process.kill("SIGKILL");
  }
}

// --- The command line: bin/zerokit.cjs and bin/zerorpc.cjs as child processes, servers started
// --- and waited for by their `serving "name" on EP` line (never a sleep), children stopped for sure.

/** The recorded zerorpc vectors, copied into the repository (test/fixtures/vectors). */
export const zerorpcVectors = join(vectorsDir, "zerorpc");

/** The reference service, as TypeScript source (loaded through tsx) and compiled JavaScript. */
export const anchorTs = "./test/fixtures/anchor.ts";
export const anchorJs = "./dist/test/fixtures/anchor.js";
/** A plain JavaScript service whose default export is a class. */
export const workerMjs = "./test/fixtures/cli/worker.mjs";

export type Bin = "zerokit" | "zerorpc";

function binPath(bin: Bin): string {
  return join(repoRoot, "bin", `${bin}.cjs`);
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
