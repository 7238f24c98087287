/**
 * `zerokit peers` and `zerokit gossip-hub`: a live view of a ZRE network, and a zgossip hub.
 *
 *   zerokit peers [--interface IF | --gossip EP] [--port P] [--name N] [--json] [--seconds N]
 *   zerokit gossip-hub --bind EP [--seconds N]
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseEndpoint } from "../core/endpoint.js";
import type { EndpointError } from "../core/errors.js";
import type { Discovery, Peer, PeerEvent } from "../zre/index.js";

function endpoint(use: "bind" | "connect") {
  return (text: string): string => {
    try {
      parseEndpoint(text, use);
      return text;
    } catch (error) {
      throw new InvalidArgumentError((error as EndpointError).message);
    }
  };
}

function positive(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not a positive number`);
  return value;
}

function port(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not a UDP port`);
  return value;
}

/**
 * Resolves after `seconds` (if given) or at the first SIGINT, SIGTERM or SIGHUP (its terminal
 * closed), whichever is first. Called before anything is printed, so that whoever reads the first
 * line may signal at once.
 */
function runFor(seconds: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      process.off("SIGHUP", done);
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
    process.once("SIGHUP", done);
    if (seconds !== undefined) setTimeout(done, seconds * 1000).unref();
  });
}

/** One event as a JSON line (headers as an object, frames as UTF-8 text). */
function eventJson(event: PeerEvent, peer: Peer): string {
  const line: Record<string, unknown> = { type: event.type, uuid: event.uuid, name: event.name };
  if (event.type === "ENTER") {
    line.endpoint = event.endpoint;
    line.headers = Object.fromEntries(event.headers);
  }
  if ("group" in event) line.group = event.group;
  if ("content" in event) line.content = event.content.map((frame) => frame.toString("utf8"));
  const info = peer.peers().find((p) => p.uuid === event.uuid);
  if (info) line.groups = info.groups;
  return JSON.stringify(line);
}

function eventText(event: PeerEvent, peer: Peer): string {
  const info = peer.peers().find((p) => p.uuid === event.uuid);
  const parts = [event.type.padEnd(7), event.name, event.uuid];
  if (event.type === "ENTER") {
    parts.push(event.endpoint);
    for (const [key, value] of event.headers) parts.push(`${key}=${value}`);
  }
  if ("group" in event) parts.push(`group=${event.group}`);
  if ("content" in event) parts.push(`${event.content.length} frame(s)`);
  if (info && info.groups.length > 0 && event.type !== "EXIT") parts.push(`groups=${info.groups.join(",")}`);
  return parts.join(" ");
}

/** The two commands, for the main program to add (their actions import the ZRE code). */
export function zreCommands(): Command[] {
  const peers = new Command("peers")
    .summary("a live view of the ZRE (Zyre) network: peers entering, leaving, evasive")
    .addOption(
      new Option(
        "--interface <if>",
        "beacon on this interface (default ZSYS_INTERFACE, else the first broadcast-capable one)",
      ).conflicts("gossip"),
    )
    .addOption(
      new Option("--gossip <endpoint>", "discover through this zgossip hub instead of beacons").argParser(
        endpoint("connect"),
      ),
    )
    .option("--port <port>", "the beacon UDP port", port, 5670)
    .option("--name <name>", "this peer's name", "zerokit-peers")
    .option("--json", "one JSON line per event")
    .option("--seconds <n>", "stop after this many seconds", positive)
    .action(
      async (options: {
        interface?: string;
        gossip?: string;
        port: number;
        name: string;
        json?: boolean;
        seconds?: number;
      }) => {
        const discovery: Discovery = options.gossip
          ? { mode: "gossip", endpoint: options.gossip, ...(options.interface ? { interface: options.interface } : {}) }
          : { mode: "beacon", port: options.port, ...(options.interface ? { interface: options.interface } : {}) };
        const { Peer } = await import("../zre/peer.js");
        const peer = new Peer(options.name, { discovery });
        await peer.start();
        const stopped = runFor(options.seconds);
        const controller = new AbortController();
        const printing = (async () => {
          for await (const event of peer.events({ signal: controller.signal })) {
            process.stdout.write(`${options.json ? eventJson(event, peer) : eventText(event, peer)}\n`);
          }
        })();
        if (!options.json) {
          process.stderr.write(
            `zerokit peers: ${peer.name} ${peer.uuid} on ${peer.interface?.name ?? "?"} (${peer.endpoint})\n`,
          );
        }
        await stopped;
        controller.abort();
        await printing;
        await peer.stop();
      },
    );

  const hub = new Command("gossip-hub")
    .summary("run a zgossip hub (Zyre's gossip discovery, for networks without broadcast)")
    .requiredOption("--bind <endpoint>", "where the hub listens, e.g. tcp://127.0.0.1:9999", endpoint("bind"))
    .option("--seconds <n>", "stop after this many seconds", positive)
    .action(async (options: { bind: string; seconds?: number }) => {
      const { GossipHub } = await import("../zre/gossip.js");
      const gossip = new GossipHub({
        maxTuples: 100_000,
        maxClients: 100_000,
        onTuple: (key, value) => process.stdout.write(`${key} ${value}\n`),
        onIgnored: () => {},
      });
      const bound = await gossip.bind(options.bind);
      const stopped = runFor(options.seconds);
      process.stderr.write(`zerokit gossip-hub: listening on ${bound}\n`);
      await stopped;
      await gossip.close();
    });
  return [peers, hub];
}
