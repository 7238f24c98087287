/** A client in its own process: starts a stream, reads two items, then says so and waits to be killed. */
import { RpcClient } from "../../src/rpc/index.js";

const [endpoint = "", heartbeat = "200"] = process.argv.slice(2);
const client = new RpcClient({ heartbeat: Number(heartbeat) });
client.connect(endpoint);
let seen = 0;
for await (const _item of client.call("forever")) {
  seen++;
  if (seen === 2) console.log("streaming");
}
