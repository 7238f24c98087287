/**
 * PAIR: two exclusive peers talking both ways, here over inproc (same process, no network).
 * Run: npm run build && node dist/examples/04-pair.js
 */
import { randomUUID } from "node:crypto";
import { Pair } from "../src/index.js";

await using left = new Pair();
await using right = new Pair();
const address = await left.bind(`inproc://pair-example-${randomUUID()}`);
right.connect(address);
console.log(`paired over ${address}`);

// The right side doubles every number it gets until it is told to stop.
const rightSide = (async () => {
  for (;;) {
    const text = await right.receiveString();
    if (text === "stop") return;
    await right.sendString(String(Number(text) * 2));
  }
})();

let n = 1;
for (let round = 0; round < 4; round++) {
  await left.sendString(String(n));
  const answer = Number(await left.receiveString({ timeout: 5000 }));
  console.log(`left sent ${n}, right answered ${answer}`);
  n = answer + 1;
}
await left.sendString("stop");
await rightSide;
console.log("done");
