/**
 * A pipeline: a ventilator PUSHes tasks to two workers (round-robin over the workers connected
 * at the time), and the workers PUSH their results to a sink that PULLs them in. When the sink
 * has every result, the workers are stopped through an AbortSignal.
 * Run: npm run build && node dist/examples/03-push-pull-pipeline.js
 */
import { Pull, Push } from "../src/index.js";

const TASKS = 20;

await using ventilator = new Push();
await using sink = new Pull();
const tasksAddress = await ventilator.bind("tcp://127.0.0.1:*");
const resultsAddress = await sink.bind("tcp://127.0.0.1:*");
console.log(`tasks on ${tasksAddress}, results on ${resultsAddress}`);

const stop = new AbortController();

async function worker(name: string): Promise<void> {
  await using tasks = new Pull();
  await using results = new Push();
  tasks.connect(tasksAddress);
  results.connect(resultsAddress);
  // messages() ends (without an error) when the signal aborts.
  for await (const [task] of tasks.messages({ signal: stop.signal })) {
    const n = Number(task!.toString());
    await results.sendJson({ worker: name, n, square: n * n });
  }
}

const workers = [worker("A"), worker("B")];
// zerokit queues concurrent sends in order; PUSH holds them until a worker is connected.
await Promise.all(Array.from({ length: TASKS }, (_, n) => ventilator.send(String(n))));

let total = 0;
const perWorker: Record<string, number> = {};
for (let received = 0; received < TASKS; received++) {
  const result = await sink.receiveJson<{ worker: string; square: number }>({ timeout: 5000 });
  total += result.square;
  perWorker[result.worker] = (perWorker[result.worker] ?? 0) + 1;
}
stop.abort();
await Promise.all(workers);
console.log(`results per worker: ${JSON.stringify(perWorker)}`);
console.log(`sum of squares 0..${TASKS - 1} = ${total}`);
