/**
 * RpcClient on the peer set: servers added by connect() or by a resolver (follow), removed by
 * disconnect() or when the resolver stops, and the status stream, over tcp and ipc.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClosedError, InvalidArgumentError } from "../../src/core/errors.js";
import {
  type PeerChange,
  type PeerResolver,
  type PeerStatus,
  RpcClient,
  RpcServer,
  staticResolver,
} from "../../src/rpc/index.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 20_000 };

async function named(transport: "tcp" | "ipc", who: string) {
  const server = new RpcServer({ whoami: () => who, hold: () => new Promise(() => undefined) });
  const address = await server.bind(freshEndpoint(transport));
  return { server, address, [Symbol.asyncDispose]: () => server[Symbol.asyncDispose]() };
}

/** Calls whoami until every name in `names` answered (round-robin reaches each once connected). */
async function reachAll(client: RpcClient, names: string[]): Promise<void> {
  const seen = new Set<string>();
  while (seen.size < names.length) seen.add(await client.call<string>("whoami"));
  assert.deepEqual([...seen].sort(), [...names].sort());
}

/** A resolver a test drives by hand: `push` reports a change, the stream ends when its signal aborts. */
function manualResolver(): PeerResolver & { push(change: PeerChange): void } {
  const queue: PeerChange[] = [];
  let wake: (() => void) | undefined;
  return {
    push(change) {
      queue.push(change);
      wake?.();
    },
    async *changes(signal) {
      const aborted = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      while (!signal.aborted) {
        const change = queue.shift();
        if (change) {
          yield change;
          continue;
        }
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
      }
    },
  };
}

async function nextStatus(stream: AsyncIterator<PeerStatus>, type: PeerStatus["type"]): Promise<PeerStatus> {
  for (;;) {
    const { value, done } = await stream.next();
    if (done) throw new Error(`the status stream ended before ${type}`);
    if (value.type === type) return value;
  }
}

for (const transport of networkTransports) {
  describe(`RpcClient peers over ${transport}`, () => {
    test("follow(staticResolver) reaches every server, and they stay after it ends", T, async () => {
      await using a = await named(transport, "A");
      await using b = await named(transport, "B");
      await using client = new RpcClient({ timeout: 10_000 });
      const controller = new AbortController();
      await client.follow(staticResolver([a.address, b.address]), { signal: controller.signal });
      await reachAll(client, ["A", "B"]);
      const held = client.call("hold");
      // The resolver already ended: aborting its signal now removes nothing.
      controller.abort();
      await reachAll(client, ["A", "B"]);
      client.close();
      await assert.rejects(held, ClosedError);
    });

    test(
      "a resolver that keeps reporting adds and removes servers; a removed one fails only its calls",
      T,
      async () => {
        await using a = await named(transport, "A");
        await using b = await named(transport, "B");
        await using client = new RpcClient({ timeout: 10_000 });
        const statuses = client.status();
        const resolver = manualResolver();
        const controller = new AbortController();
        const following = client.follow(resolver, { signal: controller.signal });
        resolver.push({ type: "add", endpoint: a.address });
        assert.equal((await nextStatus(statuses, "added")).endpoint, a.address);
        assert.equal(await client.call("whoami"), "A");
        resolver.push({ type: "add", endpoint: b.address });
        await nextStatus(statuses, "added");
        await reachAll(client, ["A", "B"]);
        // One hold on each server (round-robin), then A goes away.
        const holds = [client.call("hold"), client.call("hold")];
        resolver.push({ type: "remove", endpoint: a.address });
        assert.equal((await nextStatus(statuses, "removed")).endpoint, a.address);
        // Exactly A's hold fails; B's goes on waiting (until the client closes).
        const first = await Promise.race(
          holds.map((hold) =>
            hold.then(
              () => "answered",
              (error: unknown) => error,
            ),
          ),
        );
        assert.ok(first instanceof ClosedError, String(first));
        assert.deepEqual(await Promise.all([client.call("whoami"), client.call("whoami")]), ["B", "B"]);
        // Stopping the resolver removes what it added.
        controller.abort();
        await following;
        await assert.rejects(client.call("whoami"), ClosedError);
        await statuses.return?.();
      },
    );
  });
}

describe("RpcClient connect and disconnect", () => {
  test("connecting an endpoint twice is refused; disconnect of an unknown or malformed one is false", T, async () => {
    await using a = await named("tcp", "A");
    await using client = new RpcClient({ timeout: 10_000 });
    client.connect(a.address);
    assert.throws(() => client.connect(a.address), InvalidArgumentError);
    assert.equal(await client.call("whoami"), "A");
    assert.equal(client.disconnect("tcp://127.0.0.1:1"), false);
    assert.equal(client.disconnect("not an endpoint"), false);
    assert.equal(client.disconnect(a.address), true);
    await assert.rejects(client.call("whoami"), ClosedError);
    // And it can be connected again.
    client.connect(a.address);
    assert.equal(await client.call("whoami"), "A");
  });

  test("follow checks its resolver and refuses after close", async () => {
    const client = new RpcClient();
    await assert.rejects(client.follow({} as PeerResolver), InvalidArgumentError);
    client.close();
    await assert.rejects(client.follow(staticResolver([])), ClosedError);
  });
});
