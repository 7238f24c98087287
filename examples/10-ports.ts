/**
 * Ports and nodes (ZIO): two processes, the client finding the server by name, no address
 * written anywhere. The server node has a ROUTER port "spigot" and an RPC service "calc"; the
 * client node's DEALER port connects to "server"/"spigot", and an RpcClient to "server"/"calc".
 * Run: npm run build && ZSYS_INTERFACE=lo node dist/examples/10-ports.js
 *
 * Discovery beacons stay on the loopback interface `lo` here; on a real network leave
 * `interface` out and the port at Zyre's 5670.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RpcClient } from "../src/rpc/index.js";
import { connectByName, Message, Node } from "../src/zio/index.js";

const [role = "client", portArg] = process.argv.slice(2);
// Both processes beacon on one UDP port; the client picks one and hands it to the server.
const port = portArg ? Number(portArg) : 20000 + Math.floor(Math.random() * 20000);
const discovery = { mode: "beacon", interface: "lo", port } as const;

if (role === "server") {
  await using node = new Node("server", { origin: 42, discovery });
  const spigot = node.port("spigot", "ROUTER");
  spigot.bind(); // an ephemeral TCP port on 127.0.0.1, published as zio.port.spigot.address
  spigot.addHeaders({ greeting: "hello" });
  node.serve("calc", { add: (a: number, b: number) => a + b });
  await node.online();
  for (;;) {
    const m = await spigot.recv({ timeout: 10_000 });
    if (!m || m.label === "bye") break;
    m.label = `echo of ${m.label}`;
    await spigot.send(m); // back to the sender, stamped with origin 42
  }
  // `await using` takes the node offline: the client sees it leave.
} else {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "server", String(port)], { stdio: "inherit" });
  await using node = new Node("client", { origin: 7, discovery });
  const tap = node.port("tap", "DEALER");
  tap.connect("server", "spigot"); // resolved when a node named "server" appears
  const changes = tap.changes();
  await node.online();
  const { value: connected } = await changes.next();
  console.log(`found server/spigot at ${connected?.address}`);
  for (const text of ["one", "two"]) {
    await tap.send(new Message({ level: "info", form: "TEXT", label: text, payload: [text] }));
    const reply = await tap.recv({ timeout: 5000 });
    console.log(`${reply?.label} from origin ${reply?.origin}`);
  }
  await using client = new RpcClient();
  await using link = connectByName(client, { node: "server", port: "calc" }, { peer: node.peer! });
  await link.ready({ timeout: 5000 }); // at once here: the server is known already
  console.log(`server/calc add(1, 2) = ${await client.call("add", [1, 2])}`);
  await tap.send(new Message({ label: "bye" }));
  await link.close();
  await new Promise((resolve) => child.once("exit", resolve));
}
