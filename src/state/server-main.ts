/**
 * Entry of a state server running in its own process (see `startServer`). The configuration
 * arrives as the first IPC message, not in argv, where any user of the machine could read a
 * secret key; the bound address goes back over IPC. The server stops when the parent asks, or
 * when the parent dies (the IPC channel closes), so it never outlives its starter.
 */
import { fromWire, type WireSecurity } from "./security.js";
import { StateServer, type StateServerOptions } from "./server.js";

interface Config {
  address?: string;
  options: StateServerOptions;
  security?: WireSecurity;
}

process.on("disconnect", () => process.exit(0));
process.once("message", async ({ address, options, security }: Config) => {
  try {
    // The authenticator lives here, in the process that owns the server socket (ZAP is in-process).
    const built = await fromWire(security);
    const server = await StateServer.start(address, { ...options, security: built.security });
    const stop = () => {
      server.close();
      built.authenticator?.close();
      process.exit(0);
    };
    process.on("message", (message) => {
      if (message === "stop") stop();
    });
    process.removeAllListeners("disconnect");
    process.on("disconnect", stop);
    process.send?.({ address: server.address, recovery: server.recovery });
  } catch (error) {
    const { name, message, file, reason } = error as Error & { file?: string; reason?: string };
    process.send?.({ error: { name, message, file, reason } });
    process.exit(1);
  }
});
