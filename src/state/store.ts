/**
 * The state server's memory: namespaces of key → encoded value, a global change sequence, and a
 * bounded history of changes for watchers. Values stay encoded (object codec bytes) so a write
 * costs the size of the value written, never the size of the state.
 *
 * Namespaces and keys are user data: they live in Maps only, never as object properties, so
 * `__proto__`, `constructor` or `""` are names like any other.
 */
import { HistoryTruncatedError } from "./errors.js";

/** One change, as stored and sent to watchers. */
export interface StoredChange {
  seq: number;
  time: number;
  ns: string;
  key: string;
  before: Buffer | null;
  after: Buffer | null;
  origin: string | null;
}

interface Entry {
  value: Buffer;
  version: number;
}

/** What a snapshot holds: `[namespace, [key, value, version][]][]`, Map entries in order. */
export type DumpedNamespaces = [string, [string, Buffer, number][]][];

/** Bounds of a {@link Store}'s history. */
export interface StoreLimits {
  /** Changes kept at most. */
  historyLimit: number;
  /** Bytes of values (before and after) the kept changes may hold at most; the newest change is always kept. */
  historyBytes: number;
}

/** Counts a state server reports about its memory (see `StateServer.stats`). */
export interface StoreStats {
  namespaces: number;
  keys: number;
  /** Changes in the history now. */
  historyChanges: number;
  /** Bytes of values the history holds now. */
  historyBytes: number;
}

const EMPTY: ReadonlyMap<string, Entry> = new Map();
/** Tombstones kept at most: they only make transactions more conservative, so old ones may go. */
const MAX_TOMBSTONES = 100_000;
/** Per-change bookkeeping counted against `historyBytes` besides the values. */
const CHANGE_OVERHEAD = 64;

function changeBytes(change: StoredChange): number {
  return (
    CHANGE_OVERHEAD +
    (change.before?.length ?? 0) +
    (change.after?.length ?? 0) +
    2 * (change.ns.length + change.key.length)
  );
}

/** A collision-free composite of (namespace, key): the length prefix says where the namespace ends. */
function pairKey(ns: string, key: string): string {
  return `${ns.length}:${ns}${key}`;
}

export class Store {
  readonly #namespaces = new Map<string, Map<string, Entry>>();
  /** Versions of deleted keys, so a transaction that read "absent" still detects a re-create. */
  readonly #tombstones = new Map<string, number>();
  readonly #history: (StoredChange | undefined)[];
  readonly #historyLimit: number;
  readonly #historyMaxBytes: number;
  #historyBytes = 0;
  /** The oldest seq the history may still hold. */
  #first = 1;
  #seq = 0;
  #keys = 0;
  /** Called for every change before it is visible (persistence appends here). */
  onChange: ((change: StoredChange) => void) | undefined;

  constructor(limits: StoreLimits) {
    this.#historyLimit = Math.max(1, limits.historyLimit);
    this.#historyMaxBytes = Math.max(1, limits.historyBytes);
    this.#history = new Array(this.#historyLimit);
  }

  get seq(): number {
    return this.#seq;
  }

  /** The oldest sequence number still in the history. */
  get oldest(): number {
    return this.#first;
  }

  get stats(): StoreStats {
    return {
      namespaces: this.#namespaces.size,
      keys: this.#keys,
      historyChanges: this.#seq - this.#first + 1,
      historyBytes: this.#historyBytes,
    };
  }

  /** A namespace's entries for reading; a name never written reads as empty and creates nothing. */
  read(ns: string): ReadonlyMap<string, Entry> {
    return this.#namespaces.get(ns) ?? EMPTY;
  }

  namespaces(): string[] {
    return [...this.#namespaces.keys()];
  }

  get(ns: string, key: string): Buffer | undefined {
    return this.#namespaces.get(ns)?.get(key)?.value;
  }

  /** The version of a key: the seq of its last change (0 if it never existed). */
  version(ns: string, key: string): number {
    const live = this.#namespaces.get(ns)?.get(key);
    if (live) return live.version;
    return this.#tombstones.size > 0 ? (this.#tombstones.get(pairKey(ns, key)) ?? 0) : 0;
  }

  /** Writes (or deletes, with `null`) one key and records the change. Returns it, or undefined if nothing changed. */
  write(
    ns: string,
    key: string,
    value: Buffer | null,
    origin: string | null,
    time = Date.now(),
  ): StoredChange | undefined {
    let map = this.#namespaces.get(ns);
    const previous = map?.get(key);
    if (value === null && !previous) return undefined;
    const seq = this.#seq + 1;
    const change: StoredChange = { seq, time, ns, key, before: previous?.value ?? null, after: value, origin };
    this.onChange?.(change);
    this.#seq = seq;
    if (value === null) {
      (map as Map<string, Entry>).delete(key);
      this.#keys--;
      // An empty namespace holds nothing: a name written once and cleared costs no memory.
      if (map?.size === 0) this.#namespaces.delete(ns);
      this.#tomb(ns, key, seq);
    } else {
      if (!map) {
        map = new Map();
        this.#namespaces.set(ns, map);
      }
      if (!previous) this.#keys++;
      map.set(key, { value, version: seq });
      // Most states never delete; skip building the tombstone key on every write then.
      if (this.#tombstones.size > 0) this.#tombstones.delete(pairKey(ns, key));
    }
    this.#record(change);
    return change;
  }

  #tomb(ns: string, key: string, seq: number): void {
    const k = pairKey(ns, key);
    this.#tombstones.delete(k);
    this.#tombstones.set(k, seq);
    if (this.#tombstones.size > MAX_TOMBSTONES) {
      const oldest = this.#tombstones.keys().next().value as string;
      this.#tombstones.delete(oldest);
    }
  }

  #record(change: StoredChange): void {
    const seq = change.seq;
    while (seq - this.#first + 1 > this.#historyLimit) this.#evict();
    this.#history[seq % this.#historyLimit] = change;
    this.#historyBytes += changeBytes(change);
    while (this.#historyBytes > this.#historyMaxBytes && this.#first < seq) this.#evict();
  }

  /** Drops the oldest change of the history. */
  #evict(): void {
    const slot = this.#first % this.#historyLimit;
    const change = this.#history[slot];
    if (change && change.seq === this.#first) {
      this.#historyBytes -= changeBytes(change);
      this.#history[slot] = undefined;
    }
    this.#first++;
  }

  /** Restores one change during recovery (its seq must follow the store's), keeping its time. */
  restore(change: StoredChange): void {
    const saved = this.onChange;
    this.onChange = undefined;
    try {
      this.#seq = change.seq - 1;
      this.write(change.ns, change.key, change.after, change.origin, change.time);
      // A logged delete of a key the store no longer has changes nothing, but its seq was used.
      this.#seq = change.seq;
    } finally {
      this.onChange = saved;
    }
  }

  /** Loads a snapshot during recovery, into an empty store. */
  load(seq: number, namespaces: DumpedNamespaces): void {
    for (const [ns, entries] of namespaces) {
      if (entries.length === 0) continue;
      let map = this.#namespaces.get(ns);
      if (!map) {
        map = new Map();
        this.#namespaces.set(ns, map);
      }
      for (const [key, value, version] of entries) {
        if (!map.has(key)) this.#keys++;
        map.set(key, { value, version });
      }
    }
    this.#seq = seq;
    this.#first = seq + 1;
  }

  /** Every namespace's entries with versions, for a snapshot file. */
  dump(): DumpedNamespaces {
    const out: DumpedNamespaces = [];
    for (const [ns, map] of this.#namespaces) out.push([ns, [...map].map(([k, e]) => [k, e.value, e.version])]);
    return out;
  }

  /**
   * The change with sequence `seq`.
   * @throws {HistoryTruncatedError} when it has already left the bounded history.
   */
  change(seq: number): StoredChange | undefined {
    if (seq > this.#seq) return undefined;
    const change = seq >= this.#first ? this.#history[seq % this.#historyLimit] : undefined;
    if (!change || change.seq !== seq) {
      throw new HistoryTruncatedError(
        `change ${seq} is no longer in the history (it keeps the last ${this.#historyLimit} changes and ` +
          `${this.#historyMaxBytes} bytes of values; oldest now ${this.#first})`,
      );
    }
    return change;
  }

  /** The first seq whose change happened at or after `time` (ms since epoch). */
  seqAtTime(time: number): number {
    let seq = this.#first;
    while (seq <= this.#seq) {
      const change = this.#history[seq % this.#historyLimit];
      if (change && change.seq === seq && change.time >= time) return seq;
      seq++;
    }
    return this.#seq + 1;
  }
}
