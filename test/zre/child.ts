/**
 * One discovery peer in its own process, for the multi-process tests:
 * `node child.js NAME EXTRA_JSON beacon PORT` or `node child.js NAME EXTRA_JSON gossip ENDPOINT [bind]`.
 * Prints READY and every event as JSON lines; takes commands (join, leave, whisper, shout, stop)
 * as JSON lines on stdin. Beacons only ever on `lo`.
 */
import { createInterface } from "node:readline";
import * as zmq from "zeromq";
import { type Discovery, Peer } from "../../src/zre/index.js";

zmq.context.blocky = false;

const [name = "child", extraJson = "{}", mode = "beacon", where = "5670", bind] = process.argv.slice(2);
const discovery: Discovery =
  mode === "beacon"
    ? { mode: "beacon", interface: "lo", port: Number(where) }
    : { mode: "gossip", endpoint: where, bind: bind === "bind", interface: "lo" };
const peer = new Peer(name, { ...(JSON.parse(extraJson) as object), discovery, headers: { "x-name": name } });
await peer.start();
if (peer.interface?.name !== "lo") throw new Error("a test peer must stay on lo");
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
print({ type: "READY", uuid: peer.uuid, endpoint: peer.endpoint });

(async () => {
  for await (const event of peer.events()) {
    const line: Record<string, unknown> = { type: event.type, uuid: event.uuid, name: event.name };
    if ("group" in event) line.group = event.group;
    if ("content" in event) line.text = event.content.map((frame) => frame.toString());
    if ("headers" in event) line.headers = Object.fromEntries(event.headers);
    print(line);
  }
})();

for await (const text of createInterface({ input: process.stdin })) {
  const command = JSON.parse(text) as { op: string; group?: string; uuid?: string; text?: string };
  if (command.op === "join") await peer.join(command.group!);
  else if (command.op === "leave") await peer.leave(command.group!);
  else if (command.op === "whisper") await peer.whisper(command.uuid!, [command.text!]);
  else if (command.op === "shout") await peer.shout(command.group!, [command.text!]);
  else if (command.op === "stop") break;
  print({ type: "DONE", uuid: peer.uuid, name, op: command.op });
}
await peer.stop();
process.exit(0);
