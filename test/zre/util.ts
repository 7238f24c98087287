/**
 * Helpers of the discovery tests: peers that can only ever beacon on `lo` (the helper passes
 * `interface: "lo"` and fails the test if a peer ends up on anything else), a random UDP port per
 * test so parallel test files never hear each other, and child processes that run one peer each.
 */
import assert from "node:assert/strict";
import { Peer, type PeerEvent, type PeerOptions } from "../../src/zre/index.js";
import { JsonLinesChild, nextMatching } from "../helpers.js";

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
export const nextEvent: (events: AsyncIterator<PeerEvent>, match: (event: PeerEvent) => boolean) => Promise<PeerEvent> =
  nextMatching;

/** A line the child prints: an event, or `ready` with its uuid. */
export type ChildLine =
  | { type: "READY"; uuid: string; endpoint: string }
  | (Record<string, unknown> & { type: string; uuid: string; name: string; text?: string[]; group?: string });

/** One peer in its own process (test/zre/child.ts), driven by JSON lines. */
export class ChildPeer extends JsonLinesChild<ChildLine> {
  uuid = "";

  constructor(name: string, discovery: string[], extra: Record<string, number> = {}) {
    super("zre/child.js", [name, JSON.stringify(extra), ...discovery]);
  }

  async ready(): Promise<string> {
    const line = await this.waitLine((l) => l.type === "READY");
    this.uuid = line.uuid;
    return this.uuid;
  }
}
