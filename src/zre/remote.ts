/**
 * What this peer knows about one remote peer: who it is (from its HELLO), the groups it is in and
 * its group status, the sequence numbers both ways, and its liveness clocks. Pure state with an
 * injected clock, so every rule is testable without sockets or waiting.
 */

/** A remote peer as the application sees it. */
export interface PeerInfo {
  /** 32 upper-case hex digits. */
  uuid: string;
  name: string;
  /** Its mailbox, `tcp://host:port`. */
  endpoint: string;
  headers: ReadonlyMap<string, string>;
  groups: readonly string[];
}

/** The liveness timeouts, in milliseconds. */
export interface Liveness {
  evasive: number;
  expired: number;
}

/** What a liveness check found. */
export type Vitality = "alive" | "evasive" | "expired";

/** What applying a JOIN or LEAVE found. */
export interface GroupChange {
  /** Whether membership changed (a JOIN of a group already held changes nothing). */
  changed: boolean;
  /** Whether the sender's status was the one expected (record + 1, mod 256). */
  exact: boolean;
}

export class RemotePeer {
  readonly uuid: string;
  endpoint: string;
  name = "";
  headers: ReadonlyMap<string, string> = new Map();
  /** Set by its HELLO: until then nothing but a HELLO from it is heard. */
  ready = false;
  readonly #groups = new Set<string>();
  #status = 0;
  #wantSequence = 0;
  #sentSequence = 0;
  #lastHeard: number;
  #evasive = false;
  #silent = false;
  readonly #liveness: Liveness;

  constructor(uuid: string, endpoint: string, liveness: Liveness, now: number) {
    this.uuid = uuid;
    this.endpoint = endpoint;
    this.#liveness = liveness;
    this.#lastHeard = now;
  }

  get status(): number {
    return this.#status;
  }

  get groups(): ReadonlySet<string> {
    return this.#groups;
  }

  /** Whether it is in `group`. */
  inGroup(group: string): boolean {
    return this.#groups.has(group);
  }

  /**
   * Checks a message's sequence: a HELLO restarts at 1, anything else must be the previous + 1
   * (mod 65536). False means messages were lost (Zyre then drops the peer).
   */
  accept(sequence: number, hello: boolean): boolean {
    this.#wantSequence = hello ? 1 : (this.#wantSequence + 1) & 0xffff;
    return sequence === this.#wantSequence;
  }

  /** The sequence number of the next message sent to it: 1 for the HELLO, then +1 (mod 65536). */
  nextSequence(): number {
    this.#sentSequence = (this.#sentSequence + 1) & 0xffff;
    return this.#sentSequence;
  }

  /** Takes its HELLO: the groups first, then the status (as Zyre does). */
  hello(name: string, headers: ReadonlyMap<string, string>, groups: readonly string[], status: number): void {
    this.name = name;
    this.headers = headers;
    for (const group of groups) this.#groups.add(group);
    this.#status = status & 0xff;
    this.ready = true;
  }

  join(group: string, status: number): GroupChange {
    return this.#change(group, status, true);
  }

  leave(group: string, status: number): GroupChange {
    return this.#change(group, status, false);
  }

  #change(group: string, status: number, join: boolean): GroupChange {
    const exact = status === ((this.#status + 1) & 0xff);
    // Its own count is the truth from now on, so one lost update does not spoil every later one.
    this.#status = status & 0xff;
    const changed = join ? !this.#groups.has(group) : this.#groups.has(group);
    if (join) this.#groups.add(group);
    else this.#groups.delete(group);
    return { changed, exact };
  }

  /** Any message from it: it is alive. */
  refresh(now: number): void {
    this.#lastHeard = now;
    this.#evasive = false;
    this.#silent = false;
  }

  /**
   * Its liveness at `now`: `"expired"` after `expired` ms of silence, `"evasive"` after
   * `evasive` ms. `firstEvasive` tells whether this check is the first since it went quiet;
   * `firstSilent` whether it is the first since the PING sent on going evasive has had one reap
   * interval to be answered and was not (Zyre's SILENT: `evasive_at + reap interval`, the reap
   * interval being the smallest of `evasive`, `expired` and 1 s).
   */
  check(now: number): { vitality: Vitality; firstEvasive: boolean; firstSilent: boolean } {
    const silence = now - this.#lastHeard;
    if (silence >= this.#liveness.expired) return { vitality: "expired", firstEvasive: false, firstSilent: false };
    if (silence >= this.#liveness.evasive) {
      const firstEvasive = !this.#evasive;
      this.#evasive = true;
      const reap = Math.min(this.#liveness.evasive, this.#liveness.expired, 1000);
      const firstSilent = !this.#silent && silence >= this.#liveness.evasive + reap;
      if (firstSilent) this.#silent = true;
      return { vitality: "evasive", firstEvasive, firstSilent };
    }
    return { vitality: "alive", firstEvasive: false, firstSilent: false };
  }

  info(): PeerInfo {
    return {
      uuid: this.uuid,
      name: this.name,
      endpoint: this.endpoint,
      headers: this.headers,
      groups: [...this.#groups],
    };
  }
}
