/**
 * A flow giver in its own process: `node flow-child.js TYPE ADDRESS CREDIT COUNT` connects a
 * CLIENT or DEALER port to ADDRESS, offers CREDIT, puts COUNT messages (payload: the index), ends
 * with EOT and prints the echo's label as a JSON line.
 */
import * as zmq from "zeromq";
import { Flow, Message, Port, type SocketType } from "../../src/zio/index.js";

zmq.context.blocky = false;

const [type = "CLIENT", address = "", credit = "10", count = "0"] = process.argv.slice(2);
const port = new Port("giver", type as SocketType);
port.connect(address);
await port.online();
const flow = new Flow(port, { direction: "extract", credit: Number(credit), timeout: 20_000 });
await flow.bot();
for (let i = 0; i < Number(count); i++) await flow.put(new Message({ payload: [String(i)] }));
const echo = await flow.eot();
process.stdout.write(`${JSON.stringify({ echo: echo.label, credit: flow.totalCredit })}\n`);
await port.close();
process.exit(0);
