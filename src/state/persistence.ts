/**
 * Durability for a state server: an append-only log of changes plus periodic snapshots.
 *
 * Log record: `[u32 length][u32 crc32][payload]`, payload = MessagePack
 * `[seq, time, ns, key, after | nil, origin | nil]`. Recovery loads the snapshot, replays every
 * valid record after it, and stops at the first truncated or corrupt record: that tail is
 * reported and cut off, the valid prefix is kept.
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
import type { Store, StoredChange } from "./store.js";

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

  /** Opens (creating) the data directory and restores `store` from it. */
  static open(
    dir: string,
    fsync: FsyncPolicy,
    store: Store,
    snapshotEvery = 10_000,
  ): { persistence: Persistence; report: RecoveryReport } {
    mkdirSync(dir, { recursive: true });
    const report: RecoveryReport = { snapshotSeq: 0, replayed: 0, discardedBytes: 0, problem: undefined };
    const snapshotPath = join(dir, SNAPSHOT);
    if (existsSync(snapshotPath)) {
      const snapshot = unpackWire(readFileSync(snapshotPath)) as {
        seq: number;
        namespaces: Record<string, [string, Buffer, number][]>;
      };
      store.load(snapshot.seq, snapshot.namespaces);
      report.snapshotSeq = snapshot.seq;
    }
    const logPath = join(dir, LOG);
    let validLength = 0;
    if (existsSync(logPath)) {
      const log = readFileSync(logPath);
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
        const [seq, time, ns, key, after, origin] = unpackWire(payload) as [
          number,
          number,
          string,
          string,
          Buffer | null,
          string | null,
        ];
        if (seq > store.seq) {
          store.restore({ seq, time, ns, key, before: null, after, origin });
          report.replayed++;
        }
        offset += 8 + length;
        validLength = offset;
      }
      report.discardedBytes = log.length - validLength;
    }
    const fd = openSync(logPath, "a+");
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
    writeSync(fd, packWire({ seq: store.seq, namespaces: store.dump() }));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.#dir, SNAPSHOT));
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
