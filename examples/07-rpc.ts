/**
 * RPC: a zerorpc-compatible server exposing a class, called through a typed proxy (a call, a
 * stream, a remote error). Python's `zerorpc` client could call this server too.
 * Run: npm run build && node dist/examples/07-rpc.js
 */
import { doc, RemoteError, RpcClient, RpcServer } from "../src/rpc/index.js";

class Calculator {
  add = doc("Return a + b.", (a: number, b: number) => a + b);
  async *countdown(from: number) {
    for (let i = from; i > 0; i--) yield i;
  }
  divide(a: number, b: number): number {
    if (b === 0) throw new RangeError("division by zero");
    return a / b;
  }
}

await using server = new RpcServer(new Calculator(), { name: "calculator" });
const address = await server.bind("tcp://127.0.0.1:*");
await using client = new RpcClient({ timeout: 5000 });
client.connect(address);

const calc = client.proxy<Calculator>();
console.log(`1 + 2 = ${await calc.add(1, 2)}`);
const items: number[] = [];
for await (const n of calc.countdown(3)) items.push(n);
console.log(`countdown: ${items.join(" ")}`);
try {
  await calc.divide(1, 0);
} catch (error) {
  if (error instanceof RemoteError) console.log(`remote error: ${error.remoteName}: ${error.remoteMessage}`);
}
console.log(`methods: ${(await client.call<string[]>("_zerorpc_list")).join(", ")}`);
