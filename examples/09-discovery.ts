/**
 * Discovery: two processes find each other by name with no broker, whisper and shout, and one
 * sees the other leave. Wire compatible with Zyre and pyre, so either process could be a C or
 * Python node. Run: npm run build && ZSYS_INTERFACE=lo node dist/examples/09-discovery.js
 *
 * Beacons are UDP broadcasts: this example keeps them on the loopback interface `lo`. On a real
 * network leave `interface` out (Zyre's choice: ZSYS_INTERFACE, else the first broadcast-capable
 * interface) and the port at Zyre's 5670.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Peer } from "../src/zre/index.js";

const [role = "alice", portArg] = process.argv.slice(2);
// Both processes must beacon on one UDP port; alice picks one and hands it to bob.
const port = portArg ? Number(portArg) : 20000 + Math.floor(Math.random() * 20000);
const discovery = { mode: "beacon", interface: "lo", port } as const;

if (role === "bob") {
  await using bob = new Peer("bob", { discovery, headers: { "service.address": "tcp://127.0.0.1:5555" } });
  await bob.start();
  await bob.join("chat");
  const alice = await bob.waitFor("alice", { timeout: 10000 });
  for await (const event of bob.events()) {
    if (event.type === "WHISPER") {
      await bob.whisper(alice.uuid, [`bob got "${event.content[0]}"`]);
      break;
    }
  }
  // Leaving: `await using` stops the peer, which tells alice at once (GOODBYE and a port-0 beacon).
} else {
  await using alice = new Peer("alice", { discovery });
  await alice.start();
  const events = alice.events();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "bob", String(port)], { stdio: "inherit" });
  const bob = await alice.waitFor("bob", { timeout: 10000 });
  console.log(`found bob ${bob.uuid} at ${bob.endpoint}, service at ${bob.headers.get("service.address")}`);
  await alice.whisper(bob.uuid, ["hello bob"]);
  for await (const event of events) {
    if (event.type === "JOIN") console.log(`bob is in group ${event.group}`);
    if (event.type === "WHISPER") console.log(`bob answered: ${event.content[0]}`);
    if (event.type === "EXIT") {
      console.log("bob left");
      break;
    }
  }
  await new Promise((resolve) => child.once("exit", resolve));
}
