/**
 * One ZIO node in its own process, for the multi-process tests: `node child.js CONFIG_JSON`.
 * Each port has a role: `echo` (sends every message back to its sender), `sink` (prints what it
 * receives) or `source` (sends when told). Prints ONLINE (with its uuid and headers), RECV and
 * OFFLINE as JSON lines; takes send, offline, online and stop as JSON lines on stdin. Beacons only
 * ever on `lo`.
 */
import { createInterface } from "node:readline";
import * as zmq from "zeromq";
import { Message, Node, type Port, type SocketType } from "../../src/zio/index.js";

zmq.context.blocky = false;

export interface ChildPortConfig {
  name: string;
  type: SocketType;
  role: "echo" | "sink" | "source";
  binds?: ([string] | [string, number] | [])[];
  connects?: ([string] | [string, string])[];
  group?: string;
}

export interface ChildConfig {
  name: string;
  origin?: number;
  beaconPort: number;
  clocks?: { interval?: number; evasive?: number; expired?: number };
  ports: ChildPortConfig[];
}

const config = JSON.parse(process.argv[2] ?? "{}") as ChildConfig;
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const node = new Node(config.name, {
  origin: config.origin ?? 0,
  discovery: { mode: "beacon", interface: "lo", port: config.beaconPort },
  peer: { interval: 100, ...config.clocks },
});
const roles = new Map<string, ChildPortConfig>();
for (const spec of config.ports) {
  const port = node.port(spec.name, spec.type, spec.group ? { group: spec.group } : {});
  for (const bind of spec.binds ?? []) port.bind(...(bind as [string, number]));
  for (const connect of spec.connects ?? []) port.connect(...(connect as [string, string]));
  if (spec.type === "SUB") port.subscribe("");
  roles.set(spec.name, spec);
}

async function serve(port: Port, role: ChildPortConfig["role"]): Promise<void> {
  for (;;) {
    let m: Message | null;
    try {
      m = await port.recv();
    } catch (error) {
      if ((error as { code?: string }).code === "EPROTO") {
        print({ type: "MALFORMED", port: port.name });
        continue;
      }
      return; // offline
    }
    if (!m) continue;
    if (role === "echo") await port.send(m);
    else
      print({ type: "RECV", port: port.name, label: m.label, origin: Number(m.origin), payload: String(m.payload[0]) });
  }
}

async function online(): Promise<void> {
  await node.online();
  if (node.peer?.interface?.name !== "lo") throw new Error("a test node must stay on lo");
  const headers: Record<string, string> = {};
  for (const port of node.ports.values()) for (const [k, v] of port.headers) headers[k] = v;
  for (const port of node.ports.values()) {
    const role = roles.get(port.name)!.role;
    if (role !== "source") void serve(port, role);
  }
  print({ type: "ONLINE", uuid: node.peer.uuid, headers });
}

await online();
for await (const text of createInterface({ input: process.stdin })) {
  const command = JSON.parse(text) as { op: string; port?: string; label?: string; payload?: string };
  if (command.op === "send") {
    const port = node.port(command.port!);
    await port.send(new Message({ form: "TEXT", label: command.label ?? "", payload: [command.payload ?? ""] }));
    print({ type: "SENT", port: command.port });
  } else if (command.op === "offline") {
    await node.offline();
    print({ type: "OFFLINE" });
  } else if (command.op === "online") {
    await online();
  } else if (command.op === "stop") {
    break;
  }
}
await node.close();
process.exit(0);
