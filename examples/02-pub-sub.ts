/**
 * Publish/subscribe: a SUB subscribes to the "weather." prefix and ignores "sports." messages.
 * A subscription takes a moment to reach the publisher (the "slow joiner"), so the publisher
 * keeps publishing until the subscriber has seen something, then sends the real updates.
 * Run: npm run build && node dist/examples/02-pub-sub.js
 */
import { defaultAddress, Pub, Sub, TimeoutError } from "../src/index.js";

await using pub = new Pub();
await using sub = new Sub();

const address = await pub.bind(defaultAddress()); // ipc under the temp dir on Linux
sub.subscribe("weather.");
sub.connect(address);
console.log(`publishing on ${address}`);

// Wait for the subscription to arrive: publish a hello until one gets through.
for (;;) {
  await pub.send(["weather.hello", ""]);
  try {
    await sub.receive({ timeout: 20 });
    break;
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
  }
}

const updates = [
  ["sports.football", "2-1"],
  ["weather.london", "rain, 12°C"],
  ["sports.tennis", "6-4 6-3"],
  ["weather.paris", "sun, 21°C"],
  ["weather.end", ""],
];
for (const update of updates) await pub.send(update);

for (;;) {
  const [topic, body] = await sub.receive({ timeout: 5000 });
  const name = topic!.toString();
  if (name === "weather.hello") continue; // extra hellos sent before the first one arrived
  if (name === "weather.end") break;
  console.log(`${name}: ${body!.toString()}`);
}
console.log("done (sports.* was never delivered)");
