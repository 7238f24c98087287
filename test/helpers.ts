/**
 * The one shared test helper module: the transports every socket test runs over, fresh endpoints
 * for each, the recorded vectors, child processes, and waits that synchronise on real messages
 * instead of sleeps. (Subsystem folders keep only what is theirs alone: test/cli/helpers.ts runs
 * the CLI, test/zre and test/zio spawn their peers.)
 */
import { type ChildProcess, spawn } from "node:child_process";
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
