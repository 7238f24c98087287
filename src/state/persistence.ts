/**
 * Durability for a state server: an append-only log of changes plus periodic snapshots.
 *
 * Log record: `[u32 length][u32 crc32][payload]`, payload = MessagePack
 * `[seq, time, ns, key, after | nil, origin | nil]`. Recovery loads the snapshot, replays every
 * valid record after it, and stops at the first truncated or corrupt record: that tail is
 * reported and cut off, the valid prefix is kept. Snapshot: `[MAGIC, 2, seq, namespaces]`, where
 * namespaces are Map entries as lists (`[ns, [key, value, version][]][]`): names are user data and
 * never become object keys. A file that is not what it should be fails with a {@link DataDirError}.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { packWire, unpackWire } from "../core/codec.js";
import { DataDirError } from "./errors.js";
import type { DumpedNamespaces, Store, StoredChange } from "./store.js";

/** When the log is flushed to disk. `"always"`: before each write is acknowledged. */
export type FsyncPolicy = "always" | "everysec" | "no";

/** What recovery found. */
export interface RecoveryReport {
  /** Seq of the loaded snapshot (0 if none). */
  snapshotSeq: number;
  /** Log records replayed after the snapshot. */
  replayed: number;
  /** Bytes of a truncated or corrupt log tail that were cut off (0 if the log was clean). */
  discardedBytes: number;
  /** Why the tail was discarded, if it was. */
  problem: string | undefined;
}

const SNAPSHOT = "snapshot.msgpack";
const LOG = "changes.log";
/** First item of a snapshot file; the format after it is `[MAGIC, 2, seq, [ns, [key, value, version][]][]]`. */
const MAGIC = "zerokit-state";
const FORMAT = 2;

const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value);
const describe = (value: unknown): string =>
  value === null ? "nil" : Buffer.isBuffer(value) ? "bytes" : Array.isArray(value) ? "an array" : typeof value;

/** A copy of bytes decoded from a file, so one stored value does not keep the whole file buffer alive. */
function own(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** Checks a decoded snapshot and returns its seq and namespaces, or says what is wrong. */
function parseSnapshot(file: string, decoded: unknown): { seq: number; namespaces: DumpedNamespaces } {
  const fail = (reason: string): never => {
    throw new DataDirError(file, reason);
  };
  let seq: unknown;
  let list: unknown;
  if (Array.isArray(decoded) && decoded[0] === MAGIC) {
    if (decoded[1] !== FORMAT)
      fail(`snapshot format ${String(decoded[1])} is not supported (this version reads ${FORMAT})`);
    [, , seq, list] = decoded;
  } else if (decoded !== null && typeof decoded === "object" && !Array.isArray(decoded) && !Buffer.isBuffer(decoded)) {
    // The first format, `{seq, namespaces: {ns: entries}}`: readable as long as no name was hostile.
    const legacy = decoded as { seq?: unknown; namespaces?: unknown };
    seq = legacy.seq;
    const spaces = legacy.namespaces;
    if (spaces === null || typeof spaces !== "object" || Array.isArray(spaces))
      fail(
        "the namespaces of this (first-format) snapshot are not a map; it was probably written with a namespace named __proto__",
      );
    list = Object.entries(spaces as object);
  } else {
    fail(`not a zerokit state snapshot (found ${describe(decoded)})`);
  }
  if (!isInteger(seq) || seq < 0) fail(`the snapshot seq is ${String(seq)}, not an integer ≥ 0`);
  if (!Array.isArray(list)) fail(`the snapshot's namespaces are ${describe(list)}, not a list`);
  const namespaces: DumpedNamespaces = [];
  const seen = new Set<string>();
  for (const [i, item] of (list as unknown[]).entries()) {
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string" || !Array.isArray(item[1]))
      fail(`namespace #${i} is not [name, entries]`);
    const [ns, entries] = item as [string, unknown[]];
    if (seen.has(ns)) fail(`namespace ${JSON.stringify(ns)} appears twice`);
    seen.add(ns);
    const keys = new Set<string>();
    const out: [string, Buffer, number][] = [];
    for (const [j, entry] of entries.entries()) {
      const [key, value, version] = Array.isArray(entry) ? entry : [];
      if (!Array.isArray(entry) || entry.length !== 3 || typeof key !== "string" || !Buffer.isBuffer(value))
        fail(`entry #${j} of namespace ${JSON.stringify(ns)} is not [key, bytes, version]`);
      if (!isInteger(version) || version < 1 || version > (seq as number))
        fail(
          `key ${JSON.stringify(key)} of namespace ${JSON.stringify(ns)} has version ${String(version)}, outside 1..${String(seq)}`,
        );
      if (keys.has(key as string)) fail(`key ${JSON.stringify(key)} appears twice in namespace ${JSON.stringify(ns)}`);
      keys.add(key as string);
      out.push([key as string, own(value as Buffer), version as number]);
    }
    namespaces.push([ns, out]);
  }
  return { seq: seq as number, namespaces };
}

/** Checks one decoded log record (its checksum already matched, so a bad shape is not a torn write). */
function parseRecord(file: string, offset: number, decoded: unknown): StoredChange {
  const [seq, time, ns, key, after, origin] = Array.isArray(decoded) ? decoded : [];
  const ok =
    Array.isArray(decoded) &&
    decoded.length === 6 &&
    isInteger(seq) &&
    seq >= 1 &&
    typeof time === "number" &&
    typeof ns === "string" &&
    typeof key === "string" &&
    (after === null || Buffer.isBuffer(after)) &&
    (origin === null || typeof origin === "string");
  if (!ok)
    throw new DataDirError(file, `the record at byte ${offset} is not [seq, time, namespace, key, value, origin]`);
  return {
    seq: seq as number,
    time: time as number,
    ns: ns as string,
    key: key as string,
    before: null,
    after: after === null ? null : own(after as Buffer),
    origin: origin as string | null,
  };
}

function readOrFail(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new DataDirError(file, `cannot read it (${(error as Error).message})`, { cause: error });
  }
}

/** fsyncs a directory, so a rename or a new file in it survives power loss, not only a crash. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class Persistence {
  readonly #dir: string;
  readonly #fsync: FsyncPolicy;
  #fd: number;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #sinceSnapshot = 0;
  readonly #snapshotEvery: number;

  private constructor(dir: string, fsync: FsyncPolicy, fd: number, snapshotEvery: number) {
    this.#dir = dir;
    this.#fsync = fsync;
    this.#fd = fd;
    this.#snapshotEvery = snapshotEvery;
    if (fsync === "everysec") {
      this.#timer = setInterval(() => this.flush(), 1000);
      this.#timer.unref();
    }
  }

  /**
   * Opens (creating) the data directory and restores `store` from it.
   * @throws {DataDirError} naming the file and what is wrong when the directory cannot be loaded.
   */
  static open(
    dir: string,
    fsync: FsyncPolicy,
    store: Store,
    snapshotEvery = 10_000,
  ): { persistence: Persistence; report: RecoveryReport } {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new DataDirError(dir, `cannot create the directory (${(error as Error).message})`, { cause: error });
    }
    const report: RecoveryReport = { snapshotSeq: 0, replayed: 0, discardedBytes: 0, problem: undefined };
    const snapshotPath = join(dir, SNAPSHOT);
    if (existsSync(snapshotPath)) {
      let decoded: unknown;
      try {
        decoded = unpackWire(readOrFail(snapshotPath));
      } catch (error) {
        if (error instanceof DataDirError) throw error;
        throw new DataDirError(snapshotPath, `not valid MessagePack (${(error as Error).message})`, { cause: error });
      }
      const snapshot = parseSnapshot(snapshotPath, decoded);
      store.load(snapshot.seq, snapshot.namespaces);
      report.snapshotSeq = snapshot.seq;
    }
    const logPath = join(dir, LOG);
    let validLength = 0;
    if (existsSync(logPath)) {
      const log = readOrFail(logPath);
      let offset = 0;
      while (offset < log.length) {
        if (offset + 8 > log.length) {
          report.problem = `truncated record header at byte ${offset}`;
          break;
        }
        const length = log.readUInt32LE(offset);
        const checksum = log.readUInt32LE(offset + 4);
        if (offset + 8 + length > log.length) {
          report.problem = `truncated record at byte ${offset}`;
          break;
        }
        const payload = log.subarray(offset + 8, offset + 8 + length);
        if (crc32(payload) >>> 0 !== checksum) {
          report.problem = `corrupt record (checksum mismatch) at byte ${offset}`;
          break;
        }
        let decoded: unknown;
        try {
          decoded = unpackWire(payload);
        } catch (error) {
          throw new DataDirError(logPath, `the record at byte ${offset} is not valid MessagePack`, { cause: error });
        }
        const change = parseRecord(logPath, offset, decoded);
        // Records up to the snapshot's seq are left from a crash between its rename and the log's reset.
        if (change.seq > store.seq) {
          if (change.seq !== store.seq + 1)
            throw new DataDirError(
              logPath,
              `the record at byte ${offset} has seq ${change.seq}, expected ${store.seq + 1}`,
            );
          store.restore(change);
          report.replayed++;
        }
        offset += 8 + length;
        validLength = offset;
      }
      report.discardedBytes = log.length - validLength;
    }
    const created = !existsSync(logPath);
    let fd: number;
    try {
      fd = openSync(logPath, "a+");
      if (created) syncDirectory(dir);
    } catch (error) {
      throw new DataDirError(logPath, `cannot open it for appending (${(error as Error).message})`, { cause: error });
    }
    if (report.discardedBytes > 0) {
      ftruncateSync(fd, validLength);
      fsyncSync(fd);
    }
    return { persistence: new Persistence(dir, fsync, fd, snapshotEvery), report };
  }

  /** Appends one change; with `fsync: "always"` it is on disk when this returns. */
  append(change: StoredChange): void {
    const payload = packWire([change.seq, change.time, change.ns, change.key, change.after, change.origin]);
    const record = Buffer.allocUnsafe(8 + payload.length);
    record.writeUInt32LE(payload.length, 0);
    record.writeUInt32LE(crc32(payload) >>> 0, 4);
    payload.copy(record, 8);
    writeSync(this.#fd, record);
    if (this.#fsync === "always") fsyncSync(this.#fd);
    else this.#dirty = true;
    this.#sinceSnapshot++;
  }

  /** Whether enough changes accumulated to write a snapshot. */
  get snapshotDue(): boolean {
    return this.#sinceSnapshot >= this.#snapshotEvery;
  }

  /** Writes a snapshot of `store` atomically, then starts a fresh log. */
  snapshot(store: Store): void {
    const tmp = join(this.#dir, `${SNAPSHOT}.tmp`);
    const fd = openSync(tmp, "w");
    writeSync(fd, packWire([MAGIC, FORMAT, store.seq, store.dump()]));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.#dir, SNAPSHOT));
    // The rename is only durable once the directory entry is: without this, power loss can bring
    // back the old snapshot next to the emptied log below, losing every change since.
    syncDirectory(this.#dir);
    ftruncateSync(this.#fd, 0);
    fsyncSync(this.#fd);
    this.#sinceSnapshot = 0;
  }

  flush(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    fsyncSync(this.#fd);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.flush();
    closeSync(this.#fd);
  }
}
