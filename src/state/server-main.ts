/**
 * Entry of a state server running in its own process (see `startServer`). Options arrive as
 * JSON in argv[2]; the bound address goes back over IPC. The server stops when the parent asks,
 * or when the parent dies (the IPC channel closes), so it never outlives its starter.
 */
import { StateServer, type StateServerOptions } from "./server.js";

const { address, options } = JSON.parse(process.argv[2] ?? "{}") as { address?: string; options: StateServerOptions };
try {
  const server = await StateServer.start(address, options);
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.on("message", (message) => {
    if (message === "stop") stop();
  });
  process.on("disconnect", stop);
  process.send?.({ address: server.address, recovery: server.recovery });
} catch (error) {
  const { name, message, file, reason } = error as Error & { file?: string; reason?: string };
  process.send?.({ error: { name, message, file, reason } });
  process.exit(1);
}
