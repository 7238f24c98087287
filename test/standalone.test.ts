/**
 * A clone stands alone and the package is lean. Nothing in src/, test/, bench/, examples/, bin/ or
 * package.json reads outside the repository (not the shared folder beside the clone, no path that climbs above the root),
 * tests read the recorded vectors from test/fixtures/vectors, and `npm pack` ships the compiled
 * library with its licence and no source maps without their sources, tests or benchmarks.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, relative, resolve, sep } from "node:path";
import { describe, test } from "node:test";
import { repoRoot, vectorsDir, zerorpcVectors } from "./helpers.js";

const SCANNED = ["src", "test", "bench", "examples", "bin"];
const CODE = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);

function files(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      if (path !== join(repoRoot, "test", "fixtures", "vectors")) out.push(...files(path));
    } else if (CODE.has(extname(entry))) out.push(path);
  }
  return out;
}

const sources = SCANNED.flatMap((dir) => files(join(repoRoot, dir)));
const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  license: string;
  files: string[];
  scripts: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

function inside(path: string): boolean {
  const rel = relative(repoRoot, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep));
}

/** Where a source file runs from: .ts files compile to dist/<same path>. */
function runsFrom(file: string): string {
  const rel = relative(repoRoot, file);
  return extname(file) === ".ts" ? join(repoRoot, "dist", rel) : file;
}

describe("a clone stands alone", () => {
  test("scans the tree", { timeout: 1000 }, () => {
    assert.ok(sources.length > 50, `${sources.length} files`);
  });

  test("no file names a path outside the repository", { timeout: 10_000 }, () => {
    const problems: string[] = [];
    for (const file of sources) {
      // Code only: a comment citing a spec beside the repository reads nothing.
      const text = readFileSync(file, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, "");
      const where = relative(repoRoot, file);
      if (/\.\.\/shared|"\.\."\s*,\s*"shared"|\/work\/|shared\/(vectors|protocols|notes)/.test(text)) {
        problems.push(`${where}: names a path beside the repository`);
      }
      // Relative imports, and new URL("...", import.meta.url), resolved from where the file runs.
      const specifiers = [
        ...text.matchAll(/\bfrom\s+"(\.{1,2}\/[^"]*)"|\bimport\(\s*"(\.{1,2}\/[^"]*)"\s*\)/g),
        ...text.matchAll(/new URL\(\s*"(\.{1,2}\/[^"]*)"\s*,\s*import\.meta\.url\s*\)/g),
      ].map((m) => (m[1] ?? m[2]) as string);
      for (const specifier of specifiers) {
        if (!inside(resolve(dirname(runsFrom(file)), specifier)))
          problems.push(`${where}: "${specifier}" leaves the repository`);
      }
      // resolve(dirname(fileURLToPath(import.meta.url)), "..", ...): no higher than the root.
      for (const m of text.matchAll(
        /(?:resolve|join)\(\s*dirname\(fileURLToPath\(import\.meta\.url\)\)((?:\s*,\s*"[^"]*")*)/g,
      )) {
        const parts = [...(m[1] as string).matchAll(/"([^"]*)"/g)].map((p) => p[1] as string);
        const target = resolve(dirname(runsFrom(file)), ...parts);
        if (!inside(target)) problems.push(`${where}: ${parts.join(", ")} climbs above the repository`);
      }
    }
    for (const [name, script] of Object.entries(manifest.scripts)) {
      if (/\.\.\/|\/work\//.test(script)) problems.push(`package.json scripts.${name}: ${script}`);
    }
    for (const entry of manifest.files) if (entry.includes("..")) problems.push(`package.json files: ${entry}`);
    assert.deepEqual(problems, []);
  });

  test("the recorded vectors are in test/fixtures/vectors, with a note, and tests read that copy", {
    timeout: 5000,
  }, () => {
    const expected = join(repoRoot, "test", "fixtures", "vectors");
    assert.equal(vectorsDir, expected);
    assert.equal(zerorpcVectors, join(expected, "zerorpc"));
    assert.ok(existsSync(join(expected, "README.md")), "a note of where and how they were recorded");
    for (const name of ["client_requests.json", "server_replies.json", "cli_outputs.json"]) {
      assert.ok(existsSync(join(expected, "zerorpc", name)), name);
    }
    // Every directory of vectors a test defines is that copy.
    for (const file of sources.filter((f) => f.startsWith(join(repoRoot, "test")))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/const (\w*[vV]ectors\w*)\s*=\s*(join|resolve)\(([^)]*)\)/g)) {
        const args = m[3] as string;
        assert.ok(
          /^\s*(repoRoot,\s*"test",\s*"fixtures",\s*"vectors"|vectorsDir\b)/.test(args),
          `${relative(repoRoot, file)}: ${m[1]} = ${m[2]}(${args})`,
        );
      }
    }
  });
});

describe("the package", () => {
  test("MIT, with its LICENSE file", { timeout: 1000 }, () => {
    assert.equal(manifest.license, "MIT");
    const text = readFileSync(join(repoRoot, "LICENSE"), "utf8");
    assert.match(text, /^MIT License\n\nCopyright \(c\) 2026 zerokit contributors\n/);
    assert.match(text, /THE SOFTWARE IS PROVIDED "AS IS"/);
  });

  test("tsx is an optional peer dependency (and a devDependency), not a dependency", { timeout: 1000 }, () => {
    assert.equal(manifest.dependencies.tsx, undefined);
    assert.ok(manifest.peerDependencies?.tsx, "peerDependencies.tsx");
    assert.equal(manifest.peerDependenciesMeta?.tsx?.optional, true);
    assert.ok(manifest.devDependencies.tsx, "devDependencies.tsx");
    const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dependencies?: object; devDependencies?: object; peerDependencies?: object }>;
    };
    const root = lock.packages[""] ?? {};
    assert.deepEqual(root.dependencies, manifest.dependencies, "package-lock.json is in sync (npm install)");
    assert.deepEqual(root.devDependencies, manifest.devDependencies, "package-lock.json is in sync (npm install)");
    assert.deepEqual(root.peerDependencies, manifest.peerDependencies, "package-lock.json is in sync (npm install)");
  });

  test("npm pack ships the library, its licence, no maps without sources, no tests", { timeout: 60_000 }, () => {
    const output = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: repoRoot,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const [pack] = JSON.parse(output) as {
      unpackedSize: number;
      size: number;
      files: { path: string; size: number }[];
    }[];
    assert.ok(pack);
    const shipped = new Set(pack.files.map((f) => f.path));
    for (const path of ["LICENSE", "README.md", "package.json", "dist/src/index.js", "dist/src/index.d.ts"]) {
      assert.ok(shipped.has(path), `${path} is shipped`);
    }
    for (const target of [
      ...Object.values(manifest.bin),
      ...Object.values(manifest.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e))),
    ]) {
      assert.ok(shipped.has(target.replace(/^\.\//, "")), `${target} (bin/exports) is shipped`);
    }
    for (const path of shipped) {
      assert.doesNotMatch(path, /^(src|test|bench|examples|dist\/(test|bench|examples))\//, `${path} is not for users`);
      assert.doesNotMatch(path, /\.test\.|tsbuildinfo/, path);
      if (path.endsWith(".map")) {
        const map = JSON.parse(readFileSync(join(repoRoot, path), "utf8")) as { sources: string[] };
        for (const source of map.sources) {
          const rel = relative(repoRoot, resolve(repoRoot, dirname(path), source));
          assert.ok(shipped.has(rel.split(sep).join("/")), `${path} points at ${rel}, which is not shipped`);
        }
      }
    }
    // The compiled library, declarations and README, and nothing else of size.
    // A guard against shipping something by mistake (a data file, a build dir), not a size budget.
    assert.ok(pack.unpackedSize < 2_000_000, `unpacked ${pack.unpackedSize} bytes`);
  });
});
