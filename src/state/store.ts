/**
 * The state server's memory: namespaces of key → encoded value, a global change sequence, and a
 * bounded history of changes for watchers. Values stay encoded (object codec bytes) so a write
 * costs the size of the value written, never the size of the state.
 */
import { HistoryTruncatedError } from "../core/errors.js";

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

export class Store {
  readonly #namespaces = new Map<string, Map<string, Entry>>();
  /** Versions of deleted keys, so a transaction that read "absent" still detects a re-create. */
  readonly #tombstones = new Map<string, number>();
  readonly #history: (StoredChange | undefined)[];
  readonly #historyLimit: number;
  #seq = 0;
  /** Called for every change before it is visible (persistence appends here). */
  onChange: ((change: StoredChange) => void) | undefined;

  constructor(historyLimit: number) {
    this.#historyLimit = Math.max(1, historyLimit);
    this.#history = new Array(this.#historyLimit);
  }

  get seq(): number {
    return this.#seq;
  }

  /** The oldest sequence number still in the history. */
  get oldest(): number {
    return Math.max(1, this.#seq - this.#historyLimit + 1);
  }

  namespace(ns: string): Map<string, Entry> {
    let map = this.#namespaces.get(ns);
    if (!map) {
      map = new Map();
      this.#namespaces.set(ns, map);
    }
    return map;
  }

  namespaces(): string[] {
    return [...this.#namespaces.keys()];
  }

  get(ns: string, key: string): Buffer | undefined {
    return this.#namespaces.get(ns)?.get(key)?.value;
  }

  /** The version of a key: the seq of its last change (0 if it never existed). */
  version(ns: string, key: string): number {
    return this.#namespaces.get(ns)?.get(key)?.version ?? this.#tombstones.get(`${ns}\0${key}`) ?? 0;
  }

  /** Writes (or deletes, with `null`) one key and records the change. Returns it, or undefined if nothing changed. */
  write(
    ns: string,
    key: string,
    value: Buffer | null,
    origin: string | null,
    time = Date.now(),
  ): StoredChange | undefined {
    const map = this.namespace(ns);
    const previous = map.get(key);
    if (value === null && !previous) return undefined;
    const seq = this.#seq + 1;
    const change: StoredChange = { seq, time, ns, key, before: previous?.value ?? null, after: value, origin };
    this.onChange?.(change);
    this.#seq = seq;
    if (value === null) {
      map.delete(key);
      this.#tombstones.set(`${ns}\0${key}`, seq);
    } else {
      map.set(key, { value, version: seq });
      // Most states never delete; skip building the tombstone key on every write then.
      if (this.#tombstones.size > 0) this.#tombstones.delete(`${ns}\0${key}`);
    }
    this.#history[seq % this.#historyLimit] = change;
    return change;
  }

  /** Restores one change during recovery, keeping its original seq and time. */
  restore(change: StoredChange): void {
    this.#seq = change.seq - 1;
    const saved = this.onChange;
    this.onChange = undefined;
    try {
      this.write(change.ns, change.key, change.after, change.origin, change.time);
    } finally {
      this.onChange = saved;
    }
  }

  /** Loads a snapshot during recovery. */
  load(seq: number, namespaces: Record<string, [string, Buffer, number][]>): void {
    for (const [ns, entries] of Object.entries(namespaces)) {
      const map = this.namespace(ns);
      for (const [key, value, version] of entries) map.set(key, { value, version });
    }
    this.#seq = seq;
  }

  /** Every namespace's entries with versions, for a snapshot file. */
  dump(): Record<string, [string, Buffer, number][]> {
    const out: Record<string, [string, Buffer, number][]> = {};
    for (const [ns, map] of this.#namespaces) out[ns] = [...map].map(([k, e]) => [k, e.value, e.version]);
    return out;
  }

  /**
   * The change with sequence `seq`.
   * @throws {HistoryTruncatedError} when it has already left the bounded history.
   */
  change(seq: number): StoredChange | undefined {
    if (seq > this.#seq) return undefined;
    const change = this.#history[seq % this.#historyLimit];
    if (!change || change.seq !== seq) {
      throw new HistoryTruncatedError(
        `change ${seq} is no longer in the history (it keeps the last ${this.#historyLimit}; oldest now ${this.oldest})`,
      );
    }
    return change;
  }

  /** The first seq whose change happened at or after `time` (ms since epoch). */
  seqAtTime(time: number): number {
    let seq = this.oldest;
    while (seq <= this.#seq) {
      const change = this.#history[seq % this.#historyLimit];
      if (change && change.seq === seq && change.time >= time) return seq;
      seq++;
    }
    return this.#seq + 1;
  }
}
