/**
 * Namespaces and keys are user data: names like `__proto__` must survive a snapshot, a log replay
 * and a restart exactly like any other, and a data dir the server cannot load says why and where.
 */
import assert from "node:assert/strict";
import fs, { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { crc32 } from "node:zlib";
import { packObject, packWire } from "../../src/core/codec.js";
import { DataDirError, State, StateServer, startServer } from "../../src/state/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 30_000 };
const HOSTILE = ["__proto__", "constructor", "prototype", "hasOwnProperty", "", "toString", "__proto_", "0"];

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "zk-state-names-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

async function open(dataDir: string, snapshotEvery: number) {
  const server = await StateServer.start(freshEndpoint("ipc"), { dataDir, fsync: "always", snapshotEvery });
  const state = new State(server.address);
  return {
    server,
    state,
    async [Symbol.asyncDispose]() {
      await state[Symbol.asyncDispose]();
      server.close();
    },
  };
}

/** Every (namespace, key) pair holds `${ns}/${key}`, plus a plain namespace that must not vanish. */
async function writeAll(state: State): Promise<void> {
  for (const ns of [...HOSTILE, "plain"]) {
    const view = state.withNamespace(ns);
    for (const key of HOSTILE) await view.set(key, `${ns}/${key}`);
  }
}

async function checkAll(state: State): Promise<void> {
  for (const ns of [...HOSTILE, "plain"]) {
    const view = state.withNamespace(ns);
    assert.deepEqual((await view.keys()).sort(), [...HOSTILE].sort(), `keys of namespace ${JSON.stringify(ns)}`);
    for (const key of HOSTILE) assert.equal(await view.get(key), `${ns}/${key}`, `${ns}/${key}`);
    const entries = new Map(await view.entries());
    assert.equal(entries.size, HOSTILE.length);
    for (const key of HOSTILE) assert.equal(entries.get(key), `${ns}/${key}`);
    const snapshot = await view.snapshot();
    assert.equal(Object.getPrototypeOf(snapshot), Object.prototype, "a snapshot's prototype is never a value");
    for (const key of HOSTILE) {
      assert.ok(Object.hasOwn(snapshot, key), `own key ${JSON.stringify(key)}`);
      assert.equal((snapshot as Record<string, unknown>)[key], `${ns}/${key}`);
    }
  }
}

describe("hostile names", () => {
  test("survive a snapshot, a log replay and restarts", T, async () => {
    using tmp = tempDir();
    {
      // 72 writes with a snapshot every 50: the first 50 go to the snapshot, the rest stay in the log.
      await using s = await open(tmp.dir, 50);
      await writeAll(s.state);
      await checkAll(s.state);
    }
    {
      await using s = await open(tmp.dir, 50);
      assert.equal(s.server.recovery?.snapshotSeq, 50);
      assert.equal(s.server.recovery?.replayed, 22);
      await checkAll(s.state);
      // Rewrite every pair: the next snapshot holds every hostile name.
      await writeAll(s.state);
    }
    {
      await using s = await open(tmp.dir, 50);
      // The restarted server counted 50 appends from seq 72: its snapshot is at 122.
      assert.equal(s.server.recovery?.snapshotSeq, 122, "the second snapshot loaded");
      assert.equal(s.server.recovery?.replayed, 22);
      await checkAll(s.state);
      assert.equal(await s.state.withNamespace("__proto__").delete("__proto__"), true);
      assert.equal(await s.state.withNamespace("__proto__").has("__proto__"), false);
    }
  });

  test("conditions and watches on hostile names", T, async () => {
    await using server = await StateServer.start(freshEndpoint("ipc"));
    await using state = new State(server.address, { namespace: "__proto__" });
    const seen = state.whenEqual("__proto__", { polluted: false });
    await state.set("constructor", 1);
    await state.set("__proto__", { polluted: false });
    assert.deepEqual(await seen, { polluted: false });
    const all = await state.when((s) => Object.hasOwn(s, "constructor") && Object.hasOwn(s, "__proto__"));
    assert.equal(Object.getPrototypeOf(all), Object.prototype);
    await state.update(new Map([["hasOwnProperty", 2]]));
    assert.equal(await state.get("hasOwnProperty"), 2);
    await state.replace(new Map([["", 3]]));
    assert.deepEqual(await state.keys(), [""]);
  });
});

describe("a data dir that cannot be loaded", () => {
  test("a snapshot that is not one fails with a DataDirError naming the file", T, async () => {
    using tmp = tempDir();
    const file = join(tmp.dir, "snapshot.msgpack");
    for (const [bytes, reason] of [
      [Buffer.from([0xc1, 0x00]), /not valid MessagePack/],
      [packWire(["zerokit-state", 9, 1, []]), /format 9 is not supported/],
      [packWire(["zerokit-state", 2, 1, [["ns", [["k", "not bytes", 1]]]]]), /entry #0 of namespace "ns"/],
      [packWire({ seq: 1, namespaces: [] }), /probably written with a namespace named __proto__/],
      [packWire("text"), /not a zerokit state snapshot/],
    ] as const) {
      writeFileSync(file, bytes);
      await assert.rejects(
        StateServer.start(freshEndpoint("ipc"), { dataDir: tmp.dir }),
        (e: unknown) => e instanceof DataDirError && e.code === "EDATADIR" && e.file === file && reason.test(e.reason),
      );
    }
    // In its own process the server reports the same typed error.
    await assert.rejects(
      startServer(freshEndpoint("ipc"), { dataDir: tmp.dir }),
      (e: unknown) => e instanceof DataDirError && e.file === file,
    );
  });

  test("a first-format snapshot (namespaces as a map) still loads", T, async () => {
    using tmp = tempDir();
    writeFileSync(
      join(tmp.dir, "snapshot.msgpack"),
      packWire({ seq: 2, namespaces: { a: [["k", packObject("old"), 2]] } }),
    );
    await using server = await StateServer.start(freshEndpoint("ipc"), { dataDir: tmp.dir });
    await using state = new State(server.address, { namespace: "a" });
    assert.equal(await state.get("k"), "old");
    assert.equal(await state.set("k2", 1), 3, "the sequence continues from the snapshot");
  });

  test("a log record with a valid checksum but a wrong shape, or a gap, fails with a DataDirError", T, async () => {
    using tmp = tempDir();
    const file = join(tmp.dir, "changes.log");
    const record = (value: unknown) => {
      const payload = packWire(value);
      const header = Buffer.alloc(8);
      header.writeUInt32LE(payload.length, 0);
      header.writeUInt32LE(crc32(payload) >>> 0, 4);
      return Buffer.concat([header, payload]);
    };
    const good = record([1, 0, "ns", "k", Buffer.from([1]), null]);
    for (const [log, reason] of [
      [Buffer.concat([good, record([2, 0, "ns", 5, null, null])]), /record at byte \d+ is not \[seq/],
      [Buffer.concat([good, record([7, 0, "ns", "k", null, null])]), /has seq 7, expected 2/],
    ] as const) {
      writeFileSync(file, log);
      await assert.rejects(
        StateServer.start(freshEndpoint("ipc"), { dataDir: tmp.dir }),
        (e: unknown) => e instanceof DataDirError && e.file === file && reason.test(e.reason),
      );
    }
  });
});

describe("durability", () => {
  test("after the snapshot's rename the directory is fsynced", T, async () => {
    using tmp = tempDir();
    const events: string[] = [];
    const { renameSync, fsyncSync } = fs;
    // Wrapping the real calls (they still run) shows their order; ESM importers see it once synced.
    const patched = fs as unknown as Record<string, unknown>;
    patched.renameSync = (from: string, to: string) => {
      events.push(`rename ${to.endsWith("snapshot.msgpack") ? "snapshot" : "other"}`);
      renameSync(from, to);
    };
    patched.fsyncSync = (fd: number) => {
      events.push(fs.fstatSync(fd).isDirectory() ? "fsync dir" : "fsync file");
      fsyncSync(fd);
    };
    syncBuiltinESMExports();
    try {
      await using s = await open(tmp.dir, 3);
      events.length = 0;
      for (let i = 0; i < 3; i++) await s.state.set(`k${i}`, i);
      const rename = events.indexOf("rename snapshot");
      assert.ok(rename >= 0, `a snapshot was written: ${events.join(", ")}`);
      assert.ok(events.indexOf("fsync dir", rename) > rename, `the directory is synced after: ${events.join(", ")}`);
      assert.ok(readdirSync(tmp.dir).includes("snapshot.msgpack"));
    } finally {
      patched.renameSync = renameSync;
      patched.fsyncSync = fsyncSync;
      syncBuiltinESMExports();
    }
  });
});
