/**
 * A monitored queue: REQ clients talk to a ROUTER, a REP worker sits behind a DEALER, and the
 * device relays between them while publishing every message it relays on a PUB, prefixed "in"
 * (client to worker) or "out" (worker to client). A SUB watches the traffic.
 * Run: npm run build && node dist/examples/06-monitored-queue.js
 */
import { Dealer, monitoredQueue, Pub, Rep, Req, Router, Sub, TimeoutError } from "../src/index.js";

await using frontend = new Router();
await using backend = new Dealer();
await using monitor = new Pub();
await using watcher = new Sub();
await using client = new Req();
await using worker = new Rep();

client.connect(await frontend.bind("tcp://127.0.0.1:*"));
worker.connect(await backend.bind("tcp://127.0.0.1:*"));
watcher.connect(await monitor.bind("tcp://127.0.0.1:*"));
watcher.subscribe(); // everything

const device = monitoredQueue(frontend, backend, monitor);
const serving = (async () => {
  for await (const [request] of worker) await worker.sendString(request!.toString().toUpperCase());
})();

// The watcher's subscription needs a moment to reach the monitor: ping until it sees traffic.
for (;;) {
  await client.sendString("ping");
  await client.receiveString({ timeout: 5000 });
  try {
    await watcher.receive({ timeout: 20 });
    break;
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
  }
}

for (const word of ["hello", "monitored", "queue"]) {
  await client.sendString(word);
  console.log(`client got ${await client.receiveString({ timeout: 5000 })}`);
}

// Show what the monitor published for the three real requests (skipping the pings).
let shown = 0;
while (shown < 6) {
  const [direction, , , body] = await watcher.receive({ timeout: 5000 });
  const text = body!.toString();
  if (text.toLowerCase() === "ping") continue;
  console.log(`monitor: ${direction!.toString().padEnd(3)} ${text}`);
  shown++;
}

device.stop();
await device.done;
worker.close();
await serving;
console.log("done");
