/**
 * A small documented service, served by `npm start` (examples/start.ts) or by the CLI:
 *   npx zerokit rpc --server ./examples/service.ts
 * Every exported function is a remote method; `doc()` gives the text the CLI lists.
 */
import { setTimeout as delay } from "node:timers/promises";
import { currentCall, doc } from "../src/rpc/index.js";

/** The service name clients see (`_zerorpc_name`, the CLI's `[example]` header). */
export const name = "example";

export const add = doc("Return a + b (pass -j so numbers are not strings).", (a: number, b: number) => a + b);

export const echo = doc("Return x unchanged.", (x: unknown) => x);

export const greet = doc(
  "Return a greeting.\n\nThe second argument is optional: greet Ada Hi -> 'Hi, Ada!'",
  (who: string, greeting = "Hello") => `${greeting}, ${who}!`,
);

export const range = doc(
  "Stream the numbers 0..n-1, one every `every` seconds (a generator: the client gets items as they come).",
  async function* (n: number, every = 0) {
    for (let i = 0; i < n; i++) {
      if (every > 0) await delay(every * 1000, undefined, { signal: currentCall()?.signal });
      yield i;
    }
  },
);

export const sleep = doc("Wait s seconds, then return s. Ctrl-C in the client cancels it.", async (s: number) => {
  await delay(s * 1000, undefined, { signal: currentCall()?.signal });
  return s;
});

export const fail = doc("Always fail: the client prints `ValueError: <msg>` and exits 1.", (msg = "boom") => {
  const error = new Error(msg);
  error.name = "ValueError";
  throw error;
});
