/**
 * The README stays true. Its ```ts blocks are compiled as a consumer compiles them (a project whose
 * node_modules/zerokit is this repository, built; the README's own tsconfig.json; no other flag)
 * and run on this Node; a block marked `ts no-run` is only type-checked. Its ```sh blocks run as
 * pasted in order: `cmd &` starts a job, `kill %N` stops job N (which must exit 0), every other
 * command must exit 0, and a `# → text` comment is what it prints. `npx zerokit` is bin/zerokit.cjs;
 * tcp ports are replaced by free ones; `npm <script>` lines are checked to exist, not run. The CLI
 * flag table and usage list exactly the flags of `zerokit rpc --help`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Cli, repoRoot, rpc } from "./helpers.js";

interface Block {
  lang: string;
  flags: string[];
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const scripts = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

function blocks(): Block[] {
  const found: Block[] = [];
  const lines = readme.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] as string);
    assert.ok(i < lines.length, `README.md:${start + 1}: unclosed code block`);
    const flags = (open[2] as string).split(/\s+/).filter(Boolean);
    found.push({ lang: open[1] as string, flags, code: `${body.join("\n")}\n`, line: start + 1 });
  }
  return found;
}

const all = blocks();
const tsBlocks = all.filter((b) => b.lang === "ts");
const shBlocks = all.filter((b) => b.lang === "sh");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Splits a command line the way sh would for these simple commands (quotes, no expansions). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? (m[3] as string));
}

describe("README.md", () => {
  let consumer: string;

  before(() => {
    consumer = mkdtempSync(join(tmpdir(), "zk-readme-"));
    mkdirSync(join(consumer, "node_modules", "@types"), { recursive: true });
    symlinkSync(repoRoot, join(consumer, "node_modules", "zerokit"), "dir");
    symlinkSync(
      join(repoRoot, "node_modules", "@types", "node"),
      join(consumer, "node_modules", "@types", "node"),
      "dir",
    );
    writeFileSync(join(consumer, "package.json"), `${JSON.stringify({ type: "module", private: true })}\n`);
  });

  after(() => {
    rmSync(consumer, { recursive: true, force: true });
  });

  test("has TypeScript blocks, a tsconfig.json, and few blocks that are not run", { timeout: 1000 }, () => {
    assert.ok(tsBlocks.length >= 3, `${tsBlocks.length} ts blocks`);
    assert.equal(all.filter((b) => b.flags.includes("tsconfig")).length, 1);
    assert.ok(all.filter((b) => b.flags.includes("no-run")).length <= 2, "keep the no-run blocks few");
  });

  test("the ts blocks type-check against the built package with the README's tsconfig", { timeout: 60_000 }, () => {
    const tsconfig = all.find((b) => b.flags.includes("tsconfig")) as Block;
    writeFileSync(join(consumer, "tsconfig.json"), tsconfig.code);
    for (const block of tsBlocks) writeFileSync(join(consumer, `block-${block.line}.ts`), block.code);
    const tsc = spawnSync(
      process.execPath,
      [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", consumer],
      {
        encoding: "utf8",
      },
    );
    const lineOf = (text: string) =>
      text.replace(/block-(\d+)\.ts\((\d+)/g, (_, b, l) => `README.md:${Number(b) + Number(l)}(`);
    assert.equal(tsc.status, 0, lineOf(tsc.stdout + tsc.stderr));
    for (const block of tsBlocks) {
      const js = readFileSync(join(consumer, `block-${block.line}.js`), "utf8");
      assert.doesNotMatch(js, /\busing\s+\w+\s*=/, `README.md:${block.line}: the target leaves \`using\` for Node 20`);
    }
  });

  for (const block of tsBlocks.filter((b) => !b.flags.includes("no-run"))) {
    test(`the ts block at README.md:${block.line} runs on Node ${process.versions.node}`, {
      timeout: 60_000,
    }, async () => {
      const cli = new Cli([join(consumer, `block-${block.line}.js`)], "node", { cwd: consumer });
      const timer = setTimeout(() => cli.child.kill("SIGKILL"), 30_000);
      const { code, signal } = await cli.exited;
      clearTimeout(timer);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, `${cli.stdout}\n${cli.stderr}`);
      assert.ok(cli.stdout.trim().length > 0, "it prints what it shows");
    });
  }

  for (const block of shBlocks.filter((b) => !b.flags.includes("no-run"))) {
    test(`the sh block at README.md:${block.line} works pasted in order`, { timeout: 90_000 }, async () => {
      const ports = new Map<string, number>();
      const jobs: Cli[] = [];
      const killed = new Set<Cli>();
      try {
        for (const [offset, raw] of block.code.split("\n").entries()) {
          const where = `README.md:${block.line + 1 + offset}`;
          const hash = raw.search(/(^|\s)#\s/);
          const comment = hash >= 0 ? raw.slice(hash).trim().replace(/^#\s*/, "") : "";
          let line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
          if (line === "") continue;
          const expected = /^→ (.*)$/.exec(comment)?.[1];
          for (const [, port] of line.matchAll(/tcp:\/\/127\.0\.0\.1:(\d+)/g)) {
            if (!ports.has(port as string)) ports.set(port as string, await freePort());
          }
          line = line.replace(/tcp:\/\/127\.0\.0\.1:(\d+)/g, (_, port) => `tcp://127.0.0.1:${ports.get(port)}`);
          const background = line.endsWith("&");
          const argv = words(background ? line.slice(0, -1) : line);
          if (argv[0] === "npm") {
            const script = argv[1] as string;
            assert.ok(["install", "ci"].includes(script) || script in scripts, `${where}: no npm script "${script}"`);
            continue;
          }
          if (argv[0] === "kill") {
            const job = jobs[Number(/^%(\d+)$/.exec(argv[1] as string)?.[1]) - 1];
            assert.ok(job, `${where}: no job ${argv[1]}`);
            killed.add(job);
            job.child.kill("SIGTERM");
            const { code } = await job.exited;
            assert.equal(code, 0, `${where}: the job did not stop cleanly\n${job.stdout}\n${job.stderr}`);
            continue;
          }
          const cli = argv[0] === "npx" ? argv.slice(1) : argv;
          assert.equal(cli[0], "zerokit", `${where}: only zerokit, npm and kill commands can be checked`);
          const run = new Cli(cli.slice(1));
          if (background) {
            jobs.push(run);
            continue;
          }
          const timer = setTimeout(() => run.child.kill("SIGKILL"), 45_000);
          const { code } = await run.exited;
          clearTimeout(timer);
          assert.equal(code, 0, `${where}: ${line}\n${run.stdout}\n${run.stderr}`);
          if (expected !== undefined) assert.equal(run.stdout.trim(), expected, `${where}: ${line}`);
        }
        for (const [i, job] of jobs.entries()) assert.ok(killed.has(job), `job %${i + 1} is left running`);
      } finally {
        await Promise.all(jobs.map((job) => job.stop()));
      }
    });
  }

  test("the CLI table and usage list exactly the flags of zerokit rpc --help", { timeout: 20_000 }, async () => {
    const help = await rpc(["--help"]);
    assert.equal(help.code, 0);
    const fromHelp = new Set(
      [...help.stdout.matchAll(/^ {2}(?:-\S+, )?(--[a-z-]+)/gm)]
        .map((m) => m[1] as string)
        .filter((f) => f !== "--help"),
    );
    const section = readme.slice(readme.indexOf("## Command line"), readme.indexOf("## Benchmarks"));
    const table = section.split("\n").filter((l) => /^\| `-/.test(l));
    const fromTable = new Set(
      table.flatMap((l) => [...(l.split(" | ")[0] as string).matchAll(/--[a-z-]+/g)].map((m) => m[0])),
    );
    assert.deepEqual([...fromTable].sort(), [...fromHelp].sort());
    const usage = all.find((b) => b.lang === "" && b.code.startsWith("zerokit rpc")) as Block;
    for (const flag of fromHelp) assert.ok(usage.code.includes(flag), `the usage block lacks ${flag}`);
  });
});
