/**
 * The seeded randomness every fuzz test draws from, so a failing run can be replayed exactly:
 * each test prints its seed, and `ZK_FUZZ_SEED` replays one. `ZK_FUZZ_MESSAGES` sets how many
 * hostile messages a run sends (a few thousand in `npm test`, ≥ 100,000 in `npm run fuzz`).
 */

/** How many hostile messages a fuzz run sends: `ZK_FUZZ_MESSAGES`, else `fallback`. */
export function fuzzMessageCount(fallback: number): number {
  const raw = process.env.ZK_FUZZ_MESSAGES;
  const parsed = raw === undefined ? Number.NaN : Number(raw);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}

/** The seed of this run: `ZK_FUZZ_SEED`, else one derived from the clock (printed by the caller). */
export function fuzzSeed(): number {
  const raw = process.env.ZK_FUZZ_SEED;
  const parsed = raw === undefined ? Number.NaN : Number(raw);
  return Number.isInteger(parsed) ? parsed >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
}

/** A small, fast, seeded generator (mulberry32). */
export class Random {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}
