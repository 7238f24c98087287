/** A server in its own process: prints its address, serves until killed. */
import { setTimeout as delay } from "node:timers/promises";
import { currentCall, RpcServer } from "../../src/rpc/index.js";

const [endpoint = "tcp://127.0.0.1:*", heartbeat = "200"] = process.argv.slice(2);
const server = new RpcServer(
  {
    echo: (x: unknown) => x,
    whoami: () => process.pid,
    async slow(ms: number) {
      await delay(ms, undefined, { signal: currentCall()?.signal });
      return ms;
    },
  },
  { heartbeat: Number(heartbeat) },
);
console.log(await server.bind(endpoint));
