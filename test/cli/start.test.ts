/**
 * `npm start` (dist/examples/start.js) serves examples/service.ts and prints commands; each
 * printed command works when run as shown (with bin/zerokit.js standing in for npx zerokit).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cli, runCli } from "./helpers.js";

test("npm start prints commands that call the example service", { timeout: 30_000 }, async () => {
  const start = new Cli(["dist/examples/start.js"], "node");
  try {
    await start.waitFor("stdout", /^Ctrl-C stops the server\.$/m);
    const address = (start.stdout.match(/^serving "example" on (\S+)$/m) as RegExpMatchArray)[1] as string;
    const commands = [...start.stdout.matchAll(/^ {2}npx zerokit (rpc .*?)\s+# (.*)$/gm)].map((m) => ({
      args: (m[1] as string).match(/"[^"]*"|\S+/g)?.map((a) => a.replace(/^"(.*)"$/, "$1")) ?? [],
      note: m[2] as string,
    }));
    assert.ok(commands.length >= 6, start.stdout);
    for (const { args } of commands) assert.ok(args.includes(address), `${args.join(" ")} uses ${address}`);
    const run = (name: string) => {
      const command = commands.find(({ args }) => args.includes(name));
      assert.ok(command, `a ${name} command is printed`);
      return runCli(command.args);
    };
    assert.equal((await run("add")).stdout, "3\n");
    assert.equal((await run("greet")).stdout, "'Hello, Ada!'\n");
    assert.equal((await run("range")).stdout, "0\n1\n2\n3\n4\n");
    const failed = await run("fail");
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^ValueError: no luck$/m);
    const listing = await runCli(commands[0]?.args ?? []);
    assert.match(listing.stdout, /^\[example\]\nadd {3}Return a \+ b/);
    start.child.kill("SIGINT");
    const { code } = await start.exited;
    assert.equal(code, 0);
  } finally {
    await start.stop();
  }
});
