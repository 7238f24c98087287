/** An echo ROUTER for the connection-layer tests, with the given server security. */
import type { ServerSecurity } from "../../src/core/security/index.js";
import { serverSocketOptions } from "../../src/core/security/index.js";
import { Router } from "../../src/core/sockets.js";
import { freshEndpoint } from "../helpers.js";

/**
 * Binds a ROUTER that answers `[payload]` with `[name, payload]` (or `[payload]` without a name);
 * `seen` is every payload it received, so a test can show what never arrived.
 */
export async function echoRouter(transport: "tcp" | "ipc", security: ServerSecurity = {}, name?: string) {
  await security.authenticator?.start();
  const router = new Router({ ...serverSocketOptions(security), linger: 0 });
  const endpoint = await router.bind(freshEndpoint(transport));
  const seen: string[] = [];
  void (async () => {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return;
      }
      const [identity, payload] = frames;
      if (!identity || !payload) continue;
      seen.push(payload.toString());
      router.post(name === undefined ? [identity, payload] : [identity, name, payload]);
    }
  })();
  return { endpoint, seen, router, close: () => router.close(), [Symbol.asyncDispose]: async () => router.close() };
}
