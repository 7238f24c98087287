/**
 * `npm start`: serves examples/service.ts on a fresh local address and prints the commands that
 * call it from another terminal. Ctrl-C stops it; so do SIGTERM and SIGHUP (its terminal closed),
 * and each removes the ipc socket file, which libzmq leaves behind.
 *
 * It runs from the TypeScript sources through tsx (`node --import tsx`), so it needs no build.
 */
import { rmSync } from "node:fs";
import { defaultAddress } from "../src/index.js";
import { RpcServer } from "../src/rpc/index.js";
import * as service from "./service.js";

const server = new RpcServer(service, { name: service.name });
const address = await server.bind(defaultAddress());
const cli = `npx zerokit rpc`;
const rows: [string, string][] = [
  [`${cli} ${address}`, "list the methods"],
  [`${cli} -? ${address}`, "their signatures"],
  [`${cli} ${address} add 1 2 -j`, "3"],
  [`${cli} ${address} greet Ada`, "'Hello, Ada!'"],
  [`${cli} ${address} range 5 0.2 -j`, "a stream, one item per line"],
  [`${cli} ${address} fail "no luck"`, "a remote error (exit status 1)"],
  [`${cli} ${address} sleep 60 -j`, "then Ctrl-C: the call is cancelled on the server"],
];
// Listening before the address is printed: a signal sent as soon as it is read is handled.
const stopped = new Promise<NodeJS.Signals>((resolve) => {
  for (const name of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(name, resolve);
});
const width = Math.max(...rows.map(([command]) => command.length));

console.log(`serving "${server.name}" on ${address}

Call it from another terminal:
${rows.map(([command, what]) => `  ${command.padEnd(width)}   # ${what}`).join("\n")}

Ctrl-C stops the server.`);

const signal = await stopped;
server.close();
if (address.startsWith("ipc://")) rmSync(address.slice("ipc://".length), { force: true });
// After SIGHUP the terminal is gone: writing to it could fail, and nobody would read it.
if (signal !== "SIGHUP") console.log("stopped");
