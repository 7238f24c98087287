import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { defaultAddress, Pull, Push } from "../../src/index.js";

test("closing a socket removes the ipc socket files it bound (libzmq leaves them)", { timeout: 5000 }, async () => {
  const pull = new Pull();
  const address = await pull.bind(defaultAddress());
  const path = address.slice("ipc://".length);
  assert.ok(existsSync(path));
  const push = new Push();
  push.connect(address);
  await push.sendString("still works");
  assert.equal(await pull.receiveString({ timeout: 2000 }), "still works");
  push.close();
  pull.close();
  assert.equal(existsSync(path), false);
});
