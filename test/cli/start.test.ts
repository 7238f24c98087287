/**
 * `npm start` serves examples/service.ts and prints commands; each printed command works when run
 * as shown (with bin/zerokit.cjs standing in for npx zerokit). It needs no build: it runs in a
 * copy of the repository that has no dist/. Whatever signal ends it (Ctrl-C, SIGTERM, or SIGHUP
 * when its terminal closes), it removes its ipc socket file.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Cli, repoRoot, runCli } from "../helpers.js";

const scripts = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

/** `npm start`'s command: its leading `NAME=value` environment, then node's arguments. */
function startCommand(): { env: Record<string, string>; args: string[] } {
  const words = (scripts.start as string).split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? "")) {
    const [name, ...value] = (words.shift() as string).split("=");
    env[name as string] = value.join("=");
  }
  const [program, ...args] = words;
  assert.equal(program, "node", scripts.start);
  return { env, args };
}

interface Started {
  cli: Cli;
  address: string;
  commands: { args: string[]; note: string }[];
}

/** Runs `npm start` in `cwd` as a terminal's foreground job (its own process group). */
async function start(cwd: string): Promise<Started> {
  const { env, args } = startCommand();
  const cli = new Cli(args, "node", { cwd, env, detached: true });
  try {
    await cli.waitFor("stdout", /^Ctrl-C stops the server\.$/m, 30_000);
  } catch (error) {
    await cli.stop();
    throw error;
  }
  const address = (cli.stdout.match(/^serving "example" on (\S+)$/m) as RegExpMatchArray)[1] as string;
  const commands = [...cli.stdout.matchAll(/^ {2}npx zerokit (rpc .*?)\s+# (.*)$/gm)].map((m) => ({
    args: (m[1] as string).match(/"[^"]*"|\S+/g)?.map((a) => a.replace(/^"(.*)"$/, "$1")) ?? [],
    note: m[2] as string,
  }));
  return { cli, address, commands };
}

function ipcPath(address: string): string {
  assert.match(address, /^ipc:\/\//, "npm start serves on ipc where the platform has it");
  return address.slice("ipc://".length);
}

describe("npm start", () => {
  let clone: string;

  before(() => {
    // What a fresh clone has after `npm install`: sources and node_modules, no dist/.
    clone = mkdtempSync(join(tmpdir(), "zk-start-"));
    for (const entry of ["src", "examples", "bin", "package.json", "tsconfig.json"]) {
      cpSync(join(repoRoot, entry), join(clone, entry), { recursive: true });
    }
    symlinkSync(join(repoRoot, "node_modules"), join(clone, "node_modules"), "dir");
  });

  after(() => {
    rmSync(clone, { recursive: true, force: true });
  });

  test("needs no build step", { timeout: 5000 }, () => {
    assert.equal(scripts.prestart, undefined, "a prestart script would run before every npm start");
    assert.doesNotMatch(scripts.start as string, /\b(tsc|build)\b|dist\//);
  });

  test("in a clone never built, serves the example and its printed commands work; SIGHUP cleans up", {
    timeout: 60_000,
  }, async () => {
    const { cli, address, commands } = await start(clone);
    try {
      assert.equal(existsSync(join(clone, "dist")), false);
      assert.ok(commands.length >= 6, cli.stdout);
      for (const { args } of commands) assert.ok(args.includes(address), `${args.join(" ")} uses ${address}`);
      const command = (name: string) => {
        const found = commands.find(({ args }) => args.includes(name));
        assert.ok(found, `a ${name} command is printed`);
        return found.args;
      };
      // The clone's own bin, with no dist/: it runs the CLI from the sources.
      const cloneAdd = new Cli([join(clone, "bin", "zerokit.cjs"), ...command("add")], "node", { cwd: clone });
      await cloneAdd.exited;
      assert.equal(cloneAdd.stdout, "3\n", cloneAdd.stderr);
      assert.equal((await runCli(command("greet"))).stdout, "'Hello, Ada!'\n");
      assert.equal((await runCli(command("range"))).stdout, "0\n1\n2\n3\n4\n");
      const failed = await runCli(command("fail"));
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /^ValueError: no luck$/m);
      const listing = await runCli(commands[0]?.args ?? []);
      assert.match(listing.stdout, /^\[example\]\nadd {3}Return a \+ b/);

      const path = ipcPath(address);
      assert.ok(existsSync(path));
      cli.signalGroup("SIGHUP"); // the terminal closes
      const { code, signal } = await cli.exited;
      assert.deepEqual({ code, signal }, { code: 0, signal: null });
      assert.equal(existsSync(path), false, `${path} is left behind`);
    } finally {
      await cli.stop();
    }
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`${signal} stops it, says so and removes the ipc socket file`, { timeout: 30_000 }, async () => {
      const { cli, address } = await start(repoRoot);
      try {
        const path = ipcPath(address);
        cli.signalGroup(signal);
        const { code } = await cli.exited;
        assert.equal(code, 0);
        assert.match(cli.stdout, /^stopped$/m);
        assert.equal(existsSync(path), false, `${path} is left behind`);
      } finally {
        await cli.stop();
      }
    });
  }
});
