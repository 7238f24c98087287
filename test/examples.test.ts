/** Every numbered example runs to completion on its own and exits 0. */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { distDir, runNode } from "./helpers.js";

const examplesDir = join(distDir, "examples");
const examples = readdirSync(examplesDir)
  .filter((name) => /^\d\d-.*\.js$/.test(name))
  .sort();
const LIMIT_MS = 10_000;

describe("examples", () => {
  test("all six numbered examples are built", { timeout: 1000 }, () => {
    assert.ok(examples.length >= 6, examples.join(", "));
  });

  for (const name of examples) {
    test(name, { timeout: LIMIT_MS + 5000 }, async () => {
      const { code, killed, output } = await runNode(join(examplesDir, name), [], LIMIT_MS);
      assert.equal(killed, false, `${name} did not finish within ${LIMIT_MS} ms\n${output}`);
      assert.equal(code, 0, output);
      assert.ok(output.trim().split("\n").length >= 2, `expected a few lines of output:\n${output}`);
    });
  }
});
