/**
 * The CLI prints results the way zerorpc-python's CLI does: `pprint` (Python repr, sorted dict
 * keys, wrapped at 80 columns) and `json.dump` with Python's separators. Expected strings were
 * produced by CPython 3.11's pprint.pformat / json.dumps.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeArgv } from "../../src/cli/argv.js";
import { splitSpec } from "../../src/cli/load.js";
import { pformat, pyFloat, pyJson, pyRepr, pyStr } from "../../src/cli/pyformat.js";

describe("Python formatting", () => {
  test("scalars", { timeout: 5000 }, () => {
    assert.equal(pyRepr(null), "None");
    assert.equal(pyRepr(undefined), "None");
    assert.equal(pyRepr(true), "True");
    assert.equal(pyRepr(3), "3");
    assert.equal(pyRepr(-2.5), "-2.5");
    assert.equal(pyRepr(10n ** 30n), "1000000000000000000000000000000");
    assert.equal(pyRepr(Buffer.from([0, 1, 0xff, 0x41, 0x27])), 'b"\\x00\\x01\\xffA\'"');
  });

  test("floats use Python's repr thresholds", { timeout: 5000 }, () => {
    assert.equal(pyFloat(0.1), "0.1");
    assert.equal(pyFloat(1e-7), "1e-07");
    assert.equal(pyFloat(0.0001), "0.0001");
    assert.equal(pyFloat(0.00001), "1e-05");
    assert.equal(pyFloat(1.5e16), "1.5e+16");
    assert.equal(pyFloat(123456.789), "123456.789");
    assert.equal(pyFloat(1e22), "1e+22");
    assert.equal(pyFloat(Number.NaN), "nan");
    assert.equal(pyFloat(Number.NEGATIVE_INFINITY), "-inf");
    assert.equal(pyRepr(1e21), "1000000000000000000000");
  });

  test("strings pick quotes and escape like repr", { timeout: 5000 }, () => {
    assert.equal(pyStr("hello"), "'hello'");
    assert.equal(pyStr("it's"), `"it's"`);
    assert.equal(pyStr(`it's "x"`), `'it\\'s "x"'`);
    assert.equal(pyStr("a\nb\t\\\u0001"), "'a\\nb\\t\\\\\\x01'");
    assert.equal(pyStr("café ☃ 😀"), "'café ☃ 😀'");
    assert.equal(pyStr("\u00a0\u200b\u2028"), "'\\xa0\\u200b\\u2028'");
  });

  test("pprint sorts dict keys and wraps past 80 columns", { timeout: 5000 }, () => {
    assert.equal(pformat({ b: 1, a: [1, 2.5, null] }), "{'a': [1, 2.5, None], 'b': 1}");
    const wide = { alpha: "x".repeat(30), beta: "y".repeat(30), gamma: [1, 2, 3] };
    assert.equal(pformat(wide), `{'alpha': '${"x".repeat(30)}',\n 'beta': '${"y".repeat(30)}',\n 'gamma': [1, 2, 3]}`);
    const numbers = Array.from({ length: 30 }, (_, i) => i * 1000);
    assert.equal(pformat(numbers), `[${numbers.join(",\n ")}]`);
  });

  test("pprint splits a long string on whitespace", { timeout: 5000 }, () => {
    const text = "lorem ipsum dolor sit amet ".repeat(4).trim();
    assert.equal(
      pformat(text),
      "('lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit '\n 'amet lorem ipsum dolor sit amet')",
    );
  });

  test("json.dumps separators, ASCII escapes and key order", { timeout: 5000 }, () => {
    assert.equal(pyJson({ b: 1, a: [1, 2.5, null, true] }), '{"b": 1, "a": [1, 2.5, null, true]}');
    assert.equal(pyJson('é\n"😀'), '"\\u00e9\\n\\"\\ud83d\\ude00"');
    assert.equal(pyJson(Number.NaN), "NaN");
    assert.equal(pyJson(1e-7), "1e-07");
  });
});

describe("argument helpers", () => {
  test("-pj and -? become long flags, but not after --", { timeout: 5000 }, () => {
    assert.deepEqual(normalizeArgv(["-pj", "-?", "EP", "--", "-pj"]), ["--print-json", "--inspect", "EP", "--", "-pj"]);
  });

  test("module:export splitting keeps node: and drive letters whole", { timeout: 5000 }, () => {
    assert.deepEqual(splitSpec("node:os"), { module: "node:os", exportName: undefined });
    assert.deepEqual(splitSpec("node:path:posix"), { module: "node:path", exportName: "posix" });
    assert.deepEqual(splitSpec("./svc.ts:Api"), { module: "./svc.ts", exportName: "Api" });
    assert.deepEqual(splitSpec("C:\\svc.js"), { module: "C:\\svc.js", exportName: undefined });
  });
});
