/**
 * Request/reply: a REP server answers three requests from a REQ client.
 * Run: npm run build && node dist/examples/01-request-reply.js
 */
import { Rep, Req } from "../src/index.js";

await using server = new Rep();
await using client = new Req();

// An ephemeral port: bind() resolves with the real address to connect to.
const address = await server.bind("tcp://127.0.0.1:*");
client.connect(address);
console.log(`server listening on ${address}`);

const serving = (async () => {
  for (let i = 0; i < 3; i++) {
    const request = await server.receiveJson<{ a: number; b: number }>();
    await server.sendJson({ sum: request.a + request.b });
  }
})();

for (const [a, b] of [
  [1, 2],
  [20, 22],
  [-5, 5],
] as const) {
  await client.sendJson({ a, b });
  const reply = await client.receiveJson<{ sum: number }>({ timeout: 5000 });
  console.log(`${a} + ${b} = ${reply.sum}`);
}
await serving;
console.log("done");
