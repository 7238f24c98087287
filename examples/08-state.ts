/**
 * Shared state: a state server in its own process, two processes writing one counter
 * atomically, a watcher, a transaction and a worker map (ZProc's Context, in Node).
 * Run: npm run build && node dist/examples/08-state.js
 */
import { Context } from "../src/state/index.js";

const workerModule = new URL("./state-worker.js", import.meta.url);

// No address: start a state server at a random address, in its own process.
await using ctx = await Context.start();
const state = ctx.state;
await state.set("count", 0);

// Watch the counter from here while two worker processes increment it.
const seen: number[] = [];
const watching = (async () => {
  for await (const change of state.watch(["count"], { since: (await state.set("count", 0)) + 1 })) {
    seen.push(change.after as number);
    if (change.after === 200) return;
  }
})();
ctx.spawn(workerModule, { exportName: "bump", args: [100], count: 2 });
await ctx.wait();
await watching;
console.log(`count = ${await state.get("count")} after ${seen.length} watched changes, none missed`);

// A transaction: read, compute, write; retried if another writer got in between.
await state.transaction(async (tx) => {
  const count = (await tx.get("count")) as number;
  tx.set("double", count * 2);
});
console.log(`double = ${await state.get("double")}`);

// A worker map: results come back in item order.
const squares = await ctx.map<number>(workerModule, "square", [1, 2, 3, 4, 5], { workers: 2 });
console.log(`squares = ${squares.join(", ")}`);
