/** The event semantics the client, server and CLI share: names, the v2 swap, arg shapes, framing. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProtocolError } from "../../src/core/errors.js";
import { BATCH_MARKER } from "../../src/rpc/protocol.js";
import {
  batchFrames,
  channelEventName,
  creditOf,
  errorTupleOf,
  eventFrames,
  isOkArgs,
  meaningOf,
  readErrorTuple,
  replyFrames,
  replyShapeError,
} from "../../src/rpc/semantics.js";

const EMPTY = Buffer.alloc(0);
const e1 = Buffer.from([0x93, 1]);
const e2 = Buffer.from([0x93, 2]);

describe("event semantics", () => {
  test("each event name has one meaning; any other name is a call, whatever it looks like", () => {
    assert.equal(meaningOf("OK"), "ok");
    assert.equal(meaningOf("ERR"), "error");
    assert.equal(meaningOf("STREAM"), "stream-item");
    assert.equal(meaningOf("STREAM_DONE"), "stream-end");
    assert.equal(meaningOf("_zpc_hb"), "heartbeat");
    assert.equal(meaningOf("_zpc_more"), "credit");
    assert.equal(meaningOf("_zerokit_cancel"), "cancel");
    for (const name of ["add", "__proto__", "constructor", "toString", "ok", ""]) assert.equal(meaningOf(name), "call");
  });

  test("protocol v2 swaps heartbeat and credit, both ways; v3 and later do not", () => {
    assert.equal(meaningOf("_zpc_hb", 2), "credit");
    assert.equal(meaningOf("_zpc_more", 2), "heartbeat");
    assert.equal(meaningOf("_zpc_more", 1), "heartbeat");
    assert.equal(meaningOf("OK", 2), "ok");
    assert.equal(meaningOf("_zpc_hb", 4), "heartbeat");
    assert.equal(channelEventName("heartbeat"), "_zpc_hb");
    assert.equal(channelEventName("credit"), "_zpc_more");
    assert.equal(channelEventName("heartbeat", 2), "_zpc_more");
    assert.equal(channelEventName("credit", 2), "_zpc_hb");
    for (const version of [1, 2, 3])
      for (const meaning of ["heartbeat", "credit"] as const)
        assert.equal(meaningOf(channelEventName(meaning, version), version), meaning);
  });

  test("OK carries [result]; a credit is an integer > 0", () => {
    assert.ok(isOkArgs([null]));
    assert.ok(!isOkArgs([]));
    assert.ok(!isOkArgs([1, 2]));
    assert.ok(!isOkArgs({ 0: 1 }));
    assert.equal(creditOf([5]), 5);
    assert.equal(creditOf([5n]), 5);
    for (const bad of [[0], [-1], [1.5], ["5"], [], 5, null]) assert.equal(creditOf(bad), undefined);
    assert.ok(replyShapeError("ok", [1, 2]) instanceof ProtocolError);
    assert.match(replyShapeError("ok", [1, 2]).message, /OK must carry \[result\], got an array of 2/);
    assert.match(replyShapeError("error", 7).message, /ERR must carry .*got number/);
  });

  test("ERR's tuple: text or bin or nil in each place; v1's [repr]; other shapes are refused", () => {
    assert.deepEqual(readErrorTuple(["ValueError", "bad", "tb"]), {
      name: "ValueError",
      message: "bad",
      traceback: "tb",
    });
    assert.deepEqual(readErrorTuple([Buffer.from("KeyError"), Buffer.from("k"), null]), {
      name: "KeyError",
      message: "k",
      traceback: "",
    });
    assert.deepEqual(readErrorTuple(["boom()"]), { name: "RemoteError", message: "boom()", traceback: "" });
    for (const bad of [[], [1, "m", "t"], ["a", "b", "c", "d"], "ValueError", { name: "x" }, [{}, "m"]])
      assert.equal(readErrorTuple(bad), undefined);
    const thrown = new TypeError("no");
    assert.deepEqual(errorTupleOf(thrown).slice(0, 2), ["TypeError", "no"]);
    assert.deepEqual(errorTupleOf("plain"), ["Error", "plain", ""]);
    const hostile = {
      toString() {
        throw new Error("nope");
      },
    };
    assert.deepEqual(errorTupleOf(hostile), ["Error", "an error value that cannot be turned into text", ""]);
  });

  test("framing: one event after an optional delimiter, or a batch after the marker", () => {
    assert.deepEqual(replyFrames([e1]), { first: 0, batch: false });
    assert.deepEqual(replyFrames([EMPTY, e1]), { first: 1, batch: false });
    assert.deepEqual(replyFrames([BATCH_MARKER, e1, e2]), { first: 1, batch: true });
    assert.equal(replyFrames([e1, e2]).first, -1);
    assert.equal(replyFrames([EMPTY, EMPTY, e1]).first, -1);
    assert.equal(replyFrames([]).first, -1);
    const identity = Buffer.from("id");
    assert.deepEqual(eventFrames([identity, EMPTY, e1], 1), { first: 2, batch: false });
    assert.deepEqual(eventFrames([identity, e1], 1), { first: 1, batch: false });
    assert.deepEqual(eventFrames([identity, BATCH_MARKER, e1, e2], 1), { first: 2, batch: true });
    // A marker alone is no batch: it is read as the (undecodable) event.
    assert.deepEqual(eventFrames([identity, BATCH_MARKER], 1), { first: 1, batch: false });
    const one = [e1];
    assert.equal(batchFrames(one), one);
    assert.deepEqual(batchFrames([e1, e2]), [BATCH_MARKER, e1, e2]);
  });
});
