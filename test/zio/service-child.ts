/**
 * One RPC server announced by name, in its own process: `node service-child.js ID BEACON_PORT`
 * runs a node "calc-node" serving "calc" ({ whoami, add }) on `lo`. Prints ONLINE as a JSON line;
 * takes offline, online and stop on stdin.
 */
import { createInterface } from "node:readline";
import * as zmq from "zeromq";
import { Node } from "../../src/zio/index.js";

zmq.context.blocky = false;

const [id = "?", beacon = "0"] = process.argv.slice(2);
const node = new Node("calc-node", {
  discovery: { mode: "beacon", interface: "lo", port: Number(beacon) },
  peer: { interval: 100 },
});
node.serve("calc", { whoami: () => id, add: (a: number, b: number) => a + b }, { heartbeat: false });
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
await node.online();
if (node.peer?.interface?.name !== "lo") throw new Error("a test node must stay on lo");
print({ type: "ONLINE", uuid: node.peer.uuid });
for await (const text of createInterface({ input: process.stdin })) {
  const { op } = JSON.parse(text) as { op: string };
  if (op === "offline") {
    await node.offline();
    print({ type: "OFFLINE" });
  } else if (op === "online") {
    await node.online();
    print({ type: "ONLINE", uuid: node.peer!.uuid });
  } else if (op === "stop") break;
}
await node.close();
process.exit(0);
