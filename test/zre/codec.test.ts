/**
 * The ZRE, beacon and zgossip codecs against the bytes recorded from real Zyre 2.0.1 and pyre
 * 0.3.5: every recorded message decodes to what was recorded and encodes back byte for byte; bad
 * frames of every kind end in a ProtocolError.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ProtocolError } from "../../src/core/errors.js";
import { decodeBeacon, encodeBeacon } from "../../src/zre/beacon.js";
import { decodeZre, encodeZre, type ZreMessage } from "../../src/zre/codec.js";
import { decodeGossip, encodeGossip, type GossipMessage } from "../../src/zre/gossip.js";
import { vectorsDir } from "../helpers.js";

interface Recorded {
  command: string;
  frame0_hex: string;
  content_hex?: string[];
  decoded: Record<string, unknown>;
}

const load = (name: string) => JSON.parse(readFileSync(join(vectorsDir, "zre", name), "utf8"));
const capture = load("zyre_capture.json");
const captures = load("zyre_pyre_captures.json");

/** Every recorded mailbox message, with where it came from. */
function recordedMessages(): [string, Recorded][] {
  const out: [string, Recorded][] = [];
  for (const key of ["mailbox_messages_from_real_zyre", "mailbox_messages_accepted_by_real_zyre"]) {
    for (const m of capture[key]) out.push([`zyre_capture ${key} ${m.command}`, m]);
  }
  for (const impl of ["zyre_c", "pyre"]) {
    for (const [mode, run] of Object.entries(captures[impl] as Record<string, unknown>)) {
      if (typeof run !== "object" || run === null) continue;
      for (const m of (run as { mailbox_messages_from_real?: Recorded[] }).mailbox_messages_from_real ?? []) {
        out.push([`${impl} ${mode} ${m.command}`, m]);
      }
    }
  }
  return out;
}

/** The recorded decoding as the message this codec builds. */
function expected(m: Recorded, content: Buffer[]): ZreMessage {
  const d = m.decoded;
  const sequence = d.sequence as number;
  switch (m.command) {
    case "HELLO":
      return {
        command: "HELLO",
        sequence,
        endpoint: d.endpoint as string,
        groups: d.groups as string[],
        status: d.status as number,
        name: d.name as string,
        headers: new Map(Object.entries(d.headers as Record<string, string>)),
      };
    case "WHISPER":
      return { command: "WHISPER", sequence, content };
    case "SHOUT":
      return { command: "SHOUT", sequence, group: d.group as string, content };
    default:
      return { command: m.command as "PING" | "GOODBYE", sequence };
  }
}

describe("ZRE mailbox codec", () => {
  const all = recordedMessages();
  test("the vectors hold every kind Zyre and pyre sent", () => {
    const kinds = new Set(all.map(([, m]) => m.command));
    for (const kind of ["HELLO", "WHISPER", "SHOUT", "PING", "GOODBYE"]) assert.ok(kinds.has(kind), kind);
    assert.ok(all.length >= 20);
  });

  for (const [where, m] of all) {
    test(`${where} decodes as recorded and encodes back byte for byte`, () => {
      const frame0 = Buffer.from(m.frame0_hex, "hex");
      const content = (m.content_hex ?? []).map((hex) => Buffer.from(hex, "hex"));
      const want = expected(m, content);
      assert.deepEqual(decodeZre([frame0, ...content]), want);
      const encoded = encodeZre(want);
      assert.equal(encoded[0]!.toString("hex"), m.frame0_hex);
      const wantContent =
        content.length === 0 && (m.command === "WHISPER" || m.command === "SHOUT") ? [""] : (m.content_hex ?? []);
      assert.deepEqual(
        encoded.slice(1).map((f) => f.toString("hex")),
        wantContent,
      );
    });
  }

  test("JOIN, LEAVE and PING-OK encode as the spec lays out and decode back", () => {
    const join = encodeZre({ command: "JOIN", sequence: 2, group: "G", status: 1 });
    assert.equal(join[0]!.toString("hex"), "aaa104020002014701");
    const leave = encodeZre({ command: "LEAVE", sequence: 3, group: "G", status: 2 });
    assert.equal(leave[0]!.toString("hex"), "aaa105020003014702");
    assert.equal(encodeZre({ command: "PING-OK", sequence: 300 })[0]!.toString("hex"), "aaa10702012c");
    assert.deepEqual(decodeZre(join), { command: "JOIN", sequence: 2, group: "G", status: 1 });
    assert.deepEqual(decodeZre(leave), { command: "LEAVE", sequence: 3, group: "G", status: 2 });
  });

  test("an empty WHISPER content goes as one empty frame", () => {
    const frames = encodeZre({ command: "WHISPER", sequence: 2, content: [] });
    assert.equal(frames.length, 2);
    assert.equal(frames[1]!.length, 0);
  });

  test("ELECT and LEADER (ids 8, 9) decode as unknown, not as errors", () => {
    assert.deepEqual(decodeZre([Buffer.from("aaa1080200050147", "hex")]), { command: "UNKNOWN", id: 8, sequence: 5 });
    assert.deepEqual(decodeZre([Buffer.from("aaa109020006", "hex")]), { command: "UNKNOWN", id: 9, sequence: 6 });
  });

  test("pyre's truncated non-ASCII (invalid UTF-8) is tolerated", () => {
    // pyre counts characters: "héllo" arrives as the 5 bytes 68 c3 a9 6c 6c.
    const hello = encodeZre({
      command: "HELLO",
      sequence: 1,
      endpoint: "tcp://127.0.0.1:1",
      groups: [],
      status: 0,
      name: "x",
      headers: new Map([["k", "v"]]),
    })[0]!;
    const bad = Buffer.concat([hello.subarray(0, hello.length - 1), Buffer.from([0xc3])]);
    const decoded = decodeZre([bad]);
    assert.equal(decoded.command, "HELLO");
    assert.equal((decoded as { headers: ReadonlyMap<string, string> }).headers.get("k"), "\ufffd");
  });

  test("every truncation of a recorded HELLO is a ProtocolError", () => {
    const frame0 = Buffer.from(capture.mailbox_messages_accepted_by_real_zyre[0].frame0_hex, "hex");
    for (let n = 0; n < frame0.length; n++) {
      assert.throws(() => decodeZre([frame0.subarray(0, n)]), ProtocolError, `length ${n}`);
    }
  });

  test("huge declared lengths and counts are refused before anything is allocated", () => {
    const header = "aaa101020001";
    const endpoint = "00";
    for (const hex of [
      `${header}${endpoint}ffffffff`, // 4 billion groups
      `${header}${endpoint}00000001ffffffff`, // a 4 GiB group name
      `${header}${endpoint}000000000000ffffffff`, // 4 billion headers
      `${header}ff`, // a 255-byte endpoint in a shorter frame
    ]) {
      assert.throws(() => decodeZre([Buffer.from(hex, "hex")]), ProtocolError, hex);
    }
  });

  test("a wrong signature, version or empty message is a ProtocolError", () => {
    assert.throws(() => decodeZre([]), ProtocolError);
    assert.throws(() => decodeZre([Buffer.from("aaa206020001", "hex")]), ProtocolError);
    assert.throws(() => decodeZre([Buffer.from("aaa106010001", "hex")]), ProtocolError);
    assert.throws(() => decodeZre([Buffer.from("aaa106030001", "hex")]), ProtocolError);
  });

  test("a string over 255 bytes cannot be encoded", () => {
    assert.throws(
      () => encodeZre({ command: "SHOUT", sequence: 1, group: "g".repeat(256), content: [] }),
      ProtocolError,
    );
  });
});

describe("beacon codec", () => {
  const beacons = [
    ...capture.beacons,
    captures.zyre_c.beacon_mode.beacon,
    captures.zyre_c.beacon_mode_lo_broadcast.beacon,
    captures.pyre.beacon_mode.beacon,
  ] as { hex: string; uuid?: string; port?: number; decoded?: { uuid: string; port: number } }[];
  for (const b of beacons) {
    test(`beacon ${b.hex} decodes and encodes back`, () => {
      const uuid = (b.uuid ?? b.decoded!.uuid).toUpperCase();
      const port = b.port ?? b.decoded!.port;
      assert.deepEqual(decodeBeacon(Buffer.from(b.hex, "hex")), { uuid, port });
      assert.equal(encodeBeacon(Buffer.from(uuid, "hex"), port).toString("hex"), b.hex);
    });
  }

  test("wrong length, signature and version are ProtocolErrors", () => {
    const good = Buffer.from(capture.beacons[0].hex, "hex");
    assert.throws(() => decodeBeacon(good.subarray(0, 21)), ProtocolError);
    assert.throws(() => decodeBeacon(Buffer.concat([good, Buffer.from([0])])), ProtocolError);
    const sig = Buffer.from(good);
    sig[1] = 0x51;
    assert.throws(() => decodeBeacon(sig), ProtocolError);
    const version = Buffer.from(good);
    version[3] = 2;
    assert.throws(() => decodeBeacon(version), ProtocolError);
  });

  test("port 0 (leaving) decodes", () => {
    assert.equal(decodeBeacon(encodeBeacon(Buffer.alloc(16, 7), 0)).port, 0);
  });
});

describe("zgossip codec", () => {
  const runs = captures.zyre_c;
  const recorded = [
    ...runs.gossip_mode_real_binds_hub.client_sent,
    ...runs.gossip_mode_real_binds_hub.hub_sent,
    ...runs.gossip_mode_real_connects_to_hub.real_client_sent,
    ...runs.gossip_mode_real_connects_to_hub.hub_sent,
  ] as { hex: string; decoded: { command: string; key?: string; value?: string; ttl?: number } }[];
  for (const m of recorded) {
    test(`${m.decoded.command} ${m.hex.slice(0, 16)}… decodes and encodes back`, () => {
      const want: GossipMessage =
        m.decoded.command === "PUBLISH"
          ? { command: "PUBLISH", key: m.decoded.key!, value: m.decoded.value!, ttl: m.decoded.ttl! }
          : { command: m.decoded.command as "HELLO" };
      assert.deepEqual(decodeGossip(Buffer.from(m.hex, "hex")), want);
      assert.equal(encodeGossip(want).toString("hex"), m.hex);
    });
  }

  test("bad signature, version, id and truncations are ProtocolErrors", () => {
    assert.throws(() => decodeGossip(Buffer.from("aaa10101", "hex")), ProtocolError);
    assert.throws(() => decodeGossip(Buffer.from("aaa00102", "hex")), ProtocolError);
    assert.throws(() => decodeGossip(Buffer.from("aaa00901", "hex")), ProtocolError);
    const publish = encodeGossip({ command: "PUBLISH", key: "K", value: "tcp://127.0.0.1:1", ttl: 0 });
    for (let n = 0; n < publish.length; n++) assert.throws(() => decodeGossip(publish.subarray(0, n)), ProtocolError);
  });
});
