/**
 * ZIO messages byte for byte against the ones real ZIO Python built (test/fixtures/vectors/zio),
 * in both the multipart and the single-part form, and what a malformed one is.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { InvalidArgumentError, LEVELS, Message, ProtocolError, packParts, unpackParts } from "../../src/zio/index.js";
import { vectorsDir } from "../helpers.js";

interface Vector {
  level: number;
  level_name: string;
  form: string;
  label: string;
  origin: string;
  granule: string;
  seqno: string;
  payload_hex: string[];
  parts_hex: string[];
  single_part_hex: string;
}

const file = JSON.parse(readFileSync(join(vectorsDir, "zio", "messages.json"), "utf8")) as {
  levels: string[];
  messages: Vector[];
};

/** A 64-bit decimal string as the library hands it back: a number when safe, else a BigInt. */
function uint64(text: string): number | bigint {
  const big = BigInt(text);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

const hex = (frames: readonly Buffer[]) => frames.map((f) => f.toString("hex"));

describe("zio Message vectors", () => {
  test("the level names are ZIO's, in order", { timeout: 1000 }, () => {
    assert.deepEqual([...LEVELS], file.levels);
  });

  for (const [i, v] of file.messages.entries()) {
    test(`message ${i} (${v.level_name} ${v.form}) encodes and decodes as ZIO Python`, { timeout: 1000 }, () => {
      const payload = v.payload_hex.map((h) => Buffer.from(h, "hex"));
      // By name with BigInt coordinates, and by number with the library's own number/BigInt split.
      const byName = new Message({
        level: v.level_name as (typeof LEVELS)[number],
        form: v.form,
        label: v.label,
        origin: BigInt(v.origin),
        granule: BigInt(v.granule),
        seqno: BigInt(v.seqno),
        payload,
      });
      const byNumber = new Message({
        level: v.level as 0,
        form: v.form,
        label: v.label,
        origin: uint64(v.origin),
        granule: uint64(v.granule),
        seqno: uint64(v.seqno),
        payload,
      });
      for (const m of [byName, byNumber]) {
        assert.deepEqual(hex(m.encode()), v.parts_hex);
        assert.equal(m.pack().toString("hex"), v.single_part_hex);
      }
      const frames = v.parts_hex.map((h) => Buffer.from(h, "hex"));
      for (const back of [Message.decode(frames), Message.unpack(Buffer.from(v.single_part_hex, "hex"))]) {
        assert.equal(back.level, v.level_name);
        assert.equal(back.levelNumber, v.level);
        assert.equal(back.form, v.form);
        assert.equal(back.label, v.label);
        assert.equal(back.origin, uint64(v.origin));
        assert.equal(back.granule, uint64(v.granule));
        assert.equal(back.seqno, uint64(v.seqno));
        assert.deepEqual(hex(back.payload), v.payload_hex);
        assert.deepEqual(hex(back.encode()), v.parts_hex);
      }
    });
  }

  test("a short form is padded with spaces, a changed field re-encodes its frame only", { timeout: 1000 }, () => {
    const m = new Message({ form: "JS", granule: 0 });
    assert.equal(m.form, "JS  ");
    const prefix = m.prefix;
    const coord = m.coord;
    m.seqno = 7;
    assert.equal(m.prefix, prefix);
    assert.notEqual(m.coord, coord);
    assert.equal(m.coord.readBigUInt64LE(16), 7n);
    m.label = "x";
    assert.equal(m.prefix.toString(), "ZIO0JS  x");
  });

  test("the default granule is microseconds since the epoch", { timeout: 1000 }, () => {
    const before = Date.now() * 1000;
    const g = Number(new Message().granule);
    assert.ok(g >= before - 1000 && g <= Date.now() * 1000 + 1000, String(g));
  });
});

describe("zio Message malformed", () => {
  const good = () => new Message({ form: "TEXT", label: "ok", payload: ["p"] }).encode();

  const cases: [string, Buffer[]][] = [
    ["no parts", []],
    ["one part", [Buffer.from("ZIO4TEXT")]],
    ["a prefix without the magic", [Buffer.from("ZIP4TEXT"), Buffer.alloc(24)]],
    ["a prefix shorter than 8 bytes", [Buffer.from("ZIO4TEX"), Buffer.alloc(24)]],
    ["a level that is not a digit 0-8", [Buffer.from("ZIO9TEXT"), Buffer.alloc(24)]],
    ["a form with a control byte", [Buffer.from("ZIO4TE\nT"), Buffer.alloc(24)]],
    [
      "a label that is not UTF-8",
      [Buffer.concat([Buffer.from("ZIO4TEXT"), Buffer.from([0xc3, 0x28])]), Buffer.alloc(24)],
    ],
    ["a coord of 23 bytes", [Buffer.from("ZIO4TEXT"), Buffer.alloc(23)]],
    ["a coord of 25 bytes", [Buffer.from("ZIO4TEXT"), Buffer.alloc(25)]],
  ];
  for (const [what, frames] of cases) {
    test(`${what} is a ProtocolError`, { timeout: 1000 }, () => {
      assert.throws(() => Message.decode(frames), ProtocolError);
    });
  }

  test("a truncated single-part frame is a ProtocolError", { timeout: 1000 }, () => {
    const packed = packParts(good());
    const endOfCoord = 1 + good()[0]!.length + 1 + 24; // a whole message without its payload
    for (let cut = 1; cut < packed.length; cut++) {
      if (cut === endOfCoord) continue;
      const truncated = packed.subarray(0, cut);
      assert.throws(() => Message.unpack(truncated), ProtocolError, `cut at ${cut}`);
    }
    assert.throws(() => unpackParts(Buffer.from([0xff, 0, 0])), ProtocolError);
    assert.throws(() => unpackParts(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 1])), ProtocolError);
    assert.deepEqual(unpackParts(Buffer.from([0])), [Buffer.alloc(0)]);
  });

  test("bad fields are InvalidArgumentErrors naming the field", { timeout: 1000 }, () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ level: 9 }, "init.level"],
      [{ level: "loud" }, "init.level"],
      [{ form: "TOOLONG" }, "init.form"],
      [{ form: "é" }, "init.form"],
      [{ label: 3 }, "init.label"],
      [{ origin: -1 }, "init.origin"],
      [{ origin: 2 ** 53 }, "init.origin"],
      [{ seqno: 1n << 64n }, "init.seqno"],
      [{ granule: 1.5 }, "init.granule"],
      [{ payload: "x" }, "init.payload"],
      [{ payload: [3] }, "init.payload"],
      [{ routingId: 0 }, "init.routingId"],
    ];
    for (const [init, option] of bad) {
      assert.throws(
        () => new Message(init as never),
        (error: unknown) => error instanceof InvalidArgumentError && error.option === option,
        JSON.stringify(init, (_, v) => (typeof v === "bigint" ? String(v) : v)),
      );
    }
    const m = new Message();
    assert.throws(() => {
      m.origin = -2;
    }, InvalidArgumentError);
  });

  test("the label as JSON, and a label that is not JSON", { timeout: 1000 }, () => {
    assert.deepEqual(new Message().labelObject(), {});
    assert.deepEqual(new Message({ label: '{"flow": "DAT"}' }).labelObject(), { flow: "DAT" });
    assert.throws(() => new Message({ label: "{" }).labelObject(), ProtocolError);
  });
});
