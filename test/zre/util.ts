/**
 * Helpers of the discovery tests: peers that can only ever beacon on `lo` (the helper passes
 * `interface: "lo"` and fails the test if a peer ends up on anything else), a random UDP port per
 * test so parallel test files never hear each other, and child processes that run one peer each.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { Peer, type PeerEvent, type PeerOptions } from "../../src/zre/index.js";
import { distDir } from "../helpers.js";

/** A UDP port for one test: random, away from Zyre's 5670 and the ephemeral range. */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

/** Options that keep a peer on loopback; `extra` may shorten the clocks, never move the interface. */
export function loOptions(port: number, extra: Omit<PeerOptions, "discovery"> = {}): PeerOptions {
  return { interval: 100, ...extra, discovery: { mode: "beacon", interface: "lo", port } };
}

/** Starts a peer and fails the test unless it beacons on `lo` to 127.255.255.255. */
export async function startPeer(name: string, options: PeerOptions): Promise<Peer> {
  const discovery = options.discovery;
  assert.ok(discovery && discovery.interface === "lo", 'a test peer must pass interface: "lo"');
  const peer = new Peer(name, options);
  await peer.start();
  assert.equal(peer.interface?.name, "lo");
  assert.equal(peer.interface?.broadcast, "127.255.255.255");
  assert.match(peer.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  return peer;
}

/** Waits for the first event `match` accepts on an iterator subscribed earlier. */
export async function nextEvent(
  events: AsyncIterator<PeerEvent>,
  match: (event: PeerEvent) => boolean,
): Promise<PeerEvent> {
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error("the event stream ended");
    if (match(value)) return value;
  }
}

/** A line the child prints: an event, or `ready` with its uuid. */
export type ChildLine =
  | { type: "READY"; uuid: string; endpoint: string }
  | (Record<string, unknown> & { type: string; uuid: string; name: string; text?: string[]; group?: string });

/** One peer in its own process (test/zre/child.ts), driven by JSON lines. */
export class ChildPeer {
  readonly process: ChildProcessWithoutNullStreams;
  readonly lines: ChildLine[] = [];
  #waiters: (() => void)[] = [];
  output = "";
  uuid = "";

  constructor(name: string, discovery: string[], extra: Record<string, number> = {}) {
    this.process = spawn(
      process.execPath,
      [join(distDir, "test", "zre", "child.js"), name, JSON.stringify(extra), ...discovery],
      { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ZSYS_INTERFACE: "lo" } },
    );
    let partial = "";
    this.process.stdout.on("data", (chunk: Buffer) => {
      partial += chunk.toString();
      let newline = partial.indexOf("\n");
      while (newline >= 0) {
        const line = partial.slice(0, newline);
        partial = partial.slice(newline + 1);
        this.lines.push(JSON.parse(line) as ChildLine);
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

  /** Waits until a line `match` accepts has been printed (any time since start). */
  async waitLine(match: (line: ChildLine) => boolean): Promise<ChildLine> {
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        throw new Error(`child exited: ${this.output}`);
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  async ready(): Promise<string> {
    const line = await this.waitLine((l) => l.type === "READY");
    this.uuid = line.uuid;
    return this.uuid;
  }

  send(command: Record<string, unknown>): void {
    this.process.stdin.write(`${JSON.stringify(command)}\n`);
  }

  async exited(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    await new Promise<void>((resolve) => this.process.once("exit", () => resolve()));
  }

  kill(): void {
    this.process.kill("SIGKILL");
  }
}
