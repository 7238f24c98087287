/**
 * Helpers of the zio tests: nodes that can only ever beacon on `lo`, a random UDP beacon port per
 * test (parallel test files never hear each other), waits on port changes, and child processes
 * that run one node each (test/zio/child.ts).
 */
import assert from "node:assert/strict";
import { Node, type NodeOptions, type PortChange } from "../../src/zio/index.js";
import { JsonLinesChild, nextMatching } from "../helpers.js";
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
export const nextChange: (
  changes: AsyncIterator<PortChange>,
  match: (change: PortChange) => boolean,
) => Promise<PortChange> = nextMatching;

export type ChildLine = Record<string, unknown> & { type: string };

/** One node in its own process (test/zio/child.ts), driven by JSON lines. */
export class ChildNode extends JsonLinesChild<ChildLine> {
  constructor(config: ChildConfig) {
    super("zio/child.js", [JSON.stringify(config)]);
  }

  /** The uuid and headers of its (latest) ONLINE line. */
  async online(from = 0): Promise<{ uuid: string; headers: Record<string, string> }> {
    const line = await this.waitLine((l) => l.type === "ONLINE", from);
    return line as unknown as { uuid: string; headers: Record<string, string> };
  }

  async stop(): Promise<void> {
    if (this.gone) return;
    const exited = new Promise<void>((resolve) => this.process.once("exit", () => resolve()));
    this.send({ op: "stop" });
    await exited;
  }
}
