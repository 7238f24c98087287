/** Remote errors back to typed errors through the one registry, end to end over a real server. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError, RemoteError } from "../../src/core/errors.js";
import { RpcClient, RpcServer, registerRemoteError } from "../../src/rpc/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 20_000 };

class QuotaError extends Error {
  override name = "QuotaError";
}

function thrower(name: string) {
  return () => {
    const error = new Error(`${name} raised`);
    error.name = name;
    throw error;
  };
}

describe("remote error registry", () => {
  test(
    "a registered name comes back as its typed error (the RemoteError its cause); unregistering undoes it",
    T,
    async () => {
      await using server = new RpcServer({ quota: thrower("QuotaError"), other: thrower("OtherError") });
      const address = await server.bind(freshEndpoint("tcp"));
      await using client = new RpcClient({ timeout: 10_000 });
      client.connect(address);
      const unregister = registerRemoteError(
        "QuotaError",
        (remote) => new QuotaError(remote.remoteMessage, { cause: remote }),
      );
      try {
        const error = await client.call("quota").then(
          () => assert.fail("must fail"),
          (e: unknown) => e,
        );
        assert.ok(error instanceof QuotaError, String(error));
        assert.equal((error as Error).message, "QuotaError raised");
        assert.ok((error as Error).cause instanceof RemoteError);
        // Other names stay RemoteErrors.
        await assert.rejects(
          client.call("other"),
          (e: unknown) => e instanceof RemoteError && e.remoteName === "OtherError",
        );
      } finally {
        unregister();
      }
      await assert.rejects(
        client.call("quota"),
        (e: unknown) => e instanceof RemoteError && e.remoteName === "QuotaError",
      );
    },
  );

  test(
    "a client hook's replacement wins; a factory that throws or returns a non-error leaves the RemoteError",
    T,
    async () => {
      await using server = new RpcServer({ a: thrower("HookedError"), b: thrower("BrokenFactory"), c: thrower("Odd") });
      const address = await server.bind(freshEndpoint("tcp"));
      const replaced = new Error("from the hook");
      await using client = new RpcClient({
        timeout: 10_000,
        hooks: { onRemoteError: (_request, error) => (error.remoteName === "HookedError" ? replaced : undefined) },
      });
      client.connect(address);
      const undo = [
        registerRemoteError("HookedError", (remote) => new QuotaError("not this one", { cause: remote })),
        registerRemoteError("BrokenFactory", () => {
          throw new Error("factory bug");
        }),
        registerRemoteError("Odd", () => "not an error" as unknown as Error),
      ];
      try {
        await assert.rejects(client.call("a"), (e: unknown) => e === replaced);
        await assert.rejects(
          client.call("b"),
          (e: unknown) => e instanceof RemoteError && e.remoteName === "BrokenFactory",
        );
        await assert.rejects(client.call("c"), (e: unknown) => e instanceof RemoteError && e.remoteName === "Odd");
      } finally {
        for (const u of undo) u();
      }
    },
  );

  test("registration is checked: a name, a function, one factory per name; hostile names are just names", () => {
    assert.throws(() => registerRemoteError("", () => new Error()), InvalidArgumentError);
    assert.throws(() => registerRemoteError(7 as unknown as string, () => new Error()), InvalidArgumentError);
    assert.throws(() => registerRemoteError("X", "f" as never), InvalidArgumentError);
    assert.throws(() => registerRemoteError("X", undefined as never), InvalidArgumentError);
    const undo = registerRemoteError("__proto__", () => new QuotaError("proto"));
    try {
      assert.throws(() => registerRemoteError("__proto__", () => new Error()), InvalidArgumentError);
    } finally {
      undo();
    }
    // Removed: the name is free again, and undoing twice removes nothing else.
    const again = registerRemoteError("__proto__", () => new Error());
    undo();
    assert.throws(() => registerRemoteError("__proto__", () => new Error()), InvalidArgumentError);
    again();
  });
});
