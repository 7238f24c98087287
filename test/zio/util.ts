/**
 * Helpers of the zio tests: nodes that can only ever beacon on `lo`, a random UDP beacon port per
 * test (parallel test files never hear each other), waits on port changes, and child processes
 * that run one node each (test/zio/child.ts).
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { Node, type NodeOptions, type PortChange } from "../../src/zio/index.js";
import { distDir } from "../helpers.js";
import type { ChildConfig } from "./child.js";

/** A UDP port for one test: random, away from Zyre's 5670 and the ephemeral range. */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

/** Short clocks for tests that wait for an EXIT after SIGKILL. */
export const SHORT_CLOCKS = { interval: 100, evasive: 300, expired: 1000 };

/** A node that beacons on `lo` only, on `port`. */
export function loNode(name: string, port: number, options: Omit<NodeOptions, "discovery"> = {}): Node {
  return new Node(name, {
    ...options,
    peer: { interval: 100, ...options.peer },
    discovery: { mode: "beacon", interface: "lo", port },
  });
}

/** Brings a node online and fails the test unless its discovery runs on `lo`. */
export async function online(node: Node): Promise<void> {
  await node.online();
  assert.equal(node.peer?.interface?.name, "lo");
}

/** Waits for the first change `match` accepts on an iterator subscribed earlier. */
export async function nextChange(
  changes: AsyncIterator<PortChange>,
  match: (change: PortChange) => boolean,
): Promise<PortChange> {
  for (;;) {
    const { value, done } = await changes.next();
    if (done) throw new Error("the change stream ended");
    if (match(value)) return value;
  }
}

export type ChildLine = Record<string, unknown> & { type: string };

/** One node in its own process, driven by JSON lines. */
export class ChildNode {
  readonly process: ChildProcessWithoutNullStreams;
  readonly lines: ChildLine[] = [];
  #waiters: (() => void)[] = [];
  output = "";

  constructor(config: ChildConfig) {
    this.process = spawn(process.execPath, [join(distDir, "test", "zio", "child.js"), JSON.stringify(config)], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ZSYS_INTERFACE: "lo" },
    });
    let partial = "";
    this.process.stdout.on("data", (chunk: Buffer) => {
      partial += chunk.toString();
      let newline = partial.indexOf("\n");
      while (newline >= 0) {
        this.lines.push(JSON.parse(partial.slice(0, newline)) as ChildLine);
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

  /** Waits until a line `match` accepts has been printed, at or after line `from`. */
  async waitLine(match: (line: ChildLine) => boolean, from = 0): Promise<ChildLine> {
    for (;;) {
      const found = this.lines.slice(from).find(match);
      if (found) return found;
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        throw new Error(`child exited: ${this.output}`);
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** The uuid and headers of its (latest) ONLINE line. */
  async online(from = 0): Promise<{ uuid: string; headers: Record<string, string> }> {
    const line = await this.waitLine((l) => l.type === "ONLINE", from);
    return line as unknown as { uuid: string; headers: Record<string, string> };
  }

  send(command: Record<string, unknown>): void {
    this.process.stdin.write(`${JSON.stringify(command)}\n`);
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.process.once("exit", () => resolve()));
    this.send({ op: "stop" });
    await exited;
  }

  kill(): void {
    this.process.kill("SIGKILL");
  }
}
