/**
 * `zerokit rpc` by name (loaded only when used): `--server --announce NODE/PORT` announces the
 * server as the port PORT of a discovery node NODE (zerokit/zio); a client given `NODE/PORT`
 * instead of an address connects to every server announced under that name, found by discovery
 * on `--interface` (UDP beacons, on Zyre's port 5670 unless `--beacon-port`).
 */
import type { RpcClient } from "../rpc/client.js";
import type { RpcServer } from "../rpc/server.js";
import { Node } from "../zio/node.js";
import { connectByName, type ServiceName } from "../zio/service.js";
import { type Discovery, Peer } from "../zre/peer.js";
import type { Io, RpcArgs } from "./rpc.js";
import { UsageError } from "./rpc.js";

/** `NODE/PORT`, as the command line writes a service name. */
export function parseServiceName(text: string): ServiceName {
  const match = /^([^/\s]+)\/([^/.\s]+)$/.exec(text);
  if (!match || text.includes("://")) {
    throw new UsageError(`expected a service name NODE/PORT (e.g. calc-node/calc), got ${JSON.stringify(text)}`);
  }
  return { node: match[1] as string, port: match[2] as string };
}

function discovery(args: RpcArgs): Discovery {
  return {
    mode: "beacon",
    ...(args.interface !== undefined ? { interface: args.interface } : {}),
    ...(args.beaconPort !== undefined ? { port: args.beaconPort } : {}),
  };
}

/** Announces a bound server as NODE/PORT until the returned close runs. */
export async function announce(
  server: RpcServer,
  addresses: readonly string[],
  args: RpcArgs,
  io: Io,
): Promise<{ close(): Promise<void> }> {
  const name = parseServiceName(args.announce as string);
  const address = addresses.find((a) => a.startsWith("tcp://")) ?? addresses[0];
  if (address === undefined) throw new UsageError("--announce needs a server that binds (--bind, or no --connect)");
  const node = new Node(name.node, { discovery: discovery(args) });
  node.serve(name.port, server, { address });
  await node.online();
  const where = node.peer?.interface?.name ?? "?";
  io.stderr(
    `announced as ${name.node}/${name.port} on ${where} (${address}); call it with: ${io.prog} --interface ${where} ${args.announce}`,
  );
  return {
    // Leaves discovery only: the server itself is closed by its owner.
    close: () => node.offline(),
  };
}

/** Connects `client` to every server announced as NODE/PORT; resolves once one is found. */
export async function linkByName(
  client: RpcClient,
  text: string,
  args: RpcArgs,
  io: Io,
): Promise<{ close(): Promise<void> }> {
  const name = parseServiceName(text);
  const peer = new Peer(`zerokit-rpc-${process.pid}`, { discovery: discovery(args) });
  await peer.start();
  const link = connectByName(client, name, { peer });
  const close = async () => {
    await link.close();
    await peer.stop();
  };
  io.stderr(`looking for "${text}" on ${peer.interface?.name ?? "?"}`);
  try {
    await link.ready({ timeout: Math.max(1, Math.round(args.timeout * 1000)) });
  } catch {
    await close();
    throw new Error(`no service "${text}" found within ${args.timeout}s`);
  }
  for (const address of link.connections) io.stderr(`connecting to "${address}"`);
  return { close };
}
