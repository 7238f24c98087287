/**
 * CURVE on the state layer: a state server started in its own process with a client allowlist
 * (the policy crosses to that process, which builds the authenticator), States with and without
 * an allowed key, watchers over CURVE, and workers of a Context against a CURVE server. Unlisted
 * clients are given a State timeout far beyond the test's, so failing with EAUTH (not a timeout)
 * shows the refusal arrives promptly, without a timing threshold.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Authenticator, generateKeyPair, writeCertificates } from "../../src/index.js";
import { Context, type ServerHandle, State, startServer } from "../../src/state/index.js";
import { freshEndpoint } from "../helpers.js";

const work = new URL("./work.js", import.meta.url);
const NEVER = 3_600_000;

const isEauth = (error: unknown) => {
  assert.equal((error as { code?: string }).code, "EAUTH", String(error));
  assert.equal((error as Error).name, "AuthenticationError");
  return true;
};

for (const transport of ["tcp", "ipc"] as const) {
  describe(`state over CURVE (${transport})`, () => {
    const serverKeys = generateKeyPair();
    const allowed = generateKeyPair();
    const serverKey = serverKeys.publicKey;
    const start = () =>
      startServer(freshEndpoint(transport), {
        security: {
          curve: { secretKey: serverKeys.secretKey },
          authenticator: { curve: { keys: [allowed.publicKey] } },
        },
      });

    test("an allowed key reads and writes; an unlisted key gets EAUTH and reads nothing", {
      timeout: 60_000,
    }, async () => {
      await using server = await start();
      await using state = new State(server.address, { security: { curve: { serverKey, ...allowed } } });
      await state.set("secret", { n: 1 });
      assert.deepEqual(await state.get("secret"), { n: 1 });

      // An unlisted key, an anonymous (fresh) key, and a plaintext client: all refused.
      const stranger = generateKeyPair();
      for (const security of [{ curve: { serverKey, ...stranger } }, { curve: { serverKey } }, undefined]) {
        await using other = new State(server.address, { timeout: NEVER, ...(security ? { security } : {}) });
        await assert.rejects(other.get("secret"), isEauth);
        await assert.rejects(other.set("secret", "overwritten"));
      }
      assert.deepEqual(await state.get("secret"), { n: 1 }, "a refused client wrote nothing");
    });

    test("watchers work encrypted", { timeout: 60_000 }, async () => {
      await using server = await start();
      const security = { curve: { serverKey, ...allowed } };
      await using watcher = new State(server.address, { security });
      await using writer = new State(server.address, { security });
      const controller = new AbortController();
      const seen: unknown[] = [];
      const done = (async () => {
        for await (const change of watcher.watch(["k"], { since: 0, signal: controller.signal })) {
          seen.push(change.after);
          if (seen.length === 3) controller.abort();
        }
      })();
      for (const value of [1, 2, 3]) await writer.set("k", value);
      await done;
      assert.deepEqual(seen, [1, 2, 3]);
    });

    test("workers of a context connect with the context's security (map and spawn)", { timeout: 90_000 }, async () => {
      await using server = await start();
      await using ctx = await Context.start(server.address, { security: { curve: { serverKey, ...allowed } } });
      assert.deepEqual(await ctx.map(work, "square", [1, 2, 3, 4], { workers: 2 }), [1, 4, 9, 16]);
      await ctx.state.set("count", 0);
      const [worker] = ctx.spawn(work, { args: [5] });
      await worker?.result;
      assert.equal(await ctx.state.get("count"), 5);
    });
  });
}

describe("state security options", () => {
  test("a context that starts its own CURVE server talks to it (any key allowed)", { timeout: 60_000 }, async () => {
    const keys = generateKeyPair();
    await using ctx = await Context.start(undefined, {
      server: { security: { curve: { secretKey: keys.secretKey }, authenticator: { curve: "any" } } },
    });
    await ctx.state.set("a", 1);
    assert.equal(await ctx.state.get("a"), 1);
    await using plain = new State(ctx.address, { timeout: NEVER });
    await assert.rejects(plain.get("a"), isEauth);
  });

  test("a certificate directory allowlist, in process and in its own process", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "zk-state-sec-"));
    try {
      const server = await writeCertificates(dir, "server");
      const client = await writeCertificates(join(dir, "clients"), "client");
      for (const inProcess of [true, false]) {
        const handle: ServerHandle = await startServer(freshEndpoint("tcp"), {
          inProcess,
          security: {
            curve: { secretKey: server.secretKey },
            authenticator: { curve: { directory: join(dir, "clients") } },
          },
        });
        try {
          await using state = new State(handle.address, {
            security: {
              curve: { serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey },
            },
          });
          assert.equal(await state.set("x", inProcess), 1);
        } finally {
          await handle.stop();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("in process, a running authenticator is the caller's: it outlives the server", { timeout: 60_000 }, async () => {
    const keys = generateKeyPair();
    const client = generateKeyPair();
    const auth = new Authenticator({ curve: { keys: [client.publicKey] } });
    try {
      const security = { curve: { serverKey: keys.publicKey, ...client } };
      for (let round = 0; round < 2; round++) {
        const handle = await startServer(freshEndpoint("tcp"), {
          inProcess: true,
          security: { curve: { secretKey: keys.secretKey }, authenticator: auth },
        });
        try {
          await using state = new State(handle.address, { security });
          assert.equal(await state.set("round", round), 1);
        } finally {
          await handle.stop();
        }
      }
      assert.ok(auth.stats.allowed >= 2, JSON.stringify(auth.stats));
    } finally {
      auth.close();
    }
  });

  test("bad security options are EINVAL, naming the option", { timeout: 20_000 }, async () => {
    const keys = generateKeyPair();
    await assert.rejects(startServer(freshEndpoint("tcp"), { security: { curve: { secretKey: "short" } } }), {
      code: "EINVAL",
      message: /security\.curve\.secretKey/,
    });
    await assert.rejects(
      startServer(freshEndpoint("tcp"), {
        security: { curve: { secretKey: keys.secretKey }, authenticator: { curve: { keys: ["nope"] } } },
      }),
      { code: "EINVAL", message: /security\.authenticator/ },
    );
    const auth = new Authenticator({ curve: "any" });
    try {
      // A running authenticator cannot cross to the server's process.
      await assert.rejects(
        startServer(freshEndpoint("tcp"), { security: { curve: { secretKey: keys.secretKey }, authenticator: auth } }),
        { code: "EINVAL", message: /security\.authenticator/ },
      );
    } finally {
      auth.close();
    }
    assert.throws(() => new State("tcp://127.0.0.1:1", { security: { curve: { serverKey: "x" } } }), {
      code: "EINVAL",
      message: /security\.curve\.serverKey/,
    });
  });
});
