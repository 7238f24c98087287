/** The reference service the shared vectors were recorded against (zerorpc_ref_server.py). */
import { setTimeout as delay } from "node:timers/promises";
import { currentCall, doc } from "../../src/rpc/index.js";

class ValueError extends Error {
  override name = "ValueError";
}

export class Anchor {
  add = doc("Return a + b.", (a: number, b: number) => a + b);
  echo = doc("Return x unchanged.", (x: unknown) => x);
  fail = doc("Always raises ValueError(msg) -> ERR event.", (msg = "boom") => {
    throw new ValueError(msg);
  });
  kw = doc("Signature with default (for _zerorpc_inspect).", (a: number, b = 2) => [a, b]);
  range = doc("Stream 0..n-1 (STREAM events followed by STREAM_DONE).", function* (n: number, step = 1) {
    for (let i = 0; i < n; i += step) yield i;
  });
  sleep = doc("Sleep s seconds (cooperatively) then return s.", async (s: number) => {
    await delay(s * 1000, undefined, { signal: currentCall()?.signal });
    return s;
  });
}
